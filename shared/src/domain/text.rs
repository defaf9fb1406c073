//! Text folding for matching what customers type: case, accents and punctuation do not matter.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Lower-cases, strips accents, turns punctuation into spaces and collapses white space:
/// `"  Informações!! "` → `"informacoes"`.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.nfd().filter(|c| !is_combining_mark(*c)) {
        if c.is_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.extend(c.to_lowercase());
        } else {
            pending_space = true;
        }
    }
    out
}

/// Whether `phrase` occurs in `text` as whole words, case, accents and punctuation ignored:
/// "Quero falar com um ATENDENTE!" has "atendente" and "falar com", but not "ate"; "desumano"
/// does not have "humano".
pub fn has_phrase(text: &str, phrase: &str) -> bool {
    has_folded_phrase(&fold(text), &fold(phrase))
}

/// `has_phrase` for text and phrase already folded (words separated by single spaces).
pub fn has_folded_phrase(text: &str, phrase: &str) -> bool {
    !phrase.is_empty()
        && text.match_indices(phrase).any(|(i, _)| {
            let end = i + phrase.len();
            (i == 0 || text.as_bytes()[i - 1] == b' ')
                && (end == text.len() || text.as_bytes()[end] == b' ')
        })
}

#[cfg(test)]
mod tests {
    use super::{fold, has_phrase};

    #[test]
    fn phrases_match_whole_words_only() {
        for (text, phrase, want) in [
            ("Quero falar com um ATENDENTE!", "atendente", true),
            ("Quero falar com um ATENDENTE!", "falar com", true),
            ("Quero falar com um ATENDENTE!", "ate", false),
            ("isso é desumano", "humano", false),
            ("humano, por favor", "humano", true),
            ("Tenho uma reclamação", "reclamacao", true),
            ("cancelar", "cancelar", true),
            ("qualquer coisa", "", false),
        ] {
            assert_eq!(has_phrase(text, phrase), want, "{text:?} / {phrase:?}");
        }
    }

    #[test]
    fn folds_case_accents_punctuation_and_spaces() {
        for (input, want) in [
            ("  Informações!! ", "informacoes"),
            ("SUPORTE", "suporte"),
            ("Falar   com\tatendente", "falar com atendente"),
            ("reclamação.", "reclamacao"),
            ("", ""),
            ("👋", ""),
        ] {
            assert_eq!(fold(input), want, "{input:?}");
        }
    }
}

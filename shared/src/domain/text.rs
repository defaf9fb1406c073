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

#[cfg(test)]
mod tests {
    use super::fold;

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

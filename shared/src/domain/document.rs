//! Brazilian taxpayer documents: CPF (people, 11 digits) and CNPJ (companies, 14 digits),
//! validated by their check digits. Customers type them with or without punctuation.

/// A valid document, digits only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaxId {
    Cpf(String),
    Cnpj(String),
}

impl TaxId {
    /// Reads a CPF or CNPJ from what a customer typed (`123.456.789-09`, `12345678909`,
    /// `11.222.333/0001-81`); `None` when the digits do not check out.
    pub fn parse(typed: &str) -> Option<Self> {
        if typed
            .chars()
            .any(|c| !(c.is_ascii_alphanumeric() || " .-/".contains(c)))
        {
            return None;
        }
        let chars: Vec<char> = typed
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_uppercase())
            .collect();
        // Alphanumeric CNPJs (issued from July 2026): letters in the first 12 positions, each
        // worth its ASCII code minus 48; the two check digits stay digits.
        if chars.iter().any(char::is_ascii_alphabetic) {
            let valid = chars.len() == 14
                && chars[12..].iter().all(char::is_ascii_digit)
                && checks(
                    &chars.iter().map(|c| *c as u32 - 48).collect::<Vec<_>>(),
                    &[5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2],
                    &[6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2],
                );
            return valid.then(|| Self::Cnpj(chars.iter().collect()));
        }
        let digits: Vec<u32> = chars.iter().filter_map(|c| c.to_digit(10)).collect();
        // All-equal sequences pass the arithmetic but are not issued.
        if digits.windows(2).all(|w| w[0] == w[1]) {
            return None;
        }
        let text: String = digits.iter().map(|d| char::from(b'0' + *d as u8)).collect();
        match digits.len() {
            11 if checks(
                &digits,
                &[10, 9, 8, 7, 6, 5, 4, 3, 2],
                &[11, 10, 9, 8, 7, 6, 5, 4, 3, 2],
            ) =>
            {
                Some(Self::Cpf(text))
            }
            14 if checks(
                &digits,
                &[5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2],
                &[6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2],
            ) =>
            {
                Some(Self::Cnpj(text))
            }
            _ => None,
        }
    }
}

/// Both check digits (modulo 11) with their weight sequences.
fn checks(digits: &[u32], first: &[u32], second: &[u32]) -> bool {
    let check = |weights: &[u32]| {
        let sum: u32 = digits.iter().zip(weights).map(|(d, w)| d * w).sum();
        match sum % 11 {
            0 | 1 => 0,
            r => 11 - r,
        }
    };
    let n = digits.len();
    check(first) == digits[n - 2] && check(second) == digits[n - 1]
}

#[cfg(test)]
mod tests {
    use super::TaxId;

    #[test]
    fn valid_documents_with_and_without_punctuation() {
        for (typed, want) in [
            ("529.982.247-25", TaxId::Cpf("52998224725".into())),
            ("52998224725", TaxId::Cpf("52998224725".into())),
            ("111.444.777-35", TaxId::Cpf("11144477735".into())),
            ("11.222.333/0001-81", TaxId::Cnpj("11222333000181".into())),
            ("11222333000181", TaxId::Cnpj("11222333000181".into())),
            // The Receita Federal's example of an alphanumeric CNPJ.
            ("12.ABC.345/01DE-35", TaxId::Cnpj("12ABC34501DE35".into())),
            ("12abc34501de35", TaxId::Cnpj("12ABC34501DE35".into())),
        ] {
            assert_eq!(TaxId::parse(typed), Some(want), "{typed}");
        }
    }

    #[test]
    fn invalid_documents_are_refused() {
        for typed in [
            "529.982.247-26",     // wrong second digit
            "529.982.247-15",     // wrong first digit
            "111.111.111-11",     // all equal
            "11.222.333/0001-82", // wrong CNPJ digit
            "5299822472",         // too short
            "cpf 52998224725",    // words around it
            "12.ABC.345/01DE-36", // wrong alphanumeric check digit
            "",
        ] {
            assert_eq!(TaxId::parse(typed), None, "{typed}");
        }
    }
}

//! Secrets (app secret, tokens) that never reach a log: `Debug` prints `[redacted]`.

use subtle::ConstantTimeEq;

#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// `None` for an absent or blank value: a blank secret is no secret.
    pub fn new(value: impl Into<String>) -> Option<Self> {
        let value = value.into();
        (!value.trim().is_empty()).then_some(Self(value))
    }

    /// The value, for the one place that must use it (a MAC key, a header).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison with what a caller presented.
    pub fn matches(&self, presented: &str) -> bool {
        self.0.as_bytes().ct_eq(presented.as_bytes()).into()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn blank_is_absent_and_debug_hides_the_value() {
        assert!(Secret::new("  ").is_none());
        let s = Secret::new("hunter2").unwrap();
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert!(s.matches("hunter2"));
        assert!(!s.matches("hunter3"));
        assert!(!s.matches("hunter"));
    }
}

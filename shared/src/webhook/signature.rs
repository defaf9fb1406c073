use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Why a webhook's `X-Hub-Signature-256` was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("the X-Hub-Signature-256 header is missing")]
    Missing,
    #[error("the X-Hub-Signature-256 header is not of the form sha256=<64 hex digits>")]
    Malformed,
    #[error("the X-Hub-Signature-256 header does not match the body")]
    Mismatch,
}

/// Checks `header` (`sha256=<hex>`) against HMAC-SHA256 of `body` keyed with `app_secret`.
///
/// `body` must be the exact bytes received: hashing a re-serialized body breaks on Meta's
/// escapes (`\u00e7`, `\/`). The comparison is constant-time.
pub fn verify_signature(
    app_secret: &[u8],
    header: Option<&str>,
    body: &[u8],
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?.trim();
    let hex_digest = header
        .get(..7)
        .filter(|prefix| prefix.eq_ignore_ascii_case("sha256="))
        .map(|_| &header[7..])
        .ok_or(SignatureError::Malformed)?;
    let mut expected = [0u8; 32];
    hex::decode_to_slice(hex_digest, &mut expected).map_err(|_| SignatureError::Malformed)?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(app_secret).map_err(|_| SignatureError::Mismatch)?;
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// The header value Meta would send for `body`: used by tests, fixtures and the benchmark.
pub fn sign(app_secret: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret).unwrap_or_else(|_| unreachable!());
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"test-app-secret";

    #[test]
    fn accepts_the_signature_of_the_exact_bytes() {
        let body = br#"{"a":"\u00e7\/"}"#;
        let header = sign(SECRET, body);
        assert_eq!(verify_signature(SECRET, Some(&header), body), Ok(()));
        // Upper-case hex and prefix are the same digest.
        let upper = header.to_uppercase();
        assert_eq!(verify_signature(SECRET, Some(&upper), body), Ok(()));
    }

    #[test]
    fn a_reserialized_body_does_not_verify() {
        let raw = br#"{"a":"\u00e7\/"}"#;
        let header = sign(SECRET, raw);
        let value: serde_json::Value = serde_json::from_slice(raw).unwrap();
        let reserialized = serde_json::to_vec(&value).unwrap();
        assert_ne!(raw.as_slice(), reserialized.as_slice());
        assert_eq!(
            verify_signature(SECRET, Some(&header), &reserialized),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn refuses_missing_malformed_and_wrong_signatures() {
        let body = b"{}";
        let cases: &[(Option<&str>, SignatureError)] = &[
            (None, SignatureError::Missing),
            (Some(""), SignatureError::Malformed),
            (Some("sha1=abcd"), SignatureError::Malformed),
            (Some("sha256=zz"), SignatureError::Malformed),
            (Some("sha256=abcd"), SignatureError::Malformed),
            (Some(&"sha256=".repeat(2)), SignatureError::Malformed),
            (
                Some("sha256=0000000000000000000000000000000000000000000000000000000000000000"),
                SignatureError::Mismatch,
            ),
        ];
        for (header, want) in cases {
            assert_eq!(
                verify_signature(SECRET, *header, body).as_ref(),
                Err(want),
                "{header:?}"
            );
        }
        let other_secret = sign(b"another-secret", body);
        assert_eq!(
            verify_signature(SECRET, Some(&other_secret), body),
            Err(SignatureError::Mismatch)
        );
    }
}

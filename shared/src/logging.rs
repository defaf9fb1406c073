//! Log set-up: JSON lines for Lambda (CloudWatch), compact text for the local runner.
//! Level from `RUST_LOG` (default `info`). Customer ids are masked where they are logged;
//! secrets are `Secret`s and print as `[redacted]`.

use tracing_subscriber::EnvFilter;

fn filter(default: &str) -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default))
}

/// For Lambda functions: JSON, no ANSI colours, no timestamps (CloudWatch stamps each line).
pub fn init_lambda() {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter("info"))
        .with_current_span(false)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .try_init();
}

/// For the local runner: human-readable lines on stderr at `default` level unless `RUST_LOG`;
/// coloured only on a terminal (a file or a pipe gets plain text).
pub fn init_local(default: &str) {
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter(default))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .compact()
        .try_init();
}

/// An identifier as the logs show it: the first 12 hex digits of its SHA-256. WhatsApp message
/// ids (`wamid.…`) are base64 of a record that carries the customer's number, and the ids of
/// events and outbox entries are built from them: none is logged as it is. The same id always
/// shows the same digest, so a log search still follows one event.
#[derive(Clone, Copy, Debug)]
pub struct IdDigest<'a>(pub &'a str);

impl std::fmt::Display for IdDigest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(self.0.as_bytes());
        for byte in &digest[..6] {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// A duration as people read it in a log line: `3d 4h 5m`, `25h` is `1d 1h`, under a minute
/// `42s`. Negative durations (a clock behind the sender's) print with a minus sign.
#[derive(Clone, Copy, Debug)]
pub struct Age(pub chrono::Duration);

impl std::fmt::Display for Age {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let total = self.0.num_seconds();
        if total < 0 {
            f.write_str("-")?;
        }
        let total = total.unsigned_abs();
        if total < 60 {
            return write!(f, "{total}s");
        }
        let (days, hours, minutes) = (total / 86_400, total % 86_400 / 3_600, total % 3_600 / 60);
        let parts = [(days, "d"), (hours, "h"), (minutes, "m")];
        let mut first = true;
        for (n, unit) in parts.into_iter().filter(|(n, _)| *n > 0) {
            if !first {
                f.write_str(" ")?;
            }
            write!(f, "{n}{unit}")?;
            first = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Age;
    use chrono::Duration;

    #[test]
    fn ages_read_in_days_hours_and_minutes() {
        let cases = [
            (Duration::seconds(42), "42s"),
            (Duration::minutes(90), "1h 30m"),
            (Duration::hours(25) + Duration::seconds(59), "1d 1h"),
            (Duration::days(6) + Duration::minutes(3), "6d 3m"),
            (Duration::hours(-2), "-2h"),
        ];
        for (age, want) in cases {
            assert_eq!(Age(age).to_string(), want);
        }
    }
}

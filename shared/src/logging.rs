//! Log set-up: JSON lines for Lambda (CloudWatch), compact text for the local runner.
//! On Lambda the runtime's conventions hold: `AWS_LAMBDA_LOG_LEVEL` and `AWS_LAMBDA_LOG_FORMAT`
//! (set from the function's `LoggingConfig`), `RUST_LOG` over them when set. Each line carries
//! the spans it was logged in: the invocation's request id and whether it was a cold start,
//! and, in the processor, the event's (digested) id, so adapter lines carry them too.
//! Customer ids are masked where they are logged; secrets are `Secret`s and print as
//! `[redacted]`.

use std::sync::atomic::{AtomicBool, Ordering};
use tracing_subscriber::EnvFilter;

fn filter(default: &str) -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default))
}

/// How a Lambda function logs: the filter and whether lines are JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LambdaLogSettings {
    pub filter: String,
    pub json: bool,
}

impl LambdaLogSettings {
    /// From `RUST_LOG`, `AWS_LAMBDA_LOG_LEVEL` (TRACE, DEBUG, INFO, WARN, ERROR, FATAL) and
    /// `AWS_LAMBDA_LOG_FORMAT` (JSON or Text): a `RUST_LOG` filter wins; the runtime's level
    /// otherwise; `info` without either. JSON unless the format says Text.
    pub fn from(rust_log: Option<&str>, level: Option<&str>, format: Option<&str>) -> Self {
        let filter = match (rust_log.map(str::trim).filter(|f| !f.is_empty()), level) {
            (Some(filter), _) => filter.to_owned(),
            (None, Some(level)) => match level.trim().to_ascii_uppercase().as_str() {
                "TRACE" => "trace",
                "DEBUG" => "debug",
                "WARN" => "warn",
                "ERROR" | "FATAL" => "error",
                _ => "info",
            }
            .to_owned(),
            (None, None) => "info".to_owned(),
        };
        let json = !format.is_some_and(|f| f.trim().eq_ignore_ascii_case("text"));
        Self { filter, json }
    }
}

/// For Lambda functions: JSON (or text, as `AWS_LAMBDA_LOG_FORMAT` says), no ANSI colours, no
/// timestamps (CloudWatch stamps each line), the fields of the spans a line is in.
pub fn init_lambda() {
    let env = |name: &str| std::env::var(name).ok();
    let settings = LambdaLogSettings::from(
        env("RUST_LOG").as_deref(),
        env("AWS_LAMBDA_LOG_LEVEL").as_deref(),
        env("AWS_LAMBDA_LOG_FORMAT").as_deref(),
    );
    let filter = EnvFilter::try_new(&settings.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .without_time()
        .with_target(false);
    let _ = if settings.json {
        builder
            .json()
            .with_current_span(false)
            .with_span_list(true)
            .try_init()
    } else {
        builder.try_init()
    };
}

/// True the first time it is asked in this process: the invocation is a cold start.
pub fn cold_start() -> bool {
    static WARM: AtomicBool = AtomicBool::new(false);
    !WARM.swap(true, Ordering::Relaxed)
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

#[cfg(test)]
mod lambda_log_settings {
    use super::LambdaLogSettings;

    #[test]
    fn the_runtime_conventions_hold_and_rust_log_wins() {
        // (RUST_LOG, AWS_LAMBDA_LOG_LEVEL, AWS_LAMBDA_LOG_FORMAT) -> (filter, JSON)
        for (rust_log, level, format, filter, json) in [
            (None, None, None, "info", true),
            (None, Some("DEBUG"), Some("JSON"), "debug", true),
            (None, Some("WARN"), None, "warn", true),
            (None, Some("FATAL"), None, "error", true),
            (None, Some("odd"), None, "info", true),
            (None, Some("TRACE"), Some("Text"), "trace", false),
            (
                Some("atende_shared=debug"),
                Some("ERROR"),
                Some("JSON"),
                "atende_shared=debug",
                true,
            ),
            (Some("  "), Some("ERROR"), None, "error", true),
        ] {
            assert_eq!(
                LambdaLogSettings::from(rust_log, level, format),
                LambdaLogSettings {
                    filter: filter.to_owned(),
                    json
                },
                "{rust_log:?} {level:?} {format:?}"
            );
        }
    }
}

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

/// For the local runner: human-readable lines on stderr at `default` level unless `RUST_LOG`.
pub fn init_local(default: &str) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter(default))
        .with_writer(std::io::stderr)
        .with_target(false)
        .compact()
        .try_init();
}

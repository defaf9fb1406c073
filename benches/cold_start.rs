//! Cold start of each Lambda function's release binary, against a local stand-in for the Lambda
//! Runtime API (no network beyond loopback): from process start to its first
//! `GET /2018-06-01/runtime/invocation/next` (the function's own initialisation: logging, the
//! configuration, the AWS SDK's configuration and clients, secrets from the environment) and,
//! for the webhook and the processor, to the first response to an invocation that needs no AWS
//! call (the webhook's subscription handshake; a webhook error event, which the processor only
//! logs). Each function is started 30 times; p50, p90 and max are printed.
//!
//!     cargo build --release -p webhook -p processor -p sla-checker -p agent-api -p live
//!     cargo bench --bench cold_start
//!
//! AWS calls, were any made, would go to a closed loopback port (`AWS_ENDPOINT_URL`).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::{get, post};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const RUNS: usize = 30;

/// What the stand-in saw of one process.
#[derive(Default)]
struct Seen {
    first_next: Option<Instant>,
    first_answer: Option<Instant>,
    served: bool,
}

struct Runtime {
    event: String,
    seen: Mutex<Seen>,
    answered: tokio::sync::Notify,
}

async fn next(State(runtime): State<Arc<Runtime>>) -> (StatusCode, HeaderMap, String) {
    let first = {
        let mut seen = runtime.seen.lock().unwrap();
        seen.first_next.get_or_insert_with(Instant::now);
        !std::mem::replace(&mut seen.served, true)
    };
    if !first {
        // One invocation per process: the next poll waits until the process is stopped.
        std::future::pending::<()>().await;
    }
    let mut headers = HeaderMap::new();
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 60_000;
    headers.insert(
        "lambda-runtime-aws-request-id",
        HeaderValue::from_static("req-1"),
    );
    headers.insert(
        "lambda-runtime-deadline-ms",
        HeaderValue::from_str(&deadline.to_string()).unwrap(),
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        HeaderValue::from_static("arn:aws:lambda:us-east-1:123456789012:function:atende"),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        HeaderValue::from_static("Root=1-0-0"),
    );
    (StatusCode::OK, headers, runtime.event.clone())
}

async fn answer(State(runtime): State<Arc<Runtime>>, Path(_id): Path<String>) -> StatusCode {
    runtime
        .seen
        .lock()
        .unwrap()
        .first_answer
        .get_or_insert_with(Instant::now);
    runtime.answered.notify_one();
    StatusCode::ACCEPTED
}

/// One function: its binary, its environment, its first event (if its answer is timed).
struct Function {
    binary: &'static str,
    env: Vec<(&'static str, &'static str)>,
    event: Option<String>,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let release = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release");
    let webhook_get = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("events/webhook-get-verify.json"),
    )
    .unwrap();
    let error_event = serde_json::json!({
        "id": "error:cold-start",
        "business_number": "106540352242922",
        "kind": { "type": "error", "code": 131_000, "title": "Something went wrong" }
    });
    let sqs = serde_json::json!({ "Records": [{
        "messageId": "m0",
        "body": error_event.to_string(),
        "attributes": { "MessageGroupId": "business-106540352242922" },
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:atende-events.fifo"
    }]})
    .to_string();
    let tables = [
        ("SESSIONS_TABLE", "sessions"),
        ("ATTENDANCE_TABLE", "attendance"),
        ("AGENTS_TABLE", "agents"),
        ("LOG_TABLE", "log"),
        ("MEDIA_BUCKET", "media"),
    ];
    let functions = [
        Function {
            binary: "webhook",
            env: vec![
                ("WHATSAPP_APP_SECRET", "atende-test-app-secret"),
                ("WHATSAPP_VERIFY_TOKEN", "atende-test-verify-token"),
                (
                    "EVENTS_QUEUE_URL",
                    "http://127.0.0.1:9/123456789012/events.fifo",
                ),
            ],
            event: Some(webhook_get),
        },
        Function {
            binary: "processor",
            env: [
                ("WHATSAPP_ACCESS_TOKEN", "atende-test-access-token"),
                ("SCHEDULE_GROUP", "timers"),
                (
                    "EVENTS_QUEUE_ARN",
                    "arn:aws:sqs:us-east-1:123456789012:atende-events.fifo",
                ),
                (
                    "SCHEDULER_ROLE_ARN",
                    "arn:aws:iam::123456789012:role/scheduler",
                ),
            ]
            .into_iter()
            .chain(tables)
            .collect(),
            event: Some(sqs),
        },
        Function {
            binary: "sla-checker",
            env: tables.to_vec(),
            event: None,
        },
        Function {
            binary: "agent-api",
            env: tables
                .into_iter()
                .chain([
                    (
                        "EVENTS_QUEUE_URL",
                        "http://127.0.0.1:9/123456789012/events.fifo",
                    ),
                    ("DESK_COGNITO_CLIENT_ID", "atende-desk-client"),
                ])
                .collect(),
            event: None,
        },
        Function {
            binary: "live",
            env: vec![
                ("LIVE_TABLE", "live"),
                ("LIVE_ENDPOINT", "http://127.0.0.1:9/live"),
            ],
            event: None,
        },
    ];
    println!("cold start, {RUNS} runs each (release binaries, local Runtime API stand-in)");
    for function in functions {
        let binary = release.join(function.binary);
        if !binary.exists() {
            eprintln!(
                "{} is not built: cargo build --release -p {}",
                binary.display(),
                function.binary
            );
            std::process::exit(1);
        }
        let mut to_next = Vec::new();
        let mut to_answer = Vec::new();
        for _ in 0..RUNS {
            let runtime = Arc::new(Runtime {
                event: function.event.clone().unwrap_or_else(|| "{}".to_owned()),
                seen: Mutex::default(),
                answered: tokio::sync::Notify::new(),
            });
            let app = Router::new()
                .route("/2018-06-01/runtime/invocation/next", get(next))
                .route("/2018-06-01/runtime/invocation/{id}/response", post(answer))
                .route("/2018-06-01/runtime/invocation/{id}/error", post(answer))
                .with_state(runtime.clone());
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            let server = tokio::spawn(async move { axum::serve(listener, app).await });
            let started = Instant::now();
            let mut child = Command::new(&binary)
                .env_clear()
                .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
                .env("AWS_LAMBDA_FUNCTION_NAME", function.binary)
                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
                .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
                .env("AWS_LAMBDA_LOG_LEVEL", "WARN")
                .env("AWS_REGION", "us-east-1")
                .env("AWS_ACCESS_KEY_ID", "testing")
                .env("AWS_SECRET_ACCESS_KEY", "testing")
                .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
                .envs(function.env.iter().copied())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let wait = tokio::time::timeout(Duration::from_secs(10), async {
                loop {
                    let done = {
                        let seen = runtime.seen.lock().unwrap();
                        if function.event.is_some() {
                            seen.first_answer.is_some()
                        } else {
                            seen.first_next.is_some()
                        }
                    };
                    if done {
                        break;
                    }
                    tokio::time::sleep(Duration::from_micros(200)).await;
                }
            })
            .await;
            let _ = child.kill();
            let _ = child.wait();
            server.abort();
            if wait.is_err() {
                eprintln!("{}: no answer within 10 s", function.binary);
                std::process::exit(1);
            }
            let seen = runtime.seen.lock().unwrap();
            to_next.push(seen.first_next.unwrap() - started);
            if let (Some(answered), Some(_)) = (seen.first_answer, &function.event) {
                to_answer.push(answered - started);
            }
        }
        to_next.sort();
        to_answer.sort();
        let mut line = format!(
            "{:<12} first next: p50 {}, p90 {}, max {}",
            function.binary,
            ms(percentile(&to_next, 0.5)),
            ms(percentile(&to_next, 0.9)),
            ms(*to_next.last().unwrap())
        );
        if !to_answer.is_empty() {
            line.push_str(&format!(
                "; first response: p50 {}, p90 {}, max {}",
                ms(percentile(&to_answer, 0.5)),
                ms(percentile(&to_answer, 0.9)),
                ms(*to_answer.last().unwrap())
            ));
        }
        println!("{line}");
    }
}

//! Test support shared by the integration tests: a local HTTP server standing in for the Graph
//! API, and helpers to sign webhook bodies like Meta.
#![allow(dead_code)]

pub mod serve;
pub mod template;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

pub const APP_SECRET: &str = "atende-test-app-secret";
pub const VERIFY_TOKEN: &str = "atende-test-verify-token";
pub const ACCESS_TOKEN: &str = "atende-test-access-token";

/// `X-Hub-Signature-256` for `body`, as Meta computes it.
pub fn sign(body: &[u8]) -> String {
    atende_shared::webhook::signature::sign(APP_SECRET.as_bytes(), body)
}

/// `body` (a webhook payload in Meta's shape) as if sent now: every `"timestamp"` is moved by
/// the same amount so that the latest one is the current second, keeping their order and
/// spacing. Everything else stays byte for byte (Meta's escapes included), so the result is
/// signed as it is sent. A process on the real clock ignores messages older than 24 hours, so
/// fixtures sent to one go through this.
pub fn sent_now(body: &[u8]) -> Vec<u8> {
    let stamps = timestamps(body);
    let Some(latest) = stamps.iter().map(|&(_, _, t)| t).max() else {
        return body.to_vec();
    };
    let shift = chrono::Utc::now().timestamp() - latest;
    let mut out = Vec::with_capacity(body.len());
    let mut at = 0;
    for (start, end, t) in stamps {
        out.extend_from_slice(&body[at..start]);
        out.extend_from_slice((t + shift).to_string().as_bytes());
        at = end;
    }
    out.extend_from_slice(&body[at..]);
    out
}

/// Where the digits of each `"timestamp": "…"` (or unquoted number) are, and their value.
fn timestamps(body: &[u8]) -> Vec<(usize, usize, i64)> {
    const KEY: &[u8] = b"\"timestamp\"";
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(offset) = body[from..].windows(KEY.len()).position(|w| w == KEY) {
        let mut i = from + offset + KEY.len();
        from = i;
        let skip_space = |mut i: usize| {
            while body.get(i).is_some_and(u8::is_ascii_whitespace) {
                i += 1;
            }
            i
        };
        i = skip_space(i);
        if body.get(i) != Some(&b':') {
            continue;
        }
        i = skip_space(i + 1);
        if body.get(i) == Some(&b'"') {
            i += 1;
        }
        let start = i;
        while body.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let value = std::str::from_utf8(&body[start..i])
            .ok()
            .and_then(|digits| digits.parse::<i64>().ok());
        if let Some(value) = value {
            found.push((start, i, value));
        }
        from = i;
    }
    found
}

/// Serves `app` on a free loopback port, in the background; returns its address.
pub async fn serve_on_loopback(app: Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// One request the Graph stub received.
#[derive(Clone, Debug)]
pub struct GraphRequest {
    /// The phone number id in `/{id}/messages`.
    pub phone_number_id: String,
    pub authorization: Option<String>,
    pub body: Value,
}

impl GraphRequest {
    pub fn is_mark_read(&self) -> bool {
        self.body["status"] == "read"
    }
    pub fn to(&self) -> &str {
        self.body["to"]
            .as_str()
            .or(self.body["recipient"].as_str())
            .unwrap_or("")
    }
}

#[derive(Default)]
struct StubState {
    requests: Mutex<Vec<GraphRequest>>,
    canned: Mutex<VecDeque<(u16, Value)>>,
    delays: Mutex<VecDeque<Duration>>,
    arrived: Notify,
    /// Media ids downloaded, with the authorization they came with.
    downloads: Mutex<Vec<(String, Option<String>)>>,
    base_url: std::sync::OnceLock<String>,
}

/// The bytes the stand-in serves for a customer's media id.
pub fn media_bytes(media_id: &str) -> Vec<u8> {
    format!("jpeg bytes of {media_id}").into_bytes()
}

/// A local HTTP server speaking the Cloud API's `/{phone_number_id}/messages`, and the media
/// download (`GET /{media_id}` gives a URL, that URL the bytes).
pub struct GraphStub {
    pub base_url: String,
    state: Arc<StubState>,
}

impl GraphStub {
    pub async fn start() -> Self {
        let state = Arc::new(StubState::default());
        let app = Router::new()
            .route("/{phone_number_id}/messages", post(messages))
            .route("/{media_id}", axum::routing::get(media_info))
            .route("/download/{media_id}", axum::routing::get(media_download))
            .with_state(state.clone());
        let addr = serve_on_loopback(app).await;
        let base_url = format!("http://{addr}");
        let _ = state.base_url.set(base_url.clone());
        Self { base_url, state }
    }

    /// The media ids downloaded so far, with the `Authorization` each came with.
    pub fn downloads(&self) -> Vec<(String, Option<String>)> {
        self.state.downloads.lock().unwrap().clone()
    }

    /// The next requests get these answers (status, JSON body), in order; then 200s again.
    pub fn respond_next(&self, answers: impl IntoIterator<Item = (u16, Value)>) {
        self.state.canned.lock().unwrap().extend(answers);
    }

    /// The next requests are answered only after these delays, in order.
    pub fn delay_next(&self, delays: impl IntoIterator<Item = Duration>) {
        self.state.delays.lock().unwrap().extend(delays);
    }

    pub fn requests(&self) -> Vec<GraphRequest> {
        self.state.requests.lock().unwrap().clone()
    }

    /// The ids the stand-in gave the messages sent so far, in order (read receipts get none;
    /// answers given with `respond_next` are not counted).
    pub fn message_ids(&self) -> Vec<String> {
        self.requests()
            .iter()
            .enumerate()
            .filter(|(_, r)| r.body["status"] != "read")
            .map(|(i, _)| stub_message_id(i + 1))
            .collect()
    }

    /// Waits until at least `n` requests arrived (or fails after `limit`), then returns all.
    pub async fn wait_for(&self, n: usize, limit: Duration) -> Vec<GraphRequest> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.state.arrived.notified();
            let got = self.requests();
            if got.len() >= n {
                return got;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "expected {n} Graph API requests within {limit:?}, got {}: {:#?}",
                    got.len(),
                    got
                );
            }
        }
    }
}

/// The id the Graph API stand-in gives the message of its `n`th request: as long as Meta's
/// (`wamid.` and base64, about 60 characters), since what a session keeps of ids counts in what
/// its writes cost.
pub fn stub_message_id(n: usize) -> String {
    format!("wamid.HBgNNTUxMTkwMDAwMDAwMBUCABEYEkYz{n:020}QUEA==")
}

async fn media_info(
    State(state): State<Arc<StubState>>,
    Path(media_id): Path<String>,
) -> (StatusCode, axum::Json<Value>) {
    if !media_id.chars().all(|c| c.is_ascii_digit()) {
        let error = json!({"error": {"code": 100, "message": "Invalid parameter"}});
        return (StatusCode::BAD_REQUEST, axum::Json(error));
    }
    let base = state.base_url.get().cloned().unwrap_or_default();
    let answer = json!({
        "messaging_product": "whatsapp",
        "url": format!("{base}/download/{media_id}"),
        "mime_type": "image/jpeg",
        "id": media_id,
    });
    (StatusCode::OK, axum::Json(answer))
}

async fn media_download(
    State(state): State<Arc<StubState>>,
    Path(media_id): Path<String>,
    headers: HeaderMap,
) -> (
    StatusCode,
    [(axum::http::HeaderName, &'static str); 1],
    Vec<u8>,
) {
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    state
        .downloads
        .lock()
        .unwrap()
        .push((media_id.clone(), authorization));
    (
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "image/jpeg")],
        media_bytes(&media_id),
    )
}

async fn messages(
    State(state): State<Arc<StubState>>,
    Path(phone_number_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, axum::Json<Value>) {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let recorded = GraphRequest {
        phone_number_id,
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: body.clone(),
    };
    let n = {
        let mut requests = state.requests.lock().unwrap();
        requests.push(recorded);
        requests.len()
    };
    state.arrived.notify_waiters();
    let delay = state.delays.lock().unwrap().pop_front();
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    if let Some((status, answer)) = state.canned.lock().unwrap().pop_front() {
        return (StatusCode::from_u16(status).unwrap(), axum::Json(answer));
    }
    let answer = if body["status"] == "read" {
        json!({ "success": true })
    } else {
        json!({
            "messaging_product": "whatsapp",
            "contacts": [{ "input": body["to"], "wa_id": body["to"] }],
            "messages": [{ "id": stub_message_id(n) }],
        })
    };
    (StatusCode::OK, axum::Json(answer))
}

/// The shipped configuration without its `[hours]` table: always open, so that tests running
/// `atende` on the real clock answer the same at any hour. Written once per test process.
pub fn always_open_config() -> std::path::PathBuf {
    static PATH: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let shipped = atende_shared::domain::config::EMBEDDED;
        let start = shipped
            .find("\n[hours]\n")
            .expect("the shipped config has [hours]");
        let end = start
            + 1
            + shipped[start + 1..]
                .find("\n[")
                .expect("a table after [hours]");
        let text = format!("{}{}", &shipped[..start], &shipped[end..]);
        let config = atende_shared::domain::Config::from_toml(&text).expect("still valid");
        assert!(config.hours.is_none(), "[hours] removed");
        let path =
            std::env::temp_dir().join(format!("atende-always-open-{}.toml", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path
    })
    .clone()
}

/// One request the Anthropic stub received.
#[derive(Clone, Debug)]
pub struct AnthropicRequest {
    pub api_key: Option<String>,
    pub version: Option<String>,
    pub body: Value,
}

#[derive(Default)]
struct AnthropicState {
    requests: Mutex<Vec<AnthropicRequest>>,
    canned: Mutex<VecDeque<(u16, Value)>>,
}

/// A local HTTP server speaking Anthropic's `POST /v1/messages`. Unless told otherwise it
/// answers every question with the text `DEFAULT_ANSWER`.
pub struct AnthropicStub {
    pub base_url: String,
    state: Arc<AnthropicState>,
}

impl AnthropicStub {
    pub const DEFAULT_ANSWER: &'static str = "Entregamos em até 3 dias úteis. 📦";

    pub async fn start() -> Self {
        let state = Arc::new(AnthropicState::default());
        let app = Router::new()
            .route("/v1/messages", post(anthropic_messages))
            .with_state(state.clone());
        let addr = serve_on_loopback(app).await;
        Self {
            base_url: format!("http://{addr}"),
            state,
        }
    }

    /// The next calls get these answers (status, JSON body), in order.
    pub fn respond_next(&self, answers: impl IntoIterator<Item = (u16, Value)>) {
        self.state.canned.lock().unwrap().extend(answers);
    }

    pub fn requests(&self) -> Vec<AnthropicRequest> {
        self.state.requests.lock().unwrap().clone()
    }

    /// An answer calling the handover tool, with `text` before it (may be empty).
    pub fn tool_use(text: &str, reason: &str) -> (u16, Value) {
        let mut content = Vec::new();
        if !text.is_empty() {
            content.push(json!({"type": "text", "text": text}));
        }
        content.push(
            json!({"type": "tool_use", "id": "toolu_01A", "name": "transfer_to_human",
                            "input": {"reason": reason}}),
        );
        (
            200,
            json!({"id": "msg_01", "type": "message", "role": "assistant", "content": content,
                   "stop_reason": "tool_use"}),
        )
    }

    pub fn overloaded() -> (u16, Value) {
        (
            529,
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        )
    }
}

async fn anthropic_messages(
    State(state): State<Arc<AnthropicState>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, axum::Json<Value>) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    state.requests.lock().unwrap().push(AnthropicRequest {
        api_key: header("x-api-key"),
        version: header("anthropic-version"),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    if let Some((status, answer)) = state.canned.lock().unwrap().pop_front() {
        return (StatusCode::from_u16(status).unwrap(), axum::Json(answer));
    }
    (
        StatusCode::OK,
        axum::Json(json!({
            "id": "msg_01", "type": "message", "role": "assistant",
            "content": [{"type": "text", "text": AnthropicStub::DEFAULT_ANSWER}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 120, "output_tokens": 20}
        })),
    )
}

#[derive(Default)]
struct HookState {
    bodies: Mutex<Vec<Value>>,
    statuses: Mutex<VecDeque<u16>>,
}

/// A local HTTP endpoint standing in for a chat webhook (Slack's incoming webhooks): records
/// the JSON bodies POSTed to `/hook`.
pub struct HookStub {
    pub url: String,
    state: Arc<HookState>,
}

impl HookStub {
    pub async fn start() -> Self {
        let state = Arc::new(HookState::default());
        let app = Router::new()
            .route("/hook", post(hook))
            .with_state(state.clone());
        let addr = serve_on_loopback(app).await;
        Self {
            url: format!("http://{addr}/hook"),
            state,
        }
    }

    /// The next requests are answered with these statuses; then 200.
    pub fn respond_next(&self, statuses: impl IntoIterator<Item = u16>) {
        self.state.statuses.lock().unwrap().extend(statuses);
    }

    pub fn bodies(&self) -> Vec<Value> {
        self.state.bodies.lock().unwrap().clone()
    }
}

async fn hook(State(state): State<Arc<HookState>>, body: Bytes) -> StatusCode {
    state
        .bodies
        .lock()
        .unwrap()
        .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
    let status = state.statuses.lock().unwrap().pop_front().unwrap_or(200);
    StatusCode::from_u16(status).unwrap()
}

/// The SDK configuration, refusing anything but an emulator on loopback.
pub async fn emulator() -> atende_shared::adapters::aws::SdkConfig {
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .expect("AWS_ENDPOINT_URL must point at the emulator (bash tests/run sets it)");
    assert!(
        endpoint.starts_with("http://127.0.0.1:") || endpoint.starts_with("http://localhost:"),
        "AWS tests only run against an emulator on loopback, not {endpoint}"
    );
    atende_shared::adapters::aws::sdk_config().await
}

/// A resource name no other test run uses.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

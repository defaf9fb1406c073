//! The whole pipe in one process, per answered customer: `atende serve` (this profile's build,
//! memory backend, logs at `warn`, pacing at the number's maximum of 1,000 messages a second)
//! with a local Graph API stand-in, fed new customers writing "oi" at fixed rates (open loop:
//! each POST leaves on its tick, whatever the earlier ones are doing). For each rate:
//!
//! - the share of customers answered (read receipt, greeting and menu at the stand-in), and the
//!   share the webhook pushed back (a 5xx, which Meta delivers again later);
//! - p50 / p99 / max from the webhook POST leaving to the menu reaching the stand-in;
//! - the server's CPU time (user + system, from `/proc`) per answered customer;
//! - the server's peak resident memory during the phase;
//!
//! and, on a fresh server, the resident memory per idle session after 100,000 customers.
//!
//!     cargo bench --bench pipe
//!         PIPE_RATES=100,300,600  PIPE_SECONDS=20  PIPE_IDLE_SESSIONS=100000  (the defaults)
//!
//! The stand-in and the load run in this process on the same cores as the server: their CPU is
//! not counted, but they compete with it for the machine.

#[path = "../tests/support/mod.rs"]
mod support;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::serve::{BUSINESS_NUMBER, Server, serve_against};
use support::sign;

/// Customers numbered from here, one new number each.
static NEXT_CUSTOMER: AtomicU64 = AtomicU64::new(0);

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let rates: Vec<u32> = std::env::var("PIPE_RATES")
        .unwrap_or_else(|_| "100,300,600".into())
        .split(',')
        .filter_map(|r| r.trim().parse().ok())
        .collect();
    let seconds: u64 = env_or("PIPE_SECONDS", 20);
    let idle: u64 = env_or("PIPE_IDLE_SESSIONS", 100_000);
    let ticks = clock_ticks();

    let graph = Stand::start().await;
    let server = start(&graph);
    let pid = server.pid();
    let http = reqwest::Client::new();
    warm_up(&http, &server, &graph, pid, ticks).await;

    println!(
        "rate/s  sent  answered  pushed back  p50 ms  p99 ms  max ms  CPU ms/answered  peak MB"
    );
    for rate in rates {
        let r = run(
            &http,
            &server,
            &graph,
            rate,
            Duration::from_secs(seconds),
            pid,
            ticks,
        )
        .await;
        println!(
            "{rate:>6}  {:>4}  {:>7.1}%  {:>10.1}%  {:>6.1}  {:>6.1}  {:>6.1}  {:>15.3}  {:>7.1}",
            r.sent,
            100.0 * r.answered as f64 / r.sent as f64,
            100.0 * r.pushed_back as f64 / r.sent as f64,
            r.p50_ms,
            r.p99_ms,
            r.max_ms,
            r.cpu_ms / r.answered.max(1) as f64,
            r.peak_kb as f64 / 1024.0,
        );
    }
    drop(server);

    if idle > 0 {
        // A fresh server: its resident memory with no customer, then after `idle` customers
        // (at 450 a second, under the pacing's 500 customers a second), all answered.
        let graph = Stand::start().await;
        let server = start(&graph);
        let pid = server.pid();
        warm_up(&http, &server, &graph, pid, ticks).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let before = rss_kb(pid);
        let rate = 450;
        let r = run(
            &http,
            &server,
            &graph,
            rate,
            Duration::from_secs(idle / u64::from(rate)),
            pid,
            ticks,
        )
        .await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        let after = rss_kb(pid);
        println!(
            "idle sessions: {} customers answered ({} sent), resident {:.1} MB -> {:.1} MB: {:.0} bytes per idle session",
            r.answered,
            r.sent,
            before as f64 / 1024.0,
            after as f64 / 1024.0,
            (after.saturating_sub(before) * 1024) as f64 / r.answered.max(1) as f64
        );
    }
}

/// Two seconds at 100 customers a second: connections, allocator, the first sessions.
async fn warm_up(http: &reqwest::Client, server: &Server, graph: &Stand, pid: u32, ticks: f64) {
    run(http, server, graph, 100, Duration::from_secs(2), pid, ticks).await;
}

fn start(graph: &Stand) -> Server {
    serve_against(&graph.base_url, &[("WHATSAPP_MESSAGES_PER_SECOND", "1000")])
}

struct Phase {
    sent: usize,
    answered: usize,
    pushed_back: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    cpu_ms: f64,
    peak_kb: u64,
}

/// New customers write "oi" at `rate` a second for `length`; then waits (up to 30 s) for the
/// accepted ones to be answered.
async fn run(
    http: &reqwest::Client,
    server: &Server,
    graph: &Stand,
    rate: u32,
    length: Duration,
    pid: u32,
    ticks: f64,
) -> Phase {
    let cpu_before = cpu_seconds(pid, ticks);
    let sent_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let refused = Arc::new(AtomicU64::new(0));
    let total = (f64::from(rate) * length.as_secs_f64()) as u64;
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut peak = rss_kb(pid);
    let mut last_sample = Instant::now();
    let mut posts = Vec::with_capacity(total as usize);
    for _ in 0..total {
        tick.tick().await;
        let n = NEXT_CUSTOMER.fetch_add(1, Ordering::Relaxed);
        let customer = format!("55119{n:08}");
        let (http, url, sent_at, refused) = (
            http.clone(),
            server.url.clone(),
            sent_at.clone(),
            refused.clone(),
        );
        posts.push(tokio::spawn(async move {
            let body = says(&customer, n);
            let signature = sign(&body);
            sent_at.lock().unwrap().insert(customer, Instant::now());
            let status = http
                .post(&url)
                .header("content-type", "application/json")
                .header("x-hub-signature-256", signature)
                .body(body)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            if status != 200 {
                refused.fetch_add(1, Ordering::Relaxed);
            }
        }));
        if last_sample.elapsed() > Duration::from_millis(100) {
            peak = peak.max(rss_kb(pid));
            last_sample = Instant::now();
        }
    }
    for post in posts {
        let _ = post.await;
    }
    let pushed_back = refused.load(Ordering::Relaxed) as usize;
    let accepted = total as usize - pushed_back;
    let waiting = Instant::now();
    let answered = |graph: &Stand| {
        let sent = sent_at.lock().unwrap();
        let menus = graph.menus.lock().unwrap();
        sent.keys().filter(|c| menus.contains_key(*c)).count()
    };
    while answered(graph) < accepted && waiting.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        peak = peak.max(rss_kb(pid));
    }
    let cpu_ms = (cpu_seconds(pid, ticks) - cpu_before) * 1000.0;
    let sent = sent_at.lock().unwrap();
    let menus = graph.menus.lock().unwrap();
    let mut latencies: Vec<f64> = sent
        .iter()
        .filter_map(|(customer, at)| {
            let menu = menus.get(customer)?;
            Some(menu.duration_since(*at).as_secs_f64() * 1000.0)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    Phase {
        sent: total as usize,
        answered: latencies.len(),
        pushed_back,
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        max_ms: latencies.last().copied().unwrap_or(f64::NAN),
        cpu_ms,
        peak_kb: peak,
    }
}

/// Meta's payload for one "oi" from `customer`, sent now.
fn says(customer: &str, n: u64) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "551130000000", "phone_number_id": BUSINESS_NUMBER},
            "contacts": [{"profile": {"name": "Cliente"}, "wa_id": customer}],
            "messages": [{
                "from": customer,
                "id": support::serve::wamid(customer, n as usize),
                "timestamp": chrono::Utc::now().timestamp().to_string(),
                "type": "text",
                "text": {"body": "oi"}
            }]
        }}]}]
    }))
    .unwrap_or_default()
}

/// A Graph API stand-in that answers at once and keeps only when each customer's menu (the
/// interactive message) arrived.
struct Stand {
    base_url: String,
    menus: Arc<Mutex<HashMap<String, Instant>>>,
}

impl Stand {
    async fn start() -> Self {
        let menus: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
        let app = Router::new()
            .route("/{phone_number_id}/messages", post(messages))
            .with_state(menus.clone());
        let addr = support::serve_on_loopback(app).await;
        Self {
            base_url: format!("http://{addr}"),
            menus,
        }
    }
}

static SENT: AtomicU64 = AtomicU64::new(0);

async fn messages(
    State(menus): State<Arc<Mutex<HashMap<String, Instant>>>>,
    body: Bytes,
) -> axum::Json<Value> {
    let arrived = Instant::now();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if body["status"] == "read" {
        return axum::Json(json!({"success": true}));
    }
    let to = body["to"].as_str().unwrap_or_default().to_owned();
    if body["type"] == "interactive" {
        menus.lock().unwrap().entry(to.clone()).or_insert(arrived);
    }
    let n = SENT.fetch_add(1, Ordering::Relaxed);
    axum::Json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": to, "wa_id": to}],
        "messages": [{"id": format!("wamid.stand{n}")}]
    }))
}

/// The process's user + system CPU time so far, in seconds.
fn cpu_seconds(pid: u32, ticks: f64) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command's closing parenthesis; utime and stime are the 14th and 15th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (field(11) + field(12)) / ticks
}

/// Resident memory now, in KB.
fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100.0)
}

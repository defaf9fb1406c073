//! Live-update latency through `atende serve`: from a customer's message reaching the webhook
//! to the agent's console having it — the page's live connection told (a pushed frame) and the
//! conversation read again through the agents' API, as `console/app.js` does. Also the
//! console's first-load size, raw and compressed (gzip -9).
//!
//!     cargo bench --bench live            (LIVE_BENCH_MESSAGES=200 by default)
//!
//! The server runs the release build's code paths on memory adapters with a local Graph API
//! stand-in, on this machine: what it measures is atende's own work (webhook, queue, processor,
//! log, push, read), not the network to Meta or API Gateway.

#[path = "../tests/support/mod.rs"]
mod support;

use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::serve::{MARIA, maria_says, post, serve};
use support::{GraphStub, sign};
use tokio_tungstenite::tungstenite::Message;

const WARM_UP: usize = 10;

#[tokio::main]
async fn main() {
    let messages: usize = std::env::var("LIVE_BENCH_MESSAGES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    page_size();

    let graph = GraphStub::start().await;
    let server = serve(&graph);
    let ana = server.login("ana").await;
    let http = reqwest::Client::new();
    let api = |method: reqwest::Method, path: &str| {
        http.request(method, server.at(path)).bearer_auth(&ana)
    };
    let put = api(reqwest::Method::PUT, "/agent/me/presence")
        .json(&json!({"presence": "available"}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 204);
    let body = maria_says(0, json!({"type": "text", "text": {"body": "atendente"}}));
    assert_eq!(post(&server, &body, Some(&sign(&body))).await.0, 200);
    // Ana takes Maria, as soon as she is in line.
    loop {
        let claim = api(reqwest::Method::POST, "/agent/claims")
            .send()
            .await
            .unwrap();
        if claim.status().as_u16() == 201 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ticket: Value = api(reqwest::Method::POST, "/agent/live/tickets")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (mut socket, _) = tokio_tungstenite::connect_async(ticket["url"].as_str().unwrap())
        .await
        .unwrap();

    let conversation = format!("/agent/conversations/{MARIA}?limit=5");
    let mut took = Vec::with_capacity(messages);
    for i in 0..WARM_UP + messages {
        let text = format!("mensagem {i}");
        let body = maria_says(i + 1, json!({"type": "text", "text": {"body": text}}));
        let signature = sign(&body);
        let started = Instant::now();
        assert_eq!(post(&server, &body, Some(&signature)).await.0, 200);
        'shown: loop {
            // Told…
            let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
                .await
                .expect("a frame within 10 s")
                .expect("the connection is open")
                .unwrap();
            let Message::Text(frame) = frame else {
                continue;
            };
            let frame: Value = serde_json::from_str(&frame).unwrap();
            if frame["customer"] != MARIA {
                continue;
            }
            // …and read.
            let page: Value = api(reqwest::Method::GET, &conversation)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let lines = page["lines"].as_array().unwrap();
            if lines.iter().any(|l| l["text"] == text.as_str()) {
                break 'shown;
            }
        }
        if i >= WARM_UP {
            took.push(started.elapsed());
        }
    }
    took.sort();
    let at = |q: f64| took[((took.len() as f64 * q).ceil() as usize).clamp(1, took.len()) - 1];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "live update, customer message -> agent's console ({} messages after {WARM_UP} warm-up): \
         p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        took.len(),
        ms(at(0.50)),
        ms(at(0.90)),
        ms(at(0.99)),
        ms(at(1.0)),
    );
}

/// The console's files as a first load fetches them: bytes raw and gzip -9.
fn page_size() {
    let mut raw = 0;
    let mut compressed = 0;
    for (name, _, text) in atende_shared::edge::console::FILES {
        let gzip = std::process::Command::new("gzip")
            .args(["-9", "-c"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child
                    .stdin
                    .take()
                    .expect("gzip's stdin")
                    .write_all(text.as_bytes())?;
                child.wait_with_output()
            });
        let size = match gzip {
            Ok(out) if out.status.success() => out.stdout.len(),
            _ => {
                println!("console size: gzip is not available here");
                return;
            }
        };
        println!("console file {name}: {} bytes, {size} gzip -9", text.len());
        raw += text.len();
        compressed += size;
    }
    println!("console first load: {raw} bytes, {compressed} bytes gzip -9");
}

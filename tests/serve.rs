//! `atende serve` end to end: a real process, real HTTP to `/webhook`, and a local HTTP server
//! standing in for the Graph API that records what the bot sends.

mod support;

use std::time::Duration;
use support::serve::*;
use support::{ACCESS_TOKEN, GraphStub, VERIFY_TOKEN, sign};

#[tokio::test]
async fn a_signed_oi_gets_a_read_receipt_a_greeting_and_the_menu() {
    let graph = GraphStub::start().await;
    let server = serve(&graph);
    let body = fixture("text.json");
    let (status, _) = post(&server, &body, Some(&sign(&body))).await;
    assert_eq!(status, 200);

    let requests = graph.wait_for(3, PATIENCE).await;
    assert_eq!(requests.len(), 3, "{requests:#?}");
    for r in &requests {
        assert_eq!(
            r.phone_number_id, BUSINESS_NUMBER,
            "replies go out from the receiving number"
        );
        assert_eq!(
            r.authorization.as_deref(),
            Some("Bearer atende-test-access-token")
        );
    }
    assert_eq!(
        requests[0].body,
        serde_json::json!({
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjA001QUFBQUFBQUFBQUFBQUFBAA==",
            "typing_indicator": {"type": "text"}
        })
    );
    assert_eq!(requests[1].to(), MARIA);
    assert_eq!(
        requests[1].body["text"]["body"],
        "Olá, Maria Silva! 👋 Bem-vindo(a) à Atende Demo."
    );
    let menu = &requests[2].body;
    assert_eq!(requests[2].to(), MARIA);
    assert_eq!(menu["type"], "interactive");
    assert_eq!(menu["interactive"]["type"], "list");
    let titles: Vec<&str> = menu["interactive"]["action"]["sections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["rows"].as_array().unwrap())
        .map(|r| r["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Suporte", "Vendas", "Financeiro", "Informações"]);
}

#[tokio::test]
async fn unsigned_or_wrongly_signed_posts_get_401_and_nothing_is_sent() {
    let graph = GraphStub::start().await;
    let server = serve(&graph);
    let body = fixture("text.json");
    let other_body = fixture("button-reply.json");
    let wrong_secret = atende_shared::webhook::signature::sign(b"not-the-app-secret", &body);
    for signature in [
        None,
        Some("sha256=nothex"),
        Some("sha1=0123456789abcdef0123456789abcdef01234567"),
        Some(wrong_secret.as_str()),
        Some(&sign(&other_body)),
    ] {
        let (status, _) = post(&server, &body, signature).await;
        assert_eq!(status, 401, "signature {signature:?}");
    }
    // A good delivery from another customer afterwards: once its replies are in, nothing
    // addressed to the first customer may have been sent.
    let good = fixture("username-only-customer.json");
    assert_eq!(post(&server, &good, Some(&sign(&good))).await.0, 200);
    let requests = graph.wait_for(3, PATIENCE).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let requests_after = graph.requests();
    assert_eq!(
        requests.len(),
        requests_after.len(),
        "late requests: {requests_after:#?}"
    );
    for r in requests_after.iter().filter(|r| !r.is_mark_read()) {
        assert_eq!(r.body["recipient"], "US.13491208655302741918", "{r:#?}");
        assert!(r.body.get("to").is_none());
    }
}

#[tokio::test]
async fn both_customers_of_a_batched_webhook_are_answered() {
    let graph = GraphStub::start().await;
    let server = serve(&graph);
    let body = fixture("batch-two-customers.json");
    let (status, answer) = post(&server, &body, Some(&sign(&body))).await;
    assert_eq!(
        (status, answer.as_str()),
        (200, r#"{"accepted":2,"unparseable":false}"#)
    );
    let requests = graph.wait_for(6, PATIENCE).await;
    for customer in [MARIA, JOAO] {
        let menus = requests
            .iter()
            .filter(|r| r.to() == customer && r.body["type"] == "interactive")
            .count();
        assert_eq!(menus, 1, "{customer} gets one menu: {requests:#?}");
    }
}

#[tokio::test]
async fn a_payload_with_escaped_unicode_and_slashes_verifies_as_sent() {
    let graph = GraphStub::start().await;
    let server = serve(&graph);
    let body = fixture("escaped-unicode.json");
    let text = std::str::from_utf8(&body).unwrap();
    assert!(text.contains(r"Concei\u00e7\u00e3o") && text.contains(r"12\/2026"));
    let (status, _) = post(&server, &body, Some(&sign(&body))).await;
    assert_eq!(status, 200);
    let requests = graph.wait_for(3, PATIENCE).await;
    assert_eq!(
        requests[1].body["text"]["body"],
        "Olá, Conceição! 👋 Bem-vindo(a) à Atende Demo."
    );
}

#[tokio::test]
async fn the_subscription_handshake_echoes_the_challenge_only_for_the_right_token() {
    let graph = GraphStub::start().await;
    let server = serve(&graph);
    let client = reqwest::Client::new();
    let get = |token: &str| {
        client
            .get(&server.url)
            .query(&[
                ("hub.mode", "subscribe"),
                ("hub.verify_token", token),
                ("hub.challenge", "1158201444"),
            ])
            .send()
    };
    let ok = get(VERIFY_TOKEN).await.unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    assert!(
        ok.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    assert_eq!(get("wrong-token").await.unwrap().status().as_u16(), 403);
    let no_mode = client
        .get(&server.url)
        .query(&[("hub.verify_token", VERIFY_TOKEN), ("hub.challenge", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(no_mode.status().as_u16(), 403);
}

#[tokio::test]
async fn a_body_over_3_mib_is_refused_with_413_and_nothing_is_sent() {
    let graph = GraphStub::start().await;
    let server = serve(&graph);
    // Just over the limit: read whole, then refused before hashing or parsing. (Far larger
    // bodies are cut off by the server before they are read; the client may then see the
    // connection closed while still sending, so they make no deterministic test.)
    let body = vec![b' '; 3 * 1024 * 1024 + 1];
    let (status, _) = post(&server, &body, Some(&sign(&body))).await;
    assert_eq!(status, 413);
    assert!(graph.requests().is_empty());
}

#[test]
fn serve_refuses_to_start_without_the_app_secret() {
    let output = atende()
        .args(["serve", "--port", "0"])
        .env_remove("WHATSAPP_APP_SECRET")
        .env("WHATSAPP_VERIFY_TOKEN", VERIFY_TOKEN)
        .env("WHATSAPP_ACCESS_TOKEN", ACCESS_TOKEN)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("WHATSAPP_APP_SECRET"), "{stderr}");
    assert!(
        output.stdout.is_empty(),
        "it must not have started listening"
    );
}

/// Meta retries a delivery for days: a message that reaches atende more than 24 hours after it
/// was sent is not answered (the window to answer it has closed), and the log says so, with
/// its age, at `warn`.
#[tokio::test]
async fn a_message_sent_over_24_hours_ago_is_not_answered_and_the_log_says_how_old() {
    let graph = GraphStub::start().await;
    let server = serve(&graph);
    let oi = serde_json::json!({"type": "text", "text": {"body": "oi"}});
    let sent_at = chrono::Utc::now() - chrono::Duration::hours(25) - chrono::Duration::minutes(3);
    let late = maria_said(700, oi.clone(), sent_at);
    assert_eq!(post(&server, &late, Some(&sign(&late))).await.0, 200);
    let line = server
        .wait_for_log(
            &["WARN", "older than the 24-hour window", "age=1d 1h 3m"],
            PATIENCE,
        )
        .await;
    assert!(!line.contains(MARIA), "the number is masked: {line}");
    // The next message, sent now, is answered; nothing went out for the late one.
    let now = maria_says(701, oi);
    assert_eq!(post(&server, &now, Some(&sign(&now))).await.0, 200);
    let requests = graph.wait_for(3, PATIENCE).await;
    assert_eq!(requests[0].body["message_id"], wamid(MARIA, 701));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(graph.requests().len(), 3, "{:#?}", graph.requests());
}

/// Maria says "oi", taps the Financeiro row and sends a valid CPF, each step answered before
/// the next (message ids from `first_id`). Returns how many Graph API requests that took.
async fn finance_journey(
    server: &Server,
    graph: &GraphStub,
    first_id: usize,
    patience: Duration,
) -> usize {
    let steps = [
        (
            serde_json::json!({"type": "text", "text": {"body": "oi"}}),
            3,
        ),
        (
            serde_json::json!({"type": "interactive", "interactive": {"type": "list_reply",
                "list_reply": {"id": "btn_financeiro", "title": "Financeiro"}}}),
            2,
        ),
        (
            serde_json::json!({"type": "text", "text": {"body": "529.982.247-25"}}),
            3,
        ),
    ];
    let mut expected = 0;
    for (n, (step, replies)) in steps.into_iter().enumerate() {
        let body = maria_says(first_id + n, step);
        assert_eq!(post(server, &body, Some(&sign(&body))).await.0, 200);
        expected += replies;
        graph.wait_for(expected, patience).await;
    }
    expected
}

#[tokio::test]
async fn a_finance_journey_ends_in_a_queue_position() {
    let graph = GraphStub::start().await;
    let server = serve(&graph);
    finance_journey(&server, &graph, 0, PATIENCE).await;
    let texts: Vec<String> = graph
        .requests()
        .iter()
        .filter(|r| r.body["type"] == "text")
        .map(|r| r.body["text"]["body"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        &texts[texts.len() - 3..],
        [
            "Para enviar a segunda via, informe o CPF ou CNPJ do titular (com ou sem pontuação).",
            "Obrigado! Vou passar para a equipe de Financeiro.",
            "Você está na posição 1 da fila de Financeiro. Tempo estimado: ~6 minutos.",
        ]
    );
}

#[tokio::test]
#[ignore = "needs an AWS emulator: run `bash tests/run`"]
async fn serve_on_the_aws_backend_answers_a_conversation_end_to_end() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("bash tests/run sets AWS_ENDPOINT_URL");
    assert!(
        endpoint.starts_with("http://127.0.0.1:"),
        "only an emulator on loopback"
    );
    let graph = GraphStub::start().await;
    let prefix = format!("serve{}", std::process::id());
    let server = serve_with(
        &graph,
        &[
            "--backend",
            "aws",
            "--create-resources",
            "--prefix",
            &prefix,
        ],
    );
    // Through SQS FIFO and DynamoDB.
    let expected = finance_journey(&server, &graph, 100, Duration::from_secs(30)).await;
    // The same delivery again (Meta retries): deduplicated, nothing more is sent.
    let again = maria_says(
        102,
        serde_json::json!({"type": "text", "text": {"body": "529.982.247-25"}}),
    );
    assert_eq!(post(&server, &again, Some(&sign(&again))).await.0, 200);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let requests = graph.requests();
    assert_eq!(requests.len(), expected, "{requests:#?}");
    let last = requests.last().unwrap();
    assert_eq!(
        last.body["text"]["body"],
        "Você está na posição 1 da fila de Financeiro. Tempo estimado: ~6 minutos."
    );
}

/// `atende serve` runs its timers itself (EventBridge Scheduler's part on AWS): each one goes
/// on the event queue, in its customer's group, once it is due and not before.
#[tokio::test]
async fn serve_puts_each_timer_on_the_queue_when_it_is_due() {
    use atende_shared::adapters::{ManualClock, MemoryEventQueue, MemoryTimers};
    use atende_shared::domain::{CustomerId, EventKind, QueueEvent, TimerFired, TimerKind};
    use atende_shared::ports::{Clock, Timers};
    use std::sync::Arc;
    let start: chrono::DateTime<chrono::Utc> = "2026-11-24T12:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let timers = Arc::new(MemoryTimers::new());
    let queue = Arc::new(MemoryEventQueue::new());
    tokio::spawn(atende::serve::run_timers(
        timers.clone(),
        queue.clone(),
        clock.clone(),
    ));
    let fired = TimerFired {
        timer: TimerKind::Inactivity,
        due: start + chrono::Duration::minutes(10),
    };
    let event = QueueEvent {
        also: None,
        id: fired.event_id(),
        customer: Some(CustomerId::Phone(MARIA.into())),
        business_number: Some(BUSINESS_NUMBER.into()),
        kind: EventKind::Timer(fired),
    };
    timers.schedule(fired.due, &event).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(queue.drain().is_empty(), "not due yet at {}", clock.now());
    clock.advance(chrono::Duration::minutes(10));
    let delivered = tokio::time::timeout(Duration::from_secs(5), queue.next())
        .await
        .expect("the due timer reaches the queue");
    assert_eq!(delivered, event);
    assert!(timers.pending().is_empty());
}

/// With `ANTHROPIC_API_KEY` set, free text at the menu goes to the assistant (here a local
/// stand-in at `ANTHROPIC_BASE_URL`) and its answer to the customer.
#[tokio::test]
async fn free_text_is_answered_by_the_assistant_through_serve() {
    let graph = GraphStub::start().await;
    let anthropic = support::AnthropicStub::start().await;
    let server = serve_with_env(
        &graph,
        &[],
        &[
            ("ANTHROPIC_API_KEY", "sk-ant-test-key"),
            ("ANTHROPIC_BASE_URL", &anthropic.base_url),
        ],
    );
    let oi = maria_says(
        900,
        serde_json::json!({"type": "text", "text": {"body": "oi"}}),
    );
    assert_eq!(post(&server, &oi, Some(&sign(&oi))).await.0, 200);
    graph.wait_for(3, PATIENCE).await;
    let question = maria_says(
        901,
        serde_json::json!({"type": "text", "text": {"body": "qual o prazo de entrega para Campinas?"}}),
    );
    assert_eq!(
        post(&server, &question, Some(&sign(&question))).await.0,
        200
    );
    let requests = graph.wait_for(5, PATIENCE).await;
    assert_eq!(
        requests[4].body["text"]["body"],
        support::AnthropicStub::DEFAULT_ANSWER
    );
    let asked = &anthropic.requests()[0].body;
    assert!(
        asked["system"]
            .as_str()
            .unwrap()
            .starts_with("Você é o assistente virtual da Atende Demo"),
        "{asked}"
    );
    let messages = asked["messages"].as_array().unwrap();
    assert_eq!(
        messages.last().unwrap()["content"],
        "qual o prazo de entrega para Campinas?"
    );
}

#[test]
fn a_fixture_sent_now_has_its_timestamps_moved_and_nothing_else() {
    let body = br#"{"a":{"timestamp": "1795521600"},"b":{"timestamp":1795521602},"c":"\u00e7 x\/y","timestamp":"not-a-time"}"#;
    let before = chrono::Utc::now().timestamp();
    let moved = String::from_utf8(support::sent_now(body)).unwrap();
    let after = chrono::Utc::now().timestamp();
    let numbers: Vec<i64> = moved
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| s.len() >= 10)
        .map(|s| s.parse().unwrap())
        .collect();
    let [first, latest] = numbers[..] else {
        panic!("{moved}")
    };
    assert!((before..=after).contains(&latest), "{moved}");
    assert_eq!(latest - first, 2, "the spacing is kept");
    assert_eq!(
        moved,
        format!(
            r#"{{"a":{{"timestamp": "{first}"}},"b":{{"timestamp":{latest}}},"c":"\u00e7 x\/y","timestamp":"not-a-time"}}"#
        )
    );
    assert_eq!(support::sent_now(b"{}"), b"{}");
}

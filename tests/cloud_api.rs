//! `CloudApiWhatsApp` over real HTTP against a local server standing in for the Graph API:
//! the wire format, error classification, retries with backoff, timeouts, pacing; and the
//! processor's answers to what the Graph API says (re-engagement template, outcome unknown).

mod support;

use atende_shared::adapters::CloudApiWhatsApp;
use atende_shared::adapters::retry::RetryPolicy;
use atende_shared::domain::{CustomerId, OutboundMessage};
use atende_shared::ports::{Failure, WhatsApp, WhatsAppError};
use atende_shared::secret::Secret;
use serde_json::json;
use std::time::{Duration, Instant};
use support::{ACCESS_TOKEN, GraphStub};

fn client(base_url: &str) -> CloudApiWhatsApp {
    CloudApiWhatsApp::new(base_url, Secret::new(ACCESS_TOKEN).unwrap()).unwrap()
}

#[tokio::test]
async fn sends_to_the_number_path_with_the_bearer_token_and_returns_the_wamid() {
    let graph = GraphStub::start().await;
    let sent = client(&format!("{}/", graph.base_url))
        .send(
            "106540352242922",
            &CustomerId::Phone("5511".into()),
            &OutboundMessage::text("olá").sendable().unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(sent.id, support::stub_message_id(1));
    let request = &graph.requests()[0];
    assert_eq!(request.phone_number_id, "106540352242922");
    assert_eq!(
        request.authorization.as_deref(),
        Some("Bearer atende-test-access-token")
    );
    assert_eq!(
        request.body,
        json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "5511",
               "type": "text", "text": {"preview_url": false, "body": "olá"}})
    );
}

#[tokio::test]
async fn mark_as_read_sends_the_documented_body() {
    let graph = GraphStub::start().await;
    client(&graph.base_url)
        .mark_read("106540352242922", "wamid.in.1", true)
        .await
        .unwrap();
    assert_eq!(
        graph.requests()[0].body,
        json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.in.1",
               "typing_indicator": {"type": "text"}})
    );
    // No reply follows: read, without "typing…".
    client(&graph.base_url)
        .mark_read("106540352242922", "wamid.in.2", false)
        .await
        .unwrap();
    assert_eq!(
        graph.requests()[1].body,
        json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.in.2"})
    );
}

/// A customer's file: `GET /{media-id}` gives its URL and type, that URL (with the token)
/// its bytes. An id the Graph API refuses is a permanent failure; one atende would put in a
/// path otherwise is refused before any request.
#[tokio::test]
async fn a_customers_file_is_downloaded_with_the_token() {
    use atende_shared::ports::Failure;
    let graph = GraphStub::start().await;
    let whatsapp = client(&graph.base_url);
    let file = whatsapp.media("1482902119483940").await.unwrap();
    assert_eq!(file.bytes, support::media_bytes("1482902119483940"));
    assert_eq!(file.mime_type, "image/jpeg");
    assert_eq!(
        graph.downloads(),
        [(
            "1482902119483940".to_owned(),
            Some(format!("Bearer {ACCESS_TOKEN}"))
        )]
    );
    let refused = whatsapp.media("../messages").await.unwrap_err();
    assert_eq!(refused.failure(), Failure::Permanent);
    assert_eq!(graph.downloads().len(), 1, "no request for a bad id");
}

#[tokio::test]
async fn graph_errors_keep_their_status_and_code() {
    let graph = GraphStub::start().await;
    graph.respond_next([(
        400,
        json!({"error": {"message": "(#131026) Message undeliverable", "type": "OAuthException",
                         "code": 131026, "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam"}}),
    )]);
    let err = client(&graph.base_url)
        .send(
            "1",
            &CustomerId::Phone("5511".into()),
            &OutboundMessage::text("x").sendable().unwrap(),
        )
        .await
        .unwrap_err();
    match err {
        WhatsAppError::Api {
            status,
            code,
            message,
        } => {
            assert_eq!((status, code), (400, Some(131026)));
            assert!(message.contains("undeliverable"));
        }
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unreachable_graph_api_is_a_transport_error() {
    // Bind and drop to get a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = client(&format!("http://127.0.0.1:{port}"))
        .mark_read("1", "wamid.x", true)
        .await
        .unwrap_err();
    assert!(matches!(err, WhatsAppError::Transport(_)), "{err:?}");
    assert!(!format!("{err}").contains(ACCESS_TOKEN));
}

/// Retries quick enough for tests: waits of 20 to 80 ms, within 1.5 s.
fn quick() -> RetryPolicy {
    RetryPolicy {
        base: Duration::from_millis(20),
        max_wait: Duration::from_millis(200),
        budget: Duration::from_millis(1500),
        max_attempts: 10,
    }
}

fn graph_error(status: u16, code: i64) -> (u16, serde_json::Value) {
    (
        status,
        json!({"error": {"message": format!("(#{code}) error"), "type": "OAuthException",
                         "code": code, "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam"}}),
    )
}

async fn send_text(client: &CloudApiWhatsApp) -> Result<String, WhatsAppError> {
    client
        .send(
            "106540352242922",
            &CustomerId::Phone("5511".into()),
            &OutboundMessage::text("olá").sendable().unwrap(),
        )
        .await
        .map(|s| s.id)
}

#[tokio::test]
async fn a_throughput_error_then_success_delivers_one_reply_after_a_wait() {
    let graph = GraphStub::start().await;
    graph.respond_next([graph_error(400, 130429)]);
    let client = client(&graph.base_url).with_retry(quick());
    let started = Instant::now();
    let id = send_text(&client).await.unwrap();
    // Throttling waits start at 4 × base, at least a quarter of that: 20 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(20),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(id, support::stub_message_id(2));
    assert_eq!(
        graph.requests().len(),
        2,
        "the refused attempt and the delivered one"
    );
}

#[tokio::test]
async fn transient_errors_are_retried_until_the_budget_then_reported() {
    let graph = GraphStub::start().await;
    graph.respond_next((0..100).map(|_| graph_error(500, 131000)));
    let client = client(&graph.base_url).with_retry(quick());
    let started = Instant::now();
    let err = send_text(&client).await.unwrap_err();
    assert_eq!(err.failure(), Failure::Retry, "{err:?}");
    assert!(started.elapsed() <= Duration::from_millis(1500) + Duration::from_millis(500));
    let attempts = graph.requests().len();
    assert!((3..100).contains(&attempts), "{attempts} attempts");
}

#[tokio::test]
async fn rate_limits_of_the_app_and_the_account_are_waited_out() {
    for code in [4, 80007, 131048, 131056] {
        let graph = GraphStub::start().await;
        graph.respond_next([graph_error(400, code)]);
        let id = send_text(&client(&graph.base_url).with_retry(quick()))
            .await
            .unwrap();
        assert_eq!(
            id,
            support::stub_message_id(2),
            "{code}: retried, then delivered"
        );
    }
}

#[tokio::test]
async fn what_can_never_succeed_is_tried_once() {
    for (status, code, failure) in [
        (400, 131026, Failure::Permanent),
        (400, 100, Failure::Permanent),
        (401, 190, Failure::Account),
        (400, 368, Failure::Account),
        (401, 0, Failure::Account),
        (403, 200, Failure::Account),
        (400, 131042, Failure::Account),
        (403, 130403, Failure::Permanent),
        (400, 131050, Failure::Permanent),
        (400, 131047, Failure::WindowClosed),
    ] {
        let graph = GraphStub::start().await;
        graph.respond_next([graph_error(status, code)]);
        let err = send_text(&client(&graph.base_url).with_retry(quick()))
            .await
            .unwrap_err();
        assert_eq!((err.code(), err.failure()), (Some(code), failure));
        assert_eq!(graph.requests().len(), 1, "{code}: one attempt");
    }
}

#[tokio::test]
async fn a_timeout_after_sending_is_an_unknown_outcome_and_is_not_resent() {
    let graph = GraphStub::start().await;
    graph.delay_next([Duration::from_millis(800)]);
    let client = client(&graph.base_url)
        .with_retry(quick())
        .with_timeout(Duration::from_millis(300))
        .unwrap();
    let err = send_text(&client).await.unwrap_err();
    assert!(matches!(err, WhatsAppError::OutcomeUnknown(_)), "{err:?}");
    assert_eq!(err.failure(), Failure::Unknown);
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(graph.requests().len(), 1, "no blind resend");
}

/// Only a `Sendable` reaches the client, and a message over the limits cannot become one.
#[test]
fn a_message_over_the_limits_cannot_be_made_sendable() {
    use atende_shared::domain::{Button, Sendable};
    let too_long = OutboundMessage::text("x".repeat(4097));
    assert!(too_long.sendable().is_err());
    let four_buttons = OutboundMessage::Buttons {
        header: None,
        body: "Escolha".into(),
        footer: None,
        buttons: (0..4)
            .map(|i| Button {
                id: format!("b{i}"),
                title: format!("Opção {i}"),
            })
            .collect(),
    };
    assert!(Sendable::try_from(four_buttons).is_err());
    assert!(OutboundMessage::text("x".repeat(4096)).sendable().is_ok());
}

#[tokio::test]
async fn sends_are_paced_to_the_numbers_throughput() {
    let graph = GraphStub::start().await;
    let client = std::sync::Arc::new(client(&graph.base_url).with_messages_per_second(50));
    let started = Instant::now();
    let sends: Vec<_> = (0..11)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { send_text(&client).await })
        })
        .collect();
    for send in sends {
        send.await.unwrap().unwrap();
    }
    // 11 sends at once, at 50 per second: at least 10 intervals of 20 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(graph.requests().len(), 11);
}

// ------------------------------------------------------------------ the processor's answers

mod processor {
    use super::*;
    use atende_shared::adapters::{
        ManualClock, MemoryAttendanceQueue, MemorySessionStore, MemoryTimers,
    };
    use atende_shared::app::{Outcome, Processor};
    use atende_shared::domain::{
        Config, DeliveryStatus, EventKind, InboundMessage, MessageContent, QueueEvent, StatusUpdate,
    };
    use atende_shared::ports::SessionStore;
    use std::sync::Arc;

    fn now() -> chrono::DateTime<chrono::Utc> {
        "2026-11-24T12:00:00Z".parse().unwrap()
    }

    fn oi(id: &str) -> QueueEvent {
        QueueEvent {
            also: None,
            id: id.into(),
            customer: Some(CustomerId::Phone("5511".into())),
            business_number: Some("106540352242922".into()),
            kind: EventKind::Message(InboundMessage {
                id: id.into(),
                sent_at: None,
                profile_name: None,
                content: MessageContent::Text { body: "oi".into() },
            }),
        }
    }

    fn processor(client: CloudApiWhatsApp, config: Config) -> (Processor, Arc<MemorySessionStore>) {
        let sessions = Arc::new(MemorySessionStore::new());
        let processor = Processor::new(
            sessions.clone(),
            Arc::new(MemoryAttendanceQueue::new()),
            Arc::new(client),
            Arc::new(MemoryTimers::new()),
            Arc::new(ManualClock::new(now())),
            Arc::new(config),
        );
        (processor, sessions)
    }

    /// Message requests (not read receipts) as `type`.
    fn sent_types(graph: &GraphStub) -> Vec<String> {
        graph
            .requests()
            .iter()
            .filter(|r| !r.is_mark_read())
            .map(|r| r.body["type"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    #[tokio::test]
    async fn a_closed_window_gets_the_reengagement_template_once() {
        let graph = GraphStub::start().await;
        // The greeting and the menu are both refused: the window had closed.
        graph.respond_next([
            (200, json!({"success": true})),
            graph_error(400, 131047),
            graph_error(400, 131047),
        ]);
        let text = format!(
            "{}\n[reengagement]\ntemplate = \"retomar_atendimento\"\n",
            atende_shared::domain::config::EMBEDDED
        );
        let (processor, sessions) = processor(
            client(&graph.base_url).with_retry(quick()),
            Config::from_toml(&text).unwrap(),
        );
        assert_eq!(
            processor.handle(&oi("wamid.1")).await.unwrap(),
            Outcome::Applied { sent: 1 }
        );
        assert_eq!(sent_types(&graph), ["text", "template", "interactive"]);
        let template = &graph.requests()[2].body;
        assert_eq!(
            template["template"],
            json!({"name": "retomar_atendimento", "language": {"code": "pt_BR"}})
        );
        let record = sessions
            .load(&CustomerId::Phone("5511".into()), now())
            .await
            .unwrap()
            .unwrap();
        assert!(record.session.window_closed);
        assert!(record.outbox.is_empty(), "refused replies are dropped");
    }

    /// A processor whose timers and clock the test holds.
    fn timed(
        client: CloudApiWhatsApp,
    ) -> (
        Processor,
        Arc<MemorySessionStore>,
        Arc<MemoryTimers>,
        Arc<ManualClock>,
    ) {
        let sessions = Arc::new(MemorySessionStore::new());
        let timers = Arc::new(MemoryTimers::new());
        let clock = Arc::new(ManualClock::new(now()));
        let processor = Processor::new(
            sessions.clone(),
            Arc::new(MemoryAttendanceQueue::new()),
            Arc::new(client),
            timers.clone(),
            clock.clone(),
            Arc::new(Config::embedded().unwrap()),
        );
        (processor, sessions, timers, clock)
    }

    /// "oi" whose greeting times out (the menu goes): returns the pieces to go on with.
    async fn greeting_times_out() -> (
        GraphStub,
        Processor,
        Arc<MemorySessionStore>,
        Arc<MemoryTimers>,
        Arc<ManualClock>,
    ) {
        let graph = GraphStub::start().await;
        // The read receipt answers; the greeting's answer never comes in time.
        graph.delay_next([Duration::ZERO, Duration::from_millis(800)]);
        let client = client(&graph.base_url)
            .with_retry(quick())
            .with_timeout(Duration::from_millis(300))
            .unwrap();
        let (processor, sessions, timers, clock) = timed(client);
        assert_eq!(
            processor.handle(&oi("wamid.1")).await.unwrap(),
            Outcome::Applied { sent: 1 },
            "the menu went out; the greeting's fate is unknown"
        );
        // Redelivered: nothing is sent again.
        assert_eq!(
            processor.handle(&oi("wamid.1")).await.unwrap(),
            Outcome::Duplicate { sent: 0 }
        );
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(sent_types(&graph), ["text", "interactive"], "one greeting");
        (graph, processor, sessions, timers, clock)
    }

    /// Runs the timers due two minutes on.
    async fn two_minutes_later(processor: &Processor, timers: &MemoryTimers, clock: &ManualClock) {
        use atende_shared::ports::Clock;
        clock.advance(chrono::Duration::minutes(2));
        for event in timers.due(clock.now()) {
            processor.handle(&event).await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_send_that_timed_out_and_arrived_is_confirmed_by_its_status_not_resent() {
        let (graph, processor, sessions, timers, clock) = greeting_times_out().await;
        // The greeting carried its outbox entry as callback data; its status brings it back.
        let greeting = &graph.requests()[1].body;
        let reference = greeting["biz_opaque_callback_data"]
            .as_str()
            .unwrap()
            .to_owned();
        // The read receipt, the log line and the timer come before it in the event's outbox.
        assert_eq!(reference, "wamid.1#3");
        let customer = CustomerId::Phone("5511".into());
        let status = QueueEvent {
            also: None,
            id: "wamid.greeting:delivered".into(),
            customer: Some(customer.clone()),
            business_number: Some("106540352242922".into()),
            kind: EventKind::Status(StatusUpdate {
                message_id: "wamid.greeting".into(),
                status: DeliveryStatus::Delivered,
                at: None,
                errors: Vec::new(),
                reference: Some(reference),
            }),
        };
        processor.handle(&status).await.unwrap();
        let record = sessions.load(&customer, now()).await.unwrap().unwrap();
        assert!(record.session.unconfirmed.is_empty());
        assert_eq!(
            record.session.outbound_status("wamid.greeting"),
            Some(&DeliveryStatus::Delivered)
        );
        two_minutes_later(&processor, &timers, &clock).await;
        assert_eq!(sent_types(&graph), ["text", "interactive"], "not resent");
    }

    #[tokio::test]
    async fn a_send_that_timed_out_and_never_arrived_goes_again_two_minutes_later() {
        let (graph, processor, _, timers, clock) = greeting_times_out().await;
        two_minutes_later(&processor, &timers, &clock).await;
        let sent = graph.requests();
        let texts: Vec<&str> = sent
            .iter()
            .filter(|r| r.body["type"] == "text")
            .filter_map(|r| r.body["text"]["body"].as_str())
            .collect();
        assert_eq!(texts.len(), 2, "the greeting, sent again once");
        assert_eq!(texts[0], texts[1]);
    }
}

/// Item 7: each call's own timeout counts in a send's budget. The Graph API answers "try
/// again" (code 1) after 6 s, then does not answer at all: the retry waits only what is left
/// of the 10-second budget, so the send ends within it (it used to wait a whole timeout more,
/// about 20 s). On a paused clock: virtual time, the same on any machine.
#[tokio::test(start_paused = true)]
async fn one_record_cannot_outlive_the_invocation_a_send_ends_within_its_budget() {
    let graph = GraphStub::start().await;
    graph.delay_next([Duration::from_secs(6), Duration::from_secs(60)]);
    graph.respond_next([graph_error(500, 1)]);
    let client = client(&graph.base_url).with_retry(RetryPolicy {
        base: Duration::from_millis(500),
        max_wait: Duration::from_secs(4),
        budget: Duration::from_secs(10),
        max_attempts: 10,
    });
    let started = tokio::time::Instant::now();
    let err = send_text(&client).await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(graph.requests().len(), 2, "one retry");
    assert_eq!(err.failure(), Failure::Unknown, "{err:?}");
    assert!(
        took <= Duration::from_millis(10_100),
        "the send took {took:?} with a budget of 10 s"
    );
}

/// Item 8: a 5xx without a Graph error code (a proxy's 502, a load balancer's 503) cannot say
/// whether the message went out: an unknown outcome, sent once, left to its status webhook;
/// a 5xx carrying WhatsApp's own code (1, 2, 131000) is still tried again.
#[tokio::test]
async fn a_5xx_without_a_graph_error_code_is_an_unknown_outcome_not_a_blind_resend() {
    for status in [500, 502, 503, 504] {
        let graph = GraphStub::start().await;
        graph.respond_next([(status, json!({"message": "upstream connect error"}))]);
        let err = send_text(&client(&graph.base_url).with_retry(quick()))
            .await
            .unwrap_err();
        assert_eq!(
            (err.code(), err.failure()),
            (None, Failure::Unknown),
            "{status}"
        );
        assert_eq!(graph.requests().len(), 1, "{status}: not sent again");
    }
    let graph = GraphStub::start().await;
    graph.respond_next([graph_error(503, 2)]);
    let id = send_text(&client(&graph.base_url).with_retry(quick()))
        .await
        .unwrap();
    assert_eq!(
        id,
        support::stub_message_id(2),
        "code 2: tried again, then delivered"
    );
}

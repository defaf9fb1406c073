//! The processor's delivery guarantees on memory adapters: duplicates are not answered twice,
//! a failed send is finished by the redelivery without repeating what went out, and SQS batch
//! failures follow Powertools' FIFO semantics.

use atende_shared::adapters::memory::Delivery;
use atende_shared::adapters::{
    ManualClock, MemoryAgents, MemoryAttendanceQueue, MemoryConversationLog, MemorySessionStore,
    MemoryTimers, MemoryWhatsApp,
};
use atende_shared::app::{Outcome, Processor};
use atende_shared::domain::{
    Config, CustomerId, EventKind, InboundMessage, MessageContent, OutboundMessage, QueueEvent,
};
use atende_shared::edge;
use atende_shared::ports::{AttendanceQueue, Clock, SessionStore, StoreError};
use aws_lambda_events::event::sqs::SqsEvent;
use chrono::{DateTime, Utc};
use serde_json::json;
use std::sync::Arc;

fn now() -> DateTime<Utc> {
    "2026-11-24T12:00:00Z".parse().unwrap()
}

/// A processor on memory adapters, with handles on each of them.
struct Rig {
    processor: Arc<Processor>,
    whatsapp: Arc<MemoryWhatsApp>,
    sessions: Arc<MemorySessionStore>,
    attendance: Arc<MemoryAttendanceQueue>,
    timers: Arc<MemoryTimers>,
    clock: Arc<ManualClock>,
}

fn rig() -> Rig {
    rig_with(Config::embedded().unwrap(), None)
}

fn rig_with(config: Config, assistant: Option<Arc<dyn atende_shared::ports::Assistant>>) -> Rig {
    let whatsapp = Arc::new(MemoryWhatsApp::new());
    let sessions = Arc::new(MemorySessionStore::new());
    let attendance = Arc::new(MemoryAttendanceQueue::new());
    let timers = Arc::new(MemoryTimers::new());
    let clock = Arc::new(ManualClock::new(now()));
    let processor = Processor::new(
        sessions.clone(),
        attendance.clone(),
        whatsapp.clone(),
        timers.clone(),
        clock.clone(),
        Arc::new(config),
    );
    let processor = match assistant {
        Some(a) => processor.with_assistant(a),
        None => processor,
    };
    Rig {
        processor: Arc::new(processor),
        whatsapp,
        sessions,
        attendance,
        timers,
        clock,
    }
}

fn text(customer: &str, id: &str, body: &str) -> QueueEvent {
    QueueEvent {
        also: None,
        id: id.into(),
        customer: Some(CustomerId::Phone(customer.into())),
        business_number: Some("106540352242922".into()),
        kind: EventKind::Message(InboundMessage {
            id: id.into(),
            sent_at: None,
            profile_name: None,
            content: MessageContent::Text { body: body.into() },
        }),
    }
}

fn sent_texts(whatsapp: &MemoryWhatsApp) -> Vec<String> {
    whatsapp
        .deliveries()
        .into_iter()
        .filter_map(|d| match d {
            Delivery::Sent { message, to, .. } => Some(match message {
                OutboundMessage::Text { body } => format!("{}: {body}", to.key()),
                OutboundMessage::Buttons { .. } => format!("{}: [buttons]", to.key()),
                OutboundMessage::List { .. } => format!("{}: [list]", to.key()),
                OutboundMessage::Flow { .. } => format!("{}: [flow]", to.key()),
                OutboundMessage::Template { name, .. } => {
                    format!("{}: [template {name}]", to.key())
                }
                OutboundMessage::Media { link, .. } => format!("{}: [file {link}]", to.key()),
            }),
            Delivery::Read { .. } => None,
        })
        .collect()
}

#[tokio::test]
async fn a_redelivered_message_is_applied_and_answered_once() {
    let rig = rig();
    let event = text("5511", "wamid.1", "oi");
    assert_eq!(
        rig.processor.handle(&event).await.unwrap(),
        Outcome::Applied { sent: 2 }
    );
    for _ in 0..3 {
        assert_eq!(
            rig.processor.handle(&event).await.unwrap(),
            Outcome::Duplicate { sent: 0 }
        );
    }
    assert_eq!(
        sent_texts(&rig.whatsapp),
        ["5511: Olá! 👋 Bem-vindo(a) à Atende Demo.", "5511: [list]"]
    );
}

#[tokio::test]
async fn a_failed_send_is_finished_by_the_redelivery_without_repeats() {
    let rig = rig();
    let event = text("5511", "wamid.1", "oi");
    rig.processor.handle(&event).await.unwrap();
    rig.whatsapp.take();

    // "1" answers with one text; the Graph API fails it once.
    let event = text("5511", "wamid.2", "1");
    rig.whatsapp.fail_next_sends(1);
    assert!(rig.processor.handle(&event).await.is_err());
    assert!(sent_texts(&rig.whatsapp).is_empty());
    // The session already moved on; the reply waits in the outbox for the redelivery.
    let stored = rig
        .sessions
        .load(&CustomerId::Phone("5511".into()), now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.outbox.len(), 1);

    assert_eq!(
        rig.processor.handle(&event).await.unwrap(),
        Outcome::Duplicate { sent: 1 }
    );
    assert_eq!(
        rig.processor.handle(&event).await.unwrap(),
        Outcome::Duplicate { sent: 0 }
    );
    assert_eq!(sent_texts(&rig.whatsapp).len(), 1);
    assert!(sent_texts(&rig.whatsapp)[0].contains("Descreva seu problema"));
}

#[tokio::test]
async fn concurrent_messages_of_one_customer_lose_no_update() {
    let rig = rig();
    let events: Vec<QueueEvent> = (0..8)
        .map(|i| text("5511", &format!("wamid.{i}"), "quero pizza"))
        .collect();
    let handles: Vec<_> = events
        .iter()
        .cloned()
        .map(|e| {
            let p = rig.processor.clone();
            tokio::spawn(async move { p.handle(&e).await })
        })
        .collect();
    for (h, e) in handles.into_iter().zip(&events) {
        match h.await.unwrap() {
            Ok(outcome) => assert!(matches!(outcome, Outcome::Applied { .. }), "{outcome:?}"),
            // Another delivery was sending this customer's replies (ours included); the queue
            // delivers the event again.
            Err(atende_shared::app::ProcessError::Busy) => {
                rig.processor.handle(e).await.unwrap();
            }
            Err(other) => panic!("{}: {other}", e.id),
        }
    }
    let stored = rig
        .sessions
        .load(&CustomerId::Phone("5511".into()), now())
        .await
        .unwrap()
        .unwrap();
    for e in &events {
        assert!(stored.has_applied(&e.id), "{} lost", e.id);
    }
    // The first one greeted, the next two were not understood, the third handed over to a
    // person (max_bot_attempts = 3), and the bot stayed quiet for the other four.
    assert_eq!(stored.session.bot_attempts, 3);
    // Each decided reply went out exactly once, however the writers interleaved.
    let sent = sent_texts(&rig.whatsapp);
    assert_eq!(sent.len(), 8, "{sent:#?}");
    let count = |needle: &str| sent.iter().filter(|s| s.contains(needle)).count();
    assert_eq!(count("Bem-vindo"), 1);
    assert_eq!(count("não entendi"), 2);
    assert_eq!(count("[list]"), 3);
    assert_eq!(count("transferir"), 1);
    assert_eq!(count("posição 1"), 1);
    assert!(stored.outbox.is_empty());
}

/// The memory store, failing chosen saves as if DynamoDB were unreachable: where a Lambda
/// would crash or time out between a send and the save after it.
struct FlakyStore {
    inner: MemorySessionStore,
    saves: std::sync::atomic::AtomicUsize,
    fail_save: usize,
}

#[async_trait::async_trait]
impl SessionStore for FlakyStore {
    async fn load(
        &self,
        customer: &CustomerId,
        now: DateTime<Utc>,
    ) -> Result<Option<atende_shared::domain::SessionRecord>, StoreError> {
        self.inner.load(customer, now).await
    }
    async fn save(
        &self,
        record: &atende_shared::domain::SessionRecord,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let n = self.saves.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        if n == self.fail_save {
            return Err(StoreError::Unavailable("injected".into()));
        }
        self.inner.save(record, now).await
    }
    async fn erase(&self, customer: &CustomerId) -> Result<bool, StoreError> {
        self.inner.erase(customer).await
    }

    async fn link(
        &self,
        alias: &CustomerId,
        customer: &CustomerId,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner.link(alias, customer, until, now).await
    }
}

#[tokio::test]
async fn a_crash_after_a_send_repeats_at_most_that_send() {
    let whatsapp = Arc::new(MemoryWhatsApp::new());
    // Save 1 applies "oi"; save 2 follows the greeting's send and fails.
    let store = Arc::new(FlakyStore {
        inner: MemorySessionStore::new(),
        saves: Default::default(),
        fail_save: 2,
    });
    let processor = Processor::new(
        store,
        Arc::new(MemoryAttendanceQueue::new()),
        whatsapp.clone(),
        Arc::new(MemoryTimers::new()),
        Arc::new(ManualClock::new(now())),
        Arc::new(Config::embedded().unwrap()),
    );
    let event = text("5511", "wamid.1", "oi");
    assert!(processor.handle(&event).await.is_err());
    assert_eq!(
        processor.handle(&event).await.unwrap(),
        Outcome::Duplicate { sent: 2 }
    );
    assert_eq!(
        processor.handle(&event).await.unwrap(),
        Outcome::Duplicate { sent: 0 }
    );
    let sent = sent_texts(&whatsapp);
    assert_eq!(
        sent,
        [
            "5511: Olá! 👋 Bem-vindo(a) à Atende Demo.",
            "5511: Olá! 👋 Bem-vindo(a) à Atende Demo.",
            "5511: [list]"
        ],
        "only the send in flight at the failure repeats"
    );
}

#[tokio::test]
async fn a_message_refused_for_good_is_dropped_not_retried_forever() {
    let rig = rig();
    // 131026: undeliverable. The greeting is dropped; the menu still goes out.
    rig.whatsapp.fail_next_sends_with(1, 400, Some(131026));
    let event = text("5511", "wamid.1", "oi");
    assert_eq!(
        rig.processor.handle(&event).await.unwrap(),
        Outcome::Applied { sent: 1 }
    );
    assert_eq!(sent_texts(&rig.whatsapp), ["5511: [list]"]);
    // A throughput error (130429) is transient: kept for the redelivery.
    rig.whatsapp.fail_next_sends_with(1, 400, Some(130429));
    let event = text("5511", "wamid.2", "1");
    assert!(rig.processor.handle(&event).await.is_err());
    assert_eq!(
        rig.processor.handle(&event).await.unwrap(),
        Outcome::Duplicate { sent: 1 }
    );
    assert_eq!(sent_texts(&rig.whatsapp).len(), 2);
}

#[tokio::test]
async fn a_message_older_than_the_24h_window_is_not_answered() {
    let rig = rig();
    let mut late = text("5511", "wamid.old", "oi");
    if let EventKind::Message(m) = &mut late.kind {
        m.sent_at = Some(now() - chrono::Duration::hours(24));
    }
    assert_eq!(rig.processor.handle(&late).await.unwrap(), Outcome::Stale);
    let mut recent = text("5511", "wamid.recent", "oi");
    if let EventKind::Message(m) = &mut recent.kind {
        m.sent_at = Some(now() - chrono::Duration::hours(23));
    }
    assert_eq!(
        rig.processor.handle(&recent).await.unwrap(),
        Outcome::Applied { sent: 2 }
    );
    assert_eq!(sent_texts(&rig.whatsapp).len(), 2);
}

fn sqs_batch(arn: &str, bodies: &[String]) -> SqsEvent {
    let records: Vec<_> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| json!({"messageId": format!("m{i}"), "body": body, "eventSourceARN": arn}))
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

fn failed_ids(response: &aws_lambda_events::event::sqs::SqsBatchResponse) -> Vec<&str> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect()
}

/// A batch as the Lambda event source mapping delivers it from a FIFO queue: each record with
/// its `MessageGroupId`.
fn fifo_batch(records: &[(&str, String)]) -> SqsEvent {
    let records: Vec<_> = records
        .iter()
        .enumerate()
        .map(|(i, (group, body))| {
            json!({
                "messageId": format!("m{i}"),
                "body": body,
                "attributes": { "MessageGroupId": group },
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:atende-events.fifo",
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

#[tokio::test]
async fn on_a_fifo_queue_a_failure_fails_the_rest_of_its_group_and_no_other() {
    let rig = rig();
    let event = |customer, id, body| serde_json::to_string(&text(customer, id, body)).unwrap();
    let batch = fifo_batch(&[
        ("5511", event("5511", "wamid.a1", "oi")),
        ("5511", "this is not a queue event".to_owned()),
        ("5521", event("5521", "wamid.b1", "oi")),
        ("5511", event("5511", "wamid.a2", "1")),
        ("5521", event("5521", "wamid.b2", "2")),
    ]);
    let response = edge::lambda::processor(&rig.processor, batch).await;
    // 5511's later message waits behind the poison; 5521 is not held up.
    assert_eq!(failed_ids(&response), ["m1", "m3"]);
    let sent = sent_texts(&rig.whatsapp);
    assert_eq!(sent.iter().filter(|s| s.starts_with("5511")).count(), 2);
    assert_eq!(sent.iter().filter(|s| s.starts_with("5521")).count(), 4);
}

#[tokio::test]
async fn on_a_fifo_queue_without_group_ids_the_first_failure_fails_the_rest_of_the_batch() {
    let rig = rig();
    let bodies = [
        serde_json::to_string(&text("5511", "wamid.a1", "oi")).unwrap(),
        "this is not a queue event".to_owned(),
        serde_json::to_string(&text("5511", "wamid.a2", "1")).unwrap(),
        serde_json::to_string(&text("5521", "wamid.b1", "oi")).unwrap(),
    ];
    let fifo = "arn:aws:sqs:us-east-1:123456789012:atende-events.fifo";
    let response = edge::lambda::processor(&rig.processor, sqs_batch(fifo, &bodies)).await;
    assert_eq!(failed_ids(&response), ["m1", "m2", "m3"]);
    // Only the first record was processed: nothing overtook the failed one.
    assert_eq!(sent_texts(&rig.whatsapp).len(), 2);
    assert!(
        sent_texts(&rig.whatsapp)
            .iter()
            .all(|s| s.starts_with("5511"))
    );
}

#[tokio::test]
async fn on_a_standard_queue_only_the_failed_records_are_retried() {
    let rig = rig();
    let bodies = [
        serde_json::to_string(&text("5511", "wamid.a1", "oi")).unwrap(),
        "this is not a queue event".to_owned(),
        serde_json::to_string(&text("5521", "wamid.b1", "oi")).unwrap(),
    ];
    let standard = "arn:aws:sqs:us-east-1:123456789012:atende-events";
    let response = edge::lambda::processor(&rig.processor, sqs_batch(standard, &bodies)).await;
    assert_eq!(failed_ids(&response), ["m1"]);
    assert_eq!(sent_texts(&rig.whatsapp).len(), 4);
}

#[tokio::test]
async fn statuses_and_messages_without_a_business_number_send_nothing() {
    let rig = rig();
    let mut no_number = text("5511", "wamid.x", "oi");
    no_number.business_number = None;
    assert_eq!(
        rig.processor.handle(&no_number).await.unwrap(),
        Outcome::Unanswerable
    );
    let status: QueueEvent = serde_json::from_value(json!({
        "id": "wamid.out:read",
        "customer": {"kind": "phone", "id": "5511"},
        "business_number": "106540352242922",
        "kind": {"type": "status", "message_id": "wamid.out", "status": "read"}
    }))
    .unwrap();
    assert_eq!(
        rig.processor.handle(&status).await.unwrap(),
        Outcome::Recorded
    );
    assert!(rig.whatsapp.deliveries().is_empty());
}

#[tokio::test]
async fn a_handoff_queues_the_customer_and_tells_their_place_vips_first() {
    use atende_shared::domain::sla::{Priority, WaitingCustomer};
    use atende_shared::ports::AttendanceQueue;
    let text_config = atende_shared::domain::config::EMBEDDED.replacen(
        "vip_numbers = []",
        "vip_numbers = [\"5599\"]",
        1,
    );
    let Rig {
        processor,
        whatsapp,
        attendance,
        ..
    } = rig_with(Config::from_toml(&text_config).unwrap(), None);
    for (who, minutes) in [("5501", 10), ("5502", 5)] {
        attendance
            .enqueue(WaitingCustomer {
                customer: CustomerId::Phone(who.into()),
                department: "suporte".into(),
                priority: Priority::Normal,
                entered_at: now() - chrono::Duration::minutes(minutes),
                expires_at: None,
            })
            .await
            .unwrap();
    }
    for (customer, id, body) in [
        ("5511", "wamid.a", "oi"),
        ("5511", "wamid.b", "quero falar com um atendente"),
        ("5599", "wamid.c", "gerente!"),
    ] {
        processor.handle(&text(customer, id, body)).await.unwrap();
    }
    let sent = sent_texts(&whatsapp);
    // Suporte: 5 minutes per customer ahead, the customer included.
    assert!(
        sent.contains(&"5511: Você está na posição 3 da fila de Suporte Técnico. Tempo estimado: ~15 minutos.".to_owned()),
        "{sent:#?}"
    );
    assert!(
        sent.contains(
            &"5599: Você está na posição 1 da fila de Suporte Técnico. Tempo estimado: ~5 minutos."
                .to_owned()
        ),
        "{sent:#?}"
    );
    let line: Vec<(String, Priority)> = attendance
        .waiting(now())
        .await
        .unwrap()
        .into_iter()
        .map(|w| (w.customer.key().to_owned(), w.priority))
        .collect();
    assert_eq!(
        line,
        [
            ("5599".to_owned(), Priority::High),
            ("5501".to_owned(), Priority::Normal),
            ("5502".to_owned(), Priority::Normal),
            ("5511".to_owned(), Priority::Normal),
        ]
    );
    // Redelivered, the handoff neither queues twice nor repeats the answer.
    let before = sent_texts(&whatsapp).len();
    processor
        .handle(&text("5511", "wamid.b", "quero falar com um atendente"))
        .await
        .unwrap();
    assert_eq!(sent_texts(&whatsapp).len(), before);
    assert_eq!(attendance.waiting(now()).await.unwrap().len(), 4);
}

#[tokio::test]
async fn when_the_agent_closes_the_customer_leaves_the_queue_and_gets_the_survey() {
    use atende_shared::ports::AttendanceQueue;
    let rig = rig();
    let Rig {
        processor,
        whatsapp,
        attendance,
        timers,
        clock,
        ..
    } = &rig;
    processor
        .handle(&text("5511", "wamid.a", "atendente"))
        .await
        .unwrap();
    assert_eq!(attendance.waiting(now()).await.unwrap().len(), 1);
    let close = QueueEvent {
        also: None,
        id: "close-1".into(),
        customer: Some(CustomerId::Phone("5511".into())),
        business_number: Some("106540352242922".into()),
        kind: EventKind::Closed,
    };
    assert_eq!(
        processor.handle(&close).await.unwrap(),
        Outcome::Applied { sent: 0 }
    );
    assert!(attendance.waiting(now()).await.unwrap().is_empty());
    // Closed twice (a redelivery): nothing more.
    assert_eq!(
        processor.handle(&close).await.unwrap(),
        Outcome::Duplicate { sent: 0 }
    );
    // The survey waits 2 minutes (nps_delay_minutes), so it does not cross the agent's goodbye.
    // (The queue-update timer set at the handoff is pending too; it will find nobody waiting.)
    let survey: Vec<QueueEvent> = timers
        .pending()
        .into_iter()
        .map(|(_, e)| e)
        .filter(|e| e.id.starts_with("timer:nps:"))
        .collect();
    assert_eq!(survey.len(), 1, "{survey:?}");
    assert_eq!(
        timers.next_due(),
        Some(now() + chrono::Duration::minutes(2))
    );
    clock.advance(chrono::Duration::minutes(2));
    let due = timers.due(clock.now());
    assert_eq!(due, survey);
    assert_eq!(
        processor.handle(&due[0]).await.unwrap(),
        Outcome::Applied { sent: 1 }
    );
    assert!(sent_texts(whatsapp).last().unwrap().contains("de 0 a 10"));
    // The scheduler delivering the timer twice asks once: the second finds it no longer
    // pending and does nothing.
    assert_eq!(
        processor.handle(&due[0]).await.unwrap(),
        Outcome::Applied { sent: 0 }
    );
}

/// Runs the timers due on the rig's clock; returns what they sent.
async fn fire_timers(rig: &Rig) -> Vec<String> {
    let before = sent_texts(&rig.whatsapp).len();
    for event in rig.timers.due(rig.clock.now()) {
        rig.processor.handle(&event).await.unwrap();
    }
    sent_texts(&rig.whatsapp).split_off(before)
}

#[tokio::test]
async fn a_waiting_customer_hears_when_the_line_moves_and_only_then() {
    use atende_shared::ports::AttendanceQueue;
    let rig = rig();
    for (customer, id) in [("5521", "wamid.x"), ("5511", "wamid.y")] {
        rig.processor
            .handle(&text(customer, id, "atendente"))
            .await
            .unwrap();
    }
    let ten = chrono::Duration::minutes(10);
    // Nobody was taken: no news, but the place is looked up again later.
    rig.clock.advance(ten);
    assert_eq!(fire_timers(&rig).await, Vec::<String>::new());
    assert!(rig.timers.next_due().is_some());
    // An agent takes the first customer: the second hears they moved up, once.
    let first = rig.attendance.waiting(now()).await.unwrap()[0].clone();
    assert_eq!(first.customer, CustomerId::Phone("5521".into()));
    assert!(rig.attendance.take(&first).await.unwrap());
    rig.clock.advance(ten);
    let said = fire_timers(&rig).await;
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].starts_with("5511: A fila andou!"), "{said:?}");
    assert!(said[0].contains("posição 1"), "{said:?}");
    rig.clock.advance(ten);
    assert_eq!(fire_timers(&rig).await, Vec::<String>::new());
    // Taken too: the updates stop.
    let second = rig.attendance.waiting(now()).await.unwrap()[0].clone();
    assert!(rig.attendance.take(&second).await.unwrap());
    rig.clock.advance(ten);
    assert_eq!(fire_timers(&rig).await, Vec::<String>::new());
    assert_eq!(rig.timers.next_due(), None);
}

#[tokio::test]
async fn the_assistant_gets_the_question_with_a_bounded_history_and_long_answers_are_cut() {
    use atende_shared::adapters::MemoryAssistant;
    let long = "Resposta muito longa ".repeat(40);
    let assistant = Arc::new(MemoryAssistant::new().otherwise(&long, false));
    let Rig {
        processor,
        whatsapp,
        ..
    } = rig_with(Config::embedded().unwrap(), Some(assistant.clone()));
    processor
        .handle(&text("5511", "wamid.0", "oi"))
        .await
        .unwrap();
    for i in 1..=8 {
        processor
            .handle(&text(
                "5511",
                &format!("wamid.{i}"),
                &format!("pergunta {i}"),
            ))
            .await
            .unwrap();
    }
    let asked = assistant.asked();
    assert_eq!(asked.len(), 8);
    assert_eq!(asked[0].0, "pergunta 1");
    // "oi", the greeting and the menu came before the first question.
    assert_eq!(asked[0].1, 3);
    // Never more than assistant.history_turns (10).
    assert!(asked.iter().all(|(_, n)| *n <= 10), "{asked:?}");
    assert_eq!(asked[7].1, 10);
    let answers = sent_texts(&whatsapp);
    let last = answers.last().unwrap();
    let shown = last.trim_start_matches("5511: ");
    assert!(
        shown.chars().count() <= 300 && shown.ends_with('…'),
        "{last}"
    );
}

#[tokio::test]
async fn a_customer_whose_window_closed_while_waiting_leaves_the_queue() {
    use atende_shared::ports::AttendanceQueue;
    let Rig {
        processor,
        attendance,
        clock,
        ..
    } = rig();
    processor
        .handle(&text("5511", "wamid.a", "atendente"))
        .await
        .unwrap();
    assert_eq!(attendance.waiting(now()).await.unwrap().len(), 1);
    // Nobody took the conversation; the customer writes again a day later.
    clock.advance(chrono::Duration::hours(25));
    processor
        .handle(&text("5511", "wamid.b", "oi"))
        .await
        .unwrap();
    assert!(attendance.waiting(now()).await.unwrap().is_empty());
}

/// A rig whose processor keeps the conversation log (as deployed), and that log.
fn logged_rig() -> (Rig, Arc<MemoryConversationLog>) {
    let mut rig = rig();
    let log = Arc::new(MemoryConversationLog::new());
    rig.processor = Arc::new(
        Processor::new(
            rig.sessions.clone(),
            rig.attendance.clone(),
            rig.whatsapp.clone(),
            rig.timers.clone(),
            rig.clock.clone(),
            Arc::new(Config::embedded().unwrap()),
        )
        .with_desk(Arc::new(MemoryAgents::new()), log.clone()),
    );
    (rig, log)
}

/// The status the conversation log shows for each message sent to `customer`.
async fn logged_statuses(
    log: &dyn atende_shared::ports::ConversationLog,
    customer: &str,
) -> std::collections::HashMap<String, atende_shared::domain::DeliveryStatus> {
    use atende_shared::domain::LogLine;
    let page = log
        .page(&CustomerId::Phone(customer.into()), None, 100, now())
        .await
        .unwrap();
    page.lines
        .into_iter()
        .filter_map(|line| match line.entry.line {
            LogLine::Sent { message_id, .. } => Some((message_id, line.status?)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn statuses_are_kept_per_sent_message_and_never_move_back() {
    use atende_shared::domain::{DeliveryStatus, StatusUpdate};
    let (rig, log) = logged_rig();
    rig.processor
        .handle(&text("5511", "wamid.1", "oi"))
        .await
        .unwrap();
    // The memory WhatsApp numbers what it sends: wamid.memory.1 (greeting), .2 (menu).
    let status = |id: &str, s: &str, code: Option<i64>| QueueEvent {
        also: None,
        id: format!("{id}:{s}"),
        customer: Some(CustomerId::Phone("5511".into())),
        business_number: Some("106540352242922".into()),
        kind: EventKind::Status(StatusUpdate {
            message_id: id.into(),
            status: DeliveryStatus::parse(s),
            at: None,
            errors: code
                .map(|c| atende_shared::domain::ApiError {
                    code: Some(c),
                    ..Default::default()
                })
                .into_iter()
                .collect(),
            reference: None,
        }),
    };
    for event in [
        status("wamid.memory.1", "read", None),
        status("wamid.memory.1", "delivered", None), // late: no downgrade
        status("wamid.memory.2", "delivered", None),
        status("wamid.memory.2", "failed", Some(131047)),
        status("wamid.unknown", "read", None),
    ] {
        assert_eq!(
            rig.processor.handle(&event).await.unwrap(),
            Outcome::Recorded
        );
    }
    let stored = rig
        .sessions
        .load(&CustomerId::Phone("5511".into()), now())
        .await
        .unwrap()
        .unwrap();
    // The log has each sent message's status; the session keeps the failure it acts on, and
    // is not written for the plain ones.
    let statuses = logged_statuses(&*log, "5511").await;
    assert_eq!(statuses["wamid.memory.1"], DeliveryStatus::Read);
    assert_eq!(statuses["wamid.memory.2"], DeliveryStatus::Failed);
    assert!(!statuses.contains_key("wamid.unknown"));
    assert_eq!(
        stored.session.outbound_status("wamid.memory.2"),
        Some(&DeliveryStatus::Failed)
    );
    assert!(stored.session.outbound_status("wamid.unknown").is_none());
    assert!(
        stored.session.window_closed,
        "131047: the window had closed"
    );
    // The customer writes again: the window reopens.
    rig.processor
        .handle(&text("5511", "wamid.2", "4"))
        .await
        .unwrap();
    let stored = rig
        .sessions
        .load(&CustomerId::Phone("5511".into()), now())
        .await
        .unwrap()
        .unwrap();
    assert!(!stored.session.window_closed);
    // A status for a customer without a session opens nothing.
    let stranger = QueueEvent {
        also: None,
        customer: Some(CustomerId::Phone("5599".into())),
        ..status("wamid.x", "read", None)
    };
    assert_eq!(
        rig.processor.handle(&stranger).await.unwrap(),
        Outcome::Recorded
    );
    assert!(
        rig.sessions
            .load(&CustomerId::Phone("5599".into()), now())
            .await
            .unwrap()
            .is_none()
    );
}

/// A delivery that finds another one sending this customer's replies leaves the sending to it
/// (its own replies queued behind) and fails, to come back; once that lease is over (the
/// other delivery died), the returning event sends everything left, in order, once.
#[tokio::test]
async fn a_live_delivery_keeps_the_outbox_and_a_dead_ones_is_taken_over() {
    use atende_shared::domain::{Command, Lease, Outgoing, Session, SessionRecord};
    let rig = rig();
    let customer = CustomerId::Phone("5511".into());
    let mut record = SessionRecord::new(Session::new(customer.clone(), now()));
    record.session.state = atende_shared::domain::State::MainMenu;
    record.outbox.push_back(Outgoing {
        id: "wamid.earlier#1".into(),
        from: "106540352242922".into(),
        command: Command::Send {
            message: OutboundMessage::text("uma resposta anterior"),
            agent: None,
        },
        attempts: 0,
    });
    record.sending = Some(Lease {
        event: "wamid.earlier".into(),
        until: now() + chrono::Duration::seconds(60),
    });
    rig.sessions.save(&record, now()).await.unwrap();

    let event = text("5511", "wamid.later", "4");
    let busy = rig.processor.handle(&event).await;
    assert!(
        matches!(busy, Err(atende_shared::app::ProcessError::Busy)),
        "{busy:?}"
    );
    assert!(
        sent_texts(&rig.whatsapp).is_empty(),
        "nothing sent meanwhile"
    );
    let stored = rig.sessions.load(&customer, now()).await.unwrap().unwrap();
    assert!(stored.has_applied("wamid.later"), "applied, replies queued");
    // Still within the lease: still busy.
    rig.clock.advance(chrono::Duration::seconds(30));
    assert!(rig.processor.handle(&event).await.is_err());
    // The other delivery died: the returning event takes over.
    rig.clock.advance(chrono::Duration::seconds(31));
    assert_eq!(
        rig.processor.handle(&event).await.unwrap(),
        Outcome::Duplicate { sent: 2 }
    );
    let sent = sent_texts(&rig.whatsapp);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[0], "5511: uma resposta anterior");
    assert!(sent[1].starts_with("5511: ⏰ Nosso horário"), "{sent:?}");
    let stored = rig
        .sessions
        .load(&customer, rig.clock.now())
        .await
        .unwrap()
        .unwrap();
    assert!(stored.outbox.is_empty());
    assert_eq!(stored.sending, None);
}

/// A processor on fresh memory adapters with the shipped configuration.
fn on_memory() -> Processor {
    Processor::new(
        Arc::new(MemorySessionStore::new()),
        Arc::new(MemoryAttendanceQueue::new()),
        Arc::new(MemoryWhatsApp::new()),
        Arc::new(MemoryTimers::new()),
        Arc::new(ManualClock::new(now())),
        Arc::new(Config::embedded().unwrap()),
    )
}

/// A handoff reaches the staff's channels with who waits, where, why, what the bot collected
/// and the last lines of the conversation; a redelivery does not announce it twice.
#[tokio::test]
async fn the_agents_hear_of_a_handoff_with_its_context_once() {
    use atende_shared::adapters::MemoryNotifications;
    use atende_shared::app::Staff;
    use atende_shared::domain::notice::NoticeKind;
    let channel = Arc::new(MemoryNotifications::new());
    let processor = on_memory().with_staff(Staff::new().with("memory", channel.clone()));
    for (id, body) in [
        ("wamid.1", "oi"),
        ("wamid.2", "3"),
        ("wamid.3", "529.982.247-25"),
        ("wamid.3", "529.982.247-25"),
    ] {
        processor.handle(&text("5511", id, body)).await.unwrap();
    }
    let notices = channel.notices();
    assert_eq!(notices.len(), 1, "{notices:#?}");
    let notice = &notices[0];
    assert_eq!(notice.kind, NoticeKind::Handoff);
    assert_eq!(notice.department, "financeiro");
    let lines: Vec<&str> = notice.text.lines().collect();
    assert_eq!(
        lines[0],
        "🙋 5511 aguarda atendimento em Financeiro (motivo: finance_second_copy)."
    );
    assert_eq!(lines[1], "Documento: 52998224725");
    assert!(
        notice.text.ends_with(
            "cliente: 529.982.247-25\nbot: Obrigado! Vou passar para a equipe de Financeiro."
        ),
        "{}",
        notice.text
    );
}

/// Messages in, replies out and escalations are counted once each, redeliveries not again.
#[tokio::test]
async fn business_metrics_count_what_happened_once() {
    use atende_shared::metrics::{MemoryMetrics, Metric};
    let metrics = Arc::new(MemoryMetrics::new());
    let processor = on_memory().with_metrics(metrics.clone());
    for (id, body) in [
        ("wamid.1", "oi"),
        ("wamid.2", "atendente"),
        ("wamid.2", "atendente"),
    ] {
        processor.handle(&text("5511", id, body)).await.unwrap();
    }
    assert_eq!(
        metrics.recorded(),
        [
            Metric::MessagesIn,
            Metric::RepliesOut,
            Metric::RepliesOut,
            Metric::MessagesIn,
            Metric::RepliesOut,
            Metric::Escalations {
                department: "suporte".into()
            },
            Metric::RepliesOut,
        ]
    );
}

/// Records are not started with too little of the invocation left: they fail, in the batch's
/// order, and come back; with time enough the same batch is processed.
#[tokio::test]
async fn records_are_not_started_too_close_to_the_deadline() {
    let rig = rig();
    let event = |customer, id, body| serde_json::to_string(&text(customer, id, body)).unwrap();
    let batch = || {
        fifo_batch(&[
            ("5511", event("5511", "wamid.a1", "oi")),
            ("5521", event("5521", "wamid.b1", "oi")),
            ("5511", event("5511", "wamid.a2", "4")),
        ])
    };
    let soon = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    let response = edge::lambda::processor_until(&rig.processor, batch(), Some(soon)).await;
    assert_eq!(failed_ids(&response), ["m0", "m1", "m2"]);
    assert!(sent_texts(&rig.whatsapp).is_empty(), "nothing started");
    let later = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let response = edge::lambda::processor_until(&rig.processor, batch(), Some(later)).await;
    assert!(failed_ids(&response).is_empty());
    let sent = sent_texts(&rig.whatsapp);
    assert_eq!(sent.iter().filter(|s| s.starts_with("5511")).count(), 3);
    assert_eq!(sent.iter().filter(|s| s.starts_with("5521")).count(), 2);
}

/// A scheduler that refuses the first `refusals` timers, then works like the memory one.
struct FlakyTimers {
    refusals: std::sync::atomic::AtomicUsize,
    inner: MemoryTimers,
}

#[async_trait::async_trait]
impl atende_shared::ports::Timers for FlakyTimers {
    async fn schedule(
        &self,
        at: DateTime<Utc>,
        event: &QueueEvent,
    ) -> Result<(), atende_shared::ports::TimerError> {
        let refuse = self
            .refusals
            .fetch_update(
                std::sync::atomic::Ordering::SeqCst,
                std::sync::atomic::Ordering::SeqCst,
                |n| n.checked_sub(1),
            )
            .is_ok();
        if refuse {
            return Err(atende_shared::ports::TimerError::Unavailable(
                "ThrottlingException (injected)".into(),
            ));
        }
        self.inner.schedule(at, event).await
    }
}

/// Issue item "a timer that cannot be set does not stall the customer": the replies never
/// wait for the scheduler, and the event does not fail for it (a failed event would hold the
/// customer's later messages back for a visibility timeout each, then dead-letter them). The
/// refused timer stays pending in the outbox and is set at the customer's next event.
#[tokio::test]
async fn a_timer_that_cannot_be_set_does_not_stall_the_customer() {
    use atende_shared::metrics::{MemoryMetrics, Metric};
    let whatsapp = Arc::new(MemoryWhatsApp::new());
    let sessions = Arc::new(MemorySessionStore::new());
    let timers = Arc::new(FlakyTimers {
        refusals: 2.into(),
        inner: MemoryTimers::new(),
    });
    let metrics = Arc::new(MemoryMetrics::new());
    let processor = Processor::new(
        sessions.clone(),
        Arc::new(MemoryAttendanceQueue::new()),
        whatsapp.clone(),
        timers.clone(),
        Arc::new(ManualClock::new(now())),
        Arc::new(Config::embedded().unwrap()),
    )
    .with_metrics(metrics.clone());
    let pending = || async {
        sessions
            .load(&CustomerId::Phone("5511".into()), now())
            .await
            .unwrap()
            .unwrap()
            .outbox
            .len()
    };
    // Refused: the greeting and the menu go, the event succeeds, the timer waits.
    assert_eq!(
        processor
            .handle(&text("5511", "wamid.1", "oi"))
            .await
            .unwrap(),
        Outcome::Applied { sent: 2 }
    );
    assert!(timers.inner.pending().is_empty());
    assert_eq!(pending().await, 1, "the refused timer stays pending");
    // Refused again at the next message, whose answer still goes.
    assert_eq!(
        processor
            .handle(&text("5511", "wamid.2", "4"))
            .await
            .unwrap(),
        Outcome::Applied { sent: 1 }
    );
    assert!(timers.inner.pending().is_empty());
    // The scheduler is back: the next event sets what was pending (the same inactivity timer,
    // which the scheduler holds once).
    assert_eq!(
        processor
            .handle(&text("5511", "wamid.3", "menu"))
            .await
            .unwrap(),
        Outcome::Applied { sent: 1 }
    );
    assert_eq!(
        timers.inner.pending().len(),
        1,
        "the inactivity timer is set"
    );
    assert_eq!(pending().await, 0, "nothing left pending");
    assert_eq!(
        metrics
            .recorded()
            .iter()
            .filter(|m| **m == Metric::TimersDeferred)
            .count(),
        2,
        "each refusal counted"
    );
    assert_eq!(sent_texts(&whatsapp).len(), 4);
}

/// WhatsApp often says a reply failed with 131047 (window closed) in a status webhook rather
/// than when it was sent: the window is marked closed and the re-engagement template goes,
/// once.
#[tokio::test]
async fn a_131047_in_a_status_gets_the_reengagement_template_once() {
    use atende_shared::domain::{ApiError, DeliveryStatus, StatusUpdate};
    let text_config = format!(
        "{}\n[reengagement]\ntemplate = \"retomar_atendimento\"\n",
        atende_shared::domain::config::EMBEDDED
    );
    let rig = rig_with(Config::from_toml(&text_config).unwrap(), None);
    rig.processor
        .handle(&text("5511", "wamid.1", "oi"))
        .await
        .unwrap();
    let failed = |n: usize| QueueEvent {
        also: None,
        id: format!("wamid.out{n}:failed"),
        customer: Some(CustomerId::Phone("5511".into())),
        business_number: Some("106540352242922".into()),
        kind: EventKind::Status(StatusUpdate {
            message_id: format!("wamid.out{n}"),
            status: DeliveryStatus::Failed,
            at: None,
            errors: vec![ApiError {
                code: Some(131047),
                ..Default::default()
            }],
            reference: None,
        }),
    };
    rig.processor.handle(&failed(1)).await.unwrap();
    rig.processor.handle(&failed(2)).await.unwrap();
    let sent = sent_texts(&rig.whatsapp);
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert_eq!(sent[2], "5511: [template retomar_atendimento]");
    let record = rig
        .sessions
        .load(&CustomerId::Phone("5511".into()), now())
        .await
        .unwrap()
        .unwrap();
    assert!(record.session.window_closed);
}

/// Issue item "account-wide Graph API failures wait instead of being dropped": a refused login
/// (code 0, HTTP 401), a missing permission (200–299, HTTP 403), an unpaid account (131042) or
/// a 401/403 without a code stop every customer's replies alike: the reply waits (the event
/// fails and comes back) instead of being dropped, and each is counted for the alarm.
#[tokio::test]
async fn account_wide_failures_wait_instead_of_being_dropped() {
    use atende_shared::metrics::{MemoryMetrics, Metric};
    for (status, code) in [
        (401, Some(0)),
        (403, Some(200)),
        (403, Some(299)),
        (400, Some(131042)),
        (401, None),
        (403, None),
    ] {
        let rig = rig();
        let metrics = Arc::new(MemoryMetrics::new());
        let processor = Processor::new(
            rig.sessions.clone(),
            rig.attendance.clone(),
            rig.whatsapp.clone(),
            Arc::new(atende_shared::adapters::MemoryTimers::new()),
            Arc::new(ManualClock::new(now())),
            Arc::new(Config::embedded().unwrap()),
        )
        .with_metrics(metrics.clone());
        rig.whatsapp.fail_next_sends_with(1, status, code);
        let event = text("5511", "wamid.1", "oi");
        assert!(
            processor.handle(&event).await.is_err(),
            "{status} {code:?}: the reply waits"
        );
        assert!(
            metrics.recorded().contains(&Metric::AccountFailures),
            "{status} {code:?}: counted for the alarm"
        );
        // Fixed (the token renewed, the bill paid): the redelivery sends it all.
        assert_eq!(
            processor.handle(&event).await.unwrap(),
            Outcome::Duplicate { sent: 2 },
            "{status} {code:?}"
        );
    }
}

/// Issue item "one reply that keeps failing does not block a customer forever": a reply the
/// Graph API keeps refusing for itself (131000 for that payload) is tried by
/// `MAX_SEND_ATTEMPTS` deliveries, then set aside (logged, counted, written to the conversation
/// log as not sent), and what follows it goes out; the customer's next message is answered.
#[tokio::test]
async fn one_reply_that_keeps_failing_does_not_block_a_customer_forever() {
    use atende_shared::app::processor::MAX_SEND_ATTEMPTS;
    use atende_shared::domain::LogLine;
    use atende_shared::metrics::{MemoryMetrics, Metric};
    use atende_shared::ports::ConversationLog;
    let rig = rig();
    let metrics = Arc::new(MemoryMetrics::new());
    let log = Arc::new(MemoryConversationLog::new());
    let processor = Processor::new(
        rig.sessions.clone(),
        rig.attendance.clone(),
        rig.whatsapp.clone(),
        Arc::new(MemoryTimers::new()),
        Arc::new(ManualClock::new(now())),
        Arc::new(Config::embedded().unwrap()),
    )
    .with_metrics(metrics.clone())
    .with_desk(Arc::new(MemoryAgents::new()), log.clone());
    // The greeting fails on every delivery; the event comes back each time.
    rig.whatsapp
        .fail_next_sends_with(u64::from(MAX_SEND_ATTEMPTS), 503, Some(131000));
    let oi = text("5511", "wamid.1", "oi");
    for _ in 1..MAX_SEND_ATTEMPTS {
        assert!(processor.handle(&oi).await.is_err());
        assert!(sent_texts(&rig.whatsapp).is_empty());
    }
    // The last delivery sets the greeting aside and sends the menu behind it.
    assert_eq!(
        processor.handle(&oi).await.unwrap(),
        Outcome::Duplicate { sent: 1 }
    );
    assert_eq!(sent_texts(&rig.whatsapp), ["5511: [list]"]);
    assert!(metrics.recorded().contains(&Metric::RepliesSetAside));
    let page = log
        .page(&CustomerId::Phone("5511".into()), None, 50, now())
        .await
        .unwrap();
    let set_aside = page
        .lines
        .iter()
        .find_map(|l| match &l.entry.line {
            LogLine::NotSent {
                agent,
                text,
                reason,
            } => Some((agent, text, reason)),
            _ => None,
        })
        .expect("the greeting is logged as not sent");
    assert_eq!(set_aside.0, &None, "the bot's");
    assert!(set_aside.1.contains("Bem-vindo"), "{set_aside:?}");
    assert!(set_aside.2.contains("3 attempts"), "{set_aside:?}");
    // The customer goes on as usual.
    assert_eq!(
        processor
            .handle(&text("5511", "wamid.2", "4"))
            .await
            .unwrap(),
        Outcome::Applied { sent: 1 }
    );
}

/// Issue item "nobody waits in line forever": a customer who waits and never writes again
/// leaves the line when their window ends, and stops counting ahead of the others; one who
/// writes again keeps their place as long as their window now runs.
#[tokio::test]
async fn nobody_waits_in_line_forever() {
    let rig = rig();
    let waiting = || async {
        rig.attendance
            .waiting(rig.clock.now())
            .await
            .unwrap()
            .into_iter()
            .map(|w| w.customer.key().to_owned())
            .collect::<Vec<_>>()
    };
    let told = |customer: &str| {
        sent_texts(&rig.whatsapp)
            .into_iter()
            .filter(|t| t.starts_with(&format!("{customer}: ")) && t.contains("posição"))
            .collect::<Vec<_>>()
    };
    rig.processor
        .handle(&text("5511", "wamid.a1", "atendente"))
        .await
        .unwrap();
    rig.clock.advance(chrono::Duration::hours(20));
    rig.processor
        .handle(&text("5522", "wamid.b1", "atendente"))
        .await
        .unwrap();
    assert!(told("5522")[0].contains("posição 2"), "{:?}", told("5522"));
    // A day after 5511 last wrote, nobody can answer them: they are out of the line.
    rig.clock.advance(chrono::Duration::hours(5));
    assert_eq!(waiting().await, ["5522"]);
    rig.processor
        .handle(&text("5533", "wamid.c1", "atendente"))
        .await
        .unwrap();
    assert!(told("5533")[0].contains("posição 2"), "{:?}", told("5533"));
    // 5522 writes again: still waiting after the end of their first window (hour 44).
    rig.processor
        .handle(&text("5522", "wamid.b2", "ainda estou aqui"))
        .await
        .unwrap();
    rig.clock.advance(chrono::Duration::hours(21));
    assert_eq!(waiting().await, ["5522", "5533"]);
}

/// The Graph API answering each call after `delay` (on the test's paused clock).
struct SlowWhatsApp {
    delay: std::time::Duration,
    inner: Arc<MemoryWhatsApp>,
}

#[async_trait::async_trait]
impl atende_shared::ports::WhatsApp for SlowWhatsApp {
    async fn send(
        &self,
        from: &str,
        to: &CustomerId,
        message: &atende_shared::domain::Sendable,
    ) -> Result<atende_shared::ports::SentMessage, atende_shared::ports::WhatsAppError> {
        tokio::time::sleep(self.delay).await;
        self.inner.send(from, to, message).await
    }

    async fn mark_read(
        &self,
        from: &str,
        message_id: &str,
        typing: bool,
    ) -> Result<(), atende_shared::ports::WhatsAppError> {
        tokio::time::sleep(self.delay).await;
        self.inner.mark_read(from, message_id, typing).await
    }

    async fn media(
        &self,
        media_id: &str,
    ) -> Result<atende_shared::ports::Media, atende_shared::ports::WhatsAppError> {
        tokio::time::sleep(self.delay).await;
        self.inner.media(media_id).await
    }
}

/// Item 7: one record cannot outlive the invocation. Every Graph API call takes 9 s: the
/// greeting's read receipt and two replies would take 27 s, but 21 s are left. The record
/// starts (20 s is enough to start one), stops before a call that could end past the
/// deadline, and comes back; its return sends the rest, nothing twice. On a paused clock.
#[tokio::test(start_paused = true)]
async fn one_record_cannot_outlive_the_invocation() {
    let whatsapp = Arc::new(MemoryWhatsApp::new());
    let sessions = Arc::new(MemorySessionStore::new());
    let processor = Processor::new(
        sessions.clone(),
        Arc::new(MemoryAttendanceQueue::new()),
        Arc::new(SlowWhatsApp {
            delay: std::time::Duration::from_secs(9),
            inner: whatsapp.clone(),
        }),
        Arc::new(MemoryTimers::new()),
        Arc::new(ManualClock::new(now())),
        Arc::new(Config::embedded().unwrap()),
    );
    let body = serde_json::to_string(&text("5511", "wamid.a1", "oi")).unwrap();
    let batch = || fifo_batch(&[("5511", body.clone())]);
    let started = tokio::time::Instant::now();
    let deadline = started + std::time::Duration::from_secs(21);
    let response = edge::lambda::processor_until(&processor, batch(), Some(deadline)).await;
    let took = started.elapsed();
    assert!(
        took <= std::time::Duration::from_secs(21),
        "the record ran {took:?}, past the invocation's 21 s"
    );
    assert_eq!(failed_ids(&response), ["m0"], "the record comes back");
    assert_eq!(
        sent_texts(&whatsapp),
        ["5511: Olá! 👋 Bem-vindo(a) à Atende Demo."]
    );
    // Its return (a new invocation) finishes the outbox.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let response = edge::lambda::processor_until(&processor, batch(), Some(deadline)).await;
    assert!(failed_ids(&response).is_empty());
    assert_eq!(
        sent_texts(&whatsapp),
        ["5511: Olá! 👋 Bem-vindo(a) à Atende Demo.", "5511: [list]"]
    );
}

/// A staff channel answering after `delay` (on the test's paused clock).
struct SlowChannel {
    delay: std::time::Duration,
}

#[async_trait::async_trait]
impl atende_shared::ports::Notifications for SlowChannel {
    async fn notify(
        &self,
        _notice: &atende_shared::domain::notice::Notice,
        _from: Option<&str>,
    ) -> Result<(), atende_shared::ports::NotifyError> {
        tokio::time::sleep(self.delay).await;
        Ok(())
    }
}

/// Item 7: handoff notices to several supervisors go out side by side within a deadline. Five
/// supervisors on WhatsApp whose sends take 4 s each, a chat webhook that takes 8 s and one
/// that never answers: the notice is done in the notice limit (10 s), not 20 s + 8 s + ever.
#[tokio::test(start_paused = true)]
async fn one_record_cannot_outlive_the_invocation_notices_go_out_side_by_side() {
    use atende_shared::adapters::notify::WhatsAppNotifications;
    use atende_shared::app::Staff;
    let whatsapp = Arc::new(MemoryWhatsApp::new());
    let supervisors: Vec<String> = (1..=5).map(|n| format!("551199990000{n}")).collect();
    let staff = Staff::new()
        .with(
            "whatsapp",
            Arc::new(WhatsAppNotifications::new(
                Arc::new(SlowWhatsApp {
                    delay: std::time::Duration::from_secs(4),
                    inner: whatsapp.clone(),
                }),
                &supervisors,
                None,
            )),
        )
        .with(
            "webhook",
            Arc::new(SlowChannel {
                delay: std::time::Duration::from_secs(8),
            }),
        )
        .with(
            "stuck",
            Arc::new(SlowChannel {
                delay: std::time::Duration::from_secs(3600),
            }),
        );
    let notice = atende_shared::domain::notice::Notice {
        kind: atende_shared::domain::notice::NoticeKind::Handoff,
        customer: CustomerId::Phone("5511".into()),
        department: "suporte".into(),
        text: "Cliente aguardando atendimento".into(),
    };
    let started = tokio::time::Instant::now();
    let delivered = staff.tell(&notice, Some("106540352242922")).await;
    let took = started.elapsed();
    assert_eq!(
        delivered, 2,
        "WhatsApp and the webhook took it; the stuck one did not"
    );
    assert_eq!(whatsapp.deliveries().len(), 5, "every supervisor got it");
    assert!(
        took <= atende_shared::ports::NOTICE_TIME_LIMIT,
        "the notice took {took:?}"
    );
}

/// Item 8: a 5xx without a Graph error code is an unknown outcome: the processor does not
/// fail the event to resend it blindly (the customer might get the greeting twice); it waits
/// for the message's status, and the rest of the outbox goes on.
#[tokio::test]
async fn a_5xx_without_a_graph_error_code_is_an_unknown_outcome_not_a_blind_resend() {
    let rig = rig();
    let event = text("5511", "wamid.1", "oi");
    rig.whatsapp.fail_next_sends_with(1, 502, None);
    assert_eq!(
        rig.processor.handle(&event).await.unwrap(),
        Outcome::Applied { sent: 1 }
    );
    assert_eq!(
        rig.processor.handle(&event).await.unwrap(),
        Outcome::Duplicate { sent: 0 }
    );
    assert_eq!(sent_texts(&rig.whatsapp), ["5511: [list]"]);
    let stored = rig
        .sessions
        .load(&CustomerId::Phone("5511".into()), now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.session.unconfirmed.len(), 1, "waits for its status");
}

/// A message from `customer`, naming `also` beside them (as a payload with both a phone and a
/// user id does).
fn text_also(customer: CustomerId, also: Option<CustomerId>, id: &str, body: &str) -> QueueEvent {
    QueueEvent {
        customer: Some(customer),
        also,
        ..text("0", id, body)
    }
}

/// Item 9: a customer known first by their business-scoped user id and later also by phone
/// number keeps one session (the phone linked to it): no second greeting, statuses matched,
/// and a later message under the phone alone finds it too. The same the other way round.
#[tokio::test]
async fn a_customer_known_by_user_id_and_later_by_phone_keeps_one_session() {
    use atende_shared::domain::{DeliveryStatus, StatusUpdate};
    let user = CustomerId::User("US.13491208655302741918".into());
    let phone = CustomerId::Phone("5511912345678".into());
    for (first, then) in [(user.clone(), phone.clone()), (phone.clone(), user.clone())] {
        let (rig, log) = logged_rig();
        let (leading, other) = match &first {
            CustomerId::User(_) => (then.clone(), first.clone()),
            CustomerId::Phone(_) => (first.clone(), then.clone()),
        };
        rig.processor
            .handle(&text_also(first.clone(), None, "wamid.1", "oi"))
            .await
            .unwrap();
        // The payload now names both (the phone leads).
        let both = text_also(leading.clone(), Some(other.clone()), "wamid.2", "1");
        assert_eq!(
            rig.processor.handle(&both).await.unwrap(),
            Outcome::Applied { sent: 1 }
        );
        // The status of that reply, naming both, is kept on the session.
        let status = QueueEvent {
            id: "wamid.memory.3:read".into(),
            customer: Some(leading.clone()),
            also: Some(other.clone()),
            business_number: Some("106540352242922".into()),
            kind: EventKind::Status(StatusUpdate {
                message_id: "wamid.memory.3".into(),
                status: DeliveryStatus::parse("read"),
                at: None,
                errors: Vec::new(),
                reference: None,
            }),
        };
        rig.processor.handle(&status).await.unwrap();
        // Later, a message under the other name alone.
        rig.processor
            .handle(&text_also(then.clone(), None, "wamid.3", "menu"))
            .await
            .unwrap();
        let sent = sent_texts(&rig.whatsapp);
        let greetings = sent.iter().filter(|s| s.contains("Bem-vindo")).count();
        assert_eq!(greetings, 1, "{first:?} then {then:?}: {sent:#?}");
        assert!(
            sent.iter()
                .all(|s| s.starts_with(&format!("{}:", first.key()))),
            "every reply to the session's own name: {sent:#?}"
        );
        let session = rig
            .sessions
            .load(&then, now())
            .await
            .unwrap()
            .expect("found under the other name")
            .session;
        assert_eq!(session.customer, first);
        assert_eq!(
            logged_statuses(&*log, session.customer.key()).await["wamid.memory.3"],
            DeliveryStatus::Read
        );
        assert!(
            rig.sessions
                .load(&first, now())
                .await
                .unwrap()
                .unwrap()
                .has_applied("wamid.3"),
            "one session"
        );
    }
}

/// A message WhatsApp itself sends about `customer` (`type: "system"`, a number change), at
/// `sent_at`: Meta's payload (the fixture) through the webhook's split.
fn whatsapp_notice(customer: &str, id: &str, sent_at: DateTime<Utc>) -> QueueEvent {
    let payload = include_str!("fixtures/webhooks/system-without-contacts.json")
        .replace("\"5511987654321\"", &format!("\"{customer}\""))
        .replace("1795521600", &sent_at.timestamp().to_string())
        .replace(
            "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjA013QUFBQUFBQUFBQUFBQUFBAA==",
            id,
        );
    let mut events = atende_shared::webhook::split(payload.as_bytes())
        .unwrap()
        .events;
    assert_eq!(events.len(), 1);
    events.remove(0)
}

/// Item 10: system messages (`user_changed_number` and the like) are not answered as customer
/// text and do not move the window; the number change is recorded in the conversation log.
/// One for a customer without a conversation opens none.
#[tokio::test]
async fn system_messages_are_not_answered_and_do_not_move_the_window() {
    use atende_shared::domain::log::{ConversationEvent, LogLine};
    use atende_shared::ports::ConversationLog;
    let (rig, log) = logged_rig();
    let processor = &rig.processor;
    let customer = CustomerId::Phone("5511987654321".into());
    processor
        .handle(&text("5511987654321", "wamid.1", "oi"))
        .await
        .unwrap();
    let before = rig.sessions.load(&customer, now()).await.unwrap().unwrap();
    let timers_before = rig.timers.pending().len();
    rig.whatsapp.take();
    let later = now() + chrono::Duration::hours(23);
    rig.clock.set(later);
    assert_eq!(
        processor
            .handle(&whatsapp_notice("5511987654321", "wamid.sys1", later))
            .await
            .unwrap(),
        Outcome::Applied { sent: 0 }
    );
    assert!(
        rig.whatsapp.deliveries().is_empty(),
        "no answer, no read receipt: {:?}",
        rig.whatsapp.deliveries()
    );
    assert_eq!(rig.timers.pending().len(), timers_before, "no timer moved");
    let after = rig.sessions.load(&customer, later).await.unwrap().unwrap();
    assert_eq!(
        after.session.last_inbound_at,
        before.session.last_inbound_at
    );
    assert_eq!(
        after.session.expires_at(),
        now() + chrono::Duration::hours(24)
    );
    assert_eq!(after.session.history, before.session.history);
    assert_eq!(after.session.state, before.session.state);
    let page = log.page(&customer, None, 50, later).await.unwrap();
    assert!(
        page.lines.iter().any(|l| l.entry.line
            == LogLine::Event(ConversationEvent::WhatsAppNotice {
                notice: "user_changed_number".into(),
                text: Some("User A changed from 5511987654321 to 5511987650000".into()),
                new_number: Some("5511987650000".into()),
            })),
        "the number change is in the conversation log"
    );
    // Without a conversation, nothing is opened.
    assert_eq!(
        processor
            .handle(&whatsapp_notice("5521999990000", "wamid.sys2", later))
            .await
            .unwrap(),
        Outcome::NoSession
    );
    assert!(rig.whatsapp.deliveries().is_empty());
    assert!(
        rig.sessions
            .load(&CustomerId::Phone("5521999990000".into()), later)
            .await
            .unwrap()
            .is_none()
    );
}

/// A session store that keeps the largest record it was asked to save (as the DynamoDB item's
/// `record` attribute holds it: JSON, UTF-8).
#[derive(Default)]
struct SizeWatchingStore {
    inner: MemorySessionStore,
    largest: std::sync::Mutex<(usize, String)>,
}

#[async_trait::async_trait]
impl SessionStore for SizeWatchingStore {
    async fn load(
        &self,
        customer: &CustomerId,
        now: DateTime<Utc>,
    ) -> Result<Option<atende_shared::domain::SessionRecord>, StoreError> {
        self.inner.load(customer, now).await
    }

    async fn save(
        &self,
        record: &atende_shared::domain::SessionRecord,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let size = serde_json::to_vec(record).unwrap().len();
        {
            let mut largest = self.largest.lock().unwrap();
            if size > largest.0 {
                *largest = (size, format!("{:?}", record.session.state));
            }
        }
        self.inner.save(record, now).await
    }

    async fn erase(&self, customer: &CustomerId) -> Result<bool, StoreError> {
        self.inner.erase(customer).await
    }

    async fn link(
        &self,
        alias: &CustomerId,
        customer: &CustomerId,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner.link(alias, customer, until, now).await
    }
}

/// The longest text WhatsApp lets a customer send (4,096 characters), of the heaviest kind:
/// family emoji (7 characters, 25 bytes each), flags, faces, accents.
fn longest_text(n: usize) -> String {
    let pieces = ["👨‍👩‍👧‍👦", "🇧🇷", "😀", "ção ", "🏳️‍🌈"];
    let mut text = format!("{n} ");
    let mut i = 0;
    while text.chars().count() + 7 <= 4096 {
        text.push_str(pieces[i % pieces.len()]);
        i += 1;
    }
    text
}

/// Item 12: a session stays under DynamoDB's 400 KB item limit whatever customers type. Every
/// path that keeps a customer's words (the menu, the assistant, a support ticket, a person's
/// turn, a Flow's answers) is fed the longest, heaviest texts WhatsApp allows, many times;
/// no record the processor saves comes near the limit.
#[tokio::test]
async fn a_session_stays_under_dynamodbs_item_limit_whatever_customers_type() {
    use atende_shared::adapters::MemoryAssistant;
    let store = Arc::new(SizeWatchingStore::default());
    let mut config_text = atende_shared::domain::config::EMBEDDED.to_owned();
    config_text.push('\n');
    config_text.push_str(include_str!("fixtures/config/scheduling-flow.toml"));
    let config = Arc::new(Config::from_toml(&config_text).unwrap());
    let whatsapp = Arc::new(MemoryWhatsApp::new());
    let bare = |assistant: Option<Arc<MemoryAssistant>>| {
        let processor = Processor::new(
            store.clone(),
            Arc::new(MemoryAttendanceQueue::new()),
            whatsapp.clone(),
            Arc::new(MemoryTimers::new()),
            Arc::new(ManualClock::new(now())),
            config.clone(),
        );
        match assistant {
            Some(a) => processor.with_assistant(a),
            None => processor,
        }
    };
    let chatty = Arc::new(MemoryAssistant::new().otherwise(&longest_text(0), false));
    let with_assistant = bare(Some(chatty));
    let without = bare(None);
    // (processor, customer, what they say first)
    let flow_reply = {
        let mut fields = serde_json::Map::new();
        fields.insert("flow_token".into(), json!("agendamento:1795521600"));
        for n in 0..200 {
            fields.insert(
                format!("field_{n}_{}", longest_text(n)),
                json!(longest_text(n)),
            );
        }
        serde_json::Value::Object(fields).to_string()
    };
    let paths: [(&Processor, &str, Vec<MessageContent>); 4] = [
        (&with_assistant, "5501", vec![]),
        (&without, "5502", vec![]),
        (
            &without,
            "5503",
            vec![MessageContent::Text {
                body: "suporte".into(),
            }],
        ),
        (
            &without,
            "5504",
            vec![
                MessageContent::Text { body: "5".into() },
                MessageContent::FlowReply {
                    response_json: flow_reply,
                },
            ],
        ),
    ];
    for (processor, customer, first) in paths {
        let mut said = vec![MessageContent::Text { body: "oi".into() }];
        said.extend(first);
        said.extend((1..=40).map(|n| MessageContent::Text {
            body: longest_text(n),
        }));
        for (n, content) in said.into_iter().enumerate() {
            let mut event = text(customer, &format!("wamid.{customer}.{n}"), "");
            if let EventKind::Message(message) = &mut event.kind {
                message.content = content;
            }
            processor.handle(&event).await.unwrap();
        }
    }
    let (largest, state) = store.largest.lock().unwrap().clone();
    eprintln!("largest session record: {largest} bytes ({state})");
    assert!(
        largest < 100 * 1024,
        "a session record of {largest} bytes (in {state}); DynamoDB takes 400 KB at most"
    );
}

/// A session store where, the first time a record with a send of unknown outcome is saved,
/// another delivery has just written the customer's record (a status, say): the save meets a
/// conflict.
#[derive(Default)]
struct InterferingStore {
    inner: MemorySessionStore,
    interfered: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl SessionStore for InterferingStore {
    async fn load(
        &self,
        customer: &CustomerId,
        now: DateTime<Utc>,
    ) -> Result<Option<atende_shared::domain::SessionRecord>, StoreError> {
        self.inner.load(customer, now).await
    }

    async fn save(
        &self,
        record: &atende_shared::domain::SessionRecord,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        if !record.session.unconfirmed.is_empty()
            && !self
                .interfered
                .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            let mut other = self
                .inner
                .load(&record.session.customer, now)
                .await?
                .unwrap();
            other.session.profile_name = Some("Maria".into());
            self.inner.save(&other, now).await?;
        }
        self.inner.save(record, now).await
    }

    async fn erase(&self, customer: &CustomerId) -> Result<bool, StoreError> {
        self.inner.erase(customer).await
    }

    async fn link(
        &self,
        alias: &CustomerId,
        customer: &CustomerId,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner.link(alias, customer, until, now).await
    }
}

/// Item 14: after a save conflict, a pending "resend if unconfirmed" timer is kept. The
/// greeting's send ends in doubt (a 502 without a Graph code); the save after it meets another
/// delivery's write, and the processor adopts the newer record: the timer set for the doubtful
/// send is carried into it (and scheduled), so two minutes later, unconfirmed, it goes again.
#[tokio::test]
async fn after_a_save_conflict_the_resend_if_unconfirmed_timer_is_kept() {
    use atende_shared::domain::TimerKind;
    let store = Arc::new(InterferingStore::default());
    let whatsapp = Arc::new(MemoryWhatsApp::new());
    let timers = Arc::new(MemoryTimers::new());
    let clock = Arc::new(ManualClock::new(now()));
    let processor = Processor::new(
        store.clone(),
        Arc::new(MemoryAttendanceQueue::new()),
        whatsapp.clone(),
        timers.clone(),
        clock.clone(),
        Arc::new(Config::embedded().unwrap()),
    );
    whatsapp.fail_next_sends_with(1, 502, None);
    processor
        .handle(&text("5511", "wamid.1", "oi"))
        .await
        .unwrap();
    assert!(
        store.interfered.load(std::sync::atomic::Ordering::SeqCst),
        "the save met a conflict"
    );
    assert_eq!(sent_texts(&whatsapp), ["5511: [list]"]);
    let session = store
        .load(&CustomerId::Phone("5511".into()), now())
        .await
        .unwrap()
        .unwrap()
        .session;
    assert_eq!(
        session.profile_name.as_deref(),
        Some("Maria"),
        "the newer record"
    );
    assert_eq!(session.unconfirmed.len(), 1);
    let due = session.timers.get(&TimerKind::Unconfirmed).copied();
    assert_eq!(due, Some(now() + chrono::Duration::minutes(2)));
    assert!(
        timers.pending().iter().any(|(at, _)| Some(*at) == due),
        "scheduled: {:?}",
        timers.pending()
    );
    clock.advance(chrono::Duration::minutes(2));
    for event in timers.due(clock.now()) {
        processor.handle(&event).await.unwrap();
    }
    assert_eq!(
        sent_texts(&whatsapp),
        ["5511: [list]", "5511: Olá! 👋 Bem-vindo(a) à Atende Demo."],
        "unconfirmed, the greeting went again"
    );
}

/// Lines written to a buffer, as CloudWatch would receive them.
#[derive(Clone, Default)]
struct Lines(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Logs carry the invocation and the event: every line the processor writes while it handles
/// a record (its adapters' too) names the event by its digest, and the invocation says whether
/// it was a cold start (the request id comes from the runtime's own span, around ours); no
/// line names the message id itself.
#[tokio::test]
async fn logs_carry_the_event_and_whether_the_start_was_cold() {
    use tracing_subscriber::fmt::MakeWriter;
    struct Make(Lines);
    impl<'a> MakeWriter<'a> for Make {
        type Writer = Lines;
        fn make_writer(&'a self) -> Lines {
            self.0.clone()
        }
    }
    let lines = Lines::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_current_span(false)
        .with_span_list(true)
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(Make(lines.clone()))
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let rig = rig();
    let id = "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjA013QUFBQUFBQUFBQUFBQUFBAA==";
    let batch = || {
        fifo_batch(&[(
            "5511",
            serde_json::to_string(&text("5511", id, "oi")).unwrap(),
        )])
    };
    for _ in 0..2 {
        edge::lambda::processor_until(&rig.processor, batch(), None).await;
    }
    let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    let logged: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(logged.len() >= 2, "{text}");
    let digest = atende_shared::logging::IdDigest(id).to_string();
    let mut cold = Vec::new();
    for line in &logged {
        let spans = line["spans"].as_array().expect("the spans a line is in");
        let invocation = spans
            .iter()
            .find(|s| s["name"] == "invocation")
            .expect("every line in its invocation");
        cold.push(invocation["cold_start"].as_bool().unwrap());
        let event = spans
            .iter()
            .find(|s| s["name"] == "event")
            .expect("in its event");
        assert_eq!(event["event_id"].as_str(), Some(digest.as_str()), "{line}");
    }
    assert!(!text.contains("wamid."), "a message id in clear: {text}");
    // The process's first invocation is the cold one (another test may have had it).
    assert_eq!(cold.last(), Some(&false), "a later invocation is warm");
}

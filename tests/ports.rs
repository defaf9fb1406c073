//! One contract per port, run against every adapter of the port: the memory adapters always,
//! the AWS adapters against an emulator on loopback (moto).
//!
//! The AWS runs are `#[ignore]`d by a plain `cargo test` (listed as ignored, with the reason);
//! `bash tests/run` starts moto, points `AWS_ENDPOINT_URL` at it and runs them too.

use atende_shared::adapters::aws::{self, aws_sdk_sqs, resources};
use atende_shared::adapters::{
    DynamoDbAttendanceQueue, DynamoDbSessionStore, MemoryAttendanceQueue, MemoryEventQueue,
    MemorySessionStore, SqsEventQueue,
};
use atende_shared::domain::sla::{Priority, WaitingCustomer};
use atende_shared::domain::{
    CustomerId, EventKind, InboundMessage, MessageContent, QueueEvent, Session, SessionRecord,
    State,
};
use atende_shared::ports::{AttendanceQueue, EventQueue, SessionStore, StoreError};
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;

fn t0() -> DateTime<Utc> {
    "2026-11-24T12:00:00Z".parse().unwrap()
}

fn phone(n: &str) -> CustomerId {
    CustomerId::Phone(n.into())
}

// ---------------------------------------------------------------- SessionStore

async fn session_store_contract(store: &dyn SessionStore) {
    let maria = phone("5511987654321");
    assert!(
        store.load(&maria, t0()).await.unwrap().is_none(),
        "empty store"
    );

    // Create: version 0 means "nothing live stored".
    let mut record = SessionRecord::new(Session::new(maria.clone(), t0()));
    record.remember("wamid.1");
    let v1 = store.save(&record, t0()).await.unwrap();
    assert!(v1 > 0);
    let loaded = store.load(&maria, t0()).await.unwrap().expect("saved");
    assert_eq!(loaded.version, v1);
    assert_eq!(loaded.session, record.session);
    assert!(loaded.has_applied("wamid.1"));

    // A second creator loses: the record exists.
    assert!(matches!(
        store.save(&record, t0()).await,
        Err(StoreError::Conflict)
    ));

    // Update at the version read; a stale writer loses.
    let mut update = loaded.clone();
    update.session.state = State::MainMenu;
    let v2 = store.save(&update, t0()).await.unwrap();
    assert_ne!(v2, v1);
    let mut stale = loaded.clone();
    stale.session.bot_attempts = 9;
    assert!(matches!(
        store.save(&stale, t0()).await,
        Err(StoreError::Conflict)
    ));
    let now_stored = store.load(&maria, t0()).await.unwrap().unwrap();
    assert_eq!(now_stored.session.state, State::MainMenu);
    assert_eq!(now_stored.session.bot_attempts, 0);

    // Past the 24-hour window the record reads as absent, and a new one may replace it.
    let later = t0() + Duration::hours(24);
    assert!(store.load(&maria, later).await.unwrap().is_none());
    assert!(
        store
            .load(&maria, later - Duration::seconds(1))
            .await
            .unwrap()
            .is_some()
    );
    let fresh = SessionRecord::new(Session::new(maria.clone(), later));
    let v3 = store.save(&fresh, later).await.unwrap();
    let reloaded = store.load(&maria, later).await.unwrap().unwrap();
    assert_eq!(
        (reloaded.version, reloaded.session.state),
        (v3, State::Start)
    );

    // Customers are independent; user-id customers are stored like phones.
    let user = CustomerId::User("US.13491208655302741918".into());
    assert!(store.load(&user, later).await.unwrap().is_none());
    store
        .save(
            &SessionRecord::new(Session::new(user.clone(), later)),
            later,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .load(&user, later)
            .await
            .unwrap()
            .unwrap()
            .session
            .customer,
        user
    );
}

// ---------------------------------------------------------------- AttendanceQueue

async fn attendance_queue_contract(queue: &dyn AttendanceQueue) {
    let wait = |who: &str, dept: &str, priority, minutes| WaitingCustomer {
        customer: phone(who),
        department: dept.into(),
        priority,
        entered_at: t0() + Duration::minutes(minutes),
    };
    assert!(queue.waiting().await.unwrap().is_empty());
    queue
        .enqueue(wait("a", "suporte", Priority::Normal, 0))
        .await
        .unwrap();
    queue
        .enqueue(wait("b", "suporte", Priority::Normal, 1))
        .await
        .unwrap();
    queue
        .enqueue(wait("vip", "suporte", Priority::High, 2))
        .await
        .unwrap();
    queue
        .enqueue(wait("c", "vendas", Priority::Normal, 0))
        .await
        .unwrap();
    // Enqueued again later: keeps the first place.
    queue
        .enqueue(wait("a", "suporte", Priority::Normal, 5))
        .await
        .unwrap();

    let order = |w: Vec<WaitingCustomer>| -> Vec<(String, String)> {
        w.into_iter()
            .map(|w| (w.department, w.customer.key().to_owned()))
            .collect()
    };
    let pair = |d: &str, c: &str| (d.to_owned(), c.to_owned());
    assert_eq!(
        order(queue.waiting().await.unwrap()),
        [
            pair("suporte", "vip"),
            pair("suporte", "a"),
            pair("suporte", "b"),
            pair("vendas", "c")
        ]
    );
    let pos = |dept: &'static str, who: &'static str| {
        let queue = &queue;
        async move { queue.position(dept, &phone(who)).await.unwrap() }
    };
    assert_eq!(pos("suporte", "vip").await, Some(1));
    assert_eq!(pos("suporte", "a").await, Some(2));
    assert_eq!(pos("suporte", "b").await, Some(3));
    assert_eq!(pos("vendas", "c").await, Some(1));
    assert_eq!(pos("vendas", "a").await, None);
    assert_eq!(pos("suporte", "nobody").await, None);
    let a = queue
        .waiting()
        .await
        .unwrap()
        .into_iter()
        .find(|w| w.customer == phone("a"))
        .unwrap();
    assert_eq!(a.entered_at, t0(), "the first arrival time is kept");

    queue.remove("suporte", &phone("a")).await.unwrap();
    queue.remove("suporte", &phone("nobody")).await.unwrap();
    queue.remove("vendas", &phone("b")).await.unwrap();
    assert_eq!(
        order(queue.waiting().await.unwrap()),
        [
            pair("suporte", "vip"),
            pair("suporte", "b"),
            pair("vendas", "c")
        ]
    );
    // Removed, then back: a new place at the end.
    queue
        .enqueue(wait("a", "suporte", Priority::Normal, 10))
        .await
        .unwrap();
    assert_eq!(
        order(queue.waiting().await.unwrap())[2],
        pair("suporte", "a")
    );
}

/// Twenty agents claim at once from a line of five: each customer goes to exactly one agent,
/// in priority-then-arrival order, and the line ends empty.
async fn claim_contract(queue: std::sync::Arc<dyn AttendanceQueue>) {
    enqueue_in_line(&*queue, &["c1", "c2", "c3", "c4", "c5"], "c4").await;
    assert_eq!(
        queue.claim_next("suporte").await.unwrap(),
        None,
        "another department's line is empty"
    );
    let claims: Vec<_> = (0..20)
        .map(|_| {
            let q = queue.clone();
            tokio::spawn(async move { q.claim_next("vendas").await.unwrap() })
        })
        .collect();
    let mut claimed = Vec::new();
    for c in claims {
        if let Some(w) = c.await.unwrap() {
            claimed.push(w.customer.key().to_owned());
        }
    }
    claimed.sort();
    assert_eq!(
        claimed,
        ["c1", "c2", "c3", "c4", "c5"],
        "each customer exactly once"
    );
    assert!(queue.waiting().await.unwrap().is_empty());
    // In order when claimed one by one: the VIP first.
    enqueue_in_line(&*queue, &["a", "b", "vip"], "vip").await;
    let mut order = Vec::new();
    while let Some(w) = queue.claim_next("vendas").await.unwrap() {
        order.push(w.customer.key().to_owned());
    }
    assert_eq!(order, ["vip", "a", "b"]);
}

/// Puts `who` in the vendas line a minute apart, `vip` with high priority.
async fn enqueue_in_line(queue: &dyn AttendanceQueue, who: &[&str], vip: &str) {
    for (n, customer) in who.iter().enumerate() {
        let priority = if *customer == vip {
            Priority::High
        } else {
            Priority::Normal
        };
        queue
            .enqueue(WaitingCustomer {
                customer: phone(customer),
                department: "vendas".into(),
                priority,
                entered_at: t0() + Duration::minutes(n as i64),
            })
            .await
            .unwrap();
    }
}

// ---------------------------------------------------------------- EventQueue

fn event(customer: &str, n: usize) -> QueueEvent {
    QueueEvent {
        id: format!("wamid.{customer}.{n}"),
        customer: Some(phone(customer)),
        business_number: Some("106540352242922".into()),
        kind: EventKind::Message(InboundMessage {
            id: format!("wamid.{customer}.{n}"),
            sent_at: Some(t0()),
            profile_name: Some("Conceição".into()),
            content: MessageContent::Text {
                body: format!("mensagem {n} – ç"),
            },
        }),
    }
}

/// Enqueues 25 events of three customers (more than two SQS batches), some twice, and checks
/// what a consumer receives: each once, in order within each customer.
async fn event_queue_contract<F, Fut>(queue: &dyn EventQueue, receive_all: F)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Vec<QueueEvent>>,
{
    let events: Vec<QueueEvent> = (0..25)
        .map(|n| event(["5511", "5521", "5531"][n % 3], n))
        .collect();
    queue.enqueue(&events).await.unwrap();
    queue.enqueue(&events[20..]).await.unwrap(); // a webhook retry
    queue.enqueue(&[]).await.unwrap();
    let received = receive_all().await;
    assert_eq!(received.len(), 25, "each event once");
    let mut per_customer: HashMap<String, Vec<String>> = HashMap::new();
    for e in &received {
        per_customer
            .entry(e.group())
            .or_default()
            .push(e.id.clone());
    }
    for (customer, ids) in per_customer {
        let want: Vec<String> = events
            .iter()
            .filter(|e| e.group() == customer)
            .map(|e| e.id.clone())
            .collect();
        assert_eq!(ids, want, "order of {customer}");
    }
    assert_eq!(
        received.iter().find(|e| e.id == events[7].id),
        Some(&events[7]),
        "bodies survive the trip"
    );
}

// ---------------------------------------------------------------- memory adapters

#[tokio::test]
async fn memory_session_store() {
    session_store_contract(&MemorySessionStore::new()).await;
}

#[tokio::test]
async fn memory_attendance_queue() {
    attendance_queue_contract(&MemoryAttendanceQueue::new()).await;
    claim_contract(std::sync::Arc::new(MemoryAttendanceQueue::new())).await;
}

#[tokio::test]
async fn memory_event_queue() {
    let queue = MemoryEventQueue::new();
    event_queue_contract(&queue, || async { queue.drain() }).await;
}

// ---------------------------------------------------------------- AWS adapters (moto)

/// The SDK configuration, refusing anything but an emulator on loopback.
async fn emulator() -> aws::SdkConfig {
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .expect("AWS_ENDPOINT_URL must point at the emulator (bash tests/run sets it)");
    assert!(
        endpoint.starts_with("http://127.0.0.1:") || endpoint.starts_with("http://localhost:"),
        "AWS tests only run against an emulator on loopback, not {endpoint}"
    );
    aws::sdk_config().await
}

fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}-{}",
        std::process::id(),
        Utc::now().timestamp_micros(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

#[tokio::test]
#[ignore = "needs an AWS emulator: run `bash tests/run`"]
async fn dynamodb_session_store() {
    let sdk = emulator().await;
    let client = aws::dynamodb(&sdk);
    let table = unique("sessions");
    resources::create_sessions_table(&client, &table)
        .await
        .unwrap();
    session_store_contract(&DynamoDbSessionStore::new(client, table)).await;
}

#[tokio::test]
#[ignore = "needs an AWS emulator: run `bash tests/run`"]
async fn dynamodb_attendance_queue() {
    let sdk = emulator().await;
    let client = aws::dynamodb(&sdk);
    let table = unique("attendance");
    resources::create_attendance_table(&client, &table)
        .await
        .unwrap();
    attendance_queue_contract(&DynamoDbAttendanceQueue::new(client, table)).await;
}

#[tokio::test]
#[ignore = "needs an AWS emulator: run `bash tests/run`"]
async fn sqs_event_queue() {
    let sdk = emulator().await;
    let client = aws::sqs(&sdk);
    let url = resources::create_event_queue(&client, &unique("events"), 5)
        .await
        .unwrap();
    let queue = SqsEventQueue::new(client.clone(), url.clone());
    event_queue_contract(&queue, || receive_all(&client, &url)).await;
}

/// Receives and deletes until the queue is empty, checking the FIFO attributes on the way.
async fn receive_all(client: &aws_sdk_sqs::Client, url: &str) -> Vec<QueueEvent> {
    use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
    let mut out = Vec::new();
    let mut empty_rounds = 0;
    while empty_rounds < 2 {
        let received = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap();
        let messages = received.messages();
        if messages.is_empty() {
            empty_rounds += 1;
            continue;
        }
        let mut deletes = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            let event: QueueEvent = serde_json::from_str(m.body().unwrap()).unwrap();
            let attributes = m.attributes().unwrap();
            assert_eq!(
                attributes.get(&MessageSystemAttributeName::MessageGroupId),
                Some(&event.group())
            );
            assert_eq!(
                attributes.get(&MessageSystemAttributeName::MessageDeduplicationId),
                Some(&event.id)
            );
            out.push(event);
            deletes.push(
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle().unwrap())
                    .build()
                    .unwrap(),
            );
        }
        client
            .delete_message_batch()
            .queue_url(url)
            .set_entries(Some(deletes))
            .send()
            .await
            .unwrap();
    }
    out
}

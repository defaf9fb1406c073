//! Exactly-once, proven on the AWS adapters against the emulator (moto): signed webhooks go
//! through the webhook service into the SQS FIFO queue, a consumer hands SQS batches to the
//! processor's Lambda entry point (deleting what succeeded, making failed records visible again
//! as the visibility timeout would), sessions and the attendance queue live in DynamoDB, timers
//! in EventBridge Scheduler, and every Graph API call reaches a local HTTP server that counts
//! them. Faults are injected around the real adapters.
//!
//! P1 redeliveries, P2 crashes at every step, P3 order and poison messages, P4 concurrent
//! processors, P5 late retries; and the AWS requests an inbound text message costs.

mod support;

use async_trait::async_trait;
use atende_shared::adapters::aws::resources;
use atende_shared::adapters::aws::{self, aws_sdk_dynamodb, aws_sdk_scheduler, aws_sdk_sqs};
use atende_shared::adapters::sqs;
use atende_shared::adapters::{
    CloudApiWhatsApp, DynamoDbAttendanceQueue, DynamoDbSessionStore, ManualClock, SchedulerTimers,
    SqsEventQueue,
};
use atende_shared::app::{ProcessError, Processor, Webhook, WebhookSecrets};
use atende_shared::domain::{Config, CustomerId, Party, QueueEvent, Sendable, SessionRecord};
use atende_shared::edge;
use atende_shared::ports::{
    AttendanceQueue, Clock, SentMessage, SessionStore, StoreError, WhatsApp, WhatsAppError,
};
use atende_shared::secret::Secret;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use support::{GraphRequest, GraphStub};

const BUSINESS_NUMBER: &str = "106540352242922";

fn t0() -> DateTime<Utc> {
    // A Tuesday, 9:00 in São Paulo: open.
    "2026-11-24T12:00:00Z".parse().unwrap()
}

// ------------------------------------------------------------------ counting AWS requests

/// Every AWS request the clients make, named `service:Operation`.
#[derive(Clone, Debug, Default)]
struct Requests(Arc<Mutex<Vec<String>>>);

impl Requests {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// Names each request from its protocol: `X-Amz-Target` for DynamoDB and SQS (JSON),
/// method and path for Scheduler (REST).
#[derive(Debug)]
struct Count {
    service: &'static str,
    requests: Requests,
}

impl aws_sdk_dynamodb::config::Intercept for Count {
    fn name(&self) -> &'static str {
        "count-requests"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _: &aws_sdk_dynamodb::config::RuntimeComponents,
        _: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let request = context.request();
        let operation = match request.headers().get("x-amz-target") {
            Some(target) => target.rsplit('.').next().unwrap_or(target).to_owned(),
            // REST: the method and the path's first segment (`POST /schedules`).
            None => {
                let uri = request.uri();
                let path = uri.split_once("://").map_or(uri, |(_, rest)| rest);
                let resource = path.split('/').nth(1).unwrap_or_default();
                format!("{} /{resource}", request.method())
            }
        };
        self.requests
            .0
            .lock()
            .unwrap()
            .push(format!("{}:{operation}", self.service));
        Ok(())
    }
}

/// Counted clients on the emulator, and fresh resources named like a stack's.
struct Aws {
    dynamodb: aws_sdk_dynamodb::Client,
    sqs: aws_sdk_sqs::Client,
    scheduler: aws_sdk_scheduler::Client,
    requests: Requests,
    names: resources::Created,
    dlq_url: String,
}

async fn aws() -> Aws {
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .expect("AWS_ENDPOINT_URL must point at the emulator (bash tests/run sets it)");
    assert!(
        endpoint.starts_with("http://127.0.0.1:") || endpoint.starts_with("http://localhost:"),
        "AWS tests only run against an emulator on loopback, not {endpoint}"
    );
    let sdk = aws::sdk_config().await;
    static N: AtomicUsize = AtomicUsize::new(0);
    let prefix = format!(
        "p{}-{}-{}",
        std::process::id(),
        Utc::now().timestamp_micros(),
        N.fetch_add(1, Ordering::SeqCst)
    );
    let names = resources::create_all(&sdk, &prefix).await.unwrap();
    let requests = Requests::default();
    let count = |service| Count {
        service,
        requests: requests.clone(),
    };
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(count("dynamodb"))
            .build(),
    );
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&sdk)
            .interceptor(count("sqs"))
            .build(),
    );
    let scheduler = aws_sdk_scheduler::Client::from_conf(
        aws_sdk_scheduler::config::Builder::from(&sdk)
            .interceptor(count("scheduler"))
            .build(),
    );
    let dlq_url = names
        .events_queue_url
        .replace("-events.fifo", "-events-dlq.fifo");
    Aws {
        dynamodb,
        sqs,
        scheduler,
        requests,
        names,
        dlq_url,
    }
}

// ------------------------------------------------------------------ fault injection

/// One crash, injected at the n-th call (counted from 1) of a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// The n-th session save never reaches the store.
    SaveLost(usize),
    /// The n-th session save is written, then the processor dies.
    CrashAfterSave(usize),
    /// The n-th message never reaches the Graph API.
    SendLost(usize),
    /// The n-th message goes out, then the processor dies before recording it.
    CrashAfterSend(usize),
}

#[derive(Default)]
struct Faults {
    plan: Mutex<Option<Fault>>,
    saves: AtomicUsize,
    sends: AtomicUsize,
    /// While set, the size of the item each session save wrote, in order.
    item_sizes: Mutex<Option<Vec<usize>>>,
}

impl Faults {
    /// Whether `fault` is planned for this call; it fires once.
    fn fires(&self, fault: Fault) -> bool {
        let mut plan = self.plan.lock().unwrap();
        if *plan == Some(fault) {
            *plan = None;
            true
        } else {
            false
        }
    }
}

struct FaultySessions {
    inner: DynamoDbSessionStore,
    faults: Arc<Faults>,
    /// The table underneath, to read back what a save wrote.
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
}

#[async_trait]
impl SessionStore for FaultySessions {
    async fn load(
        &self,
        customer: &CustomerId,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.inner.load(customer, now).await
    }

    async fn save(&self, record: &SessionRecord, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let n = self.faults.saves.fetch_add(1, Ordering::SeqCst) + 1;
        if self.faults.fires(Fault::SaveLost(n)) {
            return Err(StoreError::Unavailable("injected: save lost".into()));
        }
        let saved = self.inner.save(record, now).await?;
        if self.faults.item_sizes.lock().unwrap().is_some() {
            let size = item_bytes(&self.dynamodb, &self.table, record.session.customer.key()).await;
            if let Some(sizes) = self.faults.item_sizes.lock().unwrap().as_mut() {
                sizes.push(size);
            }
        }
        if self.faults.fires(Fault::CrashAfterSave(n)) {
            return Err(StoreError::Unavailable(
                "injected: crash after the save".into(),
            ));
        }
        Ok(saved)
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

struct FaultyWhatsApp {
    inner: CloudApiWhatsApp,
    faults: Arc<Faults>,
}

#[async_trait]
impl WhatsApp for FaultyWhatsApp {
    async fn media(&self, media_id: &str) -> Result<atende_shared::ports::Media, WhatsAppError> {
        self.inner.media(media_id).await
    }

    async fn send(
        &self,
        from: &str,
        to: &CustomerId,
        message: &Sendable,
    ) -> Result<SentMessage, WhatsAppError> {
        let n = self.faults.sends.fetch_add(1, Ordering::SeqCst) + 1;
        if self.faults.fires(Fault::SendLost(n)) {
            return Err(WhatsAppError::Transport("injected: connection lost".into()));
        }
        let sent = self.inner.send(from, to, message).await?;
        if self.faults.fires(Fault::CrashAfterSend(n)) {
            return Err(WhatsAppError::Transport(
                "injected: crash after the send".into(),
            ));
        }
        Ok(sent)
    }

    async fn mark_read(
        &self,
        from: &str,
        message_id: &str,
        typing: bool,
    ) -> Result<(), WhatsAppError> {
        self.inner.mark_read(from, message_id, typing).await
    }
}

// ------------------------------------------------------------------ the pipeline

struct Pipeline {
    aws: Aws,
    graph: GraphStub,
    webhook: Webhook,
    processor: Arc<Processor>,
    sessions: DynamoDbSessionStore,
    attendance: DynamoDbAttendanceQueue,
    clock: Arc<ManualClock>,
    faults: Arc<Faults>,
}

fn processor_on(
    aws: &Aws,
    graph: &GraphStub,
    clock: Arc<ManualClock>,
    faults: Arc<Faults>,
) -> Processor {
    let whatsapp =
        CloudApiWhatsApp::new(&graph.base_url, Secret::new(support::ACCESS_TOKEN).unwrap())
            .unwrap();
    Processor::new(
        Arc::new(FaultySessions {
            inner: DynamoDbSessionStore::new(aws.dynamodb.clone(), &aws.names.sessions_table),
            faults: faults.clone(),
            dynamodb: aws.dynamodb.clone(),
            table: aws.names.sessions_table.clone(),
        }),
        Arc::new(DynamoDbAttendanceQueue::new(
            aws.dynamodb.clone(),
            &aws.names.attendance_table,
        )),
        Arc::new(FaultyWhatsApp {
            inner: whatsapp,
            faults,
        }),
        Arc::new(SchedulerTimers::new(
            aws.scheduler.clone(),
            &aws.names.schedule_group,
            &aws.names.events_queue_arn,
            "arn:aws:iam::123456789012:role/atende-scheduler",
            clock.clone(),
        )),
        clock,
        Arc::new(Config::embedded().unwrap()),
    )
}

async fn pipeline() -> Pipeline {
    let aws = aws().await;
    let graph = GraphStub::start().await;
    let clock = Arc::new(ManualClock::new(t0()));
    let faults = Arc::new(Faults::default());
    let processor = Arc::new(processor_on(&aws, &graph, clock.clone(), faults.clone()));
    let webhook = Webhook::new(
        WebhookSecrets {
            app_secret: Secret::new(support::APP_SECRET).unwrap(),
            verify_token: Secret::new(support::VERIFY_TOKEN).unwrap(),
        },
        Arc::new(SqsEventQueue::new(
            aws.sqs.clone(),
            &aws.names.events_queue_url,
        )),
    );
    let sessions = DynamoDbSessionStore::new(aws.dynamodb.clone(), &aws.names.sessions_table);
    let attendance =
        DynamoDbAttendanceQueue::new(aws.dynamodb.clone(), &aws.names.attendance_table);
    aws.requests.take();
    Pipeline {
        aws,
        graph,
        webhook,
        processor,
        sessions,
        attendance,
        clock,
        faults,
    }
}

/// A Meta delivery of one text message, sent at `sent_at`.
fn text_webhook(wa_id: &str, message_id: &str, body: &str, sent_at: DateTime<Utc>) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "551130000000", "phone_number_id": BUSINESS_NUMBER},
            "contacts": [{"profile": {"name": "Maria Silva"}, "wa_id": wa_id}],
            "messages": [{
                "from": wa_id, "id": message_id, "timestamp": sent_at.timestamp().to_string(),
                "type": "text", "text": {"body": body}
            }]
        }}]}]
    }))
    .unwrap()
}

impl Pipeline {
    /// POSTs a signed webhook as Meta does; returns the HTTP status.
    async fn deliver(&self, body: &[u8]) -> u16 {
        let signature = support::sign(body);
        edge::http::post(&self.webhook, Some(&signature), body)
            .await
            .status
    }

    /// A customer's text, sent now.
    async fn says(&self, wa_id: &str, message_id: &str, body: &str) {
        let status = self
            .deliver(&text_webhook(wa_id, message_id, body, self.clock.now()))
            .await;
        assert_eq!(status, 200);
    }

    /// What the Lambda event source mapping does until the queue is empty: receive batches,
    /// hand them to the processor, delete what succeeded; a failed record becomes visible
    /// again at once (as when its visibility timeout ends) and goes to the dead-letter queue
    /// after maxReceiveCount receives. Returns how many batches failed records.
    async fn drain(&self) -> usize {
        drain_with(&self.aws, &self.processor).await
    }

    /// The Graph API's message requests (not read receipts) to `wa_id`, as texts.
    fn sent_to(&self, wa_id: &str) -> Vec<String> {
        self.graph
            .requests()
            .iter()
            .filter(|r| !r.is_mark_read() && r.to() == wa_id)
            .map(describe)
            .collect()
    }

    fn read_receipts(&self) -> usize {
        self.graph
            .requests()
            .iter()
            .filter(|r| r.is_mark_read())
            .count()
    }

    async fn record(&self, wa_id: &str) -> Option<SessionRecord> {
        self.sessions
            .load(&CustomerId::Phone(wa_id.into()), self.clock.now())
            .await
            .unwrap()
    }
}

fn describe(r: &GraphRequest) -> String {
    match r.body["type"].as_str() {
        Some("text") => r.body["text"]["body"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        Some(other) => format!("[{other}]"),
        None => "[?]".into(),
    }
}

async fn drain_with(aws: &Aws, processor: &Processor) -> usize {
    use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
    let url = &aws.names.events_queue_url;
    let mut failing_batches = 0;
    let mut empty = 0;
    while empty < 2 {
        let received = aws
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap();
        let messages = received.messages();
        if messages.is_empty() {
            empty += 1;
            continue;
        }
        empty = 0;
        let event = sqs::lambda_event(messages, &aws.names.events_queue_arn);
        let response = edge::lambda::processor(processor, event).await;
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        if !failed.is_empty() {
            failing_batches += 1;
        }
        let mut deletes = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            let handle = m.receipt_handle().unwrap();
            if failed.contains(&m.message_id().unwrap()) {
                aws.sqs
                    .change_message_visibility()
                    .queue_url(url)
                    .receipt_handle(handle)
                    .visibility_timeout(0)
                    .send()
                    .await
                    .unwrap();
            } else {
                deletes.push(
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(handle)
                        .build()
                        .unwrap(),
                );
            }
        }
        if !deletes.is_empty() {
            aws.sqs
                .delete_message_batch()
                .queue_url(url)
                .set_entries(Some(deletes))
                .send()
                .await
                .unwrap();
        }
    }
    failing_batches
}

async fn queue_depth(aws: &Aws, url: &str) -> usize {
    use aws_sdk_sqs::types::QueueAttributeName;
    let attributes = aws
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap();
    let attributes = attributes.attributes().unwrap();
    [
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
    ]
    .iter()
    .map(|a| attributes[a].parse::<usize>().unwrap())
    .sum()
}

const GREETING: &str = "Olá, Maria Silva! 👋 Bem-vindo(a) à Atende Demo.";

/// The customer's lines in the session's history.
fn said_by_customer(record: &SessionRecord) -> Vec<String> {
    record
        .session
        .history
        .iter()
        .filter(|t| t.from == Party::Customer)
        .map(|t| t.text.clone())
        .collect()
}

// ------------------------------------------------------------------ P1

#[tokio::test]
#[ignore = "needs an AWS emulator: run `bash tests/run`"]
async fn p1_a_webhook_delivered_three_times_is_applied_and_answered_once() {
    let p = pipeline().await;
    let oi = text_webhook("5511900000001", "wamid.P1A", "oi", t0());

    // In a row.
    for _ in 0..3 {
        assert_eq!(p.deliver(&oi).await, 200);
    }
    p.drain().await;
    // Concurrently.
    let (a, b, c) = tokio::join!(p.deliver(&oi), p.deliver(&oi), p.deliver(&oi));
    assert_eq!((a, b, c), (200, 200, 200));
    p.drain().await;
    // Hours apart: past SQS's 5-minute deduplication window the queue takes the same event
    // again (modelled by enqueueing it under a new deduplication id); the session remembers.
    p.clock.advance(Duration::hours(3));
    let events = atende_shared::webhook::split(&oi).unwrap().events;
    p.aws
        .sqs
        .send_message()
        .queue_url(&p.aws.names.events_queue_url)
        .message_group_id(events[0].group())
        .message_deduplication_id("a-later-retry")
        .message_body(serde_json::to_string(&events[0]).unwrap())
        .send()
        .await
        .unwrap();
    p.drain().await;

    assert_eq!(p.sent_to("5511900000001"), [GREETING, "[interactive]"]);
    assert_eq!(p.read_receipts(), 1);
    let record = p.record("5511900000001").await.unwrap();
    assert_eq!(said_by_customer(&record), ["oi"]);
    assert!(record.outbox.is_empty());
}

// ------------------------------------------------------------------ P2

#[tokio::test]
#[ignore = "needs an AWS emulator: run `bash tests/run`"]
async fn p2_a_crash_at_any_step_loses_nothing_and_repeats_at_most_the_send_in_flight() {
    // "oi" to a new customer: save 1 records the event and its outbox (read receipt, timer,
    // greeting, menu); send 1 is the greeting, save 2 records it; send 2 the menu, save 3.
    // Each row: the fault, then how many greetings and menus the customer gets.
    let cases = [
        (Fault::SaveLost(1), 1, 1),
        (Fault::CrashAfterSave(1), 1, 1),
        (Fault::SendLost(1), 1, 1),
        (Fault::CrashAfterSend(1), 2, 1),
        (Fault::SaveLost(2), 2, 1),
        (Fault::CrashAfterSave(2), 1, 1),
        (Fault::SendLost(2), 1, 1),
        (Fault::CrashAfterSend(2), 1, 2),
        (Fault::SaveLost(3), 1, 2),
        (Fault::CrashAfterSave(3), 1, 1),
    ];
    let p = pipeline().await;
    for (n, (fault, greetings, menus)) in cases.into_iter().enumerate() {
        let wa_id = format!("55119100000{n:02}");
        p.faults.saves.store(0, Ordering::SeqCst);
        p.faults.sends.store(0, Ordering::SeqCst);
        *p.faults.plan.lock().unwrap() = Some(fault);
        p.says(&wa_id, &format!("wamid.P2.{n}"), "oi").await;
        let failing = p.drain().await;
        assert_eq!(failing, 1, "{fault:?}: the crash fails one delivery");
        assert_eq!(*p.faults.plan.lock().unwrap(), None, "{fault:?} fired");
        let sent = p.sent_to(&wa_id);
        let count = |what: &str| sent.iter().filter(|s| *s == what).count();
        assert_eq!(
            (count(GREETING), count("[interactive]")),
            (greetings, menus),
            "{fault:?}: {sent:?}"
        );
        assert_eq!(sent.len(), greetings + menus, "{fault:?}: {sent:?}");
        let record = p.record(&wa_id).await.unwrap();
        assert_eq!(said_by_customer(&record), ["oi"], "{fault:?}");
        assert!(record.outbox.is_empty(), "{fault:?}: {:?}", record.outbox);
    }

    // A handoff: queued once, told their place once, whatever crashed.
    for (n, fault) in [
        Fault::SendLost(2),
        Fault::CrashAfterSave(2),
        Fault::SaveLost(2),
    ]
    .into_iter()
    .enumerate()
    {
        let wa_id = format!("55119200000{n:02}");
        p.says(&wa_id, &format!("wamid.P2.h{n}.1"), "oi").await;
        p.drain().await;
        p.faults.saves.store(0, Ordering::SeqCst);
        p.faults.sends.store(0, Ordering::SeqCst);
        *p.faults.plan.lock().unwrap() = Some(fault);
        p.says(&wa_id, &format!("wamid.P2.h{n}.2"), "atendente")
            .await;
        assert_eq!(p.drain().await, 1, "{fault:?}");
        let sent = p.sent_to(&wa_id);
        let positions = sent.iter().filter(|s| s.contains("posição 1")).count();
        assert_eq!(positions, 1, "{fault:?}: {sent:?}");
        let customer = CustomerId::Phone(wa_id.clone());
        assert_eq!(
            p.attendance
                .position("suporte", &customer, t0())
                .await
                .unwrap(),
            Some(1),
            "{fault:?}"
        );
        p.attendance.remove("suporte", &customer).await.unwrap();
    }
}

// ------------------------------------------------------------------ P3

#[tokio::test]
#[ignore = "needs an AWS emulator: run `bash tests/run`"]
async fn p3_order_is_kept_and_a_poison_message_goes_to_the_dead_letter_queue_alone() {
    let p = pipeline().await;
    // A poison message in its own customer's group, queued first.
    p.aws
        .sqs
        .send_message()
        .queue_url(&p.aws.names.events_queue_url)
        .message_group_id("5511999999999")
        .message_deduplication_id("poison-1")
        .message_body(r#"{"not":"a queue event"}"#)
        .send()
        .await
        .unwrap();
    // Two customers, interleaved, three messages each.
    let a = ["oi", "3", "529.982.247-25"];
    let b = ["oi", "4", "menu"];
    for i in 0..3 {
        p.says("5511900000031", &format!("wamid.P3.a{i}"), a[i])
            .await;
        p.says("5511900000032", &format!("wamid.P3.b{i}"), b[i])
            .await;
    }
    p.drain().await;

    let to_a = p.sent_to("5511900000031");
    assert_eq!(to_a.len(), 5, "{to_a:?}");
    assert_eq!(to_a[0], GREETING);
    assert_eq!(to_a[1], "[interactive]");
    assert!(to_a[2].starts_with("Para enviar a segunda via"), "{to_a:?}");
    assert!(to_a[3].starts_with("Obrigado! Vou passar"), "{to_a:?}");
    assert!(to_a[4].contains("posição 1"), "{to_a:?}");
    let to_b = p.sent_to("5511900000032");
    assert_eq!(to_b.len(), 4, "{to_b:?}");
    assert_eq!(to_b[0], GREETING);
    assert_eq!(to_b[1], "[interactive]");
    assert!(to_b[2].starts_with("⏰ Nosso horário"), "{to_b:?}");
    assert_eq!(to_b[3], "[interactive]");

    // Only the poison is dead-lettered, after maxReceiveCount receives; the queue is empty.
    assert_eq!(queue_depth(&p.aws, &p.aws.names.events_queue_url).await, 0);
    assert_eq!(queue_depth(&p.aws, &p.aws.dlq_url).await, 1);
    let dead = p
        .aws
        .sqs
        .receive_message()
        .queue_url(&p.aws.dlq_url)
        .send()
        .await
        .unwrap();
    assert_eq!(
        dead.messages()[0].body(),
        Some(r#"{"not":"a queue event"}"#)
    );
}

// ------------------------------------------------------------------ P4

#[tokio::test]
#[ignore = "needs an AWS emulator: run `bash tests/run`"]
async fn p4_two_processors_on_one_customer_at_once_lose_no_update() {
    let p = pipeline().await;
    let other = processor_on(
        &p.aws,
        &p.graph,
        p.clock.clone(),
        Arc::new(Faults::default()),
    );
    let wa_id = "5511900000041";
    p.says(wa_id, "wamid.P4.0", "oi").await;
    p.drain().await;
    let events = |n: usize, body: &str| {
        atende_shared::webhook::split(&text_webhook(wa_id, &format!("wamid.P4.{n}"), body, t0()))
            .unwrap()
            .events
            .remove(0)
    };
    // Rounds of two different messages handled at the same moment by two processors (what
    // only a visibility-timeout race could cause on SQS FIFO). One may find the other sending
    // this customer's replies (`Busy`: that one sends its replies too); its event comes back,
    // as the queue would deliver it again.
    let mut busy = 0;
    for round in 1..=5 {
        let first: QueueEvent = events(2 * round, &format!("primeira {round}"));
        let second: QueueEvent = events(2 * round + 1, &format!("segunda {round}"));
        let (x, y) = tokio::join!(p.processor.handle(&first), other.handle(&second));
        for (result, processor, event) in [(x, &*p.processor, &first), (y, &other, &second)] {
            match result {
                Ok(_) => {}
                Err(ProcessError::Busy) => {
                    busy += 1;
                    processor.handle(event).await.unwrap();
                }
                Err(e) => panic!("{}: {e}", event.id),
            }
        }
    }
    eprintln!("deliveries that found the other one sending: {busy}");
    let record = p.record(wa_id).await.unwrap();
    // Concurrent messages may be applied in either order; none is lost or applied twice.
    let mut said = said_by_customer(&record);
    let lines = said.len();
    said.sort();
    said.dedup();
    assert_eq!(said.len(), lines, "a message applied twice: {said:?}");
    for round in 1..=5 {
        for id in [2 * round, 2 * round + 1] {
            assert!(
                record.has_applied(&format!("wamid.P4.{id}")),
                "wamid.P4.{id} lost"
            );
        }
    }
    assert!(record.outbox.is_empty());
    assert_eq!(record.sending, None);
    // Whatever the interleaving, each decided reply went out once: the greeting and menu, two
    // "não entendi" with the menu, then (max_bot_attempts = 3) the handoff and the place in
    // line; in the human state the bot stays quiet. Every message was marked read once.
    let sent = p.sent_to(wa_id);
    assert_eq!(sent.len(), 8, "{sent:#?}");
    let count = |prefix: &str| sent.iter().filter(|s| s.starts_with(prefix)).count();
    assert_eq!(count("Desculpe, não entendi"), 2, "{sent:#?}");
    assert_eq!(count("[interactive]"), 3, "{sent:#?}");
    assert_eq!(
        count("Parece que não estou conseguindo ajudar"),
        1,
        "{sent:#?}"
    );
    assert_eq!(count("Você está na posição 1"), 1, "{sent:#?}");
    assert_eq!(p.read_receipts(), 11);
}

// ------------------------------------------------------------------ P5

#[tokio::test]
#[ignore = "needs an AWS emulator: run `bash tests/run`"]
async fn p5_a_message_older_than_the_window_is_recorded_never_answered() {
    let p = pipeline().await;
    let late = text_webhook(
        "5511900000051",
        "wamid.P5",
        "oi",
        t0() - Duration::hours(25),
    );
    assert_eq!(p.deliver(&late).await, 200);
    assert_eq!(p.drain().await, 0, "not retried");
    assert!(p.graph.requests().is_empty(), "{:?}", p.graph.requests());
    assert!(p.record("5511900000051").await.is_none());
    assert_eq!(queue_depth(&p.aws, &p.aws.dlq_url).await, 0);
}

// ------------------------------------------------------------------ requests per message

/// `service:Operation` → how many, sorted.
fn tally(requests: &[String]) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for r in requests {
        match out.iter_mut().find(|(name, _)| name == r) {
            Some((_, n)) => *n += 1,
            None => out.push((r.clone(), 1)),
        }
    }
    out.sort();
    out
}

fn of(requests: &[String], service: &str) -> usize {
    requests
        .iter()
        .filter(|r| r.starts_with(&format!("{service}:")))
        .count()
}

#[tokio::test]
#[ignore = "needs an AWS emulator: run `bash tests/run`"]
async fn the_aws_requests_of_an_inbound_text_message() {
    let p = pipeline().await;
    let wa_id = "5511900000061";
    // What the webhook and the processor do; the consumer's receive/delete calls (the Lambda
    // event source mapping's, on AWS) are left out.
    let measure = |requests: Vec<String>| -> Vec<String> {
        requests
            .into_iter()
            .filter(|r| {
                !matches!(
                    r.as_str(),
                    "sqs:ReceiveMessage" | "sqs:DeleteMessageBatch" | "sqs:ChangeMessageVisibility"
                )
            })
            .collect()
    };

    // A new conversation: "oi" → greeting and menu.
    p.says(wa_id, "wamid.R1", "oi").await;
    p.drain().await;
    let first = measure(p.aws.requests.take());
    // The next message of the conversation: "4" → one answer.
    p.says(wa_id, "wamid.R2", "4").await;
    p.drain().await;
    let next = measure(p.aws.requests.take());
    // A handoff: "atendente" → handoff text and place in line.
    p.says(wa_id, "wamid.R3", "atendente").await;
    p.drain().await;
    let handoff = measure(p.aws.requests.take());

    // A delivery status of a reply ("delivered"): Meta sends up to three per message sent
    // (sent, delivered, read).
    let reply = p.graph.message_ids()[0].clone();
    p.aws.requests.take();
    let status = status_webhook(wa_id, &reply, "delivered", p.clock.now());
    assert_eq!(p.deliver(&status).await, 200);
    p.drain().await;
    let delivered = measure(p.aws.requests.take());
    let item = session_item_bytes(&p.aws, wa_id).await;

    eprintln!("first message (2 replies): {:?}", tally(&first));
    eprintln!("next message (1 reply): {:?}", tally(&next));
    eprintln!("handoff (2 replies): {:?}", tally(&handoff));
    eprintln!("a reply's status: {:?}", tally(&delivered));
    eprintln!("the session's item after these: {item} bytes");

    // The webhook: one SendMessageBatch per delivery.
    for r in [&first, &next, &handoff] {
        assert_eq!(of(r, "sqs"), 1, "{r:?}");
    }
    // The processor, mid-conversation: read the session, save it with its outbox, save after
    // each reply; the inactivity timer is already set.
    assert_eq!(
        tally(&next),
        [
            ("dynamodb:GetItem".to_owned(), 1),
            ("dynamodb:UpdateItem".to_owned(), 2),
            ("sqs:SendMessageBatch".to_owned(), 1),
        ]
    );
    // A new conversation also checks the departments' lines for a leftover from an expired
    // one (one GetItem each) and sets the inactivity timer.
    assert_eq!(of(&first, "dynamodb"), 1 + 3 + 1 + 2, "{first:?}");
    assert_eq!(of(&first, "scheduler"), 1, "{first:?}");
    // A handoff: read, save with the outbox, queue the customer (a guard lookup and one
    // transaction), look up their place (a guard lookup and a count), save after each of the
    // two replies and once more for the agents' notification that follows them.
    assert_eq!(of(&handoff, "dynamodb"), 1 + 1 + 2 + 1 + 3, "{handoff:?}");
    assert_eq!(of(&handoff, "scheduler"), 1, "{handoff:?}");
    // A plain status: read the session, and nothing more here (deployed, the conversation
    // log's status is written: one PutItem); the session is not written again for it.
    assert_eq!(
        tally(&delivered),
        [
            ("dynamodb:GetItem".to_owned(), 1),
            ("sqs:SendMessageBatch".to_owned(), 1),
        ]
    );
    // What a write of it costs: one write unit per KB begun. Mid-conversation (8 lines of
    // history, 5 replies followed, 3 events remembered, ids as long as Meta's) it is one.
    assert!((100..=1_024).contains(&item), "{item} bytes");

    // The first write of an event holds its outbox too (here a new customer's greeting and
    // menu), the next ones what was sent.
    *p.faults.item_sizes.lock().unwrap() = Some(Vec::new());
    p.says("5511900000062", "wamid.R4", "oi").await;
    p.drain().await;
    let writes = p.faults.item_sizes.lock().unwrap().take().unwrap();
    eprintln!("a new customer's writes (outbox, greeting sent, menu sent): {writes:?} bytes");
    assert_eq!(writes.len(), 3, "{writes:?}");
    for size in writes {
        assert!((100..=1_024).contains(&size), "{size} bytes");
    }
}

/// A Meta delivery of one status of a message sent to `wa_id`.
fn status_webhook(wa_id: &str, message_id: &str, status: &str, at: DateTime<Utc>) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "551130000000", "phone_number_id": BUSINESS_NUMBER},
            "statuses": [{
                "id": message_id, "status": status, "timestamp": at.timestamp().to_string(),
                "recipient_id": wa_id
            }]
        }}]}]
    }))
    .unwrap()
}

/// The size DynamoDB bills a session's item by: each attribute's name and value (strings in
/// UTF-8, numbers as their digits, near enough).
async fn session_item_bytes(aws: &Aws, wa_id: &str) -> usize {
    let bytes = item_bytes(&aws.dynamodb, &aws.names.sessions_table, wa_id).await;
    aws.requests.take();
    bytes
}

async fn item_bytes(dynamodb: &aws_sdk_dynamodb::Client, table: &str, key: &str) -> usize {
    use aws_sdk_dynamodb::types::AttributeValue;
    let item = dynamodb
        .get_item()
        .table_name(table)
        .key("customer", AttributeValue::S(key.into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap_or_default();
    item.iter()
        .map(|(name, value)| {
            name.len()
                + match value {
                    AttributeValue::S(s) | AttributeValue::N(s) => s.len(),
                    AttributeValue::B(b) => b.as_ref().len(),
                    AttributeValue::Bool(_) => 1,
                    other => format!("{other:?}").len(),
                }
        })
        .sum()
}

// ------------------------------------------------------------------ log bytes per message

/// Counts the bytes written through it.
#[derive(Clone)]
struct Counted(Arc<AtomicUsize>);

impl std::io::Write for Counted {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.fetch_add(buf.len(), Ordering::Relaxed);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What CloudWatch Logs ingests from atende's own lines for each step of a conversation: the
/// functions' JSON lines at `INFO` (the template's default), spans included, as on Lambda
/// (`logging::init_lambda`'s format, under a span like the runtime's), and the metrics' EMF
/// lines. Lambda's own lines per invocation (`platform.start`, `platform.report`) come on top.
#[tokio::test]
#[ignore = "needs an AWS emulator: run `bash tests/run`"]
async fn the_log_bytes_of_a_conversation() {
    use tracing::Instrument;
    let p = pipeline().await;
    let bytes = Arc::new(AtomicUsize::new(0));
    let processor =
        processor_on(&p.aws, &p.graph, p.clock.clone(), p.faults.clone()).with_metrics(Arc::new(
            atende_shared::metrics::EmfMetrics::to("processor", Box::new(Counted(bytes.clone()))),
        ));
    let written = bytes.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("info")
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .json()
        .with_current_span(false)
        .with_span_list(true)
        .with_writer(move || Counted(written.clone()))
        .finish();
    let _logs = tracing::subscriber::set_default(subscriber);
    let invocation = || {
        tracing::info_span!(
            "Lambda runtime invoke",
            requestId = "5b6a9f0e-3c1d-4e2f-8a7b-9c0d1e2f3a4b",
            xrayTraceId =
                "Root=1-674a2f3b-5c6d7e8f9a0b1c2d3e4f5a6b;Parent=1a2b3c4d5e6f7a8b;Sampled=0"
        )
    };
    let take = || bytes.swap(0, Ordering::Relaxed);
    let wa_id = "5511900000071";
    let mut rows = Vec::new();
    for (step, body) in [("first message", "oi"), ("next message", "4")] {
        let id = format!("wamid.L{}", rows.len());
        let payload = text_webhook(wa_id, &id, body, p.clock.now());
        assert_eq!(p.deliver(&payload).instrument(invocation()).await, 200);
        let webhook = take();
        drain_with(&p.aws, &processor)
            .instrument(invocation())
            .await;
        rows.push((step, webhook, take()));
    }
    let reply = p.graph.message_ids()[0].clone();
    let status = status_webhook(wa_id, &reply, "delivered", p.clock.now());
    assert_eq!(p.deliver(&status).instrument(invocation()).await, 200);
    let webhook = take();
    // Drained until the processor had it (the emulator may show a message a moment late).
    let mut processed = 0;
    for _ in 0..20 {
        drain_with(&p.aws, &processor)
            .instrument(invocation())
            .await;
        processed += take();
        if processed > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    rows.push(("a reply's status", webhook, processed));
    for (step, webhook, processor) in &rows {
        eprintln!("{step}: webhook {webhook} bytes, processor {processor} bytes");
        // Every step logs something (the event at least), none more than a few lines.
        assert!((1..2_000).contains(webhook), "{step}: webhook {webhook}");
        assert!(
            (100..4_000).contains(processor),
            "{step}: processor {processor}"
        );
    }
}

/// Deployed, the webhook records a plain status of a message the bot sent in the conversation
/// log itself: one conditional `UpdateItem` (a `GetItem` for `sent`, which moves nothing), no
/// queue, no processor. A status it cannot place (here, of a message not logged) goes to the
/// queue as before.
#[tokio::test]
#[ignore = "needs an AWS emulator: run `bash tests/run`"]
async fn a_plain_status_of_a_bot_message_is_one_write_at_the_webhook() {
    use atende_shared::adapters::{DynamoDbAgents, DynamoDbConversationLog};
    let p = pipeline().await;
    let log = Arc::new(DynamoDbConversationLog::new(
        p.aws.dynamodb.clone(),
        p.aws.names.log_table.clone(),
    ));
    let processor = processor_on(&p.aws, &p.graph, p.clock.clone(), p.faults.clone()).with_desk(
        Arc::new(DynamoDbAgents::new(
            p.aws.dynamodb.clone(),
            p.aws.names.agents_table.clone(),
        )),
        log.clone(),
    );
    let webhook = Webhook::new(
        WebhookSecrets {
            app_secret: Secret::new(support::APP_SECRET).unwrap(),
            verify_token: Secret::new(support::VERIFY_TOKEN).unwrap(),
        },
        Arc::new(SqsEventQueue::new(
            p.aws.sqs.clone(),
            &p.aws.names.events_queue_url,
        )),
    )
    .with_statuses(log);
    let deliver = |body: Vec<u8>| {
        let signature = support::sign(&body);
        let webhook = &webhook;
        async move {
            edge::http::post(webhook, Some(&signature), &body)
                .await
                .status
        }
    };
    let wa_id = "5511900000081";
    let oi = text_webhook(wa_id, "wamid.S1", "oi", p.clock.now());
    assert_eq!(deliver(oi).await, 200);
    drain_with(&p.aws, &processor).await;
    let greeting = p.graph.message_ids()[0].clone();
    p.aws.requests.take();

    // Whatever the webhook asks of DynamoDB (all of it on the log table), the template grants
    // it: on AWS a call it may not make fails, and the status would go the long way.
    let t = support::template::template();
    let granted = support::template::actions_on(&t, "WebhookFunction", "ConversationLogTable.Arn");
    let check_granted = |requests: &[String]| {
        for r in requests.iter().filter(|r| r.starts_with("dynamodb:")) {
            assert!(granted.contains(r), "{r} is not granted: {granted:?}");
        }
    };

    // `sent` moves nothing (the logged line's status item starts there): a read tells so;
    // `delivered` and `read` are one conditional write each.
    for (status, request) in [
        ("sent", "dynamodb:GetItem"),
        ("delivered", "dynamodb:UpdateItem"),
        ("read", "dynamodb:UpdateItem"),
    ] {
        let body = status_webhook(wa_id, &greeting, status, p.clock.now());
        assert_eq!(deliver(body).await, 200);
        let requests = p.aws.requests.take();
        check_granted(&requests);
        assert_eq!(tally(&requests), [(request.to_owned(), 1)], "{status}");
    }
    assert_eq!(queue_depth(&p.aws, &p.aws.names.events_queue_url).await, 0);
    let page = atende_shared::ports::ConversationLog::page(
        &DynamoDbConversationLog::new(p.aws.dynamodb.clone(), p.aws.names.log_table.clone()),
        &CustomerId::Phone(wa_id.into()),
        None,
        10,
        p.clock.now(),
    )
    .await
    .unwrap();
    assert!(
        page.lines
            .iter()
            .any(|l| l.status == Some(atende_shared::domain::DeliveryStatus::Read)),
        "{page:?}"
    );

    p.aws.requests.take();
    let stranger = status_webhook(wa_id, "wamid.not-logged", "delivered", p.clock.now());
    assert_eq!(deliver(stranger).await, 200);
    let requests = p.aws.requests.take();
    check_granted(&requests);
    assert_eq!(
        tally(&requests),
        [
            ("dynamodb:UpdateItem".to_owned(), 1),
            ("sqs:SendMessageBatch".to_owned(), 1)
        ]
    );
}

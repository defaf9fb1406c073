//! One contract per port, run against every adapter of the port: the memory adapters always,
//! the AWS adapters against an emulator on loopback (moto).
//!
//! The AWS runs are `#[ignore]`d by a plain `cargo test` (listed as ignored, with the reason);
//! `bash tests/run` starts moto, points `AWS_ENDPOINT_URL` at it and runs them too.

mod support;

use atende_shared::adapters::aws::{self, aws_sdk_scheduler, aws_sdk_sqs, resources};
use atende_shared::adapters::{
    DynamoDbAttendanceQueue, DynamoDbSessionStore, ManualClock, MemoryAttendanceQueue,
    MemoryEventQueue, MemorySessionStore, MemoryTimers, SchedulerTimers, SqsEventQueue,
};
use atende_shared::domain::sla::{Priority, WaitingCustomer};
use atende_shared::domain::{
    CustomerId, EventKind, InboundMessage, MessageContent, Party, QueueEvent, Session,
    SessionRecord, State,
};
use atende_shared::domain::{TimerFired, TimerKind};
use atende_shared::ports::{
    AttendanceQueue, EventQueue, QueueError, SessionStore, StoreError, Timers,
};
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

    // Erased on request: gone, live or not; the other customer stays.
    assert!(store.erase(&maria).await.unwrap());
    assert!(store.load(&maria, later).await.unwrap().is_none());
    assert!(!store.erase(&maria).await.unwrap(), "nothing left to erase");
    assert!(store.load(&user, later).await.unwrap().is_some());
    let fresh = SessionRecord::new(Session::new(maria.clone(), later));
    store.save(&fresh, later).await.unwrap();
}

/// Item 9: a customer known by two names (a user id, a phone) has one session: the other name
/// is a link to it, never over a live session of its own, replaced by one saved under it,
/// ended with its time or with the session's erasure.
/// The name the record `name` leads to is kept under (following a link).
async fn kept_under(store: &dyn SessionStore, name: &CustomerId, at: DateTime<Utc>) -> CustomerId {
    store
        .load(name, at)
        .await
        .unwrap()
        .expect("a record")
        .session
        .customer
}

async fn a_customer_known_by_two_names_has_one_session(store: &dyn SessionStore) {
    let user = CustomerId::User("US.13491208655302741918".into());
    let phone = phone("5511912345678");
    let mut record = SessionRecord::new(Session::new(user.clone(), t0()));
    store.save(&record, t0()).await.unwrap();
    let until = t0() + Duration::days(2);
    assert!(store.link(&phone, &user, until, t0()).await.unwrap());
    let found = store
        .load(&phone, t0())
        .await
        .unwrap()
        .expect("through the link");
    assert_eq!(found.session.customer, user);
    record.version = found.version;
    // Saved through either name, it is the one record.
    record.session.state = State::MainMenu;
    record.session.aliases.push(phone.clone());
    let v = store.save(&record, t0()).await.unwrap();
    let by_user = store.load(&user, t0()).await.unwrap().unwrap();
    let by_phone = store.load(&phone, t0()).await.unwrap().unwrap();
    assert_eq!((by_user.version, by_phone.version), (v, v));
    assert_eq!(by_phone.session.state, State::MainMenu);
    // A name with a live session of its own is not linked away from it.
    assert!(!store.link(&user, &phone, until, t0()).await.unwrap());
    assert_eq!(kept_under(store, &user, t0()).await, user);
    // Erasing the session ends its links.
    assert!(store.erase(&user).await.unwrap());
    assert!(store.load(&phone, t0()).await.unwrap().is_none());
    assert!(store.load(&user, t0()).await.unwrap().is_none());

    // A link ends with its time.
    let other = CustomerId::User("US.2".into());
    store
        .save(&SessionRecord::new(Session::new(other.clone(), t0())), t0())
        .await
        .unwrap();
    let short = t0() + Duration::hours(1);
    assert!(store.link(&phone, &other, short, t0()).await.unwrap());
    assert!(store.load(&phone, t0()).await.unwrap().is_some());
    assert!(store.load(&phone, short).await.unwrap().is_none());
    // A session saved under a linked name replaces the link.
    assert!(store.link(&phone, &other, until, t0()).await.unwrap());
    let own = SessionRecord::new(Session::new(phone.clone(), t0()));
    store.save(&own, t0()).await.unwrap();
    assert_eq!(kept_under(store, &phone, t0()).await, phone);
    assert_eq!(kept_under(store, &other, t0()).await, other);
}

// ---------------------------------------------------------------- AttendanceQueue

async fn attendance_queue_contract(queue: &dyn AttendanceQueue) {
    let wait = |who: &str, dept: &str, priority, minutes| WaitingCustomer {
        customer: phone(who),
        department: dept.into(),
        priority,
        entered_at: t0() + Duration::minutes(minutes),
        expires_at: None,
    };
    assert!(queue.waiting(t0()).await.unwrap().is_empty());
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
        order(queue.waiting(t0()).await.unwrap()),
        [
            pair("suporte", "vip"),
            pair("suporte", "a"),
            pair("suporte", "b"),
            pair("vendas", "c")
        ]
    );
    let pos = |dept: &'static str, who: &'static str| {
        let queue = &queue;
        async move { queue.position(dept, &phone(who), t0()).await.unwrap() }
    };
    assert_eq!(pos("suporte", "vip").await, Some(1));
    assert_eq!(pos("suporte", "a").await, Some(2));
    assert_eq!(pos("suporte", "b").await, Some(3));
    assert_eq!(pos("vendas", "c").await, Some(1));
    assert_eq!(pos("vendas", "a").await, None);
    assert_eq!(pos("suporte", "nobody").await, None);
    let a = queue
        .waiting(t0())
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
        order(queue.waiting(t0()).await.unwrap()),
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
        order(queue.waiting(t0()).await.unwrap())[2],
        pair("suporte", "a")
    );
}

/// Twenty agents take from a line of five at once, each trying the customers in line order
/// from a different starting point: each customer goes to exactly one agent, and the line
/// ends empty. A wait no longer in line cannot be taken.
async fn claim_contract(queue: std::sync::Arc<dyn AttendanceQueue>) {
    enqueue_in_line(&*queue, &["c1", "c2", "c3", "c4", "c5"], "c4").await;
    let line = queue.waiting(t0()).await.unwrap();
    assert_eq!(line.len(), 5);
    let claims: Vec<_> = (0..20)
        .map(|agent| {
            let q = queue.clone();
            let line = line.clone();
            tokio::spawn(async move {
                for i in 0..line.len() {
                    let entry = &line[(agent + i) % line.len()];
                    if q.take(entry).await.unwrap() {
                        return Some(entry.customer.key().to_owned());
                    }
                }
                None
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for c in claims {
        if let Some(customer) = c.await.unwrap() {
            claimed.push(customer);
        }
    }
    claimed.sort();
    assert_eq!(
        claimed,
        ["c1", "c2", "c3", "c4", "c5"],
        "each customer exactly once"
    );
    assert!(queue.waiting(t0()).await.unwrap().is_empty());
    assert!(!queue.take(&line[0]).await.unwrap(), "taken already");
    // Back in line (a claim undone): the same place, and it can be taken again.
    queue.enqueue(line[0].clone()).await.unwrap();
    assert_eq!(queue.waiting(t0()).await.unwrap(), vec![line[0].clone()]);
    assert!(queue.take(&line[0]).await.unwrap());
}

/// Each SLA threshold of a wait is marked once: concurrent checkers get one `true` between
/// them; a new wait (the customer left and came back) starts unmarked; a customer no longer
/// waiting cannot be marked.
async fn alert_marks_contract(queue: std::sync::Arc<dyn AttendanceQueue>) {
    use atende_shared::domain::sla::{SlaAlert, SlaLevel};
    let entry = WaitingCustomer {
        customer: phone("5511"),
        department: "suporte".into(),
        priority: Priority::Normal,
        entered_at: t0(),
        expires_at: None,
    };
    let alert = |entry: &WaitingCustomer, level| SlaAlert::Wait {
        entry: entry.clone(),
        level,
    };
    let lease = t0() + Duration::minutes(2);
    let warning = alert(&entry, SlaLevel::Warning);
    assert!(
        !queue.claim_alert(&warning, t0(), lease).await.unwrap(),
        "not waiting yet"
    );
    queue.enqueue(entry.clone()).await.unwrap();
    let claims: Vec<_> = (0..10)
        .map(|_| {
            let (q, a) = (queue.clone(), warning.clone());
            tokio::spawn(async move { q.claim_alert(&a, t0(), lease).await.unwrap() })
        })
        .collect();
    let mut won = 0;
    for c in claims {
        won += usize::from(c.await.unwrap());
    }
    assert_eq!(won, 1, "one of ten concurrent checkers claims it");
    // Item 13: not delivered, let go: the next run claims it again.
    queue.settle_alert(&warning, false).await.unwrap();
    assert!(queue.claim_alert(&warning, t0(), lease).await.unwrap());
    // Sent: never again.
    queue.settle_alert(&warning, true).await.unwrap();
    let later = t0() + Duration::minutes(10);
    assert!(!queue.claim_alert(&warning, later, later).await.unwrap());
    // A claim never settled (the checker died) ends with its lease.
    let breach = alert(&entry, SlaLevel::Breach);
    assert!(queue.claim_alert(&breach, t0(), lease).await.unwrap());
    assert!(
        !queue
            .claim_alert(&breach, lease - Duration::seconds(1), lease)
            .await
            .unwrap()
    );
    assert!(
        queue
            .claim_alert(&breach, lease, lease + Duration::minutes(2))
            .await
            .unwrap()
    );
    queue.settle_alert(&breach, true).await.unwrap();
    // Marks are not part of the line: the customer still waits, in place.
    assert_eq!(
        queue.waiting(t0()).await.unwrap(),
        std::slice::from_ref(&entry)
    );
    queue.remove("suporte", &entry.customer).await.unwrap();
    // Settling a wait that is over changes nothing (and creates nothing).
    queue.settle_alert(&breach, true).await.unwrap();
    assert!(queue.waiting(t0()).await.unwrap().is_empty());
    let again = WaitingCustomer {
        entered_at: t0() + Duration::hours(1),
        expires_at: None,
        ..entry
    };
    queue.enqueue(again.clone()).await.unwrap();
    assert!(
        queue
            .claim_alert(&alert(&again, SlaLevel::Warning), t0(), lease)
            .await
            .unwrap(),
        "a new wait, new alerts"
    );
    queue.remove("suporte", &again.customer).await.unwrap();

    // A reply alert: the same, on an item of its own.
    let reply = SlaAlert::Reply {
        department: "suporte".into(),
        customer: phone("5522"),
        since: t0(),
        keep_until: t0() + Duration::hours(24),
    };
    assert!(queue.claim_alert(&reply, t0(), lease).await.unwrap());
    assert!(!queue.claim_alert(&reply, t0(), lease).await.unwrap());
    queue.settle_alert(&reply, false).await.unwrap();
    assert!(queue.claim_alert(&reply, t0(), lease).await.unwrap());
    assert!(
        queue.claim_alert(&reply, lease, later).await.unwrap(),
        "lease over"
    );
    queue.settle_alert(&reply, true).await.unwrap();
    assert!(!queue.claim_alert(&reply, later, later).await.unwrap());
    assert!(queue.waiting(t0()).await.unwrap().is_empty());
}

/// Issue item "nobody waits in line forever": a wait ends with the customer's window. Past
/// `expires_at` the customer is out of `waiting` and of everyone's place in line (whatever the
/// store still holds until its TTL); writing again renews the wait.
async fn nobody_waits_in_line_forever(queue: &dyn AttendanceQueue) {
    let wait = |who: &str, minutes, hours| WaitingCustomer {
        customer: phone(who),
        department: "financeiro".into(),
        priority: Priority::Normal,
        entered_at: t0() + Duration::minutes(minutes),
        expires_at: Some(t0() + Duration::hours(hours)),
    };
    // Ana's window ends in 24 hours; Bia came a minute later, with a day more; Caio had no end.
    queue.enqueue(wait("ana", 0, 24)).await.unwrap();
    queue.enqueue(wait("bia", 1, 48)).await.unwrap();
    queue
        .enqueue(WaitingCustomer {
            expires_at: None,
            ..wait("caio", 2, 0)
        })
        .await
        .unwrap();
    let names = |line: Vec<WaitingCustomer>| {
        line.into_iter()
            .map(|w| w.customer.key().to_owned())
            .collect::<Vec<_>>()
    };
    let before = t0() + Duration::hours(23);
    assert_eq!(
        names(queue.waiting(before).await.unwrap()),
        ["ana", "bia", "caio"]
    );
    assert_eq!(
        queue
            .position("financeiro", &phone("bia"), before)
            .await
            .unwrap(),
        Some(2)
    );
    // A day on, Ana is gone from the line and from the count ahead of Bia.
    let after = t0() + Duration::hours(25);
    assert_eq!(names(queue.waiting(after).await.unwrap()), ["bia", "caio"]);
    assert_eq!(
        queue
            .position("financeiro", &phone("ana"), after)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        queue
            .position("financeiro", &phone("bia"), after)
            .await
            .unwrap(),
        Some(1)
    );
    assert_eq!(
        queue
            .position("financeiro", &phone("caio"), after)
            .await
            .unwrap(),
        Some(2)
    );
    // Bia wrote again: her wait runs to her new window's end.
    queue
        .renew("financeiro", &phone("bia"), t0() + Duration::hours(72))
        .await
        .unwrap();
    let later = t0() + Duration::hours(50);
    assert_eq!(names(queue.waiting(later).await.unwrap()), ["bia", "caio"]);
    // Renewing somebody not waiting changes nothing.
    queue
        .renew("financeiro", &phone("nobody"), t0() + Duration::hours(72))
        .await
        .unwrap();
    assert_eq!(names(queue.waiting(later).await.unwrap()), ["bia", "caio"]);
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
                expires_at: None,
            })
            .await
            .unwrap();
    }
}

// ---------------------------------------------------------------- EventQueue

fn event(customer: &str, n: usize) -> QueueEvent {
    QueueEvent {
        also: None,
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

// ---------------------------------------------------------------- Timers

fn timer(customer: &str, kind: TimerKind, due: DateTime<Utc>) -> QueueEvent {
    let fired = TimerFired { timer: kind, due };
    QueueEvent {
        also: None,
        id: fired.event_id(),
        customer: Some(phone(customer)),
        business_number: Some("106540352242922".into()),
        kind: EventKind::Timer(fired),
    }
}

/// Timers set, some twice (a redelivered command), must each be pending once with their due
/// time and event; `pending` reads what the adapter holds, earliest first.
async fn timers_contract<F, Fut>(timers: &dyn Timers, pending: F)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Vec<(DateTime<Utc>, QueueEvent)>>,
{
    let soon = t0() + Duration::minutes(10);
    let later = t0() + Duration::hours(2);
    let a = timer("5511", TimerKind::Inactivity, soon);
    let b = timer("5521", TimerKind::Inactivity, soon); // same id, another customer
    let c = timer("5511", TimerKind::OpenNow, later);
    for (at, event) in [(soon, &a), (soon, &b), (later, &c), (soon, &a), (later, &c)] {
        timers.schedule(at, event).await.unwrap();
    }
    let mut got = pending().await;
    got.sort_by_key(|x| (x.0, x.1.group()));
    assert_eq!(got, [(soon, a), (soon, b), (later, c)]);
}

// ---------------------------------------------------------------- Notifications

fn notice() -> atende_shared::domain::notice::Notice {
    use atende_shared::domain::notice::{Notice, NoticeKind};
    Notice {
        kind: NoticeKind::SlaBreach,
        customer: phone("5511988887777"),
        department: "vendas".into(),
        text: "🚨 SLA estourado: 5511988887777 espera há 6 min na fila de Vendas (máximo 5 min)."
            .into(),
    }
}

/// A notice reaches the channel whole; `received` reads what the channel got, as text.
async fn notifications_contract<F, Fut>(
    channel: &dyn atende_shared::ports::Notifications,
    received: F,
) where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Vec<String>>,
{
    channel
        .notify(&notice(), Some("106540352242922"))
        .await
        .unwrap();
    assert_eq!(received().await, [notice().text]);
}

#[tokio::test]
async fn memory_notifications() {
    let channel = atende_shared::adapters::MemoryNotifications::new();
    notifications_contract(&channel, || async {
        channel.notices().into_iter().map(|n| n.text).collect()
    })
    .await;
}

#[tokio::test]
async fn webhook_notifications() {
    use atende_shared::adapters::WebhookNotifications;
    use atende_shared::ports::Notifications;
    let hook = support::HookStub::start().await;
    let channel =
        WebhookNotifications::new(atende_shared::secret::Secret::new(&hook.url).unwrap()).unwrap();
    notifications_contract(&channel, || async {
        hook.bodies()
            .iter()
            .map(|b| {
                // Slack's incoming-webhook shape: one `text` field.
                assert_eq!(b.as_object().unwrap().len(), 1, "{b}");
                b["text"].as_str().unwrap().to_owned()
            })
            .collect()
    })
    .await;
    // A refusal is reported, not swallowed.
    hook.respond_next([500]);
    assert!(channel.notify(&notice(), None).await.is_err());
}

#[tokio::test]
async fn whatsapp_notifications() {
    use atende_shared::adapters::memory::Delivery;
    use atende_shared::adapters::{MemoryWhatsApp, WhatsAppNotifications};
    use atende_shared::domain::OutboundMessage;
    use atende_shared::ports::Notifications;
    let whatsapp = std::sync::Arc::new(MemoryWhatsApp::new());
    let channel = WhatsAppNotifications::new(whatsapp.clone(), &["5511977776666".into()], None);
    notifications_contract(&channel, || async {
        whatsapp
            .deliveries()
            .into_iter()
            .filter_map(|d| match d {
                Delivery::Sent {
                    to,
                    message: OutboundMessage::Text { body },
                    ..
                } => {
                    assert_eq!(to, phone("5511977776666"), "to the supervisor");
                    Some(body)
                }
                _ => None,
            })
            .collect()
    })
    .await;
    // An SLA alert has no conversation to send from, and no default number was given.
    assert!(channel.notify(&notice(), None).await.is_err());
}

// ---------------------------------------------------------------- SecretStore

/// `present` holds `value`; `missing` names nothing.
async fn secret_store_contract(
    store: &dyn atende_shared::ports::SecretStore,
    present: &str,
    value: &str,
    missing: &str,
) {
    let secret = store.secret(present).await.unwrap().expect("kept");
    assert_eq!(secret.expose(), value);
    assert_eq!(format!("{secret:?}"), "[redacted]");
    assert!(store.secret(missing).await.unwrap().is_none());
}

/// Item 17: secrets out of the environment. A function reads each secret once, at start:
/// from the store when its environment names the secret (`<NAME>_ARN`), from the environment
/// itself otherwise (the local runner); a secret named but absent stops the start.
async fn secrets_out_of_the_environment(
    store: &dyn atende_shared::ports::SecretStore,
    present: &str,
    value: &str,
    missing: &str,
) {
    use atende_shared::app::settings::{Secrets, SettingsError};
    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }
    let names = [
        "WHATSAPP_ACCESS_TOKEN",
        "ANTHROPIC_API_KEY",
        "NOTIFY_WEBHOOK_URL",
    ];
    let vars = [
        ("WHATSAPP_ACCESS_TOKEN_ARN", present),
        // A value in the environment is not used when the secret is named…
        ("WHATSAPP_ACCESS_TOKEN", "from-the-environment"),
        // …and is, locally, when none is.
        ("ANTHROPIC_API_KEY", "sk-ant-local"),
        // Blank: unset.
        ("NOTIFY_WEBHOOK_URL_ARN", " "),
    ];
    let secrets = Secrets::load(&names, env(&vars), store).await.unwrap();
    assert_eq!(
        secrets.required("WHATSAPP_ACCESS_TOKEN").unwrap().expose(),
        value
    );
    assert_eq!(
        secrets.optional("ANTHROPIC_API_KEY").unwrap().expose(),
        "sk-ant-local"
    );
    assert!(secrets.optional("NOTIFY_WEBHOOK_URL").is_none());
    assert!(!format!("{secrets:?}").contains(value), "never printed");
    let vars = [("WHATSAPP_ACCESS_TOKEN_ARN", missing)];
    assert!(matches!(
        Secrets::load(&names, env(&vars), store).await,
        Err(SettingsError::SecretMissing {
            name: "WHATSAPP_ACCESS_TOKEN"
        })
    ));
}

#[tokio::test]
async fn memory_secret_store() {
    let store = atende_shared::adapters::MemorySecretStore::new();
    store.put("atende/access-token", "EAAG-test-token");
    secret_store_contract(
        &store,
        "atende/access-token",
        "EAAG-test-token",
        "atende/none",
    )
    .await;
    secrets_out_of_the_environment(
        &store,
        "atende/access-token",
        "EAAG-test-token",
        "atende/none",
    )
    .await;
}

// ---------------------------------------------------------------- memory adapters

#[tokio::test]
async fn memory_session_store() {
    session_store_contract(&MemorySessionStore::new()).await;
    a_customer_known_by_two_names_has_one_session(&MemorySessionStore::new()).await;
}

#[tokio::test]
async fn memory_attendance_queue() {
    attendance_queue_contract(&MemoryAttendanceQueue::new()).await;
    claim_contract(std::sync::Arc::new(MemoryAttendanceQueue::new())).await;
    alert_marks_contract(std::sync::Arc::new(MemoryAttendanceQueue::new())).await;
    nobody_waits_in_line_forever(&MemoryAttendanceQueue::new()).await;
}

#[tokio::test]
async fn memory_event_queue() {
    let queue = MemoryEventQueue::new();
    event_queue_contract(&queue, || async { queue.drain() }).await;
}

#[tokio::test]
async fn a_bounded_memory_queue_pushes_back_instead_of_growing() {
    let queue = std::sync::Arc::new(MemoryEventQueue::bounded(4));
    let events: Vec<QueueEvent> = (0..6).map(|n| event("5511", n)).collect();
    queue.enqueue(&events[..3]).await.unwrap();
    // A batch that does not fit is refused whole; one that fits goes in.
    let refused = queue.enqueue(&events[3..5]).await;
    assert!(
        matches!(refused, Err(QueueError::Unavailable(ref why)) if why.contains("full")),
        "{refused:?}"
    );
    queue.enqueue(&events[3..4]).await.unwrap();
    // Redeliveries of what it holds cost nothing and are still accepted.
    queue.enqueue(&events[..2]).await.unwrap();
    assert_eq!(queue.held(), 4);
    // A taken event counts until it is done with.
    let first = queue.take().await;
    assert_eq!(first.event, events[0]);
    assert!(queue.enqueue(&events[4..5]).await.is_err());
    drop(first);
    assert_eq!(queue.held(), 3);
    queue.enqueue(&events[4..5]).await.unwrap();
    let order: Vec<QueueEvent> = queue.drain();
    assert_eq!(order, events[1..5].to_vec(), "in order, each once");
}

#[tokio::test]
async fn memory_timers() {
    let timers = MemoryTimers::new();
    timers_contract(&timers, || async { timers.pending() }).await;
    // They go off when due, earliest first, once.
    assert!(timers.due(t0()).is_empty());
    assert_eq!(timers.due(t0() + Duration::minutes(10)).len(), 2);
    assert_eq!(timers.due(t0() + Duration::days(1)).len(), 1);
    assert!(timers.pending().is_empty());
}

// ---------------------------------------------------------------- AWS adapters (moto)

use support::{emulator, unique};

#[tokio::test]
#[ignore = "needs an AWS emulator: run `bash tests/run`"]
async fn dynamodb_session_store() {
    let client = aws::dynamodb(&emulator().await);
    let table = sessions_table(&client).await;
    session_store_contract(&DynamoDbSessionStore::new(client.clone(), table)).await;
    let table = sessions_table(&client).await;
    a_customer_known_by_two_names_has_one_session(&DynamoDbSessionStore::new(client, table)).await;
}

/// A new, empty sessions table on the emulator.
async fn sessions_table(client: &aws::aws_sdk_dynamodb::Client) -> String {
    let table = unique("sessions");
    resources::create_sessions_table(client, &table)
        .await
        .unwrap();
    table
}

/// A session item is its record's JSON deflated (one write unit where the JSON would take
/// two); an item saved before, with the JSON as text, is read the same and rewritten deflated
/// on its next save.
#[tokio::test]
#[ignore = "needs an AWS emulator: run `bash tests/run`"]
async fn dynamodb_sessions_are_deflated_and_older_items_still_read() {
    use aws::aws_sdk_dynamodb::types::AttributeValue;
    let client = aws::dynamodb(&emulator().await);
    let table = sessions_table(&client).await;
    let store = DynamoDbSessionStore::new(client.clone(), table.clone());
    let customer = CustomerId::Phone("5511988887777".into());
    let mut session = Session::new(customer.clone(), t0());
    for n in 0..12 {
        session.record(
            Party::Bot,
            format!("Como posso ajudar você hoje? [Suporte | Vendas | Financeiro] {n}"),
            t0(),
        );
    }
    // As saved before: the JSON under `record`, with the ids themselves.
    let mut before = SessionRecord::new(session.clone());
    before
        .applied
        .push_back("wamid.HBgNNTUxOTg4ODg3Nzc3FQIAEhgUM0E=".into());
    let json = serde_json::to_string(&before).unwrap();
    client
        .put_item()
        .table_name(&table)
        .item("customer", AttributeValue::S(customer.key().into()))
        .item("record", AttributeValue::S(json.clone()))
        .item("version", AttributeValue::N("3".into()))
        .item(
            "expires_at",
            AttributeValue::N(session.expires_at().timestamp().to_string()),
        )
        .send()
        .await
        .unwrap();
    let mut loaded = store.load(&customer, t0()).await.unwrap().unwrap();
    assert_eq!(loaded.session, session);
    assert_eq!(loaded.version, 3);
    assert!(loaded.has_applied("wamid.HBgNNTUxOTg4ODg3Nzc3FQIAEhgUM0E="));
    assert_eq!(loaded.applied[0].len(), 16, "re-keyed as a digest");

    loaded.session.record(Party::Customer, "4", t0());
    assert_eq!(store.save(&loaded, t0()).await.unwrap(), 4);
    let item = client
        .get_item()
        .table_name(&table)
        .key("customer", AttributeValue::S(customer.key().into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert!(!item.contains_key("record"), "the text form is gone");
    let deflated = item["record_z"].as_b().unwrap().as_ref().len();
    assert!(
        deflated * 2 < json.len(),
        "{deflated} bytes deflated, {} as JSON",
        json.len()
    );
    let again = store.load(&customer, t0()).await.unwrap().unwrap();
    assert_eq!(again.session, loaded.session);
    assert_eq!(again.version, 4);
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
    attendance_queue_contract(&DynamoDbAttendanceQueue::new(client.clone(), &table)).await;
    // Each on a table of its own.
    let fresh = || async {
        let table = unique("attendance");
        resources::create_attendance_table(&client, &table)
            .await
            .unwrap();
        std::sync::Arc::new(DynamoDbAttendanceQueue::new(client.clone(), table))
    };
    claim_contract(fresh().await).await;
    alert_marks_contract(fresh().await).await;
    nobody_waits_in_line_forever(&*fresh().await).await;
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

#[tokio::test]
#[ignore = "needs an AWS emulator: run `bash tests/run`"]
async fn scheduler_timers() {
    use aws_sdk_scheduler::types::ActionAfterCompletion;
    let sdk = emulator().await;
    let client = aws::scheduler(&sdk);
    let group = unique("timers");
    resources::create_schedule_group(&client, &group)
        .await
        .unwrap();
    let queue_arn = "arn:aws:sqs:us-east-1:123456789012:atende-events.fifo";
    let role_arn = "arn:aws:iam::123456789012:role/atende-scheduler";
    let clock = std::sync::Arc::new(ManualClock::new(t0()));
    let timers = SchedulerTimers::new(client.clone(), &group, queue_arn, role_arn, clock);
    // What Scheduler holds, read back: each schedule's time and the event it will deliver,
    // checked on the way to go to the customer's group on the queue and delete itself.
    let read_back = || async {
        let listed = client
            .list_schedules()
            .group_name(&group)
            .send()
            .await
            .unwrap();
        let mut out = Vec::new();
        for summary in listed.schedules() {
            let schedule = client
                .get_schedule()
                .group_name(&group)
                .name(summary.name().unwrap())
                .send()
                .await
                .unwrap();
            let target = schedule.target().unwrap();
            assert_eq!(target.arn(), queue_arn);
            assert_eq!(target.role_arn(), role_arn);
            let event: QueueEvent = serde_json::from_str(target.input().unwrap()).unwrap();
            assert_eq!(
                target.sqs_parameters().unwrap().message_group_id(),
                Some(event.group().as_str())
            );
            assert_eq!(
                schedule.action_after_completion(),
                Some(&ActionAfterCompletion::Delete)
            );
            assert_eq!(schedule.schedule_expression_timezone(), Some("UTC"));
            let expression = schedule.schedule_expression().unwrap();
            let at = expression
                .strip_prefix("at(")
                .and_then(|e| e.strip_suffix(')'))
                .unwrap();
            let at = chrono::NaiveDateTime::parse_from_str(at, "%Y-%m-%dT%H:%M:%S")
                .unwrap()
                .and_utc();
            out.push((at, event));
        }
        out
    };
    timers_contract(&timers, read_back).await;
    // A time already past is set a minute ahead: Scheduler fires to the minute.
    assert_eq!(
        timers.expression(t0() - Duration::hours(1)),
        "at(2026-11-24T12:01:00)"
    );
}

/// The emulator's resources, as `create_all` makes them for the tests and `atende serve
/// --backend aws --create-resources`, read back and compared with `template.yaml`.
#[tokio::test]
#[ignore = "needs an AWS emulator: run `bash tests/run`"]
async fn the_emulator_resources_match_the_template() {
    use aws::aws_sdk_dynamodb;
    use aws_sdk_sqs::types::QueueAttributeName as Q;
    let template: serde_norway::Value = serde_norway::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml")).unwrap(),
    )
    .unwrap();
    let props = |r: &str| template["Resources"][r]["Properties"].clone();
    let sdk = emulator().await;
    let created = resources::create_all(&sdk, &unique("stack")).await.unwrap();

    // The bucket: encrypted by default and closed to the public, as the stack's.
    let s3 = aws::s3(&sdk);
    let encryption = s3
        .get_bucket_encryption()
        .bucket(&created.media_bucket)
        .send()
        .await
        .unwrap();
    let algorithm = encryption
        .server_side_encryption_configuration()
        .and_then(|c| c.rules().first())
        .and_then(|r| r.apply_server_side_encryption_by_default())
        .map(|d| d.sse_algorithm().as_str().to_owned());
    assert_eq!(
        algorithm.as_deref(),
        props("MediaBucket")["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
            ["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
            .as_str()
    );
    let block = s3
        .get_public_access_block()
        .bucket(&created.media_bucket)
        .send()
        .await
        .unwrap();
    let block = block.public_access_block_configuration().unwrap();
    assert_eq!(
        block.block_public_acls(),
        props("MediaBucket")["PublicAccessBlockConfiguration"]["BlockPublicAcls"].as_bool()
    );
    assert_eq!(block.restrict_public_buckets(), Some(true));

    let dynamodb = aws::dynamodb(&sdk);
    for (table, resource) in [
        (&created.sessions_table, "SessionsTable"),
        (&created.attendance_table, "AttendanceTable"),
        (&created.agents_table, "AgentsTable"),
        (&created.log_table, "ConversationLogTable"),
    ] {
        let described = dynamodb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .unwrap();
        let described = described.table().unwrap();
        let keys: Vec<(String, String)> = described
            .key_schema()
            .iter()
            .map(|k| {
                (
                    k.attribute_name().to_owned(),
                    k.key_type().as_str().to_owned(),
                )
            })
            .collect();
        let want: Vec<(String, String)> = props(resource)["KeySchema"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|k| {
                (
                    k["AttributeName"].as_str().unwrap().to_owned(),
                    k["KeyType"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(keys, want, "{resource}");
        assert_eq!(
            described
                .billing_mode_summary()
                .and_then(|b| b.billing_mode())
                .map(|m| m.as_str()),
            props(resource)["BillingMode"].as_str(),
            "{resource}"
        );
    }
    let ttl = dynamodb
        .describe_time_to_live()
        .table_name(&created.sessions_table)
        .send()
        .await
        .unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(
        ttl.attribute_name(),
        props("SessionsTable")["TimeToLiveSpecification"]["AttributeName"].as_str()
    );
    assert_eq!(
        ttl.time_to_live_status(),
        Some(&aws_sdk_dynamodb::types::TimeToLiveStatus::Enabled)
    );

    let sqs = aws::sqs(&sdk);
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&created.events_queue_url)
        .attribute_names(Q::All)
        .send()
        .await
        .unwrap();
    let attributes = attributes.attributes().unwrap();
    let queue = props("EventsQueue");
    let yaml = |v: &serde_norway::Value| match v {
        serde_norway::Value::Bool(b) => b.to_string(),
        serde_norway::Value::Number(n) => n.to_string(),
        other => other.as_str().unwrap().to_owned(),
    };
    for (attribute, property) in [
        (Q::FifoQueue, "FifoQueue"),
        (Q::ContentBasedDeduplication, "ContentBasedDeduplication"),
        (Q::DeduplicationScope, "DeduplicationScope"),
        (Q::FifoThroughputLimit, "FifoThroughputLimit"),
        (Q::VisibilityTimeout, "VisibilityTimeout"),
        (Q::MessageRetentionPeriod, "MessageRetentionPeriod"),
    ] {
        assert_eq!(
            attributes.get(&attribute),
            Some(&yaml(&queue[property])),
            "{property}"
        );
    }
    let redrive: serde_json::Value = serde_json::from_str(&attributes[&Q::RedrivePolicy]).unwrap();
    assert_eq!(
        redrive["maxReceiveCount"].to_string(),
        yaml(&queue["RedrivePolicy"]["maxReceiveCount"])
    );
    assert!(
        redrive["deadLetterTargetArn"]
            .as_str()
            .unwrap()
            .ends_with("-events-dlq.fifo")
    );
    let group = aws::scheduler(&sdk)
        .get_schedule_group()
        .name(&created.schedule_group)
        .send()
        .await
        .unwrap();
    assert_eq!(group.name(), Some(created.schedule_group.as_str()));
}

#[tokio::test]
#[ignore = "needs an AWS emulator: run `bash tests/run`"]
async fn secrets_manager_secret_store() {
    let sdk = emulator().await;
    let client = aws::secrets_manager(&sdk);
    let name = unique("access-token");
    let created = client
        .create_secret()
        .name(&name)
        .secret_string("EAAG-test-token")
        .send()
        .await
        .unwrap();
    let arn = created.arn().unwrap().to_owned();
    let store = atende_shared::adapters::SecretsManagerSecretStore::new(client);
    let missing = format!("{arn}-gone");
    secret_store_contract(&store, &arn, "EAAG-test-token", &missing).await;
    secret_store_contract(&store, &name, "EAAG-test-token", &unique("none")).await;
    secrets_out_of_the_environment(&store, &arn, "EAAG-test-token", &missing).await;
}

//! The desk's ports, one contract each, run against every adapter: `Agents` and
//! `ConversationLog` in memory always, on DynamoDB against the emulator (`bash tests/run`).

mod support;

use atende_shared::adapters::aws::{self, resources};
use atende_shared::adapters::{
    DynamoDbAgents, DynamoDbConversationLog, MemoryAgents, MemoryConversationLog,
};
use atende_shared::domain::agent::{AgentProfile, Presence, Reservation};
use atende_shared::domain::log::log_key;
use atende_shared::domain::{
    AgentRef, ConversationEvent, CustomerId, DeliveryStatus, LogEntry, LogLine,
};
use atende_shared::ports::{Advance, Agents, ConversationLog, DeliveryStatuses};
use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;
use support::{emulator, unique};

fn t0() -> DateTime<Utc> {
    "2026-11-24T12:00:00Z".parse().unwrap()
}

fn phone(n: &str) -> CustomerId {
    CustomerId::Phone(n.into())
}

fn profile(id: &str, capacity: Option<u32>) -> AgentProfile {
    AgentProfile {
        id: id.into(),
        email: format!("{id}@example.com"),
        name: id.to_uppercase(),
        departments: vec!["suporte".into()],
        capacity,
        supervisor: false,
    }
}

// ---------------------------------------------------------------- Agents

/// Profiles are created away and holding nothing, and changed without losing presence or
/// conversations; reservations respect presence and capacity, count a held customer once, and
/// come back on release.
async fn agents_contract(agents: &dyn Agents) {
    assert_eq!(agents.get("ana").await.unwrap(), None);
    assert!(
        !agents
            .set_presence("ana", Presence::Available)
            .await
            .unwrap()
    );
    assert_eq!(
        agents.reserve("ana", &phone("1"), 3).await.unwrap(),
        Reservation::Unknown
    );
    agents.put_profile(&profile("ana", Some(2))).await.unwrap();
    let ana = agents.get("ana").await.unwrap().unwrap();
    assert_eq!(ana.presence, Presence::Away);
    assert!(ana.holding.is_empty());
    assert_eq!(
        agents.reserve("ana", &phone("1"), 3).await.unwrap(),
        Reservation::Away
    );
    assert!(
        agents
            .set_presence("ana", Presence::Available)
            .await
            .unwrap()
    );
    for customer in ["1", "2"] {
        assert_eq!(
            agents.reserve("ana", &phone(customer), 3).await.unwrap(),
            Reservation::Reserved
        );
    }
    // Her own capacity (2), not the default (3); a customer she holds takes no new place.
    assert_eq!(
        agents.reserve("ana", &phone("3"), 3).await.unwrap(),
        Reservation::Full
    );
    assert_eq!(
        agents.reserve("ana", &phone("1"), 3).await.unwrap(),
        Reservation::Reserved
    );
    // A new profile keeps presence and conversations.
    let mut renamed = profile("ana", None);
    renamed.name = "Ana Souza".into();
    agents.put_profile(&renamed).await.unwrap();
    let ana = agents.get("ana").await.unwrap().unwrap();
    assert_eq!(ana.profile.name, "Ana Souza");
    assert_eq!(ana.presence, Presence::Available);
    assert_eq!(ana.holding.len(), 2);
    // Now the default capacity counts.
    assert_eq!(
        agents.reserve("ana", &phone("3"), 3).await.unwrap(),
        Reservation::Reserved
    );
    agents.release("ana", &phone("1")).await.unwrap();
    agents.release("ana", &phone("1")).await.unwrap();
    agents.release("nobody", &phone("1")).await.unwrap();
    let ana = agents.get("ana").await.unwrap().unwrap();
    assert_eq!(
        ana.holding.into_iter().collect::<Vec<_>>(),
        ["2", "3"],
        "released once, the others kept"
    );
    agents.release("ana", &phone("2")).await.unwrap();
    agents.release("ana", &phone("3")).await.unwrap();
    assert!(agents.get("ana").await.unwrap().unwrap().holding.is_empty());
    agents.put_profile(&profile("bruno", None)).await.unwrap();
    let names: Vec<String> = agents
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.profile.name)
        .collect();
    assert_eq!(names, ["Ana Souza", "BRUNO"]);
}

/// Ten reservations race for an agent with room for three: three win, and she holds three.
async fn agents_capacity_contract(agents: Arc<dyn Agents>) {
    agents
        .put_profile(&profile("carla", Some(3)))
        .await
        .unwrap();
    agents
        .set_presence("carla", Presence::Available)
        .await
        .unwrap();
    let races: Vec<_> = (0..10)
        .map(|i| {
            let agents = agents.clone();
            tokio::spawn(async move {
                agents
                    .reserve("carla", &phone(&format!("55{i}")), 5)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut won = 0;
    for race in races {
        match race.await.unwrap() {
            Reservation::Reserved => won += 1,
            Reservation::Full => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(won, 3);
    assert_eq!(agents.get("carla").await.unwrap().unwrap().holding.len(), 3);
}

#[tokio::test]
async fn memory_agents() {
    agents_contract(&MemoryAgents::new()).await;
    agents_capacity_contract(Arc::new(MemoryAgents::new())).await;
}

#[tokio::test]
#[ignore = "needs an AWS emulator: run `bash tests/run`"]
async fn dynamodb_agents() {
    let client = aws::dynamodb(&emulator().await);
    let fresh = || async {
        let table = unique("agents");
        resources::create_agents_table(&client, &table)
            .await
            .unwrap();
        Arc::new(DynamoDbAgents::new(client.clone(), table))
    };
    agents_contract(&*fresh().await).await;
    agents_capacity_contract(fresh().await).await;
}

// ---------------------------------------------------------------- ConversationLog

fn said(n: u64, text: &str) -> LogEntry {
    LogEntry {
        at: t0() + Duration::seconds(n as i64),
        line: LogLine::Customer {
            text: text.into(),
            message_id: format!("wamid.in.{n}"),
            media: None,
        },
    }
}

fn sent(n: u64, message_id: &str) -> LogEntry {
    LogEntry {
        at: t0() + Duration::seconds(n as i64),
        line: LogLine::Sent {
            agent: Some(AgentRef {
                id: "ana".into(),
                name: "Ana".into(),
            }),
            text: format!("answer {n}"),
            message_id: message_id.into(),
        },
    }
}

/// Pages come newest first, each oldest first, with a cursor to the lines before; writing a
/// key again replaces its line; sent messages carry their latest status; expired lines are
/// gone; erasing takes everything of one customer and nothing of another.
async fn log_contract(log: &dyn ConversationLog) {
    let maria = phone("5511988887777");
    let joao = phone("5521977776666");
    let now = t0() + Duration::minutes(5);
    let keep = t0() + Duration::days(90);
    let empty = log.page(&maria, None, 10, now).await.unwrap();
    assert!(empty.lines.is_empty() && empty.before.is_none());
    let key = |n: u64| log_key(t0(), n);
    for n in 1..=4 {
        log.write(&maria, &key(n), &said(n, &format!("line {n}")), keep)
            .await
            .unwrap();
    }
    log.write(&maria, &key(5), &sent(5, "wamid.out.5"), keep)
        .await
        .unwrap();
    // Written twice (a redelivery): one line.
    log.write(&maria, &key(4), &said(4, "line 4"), keep)
        .await
        .unwrap();
    log.write(&joao, &key(1), &said(1, "other customer"), keep)
        .await
        .unwrap();
    log.set_status(&joao, "wamid.out.5", &DeliveryStatus::Read, keep)
        .await
        .unwrap();

    let texts = |lines: &[atende_shared::domain::LoggedLine]| -> Vec<String> {
        lines
            .iter()
            .map(|l| match &l.entry.line {
                LogLine::Customer { text, .. } | LogLine::Sent { text, .. } => text.clone(),
                other => format!("{other:?}"),
            })
            .collect()
    };
    let latest = log.page(&maria, None, 2, now).await.unwrap();
    assert_eq!(texts(&latest.lines), ["line 4", "answer 5"]);
    assert_eq!(
        latest.lines[1].status,
        Some(DeliveryStatus::Sent),
        "another customer's status does not count"
    );
    assert_eq!(latest.lines[0].status, None);
    let before = latest.before.clone().expect("older lines exist");
    assert_eq!(before, key(4));
    let older = log.page(&maria, Some(&before), 2, now).await.unwrap();
    assert_eq!(texts(&older.lines), ["line 2", "line 3"]);
    let oldest = log
        .page(&maria, older.before.as_deref(), 2, now)
        .await
        .unwrap();
    assert_eq!(texts(&oldest.lines), ["line 1"]);
    assert_eq!(oldest.before, None, "the beginning");

    log.set_status(&maria, "wamid.out.5", &DeliveryStatus::Delivered, keep)
        .await
        .unwrap();
    log.set_status(&maria, "wamid.out.5", &DeliveryStatus::Read, keep)
        .await
        .unwrap();
    let latest = log.page(&maria, None, 1, now).await.unwrap();
    assert_eq!(latest.lines[0].status, Some(DeliveryStatus::Read));
    // Statuses only move forward: a late one, or one Meta added later, leaves it; a failure
    // still counts.
    for late in [
        DeliveryStatus::Delivered,
        DeliveryStatus::Sent,
        DeliveryStatus::Read,
        DeliveryStatus::Other("deleted".into()),
    ] {
        log.set_status(&maria, "wamid.out.5", &late, keep)
            .await
            .unwrap();
        let latest = log.page(&maria, None, 1, now).await.unwrap();
        assert_eq!(
            latest.lines[0].status,
            Some(DeliveryStatus::Read),
            "{late:?}"
        );
    }
    log.set_status(&maria, "wamid.out.5", &DeliveryStatus::Failed, keep)
        .await
        .unwrap();
    let latest = log.page(&maria, None, 1, now).await.unwrap();
    assert_eq!(latest.lines[0].status, Some(DeliveryStatus::Failed));

    // A line past its retention is not read, whatever the store still holds.
    log.write(&maria, &key(6), &said(6, "expired"), now)
        .await
        .unwrap();
    let all = log.page(&maria, None, 200, now).await.unwrap();
    assert_eq!(all.lines.len(), 5);
    assert!(all.before.is_none());

    let erased = log.erase(&maria).await.unwrap();
    assert!(erased >= 6, "lines and statuses: {erased}");
    assert!(
        log.page(&maria, None, 10, now)
            .await
            .unwrap()
            .lines
            .is_empty()
    );
    assert_eq!(
        texts(&log.page(&joao, None, 10, now).await.unwrap().lines),
        ["other customer"]
    );
    // Events and notes come back as written.
    let closed = LogEntry {
        at: now,
        line: LogLine::Event(ConversationEvent::Closed { by: None }),
    };
    log.write(&maria, &key(7), &closed, keep).await.unwrap();
    assert_eq!(
        log.page(&maria, None, 10, now).await.unwrap().lines[0].entry,
        closed
    );

    // Erasures are recorded, oldest first, and name nobody.
    assert!(log.erasures().await.unwrap().is_empty());
    for (minutes, by) in [(1, "carla"), (2, "dora")] {
        let erasure = atende_shared::domain::Erasure {
            at: now + Duration::minutes(minutes),
            customer_digest: atende_shared::domain::Erasure::digest(&maria),
            by: by.into(),
            session: true,
            log_items: 7,
            files: 2,
            conversations_released: 1,
        };
        log.record_erasure(&erasure).await.unwrap();
    }
    let erasures = log.erasures().await.unwrap();
    assert_eq!(erasures.len(), 2);
    assert_eq!(erasures[0].by, "carla");
    assert_eq!(erasures[0].customer_digest.len(), 64);
    assert!(!format!("{erasures:?}").contains(maria.key()));
}

/// The webhook's part of the log: a plain status of a message the bot sent moves it forward
/// (never back) and needs nothing more; one of a message an agent sent, of one not logged, of
/// another customer's, or a failure, is for the processor, and changes nothing here.
async fn delivery_statuses_contract<L: ConversationLog + DeliveryStatuses>(log: &L) {
    let maria = phone("5511988887777");
    let joao = phone("5521977776666");
    let now = t0() + Duration::minutes(5);
    let keep = t0() + Duration::days(90);
    let key = |n: u64| log_key(t0(), n);
    let bot = LogEntry {
        line: LogLine::Sent {
            agent: None,
            text: "Olá!".into(),
            message_id: "wamid.bot.1".into(),
        },
        ..sent(1, "")
    };
    log.write(&maria, &key(1), &bot, keep).await.unwrap();
    log.write(&maria, &key(2), &sent(2, "wamid.ana.2"), keep)
        .await
        .unwrap();
    let status_of = |page: &atende_shared::ports::LogPage, id: &str| {
        page.lines
            .iter()
            .find_map(|l| match &l.entry.line {
                LogLine::Sent { message_id, .. } if message_id == id => l.status.clone(),
                _ => None,
            })
            .unwrap()
    };
    for (status, shown) in [
        (DeliveryStatus::Sent, DeliveryStatus::Sent),
        (DeliveryStatus::Read, DeliveryStatus::Read),
        (DeliveryStatus::Delivered, DeliveryStatus::Read),
        (DeliveryStatus::Read, DeliveryStatus::Read),
        // A late `sent` (which the DynamoDB log answers with a read, not a write).
        (DeliveryStatus::Sent, DeliveryStatus::Read),
    ] {
        assert_eq!(
            log.advance(&maria, "wamid.bot.1", &status).await.unwrap(),
            Advance::Recorded,
            "{status:?}"
        );
        let page = log.page(&maria, None, 10, now).await.unwrap();
        assert_eq!(status_of(&page, "wamid.bot.1"), shown, "after {status:?}");
    }
    for (customer, id, status) in [
        (&maria, "wamid.ana.2", DeliveryStatus::Delivered),
        (&maria, "wamid.ana.2", DeliveryStatus::Sent),
        (&maria, "wamid.unknown", DeliveryStatus::Delivered),
        (&maria, "wamid.unknown", DeliveryStatus::Sent),
        (&joao, "wamid.bot.1", DeliveryStatus::Sent),
        (&joao, "wamid.bot.1", DeliveryStatus::Delivered),
        (&maria, "wamid.bot.1", DeliveryStatus::Failed),
        (
            &maria,
            "wamid.bot.1",
            DeliveryStatus::Other("deleted".into()),
        ),
    ] {
        assert_eq!(
            log.advance(customer, id, &status).await.unwrap(),
            Advance::ForTheProcessor,
            "{customer:?} {id} {status:?}"
        );
    }
    let page = log.page(&maria, None, 10, now).await.unwrap();
    assert_eq!(status_of(&page, "wamid.ana.2"), DeliveryStatus::Sent);
    assert_eq!(status_of(&page, "wamid.bot.1"), DeliveryStatus::Read);
    assert!(
        log.page(&joao, None, 10, now)
            .await
            .unwrap()
            .lines
            .is_empty()
    );
    // The processor's own status of an agent's message keeps it the processor's.
    log.set_status(&maria, "wamid.ana.2", &DeliveryStatus::Delivered, keep)
        .await
        .unwrap();
    assert_eq!(
        log.advance(&maria, "wamid.ana.2", &DeliveryStatus::Read)
            .await
            .unwrap(),
        Advance::ForTheProcessor
    );
    let page = log.page(&maria, None, 10, now).await.unwrap();
    assert_eq!(status_of(&page, "wamid.ana.2"), DeliveryStatus::Delivered);
}

#[tokio::test]
async fn memory_conversation_log() {
    log_contract(&MemoryConversationLog::new()).await;
    delivery_statuses_contract(&MemoryConversationLog::new()).await;
}

#[tokio::test]
#[ignore = "needs an AWS emulator: run `bash tests/run`"]
async fn dynamodb_conversation_log() {
    let client = aws::dynamodb(&emulator().await);
    let table = unique("log");
    resources::create_log_table(&client, &table).await.unwrap();
    log_contract(&DynamoDbConversationLog::new(client.clone(), table)).await;
    let table = unique("log");
    resources::create_log_table(&client, &table).await.unwrap();
    delivery_statuses_contract(&DynamoDbConversationLog::new(client, table)).await;
}

// ---------------------------------------------------------------- MediaStore

/// Files come back by their links, with their type, replaced when written again; erasing a
/// customer's prefix takes their files (the link stops working) and leaves another's.
async fn media_contract(store: &dyn atende_shared::ports::MediaStore) {
    use atende_shared::ports::media_key;
    let http = reqwest::Client::new();
    let fetch = |link: String| {
        let http = http.clone();
        async move {
            let response = http.get(&link).send().await.unwrap();
            let ok = response.status().is_success();
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let bytes = response.bytes().await.unwrap().to_vec();
            ok.then_some((bytes, content_type))
        }
    };
    let maria = phone("5511988887777");
    let joao = phone("55119888877770");
    let photo = media_key(&maria, "in", "1482902119483940");
    let bill = media_key(&maria, "out", "a1b2/boleto março.pdf");
    let theirs = media_key(&joao, "in", "99");
    store
        .put(&photo, b"jpeg".to_vec(), "image/jpeg")
        .await
        .unwrap();
    store
        .put(&bill, b"%PDF-1.7".to_vec(), "application/pdf")
        .await
        .unwrap();
    store
        .put(&theirs, b"other".to_vec(), "image/png")
        .await
        .unwrap();
    let minute = std::time::Duration::from_secs(60);
    let (bytes, content_type) = fetch(store.link(&bill, minute).await.unwrap())
        .await
        .expect("the link fetches the file");
    assert_eq!(bytes, b"%PDF-1.7");
    assert_eq!(content_type, "application/pdf");
    assert_eq!(
        fetch(store.link(&photo, minute).await.unwrap())
            .await
            .unwrap()
            .0,
        b"jpeg"
    );
    // Replaced when written again.
    store
        .put(&photo, b"jpeg 2".to_vec(), "image/jpeg")
        .await
        .unwrap();
    assert_eq!(
        fetch(store.link(&photo, minute).await.unwrap())
            .await
            .unwrap()
            .0,
        b"jpeg 2"
    );
    let link = store.link(&photo, minute).await.unwrap();
    assert_eq!(
        store
            .erase_prefix(&format!("{}/", maria.key()))
            .await
            .unwrap(),
        2,
        "Maria's two files, not João's (whose key starts like hers)"
    );
    assert!(fetch(link).await.is_none(), "erased");
    assert_eq!(
        fetch(store.link(&theirs, minute).await.unwrap())
            .await
            .unwrap()
            .0,
        b"other"
    );
}

#[tokio::test]
async fn memory_media_store() {
    use atende_shared::adapters::{MemoryMediaStore, SystemClock};
    let store = Arc::new(MemoryMediaStore::new("http://127.0.0.1").unwrap());
    // Its links name the server that serves its files (`atende serve`'s `/media`).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    store.set_base_url(&format!("http://{addr}"));
    let app = atende::serve_desk::media_router(store.clone(), Arc::new(SystemClock));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    media_contract(&*store).await;
    // A link whose signature or expiry was changed opens nothing.
    use atende_shared::ports::MediaStore;
    store
        .put("x/in/1", b"x".to_vec(), "image/png")
        .await
        .unwrap();
    let link = store
        .link("x/in/1", std::time::Duration::from_secs(60))
        .await
        .unwrap();
    let forged = link.replace("expires=", "expires=9");
    assert_eq!(reqwest::get(&forged).await.unwrap().status().as_u16(), 403);
}

#[tokio::test]
#[ignore = "needs an AWS emulator: run `bash tests/run`"]
async fn s3_media_store() {
    let sdk = emulator().await;
    let client = aws::s3(&sdk);
    let bucket = unique("media").to_lowercase();
    resources::create_media_bucket(&client, &bucket)
        .await
        .unwrap();
    media_contract(&atende_shared::adapters::S3MediaStore::new(client, bucket)).await;
}

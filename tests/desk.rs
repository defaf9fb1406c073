//! The agents' desk under contention, on memory and on DynamoDB (the emulator, `bash
//! tests/run`): many agents claiming at once never take a customer twice or go over capacity.

mod support;

use atende_shared::adapters::aws::{self, resources};
use atende_shared::adapters::{
    DynamoDbAgents, DynamoDbAttendanceQueue, DynamoDbConversationLog, DynamoDbSessionStore,
    ManualClock, MemoryAgents, MemoryAttendanceQueue, MemoryConversationLog, MemoryEventQueue,
    MemoryMediaStore, MemorySessionStore,
};
use atende_shared::app::{Actor, Desk, DeskError, DeskPorts};
use atende_shared::domain::agent::{AgentProfile, Presence};
use atende_shared::domain::sla::{Priority, WaitingCustomer};
use atende_shared::domain::{
    AgentAction, Config, CustomerId, EventKind, Session, SessionRecord, State,
};
use atende_shared::ports::{Agents, AttendanceQueue, ConversationLog, SessionStore};
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeSet;
use std::sync::Arc;
use support::{emulator, unique};

fn t0() -> DateTime<Utc> {
    "2026-11-24T15:00:00Z".parse().unwrap()
}

struct Stores {
    agents: Arc<dyn Agents>,
    attendance: Arc<dyn AttendanceQueue>,
    sessions: Arc<dyn SessionStore>,
    log: Arc<dyn ConversationLog>,
}

fn memory() -> Stores {
    Stores {
        agents: Arc::new(MemoryAgents::new()),
        attendance: Arc::new(MemoryAttendanceQueue::new()),
        sessions: Arc::new(MemorySessionStore::new()),
        log: Arc::new(MemoryConversationLog::new()),
    }
}

async fn dynamodb() -> Stores {
    let client = aws::dynamodb(&emulator().await);
    let (agents, attendance, sessions, log) = (
        unique("agents"),
        unique("attendance"),
        unique("sessions"),
        unique("log"),
    );
    resources::create_agents_table(&client, &agents)
        .await
        .unwrap();
    resources::create_attendance_table(&client, &attendance)
        .await
        .unwrap();
    resources::create_sessions_table(&client, &sessions)
        .await
        .unwrap();
    resources::create_log_table(&client, &log).await.unwrap();
    Stores {
        agents: Arc::new(DynamoDbAgents::new(client.clone(), agents)),
        attendance: Arc::new(DynamoDbAttendanceQueue::new(client.clone(), attendance)),
        sessions: Arc::new(DynamoDbSessionStore::new(client.clone(), sessions)),
        log: Arc::new(DynamoDbConversationLog::new(client, log)),
    }
}

/// A desk on `stores` with `waiting` customers in Suporte's line (live conversations, waiting
/// since a minute apart) and `agents` available Suporte agents of `capacity`.
async fn desk(
    stores: &Stores,
    waiting: usize,
    agents: usize,
    capacity: u32,
) -> (Arc<Desk>, Arc<MemoryEventQueue>) {
    let events = Arc::new(MemoryEventQueue::new());
    let clock = Arc::new(ManualClock::new(t0()));
    for i in 0..waiting {
        let customer = CustomerId::Phone(format!("55119000000{i:02}"));
        let since = t0() - Duration::minutes(30 - i as i64);
        let mut session = Session::new(customer.clone(), since);
        session.state = State::Human {
            department: "suporte".into(),
            since,
            told_position: None,
            agent: None,
            awaiting_reply_since: None,
        };
        let mut record = SessionRecord::new(session);
        record.business_number = Some("106540352242922".into());
        stores.sessions.save(&record, t0()).await.unwrap();
        stores
            .attendance
            .enqueue(WaitingCustomer {
                customer,
                department: "suporte".into(),
                priority: Priority::Normal,
                entered_at: since,
                expires_at: None,
            })
            .await
            .unwrap();
    }
    for a in 0..agents {
        let id = format!("agent-{a:02}");
        stores
            .agents
            .put_profile(&AgentProfile {
                id: id.clone(),
                email: format!("{id}@example.com"),
                name: id.clone(),
                departments: vec!["suporte".into()],
                capacity: Some(capacity),
                supervisor: false,
            })
            .await
            .unwrap();
        stores
            .agents
            .set_presence(&id, Presence::Available)
            .await
            .unwrap();
    }
    let desk = Desk::new(
        DeskPorts {
            agents: stores.agents.clone(),
            attendance: stores.attendance.clone(),
            sessions: stores.sessions.clone(),
            events: events.clone(),
            log: stores.log.clone(),
            media: Arc::new(MemoryMediaStore::new("http://127.0.0.1").unwrap()),
            clock,
        },
        Arc::new(Config::embedded().unwrap()),
        None,
    );
    (Arc::new(desk), events)
}

fn actor(id: String) -> Actor {
    Actor {
        id,
        supervisor: false,
    }
}

/// Twenty agents claim at once with five customers waiting: five claims succeed, each
/// customer once; the others find nobody; every claim is one event on its customer's group.
async fn twenty_agents_five_customers(stores: Stores) {
    let (desk, events) = desk(&stores, 5, 20, 3).await;
    let claims: Vec<_> = (0..20)
        .map(|a| {
            let desk = desk.clone();
            tokio::spawn(async move { desk.claim_next(&actor(format!("agent-{a:02}"))).await })
        })
        .collect();
    let mut claimed = Vec::new();
    for claim in claims {
        match claim.await.unwrap() {
            Ok(Some(c)) => claimed.push(c.customer.key().to_owned()),
            Ok(None) => {}
            Err(e) => panic!("claim failed: {e}"),
        }
    }
    assert_eq!(claimed.len(), 5, "{claimed:?}");
    let distinct: BTreeSet<_> = claimed.iter().cloned().collect();
    assert_eq!(distinct.len(), 5, "each customer once: {claimed:?}");
    assert!(stores.attendance.waiting(t0()).await.unwrap().is_empty());
    let mut held = 0;
    for agent in stores.agents.list().await.unwrap() {
        assert!(agent.holding.len() <= 3);
        held += agent.holding.len();
    }
    assert_eq!(held, 5);
    let queued = events.drain();
    assert_eq!(queued.len(), 5);
    let groups: BTreeSet<_> = queued.iter().map(|e| e.group()).collect();
    assert_eq!(
        groups, distinct,
        "one claim event per customer, in their group"
    );
    assert!(
        queued
            .iter()
            .all(|e| matches!(e.kind, EventKind::Agent(AgentAction::Claim { .. })))
    );
}

/// One agent with room for two claims five times at once: two succeed, the others are refused
/// or find nobody, and the three customers left keep their places.
async fn one_agent_at_capacity(stores: Stores) {
    let (desk, events) = desk(&stores, 5, 1, 2).await;
    let claims: Vec<_> = (0..5)
        .map(|_| {
            let desk = desk.clone();
            tokio::spawn(async move { desk.claim_next(&actor("agent-00".into())).await })
        })
        .collect();
    let mut won = 0;
    for claim in claims {
        match claim.await.unwrap() {
            Ok(Some(_)) => won += 1,
            Ok(None) | Err(DeskError::Conflict { .. }) => {}
            Err(e) => panic!("unexpected: {e}"),
        }
    }
    assert_eq!(won, 2);
    let agent = stores.agents.get("agent-00").await.unwrap().unwrap();
    assert_eq!(agent.holding.len(), 2);
    assert_eq!(stores.attendance.waiting(t0()).await.unwrap().len(), 3);
    assert_eq!(events.drain().len(), 2);
    // Full: the next claim is refused, and says why.
    match desk.claim_next(&actor("agent-00".into())).await {
        Err(DeskError::Conflict { reason, .. }) => assert!(reason.contains("most at once")),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn memory_contention() {
    twenty_agents_five_customers(memory()).await;
    one_agent_at_capacity(memory()).await;
}

#[tokio::test]
#[ignore = "needs an AWS emulator: run `bash tests/run`"]
async fn dynamodb_contention() {
    twenty_agents_five_customers(dynamodb().await).await;
    one_agent_at_capacity(dynamodb().await).await;
}

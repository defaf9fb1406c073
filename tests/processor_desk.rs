//! The processor applying what agents do: an agent's action is an event on the customer's
//! group, applied once however often it is delivered, through the same outbox as the bot's
//! replies; the files customers send are kept; what the desk reserved for an action that can
//! no longer apply is given back.

use atende_shared::adapters::{
    ManualClock, MemoryAgents, MemoryAttendanceQueue, MemoryConversationLog, MemoryMediaStore,
    MemorySessionStore, MemoryTimers, MemoryWhatsApp,
};
use atende_shared::app::{Outcome, Processor};
use atende_shared::domain::agent::{AgentContent, AgentProfile, Presence};
use atende_shared::domain::{
    AgentAction, AgentRef, Config, CustomerId, EventKind, InboundMessage, MediaKind,
    MessageContent, QueueEvent,
};
use atende_shared::ports::{Agents, AttendanceQueue, media_key};
use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;

const MARIA: &str = "5511988887777";

fn now() -> DateTime<Utc> {
    "2026-11-24T15:00:00Z".parse().unwrap()
}

struct Rig {
    processor: Processor,
    whatsapp: Arc<MemoryWhatsApp>,
    agents: Arc<MemoryAgents>,
    attendance: Arc<MemoryAttendanceQueue>,
    media: Arc<MemoryMediaStore>,
    clock: Arc<ManualClock>,
}

async fn rig() -> Rig {
    let whatsapp = Arc::new(MemoryWhatsApp::new());
    let agents = Arc::new(MemoryAgents::new());
    let attendance = Arc::new(MemoryAttendanceQueue::new());
    let media = Arc::new(MemoryMediaStore::new("http://127.0.0.1").unwrap());
    let clock = Arc::new(ManualClock::new(now()));
    let processor = Processor::new(
        Arc::new(MemorySessionStore::new()),
        attendance.clone(),
        whatsapp.clone(),
        Arc::new(MemoryTimers::new()),
        clock.clone(),
        Arc::new(Config::embedded().unwrap()),
    )
    .with_desk(agents.clone(), Arc::new(MemoryConversationLog::new()))
    .with_media(media.clone());
    agents
        .put_profile(&AgentProfile {
            id: "ana".into(),
            email: "ana@example.com".into(),
            name: "Ana".into(),
            departments: vec!["suporte".into()],
            capacity: None,
            supervisor: false,
        })
        .await
        .unwrap();
    agents
        .set_presence("ana", Presence::Available)
        .await
        .unwrap();
    Rig {
        processor,
        whatsapp,
        agents,
        attendance,
        media,
        clock,
    }
}

fn event(id: &str, kind: EventKind) -> QueueEvent {
    QueueEvent {
        also: None,
        id: id.into(),
        customer: Some(CustomerId::Phone(MARIA.into())),
        business_number: Some("106540352242922".into()),
        kind,
    }
}

fn says(id: &str, content: MessageContent) -> QueueEvent {
    event(
        id,
        EventKind::Message(InboundMessage {
            id: id.into(),
            sent_at: None,
            profile_name: None,
            content,
        }),
    )
}

fn ana() -> AgentRef {
    AgentRef {
        id: "ana".into(),
        name: "Ana".into(),
    }
}

/// Ana takes Maria as the desk would: out of the line, her place reserved, the claim queued.
async fn claimed(rig: &Rig) -> QueueEvent {
    let maria = CustomerId::Phone(MARIA.into());
    let entry = rig.attendance.waiting(now()).await.unwrap()[0].clone();
    assert!(rig.attendance.take(&entry).await.unwrap());
    rig.agents.reserve("ana", &maria, 3).await.unwrap();
    event(
        "agent:claim:1",
        EventKind::Agent(AgentAction::Claim {
            agent: ana(),
            assigned_by: None,
        }),
    )
}

#[tokio::test]
async fn an_agents_reply_delivered_twice_is_sent_once() {
    let rig = rig().await;
    let help = MessageContent::Text {
        body: "atendente".into(),
    };
    rig.processor.handle(&says("wamid.1", help)).await.unwrap();
    let claim = claimed(&rig).await;
    for _ in 0..2 {
        rig.processor.handle(&claim).await.unwrap();
    }
    let reply = event(
        "agent:reply:1",
        EventKind::Agent(AgentAction::Reply {
            agent: ana(),
            content: AgentContent::Text {
                body: "Olá, Maria!".into(),
            },
        }),
    );
    assert_eq!(
        rig.processor.handle(&reply).await.unwrap(),
        Outcome::Applied { sent: 1 }
    );
    assert_eq!(
        rig.processor.handle(&reply).await.unwrap(),
        Outcome::Duplicate { sent: 0 }
    );
    let texts = rig.whatsapp.texts();
    assert_eq!(
        texts[texts.len() - 2..],
        [
            "👋 Olá! Aqui é Ana, da equipe de Suporte Técnico. Vou continuar seu atendimento.",
            "*Ana:*\nOlá, Maria!"
        ]
    );
    assert_eq!(
        texts
            .iter()
            .filter(|t| t.starts_with("👋 Olá! Aqui é Ana"))
            .count(),
        1,
        "the claim's greeting once"
    );
}

#[tokio::test]
async fn a_file_the_customer_sends_to_the_agent_is_kept() {
    let rig = rig().await;
    let help = MessageContent::Text {
        body: "atendente".into(),
    };
    rig.processor.handle(&says("wamid.1", help)).await.unwrap();
    let claim = claimed(&rig).await;
    rig.processor.handle(&claim).await.unwrap();
    let photo = MessageContent::Media {
        kind: MediaKind::Image,
        id: "1482902119483940".into(),
        mime_type: Some("image/jpeg".into()),
        caption: None,
    };
    rig.processor.handle(&says("wamid.2", photo)).await.unwrap();
    let maria = CustomerId::Phone(MARIA.into());
    assert_eq!(
        rig.media.keys(),
        [media_key(&maria, "in", "1482902119483940")]
    );
}

#[tokio::test]
async fn a_claim_that_arrives_after_the_conversation_ended_gives_the_place_back() {
    let rig = rig().await;
    let help = MessageContent::Text {
        body: "atendente".into(),
    };
    rig.processor.handle(&says("wamid.1", help)).await.unwrap();
    let claim = claimed(&rig).await;
    // The window closes before the claim is applied.
    rig.clock.advance(Duration::hours(25));
    assert_eq!(
        rig.processor.handle(&claim).await.unwrap(),
        Outcome::NoSession
    );
    let ana = rig.agents.get("ana").await.unwrap().unwrap();
    assert!(ana.holding.is_empty(), "{:?}", ana.holding);
}

//! Live updates for the console: the connections' store and the push, each against every
//! adapter (memory; DynamoDB on the emulator; API Gateway's management API against a local
//! stand-in of `POST /@connections/{id}`), and who hears about what when the processor and
//! the desk change a line or a conversation. Also: a conversation an agent holds past the
//! customer's window.

mod support;

use atende_shared::adapters::aws::{self, resources};
use atende_shared::adapters::memory::Delivery;
use atende_shared::adapters::{
    ApiGatewayPush, ChannelPush, DynamoDbLiveConnections, ManualClock, MemoryAgents,
    MemoryAttendanceQueue, MemoryConversationLog, MemoryEventQueue, MemoryLiveConnections,
    MemoryMediaStore, MemorySessionStore, MemoryTimers, MemoryWhatsApp,
};
use atende_shared::app::live::{Live, LiveError};
use atende_shared::app::{Actor, Desk, DeskError, DeskPorts, Processor};
use atende_shared::domain::agent::{AgentContent, AgentProfile, Presence};
use atende_shared::domain::live::{Connection, Listener};
use atende_shared::domain::{
    Config, CustomerId, EventKind, InboundMessage, MessageContent, OutboundMessage, QueueEvent,
};
use atende_shared::ports::{Agents, Clock, LiveConnections, Push, PushError};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use std::sync::{Arc, Mutex};
use support::{emulator, unique};
use tokio::sync::mpsc::UnboundedReceiver;

const MARIA: &str = "5511988887777";
const JOAO: &str = "5521998765432";
const BUSINESS: &str = "106540352242922";

fn t0() -> DateTime<Utc> {
    "2026-11-24T15:00:00Z".parse().unwrap()
}

fn listener(agent: &str, departments: &[&str], supervisor: bool) -> Listener {
    Listener {
        agent: agent.into(),
        departments: departments.iter().map(|d| (*d).to_owned()).collect(),
        supervisor,
    }
}

async fn connections_contract(store: &dyn LiveConnections) {
    let ana = listener("ana", &["suporte"], false);
    // A ticket opens one connection, once, before it expires.
    store
        .put_ticket("t-1", &ana, t0() + Duration::seconds(60))
        .await
        .unwrap();
    assert_eq!(
        store.take_ticket("t-1", t0()).await.unwrap(),
        Some(ana.clone())
    );
    assert_eq!(store.take_ticket("t-1", t0()).await.unwrap(), None);
    store
        .put_ticket("t-2", &ana, t0() + Duration::seconds(60))
        .await
        .unwrap();
    assert_eq!(
        store
            .take_ticket("t-2", t0() + Duration::seconds(61))
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.take_ticket("never", t0()).await.unwrap(), None);

    // Connections are listed until they expire or are removed.
    let carla = listener("carla", &[], true);
    for (id, who, hours) in [("c-2", &carla, 3), ("c-1", &ana, 1)] {
        store
            .add(&Connection {
                id: id.into(),
                listener: who.clone(),
                expires_at: t0() + Duration::hours(hours),
            })
            .await
            .unwrap();
    }
    let ids = |all: Vec<Connection>| all.into_iter().map(|c| c.id).collect::<Vec<_>>();
    assert_eq!(ids(store.list(t0()).await.unwrap()), ["c-1", "c-2"]);
    let listed = store.list(t0()).await.unwrap();
    assert_eq!(listed[1].listener, carla);
    assert_eq!(listed[1].expires_at, t0() + Duration::hours(3));
    assert_eq!(
        ids(store.list(t0() + Duration::hours(2)).await.unwrap()),
        ["c-2"]
    );
    store.remove("c-2").await.unwrap();
    store.remove("c-unknown").await.unwrap();
    assert_eq!(ids(store.list(t0()).await.unwrap()), ["c-1"]);
}

#[tokio::test]
async fn memory_live_connections() {
    connections_contract(&MemoryLiveConnections::new()).await;
}

#[tokio::test]
#[ignore = "needs an AWS emulator: run `bash tests/run`"]
async fn dynamodb_live_connections() {
    let client = aws::dynamodb(&emulator().await);
    let table = unique("live");
    resources::create_live_table(&client, &table).await.unwrap();
    connections_contract(&DynamoDbLiveConnections::new(client, table)).await;
}

/// A push reaches an open connection and finds a closed one gone.
async fn push_contract(push: &dyn Push, open: &str, frames: impl Fn() -> Vec<String>) {
    push.push(open, r#"{"type":"change"}"#).await.unwrap();
    assert_eq!(frames(), [r#"{"type":"change"}"#]);
    assert!(matches!(
        push.push("closed-one", r#"{"type":"change"}"#).await,
        Err(PushError::Gone)
    ));
}

#[tokio::test]
async fn channel_push() {
    let push = ChannelPush::new();
    let receiver = Mutex::new(push.open("open-one"));
    push_contract(&push, "open-one", || {
        let mut got = Vec::new();
        while let Ok(frame) = receiver.lock().unwrap().try_recv() {
            got.push(frame);
        }
        got
    })
    .await;
    push.close("open-one");
    assert!(matches!(
        push.push("open-one", "{}").await,
        Err(PushError::Gone)
    ));
}

type Posted = Arc<Mutex<Vec<(String, String)>>>;

/// API Gateway's management API as far as pushing goes: `POST /@connections/{id}` is 200 for
/// the open connection and 410 `GoneException` for any other.
async fn connections_stand_in(open: &'static str) -> (String, Posted) {
    let posted: Posted = Arc::default();
    let app = axum::Router::new()
        .route(
            "/{*path}",
            axum::routing::post(
                |State((posted, open)): State<(Posted, &'static str)>,
                 Path(path): Path<String>,
                 body: String| async move {
                    let id = path
                        .strip_prefix("@connections/")
                        .unwrap_or(&path)
                        .to_owned();
                    if id == open {
                        posted.lock().unwrap().push((id, body));
                        (StatusCode::OK, [("x-amzn-errortype", "")], String::new())
                    } else {
                        (
                            StatusCode::GONE,
                            [("x-amzn-errortype", "GoneException")],
                            r#"{"message":"Gone"}"#.to_owned(),
                        )
                    }
                },
            ),
        )
        .with_state((posted.clone(), open));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}"), posted)
}

#[tokio::test]
async fn api_gateway_push() {
    let (endpoint, posted) = connections_stand_in("Zx0pCdq9IAMCJ3g=").await;
    let sdk = aws::aws_config::SdkConfig::builder()
        .behavior_version(aws::aws_config::BehaviorVersion::latest())
        .region(aws::aws_config::Region::new("us-east-1"))
        .credentials_provider(
            aws::aws_sdk_apigatewaymanagement::config::SharedCredentialsProvider::new(
                aws::aws_sdk_apigatewaymanagement::config::Credentials::for_tests(),
            ),
        )
        .build();
    let push = ApiGatewayPush::new(aws::connections(&sdk, &endpoint));
    push_contract(&push, "Zx0pCdq9IAMCJ3g=", || {
        posted
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| b.clone())
            .collect()
    })
    .await;
}

/// The desk and the processor on memory, with live updates, and a page open for each of
/// Ana (Suporte), Bruno (Financeiro, Vendas) and Carla (supervisor).
struct Rig {
    desk: Desk,
    processor: Processor,
    queue: Arc<MemoryEventQueue>,
    whatsapp: Arc<MemoryWhatsApp>,
    agents: Arc<MemoryAgents>,
    live: Arc<Live>,
    connections: Arc<MemoryLiveConnections>,
    sockets: Arc<ChannelPush>,
    clock: Arc<ManualClock>,
    pages: Vec<(&'static str, UnboundedReceiver<String>)>,
}

fn actor(id: &str) -> Actor {
    Actor {
        id: id.into(),
        supervisor: id == "carla",
    }
}

async fn rig() -> Rig {
    let clock = Arc::new(ManualClock::new(t0()));
    let config = Arc::new(Config::embedded().unwrap());
    let agents = Arc::new(MemoryAgents::new());
    let attendance = Arc::new(MemoryAttendanceQueue::new());
    let sessions = Arc::new(MemorySessionStore::new());
    let log = Arc::new(MemoryConversationLog::new());
    let media = Arc::new(MemoryMediaStore::new("http://127.0.0.1").unwrap());
    let whatsapp = Arc::new(MemoryWhatsApp::new());
    let queue = Arc::new(MemoryEventQueue::new());
    let connections = Arc::new(MemoryLiveConnections::new());
    let sockets = Arc::new(ChannelPush::new());
    let live = Arc::new(Live::new(
        connections.clone(),
        sockets.clone(),
        clock.clone(),
    ));
    for (id, name, departments, supervisor) in [
        ("ana", "Ana", vec!["suporte"], false),
        ("bruno", "Bruno", vec!["financeiro", "vendas"], false),
        ("carla", "Carla", vec![], true),
    ] {
        agents
            .put_profile(&AgentProfile {
                id: id.into(),
                email: format!("{id}@example.com"),
                name: name.into(),
                departments: departments.into_iter().map(str::to_owned).collect(),
                capacity: None,
                supervisor,
            })
            .await
            .unwrap();
        agents.set_presence(id, Presence::Available).await.unwrap();
    }
    let desk = Desk::new(
        DeskPorts {
            agents: agents.clone(),
            attendance: attendance.clone(),
            sessions: sessions.clone(),
            events: queue.clone(),
            log: log.clone(),
            media: media.clone(),
            clock: clock.clone(),
        },
        config.clone(),
        Some(BUSINESS.into()),
    )
    .with_live(live.clone(), "ws://127.0.0.1:1/live");
    let processor = Processor::new(
        sessions,
        attendance,
        whatsapp.clone(),
        Arc::new(MemoryTimers::new()),
        clock.clone(),
        config,
    )
    .with_desk(agents.clone(), log)
    .with_media(media)
    .with_live(live.clone());
    let mut rig = Rig {
        desk,
        processor,
        queue,
        whatsapp,
        agents,
        live,
        connections,
        sockets,
        clock,
        pages: Vec::new(),
    };
    for who in ["ana", "bruno", "carla"] {
        rig.open_page(who).await;
    }
    rig
}

impl Rig {
    /// Opens (or opens again, as the page does every two hours) `who`'s live connection.
    async fn open_page(&mut self, who: &'static str) {
        let ticket = self.desk.live_ticket(&actor(who)).await.unwrap();
        assert!(
            ticket.url.starts_with("ws://127.0.0.1:1/live?ticket=") && ticket.ticket.len() == 64,
            "{ticket:?}"
        );
        let id = format!("page-{who}");
        let frames = self.sockets.open(&id);
        self.live.connect(&id, &ticket.ticket).await.unwrap();
        self.pages.retain(|(w, _)| *w != who);
        self.pages.push((who, frames));
    }

    /// Who heard something since last asked, and what.
    fn heard(&mut self) -> Vec<(&'static str, String)> {
        let mut heard = Vec::new();
        for (who, frames) in &mut self.pages {
            while let Ok(frame) = frames.try_recv() {
                heard.push((*who, frame));
            }
        }
        heard
    }

    fn who_heard(&mut self) -> Vec<&'static str> {
        let mut who: Vec<_> = self.heard().into_iter().map(|(w, _)| w).collect();
        who.dedup();
        who
    }

    async fn says(&self, customer: &str, id: &str, text: &str) {
        let event = QueueEvent {
            also: None,
            id: id.into(),
            customer: Some(CustomerId::Phone(customer.into())),
            business_number: Some(BUSINESS.into()),
            kind: EventKind::Message(InboundMessage {
                id: id.into(),
                sent_at: None,
                profile_name: Some("Maria Silva".into()),
                content: MessageContent::Text { body: text.into() },
            }),
        };
        self.processor.handle(&event).await.unwrap();
    }

    /// Applies what the desk queued, as the queue's consumer would.
    async fn apply_queued(&self) {
        for event in self.queue.drain() {
            self.processor.handle(&event).await.unwrap();
        }
    }
}

fn maria() -> CustomerId {
    CustomerId::Phone(MARIA.into())
}

#[tokio::test]
async fn each_page_hears_of_its_departments_and_its_conversations() {
    let mut rig = rig().await;
    // A conversation with the bot alone concerns nobody at the desk.
    rig.says(JOAO, "wamid.J1", "oi").await;
    assert_eq!(rig.who_heard(), Vec::<&str>::new());

    // Maria joins Suporte's line: Ana and the supervisor hear of it, with her key.
    rig.says(MARIA, "wamid.M1", "quero falar com um atendente")
        .await;
    let heard = rig.heard();
    assert!(
        heard
            .iter()
            .all(|(_, f)| f == &format!(r#"{{"type":"change","customer":"{MARIA}"}}"#)),
        "{heard:?}"
    );
    let mut who: Vec<_> = heard.iter().map(|(w, _)| *w).collect();
    who.dedup();
    assert_eq!(who, ["ana", "carla"]);

    // Ana's claim: colleagues see Maria leave the line at once (the desk), and again when the
    // claim is applied (the processor).
    rig.desk.claim_next(&actor("ana")).await.unwrap().unwrap();
    assert_eq!(rig.who_heard(), ["ana", "carla"]);
    rig.apply_queued().await;
    assert_eq!(rig.who_heard(), ["ana", "carla"]);

    // Ana hands her to Bruno by name: now he hears of her too.
    rig.desk
        .transfer(
            &actor("ana"),
            &maria(),
            atende_shared::domain::TransferTarget::Agent {
                agent: atende_shared::domain::AgentRef {
                    id: "bruno".into(),
                    name: String::new(),
                },
            },
            "transfer-1",
        )
        .await
        .unwrap();
    rig.apply_queued().await;
    let who = rig.who_heard();
    assert!(who.contains(&"bruno"), "{who:?}");
    // He reads her conversation, though she is Suporte's.
    let page = rig
        .desk
        .conversation(&actor("bruno"), &maria(), None, 50)
        .await
        .unwrap();
    assert_eq!(page.conversation.unwrap().agent.unwrap().id, "bruno");

    // Her next message reaches Bruno's page.
    rig.says(MARIA, "wamid.M2", "obrigada").await;
    assert!(rig.who_heard().contains(&"bruno"));

    // Presence concerns the agent (and the supervisors).
    rig.desk
        .set_presence(&actor("ana"), Presence::Away)
        .await
        .unwrap();
    assert_eq!(rig.who_heard(), ["ana", "carla"]);
}

#[tokio::test]
async fn tickets_are_used_once_and_gone_pages_are_forgotten() {
    let mut rig = rig().await;
    let ticket = rig.desk.live_ticket(&actor("ana")).await.unwrap();
    rig.live.connect("page-2", &ticket.ticket).await.unwrap();
    assert!(matches!(
        rig.live.connect("page-3", &ticket.ticket).await,
        Err(LiveError::BadTicket)
    ));
    let late = rig.desk.live_ticket(&actor("ana")).await.unwrap();
    rig.clock.advance(Duration::seconds(61));
    assert!(matches!(
        rig.live.connect("page-4", &late.ticket).await,
        Err(LiveError::BadTicket)
    ));
    // Somebody not of the desk gets no ticket.
    assert!(matches!(
        rig.desk.live_ticket(&actor("mallory")).await,
        Err(DeskError::Forbidden(_))
    ));

    // Ana's second page (never opened here) and her first, closed, are gone at the next push.
    rig.sockets.close("page-ana");
    rig.says(MARIA, "wamid.M1", "atendente").await;
    let open: Vec<String> = rig
        .connections
        .list(rig.clock.now())
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(open, ["page-bruno", "page-carla"]);
    assert_eq!(rig.who_heard(), ["carla"]);
}

#[tokio::test]
async fn a_conversation_held_past_the_window_gets_a_template_and_is_let_go() {
    let mut rig = rig().await;
    rig.says(MARIA, "wamid.M1", "atendente").await;
    rig.desk.claim_next(&actor("ana")).await.unwrap().unwrap();
    rig.apply_queued().await;
    rig.clock.advance(Duration::hours(25));
    rig.heard();
    // Connections last two hours: the page has opened a new one since.
    rig.open_page("ana").await;

    // Her session ended with the window, but Ana still holds her: it is on Ana's list and
    // its page opens, offering templates only.
    let mine = rig.desk.mine(&actor("ana")).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].state, "window_closed");
    assert_eq!(mine[0].department.as_deref(), Some("suporte"));
    assert_eq!(mine[0].window_open_until, None);
    let page = rig
        .desk
        .conversation(&actor("ana"), &maria(), None, 50)
        .await
        .unwrap();
    assert_eq!(page.conversation.unwrap().agent.unwrap().id, "ana");
    let refused = rig
        .desk
        .reply(
            &actor("ana"),
            &maria(),
            AgentContent::Text {
                body: "ainda está aí?".into(),
            },
            "r-1",
        )
        .await;
    assert!(
        matches!(&refused, Err(DeskError::Conflict { templates, .. }) if !templates.is_empty()),
        "{refused:?}"
    );
    rig.desk
        .reply(
            &actor("ana"),
            &maria(),
            AgentContent::Template {
                name: "retomar_atendimento".into(),
                language: String::new(),
                parameters: vec!["Maria".into()],
            },
            "r-2",
        )
        .await
        .unwrap();
    rig.apply_queued().await;
    let template_sent = rig.whatsapp.deliveries().iter().any(|d| {
        matches!(d, Delivery::Sent { message: OutboundMessage::Template { name, .. }, .. } if name == "retomar_atendimento")
    });
    assert!(template_sent, "{:?}", rig.whatsapp.deliveries());
    // Her page hears of it, though the conversation is no longer a person's.
    assert_eq!(rig.who_heard(), ["ana"]);
    // Still hers after the template; closing lets her go.
    assert_eq!(rig.desk.mine(&actor("ana")).await.unwrap().len(), 1);
    rig.desk
        .close(&actor("ana"), &maria(), "c-1")
        .await
        .unwrap();
    let ana = rig.agents.get("ana").await.unwrap().unwrap();
    assert!(ana.holding.is_empty(), "{:?}", ana.holding);
    assert!(rig.desk.mine(&actor("ana")).await.unwrap().is_empty());
    assert!(rig.who_heard().contains(&"ana"));
}

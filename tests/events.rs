//! Every file in `events/` (the `sam local invoke -e` and `cargo lambda invoke --data-file`
//! examples) runs through the handler of the function it is meant for, so the examples never
//! rot. A new file without an expectation below fails the test.
//!
//! The webhook examples are signed with the test app secret of `events/README.md`. After
//! editing one, `ATENDE_RESIGN_EVENTS=1 cargo test --test events` signs it again.

mod support;

use atende_shared::adapters::memory::Delivery;
use atende_shared::adapters::{
    ManualClock, MemoryAgents, MemoryAttendanceQueue, MemoryConversationLog, MemoryEventQueue,
    MemorySessionStore, MemoryTimers, MemoryWhatsApp,
};
use atende_shared::app::{Desk, DeskPorts, Processor, SlaChecker, Webhook, WebhookSecrets};
use atende_shared::domain::sla::{Priority, WaitingCustomer};
use atende_shared::domain::{Config, CustomerId, EventKind, OutboundMessage};
use atende_shared::edge;
use atende_shared::ports::AttendanceQueue;
use atende_shared::secret::Secret;
use aws_lambda_events::event::sqs::SqsEvent;
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What each example must do when run through its handler.
enum Expect {
    /// Webhook: HTTP status, body, and the ids of the events enqueued.
    Webhook {
        status: u16,
        body: &'static str,
        enqueued: &'static [&'static str],
    },
    /// Processor: no batch failures, and these messages sent (rendered type + recipient):
    /// `sent` when the processor's clock reads `now()`, the instant the example was written
    /// for; `elsewhen` at any other instant (`ELSEWHEN`), as when someone invokes it today,
    /// after the off-hours notice when the business is closed then.
    Processor {
        sent: &'static [(&'static str, &'static str)],
        elsewhen: &'static [(&'static str, &'static str)],
    },
    /// SLA checker: how many planted customers are overdue.
    SlaChecker { overdue: u64 },
    /// Agents' API, on the planted desk (`desk_with`): HTTP status, a JSON pointer whose value
    /// in the answer must begin with the text given, and the agent actions queued (action,
    /// customer).
    Agent {
        status: u16,
        holds: Option<(&'static str, &'static str)>,
        queued: &'static [(&'static str, &'static str)],
    },
    /// Live updates (WebSocket API): the status answered, and the connections kept after it
    /// (`LIVE_TICKET` issued for Ana beforehand, another page of hers open).
    Live {
        status: i64,
        connections: &'static [&'static str],
    },
}

/// The ticket `live-connect.json` opens its connection with.
const LIVE_TICKET: &str = "5f0c2a9e8b7d6c4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e";
/// The WebSocket stage the planted desk hands tickets for.
const LIVE_URL: &str = "wss://w5x6y7z8a9.execute-api.us-east-1.amazonaws.com/live";

const MARIA: &str = "5511987654321";
const JOAO: &str = "5521998765432";

/// Maria's "oi" (greeting, menu), then her tap on "Vendas" (its answer, the catalog).
const OI_THEN_VENDAS: &[(&str, &str)] = &[
    ("text", MARIA),
    ("list", MARIA),
    ("text", MARIA),
    ("list", MARIA),
];

fn expectation(name: &str) -> Option<Expect> {
    let webhook_ok = |enqueued| Expect::Webhook {
        status: 200,
        body: "",
        enqueued,
    };
    Some(match name {
        "webhook-get-verify.json" => Expect::Webhook {
            status: 200,
            body: "1158201444",
            enqueued: &[],
        },
        "webhook-post-text.json" => {
            webhook_ok(&["wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjBDMDk4NkE3RDJGMUU4NDEwAA=="])
        }
        "webhook-post-button-reply.json" => {
            webhook_ok(&["wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjA3RjU1QjI5QjZFQzM2N0YzAA=="])
        }
        "webhook-post-list-reply.json" => {
            webhook_ok(&["wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjAxQTY2RkQ5NzVCNDdGQkQ5AA=="])
        }
        "webhook-post-status.json" => webhook_ok(&[
            "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjQyMDdBQjE5RDM4QjQyNTg5RQA=:delivered",
        ]),
        "webhook-post-batch-two-customers.json" => webhook_ok(&[
            "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjBCMUM5QjQ0RkM2MjlFMjFFAA==",
            "wamid.HBgNNTUyMTk5ODc2NTQzMhUCABIYFjNFQjA5OEQ3RjdBQUI0OTk1QzE3AA==",
        ]),
        "webhook-post-escaped-unicode.json" => {
            webhook_ok(&["wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjBFNUM4MUJBMzE3QkQ0RkUxAA=="])
        }
        "webhook-post-base64.json" => {
            webhook_ok(&["wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjA2QzY5RDlBNjM3NUI2MjM1AA=="])
        }
        "processor-sqs-batch.json" => Expect::Processor {
            // "oi": greeting and the menu; the "Vendas" tap: its answer and the catalog. The
            // messages carry no send time, so they are answered whenever they are run.
            sent: OI_THEN_VENDAS,
            elsewhen: OI_THEN_VENDAS,
        },
        "processor-timer.json" => Expect::Processor {
            // "oi": greeting and the menu; ten minutes of silence later, Scheduler delivers
            // the inactivity timer the engine set (content-based deduplication id): the
            // follow-up. At any other instant the engine set its timer for ten minutes after
            // that "oi", so the file's timer is not the pending one and does nothing.
            // Another customer than the batch's, so that the two examples can run in any
            // order against one table.
            sent: &[("text", JOAO), ("list", JOAO), ("text", JOAO)],
            elsewhen: &[("text", JOAO), ("list", JOAO)],
        },
        "sla-checker-schedule.json" => Expect::SlaChecker { overdue: 1 },
        "agent-get-lines.json" => Expect::Agent {
            status: 200,
            holds: Some(("/waiting/0/customer", MARIA)),
            queued: &[],
        },
        "agent-post-claim-customer.json" => Expect::Agent {
            status: 201,
            holds: Some(("/customer", MARIA)),
            queued: &[("claim", MARIA)],
        },
        "agent-post-live-ticket.json" => Expect::Agent {
            status: 201,
            holds: Some((
                "/url",
                "wss://w5x6y7z8a9.execute-api.us-east-1.amazonaws.com/live?ticket=",
            )),
            queued: &[],
        },
        "live-connect.json" => Expect::Live {
            status: 200,
            connections: &["Zx0pCdq9IAMCJ3g=", "page-before"],
        },
        "live-connect-used-ticket.json" => Expect::Live {
            status: 401,
            connections: &["page-before"],
        },
        "live-ping.json" => Expect::Live {
            status: 200,
            connections: &["Zx0pCdq9IAMCJ3g=", "page-before"],
        },
        "live-disconnect.json" => Expect::Live {
            status: 200,
            connections: &["page-before"],
        },
        "agent-post-claim.json" => Expect::Agent {
            status: 201,
            holds: Some(("/customer", MARIA)),
            queued: &[("claim", MARIA)],
        },
        "agent-post-message.json" => Expect::Agent {
            status: 202,
            holds: Some(("/status", "accepted")),
            queued: &[("reply", JOAO)],
        },
        "agent-post-note-another-department.json" => Expect::Agent {
            status: 403,
            holds: Some(("/title", "Forbidden")),
            queued: &[],
        },
        "supervisor-get-overview.json" => Expect::Agent {
            status: 200,
            holds: Some(("/departments/0/department", "suporte")),
            queued: &[],
        },
        _ => return None,
    })
}

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("events")
}

/// The instant the examples were written for: a Tuesday, 09:01 in São Paulo (open).
fn now() -> DateTime<Utc> {
    "2026-11-24T12:01:00Z".parse().unwrap()
}

/// Other instants the processor examples run at, and whether the business is open then.
const ELSEWHEN: [(&str, bool); 3] = [
    // A year on, a Tuesday at 10:00 in São Paulo.
    ("2027-11-30T13:00:00Z", true),
    // A Sunday at 03:00 in São Paulo.
    ("2026-12-06T06:00:00Z", false),
    // Christmas, a Saturday: 11:00 would be open on another Saturday.
    ("2027-12-25T14:00:00Z", false),
];

#[tokio::test]
async fn every_example_event_runs_through_its_handler() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(events_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "examples missing");
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let expect = expectation(&name)
            .unwrap_or_else(|| panic!("events/{name} has no expectation in tests/events.rs"));
        match expect {
            Expect::Webhook {
                status,
                body,
                enqueued,
            } => check_webhook(&name, &path, &text, status, body, enqueued).await,
            Expect::Processor { sent, elsewhen } => {
                check_processor(&name, &text, now(), sent).await;
                for (at, open) in ELSEWHEN {
                    // When closed, the off-hours notice goes first, to whoever wrote first.
                    let mut want = match elsewhen.first() {
                        Some(&(_, first)) if !open => vec![("text", first)],
                        _ => vec![],
                    };
                    want.extend_from_slice(elsewhen);
                    let texts = check_processor(&name, &text, at.parse().unwrap(), &want).await;
                    if !open {
                        let config = Config::embedded().unwrap();
                        assert_eq!(texts[0], config.texts.off_hours, "{name} at {at}");
                    }
                }
            }
            Expect::SlaChecker { overdue } => check_sla(&name, &text, overdue).await,
            Expect::Agent {
                status,
                holds,
                queued,
            } => check_agent(&name, &text, status, holds, queued).await,
            Expect::Live {
                status,
                connections,
            } => check_live(&name, &text, status, connections).await,
        }
    }
}

async fn check_webhook(
    name: &str,
    path: &Path,
    text: &str,
    status: u16,
    body: &str,
    enqueued: &[&str],
) {
    if std::env::var_os("ATENDE_RESIGN_EVENTS").is_some() && name.starts_with("webhook-post") {
        resign(path, text);
    }
    let text = std::fs::read_to_string(path).unwrap();
    let queue = Arc::new(MemoryEventQueue::new());
    let secrets = WebhookSecrets {
        app_secret: Secret::new(support::APP_SECRET).unwrap(),
        verify_token: Secret::new(support::VERIFY_TOKEN).unwrap(),
    };
    let webhook = Webhook::new(secrets, queue.clone());
    let request = lambda_http::request::from_str(&text)
        .unwrap_or_else(|e| panic!("{name} is not an API Gateway event: {e}"));
    let response = edge::lambda::webhook(&webhook, request).await.unwrap();
    assert_eq!(
        response.status().as_u16(),
        status,
        "{name}: {:?}",
        response.body()
    );
    if !body.is_empty() {
        assert_eq!(response.body().as_ref(), body.as_bytes(), "{name}");
    }
    let ids: Vec<String> = queue.drain().into_iter().map(|e| e.id).collect();
    assert_eq!(ids, enqueued, "{name}");
}

/// Rewrites the example's signature header for its current body.
fn resign(path: &Path, text: &str) {
    use base64::Engine;
    let mut event: Value = serde_json::from_str(text).unwrap();
    let body = event["body"].as_str().unwrap_or_default().to_owned();
    let bytes = if event["isBase64Encoded"] == true {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap()
    } else {
        body.into_bytes()
    };
    event["headers"]["x-hub-signature-256"] = Value::String(support::sign(&bytes));
    let pretty = serde_json::to_string_pretty(&event).unwrap();
    std::fs::write(path, pretty + "\n").unwrap();
}

/// Runs the batch with the processor's clock at `at`; returns the texts sent.
async fn check_processor(
    name: &str,
    text: &str,
    at: DateTime<Utc>,
    sent: &[(&str, &str)],
) -> Vec<String> {
    let batch: SqsEvent =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{name} is not an SQS event: {e}"));
    let whatsapp = Arc::new(MemoryWhatsApp::new());
    let processor = Processor::new(
        Arc::new(MemorySessionStore::new()),
        Arc::new(MemoryAttendanceQueue::new()),
        whatsapp.clone(),
        Arc::new(MemoryTimers::new()),
        Arc::new(ManualClock::new(at)),
        Arc::new(Config::embedded().unwrap()),
    );
    let response = edge::lambda::processor(&processor, batch.clone()).await;
    assert!(
        response.batch_item_failures.is_empty(),
        "{name} at {at}: {response:?}"
    );
    let got: Vec<(String, String)> = whatsapp
        .deliveries()
        .into_iter()
        .filter_map(|d| match d {
            Delivery::Sent { to, message, .. } => Some((
                match message {
                    OutboundMessage::Text { .. } => "text",
                    OutboundMessage::Buttons { .. } => "buttons",
                    OutboundMessage::List { .. } => "list",
                    OutboundMessage::Flow { .. } => "flow",
                    OutboundMessage::Template { .. } => "template",
                    OutboundMessage::Media { .. } => "media",
                }
                .to_owned(),
                to.key().to_owned(),
            )),
            Delivery::Read { .. } => None,
        })
        .collect();
    let want: Vec<(String, String)> = sent
        .iter()
        .map(|(k, to)| (k.to_string(), to.to_string()))
        .collect();
    assert_eq!(got, want, "{name} at {at}");
    // Every message record was marked read; the status record sends nothing.
    let messages = batch
        .records
        .iter()
        .filter(|r| {
            let event: atende_shared::domain::QueueEvent =
                serde_json::from_str(r.body.as_deref().unwrap()).unwrap();
            matches!(event.kind, EventKind::Message(_))
        })
        .count();
    let reads = whatsapp
        .deliveries()
        .iter()
        .filter(|d| matches!(d, Delivery::Read { .. }))
        .count();
    assert_eq!(reads, messages, "{name} at {at}");
    whatsapp.texts()
}

async fn check_sla(name: &str, text: &str, overdue: u64) {
    let input: Value = serde_json::from_str(text).unwrap();
    let queue = Arc::new(MemoryAttendanceQueue::new());
    for (who, minutes) in [(MARIA, 30), (JOAO, 1)] {
        queue
            .enqueue(WaitingCustomer {
                customer: CustomerId::Phone(who.into()),
                department: "suporte".into(),
                priority: Priority::Normal,
                entered_at: now() - Duration::minutes(minutes),
                expires_at: None,
            })
            .await
            .unwrap();
    }
    let checker = SlaChecker::new(
        queue,
        Arc::new(ManualClock::new(now())),
        Arc::new(Config::embedded().unwrap()),
    );
    let answer = edge::lambda::sla_checker(&checker, input.clone())
        .await
        .unwrap();
    assert_eq!(answer["overdue"], overdue, "{name}");
    assert_eq!(answer["alerts"], overdue, "{name}: the first run alerts");
    let again = edge::lambda::sla_checker(&checker, input).await.unwrap();
    assert_eq!(
        again["alerts"], 0,
        "{name}: the next run alerts nobody again"
    );
}

/// The desk the agent examples run on: Maria waits in Suporte's line; João's conversation is
/// held by Ana (Suporte); Bruno works in Financeiro; Carla supervises. The ids are the
/// examples' `sub` claims.
async fn planted_desk(queue: Arc<MemoryEventQueue>) -> Desk {
    use atende_shared::domain::agent::{AgentProfile, Presence};
    use atende_shared::domain::{AgentRef, Session, SessionRecord, State};
    use atende_shared::ports::{Agents, SessionStore};
    let at = now();
    let agents = Arc::new(MemoryAgents::new());
    let sessions = Arc::new(MemorySessionStore::new());
    let attendance = Arc::new(MemoryAttendanceQueue::new());
    let team = [
        (
            "0a1b2c3d-1111-4e5f-8a9b-000000000001",
            "Ana",
            "suporte",
            false,
        ),
        (
            "0a1b2c3d-2222-4e5f-8a9b-000000000002",
            "Bruno",
            "financeiro",
            false,
        ),
        (
            "0a1b2c3d-3333-4e5f-8a9b-000000000003",
            "Carla",
            "suporte",
            true,
        ),
    ];
    for (id, name, department, supervisor) in team {
        agents
            .put_profile(&AgentProfile {
                id: id.into(),
                email: format!("{}@empresa.com.br", name.to_lowercase()),
                name: name.into(),
                departments: vec![department.into()],
                capacity: None,
                supervisor,
            })
            .await
            .unwrap();
        agents.set_presence(id, Presence::Available).await.unwrap();
    }
    let ana = AgentRef {
        id: team[0].0.into(),
        name: "Ana".into(),
    };
    for (who, agent) in [(MARIA, None), (JOAO, Some(ana.clone()))] {
        let customer = CustomerId::Phone(who.into());
        let since = at - Duration::minutes(4);
        let mut session = Session::new(customer.clone(), since);
        session.state = State::Human {
            department: "suporte".into(),
            since,
            told_position: None,
            agent: agent.clone(),
            awaiting_reply_since: None,
        };
        let mut record = SessionRecord::new(session);
        record.business_number = Some("106540352242922".into());
        sessions.save(&record, at).await.unwrap();
        match agent {
            None => attendance
                .enqueue(WaitingCustomer {
                    customer,
                    department: "suporte".into(),
                    priority: Priority::Normal,
                    entered_at: since,
                    expires_at: None,
                })
                .await
                .unwrap(),
            Some(agent) => {
                agents.reserve(&agent.id, &customer, 3).await.unwrap();
            }
        }
    }
    Desk::new(
        DeskPorts {
            agents,
            attendance,
            sessions,
            events: queue,
            log: Arc::new(MemoryConversationLog::new()),
            media: std::sync::Arc::new(
                atende_shared::adapters::MemoryMediaStore::new("http://127.0.0.1").unwrap(),
            ),
            clock: Arc::new(ManualClock::new(at)),
        },
        Arc::new(Config::embedded().unwrap()),
        None,
    )
    .with_live(
        Arc::new(atende_shared::app::live::Live::new(
            Arc::new(atende_shared::adapters::MemoryLiveConnections::new()),
            Arc::new(atende_shared::adapters::ChannelPush::new()),
            Arc::new(ManualClock::new(at)),
        )),
        LIVE_URL,
    )
}

async fn check_live(name: &str, text: &str, status: i64, connections: &[&str]) {
    use atende_shared::domain::live::{Connection, Listener};
    use atende_shared::ports::LiveConnections;
    let store = Arc::new(atende_shared::adapters::MemoryLiveConnections::new());
    let ana = Listener {
        agent: "0a1b2c3d-1111-4e5f-8a9b-000000000001".into(),
        departments: vec!["suporte".into()],
        supervisor: false,
    };
    store
        .put_ticket(LIVE_TICKET, &ana, now() + Duration::seconds(60))
        .await
        .unwrap();
    // Another page is open; the ping and the disconnect are about one opened before them.
    let open_before: &[&str] = match name {
        "live-ping.json" | "live-disconnect.json" => &["page-before", "Zx0pCdq9IAMCJ3g="],
        _ => &["page-before"],
    };
    for id in open_before {
        store
            .add(&Connection {
                id: (*id).into(),
                listener: ana.clone(),
                expires_at: now() + Duration::hours(2),
            })
            .await
            .unwrap();
    }
    let live = atende_shared::app::live::Live::new(
        store.clone(),
        Arc::new(atende_shared::adapters::ChannelPush::new()),
        Arc::new(ManualClock::new(now())),
    );
    let event = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("{name} is not a WebSocket API event: {e}"));
    let response = edge::lambda::live(&live, event).await;
    assert_eq!(response.status_code, status, "{name}");
    let mut kept: Vec<String> = store
        .list(now())
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    kept.sort();
    assert_eq!(kept, connections, "{name}");
}

async fn check_agent(
    name: &str,
    text: &str,
    status: u16,
    holds: Option<(&str, &str)>,
    queued: &[(&str, &str)],
) {
    let queue = Arc::new(MemoryEventQueue::new());
    let desk = planted_desk(queue.clone()).await;
    let request = lambda_http::request::from_str(text)
        .unwrap_or_else(|e| panic!("{name} is not an API Gateway event: {e}"));
    let login = edge::console::Login::Cognito {
        region: "us-east-1".into(),
        client_id: "4v1tq6l7kq1m3r9f0a2b3c4d5e".into(),
        endpoint: None,
    };
    let response = edge::lambda::agent_api(&desk, &login, request)
        .await
        .unwrap();
    let body = String::from_utf8_lossy(response.body().as_ref()).into_owned();
    assert_eq!(response.status().as_u16(), status, "{name}: {body}");
    if let Some((pointer, value)) = holds {
        let answer: Value = serde_json::from_str(&body).unwrap();
        let found = answer.pointer(pointer).and_then(Value::as_str);
        assert!(
            found.is_some_and(|found| found.starts_with(value)),
            "{name}: {pointer} is {found:?}, not {value}…: {body}"
        );
    }
    let got: Vec<(String, String)> = queue
        .drain()
        .into_iter()
        .map(|e| match &e.kind {
            EventKind::Agent(action) => (action.name().to_owned(), e.group()),
            other => panic!("{name} queued {other:?}"),
        })
        .collect();
    let want: Vec<(String, String)> = queued
        .iter()
        .map(|(a, c)| (a.to_string(), c.to_string()))
        .collect();
    assert_eq!(got, want, "{name}");
}

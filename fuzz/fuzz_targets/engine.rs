//! The conversation engine over arbitrary sequences of inputs on arbitrary sessions: whatever
//! a customer sends, an agent does, a timer or the assistant answers, in any order and at any
//! time, from any state the conversation may be in, the engine never panics and every message
//! it builds is within WhatsApp's limits. Timers never open the customer's window.

#![no_main]

use atende_shared::domain::config::limits;
use atende_shared::domain::engine::{Input, step};
use atende_shared::domain::{
    AgentAction, AgentContent, AgentRef, Command, Config, CustomerId, InboundMessage, MediaKind,
    MessageContent, OutboundMessage, Session, State, TimerFired, TimerKind, TransferTarget,
};
use chrono::{DateTime, Duration, Utc};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// The shipped configuration, with the assistant on and off.
fn configs() -> &'static [Config; 2] {
    static CONFIGS: OnceLock<[Config; 2]> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        let config = Config::embedded().expect("the shipped configuration loads");
        let mut with_assistant = config.clone();
        with_assistant.assistant_available = true;
        [config, with_assistant]
    })
}

/// Words and ids the flows react to, and noise.
const WORDS: &[&str] = &[
    "oi",
    "menu",
    "1",
    "2",
    "3",
    "4",
    "5",
    "0",
    "10",
    "suporte",
    "vendas",
    "financeiro",
    "atendente",
    "humano",
    "sem anexo",
    "Confirmar pedido",
    "voltar ao menu",
    "tchau",
    "529.982.247-25",
    "11.222.333/0001-81",
    "btn_suporte",
    "btn_vendas",
    "btn_financeiro",
    "btn_info",
    "plano_basico",
    "plano_familia",
    "plano_empresa",
    "sales_confirm",
    "sales_back",
    "support_no_attachment",
    "",
];

fn text(u: &mut Unstructured<'_>, max: usize) -> Result<String> {
    if u.ratio(2, 3)? {
        return Ok((*u.choose(WORDS)?).to_owned());
    }
    let s: String = u.arbitrary()?;
    Ok(s.chars().take(max).collect())
}

fn department(u: &mut Unstructured<'_>, config: &Config) -> Result<String> {
    Ok(match u.choose(&config.departments) {
        Ok(d) if u.ratio(7, 8)? => d.id.clone(),
        _ => text(u, 30)?,
    })
}

fn agent(u: &mut Unstructured<'_>) -> Result<AgentRef> {
    Ok(AgentRef {
        id: u.choose(&["ana", "bruno", "carla"])?.to_string(),
        name: text(u, 60)?,
    })
}

fn instant(u: &mut Unstructured<'_>, around: DateTime<Utc>) -> Result<DateTime<Utc>> {
    Ok(around + Duration::seconds(u.int_in_range(-3 * 86_400..=3 * 86_400)?))
}

/// Any state a conversation may be in.
fn session(u: &mut Unstructured<'_>, config: &Config, now: DateTime<Utc>) -> Result<Session> {
    let customer = if u.ratio(1, 8)? {
        CustomerId::User("US.13491208655302741918".into())
    } else {
        CustomerId::Phone("5511999990000".into())
    };
    let mut session = Session::new(customer, instant(u, now)?);
    session.last_inbound_at = instant(u, now)?;
    session.bot_attempts = u.int_in_range(0..=5)?;
    session.window_closed = u.ratio(1, 6)?;
    session.followed_up = u.ratio(1, 4)?;
    if u.ratio(1, 2)? {
        session.profile_name = Some(text(u, 80)?);
    }
    session.state = match u.int_in_range(0..=11)? {
        0 => State::Start,
        1 => State::MainMenu,
        2 => State::SupportDetails {
            department: department(u, config)?,
        },
        3 => State::SupportAttachment {
            department: department(u, config)?,
            details: text(u, 1000)?,
        },
        4 => State::SalesCatalog {
            department: department(u, config)?,
        },
        5 => State::SalesCheckout {
            department: department(u, config)?,
            item: match u.choose(&config.catalog) {
                Ok(item) if u.ratio(3, 4)? => item.id.clone(),
                _ => text(u, 40)?,
            },
        },
        6 => State::FinanceDocument {
            department: department(u, config)?,
        },
        7 => State::Human {
            department: department(u, config)?,
            since: instant(u, now)?,
            told_position: if u.arbitrary()? {
                Some(u.int_in_range(1..=50)?)
            } else {
                None
            },
            agent: if u.arbitrary()? {
                Some(agent(u)?)
            } else {
                None
            },
            awaiting_reply_since: if u.arbitrary()? {
                Some(instant(u, now)?)
            } else {
                None
            },
        },
        8 => State::Assistant,
        9 => State::NpsPending,
        10 => State::Nps,
        _ => State::Finished,
    };
    for _ in 0..u.int_in_range(0..=3)? {
        let kind = *u.choose(&[
            TimerKind::Inactivity,
            TimerKind::Nps,
            TimerKind::OpenNow,
            TimerKind::QueueUpdate,
            TimerKind::Unconfirmed,
        ])?;
        session.timers.insert(kind, instant(u, now)?);
    }
    for _ in 0..u.int_in_range(0..=4)? {
        let from = *u.choose(&[
            atende_shared::domain::Party::Customer,
            atende_shared::domain::Party::Bot,
            atende_shared::domain::Party::Agent,
        ])?;
        let line = text(u, 200)?;
        session.record(from, line, now);
    }
    Ok(session)
}

fn content(u: &mut Unstructured<'_>) -> Result<MessageContent> {
    Ok(match u.int_in_range(0..=10)? {
        0..=3 => MessageContent::Text {
            body: text(u, limits::TEXT_BODY)?,
        },
        4 => MessageContent::ButtonReply {
            id: text(u, 256)?,
            title: text(u, 20)?,
        },
        5 => MessageContent::ListReply {
            id: text(u, 200)?,
            title: text(u, 24)?,
            description: None,
        },
        6 => MessageContent::Media {
            kind: *u.choose(&[
                MediaKind::Image,
                MediaKind::Document,
                MediaKind::Audio,
                MediaKind::Video,
                MediaKind::Sticker,
            ])?,
            id: "1482902119483940".into(),
            mime_type: None,
            caption: if u.arbitrary()? {
                Some(text(u, limits::CAPTION)?)
            } else {
                None
            },
        },
        7 => MessageContent::Reaction {
            message_id: "wamid.out".into(),
            emoji: if u.arbitrary()? {
                Some("👍".into())
            } else {
                None
            },
        },
        8 => MessageContent::FlowReply {
            response_json: if u.arbitrary()? {
                format!(
                    "{{\"flow_token\":\"agendamento:1\",\"date\":{},\"name\":{}}}",
                    serde_json::Value::String(text(u, 100)?),
                    serde_json::Value::String(text(u, 2000)?)
                )
            } else {
                text(u, 500)?
            },
        },
        9 => MessageContent::System {
            kind: "user_changed_number".into(),
            body: Some(text(u, 200)?),
            new_wa_id: Some("5511999990001".into()),
        },
        _ => MessageContent::Location {
            latitude: -23.5,
            longitude: -46.6,
            name: None,
            address: None,
        },
    })
}

/// A text as the desk lets an agent's through: trimmed, not blank.
fn agent_text(u: &mut Unstructured<'_>, max: usize) -> Result<String> {
    let text = text(u, max)?.trim().to_owned();
    Ok(if text.is_empty() {
        "ok".to_owned()
    } else {
        text
    })
}

/// What an agent may do, as the desk lets it through (its texts within WhatsApp's limits).
fn agent_action(u: &mut Unstructured<'_>, config: &Config) -> Result<AgentAction> {
    let agent = agent(u)?;
    Ok(match u.int_in_range(0..=4)? {
        0 => AgentAction::Claim {
            agent,
            assigned_by: None,
        },
        1 => AgentAction::Reply {
            agent,
            content: match u.int_in_range(0..=2)? {
                0 => AgentContent::Text {
                    body: agent_text(u, 3900)?,
                },
                1 => AgentContent::File {
                    kind: MediaKind::Document,
                    link: "https://files.example/doc.pdf".into(),
                    filename: Some(agent_text(u, 100)?),
                    caption: if u.arbitrary()? {
                        Some(agent_text(u, 900)?)
                    } else {
                        None
                    },
                },
                _ => match u.choose(&config.templates) {
                    Ok(t) => AgentContent::Template {
                        name: t.name.clone(),
                        language: t.language.clone(),
                        parameters: t
                            .parameters
                            .iter()
                            .map(|_| agent_text(u, 100))
                            .collect::<Result<_>>()?,
                    },
                    Err(_) => AgentContent::Text {
                        body: text(u, 100)?,
                    },
                },
            },
        },
        2 => AgentAction::Note {
            agent,
            text: agent_text(u, 2000)?,
        },
        3 => AgentAction::Transfer {
            agent,
            to: if u.arbitrary()? {
                TransferTarget::Department {
                    department: department(u, config)?,
                }
            } else {
                TransferTarget::Agent {
                    agent: self::agent(u)?,
                }
            },
        },
        _ => AgentAction::Close { agent },
    })
}

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let config = &configs()[usize::from(u.arbitrary::<bool>()?)];
    let mut now: DateTime<Utc> = DateTime::from_timestamp(1_795_521_600, 0).expect("an instant");
    let mut session = session(u, config, now)?;
    let reply = OutboundMessage::text("Olá");
    for n in 0..u.int_in_range(1..=30)? {
        now += Duration::seconds(u.int_in_range(0..=26 * 3600)?);
        let message;
        let action;
        let answer;
        let department;
        let input = match u.int_in_range(0..=9)? {
            0..=3 => {
                message = InboundMessage {
                    id: format!("wamid.{n}"),
                    sent_at: if u.arbitrary()? {
                        Some(instant(u, now)?)
                    } else {
                        None
                    },
                    profile_name: None,
                    content: content(u)?,
                };
                Input::Message(&message)
            }
            4 => {
                action = agent_action(u, config)?;
                Input::Agent(&action)
            }
            5 => {
                let timer = *u.choose(&[
                    TimerKind::Inactivity,
                    TimerKind::Nps,
                    TimerKind::OpenNow,
                    TimerKind::QueueUpdate,
                    TimerKind::Unconfirmed,
                ])?;
                let due = match session.timers.get(&timer) {
                    Some(due) if u.ratio(3, 4)? => *due,
                    _ => instant(u, now)?,
                };
                now = now.max(due);
                Input::Timer(TimerFired { timer, due })
            }
            6 => {
                answer = text(u, 3000)?;
                Input::AssistantAnswer {
                    text: &answer,
                    wants_human: u.arbitrary()?,
                }
            }
            7 => {
                department = department_of(&session, u, config)?;
                if u.arbitrary()? {
                    Input::Queued {
                        department: &department,
                        position: u.int_in_range(1..=100)?,
                    }
                } else {
                    Input::QueueChecked {
                        department: &department,
                        position: if u.arbitrary()? {
                            Some(u.int_in_range(1..=100)?)
                        } else {
                            None
                        },
                        at: now,
                    }
                }
            }
            8 => Input::OutcomeUnknown {
                reference: "wamid.out#0",
                message: &reply,
            },
            _ => {
                if u.arbitrary()? {
                    Input::AssistantFailed
                } else {
                    Input::Closed
                }
            }
        };
        if std::env::var_os("FUZZ_DEBUG").is_some() {
            eprintln!("{now} {:?} {input:?}", session.state);
        }
        let is_timer = matches!(input, Input::Timer(_));
        let last_inbound = session.last_inbound_at;
        let (next, commands) = step(session, input, now, config);
        session = next;
        if is_timer {
            assert_eq!(
                session.last_inbound_at, last_inbound,
                "a timer is not the customer"
            );
        }
        for command in &commands {
            if let Command::Send { message, .. } = command {
                assert!(
                    message.check_limits().is_ok(),
                    "over WhatsApp's limits: {message:?}"
                );
            }
        }
    }
    Ok(())
}

fn department_of(session: &Session, u: &mut Unstructured<'_>, config: &Config) -> Result<String> {
    match session.state.department() {
        Some(d) if u.ratio(3, 4)? => Ok(d.to_owned()),
        _ => department(u, config),
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});

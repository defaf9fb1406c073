//! The human half: a person takes the conversation from the line, writes to the customer,
//! leaves notes for the staff, hands it on, and closes it.
//!
//! The desk checked who may act before queueing the action; here the action meets the
//! conversation as it is when it arrives, which may have moved on (the customer's window
//! closed, another agent took them, the conversation ended). Whatever the desk reserved for an
//! action that no longer applies is given back (`Command::ReleaseAgent`).

use super::{Replies, line, nps, timers::arm};
use crate::domain::agent::{AgentAction, AgentContent, AgentRef, TransferTarget};
use crate::domain::command::{Command, OutboundMessage};
use crate::domain::config::Config;
use crate::domain::log::{ConversationEvent, LogLine};
use crate::domain::session::{Party, Session, State};
use crate::domain::timer::TimerKind;
use chrono::{DateTime, Duration, Utc};

/// An agent's action on the conversation.
pub(super) fn on_agent(
    mut session: Session,
    action: &AgentAction,
    now: DateTime<Utc>,
    config: &Config,
) -> (Session, Vec<Command>) {
    let mut out = Replies::new(now);
    match action {
        AgentAction::Claim { agent, assigned_by } => {
            claim(&mut session, &mut out, agent, assigned_by.as_ref(), config)
        }
        AgentAction::Reply { agent, content } => {
            reply(&mut session, &mut out, agent, content, config)
        }
        AgentAction::Note { agent, text } => out.log(
            &mut session,
            LogLine::Note {
                agent: agent.clone(),
                text: text.clone(),
            },
        ),
        AgentAction::Transfer { agent, to } => transfer(&mut session, &mut out, agent, to, config),
        AgentAction::Close { agent } => {
            return close(session, Some(agent), now, config);
        }
    }
    (session, out.commands)
}

fn event(session: &mut Session, out: &mut Replies, event: ConversationEvent) {
    out.log(session, LogLine::Event(event));
}

/// The agent takes a customer who waits in line. Anyone else's claim (the customer was taken,
/// or the conversation moved on) gives the agent's reserved place back.
fn claim(
    session: &mut Session,
    out: &mut Replies,
    agent: &AgentRef,
    assigned_by: Option<&AgentRef>,
    config: &Config,
) {
    let State::Human {
        department,
        agent: holder,
        told_position,
        awaiting_reply_since,
        ..
    } = &mut session.state
    else {
        out.commands.push(Command::ReleaseAgent {
            agent: agent.id.clone(),
        });
        return;
    };
    match holder {
        Some(h) if h.id == agent.id => return,
        Some(_) => {
            out.commands.push(Command::ReleaseAgent {
                agent: agent.id.clone(),
            });
            return;
        }
        None => {}
    }
    *holder = Some(agent.clone());
    *told_position = None;
    // They have been waiting for a person since they joined the line, and still are.
    *awaiting_reply_since = Some(out.now);
    let department = department.clone();
    // No more place-in-line updates.
    session.timers.remove(&TimerKind::QueueUpdate);
    out.commands.push(Command::LeaveQueue {
        department: department.clone(),
    });
    event(
        session,
        out,
        ConversationEvent::Claimed {
            agent: agent.clone(),
            assigned_by: assigned_by.cloned(),
        },
    );
    if !session.window_closed {
        let name = config
            .department(&department)
            .map_or(department.as_str(), |d| d.name.as_str());
        let text = config
            .texts
            .agent_joined
            .replace("{agent}", &agent.name)
            .replace("{department}", name);
        out.send(session, OutboundMessage::text(text));
    }
}

/// Whether free-form messages can reach the customer: their 24-hour window is open.
fn window_open(session: &Session, now: DateTime<Utc>) -> bool {
    !session.window_closed && !session.is_expired(now)
}

/// The agent's message to the customer: signed text, a file by link, or a template. Free-form
/// messages go only while the window is open and only from a person holding the conversation;
/// otherwise the log says why it did not go.
fn reply(
    session: &mut Session,
    out: &mut Replies,
    agent: &AgentRef,
    content: &AgentContent,
    config: &Config,
) {
    let message = message_of(content, agent, config);
    // A template reaches a customer whatever the conversation's state (the desk checked who
    // may send it); anything else needs the conversation held and the window open.
    let held = matches!(session.state, State::Human { agent: Some(_), .. });
    let refused = match content {
        AgentContent::Template { .. } => None,
        _ if !held => Some("the conversation is not with a person"),
        _ if !window_open(session, out.now) => Some("the customer's 24-hour window is closed"),
        _ => None,
    };
    if let Some(reason) = refused {
        out.log(
            session,
            LogLine::NotSent {
                agent: Some(agent.clone()),
                text: message.summary(),
                reason: reason.to_owned(),
            },
        );
        return;
    }
    if let State::Human {
        awaiting_reply_since,
        ..
    } = &mut session.state
    {
        *awaiting_reply_since = None;
    }
    session.record(Party::Agent, message.summary(), out.now);
    out.commands.push(Command::Send {
        message,
        agent: Some(agent.clone()),
    });
}

/// The message an agent's content becomes: text signed with the agent's name (when
/// configured), a file with a signed caption, or a template as chosen.
fn message_of(content: &AgentContent, agent: &AgentRef, config: &Config) -> OutboundMessage {
    let sign = |text: &str| {
        if config.desk.sign_messages {
            config
                .texts
                .agent_signature
                .replace("{agent}", &agent.name)
                .replace("{text}", text)
        } else {
            text.to_owned()
        }
    };
    match content {
        AgentContent::Text { body } => OutboundMessage::text(sign(body)),
        AgentContent::File {
            kind,
            link,
            filename,
            caption,
        } => OutboundMessage::Media {
            kind: *kind,
            link: link.clone(),
            filename: filename.clone(),
            caption: caption.as_deref().map(sign),
        },
        AgentContent::Template {
            name,
            language,
            parameters,
        } => OutboundMessage::Template {
            name: name.clone(),
            language: language.clone(),
            parameters: parameters.clone(),
        },
    }
}

/// To another department's line (keeping the arrival time) or to a named agent, whose place
/// the desk reserved. The agent who held the conversation gives theirs back.
fn transfer(
    session: &mut Session,
    out: &mut Replies,
    by: &AgentRef,
    to: &TransferTarget,
    config: &Config,
) {
    let State::Human {
        department,
        since,
        agent: holder,
        ..
    } = session.state.clone()
    else {
        if let TransferTarget::Agent { agent } = to {
            out.commands.push(Command::ReleaseAgent {
                agent: agent.id.clone(),
            });
        }
        return;
    };
    if let Some(holder) = &holder {
        out.commands.push(Command::ReleaseAgent {
            agent: holder.id.clone(),
        });
    } else {
        out.commands.push(Command::LeaveQueue {
            department: department.clone(),
        });
    }
    event(
        session,
        out,
        ConversationEvent::Transferred {
            by: by.clone(),
            department: department.clone(),
            to: to.clone(),
        },
    );
    let open = window_open(session, out.now);
    match to {
        TransferTarget::Department { department: target } => {
            let name = config
                .department(target)
                .map_or(target.as_str(), |d| d.name.as_str());
            session.state = State::Human {
                department: target.clone(),
                since,
                told_position: None,
                agent: None,
                awaiting_reply_since: None,
            };
            session.timers.remove(&TimerKind::QueueUpdate);
            if open {
                let text = config
                    .texts
                    .transferred_department
                    .replace("{department}", name);
                out.send(session, OutboundMessage::text(text));
            }
            out.commands.push(Command::EnqueueForHuman {
                department: target.clone(),
                priority: line::priority_of(session, config),
                since: Some(since),
            });
        }
        TransferTarget::Agent { agent } => {
            session.state = State::Human {
                department,
                since,
                told_position: None,
                agent: Some(agent.clone()),
                awaiting_reply_since: Some(out.now),
            };
            session.timers.remove(&TimerKind::QueueUpdate);
            if open {
                let text = config
                    .texts
                    .transferred_agent
                    .replace("{agent}", &agent.name);
                out.send(session, OutboundMessage::text(text));
            }
        }
    }
}

/// Done (by an agent, or from outside the desk): out of the line, the agent's place back, and
/// the satisfaction question (after `nps_delay_minutes`, or at once).
pub(super) fn close(
    mut session: Session,
    by: Option<&AgentRef>,
    now: DateTime<Utc>,
    config: &Config,
) -> (Session, Vec<Command>) {
    let State::Human {
        department,
        agent: holder,
        ..
    } = &session.state
    else {
        return (session, Vec::new());
    };
    let mut out = Replies {
        commands: vec![Command::LeaveQueue {
            department: department.clone(),
        }],
        now,
    };
    if let Some(holder) = holder {
        out.commands.push(Command::ReleaseAgent {
            agent: holder.id.clone(),
        });
    }
    event(
        &mut session,
        &mut out,
        ConversationEvent::Closed { by: by.cloned() },
    );
    session.bot_attempts = 0;
    let delay = config.timers.nps_delay_minutes;
    if delay == 0 {
        nps::ask(&mut session, &mut out, config);
    } else {
        session.state = State::NpsPending;
        arm(
            &mut session,
            &mut out.commands,
            TimerKind::Nps,
            now + Duration::minutes(delay.into()),
            now,
        );
    }
    (session, out.commands)
}

/// A customer message while a person holds the conversation: the bot is quiet; from now the
/// customer waits for the agent's answer, unless they were already.
/// A customer still waiting in line who writes keeps their place for as long as their window
/// now runs.
pub(super) fn on_customer_message(session: &mut Session, out: &mut Replies, now: DateTime<Utc>) {
    let until = session.expires_at();
    match &mut session.state {
        State::Human {
            agent: Some(_),
            awaiting_reply_since,
            ..
        } if awaiting_reply_since.is_none() => *awaiting_reply_since = Some(now),
        State::Human {
            agent: None,
            department,
            ..
        } => out.commands.push(Command::KeepPlace {
            department: department.clone(),
            until,
        }),
        _ => {}
    }
}

//! The conversation engine: `(session, input, now, config) -> (session', commands)`.
//!
//! Pure: it reads nothing and sends nothing. The processor loads the session, calls `step`,
//! saves the new session and carries out the commands.

//! The engine is split by what each part is about, one flow or state family per file:
//! `message` (what holds in every state, then the state's flow), `menu`, `support`, `sales`,
//! `finance`, `assistant`, `whatsapp_flows`, `nps`, `line` (handing over, the place in line),
//! `human` (what agents do) and `timers`.

mod assistant;
mod finance;
mod human;
mod line;
mod menu;
mod message;
mod nps;
mod sales;
mod support;
mod timers;
mod whatsapp_flows;

#[cfg(test)]
mod tests;

pub use menu::main_menu;

use crate::domain::agent::AgentAction;
use crate::domain::command::{Command, OutboundMessage};
use crate::domain::config::Config;
use crate::domain::event::{InboundMessage, MessageContent};
use crate::domain::log::{LogEntry, LogLine};
use crate::domain::session::{Party, Session};
use crate::domain::timer::{TimerFired, TimerKind};
use chrono::{DateTime, Utc};

/// What the engine reacts to.
#[derive(Clone, Debug, PartialEq)]
pub enum Input<'a> {
    /// A message from the customer.
    Message(&'a InboundMessage),
    /// The shell put the customer in a department's queue (`Command::EnqueueForHuman`) and
    /// found them at this place in line.
    Queued {
        department: &'a str,
        position: usize,
    },
    /// The conversation was closed from outside the desk.
    Closed,
    /// What a person did on the agents' desk.
    Agent(&'a AgentAction),
    /// The AI assistant answered `Command::AskAssistant`; `wants_human` when it handed over.
    AssistantAnswer { text: &'a str, wants_human: bool },
    /// The AI assistant could not answer.
    AssistantFailed,
    /// A timer set with `Command::SetTimer` went off.
    Timer(TimerFired),
    /// The shell looked up the customer's place in line (`Command::CheckQueue`); `None` when
    /// they no longer wait there (an agent took them). `at` is the time the check stands for
    /// (the timer's due time when it came early).
    QueueChecked {
        department: &'a str,
        position: Option<usize>,
        at: DateTime<Utc>,
    },
    /// The shell sent `message` (from the outbox entry `reference`) and got no answer: it may
    /// or may not have arrived.
    OutcomeUnknown {
        reference: &'a str,
        message: &'a OutboundMessage,
    },
}

/// Runs one input through the conversation.
pub fn step(
    session: Session,
    input: Input<'_>,
    now: DateTime<Utc>,
    config: &Config,
) -> (Session, Vec<Command>) {
    let (session, mut commands) = react(session, input, now, config);
    // "Typing…" only when something is going to answer: a message, or the assistant.
    let answering = commands
        .iter()
        .any(|c| matches!(c, Command::Send { .. } | Command::AskAssistant { .. }));
    if let Some(Command::MarkRead { typing, .. }) = commands.first_mut() {
        *typing = answering;
    }
    // Timers are set before the step's messages (after the read receipt): the processor saves
    // after each message, so the first save records them too.
    let first = commands
        .iter()
        .position(|c| !matches!(c, Command::MarkRead { .. }))
        .unwrap_or(commands.len());
    commands[first..].sort_by_key(|c| !matches!(c, Command::SetTimer { .. }));
    (session, commands)
}

fn react(
    session: Session,
    input: Input<'_>,
    now: DateTime<Utc>,
    config: &Config,
) -> (Session, Vec<Command>) {
    match input {
        Input::Message(message) => {
            let (mut session, mut commands) = message::on_message(session, message, now, config);
            if !message.content.is_system()
                && timers::waits_for_customer(&session.state)
                && let Some(due) = timers::inactivity_due(&session, config)
            {
                timers::arm(&mut session, &mut commands, TimerKind::Inactivity, due, now);
            }
            (session, commands)
        }
        Input::Timer(fired) => timers::on_timer(session, fired, now, config),
        Input::OutcomeUnknown { reference, message } => {
            timers::on_outcome_unknown(session, reference, message, now, config)
        }
        Input::QueueChecked {
            department,
            position,
            at,
        } => line::on_queue_checked(session, department, position, now.max(at), config),
        Input::Queued {
            department,
            position,
        } => line::on_queued(session, department, position, now, config),
        Input::Closed => human::close(session, None, now, config),
        Input::Agent(action) => human::on_agent(session, action, now, config),
        Input::AssistantAnswer { text, wants_human } => {
            assistant::on_answer(session, Some(text), wants_human, now, config)
        }
        Input::AssistantFailed => assistant::on_answer(session, None, true, now, config),
    }
}

/// The commands of one step, with what the bot says recorded in the session's history.
struct Replies {
    commands: Vec<Command>,
    now: DateTime<Utc>,
}

impl Replies {
    fn new(now: DateTime<Utc>) -> Self {
        Self {
            commands: Vec::new(),
            now,
        }
    }

    /// A line of the conversation log, in the conversation's order (`Session::next_log_key`).
    fn log(&mut self, session: &mut Session, line: LogLine) {
        let key = session.next_log_key();
        self.commands.push(Command::Log {
            key,
            entry: LogEntry { at: self.now, line },
        });
    }

    fn send(&mut self, session: &mut Session, message: OutboundMessage) {
        session.record(Party::Bot, message.summary(), self.now);
        self.commands.push(Command::Send {
            message,
            agent: None,
        });
    }
}

/// A customer message as a line of history.
fn describe(content: &MessageContent) -> String {
    match content {
        MessageContent::Text { body } => body.clone(),
        MessageContent::ButtonReply { title, .. } | MessageContent::ListReply { title, .. } => {
            format!("[{title}]")
        }
        MessageContent::QuickReply { text, .. } => format!("[{text}]"),
        MessageContent::FlowReply { .. } => "[formulário enviado]".to_owned(),
        MessageContent::Media { kind, caption, .. } => match caption {
            Some(c) => format!("[{kind:?}] {c}"),
            None => format!("[{kind:?}]"),
        },
        MessageContent::Location { .. } => "[localização]".to_owned(),
        MessageContent::Reaction { emoji, .. } => {
            format!("[reação {}]", emoji.as_deref().unwrap_or("removida"))
        }
        MessageContent::System { kind, .. } => format!("[aviso do WhatsApp: {kind}]"),
        MessageContent::Unsupported { message_type, .. } => format!("[{message_type}]"),
    }
}

/// `text` cut to at most `max` characters, at a word boundary where there is one, with "…".
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let kept: String = text.chars().take(max.saturating_sub(1)).collect();
    let kept = match kept.rfind(char::is_whitespace) {
        Some(i) if i > kept.len() / 2 => kept[..i].trim_end().to_owned(),
        _ => kept,
    };
    format!("{kept}…")
}

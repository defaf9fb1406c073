//! The AI assistant: free text goes to it, its answers go to the customer, and a handover it
//! asks for (or its failure) goes to a person.

use super::message::Said;
use super::{Replies, cut, line, menu};
use crate::domain::command::{Command, OutboundMessage};
use crate::domain::config::Config;
use crate::domain::event::MessageContent;
use crate::domain::session::{Session, State};
use chrono::{DateTime, Utc};
use line::Handover;

/// A message while the assistant answers: the menu's choices work as in the menu, text goes
/// to the assistant, anything else is not understood at the menu.
pub(super) fn on_message(
    session: &mut Session,
    out: &mut Replies,
    said: &Said<'_>,
    config: &Config,
) {
    match (menu::choice(said.content, said.typed, config), said.content) {
        (Some(option), _) => {
            session.bot_attempts = 0;
            session.state = State::MainMenu;
            out.send(session, OutboundMessage::text(&option.answer));
            menu::start_flow(session, out, option, config);
        }
        (None, MessageContent::Text { body }) => ask(session, out, body, config),
        (None, other) => {
            session.state = State::MainMenu;
            menu::not_understood(session, out, other, config, menu::main_menu(config));
        }
    }
}

/// The assistant's answer (cut to `max_answer_chars`) goes to the customer; a handover it asked
/// for, or its failure, goes to a person. A customer is never left without an answer.
pub(super) fn on_answer(
    mut session: Session,
    text: Option<&str>,
    wants_human: bool,
    now: DateTime<Utc>,
    config: &Config,
) -> (Session, Vec<Command>) {
    let mut out = Replies::new(now);
    if !matches!(session.state, State::Assistant) {
        return (session, out.commands);
    }
    // An empty answer is no answer, unless the assistant handed over without a word.
    let answer = text.map(str::trim).filter(|t| !t.is_empty());
    let failed = answer.is_none() && !(text.is_some() && wants_human);
    match answer {
        Some(answer) => {
            let answer = cut(answer, config.assistant.max_answer_chars);
            out.send(&mut session, OutboundMessage::text(answer));
        }
        None if failed => out.send(
            &mut session,
            OutboundMessage::text(&config.texts.assistant_unavailable),
        ),
        None => {}
    }
    if wants_human || failed {
        let reason = if failed {
            "assistant_unavailable"
        } else {
            "assistant"
        };
        let handover = Handover::new(
            config.escalation_department.clone(),
            reason,
            &config.texts.handoff,
        );
        line::hand_over(&mut session, &mut out, config, handover);
    }
    (session, out.commands)
}

/// Asks the assistant the customer's question, with the conversation before it.
pub(super) fn ask(session: &mut Session, out: &mut Replies, question: &str, config: &Config) {
    let before = session.history.len().saturating_sub(1);
    let skip = before.saturating_sub(config.assistant.history_turns);
    let history = session
        .history
        .iter()
        .take(before)
        .skip(skip)
        .cloned()
        .collect();
    session.state = State::Assistant;
    out.commands.push(Command::AskAssistant {
        question: question.to_owned(),
        history,
    });
}

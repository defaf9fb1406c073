//! The satisfaction question (0–10) after a person closed the conversation, or after a
//! farewell at the menu.

use super::Replies;
use super::message::Said;
use crate::domain::command::OutboundMessage;
use crate::domain::config::Config;
use crate::domain::log::{ConversationEvent, LogLine};
use crate::domain::session::{Session, State};

/// A score from 0 to 10: the message is the number, holds exactly one number ("nota 9"), or
/// gives it out of ten ("9/10", folded to "9 10").
fn score(typed: &str) -> Option<u8> {
    let numbers: Vec<u32> = typed.split(' ').filter_map(|w| w.parse().ok()).collect();
    let score = match numbers[..] {
        [n] => n,
        [n, 10] => n,
        _ => return None,
    };
    u8::try_from(score).ok().filter(|n| *n <= 10)
}

/// A score while the question is asked (or about to be) ends the conversation with thanks.
/// Taken before the triggers: "10, o atendente foi ótimo" is a score. True when it was one.
pub(super) fn took_score(
    session: &mut Session,
    out: &mut Replies,
    said: &Said<'_>,
    config: &Config,
) -> bool {
    if !matches!(session.state, State::Nps | State::NpsPending) {
        return false;
    }
    let Some(score) = said.typed.and_then(score) else {
        return false;
    };
    session.nps_score = Some(score);
    session.state = State::Finished;
    out.log(session, LogLine::Event(ConversationEvent::Rated { score }));
    out.send(session, OutboundMessage::text(&config.texts.nps_thanks));
    true
}

/// Asks the question now.
pub(super) fn ask(session: &mut Session, out: &mut Replies, config: &Config) {
    session.bot_attempts = 0;
    session.state = State::Nps;
    out.send(session, OutboundMessage::text(&config.texts.nps_question));
}

/// Anything but a score: before the question went out, it is asked now; after, it is asked
/// again, and not everyone wants to answer, so after `max_bot_attempts` it ends politely.
pub(super) fn on_message(session: &mut Session, out: &mut Replies, config: &Config) {
    if session.state == State::NpsPending {
        session.state = State::Nps;
        out.send(session, OutboundMessage::text(&config.texts.nps_question));
        return;
    }
    session.bot_attempts += 1;
    if session.bot_attempts >= config.max_bot_attempts {
        session.state = State::Finished;
        out.send(session, OutboundMessage::text(&config.texts.nps_thanks));
    } else {
        out.send(session, OutboundMessage::text(&config.texts.nps_invalid));
    }
}

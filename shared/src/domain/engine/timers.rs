//! Timers: the engine arms them, the shell brings them back; only the pending one of its kind
//! acts, on the session as it is then.

use super::Replies;
use crate::domain::command::{Command, OutboundMessage};
use crate::domain::config::Config;
use crate::domain::session::{Session, State, Unconfirmed};
use crate::domain::timer::{TimerFired, TimerKind};
use chrono::{DateTime, Duration, Utc};

/// Bot states that wait for the customer's answer: a long silence there gets a follow-up,
/// then closes the conversation.
pub(super) fn waits_for_customer(state: &State) -> bool {
    match state {
        State::MainMenu
        | State::SupportDetails { .. }
        | State::SupportAttachment { .. }
        | State::SalesCatalog { .. }
        | State::SalesCheckout { .. }
        | State::FinanceDocument { .. }
        | State::Assistant => true,
        State::Start | State::Human { .. } | State::NpsPending | State::Nps | State::Finished => {
            false
        }
    }
}

/// When the customer's silence next calls for something: the follow-up, or closing.
pub(super) fn inactivity_due(session: &Session, config: &Config) -> Option<DateTime<Utc>> {
    let t = &config.timers;
    let minutes = if !session.followed_up && t.inactivity_follow_up_minutes > 0 {
        t.inactivity_follow_up_minutes
    } else if t.inactivity_close_minutes > 0 {
        t.inactivity_close_minutes
    } else {
        return None;
    };
    Some(session.last_inbound_at + Duration::minutes(minutes.into()))
}

/// How late a pending timer may be before it counts as lost (it never came, or its event
/// failed for good) and a new one is set.
const LOST_TIMER: Duration = Duration::minutes(5);

/// Sets a timer unless one of its kind already goes off no later (that one re-arms if needed)
/// and is not lost.
pub(super) fn arm(
    session: &mut Session,
    commands: &mut Vec<Command>,
    timer: TimerKind,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) {
    if session
        .timers
        .get(&timer)
        .is_some_and(|pending| *pending <= at && *pending + LOST_TIMER > now)
    {
        return;
    }
    session.timers.insert(timer, at);
    commands.push(Command::SetTimer { timer, at });
}

/// A timer went off. Only the pending timer of its kind counts; it acts on the session as it
/// is now, so one whose reason went away does nothing.
pub(super) fn on_timer(
    mut session: Session,
    fired: TimerFired,
    now: DateTime<Utc>,
    config: &Config,
) -> (Session, Vec<Command>) {
    let mut out = Replies::new(now);
    if session.timers.get(&fired.timer) != Some(&fired.due) {
        return (session, out.commands);
    }
    session.timers.remove(&fired.timer);
    // Delivery can be a little early; acting as at the due time is then harmless.
    let at = now.max(fired.due);
    if session.is_expired(at) || session.window_closed {
        // Outside the 24-hour window the bot may not speak first.
        return (session, out.commands);
    }
    match fired.timer {
        TimerKind::Inactivity => {
            if !waits_for_customer(&session.state) {
                return (session, out.commands);
            }
            let Some(due) = inactivity_due(&session, config) else {
                return (session, out.commands);
            };
            if at < due {
                // The customer wrote since: wait for the new silence.
                arm(
                    &mut session,
                    &mut out.commands,
                    TimerKind::Inactivity,
                    due,
                    now,
                );
            } else if session.followed_up || config.timers.inactivity_follow_up_minutes == 0 {
                session.followed_up = false;
                session.bot_attempts = 0;
                session.state = State::Finished;
                out.send(
                    &mut session,
                    OutboundMessage::text(&config.texts.inactivity_closed),
                );
            } else {
                session.followed_up = true;
                out.send(
                    &mut session,
                    OutboundMessage::text(&config.texts.inactivity_follow_up),
                );
                if let Some(next) = inactivity_due(&session, config) {
                    arm(
                        &mut session,
                        &mut out.commands,
                        TimerKind::Inactivity,
                        next,
                        now,
                    );
                }
            }
        }
        TimerKind::Nps => {
            if session.state == State::NpsPending {
                session.state = State::Nps;
                out.send(
                    &mut session,
                    OutboundMessage::text(&config.texts.nps_question),
                );
            }
        }
        TimerKind::OpenNow => {
            let attended = matches!(
                session.state,
                State::Human { .. } | State::NpsPending | State::Nps
            );
            // Who wrote again since the opening knows already.
            if !attended && session.last_inbound_at < fired.due {
                out.send(&mut session, OutboundMessage::text(&config.texts.open_now));
            }
        }
        TimerKind::QueueUpdate => {
            if let State::Human { department, .. } = &session.state {
                out.commands.push(Command::CheckQueue {
                    department: department.clone(),
                    at,
                });
            }
        }
        TimerKind::Unconfirmed => {
            // No status webhook confirmed these in the time given since their sends timed
            // out: they did not arrive, so they go again, in their order — unless the
            // conversation moved on without them (the customer wrote, or it is elsewhere now).
            // Those that timed out more recently get their full wait.
            let wait = Duration::minutes(config.timers.resend_unconfirmed_minutes.into());
            let state = session.state.name();
            let (due, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut session.unconfirmed)
                .into_iter()
                .partition(|u| u.at + wait <= at);
            for unconfirmed in due {
                if unconfirmed.at >= session.last_inbound_at && unconfirmed.state == state {
                    out.send(&mut session, unconfirmed.message);
                }
            }
            if let Some(first) = waiting.first() {
                let next = first.at + wait;
                session.unconfirmed = waiting.into();
                arm(
                    &mut session,
                    &mut out.commands,
                    TimerKind::Unconfirmed,
                    next,
                    now,
                );
            }
        }
    }
    (session, out.commands)
}

/// A send timed out (`Input::OutcomeUnknown`): the message is kept as unconfirmed, and the
/// `Unconfirmed` timer decides later whether it goes again.
pub(super) fn on_outcome_unknown(
    mut session: Session,
    reference: &str,
    message: &OutboundMessage,
    now: DateTime<Utc>,
    config: &Config,
) -> (Session, Vec<Command>) {
    let mut commands = Vec::new();
    let state = session.state.name().to_owned();
    session.expect_unconfirmed(Unconfirmed {
        reference: reference.to_owned(),
        message: message.clone(),
        at: now,
        state,
    });
    let minutes = config.timers.resend_unconfirmed_minutes;
    if minutes > 0 {
        arm(
            &mut session,
            &mut commands,
            TimerKind::Unconfirmed,
            now + Duration::minutes(minutes.into()),
            now,
        );
    }
    (session, commands)
}

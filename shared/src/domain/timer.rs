//! Timers: the engine asks to be woken at a time (`Command::SetTimer`); the shell schedules a
//! timer event that comes back through the customer's queue, in order with their messages, and
//! the engine decides then whether it still matters (`Input::Timer`).
//!
//! A session remembers the one pending timer of each kind. Arming a kind that is already due
//! earlier asks for nothing new: when the earlier one fires, the engine looks at the session and
//! arms the next one if needed. So a chatty customer costs one schedule, not one per message,
//! and a timer that lost its reason (the customer wrote, an agent took over) does nothing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerKind {
    /// The customer went quiet in a bot conversation: a follow-up, later closing it.
    Inactivity,
    /// The satisfaction question, a little after the agent closed the conversation.
    Nps,
    /// The business opened: tell who wrote while it was closed.
    OpenNow,
    /// A customer waits for a person: their place in line, again.
    QueueUpdate,
    /// Sends that timed out and were not confirmed since: sent again.
    Unconfirmed,
}

impl TimerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inactivity => "inactivity",
            Self::Nps => "nps",
            Self::OpenNow => "open_now",
            Self::QueueUpdate => "queue_update",
            Self::Unconfirmed => "unconfirmed",
        }
    }
}

/// A timer that went off: the queue event's payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimerFired {
    pub timer: TimerKind,
    /// When it was set to go off (it may arrive a little later, or a little early).
    pub due: DateTime<Utc>,
}

impl TimerFired {
    /// The event id: one per kind and due time, so a timer delivered twice is applied once.
    pub fn event_id(&self) -> String {
        format!("timer:{}:{}", self.timer.as_str(), self.due.timestamp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timer_event_id_names_its_kind_and_due_time() {
        let fired = TimerFired {
            timer: TimerKind::OpenNow,
            due: "2026-11-30T11:00:00Z".parse().unwrap(),
        };
        assert_eq!(fired.event_id(), "timer:open_now:1796036400");
    }
}

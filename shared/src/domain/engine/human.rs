//! The human half: a person takes the conversation over from the line.

use super::{Replies, nps, timers::arm};
use crate::domain::command::Command;
use crate::domain::config::Config;
use crate::domain::session::{Session, State};
use crate::domain::timer::TimerKind;
use chrono::{DateTime, Duration, Utc};

/// The agent is done: out of the queue, and the satisfaction question (after
/// `nps_delay_minutes`, or at once).
pub(super) fn on_closed(
    mut session: Session,
    now: DateTime<Utc>,
    config: &Config,
) -> (Session, Vec<Command>) {
    let State::Human { department, .. } = &session.state else {
        return (session, Vec::new());
    };
    let mut out = Replies {
        commands: vec![Command::LeaveQueue {
            department: department.clone(),
        }],
        now,
    };
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

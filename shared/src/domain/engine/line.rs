//! The line for a person: handing over, the place in line and its updates.

use super::Replies;
use super::timers::arm;
use crate::domain::command::{Command, HandoffContext, OutboundMessage};
use crate::domain::config::{Config, Department};
use crate::domain::customer::CustomerId;
use crate::domain::log::{ConversationEvent, LogLine};
use crate::domain::session::{Handoff, Session, State};
use crate::domain::sla::Priority;
use crate::domain::timer::TimerKind;
use chrono::{DateTime, Duration, Utc};

/// The customer's place in line was looked up after a `QueueUpdate` timer. While the business
/// is open they hear it when the line moved since they were last told (a repeated "still
/// number 1" is noise), and it is looked up again until someone takes them.
pub(super) fn on_queue_checked(
    mut session: Session,
    department: &str,
    position: Option<usize>,
    now: DateTime<Utc>,
    config: &Config,
) -> (Session, Vec<Command>) {
    let mut out = Replies::new(now);
    let (
        State::Human {
            department: d,
            told_position,
            ..
        },
        Some(position),
        Some(dept),
    ) = (&mut session.state, position, config.department(department))
    else {
        return (session, out.commands);
    };
    if d != department {
        return (session, out.commands);
    }
    if config.is_open(now) {
        if told_position.is_none_or(|told| position < told) {
            *told_position = Some(position);
            let text = place_in_line(&config.texts.queue_update, position, dept);
            out.send(&mut session, OutboundMessage::text(text));
        }
        arm_queue_update(&mut session, &mut out.commands, now, config);
    } else if let Some(opening) = config.hours.as_ref().and_then(|h| h.next_opening(now))
        && opening < session.expires_at()
    {
        // Nobody answers at night: the next update when the team is back.
        arm(
            &mut session,
            &mut out.commands,
            TimerKind::QueueUpdate,
            opening,
            now,
        );
    }
    (session, out.commands)
}

/// A place-in-line text: `{position}`, `{department}` and `{minutes}` (the estimate: position
/// × the department's average handling time).
fn place_in_line(template: &str, position: usize, dept: &Department) -> String {
    let minutes = position as u64 * u64::from(dept.avg_handling_minutes);
    template
        .replace("{position}", &position.to_string())
        .replace("{department}", &dept.name)
        .replace("{minutes}", &minutes.to_string())
}

pub(super) fn arm_queue_update(
    session: &mut Session,
    commands: &mut Vec<Command>,
    now: DateTime<Utc>,
    config: &Config,
) {
    let minutes = config.timers.queue_update_minutes;
    if minutes > 0 {
        arm(
            session,
            commands,
            TimerKind::QueueUpdate,
            now + Duration::minutes(minutes.into()),
            now,
        );
    }
}

/// Why and where a conversation goes to a person, with what the flow collected.
pub(super) struct Handover {
    department: String,
    pub(super) reason: &'static str,
    pub(super) text: String,
    pub(super) problem: Option<String>,
    pub(super) attachments: Vec<String>,
    pub(super) order: Option<String>,
    pub(super) document: Option<String>,
}

impl Handover {
    pub(super) fn new(department: String, reason: &'static str, text: &str) -> Self {
        Self {
            department,
            reason,
            text: text.to_owned(),
            problem: None,
            attachments: Vec::new(),
            order: None,
            document: None,
        }
    }
}

/// Hands the conversation to a person: tells the customer, and asks the shell to queue them
/// and notify the agents.
pub(super) fn hand_over(session: &mut Session, out: &mut Replies, config: &Config, h: Handover) {
    let name = config
        .department(&h.department)
        .map_or(h.department.as_str(), |d| d.name.as_str());
    out.send(
        session,
        OutboundMessage::text(h.text.replace("{department}", name)),
    );
    let context = HandoffContext {
        customer: session.customer.clone(),
        profile_name: session.profile_name.clone(),
        department: h.department.clone(),
        previous_state: session.state.name().to_owned(),
        reason: h.reason.to_owned(),
        problem: h.problem,
        attachments: h.attachments,
        order: h.order,
        document: h.document,
        bot_attempts: session.bot_attempts,
        conversation_started_at: session.started_at,
        last_messages: session.history.iter().cloned().collect(),
    };
    session.handoff = Some(Handoff {
        department: context.department.clone(),
        reason: context.reason.clone(),
        previous_state: context.previous_state.clone(),
        problem: context.problem.clone(),
        attachments: context.attachments.clone(),
        order: context.order.clone(),
        document: context.document.clone(),
        at: out.now,
    });
    session.state = State::Human {
        department: h.department.clone(),
        since: out.now,
        told_position: None,
        agent: None,
        awaiting_reply_since: None,
    };
    out.log(
        session,
        LogLine::Event(ConversationEvent::Queued {
            department: h.department.clone(),
            reason: h.reason.to_owned(),
        }),
    );
    out.commands.push(Command::EnqueueForHuman {
        department: h.department,
        priority: priority_of(session, config),
        since: None,
    });
    out.commands.push(Command::NotifyAgents { context });
}

/// VIPs (`vip_numbers`) go first in every line.
pub(super) fn priority_of(session: &Session, config: &Config) -> Priority {
    match &session.customer {
        CustomerId::Phone(p) if config.vip_numbers.contains(p) => Priority::High,
        _ => Priority::Normal,
    }
}

/// The customer is in line: their place and an estimate.
pub(super) fn on_queued(
    mut session: Session,
    department: &str,
    position: usize,
    now: DateTime<Utc>,
    config: &Config,
) -> (Session, Vec<Command>) {
    let Some(dept) = config.department(department) else {
        return (session, Vec::new());
    };
    if let State::Human { told_position, .. } = &mut session.state {
        *told_position = Some(position);
    }
    let mut out = Replies::new(now);
    // While the team is away an estimate in minutes would be false: say when it is back,
    // and update the place then.
    let opening = (!config.is_open(now))
        .then(|| {
            config
                .hours
                .as_ref()
                .and_then(|h| Some((h, h.next_opening(now)?)))
        })
        .flatten();
    match opening {
        Some((hours, opening)) => {
            let text = place_in_line(&config.texts.queue_position_closed, position, dept)
                .replace("{opening}", &hours.local_day_and_time(opening));
            out.send(&mut session, OutboundMessage::text(text));
            if opening < session.expires_at() {
                arm(
                    &mut session,
                    &mut out.commands,
                    TimerKind::QueueUpdate,
                    opening,
                    now,
                );
            }
        }
        None => {
            let text = place_in_line(&config.texts.queue_position, position, dept);
            out.send(&mut session, OutboundMessage::text(text));
            arm_queue_update(&mut session, &mut out.commands, now, config);
        }
    }
    (session, out.commands)
}

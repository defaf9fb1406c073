//! The conversation engine: `(session, input, now, config) -> (session', commands)`.
//!
//! Pure: it reads nothing and sends nothing. The processor loads the session, calls `step`,
//! saves the new session and carries out the commands.

use crate::domain::command::{
    Button, Command, HandoffContext, ListRow, ListSection, OutboundMessage,
};
use crate::domain::config::{CatalogItem, Config, FlowConfig, MenuOption, MenuStyle, OptionFlow};
use crate::domain::customer::CustomerId;
use crate::domain::document::TaxId;
use crate::domain::event::{InboundMessage, MediaKind, MessageContent};
use crate::domain::session::{Party, Session, State};
use crate::domain::sla::Priority;
use crate::domain::text::{fold, has_folded_phrase};
use crate::domain::timer::{TimerFired, TimerKind};
use chrono::{DateTime, Duration, Utc};

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
    /// The agent closed the conversation.
    Closed,
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
            let (mut session, mut commands) = on_message(session, message, now, config);
            if waits_for_customer(&session.state)
                && let Some(due) = inactivity_due(&session, config)
            {
                arm(&mut session, &mut commands, TimerKind::Inactivity, due, now);
            }
            (session, commands)
        }
        Input::Timer(fired) => on_timer(session, fired, now, config),
        Input::QueueChecked {
            department,
            position,
            at,
        } => on_queue_checked(session, department, position, now.max(at), config),
        Input::OutcomeUnknown { reference, message } => {
            let mut session = session;
            let mut commands = Vec::new();
            let state = session.state.name().to_owned();
            session.expect_unconfirmed(crate::domain::session::Unconfirmed {
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
        Input::Queued {
            department,
            position,
        } => on_queued(session, department, position, now, config),
        Input::Closed => on_closed(session, now, config),
        Input::AssistantAnswer { text, wants_human } => {
            on_assistant_answer(session, Some(text), wants_human, now, config)
        }
        Input::AssistantFailed => on_assistant_answer(session, None, true, now, config),
    }
}

/// The assistant's answer (cut to `max_answer_chars`) goes to the customer; a handover it asked
/// for, or its failure, goes to a person. A customer is never left without an answer.
fn on_assistant_answer(
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
        hand_over(&mut session, &mut out, config, handover);
    }
    (session, out.commands)
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

/// Asks the assistant the customer's question, with the conversation before it.
fn ask_assistant(session: &mut Session, out: &mut Replies, question: &str, config: &Config) {
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

/// The agent is done: out of the queue, and the satisfaction question.
fn on_closed(mut session: Session, now: DateTime<Utc>, config: &Config) -> (Session, Vec<Command>) {
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
        session.state = State::Nps;
        out.send(
            &mut session,
            OutboundMessage::text(&config.texts.nps_question),
        );
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

/// Bot states that wait for the customer's answer: a long silence there gets a follow-up,
/// then closes the conversation.
fn waits_for_customer(state: &State) -> bool {
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
fn inactivity_due(session: &Session, config: &Config) -> Option<DateTime<Utc>> {
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
fn arm(
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
fn on_timer(
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

/// The customer's place in line was looked up after a `QueueUpdate` timer. While the business
/// is open they hear it when the line moved since they were last told (a repeated "still
/// number 1" is noise), and it is looked up again until someone takes them.
fn on_queue_checked(
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
fn place_in_line(
    template: &str,
    position: usize,
    dept: &crate::domain::config::Department,
) -> String {
    let minutes = position as u64 * u64::from(dept.avg_handling_minutes);
    template
        .replace("{position}", &position.to_string())
        .replace("{department}", &dept.name)
        .replace("{minutes}", &minutes.to_string())
}

fn arm_queue_update(
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

/// A score from 0 to 10: the message is the number, holds exactly one number ("nota 9"), or
/// gives it out of ten ("9/10", folded to "9 10").
fn nps_score(typed: &str) -> Option<u8> {
    let numbers: Vec<u32> = typed.split(' ').filter_map(|w| w.parse().ok()).collect();
    let score = match numbers[..] {
        [n] => n,
        [n, 10] => n,
        _ => return None,
    };
    u8::try_from(score).ok().filter(|n| *n <= 10)
}

fn on_message(
    mut session: Session,
    message: &InboundMessage,
    now: DateTime<Utc>,
    config: &Config,
) -> (Session, Vec<Command>) {
    let mut leave_queue = None;
    if session.is_expired(now) || session.state == State::Finished {
        // A new conversation; the off-hours notice already given still counts. Whoever was
        // still waiting for a person when the window closed leaves that line.
        if let State::Human { department, .. } = &session.state {
            leave_queue = Some(Command::LeaveQueue {
                department: department.clone(),
            });
        }
        let notice = session.off_hours_notice_for;
        let open_now = session.timers.get(&TimerKind::OpenNow).copied();
        let name = session.profile_name.take();
        session = Session::new(session.customer, now);
        session.off_hours_notice_for = notice;
        session.profile_name = name;
        if let Some(due) = open_now {
            session.timers.insert(TimerKind::OpenNow, due);
        }
    }
    session.last_inbound_at = now;
    session.followed_up = false;
    // The customer wrote: the window is open again.
    session.window_closed = false;
    if let Some(name) = &message.profile_name {
        session.profile_name = Some(name.clone());
    }
    session.record(Party::Customer, describe(&message.content), now);
    let mut out = Replies {
        commands: vec![Command::MarkRead {
            message_id: message.id.clone(),
        }],
        now,
    };
    out.commands.extend(leave_queue);

    // A reaction is not a request, and a person is on it in the human state: the bot is quiet
    // (the message is in the history for the agent).
    if matches!(message.content, MessageContent::Reaction { .. })
        || matches!(session.state, State::Human { .. })
    {
        return (session, out.commands);
    }

    // Typed text is folded once; the configuration's words were folded when it loaded.
    let typed = message.content.text().map(fold);
    let typed = typed.as_deref();
    let triggered = typed.is_some_and(|text| {
        config
            .folded
            .triggers
            .iter()
            .any(|t| has_folded_phrase(text, t))
    });
    let menu_keyword =
        typed.is_some_and(|text| config.folded.menu_keywords.iter().any(|k| k == text));

    // A score answers the satisfaction question even when it mentions "atendente".
    if matches!(session.state, State::Nps | State::NpsPending)
        && let Some(score) = typed.and_then(nps_score)
    {
        session.nps_score = Some(score);
        session.state = State::Finished;
        out.send(
            &mut session,
            OutboundMessage::text(&config.texts.nps_thanks),
        );
        return (session, out.commands);
    }
    // A submitted Flow is confirmed in any bot state, a new conversation included.
    if let MessageContent::FlowReply { response_json } = &message.content
        && let Some(confirmation) = flow_answers(&mut session, response_json, config)
    {
        session.bot_attempts = 0;
        out.send(&mut session, confirmation);
        if session.state == State::Start {
            session.state = State::MainMenu;
        }
        return (session, out.commands);
    }

    if let State::Start = session.state {
        // Self-service works at any hour; the notice says when people answer, once per
        // off-hours period.
        if let Some(period) = config.hours.as_ref().and_then(|h| h.closed_since(now))
            && session.off_hours_notice_for != Some(period)
        {
            session.off_hours_notice_for = Some(period);
            out.send(&mut session, OutboundMessage::text(&config.texts.off_hours));
            if config.timers.open_now_notice
                && let Some(opening) = config.hours.as_ref().and_then(|h| h.next_opening(now))
                && opening < session.expires_at()
            {
                arm(
                    &mut session,
                    &mut out.commands,
                    TimerKind::OpenNow,
                    opening,
                    now,
                );
            }
        }
        if !triggered {
            let hello = greeting(&session, config);
            out.send(&mut session, hello);
            out.send(&mut session, main_menu(config));
            session.state = State::MainMenu;
            return (session, out.commands);
        }
    }
    if triggered {
        let department = session
            .state
            .department()
            .unwrap_or(&config.escalation_department)
            .to_owned();
        let handover = Handover::new(department, "trigger", &config.texts.handoff);
        hand_over(&mut session, &mut out, config, handover);
        return (session, out.commands);
    }
    if menu_keyword {
        session.bot_attempts = 0;
        session.state = State::MainMenu;
        out.send(&mut session, main_menu(config));
        return (session, out.commands);
    }

    match session.state.clone() {
        State::Start | State::Human { .. } | State::Finished => {}
        // The customer wrote before the satisfaction question went out: ask it now.
        State::NpsPending => {
            session.state = State::Nps;
            out.send(
                &mut session,
                OutboundMessage::text(&config.texts.nps_question),
            );
        }
        State::MainMenu
            if typed.is_some_and(|t| config.folded.farewells.iter().any(|f| f == t)) =>
        {
            session.bot_attempts = 0;
            session.state = State::Nps;
            out.send(
                &mut session,
                OutboundMessage::text(&config.texts.nps_question),
            );
        }
        // Scores were taken before the triggers; anything else is asked again.
        State::Nps => {
            session.bot_attempts += 1;
            if session.bot_attempts >= config.max_bot_attempts {
                // Not everyone wants to answer: end politely.
                session.state = State::Finished;
                out.send(
                    &mut session,
                    OutboundMessage::text(&config.texts.nps_thanks),
                );
            } else {
                out.send(
                    &mut session,
                    OutboundMessage::text(&config.texts.nps_invalid),
                );
            }
        }
        State::MainMenu => match choice(&message.content, typed, config) {
            Some(option) => {
                session.bot_attempts = 0;
                out.send(&mut session, OutboundMessage::text(&option.answer));
                start_flow(&mut session, &mut out, option, config);
            }
            None if faq_answer(typed, config).is_some() => {
                session.bot_attempts = 0;
                let answer = faq_answer(typed, config).unwrap_or_default().to_owned();
                out.send(&mut session, OutboundMessage::text(answer));
            }
            None => match &message.content {
                // The fallback: free text counts an attempt and, while
                // attempts remain, goes to the assistant.
                MessageContent::Text { body } if config.assistant_available => {
                    session.bot_attempts += 1;
                    if session.bot_attempts >= config.max_bot_attempts {
                        let handover = Handover::new(
                            config.escalation_department.clone(),
                            "bot_attempts",
                            &config.texts.handoff_after_attempts,
                        );
                        hand_over(&mut session, &mut out, config, handover);
                    } else {
                        ask_assistant(&mut session, &mut out, body, config);
                    }
                }
                other => not_understood(&mut session, &mut out, other, config, main_menu(config)),
            },
        },
        State::Assistant => match (choice(&message.content, typed, config), &message.content) {
            // The menu's choices work here as in the menu.
            (Some(option), _) => {
                session.bot_attempts = 0;
                session.state = State::MainMenu;
                out.send(&mut session, OutboundMessage::text(&option.answer));
                start_flow(&mut session, &mut out, option, config);
            }
            (None, MessageContent::Text { body }) => {
                ask_assistant(&mut session, &mut out, body, config)
            }
            (None, other) => {
                session.state = State::MainMenu;
                not_understood(&mut session, &mut out, other, config, main_menu(config));
            }
        },
        State::SupportDetails { department } => match &message.content {
            MessageContent::Text { body } => {
                session.bot_attempts = 0;
                out.send(
                    &mut session,
                    OutboundMessage::Buttons {
                        header: None,
                        body: config.texts.support_attachment_prompt.clone(),
                        footer: None,
                        buttons: vec![Button {
                            id: NO_ATTACHMENT.to_owned(),
                            title: config.texts.support_no_attachment_button.clone(),
                        }],
                    },
                );
                session.state = State::SupportAttachment {
                    department,
                    details: body.clone(),
                };
            }
            MessageContent::Media {
                kind, id, caption, ..
            } => {
                let mut handover = Handover::new(
                    department,
                    "support_ticket",
                    &config.texts.department_handoff,
                );
                handover.problem = caption.clone();
                handover.attachments = vec![format!("{}:{id}", media_name(*kind))];
                hand_over(&mut session, &mut out, config, handover);
            }
            other => {
                let repeat = OutboundMessage::text(
                    config.menu_option_answer(&department, OptionFlow::Support),
                );
                not_understood(&mut session, &mut out, other, config, repeat);
            }
        },
        State::SupportAttachment {
            department,
            details,
        } => {
            let mut handover = Handover::new(
                department,
                "support_ticket",
                &config.texts.department_handoff,
            );
            match &message.content {
                MessageContent::Media {
                    kind, id, caption, ..
                } => {
                    handover.attachments = vec![format!("{}:{id}", media_name(*kind))];
                    handover.problem = Some(match caption {
                        Some(c) => format!("{details}\n{c}"),
                        None => details,
                    });
                }
                MessageContent::Text { body } => {
                    handover.problem = Some(format!("{details}\n{body}"))
                }
                _ => handover.problem = Some(details),
            }
            hand_over(&mut session, &mut out, config, handover);
        }
        State::SalesCatalog { department } => match pick(
            &message.content,
            typed,
            config.catalog.iter().map(|i| i.id.as_str()),
            &config.folded.catalog_titles,
        ) {
            Some(i) => {
                session.bot_attempts = 0;
                let item = &config.catalog[i];
                out.send(&mut session, checkout(item, config));
                session.state = State::SalesCheckout {
                    department,
                    item: item.id.clone(),
                };
            }
            None => not_understood(
                &mut session,
                &mut out,
                &message.content,
                config,
                catalog(config),
            ),
        },
        State::SalesCheckout { department, item } => {
            let item = config.catalog.iter().find(|i| i.id == item);
            let picked = pick(
                &message.content,
                typed,
                [CONFIRM, BACK].into_iter(),
                &config.folded.checkout_titles,
            );
            match (picked, item) {
                (Some(0), Some(item)) => {
                    let mut handover =
                        Handover::new(department, "sales_order", &config.texts.department_handoff);
                    handover.order = Some(format!("{} ({}, {})", item.id, item.title, item.price));
                    hand_over(&mut session, &mut out, config, handover);
                }
                (Some(_), _) | (None, None) => {
                    session.bot_attempts = 0;
                    session.state = State::MainMenu;
                    out.send(&mut session, main_menu(config));
                }
                (None, Some(item)) => not_understood(
                    &mut session,
                    &mut out,
                    &message.content,
                    config,
                    checkout(item, config),
                ),
            }
        }
        State::FinanceDocument { department } => {
            match message.content.text().and_then(TaxId::parse) {
                Some(document) => {
                    session.bot_attempts = 0;
                    let mut handover = Handover::new(
                        department,
                        "finance_second_copy",
                        &config.texts.department_handoff,
                    );
                    handover.document = Some(match document {
                        TaxId::Cpf(d) | TaxId::Cnpj(d) => d,
                    });
                    hand_over(&mut session, &mut out, config, handover);
                }
                None => {
                    session.bot_attempts += 1;
                    if session.bot_attempts >= config.max_bot_attempts {
                        let handover = Handover::new(
                            department,
                            "bot_attempts",
                            &config.texts.handoff_after_attempts,
                        );
                        hand_over(&mut session, &mut out, config, handover);
                    } else {
                        out.send(
                            &mut session,
                            OutboundMessage::text(&config.texts.finance_invalid_document),
                        );
                    }
                }
            }
        }
    }
    (session, out.commands)
}

/// Reply ids of the buttons the flows send.
const NO_ATTACHMENT: &str = "support_no_attachment";
const CONFIRM: &str = "sales_confirm";
const BACK: &str = "sales_back";

fn media_name(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Image => "image",
        MediaKind::Video => "video",
        MediaKind::Audio => "audio",
        MediaKind::Document => "document",
        MediaKind::Sticker => "sticker",
    }
}

/// After an option's answer: enter its flow.
fn start_flow(session: &mut Session, out: &mut Replies, option: &MenuOption, config: &Config) {
    if option.flow == OptionFlow::WhatsappFlow {
        if let Some(flow) = option
            .whatsapp_flow
            .as_deref()
            .and_then(|id| config.flow(id))
        {
            let message = flow_message(flow, session);
            out.send(session, message);
        }
        return;
    }
    let Some(department) = option.department.clone() else {
        return;
    };
    session.state = match option.flow {
        OptionFlow::Answer | OptionFlow::WhatsappFlow => return,
        OptionFlow::Support => State::SupportDetails { department },
        OptionFlow::Sales => {
            out.send(session, catalog(config));
            State::SalesCatalog { department }
        }
        OptionFlow::Finance => State::FinanceDocument { department },
    };
}

/// A misunderstanding: an apology and `again`, or a person after `max_bot_attempts`.
fn not_understood(
    session: &mut Session,
    out: &mut Replies,
    content: &MessageContent,
    config: &Config,
    again: OutboundMessage,
) {
    session.bot_attempts += 1;
    if session.bot_attempts >= config.max_bot_attempts {
        let department = session
            .state
            .department()
            .unwrap_or(&config.escalation_department)
            .to_owned();
        let handover = Handover::new(
            department,
            "bot_attempts",
            &config.texts.handoff_after_attempts,
        );
        hand_over(session, out, config, handover);
        return;
    }
    // Typed text that matches nothing is not understood; anything else (media, locations,
    // types atende cannot read) gets the message-type apology.
    let apology = match content {
        MessageContent::Text { .. } if matches!(session.state, State::MainMenu) => {
            &config.texts.not_understood
        }
        MessageContent::Text { .. } => &config.texts.not_understood_choice,
        _ => &config.texts.unsupported_message,
    };
    out.send(session, OutboundMessage::text(apology));
    out.send(session, again);
}

/// A configured WhatsApp Flow, with a token naming the flow and this conversation.
fn flow_message(flow: &FlowConfig, session: &Session) -> OutboundMessage {
    OutboundMessage::Flow {
        header: flow.header.clone(),
        body: flow.body.clone(),
        footer: flow.footer.clone(),
        flow_id: flow.flow_id.clone(),
        flow_token: format!("{}:{}", flow.id, session.started_at.timestamp()),
        cta: flow.cta.clone(),
        screen: flow.screen.clone(),
        data: flow
            .data
            .as_ref()
            .and_then(|d| serde_json::to_value(d).ok()),
    }
}

/// A submitted Flow: its answers are kept in the session and repeated back in words. `None`
/// when the response is not a JSON object or names no configured flow.
fn flow_answers(
    session: &mut Session,
    response_json: &str,
    config: &Config,
) -> Option<OutboundMessage> {
    let serde_json::Value::Object(fields) = serde_json::from_str(response_json).ok()? else {
        return None;
    };
    let token = fields.get("flow_token")?.as_str()?;
    let flow = config.flow(token.split(':').next()?)?;
    let mut lines = Vec::new();
    for (name, value) in &fields {
        if name == "flow_token" {
            continue;
        }
        let value = match value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if let Some(label) = flow.labels.get(name) {
            lines.push(format!("{label}: {value}"));
        }
        session.flow_answers.insert(name.clone(), value);
    }
    // The customer's answers are theirs to size: the confirmation is cut to fit a text.
    let text = flow.confirmation.replace("{answers}", &lines.join("\n"));
    Some(OutboundMessage::text(cut(
        &text,
        crate::domain::config::limits::TEXT_BODY,
    )))
}

/// The sales catalog as a list.
fn catalog(config: &Config) -> OutboundMessage {
    OutboundMessage::List {
        header: None,
        body: config.texts.sales_catalog_body.clone(),
        footer: None,
        button: config.texts.sales_catalog_button.clone(),
        sections: vec![ListSection {
            title: None,
            rows: config
                .catalog
                .iter()
                .map(|i| ListRow {
                    id: i.id.clone(),
                    title: i.title.clone(),
                    description: Some(match &i.description {
                        Some(d) => format!("{} - {d}", i.price),
                        None => i.price.clone(),
                    })
                    .map(|d| {
                        d.chars()
                            .take(crate::domain::config::limits::ROW_DESCRIPTION)
                            .collect()
                    }),
                })
                .collect(),
        }],
    }
}

/// The confirmation of a chosen item, with confirm and back buttons.
fn checkout(item: &CatalogItem, config: &Config) -> OutboundMessage {
    OutboundMessage::Buttons {
        header: None,
        body: config
            .texts
            .sales_confirm
            .replace("{item}", &item.title)
            .replace("{price}", &item.price),
        footer: None,
        buttons: vec![
            Button {
                id: CONFIRM.to_owned(),
                title: config.texts.sales_confirm_button.clone(),
            },
            Button {
                id: BACK.to_owned(),
                title: config.texts.sales_back_button.clone(),
            },
        ],
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

    fn send(&mut self, session: &mut Session, message: OutboundMessage) {
        session.record(Party::Bot, message.summary(), self.now);
        self.commands.push(Command::Send { message });
    }
}

/// Why and where a conversation goes to a person, with what the flow collected.
struct Handover {
    department: String,
    reason: &'static str,
    text: String,
    problem: Option<String>,
    attachments: Vec<String>,
    order: Option<String>,
    document: Option<String>,
}

impl Handover {
    fn new(department: String, reason: &'static str, text: &str) -> Self {
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
fn hand_over(session: &mut Session, out: &mut Replies, config: &Config, h: Handover) {
    let name = config
        .department(&h.department)
        .map_or(h.department.as_str(), |d| d.name.as_str());
    out.send(
        session,
        OutboundMessage::text(h.text.replace("{department}", name)),
    );
    let vip = matches!(&session.customer, CustomerId::Phone(p) if config.vip_numbers.contains(p));
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
    session.state = State::Human {
        department: h.department.clone(),
        since: out.now,
        told_position: None,
    };
    out.commands.push(Command::EnqueueForHuman {
        department: h.department,
        priority: if vip {
            Priority::High
        } else {
            Priority::Normal
        },
    });
    out.commands.push(Command::NotifyAgents { context });
}

/// The customer is in line: their place and an estimate.
fn on_queued(
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
    let text = place_in_line(&config.texts.queue_position, position, dept);
    let mut out = Replies::new(now);
    out.send(&mut session, OutboundMessage::text(text));
    arm_queue_update(&mut session, &mut out.commands, now, config);
    (session, out.commands)
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
        MessageContent::Unsupported { message_type, .. } => format!("[{message_type}]"),
    }
}

/// The answer of the first FAQ entry with a keyword in what the customer typed.
fn faq_answer<'c>(typed: Option<&str>, config: &'c Config) -> Option<&'c str> {
    let typed = typed?;
    config
        .folded
        .faq_keywords
        .iter()
        .position(|keywords| keywords.iter().any(|k| has_folded_phrase(typed, k)))
        .map(|i| config.faq[i].answer.as_str())
}

/// The main-menu option the customer picked, if any.
fn choice<'c>(
    content: &MessageContent,
    typed: Option<&str>,
    config: &'c Config,
) -> Option<&'c MenuOption> {
    let options = &config.menu.options;
    pick(
        content,
        typed,
        options.iter().map(|o| o.id.as_str()),
        &config.folded.menu_titles,
    )
    .map(|i| &options[i])
}

/// Which choice the customer picked, given the choices' ids and folded titles (same order): a
/// button or list reply's id, a template quick reply's payload, or, typed (`typed`, folded),
/// the choice's number or its title.
fn pick<'a>(
    content: &MessageContent,
    typed: Option<&str>,
    mut ids: impl Iterator<Item = &'a str>,
    folded_titles: &[String],
) -> Option<usize> {
    match content {
        MessageContent::ButtonReply { id, .. } | MessageContent::ListReply { id, .. } => {
            ids.position(|c| c == id)
        }
        MessageContent::QuickReply { payload, .. } => ids.position(|c| c == payload),
        _ => {
            let typed = typed?;
            typed
                .parse::<usize>()
                .ok()
                .and_then(|n| n.checked_sub(1))
                .filter(|&i| i < folded_titles.len())
                .or_else(|| folded_titles.iter().position(|t| t == typed))
        }
    }
}

fn greeting(session: &Session, config: &Config) -> OutboundMessage {
    let text = match session.profile_name.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() => config.texts.greeting.replace("{name}", name),
        _ => config.texts.greeting_anonymous.clone(),
    };
    OutboundMessage::text(text.replace("{business}", &config.business_name))
}

/// The main menu as configured: reply buttons, or a list grouped in sections.
pub fn main_menu(config: &Config) -> OutboundMessage {
    let menu = &config.menu;
    match menu.style {
        MenuStyle::Buttons => OutboundMessage::Buttons {
            header: menu.header.clone(),
            body: menu.body.clone(),
            footer: menu.footer.clone(),
            buttons: menu
                .options
                .iter()
                .map(|o| Button {
                    id: o.id.clone(),
                    title: o.title.clone(),
                })
                .collect(),
        },
        MenuStyle::List => {
            let mut sections: Vec<ListSection> = Vec::new();
            for o in &menu.options {
                let row = ListRow {
                    id: o.id.clone(),
                    title: o.title.clone(),
                    description: o.description.clone(),
                };
                match sections.iter_mut().find(|s| s.title == o.section) {
                    Some(section) => section.rows.push(row),
                    None => sections.push(ListSection {
                        title: o.section.clone(),
                        rows: vec![row],
                    }),
                }
            }
            OutboundMessage::List {
                header: menu.header.clone(),
                body: menu.body.clone(),
                footer: menu.footer.clone(),
                button: menu.list_button.clone(),
                sections,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CustomerId;
    use chrono::TimeZone;

    fn config() -> Config {
        Config::embedded().unwrap()
    }

    fn text(id: &str, body: &str) -> InboundMessage {
        InboundMessage {
            id: id.into(),
            sent_at: None,
            profile_name: Some("Maria".into()),
            content: MessageContent::Text { body: body.into() },
        }
    }

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, h, 0, 0).unwrap()
    }

    fn timers_set(commands: &[Command]) -> Vec<(TimerKind, DateTime<Utc>)> {
        commands
            .iter()
            .filter_map(|c| match c {
                Command::SetTimer { timer, at } => Some((*timer, *at)),
                _ => None,
            })
            .collect()
    }

    /// A queue update delivered a little before the opening it was set for acts as at the
    /// opening: the next one is set ten minutes on, not again for the same instant (which
    /// would be deduplicated and never come).
    #[test]
    fn an_early_queue_update_acts_as_at_its_due_time() {
        let config = config();
        // Tuesday 8:00 in São Paulo: the opening.
        let opening = Utc.with_ymd_and_hms(2026, 11, 24, 11, 0, 0).unwrap();
        let mut s = Session::new(
            CustomerId::Phone("5511".into()),
            opening - Duration::hours(2),
        );
        s.state = State::Human {
            department: "suporte".into(),
            since: opening - Duration::hours(2),
            told_position: Some(2),
        };
        s.timers.insert(TimerKind::QueueUpdate, opening);
        let early = opening - Duration::seconds(30);
        let fired = TimerFired {
            timer: TimerKind::QueueUpdate,
            due: opening,
        };
        let (s, commands) = step(s, Input::Timer(fired), early, &config);
        let Some(Command::CheckQueue { department, at }) = commands.first().cloned() else {
            panic!("{commands:?}");
        };
        assert_eq!(at, opening);
        let (s, commands) = step(
            s,
            Input::QueueChecked {
                department: &department,
                position: Some(1),
                at,
            },
            early,
            &config,
        );
        assert!(commands.iter().any(|c| matches!(c, Command::Send { .. })));
        assert_eq!(
            timers_set(&commands),
            [(TimerKind::QueueUpdate, opening + Duration::minutes(10))]
        );
        assert_eq!(
            s.timers[&TimerKind::QueueUpdate],
            opening + Duration::minutes(10)
        );
    }

    /// A pending timer long past its time never came: the next step sets a new one instead of
    /// waiting for it forever.
    #[test]
    fn a_lost_timer_is_set_again() {
        let config = config();
        let mut s = Session::new(CustomerId::Phone("5511".into()), at(12));
        s.state = State::MainMenu;
        s.timers
            .insert(TimerKind::Inactivity, at(12) + Duration::minutes(10));
        let later = at(13);
        let (_, commands) = step(s, Input::Message(&text("wamid.9", "menu")), later, &config);
        assert_eq!(
            timers_set(&commands),
            [(TimerKind::Inactivity, later + Duration::minutes(10))]
        );
    }

    fn sends(commands: &[Command]) -> usize {
        commands
            .iter()
            .filter(|c| matches!(c, Command::Send { .. }))
            .count()
    }

    /// Sends whose outcome is unknown go again only after their own full wait, and only if
    /// the conversation is still where it was.
    #[test]
    fn unconfirmed_sends_go_again_after_their_own_wait_if_nothing_moved() {
        let config = config();
        let t = at(12);
        let mut s = Session::new(CustomerId::Phone("5511".into()), t - Duration::minutes(1));
        s.state = State::MainMenu;
        let greeting = OutboundMessage::text("Olá!");
        let menu = OutboundMessage::text("Menu");
        let (s, first) = step(
            s,
            Input::OutcomeUnknown {
                reference: "wamid.1#2",
                message: &greeting,
            },
            t,
            &config,
        );
        assert_eq!(
            timers_set(&first),
            [(TimerKind::Unconfirmed, t + Duration::minutes(2))]
        );
        let almost = t + Duration::seconds(118);
        let (s, second) = step(
            s,
            Input::OutcomeUnknown {
                reference: "wamid.1#3",
                message: &menu,
            },
            almost,
            &config,
        );
        assert!(timers_set(&second).is_empty(), "one timer for both");
        let fired = TimerFired {
            timer: TimerKind::Unconfirmed,
            due: t + Duration::minutes(2),
        };
        let (s, commands) = step(s, Input::Timer(fired), fired.due, &config);
        assert_eq!(sends(&commands), 1, "only the greeting's wait is over");
        let next = almost + Duration::minutes(2);
        assert_eq!(timers_set(&commands), [(TimerKind::Unconfirmed, next)]);
        // Meanwhile the conversation moved elsewhere: the menu is not sent again.
        let mut s = s;
        s.state = State::Nps;
        let fired = TimerFired {
            timer: TimerKind::Unconfirmed,
            due: next,
        };
        let (s, commands) = step(s, Input::Timer(fired), next, &config);
        assert_eq!(sends(&commands), 0);
        assert!(s.unconfirmed.is_empty());
    }

    #[test]
    fn every_message_is_marked_read_first() {
        let s = Session::new(CustomerId::Phone("5511999990000".into()), at(12));
        let (_, cmds) = step(s, Input::Message(&text("wamid.1", "oi")), at(12), &config());
        assert_eq!(
            cmds[0],
            Command::MarkRead {
                message_id: "wamid.1".into()
            }
        );
    }

    #[test]
    fn a_session_past_the_window_starts_over() {
        let mut s = Session::new(CustomerId::Phone("5511999990000".into()), at(12));
        s.state = State::MainMenu;
        s.bot_attempts = 2;
        let later = at(12) + chrono::Duration::hours(25);
        let (s, cmds) = step(s, Input::Message(&text("wamid.2", "1")), later, &config());
        assert_eq!(s.state, State::MainMenu);
        assert_eq!(s.started_at, later);
        assert_eq!(s.bot_attempts, 0);
        // Greeting and menu, not the answer to option 1.
        let sent: Vec<&OutboundMessage> = cmds
            .iter()
            .filter_map(|c| match c {
                Command::Send { message } => Some(message),
                _ => None,
            })
            .collect();
        assert_eq!(sent.len(), 2);
        assert!(matches!(sent[1], OutboundMessage::List { .. }));
    }

    #[test]
    fn a_list_menu_groups_options_by_section() {
        let config = Config::embedded().unwrap();
        let OutboundMessage::List { sections, .. } = main_menu(&config) else {
            panic!("expected a list")
        };
        let shape: Vec<(Option<&str>, usize)> = sections
            .iter()
            .map(|s| (s.title.as_deref(), s.rows.len()))
            .collect();
        assert_eq!(shape, [(Some("Atendimento"), 3), (Some("Informações"), 1)]);
    }

    /// Runs typed lines (or given contents) through the engine and returns the last commands.
    fn run(steps: &[MessageContent]) -> (Session, Vec<Command>) {
        let config = config();
        let mut session = Session::new(CustomerId::Phone("5511999990000".into()), at(12));
        let mut last = Vec::new();
        for (i, content) in steps.iter().enumerate() {
            let message = InboundMessage {
                id: format!("wamid.{i}"),
                sent_at: None,
                profile_name: None,
                content: content.clone(),
            };
            (session, last) = step(session, Input::Message(&message), at(12), &config);
        }
        (session, last)
    }

    fn typed(body: &str) -> MessageContent {
        MessageContent::Text { body: body.into() }
    }

    fn handoff_context(commands: &[Command]) -> HandoffContext {
        commands
            .iter()
            .find_map(|c| match c {
                Command::NotifyAgents { context } => Some(context.clone()),
                _ => None,
            })
            .expect("agents notified")
    }

    #[test]
    fn a_support_ticket_carries_the_problem_and_the_attachment_to_the_agent() {
        let photo = MessageContent::Media {
            kind: MediaKind::Image,
            id: "1482902119483940".into(),
            mime_type: None,
            caption: Some("a luz vermelha".into()),
        };
        let (session, commands) = run(&[typed("oi"), typed("1"), typed("sem internet"), photo]);
        assert!(
            matches!(session.state, State::Human { ref department, .. } if department == "suporte")
        );
        assert!(commands.contains(&Command::EnqueueForHuman {
            department: "suporte".into(),
            priority: Priority::Normal,
        }));
        let context = handoff_context(&commands);
        assert_eq!(context.reason, "support_ticket");
        assert_eq!(context.previous_state, "support_attachment");
        assert_eq!(
            context.problem.as_deref(),
            Some("sem internet\na luz vermelha")
        );
        assert_eq!(context.attachments, ["image:1482902119483940"]);
        let said: Vec<&str> = context
            .last_messages
            .iter()
            .map(|t| t.text.as_str())
            .collect();
        assert!(
            said.contains(&"sem internet") && said.contains(&"[Image] a luz vermelha"),
            "{said:?}"
        );
    }

    #[test]
    fn an_order_and_a_document_reach_the_agent() {
        let (_, commands) = run(&[
            typed("oi"),
            typed("2"),
            typed("1"),
            typed("confirmar pedido"),
        ]);
        let context = handoff_context(&commands);
        assert_eq!(context.department, "vendas");
        assert_eq!(
            context.order.as_deref(),
            Some("plano_basico (Plano Básico, R$ 99,90/mês)")
        );
        let (_, commands) = run(&[typed("oi"), typed("3"), typed("11.222.333/0001-81")]);
        let context = handoff_context(&commands);
        assert_eq!(context.department, "financeiro");
        assert_eq!(context.document.as_deref(), Some("11222333000181"));
    }
}

//! A customer message: what holds in every state (a new conversation, the window, the read
//! receipt, triggers, the menu keyword, a submitted Flow), then the state's own flow.

use super::{Replies, describe, finance, line, menu, nps, sales, support, whatsapp_flows};
use super::{assistant, human, line::Handover, timers::arm};
use crate::domain::command::{Command, OutboundMessage};
use crate::domain::config::Config;
use crate::domain::event::{InboundMessage, MessageContent};
use crate::domain::log::{ConversationEvent, LogLine, MediaRef};
use crate::domain::session::{Party, Session, State};
use crate::domain::text::{fold, has_folded_phrase};
use crate::domain::timer::TimerKind;
use chrono::{DateTime, Utc};

/// What the customer said, as the flows read it: the message and, for typed text, its folded
/// form (case, accents and punctuation away).
pub(super) struct Said<'m> {
    pub content: &'m MessageContent,
    pub typed: Option<&'m str>,
}

pub(super) fn on_message(
    session: Session,
    message: &InboundMessage,
    now: DateTime<Utc>,
    config: &Config,
) -> (Session, Vec<Command>) {
    if let MessageContent::System {
        kind,
        body,
        new_wa_id,
    } = &message.content
    {
        return on_whatsapp_notice(session, kind, body, new_wa_id, now);
    }
    let (mut session, leave_queue) = begin_if_over(session, now);
    // WhatsApp's 24-hour window runs from when the customer sent the message, not from when
    // it reached us (a delivery late by minutes shortens it by as much). Never later than now,
    // never earlier than a message already seen (deliveries may come out of order).
    let sent = message.sent_at.map_or(now, |sent| sent.min(now));
    let wrote_before = session.history.iter().any(|t| t.from == Party::Customer);
    session.last_inbound_at = if wrote_before {
        sent.max(session.last_inbound_at)
    } else {
        sent
    };
    session.followed_up = false;
    // The customer wrote: the window is open again.
    session.window_closed = false;
    if let Some(name) = &message.profile_name {
        session.profile_name = Some(name.clone());
    }
    let text = describe(&message.content);
    session.record(Party::Customer, text.clone(), now);
    let mut out = Replies {
        commands: vec![Command::MarkRead {
            message_id: message.id.clone(),
            // Decided in `step`, once it is known whether a reply follows.
            typing: false,
        }],
        now,
    };
    out.commands.extend(leave_queue);
    let media = media_of(&message.content);
    out.log(
        &mut session,
        LogLine::Customer {
            text,
            message_id: message.id.clone(),
            media: media.clone(),
        },
    );
    if let Some(media) = media {
        out.commands.push(Command::KeepMedia { media });
    }
    // A person is on it in the human state: the bot is quiet (the message is in the log and
    // the history for the agent).
    if let State::Human { .. } = session.state {
        human::on_customer_message(&mut session, &mut out, now);
        return (session, out.commands);
    }
    // A reaction is not a request.
    if matches!(message.content, MessageContent::Reaction { .. }) {
        return (session, out.commands);
    }
    // Typed text is folded once; the configuration's words were folded when it loaded.
    let typed = message.content.text().map(fold);
    let said = Said {
        content: &message.content,
        typed: typed.as_deref(),
    };
    respond(&mut session, &mut out, &said, now, config);
    (session, out.commands)
}

/// WhatsApp's own notice about the customer (a number change, a new identity): written to the
/// conversation log for the agents, and nothing else. It is not the customer writing: no
/// answer, no read receipt, no line of history, and the 24-hour window neither opens nor moves.
/// A conversation that is over is not started again by it.
fn on_whatsapp_notice(
    mut session: Session,
    kind: &str,
    body: &Option<String>,
    new_wa_id: &Option<String>,
    now: DateTime<Utc>,
) -> (Session, Vec<Command>) {
    if session.is_expired(now) || session.state == State::Finished {
        return (session, Vec::new());
    }
    let mut out = Replies {
        commands: Vec::new(),
        now,
    };
    out.log(
        &mut session,
        LogLine::Event(ConversationEvent::WhatsAppNotice {
            notice: kind.to_owned(),
            text: body.clone(),
            new_number: new_wa_id.clone(),
        }),
    );
    (session, out.commands)
}

/// The file a message carries, to keep for the agents.
fn media_of(content: &MessageContent) -> Option<MediaRef> {
    match content {
        MessageContent::Media {
            kind,
            id,
            mime_type,
            ..
        } => Some(MediaRef {
            kind: *kind,
            id: id.clone(),
            mime_type: mime_type.clone(),
        }),
        _ => None,
    }
}

/// A new conversation when the last one is over or its window closed; the off-hours notice
/// already given still counts. Whoever was still waiting for a person when the window closed
/// leaves that line (the command to do so is returned).
fn begin_if_over(mut session: Session, now: DateTime<Utc>) -> (Session, Option<Command>) {
    if !session.is_expired(now) && session.state != State::Finished {
        return (session, None);
    }
    let leave_queue = match &session.state {
        State::Human { department, .. } => Some(Command::LeaveQueue {
            department: department.clone(),
        }),
        _ => None,
    };
    let notice = session.off_hours_notice_for;
    let open_now = session.timers.get(&TimerKind::OpenNow).copied();
    let name = session.profile_name.take();
    let mut fresh = Session::new(session.customer, now);
    fresh.off_hours_notice_for = notice;
    fresh.profile_name = name;
    if let Some(due) = open_now {
        fresh.timers.insert(TimerKind::OpenNow, due);
    }
    (fresh, leave_queue)
}

/// The bot's answer to a message in a bot state.
fn respond(
    session: &mut Session,
    out: &mut Replies,
    said: &Said<'_>,
    now: DateTime<Utc>,
    config: &Config,
) {
    let triggered = said.typed.is_some_and(|text| {
        config
            .folded
            .triggers
            .iter()
            .any(|t| has_folded_phrase(text, t))
    });
    let menu_keyword = said
        .typed
        .is_some_and(|text| config.folded.menu_keywords.iter().any(|k| k == text));

    // A score answers the satisfaction question even when it mentions "atendente".
    if nps::took_score(session, out, said, config) {
        return;
    }
    // A submitted Flow is confirmed in any bot state, a new conversation included.
    if let MessageContent::FlowReply { response_json } = said.content
        && let Some(confirmation) = whatsapp_flows::answers(session, response_json, config)
    {
        session.bot_attempts = 0;
        out.send(session, confirmation);
        if session.state == State::Start {
            session.state = State::MainMenu;
        }
        return;
    }
    if let State::Start = session.state {
        off_hours_notice(session, out, now, config);
        if !triggered {
            let hello = menu::greeting(session, config);
            out.send(session, hello);
            out.send(session, menu::main_menu(config));
            session.state = State::MainMenu;
            return;
        }
    }
    if triggered {
        let department = session
            .state
            .department()
            .unwrap_or(&config.escalation_department)
            .to_owned();
        let handover = Handover::new(department, "trigger", &config.texts.handoff);
        line::hand_over(session, out, config, handover);
        return;
    }
    if menu_keyword {
        session.bot_attempts = 0;
        session.state = State::MainMenu;
        out.send(session, menu::main_menu(config));
        return;
    }
    match session.state.clone() {
        State::Start | State::Human { .. } | State::Finished => {}
        State::NpsPending | State::Nps => nps::on_message(session, out, config),
        State::MainMenu => menu::on_message(session, out, said, config),
        State::Assistant => assistant::on_message(session, out, said, config),
        State::SupportDetails { department } => {
            support::on_details(session, out, said, department, config)
        }
        State::SupportAttachment {
            department,
            details,
        } => support::on_attachment(session, out, said, department, details, config),
        State::SalesCatalog { department } => {
            sales::on_catalog(session, out, said, department, config)
        }
        State::SalesCheckout { department, item } => {
            sales::on_checkout(session, out, said, department, &item, config)
        }
        State::FinanceDocument { department } => {
            finance::on_document(session, out, said, department, config)
        }
    }
}

/// Self-service works at any hour; the notice says when people answer, once per off-hours
/// period, with a note when the team opens if that falls inside the window.
fn off_hours_notice(session: &mut Session, out: &mut Replies, now: DateTime<Utc>, config: &Config) {
    let Some(period) = config.hours.as_ref().and_then(|h| h.closed_since(now)) else {
        return;
    };
    if session.off_hours_notice_for == Some(period) {
        return;
    }
    session.off_hours_notice_for = Some(period);
    out.send(session, OutboundMessage::text(&config.texts.off_hours));
    if config.timers.open_now_notice
        && let Some(opening) = config.hours.as_ref().and_then(|h| h.next_opening(now))
        && opening < session.expires_at()
    {
        arm(session, &mut out.commands, TimerKind::OpenNow, opening, now);
    }
}

//! Unit tests of the engine's details; whole conversations are transcripts in `tests/`.

use super::*;
use crate::domain::CustomerId;
use crate::domain::command::HandoffContext;
use crate::domain::event::MediaKind;
use crate::domain::session::State;
use crate::domain::sla::Priority;
use chrono::{Duration, TimeZone};

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
        agent: None,
        awaiting_reply_since: None,
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
            message_id: "wamid.1".into(),
            typing: true,
        }
    );
}

/// Issue item "no typing indicator when no reply follows": a message to a person's turn, or a
/// reaction, is marked read without "typing…"; one the bot answers shows it.
#[test]
fn no_typing_indicator_when_no_reply_follows() {
    let typing = |cmds: &[Command]| match &cmds[0] {
        Command::MarkRead { typing, .. } => *typing,
        other => panic!("not marked read first: {other:?}"),
    };
    let mut s = Session::new(CustomerId::Phone("5511999990000".into()), at(12));
    let (next, cmds) = step(s, Input::Message(&text("wamid.1", "oi")), at(12), &config());
    assert!(typing(&cmds), "the greeting follows");
    s = next;
    let reaction = InboundMessage {
        content: MessageContent::Reaction {
            message_id: "wamid.out".into(),
            emoji: Some("👍".into()),
        },
        ..text("wamid.2", "")
    };
    let (next, cmds) = step(s, Input::Message(&reaction), at(12), &config());
    assert!(!typing(&cmds), "nothing answers a reaction: {cmds:?}");
    s = next;
    s.state = State::Human {
        department: "suporte".into(),
        since: at(12),
        told_position: None,
        agent: None,
        awaiting_reply_since: None,
    };
    let (_, cmds) = step(
        s,
        Input::Message(&text("wamid.3", "alô?")),
        at(12),
        &config(),
    );
    assert!(!typing(&cmds), "a person's turn: {cmds:?}");
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
            Command::Send { message, .. } => Some(message),
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
        since: None,
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

/// Issue item "while the business is closed, a customer put in line is not told ~6 minutes":
/// they are told when the team opens, and their place is updated then; while open, the
/// estimate in minutes stands.
#[test]
fn while_closed_a_customer_in_line_is_told_when_the_team_opens() {
    let config = config();
    let queued_at = |now: DateTime<Utc>| {
        let mut s = Session::new(CustomerId::Phone("5511".into()), now);
        s.state = State::Human {
            department: "suporte".into(),
            since: now,
            told_position: None,
            agent: None,
            awaiting_reply_since: None,
        };
        step(
            s,
            Input::Queued {
                department: "suporte",
                position: 1,
            },
            now,
            &config,
        )
    };
    let told = |commands: &[Command]| {
        commands
            .iter()
            .find_map(|c| match c {
                Command::Send {
                    message: OutboundMessage::Text { body },
                    ..
                } => Some(body.clone()),
                _ => None,
            })
            .unwrap()
    };
    // Sunday noon in São Paulo; the team is back on Monday at 08:00 (11:00 UTC), within her
    // window.
    let sunday = Utc.with_ymd_and_hms(2026, 11, 29, 15, 0, 0).unwrap();
    let (_, commands) = queued_at(sunday);
    let text = told(&commands);
    assert!(
        text.contains("posição 1") && text.contains("30/11 às 08:00"),
        "{text}"
    );
    assert!(!text.contains("minutos"), "{text}");
    let monday_opening = Utc.with_ymd_and_hms(2026, 11, 30, 11, 0, 0).unwrap();
    assert_eq!(
        timers_set(&commands),
        [(TimerKind::QueueUpdate, monday_opening)]
    );
    // Tuesday 09:01, open: the estimate.
    let (_, commands) = queued_at(at(12) + Duration::minutes(1));
    assert!(
        told(&commands).contains("~5 minutos"),
        "{}",
        told(&commands)
    );
}

/// Issue item "the 24-hour window runs from when the customer sent the message": a message
/// processed late opens the window from its sending time; an older one processed after a newer
/// one does not move it back; a sending time in the future counts as now.
#[test]
fn the_window_runs_from_when_the_customer_sent_the_message() {
    let sent = |id: &str, at: DateTime<Utc>| InboundMessage {
        sent_at: Some(at),
        ..text(id, "oi")
    };
    // The session is made when the message is processed, as the processor does.
    let s = Session::new(CustomerId::Phone("5511999990000".into()), at(12));
    let (s, _) = step(
        s,
        Input::Message(&sent("wamid.1", at(10))),
        at(12),
        &config(),
    );
    assert_eq!(s.expires_at(), at(10) + Duration::hours(24));
    let (s, _) = step(
        s,
        Input::Message(&sent("wamid.0", at(9))),
        at(12),
        &config(),
    );
    assert_eq!(
        s.expires_at(),
        at(10) + Duration::hours(24),
        "not moved back"
    );
    let (s, _) = step(
        s,
        Input::Message(&sent("wamid.2", at(15))),
        at(12),
        &config(),
    );
    assert_eq!(
        s.expires_at(),
        at(12) + Duration::hours(24),
        "not later than now"
    );
}

/// Found by fuzzing: a conversation saved under an earlier configuration (its support flow's
/// department since renamed) got an empty text, which WhatsApp refuses, when it did not
/// understand the customer. The flow's own question, or "não entendi", goes instead.
#[test]
fn a_conversation_from_an_earlier_configuration_never_gets_an_empty_message() {
    let config = config();
    let mut session = Session::new(CustomerId::Phone("5511".into()), at(10));
    session.state = State::SupportDetails {
        department: "renamed".into(),
    };
    let location = InboundMessage {
        content: MessageContent::Location {
            latitude: -23.5,
            longitude: -46.6,
            name: None,
            address: None,
        },
        ..text("wamid.1", "")
    };
    let (_, commands) = step(session, Input::Message(&location), at(10), &config);
    let sent: Vec<_> = commands
        .iter()
        .filter_map(|c| match c {
            Command::Send { message, .. } => Some(message),
            _ => None,
        })
        .collect();
    assert!(!sent.is_empty());
    for message in sent {
        assert!(message.check_limits().is_ok(), "{message:?}");
    }
}

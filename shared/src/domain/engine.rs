//! The conversation engine: `(session, input, now, config) -> (session', commands)`.
//!
//! Pure: it reads nothing and sends nothing. The processor loads the session, calls `step`,
//! saves the new session and carries out the commands.

use crate::domain::command::{
    Button, Command, HandoffContext, ListRow, ListSection, OutboundMessage,
};
use crate::domain::config::{Config, MenuOption, MenuStyle};
use crate::domain::customer::CustomerId;
use crate::domain::event::{InboundMessage, MessageContent};
use crate::domain::session::{Party, Session, State};
use crate::domain::sla::Priority;
use crate::domain::text::{fold, has_phrase};
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
}

/// Runs one input through the conversation.
pub fn step(
    session: Session,
    input: Input<'_>,
    now: DateTime<Utc>,
    config: &Config,
) -> (Session, Vec<Command>) {
    match input {
        Input::Message(message) => on_message(session, message, now, config),
        Input::Queued {
            department,
            position,
        } => on_queued(session, department, position, now, config),
    }
}

fn on_message(
    mut session: Session,
    message: &InboundMessage,
    now: DateTime<Utc>,
    config: &Config,
) -> (Session, Vec<Command>) {
    if session.is_expired(now) {
        let notice = session.off_hours_notice_for;
        session = Session::new(session.customer, now);
        session.off_hours_notice_for = notice;
    }
    session.last_inbound_at = now;
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

    // A reaction is not a request, and a person is on it in the human state: the bot is quiet
    // (the message is in the history for the agent).
    if matches!(message.content, MessageContent::Reaction { .. })
        || matches!(session.state, State::Human { .. })
    {
        return (session, out.commands);
    }

    let triggered = message.content.text().is_some_and(|text| {
        config
            .escalation_triggers
            .iter()
            .any(|t| has_phrase(text, t))
    });

    match session.state {
        State::Start => {
            // Self-service works at any hour; the notice says when people answer, once per
            // off-hours period.
            if let Some(period) = config.hours.as_ref().and_then(|h| h.closed_since(now))
                && session.off_hours_notice_for != Some(period)
            {
                session.off_hours_notice_for = Some(period);
                out.send(&mut session, OutboundMessage::text(&config.texts.off_hours));
            }
            if triggered {
                escalate(&mut session, &mut out, config, Escalation::Trigger);
            } else {
                let hello = greeting(&session, config);
                out.send(&mut session, hello);
                out.send(&mut session, main_menu(config));
                session.state = State::MainMenu;
            }
        }
        State::MainMenu if triggered => {
            escalate(&mut session, &mut out, config, Escalation::Trigger);
        }
        State::MainMenu => match choice(&message.content, config) {
            Choice::Option(option) => {
                session.bot_attempts = 0;
                out.send(&mut session, OutboundMessage::text(&option.answer));
            }
            Choice::Menu => {
                session.bot_attempts = 0;
                out.send(&mut session, main_menu(config));
            }
            Choice::None => {
                session.bot_attempts += 1;
                if session.bot_attempts >= config.max_bot_attempts {
                    escalate(&mut session, &mut out, config, Escalation::Attempts);
                } else {
                    // Typed text that matches nothing is not understood; anything else (media,
                    // locations, types atende cannot read) gets the message-type apology.
                    let apology = match message.content {
                        MessageContent::Text { .. } => &config.texts.not_understood,
                        _ => &config.texts.unsupported_message,
                    };
                    out.send(&mut session, OutboundMessage::text(apology));
                    out.send(&mut session, main_menu(config));
                }
            }
        },
        State::Human { .. } => {}
    }
    (session, out.commands)
}

/// The commands of one step, with what the bot says recorded in the session's history.
struct Replies {
    commands: Vec<Command>,
    now: DateTime<Utc>,
}

impl Replies {
    fn send(&mut self, session: &mut Session, message: OutboundMessage) {
        session.record(Party::Bot, message.summary(), self.now);
        self.commands.push(Command::Send { message });
    }
}

#[derive(Clone, Copy)]
enum Escalation {
    Trigger,
    Attempts,
}

/// Hands the conversation to a person: tells the customer, and asks the shell to queue them.
fn escalate(session: &mut Session, out: &mut Replies, config: &Config, why: Escalation) {
    let (text, reason) = match why {
        Escalation::Trigger => (&config.texts.handoff, "trigger"),
        Escalation::Attempts => (&config.texts.handoff_after_attempts, "bot_attempts"),
    };
    out.send(session, OutboundMessage::text(text));
    let department = config.escalation_department.clone();
    let vip = matches!(&session.customer, CustomerId::Phone(p) if config.vip_numbers.contains(p));
    let context = HandoffContext {
        customer: session.customer.clone(),
        profile_name: session.profile_name.clone(),
        department: department.clone(),
        previous_state: session.state.name().to_owned(),
        reason: reason.to_owned(),
        bot_attempts: session.bot_attempts,
        conversation_started_at: session.started_at,
        last_messages: session.history.iter().cloned().collect(),
    };
    session.state = State::Human {
        department: department.clone(),
        since: out.now,
    };
    out.commands.push(Command::EnqueueForHuman {
        department,
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
    let minutes = position as u64 * u64::from(dept.avg_handling_minutes);
    let text = config
        .texts
        .queue_position
        .replace("{position}", &position.to_string())
        .replace("{department}", &dept.name)
        .replace("{minutes}", &minutes.to_string());
    let mut out = Replies {
        commands: Vec::new(),
        now,
    };
    out.send(&mut session, OutboundMessage::text(text));
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

enum Choice<'c> {
    Option(&'c MenuOption),
    Menu,
    None,
}

/// Resolves what the customer picked: a button or list id, the option's number, its title
/// (case and accents ignored), or a menu keyword.
fn choice<'c>(content: &MessageContent, config: &'c Config) -> Choice<'c> {
    let options = &config.menu.options;
    let by_id = |id: &str| options.iter().find(|o| o.id == id);
    let picked = match content {
        MessageContent::ButtonReply { id, .. } | MessageContent::ListReply { id, .. } => by_id(id),
        MessageContent::QuickReply { payload, .. } => by_id(payload),
        MessageContent::Text { body } => {
            let typed = fold(body);
            if config.menu_keywords.iter().any(|k| fold(k) == typed) {
                return Choice::Menu;
            }
            typed
                .parse::<usize>()
                .ok()
                .and_then(|n| n.checked_sub(1))
                .and_then(|i| options.get(i))
                .or_else(|| options.iter().find(|o| fold(&o.title) == typed))
        }
        _ => None,
    };
    picked.map_or(Choice::None, Choice::Option)
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
        assert!(matches!(
            cmds[2],
            Command::Send {
                message: OutboundMessage::Buttons { .. }
            }
        ));
    }

    #[test]
    fn a_list_menu_groups_options_by_section() {
        let text = crate::domain::config::EMBEDDED.replacen(
            r#"style = "buttons""#,
            r#"style = "list""#,
            1,
        );
        let config = Config::from_toml(&text).unwrap();
        let OutboundMessage::List { sections, .. } = main_menu(&config) else {
            panic!("expected a list")
        };
        let shape: Vec<(Option<&str>, usize)> = sections
            .iter()
            .map(|s| (s.title.as_deref(), s.rows.len()))
            .collect();
        assert_eq!(shape, [(Some("Atendimento"), 2), (Some("Informações"), 1)]);
    }
}

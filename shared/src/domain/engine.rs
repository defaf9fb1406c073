//! The conversation engine: `(session, input, now, config) -> (session', commands)`.
//!
//! Pure: it reads nothing and sends nothing. The processor loads the session, calls `step`,
//! saves the new session and carries out the commands.

use crate::domain::command::{Button, Command, ListRow, ListSection, OutboundMessage};
use crate::domain::config::{Config, MenuOption, MenuStyle};
use crate::domain::event::{InboundMessage, MessageContent};
use crate::domain::session::{Session, State};
use crate::domain::text::fold;
use chrono::{DateTime, Utc};

/// What the engine reacts to.
#[derive(Clone, Debug, PartialEq)]
pub enum Input<'a> {
    /// A message from the customer.
    Message(&'a InboundMessage),
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
    let mut commands = vec![Command::MarkRead {
        message_id: message.id.clone(),
    }];

    // A reaction is not a request: nothing to answer.
    if matches!(message.content, MessageContent::Reaction { .. }) {
        return (session, commands);
    }

    match session.state {
        State::Start => {
            // Self-service works at any hour; the notice says when people answer, once per
            // off-hours period.
            if let Some(period) = config.hours.as_ref().and_then(|h| h.closed_since(now))
                && session.off_hours_notice_for != Some(period)
            {
                session.off_hours_notice_for = Some(period);
                commands.push(send(OutboundMessage::text(&config.texts.off_hours)));
            }
            commands.push(send(greeting(&session, config)));
            commands.push(send(main_menu(config)));
            session.state = State::MainMenu;
        }
        State::MainMenu => match choice(&message.content, config) {
            Choice::Option(option) => {
                session.bot_attempts = 0;
                commands.push(send(OutboundMessage::text(&option.answer)));
            }
            Choice::Menu => {
                session.bot_attempts = 0;
                commands.push(send(main_menu(config)));
            }
            Choice::None => {
                session.bot_attempts += 1;
                // Typed text that matches nothing is not understood; anything else (media,
                // locations, types atende cannot read) gets the message-type apology.
                let apology = match message.content {
                    MessageContent::Text { .. } => &config.texts.not_understood,
                    _ => &config.texts.unsupported_message,
                };
                commands.push(send(OutboundMessage::text(apology)));
                commands.push(send(main_menu(config)));
            }
        },
    }
    (session, commands)
}

fn send(message: OutboundMessage) -> Command {
    Command::Send { message }
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

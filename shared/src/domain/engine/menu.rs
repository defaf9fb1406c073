//! The main menu: its options, the FAQ, farewells, the assistant as the fallback for free text,
//! and what every flow does with a message it does not understand.

use super::message::Said;
use super::{Replies, assistant, line, nps, sales, whatsapp_flows};
use crate::domain::command::{Button, ListRow, ListSection, OutboundMessage};
use crate::domain::config::{Config, MenuOption, MenuStyle, OptionFlow};
use crate::domain::event::MessageContent;
use crate::domain::session::{Session, State};
use crate::domain::text::has_folded_phrase;
use line::Handover;

/// A message at the main menu: an option, an FAQ answer, a farewell, or free text for the
/// assistant while attempts remain.
pub(super) fn on_message(
    session: &mut Session,
    out: &mut Replies,
    said: &Said<'_>,
    config: &Config,
) {
    if said
        .typed
        .is_some_and(|t| config.folded.farewells.iter().any(|f| f == t))
    {
        nps::ask(session, out, config);
        return;
    }
    if let Some(option) = choice(said.content, said.typed, config) {
        session.bot_attempts = 0;
        out.send(session, OutboundMessage::text(&option.answer));
        start_flow(session, out, option, config);
        return;
    }
    if let Some(answer) = faq_answer(said.typed, config) {
        session.bot_attempts = 0;
        out.send(session, OutboundMessage::text(answer));
        return;
    }
    match said.content {
        // The fallback: free text counts an attempt and, while attempts remain, goes to the
        // assistant.
        MessageContent::Text { body } if config.assistant_available => {
            session.bot_attempts += 1;
            if session.bot_attempts >= config.max_bot_attempts {
                let handover = Handover::new(
                    config.escalation_department.clone(),
                    "bot_attempts",
                    &config.texts.handoff_after_attempts,
                );
                line::hand_over(session, out, config, handover);
            } else {
                assistant::ask(session, out, body, config);
            }
        }
        other => not_understood(session, out, other, config, main_menu(config)),
    }
}

/// After an option's answer: enter its flow.
pub(super) fn start_flow(
    session: &mut Session,
    out: &mut Replies,
    option: &MenuOption,
    config: &Config,
) {
    if option.flow == OptionFlow::WhatsappFlow {
        if let Some(flow) = option
            .whatsapp_flow
            .as_deref()
            .and_then(|id| config.flow(id))
        {
            let message = whatsapp_flows::message(flow, session);
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
            out.send(session, sales::catalog(config));
            State::SalesCatalog { department }
        }
        OptionFlow::Finance => State::FinanceDocument { department },
    };
}

/// A misunderstanding: an apology and `again`, or a person after `max_bot_attempts`.
pub(super) fn not_understood(
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
        line::hand_over(session, out, config, handover);
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
pub(super) fn choice<'c>(
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
pub(super) fn pick<'a>(
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

pub(super) fn greeting(session: &Session, config: &Config) -> OutboundMessage {
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

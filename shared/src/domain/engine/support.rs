//! Support: the problem in the customer's words, then an attachment, then a person.

use super::message::Said;
use super::{Replies, line, menu};
use crate::domain::command::{Button, OutboundMessage};
use crate::domain::config::{Config, OptionFlow};
use crate::domain::event::MessageContent;
use crate::domain::session::{KEPT_TEXT_CHARS, Session, State, cut_to};
use line::Handover;

/// The reply id of the "no attachment" button.
const NO_ATTACHMENT: &str = "support_no_attachment";

/// Waiting for the description: text asks for an attachment; media is the description (its
/// caption) and goes to a person at once.
pub(super) fn on_details(
    session: &mut Session,
    out: &mut Replies,
    said: &Said<'_>,
    department: String,
    config: &Config,
) {
    match said.content {
        MessageContent::Text { body } => {
            session.bot_attempts = 0;
            out.send(
                session,
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
                details: cut_to(body, KEPT_TEXT_CHARS),
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
            handover.problem = caption.as_deref().map(|c| cut_to(c, KEPT_TEXT_CHARS));
            handover.attachments = vec![format!("{}:{id}", kind.as_str())];
            line::hand_over(session, out, config, handover);
        }
        other => {
            let repeat =
                OutboundMessage::text(config.menu_option_answer(&department, OptionFlow::Support));
            menu::not_understood(session, out, other, config, repeat);
        }
    }
}

/// After the description, whatever comes (media, more text, "sem anexo") completes the ticket
/// and goes to a person.
pub(super) fn on_attachment(
    session: &mut Session,
    out: &mut Replies,
    said: &Said<'_>,
    department: String,
    details: String,
    config: &Config,
) {
    let mut handover = Handover::new(
        department,
        "support_ticket",
        &config.texts.department_handoff,
    );
    match said.content {
        MessageContent::Media {
            kind, id, caption, ..
        } => {
            handover.attachments = vec![format!("{}:{id}", kind.as_str())];
            handover.problem = Some(match caption {
                Some(c) => format!("{details}\n{}", cut_to(c, KEPT_TEXT_CHARS)),
                None => details,
            });
        }
        MessageContent::Text { body } => {
            handover.problem = Some(format!("{details}\n{}", cut_to(body, KEPT_TEXT_CHARS)));
        }
        _ => handover.problem = Some(details),
    }
    line::hand_over(session, out, config, handover);
}

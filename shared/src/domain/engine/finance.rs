//! Finance: a valid CPF or CNPJ for a bill's second copy, then a person.

use super::message::Said;
use super::{Replies, line};
use crate::domain::command::OutboundMessage;
use crate::domain::config::Config;
use crate::domain::document::TaxId;
use crate::domain::session::Session;
use line::Handover;

/// A valid document goes to a person with it; anything else is asked again, until
/// `max_bot_attempts`.
pub(super) fn on_document(
    session: &mut Session,
    out: &mut Replies,
    said: &Said<'_>,
    department: String,
    config: &Config,
) {
    match said.content.text().and_then(TaxId::parse) {
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
            line::hand_over(session, out, config, handover);
        }
        None => {
            session.bot_attempts += 1;
            if session.bot_attempts >= config.max_bot_attempts {
                let handover = Handover::new(
                    department,
                    "bot_attempts",
                    &config.texts.handoff_after_attempts,
                );
                line::hand_over(session, out, config, handover);
            } else {
                out.send(
                    session,
                    OutboundMessage::text(&config.texts.finance_invalid_document),
                );
            }
        }
    }
}

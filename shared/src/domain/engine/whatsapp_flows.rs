//! WhatsApp Flows: the form a menu option opens, and the answers a submitted one brings.

use super::cut;
use crate::domain::command::OutboundMessage;
use crate::domain::config::{Config, FlowConfig};
use crate::domain::session::{FLOW_ANSWERS_KEPT, KEPT_TEXT_CHARS, Session, cut_to};

/// A configured WhatsApp Flow, with a token naming the flow and this conversation.
pub(super) fn message(flow: &FlowConfig, session: &Session) -> OutboundMessage {
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

/// A Flow's field names longer than this are not kept (a form's names are short).
const FLOW_FIELD_NAME_CHARS: usize = 64;

/// A submitted Flow: its answers are kept in the session and repeated back in words. `None`
/// when the response is not a JSON object or names no configured flow.
pub(super) fn answers(
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
    // The labelled answers first; every answer cut, and only so many kept: the customer's
    // client could send any fields.
    let (labelled, others): (Vec<_>, Vec<_>) = fields
        .iter()
        .filter(|(name, _)| *name != "flow_token")
        .partition(|(name, _)| flow.labels.contains_key(*name));
    for (name, value) in labelled.into_iter().chain(others) {
        let value = match value {
            serde_json::Value::String(s) => cut_to(s, KEPT_TEXT_CHARS),
            other => cut_to(&other.to_string(), KEPT_TEXT_CHARS),
        };
        if let Some(label) = flow.labels.get(name) {
            lines.push(format!("{label}: {value}"));
        }
        if name.chars().count() <= FLOW_FIELD_NAME_CHARS
            && (session.flow_answers.len() < FLOW_ANSWERS_KEPT
                || session.flow_answers.contains_key(name))
        {
            session.flow_answers.insert(name.clone(), value);
        }
    }
    // The customer's answers are theirs to size: the confirmation is cut to fit a text.
    let text = flow.confirmation.replace("{answers}", &lines.join("\n"));
    Some(OutboundMessage::text(cut(
        &text,
        crate::domain::config::limits::TEXT_BODY,
    )))
}

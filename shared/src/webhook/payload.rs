//! Splits one webhook payload into queue events: one per message, per status and per error,
//! across every `entry[]` and every `changes[]`.
//!
//! The payload is read leniently: every field may be missing (Meta omits `contacts` on system
//! messages, sends `type: interactive` without an `interactive` object, adds new types). Nothing
//! here panics, and nothing a customer sent is dropped: a message atende cannot read becomes an
//! `Unsupported` event.

use crate::domain::event::bounded_id;
use crate::domain::{
    ApiError, CustomerId, DeliveryStatus, EventKind, InboundMessage, MediaKind, MessageContent,
    QueueEvent, StatusUpdate,
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

/// The body is not a JSON webhook payload.
#[derive(Debug, thiserror::Error)]
#[error("the webhook body is not a valid JSON payload: {0}")]
pub struct ParseError(#[from] serde_json::Error);

#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(default, borrow)]
    entry: Vec<Entry<'a>>,
}

#[derive(Deserialize)]
struct Entry<'a> {
    #[serde(default, borrow)]
    changes: Vec<Change<'a>>,
}

#[derive(Deserialize)]
struct Change<'a> {
    #[serde(default)]
    field: Option<String>,
    #[serde(default, borrow)]
    value: Option<ChangeValue<'a>>,
}

#[derive(Deserialize)]
struct ChangeValue<'a> {
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    contacts: Vec<Contact>,
    #[serde(default, borrow)]
    messages: Vec<&'a RawValue>,
    #[serde(default, borrow)]
    statuses: Vec<&'a RawValue>,
    #[serde(default, borrow)]
    errors: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    phone_number_id: Option<String>,
}

#[derive(Deserialize)]
struct Contact {
    #[serde(default)]
    wa_id: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    profile: Option<Profile>,
}

#[derive(Deserialize)]
struct Profile {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawMessage {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    from_user_id: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    text: Option<TextBody>,
    #[serde(default)]
    interactive: Option<Interactive>,
    #[serde(default)]
    button: Option<QuickReplyButton>,
    #[serde(default)]
    image: Option<Media>,
    #[serde(default)]
    video: Option<Media>,
    #[serde(default)]
    audio: Option<Media>,
    #[serde(default)]
    document: Option<Media>,
    #[serde(default)]
    sticker: Option<Media>,
    #[serde(default)]
    location: Option<Location>,
    #[serde(default)]
    reaction: Option<Reaction>,
    #[serde(default)]
    errors: Vec<RawError>,
}

#[derive(Deserialize)]
struct TextBody {
    #[serde(default)]
    body: String,
}

#[derive(Deserialize)]
struct Interactive {
    #[serde(default)]
    button_reply: Option<Reply>,
    #[serde(default)]
    list_reply: Option<Reply>,
    #[serde(default)]
    nfm_reply: Option<FlowReply>,
}

#[derive(Deserialize)]
struct Reply {
    #[serde(default)]
    id: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize)]
struct FlowReply {
    #[serde(default)]
    response_json: String,
}

#[derive(Deserialize)]
struct QuickReplyButton {
    #[serde(default)]
    payload: String,
    #[serde(default)]
    text: String,
}

#[derive(Deserialize)]
struct Media {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    mime_type: Option<String>,
    #[serde(default)]
    caption: Option<String>,
}

#[derive(Deserialize)]
struct Location {
    #[serde(default)]
    latitude: Option<f64>,
    #[serde(default)]
    longitude: Option<f64>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    address: Option<String>,
}

#[derive(Deserialize)]
struct Reaction {
    #[serde(default)]
    message_id: String,
    #[serde(default)]
    emoji: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawStatus {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    recipient_id: Option<String>,
    #[serde(default)]
    recipient_user_id: Option<String>,
    #[serde(default)]
    errors: Vec<RawError>,
}

#[derive(Deserialize, Default)]
struct RawError {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    error_data: Option<ErrorData>,
}

#[derive(Deserialize)]
struct ErrorData {
    #[serde(default)]
    details: Option<String>,
}

impl From<RawError> for ApiError {
    fn from(e: RawError) -> Self {
        ApiError {
            code: e.code,
            title: e.title,
            message: e.message,
            details: e.error_data.and_then(|d| d.details),
        }
    }
}

/// What one webhook body holds: the events to enqueue and the changes skipped (other fields).
#[derive(Debug, Default)]
pub struct Split {
    pub events: Vec<QueueEvent>,
    /// `changes[]` whose `field` is not `messages` (account updates, template status…):
    /// acknowledged, not processed.
    pub skipped_fields: Vec<String>,
}

/// Splits a webhook body into events. Fails only when the body is not JSON of the payload's
/// shape at its top levels; anything inside a message that cannot be read is kept as
/// `Unsupported`.
pub fn split(body: &[u8]) -> Result<Split, ParseError> {
    let payload: Payload<'_> = serde_json::from_slice(body)?;
    let mut out = Split::default();
    for change in payload.entry.into_iter().flat_map(|e| e.changes) {
        let field = change.field.unwrap_or_default();
        if field != "messages" {
            out.skipped_fields.push(field);
            continue;
        }
        let Some(value) = change.value else { continue };
        let business_number = value
            .metadata
            .and_then(|m| m.phone_number_id)
            .filter(|n| !n.is_empty());
        for raw in value.messages {
            out.events
                .push(message_event(raw, &value.contacts, &business_number));
        }
        for raw in value.statuses {
            out.events.push(status_event(raw, &business_number));
        }
        for raw in value.errors {
            let error: RawError = serde_json::from_str(raw.get()).unwrap_or_default();
            out.events.push(QueueEvent {
                id: format!("error:{}", digest(raw.get())),
                customer: None,
                business_number: business_number.clone(),
                kind: EventKind::Error(error.into()),
            });
        }
    }
    Ok(out)
}

fn message_event(
    raw: &RawValue,
    contacts: &[Contact],
    business_number: &Option<String>,
) -> QueueEvent {
    // A message whose known fields have the wrong types still travels, as Unsupported.
    let parsed: Result<RawMessage, _> = serde_json::from_str(raw.get());
    let readable = parsed.is_ok();
    let m = parsed.unwrap_or_default();
    let customer = customer_of(&m, contacts);
    let profile_name = contacts
        .iter()
        .find(|c| {
            customer.as_ref().is_some_and(|id| {
                c.wa_id.as_deref() == Some(id.key()) || c.user_id.as_deref() == Some(id.key())
            })
        })
        .or_else(|| (contacts.len() == 1).then(|| &contacts[0]))
        .and_then(|c| c.profile.as_ref())
        .and_then(|p| p.name.clone());
    let id = match m.id.as_deref().filter(|id| !id.is_empty()) {
        Some(id) => bounded_id(id.to_owned()),
        None => format!("message:{}", digest(raw.get())),
    };
    let sent_at = parse_timestamp(m.timestamp.as_deref());
    // The message id as sent (the event id may be a digest of it when it is too long).
    let message_id = m.id.clone().unwrap_or_default();
    let content = if readable {
        content_of(m)
    } else {
        MessageContent::Unsupported {
            message_type: "unreadable".to_owned(),
            errors: Vec::new(),
        }
    };
    QueueEvent {
        id,
        customer,
        business_number: business_number.clone(),
        kind: EventKind::Message(InboundMessage {
            id: message_id,
            sent_at,
            profile_name,
            content,
        }),
    }
}

fn customer_of(m: &RawMessage, contacts: &[Contact]) -> Option<CustomerId> {
    CustomerId::from_parts(m.from.as_deref(), m.from_user_id.as_deref()).or_else(|| {
        // `from` is missing only in unusual payloads; a sole contact then names the customer.
        match contacts {
            [only] => CustomerId::from_parts(only.wa_id.as_deref(), only.user_id.as_deref()),
            _ => None,
        }
    })
}

fn content_of(m: RawMessage) -> MessageContent {
    let kind = m.kind.unwrap_or_default();
    let unsupported = |kind: &str, errors: Vec<RawError>| MessageContent::Unsupported {
        message_type: if kind.is_empty() { "unknown" } else { kind }.to_owned(),
        errors: errors.into_iter().map(ApiError::from).collect(),
    };
    let media = |kind: MediaKind, media: Option<Media>| match media {
        Some(Media {
            id: Some(id),
            mime_type,
            caption,
        }) => Some(MessageContent::Media {
            kind,
            id,
            mime_type,
            caption,
        }),
        _ => None,
    };
    let content = match kind.as_str() {
        "text" => m.text.map(|t| MessageContent::Text { body: t.body }),
        "interactive" => m.interactive.and_then(|i| {
            if let Some(r) = i.button_reply {
                Some(MessageContent::ButtonReply {
                    id: r.id,
                    title: r.title,
                })
            } else if let Some(r) = i.list_reply {
                Some(MessageContent::ListReply {
                    id: r.id,
                    title: r.title,
                    description: r.description,
                })
            } else {
                i.nfm_reply.map(|f| MessageContent::FlowReply {
                    response_json: f.response_json,
                })
            }
        }),
        "button" => m.button.map(|b| MessageContent::QuickReply {
            payload: b.payload,
            text: b.text,
        }),
        "image" => media(MediaKind::Image, m.image),
        "video" => media(MediaKind::Video, m.video),
        "audio" => media(MediaKind::Audio, m.audio),
        "document" => media(MediaKind::Document, m.document),
        "sticker" => media(MediaKind::Sticker, m.sticker),
        "location" => m.location.and_then(|l| {
            Some(MessageContent::Location {
                latitude: l.latitude?,
                longitude: l.longitude?,
                name: l.name,
                address: l.address,
            })
        }),
        "reaction" => m.reaction.map(|r| MessageContent::Reaction {
            message_id: r.message_id,
            emoji: r.emoji.filter(|e| !e.is_empty()),
        }),
        _ => None,
    };
    content.unwrap_or_else(|| unsupported(&kind, m.errors))
}

fn status_event(raw: &RawValue, business_number: &Option<String>) -> QueueEvent {
    let s: RawStatus = serde_json::from_str(raw.get()).unwrap_or_default();
    let status = DeliveryStatus::parse(s.status.as_deref().unwrap_or("unknown"));
    let message_id = s.id.unwrap_or_default();
    let id = if message_id.is_empty() {
        format!("status:{}", digest(raw.get()))
    } else {
        bounded_id(format!("{message_id}:{}", status.as_str()))
    };
    QueueEvent {
        id,
        customer: CustomerId::from_parts(s.recipient_id.as_deref(), s.recipient_user_id.as_deref()),
        business_number: business_number.clone(),
        kind: EventKind::Status(StatusUpdate {
            message_id,
            status,
            at: parse_timestamp(s.timestamp.as_deref()),
            errors: s.errors.into_iter().map(ApiError::from).collect(),
        }),
    }
}

/// Unix seconds as a string, as Meta sends them.
fn parse_timestamp(ts: Option<&str>) -> Option<DateTime<Utc>> {
    ts?.trim()
        .parse::<i64>()
        .ok()
        .and_then(|secs| DateTime::from_timestamp(secs, 0))
}

fn digest(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

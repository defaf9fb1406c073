//! Splits one webhook payload into queue events: one per message, per status and per error,
//! across every `entry[]` and every `changes[]`.
//!
//! The payload is read leniently: every field may be missing (Meta omits `contacts` on system
//! messages, sends `type: interactive` without an `interactive` object, adds new types). Nothing
//! here panics, and nothing a customer sent is dropped: a message atende cannot read becomes an
//! `Unsupported` event.

use super::lenient::{self, Lenient};
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

// Every field below is lenient (see `lenient`): missing, `null` or oddly typed reads as absent.

#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::vec")]
    entry: Vec<Lenient<Entry<'a>>>,
}

#[derive(Deserialize)]
struct Entry<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::vec")]
    changes: Vec<Lenient<Change<'a>>>,
}

#[derive(Deserialize)]
struct Change<'a> {
    #[serde(default, deserialize_with = "lenient::string")]
    field: Option<String>,
    #[serde(default, borrow)]
    value: Lenient<ChangeValue<'a>>,
}

#[derive(Deserialize)]
struct ChangeValue<'a> {
    #[serde(default)]
    metadata: Lenient<Metadata>,
    #[serde(default, deserialize_with = "lenient::vec")]
    contacts: Vec<Lenient<Contact>>,
    #[serde(default, borrow, deserialize_with = "lenient::vec")]
    messages: Vec<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "lenient::vec")]
    statuses: Vec<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "lenient::vec")]
    errors: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default, deserialize_with = "lenient::string")]
    phone_number_id: Option<String>,
}

#[derive(Deserialize)]
struct Contact {
    #[serde(default, deserialize_with = "lenient::string")]
    wa_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    user_id: Option<String>,
    #[serde(default)]
    profile: Lenient<Profile>,
}

#[derive(Deserialize)]
struct Profile {
    #[serde(default, deserialize_with = "lenient::string")]
    name: Option<String>,
}

#[derive(Deserialize)]
struct RawMessage {
    #[serde(default, deserialize_with = "lenient::string")]
    from: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    from_user_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    timestamp: Option<String>,
    #[serde(default, rename = "type", deserialize_with = "lenient::string")]
    kind: Option<String>,
    #[serde(default)]
    text: Lenient<TextBody>,
    #[serde(default)]
    interactive: Lenient<Interactive>,
    #[serde(default)]
    button: Lenient<QuickReplyButton>,
    #[serde(default)]
    image: Lenient<Media>,
    #[serde(default)]
    video: Lenient<Media>,
    #[serde(default)]
    audio: Lenient<Media>,
    #[serde(default)]
    document: Lenient<Media>,
    #[serde(default)]
    sticker: Lenient<Media>,
    #[serde(default)]
    location: Lenient<Location>,
    #[serde(default)]
    reaction: Lenient<Reaction>,
    #[serde(default)]
    system: Lenient<RawSystem>,
    #[serde(default, deserialize_with = "lenient::vec")]
    errors: Vec<Lenient<RawError>>,
}

#[derive(Deserialize)]
struct RawSystem {
    #[serde(default, deserialize_with = "lenient::string")]
    body: Option<String>,
    #[serde(default, rename = "type", deserialize_with = "lenient::string")]
    kind: Option<String>,
    /// The new WhatsApp id of a customer who changed their number.
    #[serde(default, deserialize_with = "lenient::string")]
    wa_id: Option<String>,
}

#[derive(Deserialize)]
struct TextBody {
    #[serde(default, deserialize_with = "lenient::string")]
    body: Option<String>,
}

#[derive(Deserialize)]
struct Interactive {
    #[serde(default)]
    button_reply: Lenient<Reply>,
    #[serde(default)]
    list_reply: Lenient<Reply>,
    #[serde(default)]
    nfm_reply: Lenient<FlowReply>,
}

#[derive(Deserialize)]
struct Reply {
    #[serde(default, deserialize_with = "lenient::string")]
    id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    title: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    description: Option<String>,
}

#[derive(Deserialize)]
struct FlowReply {
    #[serde(default, deserialize_with = "lenient::string")]
    response_json: Option<String>,
}

#[derive(Deserialize)]
struct QuickReplyButton {
    #[serde(default, deserialize_with = "lenient::string")]
    payload: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    text: Option<String>,
}

#[derive(Deserialize)]
struct Media {
    #[serde(default, deserialize_with = "lenient::string")]
    id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    mime_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    caption: Option<String>,
}

#[derive(Deserialize)]
struct Location {
    #[serde(default, deserialize_with = "lenient::number")]
    latitude: Option<f64>,
    #[serde(default, deserialize_with = "lenient::number")]
    longitude: Option<f64>,
    #[serde(default, deserialize_with = "lenient::string")]
    name: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    address: Option<String>,
}

#[derive(Deserialize)]
struct Reaction {
    #[serde(default, deserialize_with = "lenient::string")]
    message_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    emoji: Option<String>,
}

#[derive(Deserialize)]
struct RawStatus {
    #[serde(default, deserialize_with = "lenient::string")]
    id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    status: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    timestamp: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    recipient_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    recipient_user_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::vec")]
    errors: Vec<Lenient<RawError>>,
    #[serde(default, deserialize_with = "lenient::string")]
    biz_opaque_callback_data: Option<String>,
}

#[derive(Deserialize)]
struct RawError {
    #[serde(default, deserialize_with = "lenient::integer")]
    code: Option<i64>,
    #[serde(default, deserialize_with = "lenient::string")]
    title: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    message: Option<String>,
    #[serde(default)]
    error_data: Lenient<ErrorData>,
}

#[derive(Deserialize)]
struct ErrorData {
    #[serde(default, deserialize_with = "lenient::string")]
    details: Option<String>,
}

/// Reads one array element as `T`; `None` when it is not an object.
fn element<'a, T: Deserialize<'a>>(raw: &'a RawValue) -> Option<T> {
    serde_json::from_str::<Lenient<T>>(raw.get())
        .ok()
        .and_then(|l| l.0)
}

fn api_errors(errors: Vec<Lenient<RawError>>) -> Vec<ApiError> {
    errors
        .into_iter()
        .filter_map(|e| e.0)
        .map(ApiError::from)
        .collect()
}

impl From<RawError> for ApiError {
    fn from(e: RawError) -> Self {
        ApiError {
            code: e.code,
            title: e.title,
            message: e.message,
            details: e.error_data.0.and_then(|d| d.details),
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
    let changes = payload
        .entry
        .into_iter()
        .filter_map(|e| e.0)
        .flat_map(|e| e.changes)
        .filter_map(|c| c.0);
    for change in changes {
        let field = change.field.unwrap_or_default();
        if field != "messages" {
            out.skipped_fields.push(field);
            continue;
        }
        let Some(value) = change.value.0 else {
            continue;
        };
        let business_number = value
            .metadata
            .0
            .and_then(|m| m.phone_number_id)
            .filter(|n| !n.is_empty());
        let contacts: Vec<Contact> = value.contacts.into_iter().filter_map(|c| c.0).collect();
        for raw in value.messages {
            out.events
                .push(message_event(raw, &contacts, &business_number));
        }
        for raw in value.statuses {
            out.events.push(status_event(raw, &business_number));
        }
        for raw in value.errors {
            let error = element::<RawError>(raw)
                .map(ApiError::from)
                .unwrap_or_default();
            out.events.push(QueueEvent {
                also: None,
                id: format!("error:{}", digest(raw.get())),
                customer: None,
                business_number: business_number.clone(),
                kind: EventKind::Error(error),
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
    // An element that is not even an object still travels, as Unsupported.
    let Some(m) = element::<RawMessage>(raw) else {
        return QueueEvent {
            also: None,
            id: format!("message:{}", digest(raw.get())),
            customer: None,
            business_number: business_number.clone(),
            kind: EventKind::Message(InboundMessage {
                id: String::new(),
                sent_at: None,
                profile_name: None,
                content: MessageContent::Unsupported {
                    message_type: "unreadable".to_owned(),
                    errors: Vec::new(),
                },
            }),
        };
    };
    let (customer, also) = names_of(&m, contacts);
    let profile_name = contacts
        .iter()
        .find(|c| {
            customer.as_ref().is_some_and(|id| {
                c.wa_id.as_deref() == Some(id.key()) || c.user_id.as_deref() == Some(id.key())
            })
        })
        .or_else(|| (contacts.len() == 1).then(|| &contacts[0]))
        .and_then(|c| c.profile.0.as_ref())
        .and_then(|p| p.name.clone());
    let message_id = m.id.clone().unwrap_or_default();
    // The event id is the message id, or a digest when it is unusable as a deduplication id.
    let id = if message_id.is_empty() {
        format!("message:{}", digest(raw.get()))
    } else {
        bounded_id(message_id.clone())
    };
    QueueEvent {
        also,
        id,
        customer,
        business_number: business_number.clone(),
        kind: EventKind::Message(InboundMessage {
            id: message_id,
            sent_at: parse_timestamp(m.timestamp.as_deref()),
            profile_name,
            content: content_of(m),
        }),
    }
}

/// The customer (their phone when known, else their user id) and their other name when the
/// message gives both. `from` is missing only in unusual payloads; a sole contact then names
/// the customer. The contact naming the customer may add the user id `from_user_id` left out.
fn names_of(m: &RawMessage, contacts: &[Contact]) -> (Option<CustomerId>, Option<CustomerId>) {
    let (phone, user) = match (m.from.as_deref(), m.from_user_id.as_deref(), contacts) {
        (None, None, [only]) => (only.wa_id.as_deref(), only.user_id.as_deref()),
        (phone, user, _) => {
            let contact = contacts.iter().find(|c| {
                (phone.is_some() && c.wa_id.as_deref() == phone)
                    || (user.is_some() && c.user_id.as_deref() == user)
            });
            (
                phone.or_else(|| contact.and_then(|c| c.wa_id.as_deref())),
                user.or_else(|| contact.and_then(|c| c.user_id.as_deref())),
            )
        }
    };
    CustomerId::names(phone, user)
}

fn content_of(m: RawMessage) -> MessageContent {
    let kind = m.kind.unwrap_or_default();
    let media = |kind: MediaKind, media: Lenient<Media>| {
        let media = media.0?;
        Some(MessageContent::Media {
            kind,
            id: media.id?,
            mime_type: media.mime_type,
            caption: media.caption,
        })
    };
    let content = match kind.as_str() {
        "text" => m
            .text
            .0
            .and_then(|t| t.body)
            .map(|body| MessageContent::Text { body }),
        "interactive" => m.interactive.0.and_then(|i| {
            if let Some(r) = i.button_reply.0 {
                Some(MessageContent::ButtonReply {
                    id: r.id?,
                    title: r.title.unwrap_or_default(),
                })
            } else if let Some(r) = i.list_reply.0 {
                Some(MessageContent::ListReply {
                    id: r.id?,
                    title: r.title.unwrap_or_default(),
                    description: r.description,
                })
            } else {
                i.nfm_reply.0.map(|f| MessageContent::FlowReply {
                    response_json: f.response_json.unwrap_or_default(),
                })
            }
        }),
        "button" => m.button.0.map(|b| MessageContent::QuickReply {
            payload: b.payload.unwrap_or_default(),
            text: b.text.unwrap_or_default(),
        }),
        "image" => media(MediaKind::Image, m.image),
        "video" => media(MediaKind::Video, m.video),
        "audio" => media(MediaKind::Audio, m.audio),
        "document" => media(MediaKind::Document, m.document),
        "sticker" => media(MediaKind::Sticker, m.sticker),
        "location" => m.location.0.and_then(|l| {
            Some(MessageContent::Location {
                latitude: l.latitude?,
                longitude: l.longitude?,
                name: l.name,
                address: l.address,
            })
        }),
        // Always a system notice, whatever is missing from it: never the customer's words.
        "system" => {
            let system = m.system.0;
            Some(MessageContent::System {
                kind: system
                    .as_ref()
                    .and_then(|s| s.kind.clone())
                    .unwrap_or_else(|| "unknown".to_owned()),
                body: system.as_ref().and_then(|s| s.body.clone()),
                new_wa_id: system.and_then(|s| s.wa_id),
            })
        }
        "reaction" => m.reaction.0.map(|r| MessageContent::Reaction {
            message_id: r.message_id.unwrap_or_default(),
            emoji: r.emoji.filter(|e| !e.is_empty()),
        }),
        _ => None,
    };
    content.unwrap_or_else(|| MessageContent::Unsupported {
        message_type: if kind.is_empty() {
            "unknown".to_owned()
        } else {
            kind
        },
        errors: api_errors(m.errors),
    })
}

fn status_event(raw: &RawValue, business_number: &Option<String>) -> QueueEvent {
    let s = element::<RawStatus>(raw);
    let (status, message_id, (customer, also), at, errors, reference) = match s {
        Some(s) => (
            DeliveryStatus::parse(s.status.as_deref().unwrap_or("unknown")),
            s.id.unwrap_or_default(),
            CustomerId::names(s.recipient_id.as_deref(), s.recipient_user_id.as_deref()),
            parse_timestamp(s.timestamp.as_deref()),
            api_errors(s.errors),
            s.biz_opaque_callback_data,
        ),
        None => (
            DeliveryStatus::parse("unknown"),
            String::new(),
            (None, None),
            None,
            Vec::new(),
            None,
        ),
    };
    let id = if message_id.is_empty() {
        format!("status:{}", digest(raw.get()))
    } else {
        bounded_id(format!("{message_id}:{}", status.as_str()))
    };
    QueueEvent {
        also,
        id,
        customer,
        business_number: business_number.clone(),
        kind: EventKind::Status(StatusUpdate {
            message_id,
            status,
            at,
            errors,
            reference,
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

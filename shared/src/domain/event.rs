//! What travels on the event queue: one event per customer message, per status update and per
//! error found in a webhook. Events are serialized as JSON queue message bodies.

use crate::domain::customer::CustomerId;
use crate::domain::timer::TimerFired;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One unit of work for the processor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueueEvent {
    /// Deduplication id: the message id; for a status, message id + status; for an error, a
    /// digest of its content. At most 128 characters (SQS FIFO's limit).
    pub id: String,
    /// The customer the event belongs to, when the payload names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<CustomerId>,
    /// The customer's other name in the same payload, when it gives both: their user id
    /// beside their phone. Their session may live under either; the processor links them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub also: Option<CustomerId>,
    /// The business phone number id that received the webhook (`metadata.phone_number_id`);
    /// replies go out from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_number: Option<String>,
    pub kind: EventKind,
}

impl QueueEvent {
    /// The ordering group: every event of one customer is processed in order. Always a valid
    /// SQS `MessageGroupId` (see `bounded_id`).
    pub fn group(&self) -> String {
        bounded_id(match (&self.customer, &self.business_number) {
            (Some(c), _) => c.key().to_owned(),
            (None, Some(number)) => format!("business-{number}"),
            (None, None) => "unassigned".to_owned(),
        })
    }
}

/// SQS FIFO group and deduplication ids hold at most 128 ASCII alphanumerics and punctuation;
/// anything else is replaced by its SHA-256 digest, which is stable across redeliveries.
pub fn bounded_id(id: String) -> String {
    const MAX_ID_LEN: usize = 128;
    let allowed = |c: char| c.is_ascii_alphanumeric() || c.is_ascii_punctuation();
    if !id.is_empty() && id.len() <= MAX_ID_LEN && id.chars().all(allowed) {
        id
    } else {
        format!("digest:{}", hex::encode(Sha256::digest(id.as_bytes())))
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    Message(InboundMessage),
    Status(StatusUpdate),
    /// An error Meta reported at the level of a webhook change (not tied to one message).
    Error(ApiError),
    /// The customer's conversation was closed from outside the desk (an operator's tool).
    Closed,
    /// What a person did on the agents' desk.
    Agent(crate::domain::agent::AgentAction),
    /// A timer the engine set went off (delivered by the scheduler).
    Timer(TimerFired),
}

/// A message a customer sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InboundMessage {
    pub id: String,
    /// When the customer sent it (the payload's `timestamp`), when present and valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<DateTime<Utc>>,
    /// The name on the customer's profile, from `contacts[].profile.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_name: Option<String>,
    pub content: MessageContent,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Image,
    Video,
    Audio,
    Document,
    Sticker,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Video => "video",
            Self::Audio => "audio",
            Self::Document => "document",
            Self::Sticker => "sticker",
        }
    }
}

/// What a customer message carries, one variant per WhatsApp message type. Types atende does not
/// know yet arrive as `Unsupported` with their type name, never dropped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MessageContent {
    Text {
        body: String,
    },
    /// A tap on a reply button (`interactive.button_reply`).
    ButtonReply {
        id: String,
        title: String,
    },
    /// A row picked in a list (`interactive.list_reply`).
    ListReply {
        id: String,
        title: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
    /// A submitted WhatsApp Flow (`interactive.nfm_reply`); `response_json` is kept as sent.
    FlowReply {
        response_json: String,
    },
    /// A tap on a template's quick-reply button (`button`).
    QuickReply {
        payload: String,
        text: String,
    },
    Media {
        kind: MediaKind,
        id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mime_type: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        caption: Option<String>,
    },
    Location {
        latitude: f64,
        longitude: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<String>,
    },
    /// An emoji reaction to one of our messages; `emoji: None` means the reaction was removed.
    Reaction {
        message_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        emoji: Option<String>,
    },
    /// A notice from WhatsApp itself, not written by the customer (`type: "system"`): the
    /// customer changed their number (`user_changed_number`, with the new one), their identity
    /// changed, and the like. Never answered; it does not open or move the 24-hour window.
    System {
        /// Meta's `system.type` (`user_changed_number`, `customer_identity_changed`, …).
        kind: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<String>,
        /// For a number change: the customer's new WhatsApp id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        new_wa_id: Option<String>,
    },
    /// Any other type (contacts, order, unsupported, or one Meta adds later), or a known type
    /// whose object was missing.
    Unsupported {
        message_type: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        errors: Vec<ApiError>,
    },
}

impl MessageContent {
    /// Whether this is WhatsApp's own notice rather than something the customer sent.
    pub fn is_system(&self) -> bool {
        matches!(self, Self::System { .. })
    }

    /// The text a customer typed, if this is a text message.
    pub fn text(&self) -> Option<&str> {
        match self {
            Self::Text { body } => Some(body),
            _ => None,
        }
    }
}

/// The delivery state of a message we sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Sent,
    Delivered,
    Read,
    Played,
    Failed,
    /// A status Meta added after this code was written, kept by name.
    #[serde(untagged)]
    Other(String),
}

impl DeliveryStatus {
    pub fn parse(s: &str) -> Self {
        match s {
            "sent" => Self::Sent,
            "delivered" => Self::Delivered,
            "read" => Self::Read,
            "played" => Self::Played,
            "failed" => Self::Failed,
            other => Self::Other(other.to_owned()),
        }
    }

    /// How far along a message is: statuses only move forward (`failed` wins); a status
    /// Meta added later has no place in that order.
    pub fn rank(&self) -> Option<u8> {
        match self {
            Self::Sent => Some(1),
            Self::Delivered => Some(2),
            Self::Read | Self::Played => Some(3),
            Self::Failed => Some(4),
            Self::Other(_) => None,
        }
    }

    /// The rank of a plain tick (sent, delivered, read or played): what the webhook records of
    /// the bot's messages itself; `None` for a failure or an unknown status.
    pub fn plain_rank(&self) -> Option<u8> {
        self.rank().filter(|rank| *rank < 4)
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Played => "played",
            Self::Failed => "failed",
            Self::Other(s) => s,
        }
    }
}

/// A status update on a message we sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusUpdate {
    pub message_id: String,
    pub status: DeliveryStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ApiError>,
    /// What we attached to the message when sending it (`biz_opaque_callback_data`): the
    /// outbox entry it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// An error object as Meta reports it (`code`, `title`, `message`, `error_data.details`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sqs_would_refuse_become_stable_digests() {
        assert_eq!(bounded_id("wamid.ABC==:read".into()), "wamid.ABC==:read");
        for bad in ["", "espaço", "a b", &"x".repeat(129)] {
            let id = bounded_id(bad.to_owned());
            assert!(
                id.starts_with("digest:") && id.len() == 71,
                "{bad:?} -> {id}"
            );
            assert_eq!(id, bounded_id(bad.to_owned()));
        }
    }
}

//! The conversation log: every line of a customer's conversations (theirs, the bot's, the
//! agents', the staff's notes) and what happened to it ("queued", "claimed by Ana"), kept for
//! the configured retention. The session keeps only the last lines; this is what agents read.

use crate::domain::agent::{AgentRef, TransferTarget};
use crate::domain::event::{DeliveryStatus, MediaKind};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One line of the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub line: LogLine,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LogLine {
    /// The customer wrote (`text` as the history shows it: "[Image] foto da tela").
    Customer {
        text: String,
        /// The WhatsApp message id.
        message_id: String,
        /// What the customer attached, kept in the media store under this WhatsApp media id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media: Option<MediaRef>,
    },
    /// Sent to the customer by the bot, or by `agent`.
    Sent {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent: Option<AgentRef>,
        text: String,
        /// The WhatsApp message id, which its delivery statuses name.
        message_id: String,
    },
    /// A message that did not go out, and why: an agent's (refused at once), or the bot's or
    /// an agent's that kept failing and was set aside (no `agent` for the bot's).
    NotSent {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent: Option<AgentRef>,
        text: String,
        reason: String,
    },
    /// A private note for the staff.
    Note { agent: AgentRef, text: String },
    /// Something that happened to the conversation.
    Event(ConversationEvent),
}

/// A file the customer sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaRef {
    pub kind: MediaKind,
    /// WhatsApp's media id (valid for download for a while after the message).
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ConversationEvent {
    /// In a department's line for a person, and why.
    Queued { department: String, reason: String },
    /// A person took the conversation.
    Claimed {
        agent: AgentRef,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        assigned_by: Option<AgentRef>,
    },
    /// Handed on by `by`, from `department`.
    Transferred {
        by: AgentRef,
        department: String,
        to: TransferTarget,
    },
    /// Done; `by` is absent when the close came from outside the desk.
    Closed {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<AgentRef>,
    },
    /// The customer's satisfaction score.
    Rated { score: u8 },
    /// WhatsApp's own notice about the customer (`notice`: its type as Meta names it): a
    /// number change (`new_number`), a changed identity.
    #[serde(rename = "whatsapp_notice")]
    WhatsAppNotice {
        notice: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        new_number: Option<String>,
    },
}

/// A log line as read back: its key in the log (the page cursor) and, for a sent message, its
/// latest delivery status.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoggedLine {
    pub key: String,
    #[serde(flatten)]
    pub entry: LogEntry,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DeliveryStatus>,
    /// For a file the customer sent: a short-lived link to the kept copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// The key of a log line: when its conversation started, then its number in it; both sort as
/// text. Writing the same key again replaces the line.
pub fn log_key(conversation_started: DateTime<Utc>, line: u64) -> String {
    format!(
        "{}#{line:08}",
        conversation_started.format("%Y-%m-%dT%H:%M:%S%.6fZ")
    )
}

/// The record that a customer's data was erased on request (LGPD art. 18): when, by whom, what
/// went. The customer appears only as the SHA-256 digest of their key, so that a later request
/// about the same number can be matched without keeping it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Erasure {
    pub at: DateTime<Utc>,
    pub customer_digest: String,
    /// The supervisor who erased (their id).
    pub by: String,
    /// A live session was deleted.
    pub session: bool,
    /// Log lines and delivery statuses deleted.
    pub log_items: usize,
    /// Files deleted (theirs and the agents').
    #[serde(default)]
    pub files: usize,
    /// Agents who held the customer's conversation and no longer do.
    pub conversations_released: usize,
}

impl Erasure {
    pub fn digest(customer: &crate::domain::CustomerId) -> String {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(customer.key().as_bytes()))
    }
}

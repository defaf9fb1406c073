//! What the engine asks the shell to do. Commands are data: the processor carries them out
//! through the `WhatsApp` port, in order.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Mark the customer's message as read (blue ticks).
    MarkRead { message_id: String },
    /// Send a message to the customer of the session.
    Send { message: OutboundMessage },
}

/// A message to a customer, independent of the wire format.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutboundMessage {
    Text {
        body: String,
    },
    /// Up to three reply buttons.
    Buttons {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        header: Option<String>,
        body: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        footer: Option<String>,
        buttons: Vec<Button>,
    },
    /// A list of up to ten rows in sections, opened by a button.
    List {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        header: Option<String>,
        body: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        footer: Option<String>,
        button: String,
        sections: Vec<ListSection>,
    },
}

impl OutboundMessage {
    pub fn text(body: impl Into<String>) -> Self {
        Self::Text { body: body.into() }
    }

    /// The choices a customer can pick in this message, in display order.
    pub fn choices(&self) -> Vec<(&str, &str)> {
        match self {
            Self::Text { .. } => Vec::new(),
            Self::Buttons { buttons, .. } => buttons
                .iter()
                .map(|b| (b.id.as_str(), b.title.as_str()))
                .collect(),
            Self::List { sections, .. } => sections
                .iter()
                .flat_map(|s| &s.rows)
                .map(|r| (r.id.as_str(), r.title.as_str()))
                .collect(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Button {
    pub id: String,
    pub title: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListSection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub rows: Vec<ListRow>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListRow {
    pub id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

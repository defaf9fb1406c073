//! What the engine asks the shell to do. Commands are data: the processor carries them out
//! through the `WhatsApp` port, in order.

use crate::domain::agent::AgentRef;
use crate::domain::customer::CustomerId;
use crate::domain::event::MediaKind;
use crate::domain::log::LogEntry;
use crate::domain::session::Turn;
use crate::domain::sla::Priority;
use crate::domain::timer::TimerKind;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Mark the customer's message as read (blue ticks).
    MarkRead {
        message_id: String,
        /// Show "typing…" until the reply: only when one follows (not on a person's turn, not
        /// for a reaction). Outboxes saved before this field existed showed it.
        #[serde(default = "showing")]
        typing: bool,
    },
    /// Send a message to the customer of the session; `agent` wrote it (the bot otherwise).
    Send {
        message: OutboundMessage,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent: Option<AgentRef>,
    },
    /// Put the customer in a department's attendance queue (a no-op when already waiting
    /// there). The shell answers with `Input::Queued` and the customer's place in line.
    EnqueueForHuman {
        department: String,
        priority: Priority,
        /// When the customer first joined a line in this conversation, kept across a transfer
        /// (now, when absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<DateTime<Utc>>,
    },
    /// Tell the agents a customer waits, with what they need to pick the conversation up.
    NotifyAgents { context: HandoffContext },
    /// Take the customer out of a department's queue (a no-op when not there).
    LeaveQueue { department: String },
    /// The customer, waiting in a department's line, wrote: their wait lasts until `until`
    /// (their window's new end) instead of ending with the old one (a no-op when not there).
    KeepPlace {
        department: String,
        until: chrono::DateTime<chrono::Utc>,
    },
    /// Ask the AI assistant; the shell answers with `Input::AssistantAnswer` (or
    /// `Input::AssistantFailed`).
    AskAssistant {
        question: String,
        /// The conversation so far, oldest first, bounded by `assistant.history_turns`.
        history: Vec<Turn>,
    },
    /// Wake the engine at `at` with `Input::Timer` (through the customer's queue, in order
    /// with their messages). Setting the same timer twice delivers it once.
    SetTimer { timer: TimerKind, at: DateTime<Utc> },
    /// Look up the customer's place in a department's line; the shell answers with
    /// `Input::QueueChecked` for the time `at`.
    CheckQueue {
        department: String,
        at: DateTime<Utc>,
    },
    /// Give back the place the desk reserved for this customer among the agent's
    /// conversations (a no-op when the agent does not hold it).
    ReleaseAgent { agent: String },
    /// Download a file the customer sent and keep it for the agents.
    KeepMedia { media: crate::domain::log::MediaRef },
    /// Write a line of the conversation log under `key` (`Session::next_log_key`; writing it
    /// again replaces it).
    Log { key: String, entry: LogEntry },
}

fn showing() -> bool {
    true
}

impl Command {
    /// Whether carrying the command out twice does no harm: queue changes, lookups, timers
    /// and asking the assistant. Messages and notifications reach people and must go once.
    pub fn is_idempotent(&self) -> bool {
        match self {
            Self::MarkRead { .. } | Self::Send { .. } | Self::NotifyAgents { .. } => false,
            Self::ReleaseAgent { .. }
            | Self::Log { .. }
            | Self::KeepMedia { .. }
            | Self::EnqueueForHuman { .. }
            | Self::LeaveQueue { .. }
            | Self::KeepPlace { .. }
            | Self::AskAssistant { .. }
            | Self::SetTimer { .. }
            | Self::CheckQueue { .. } => true,
        }
    }
}

/// What an agent needs to take a conversation over from the bot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HandoffContext {
    pub customer: CustomerId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_name: Option<String>,
    pub department: String,
    /// Where the conversation was before the handoff.
    pub previous_state: String,
    /// Why: a trigger phrase, repeated misunderstandings, or the end of a guided flow.
    pub reason: String,
    /// Support: the problem as the customer described it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// Support: media ids of what the customer attached (`image:1482…`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<String>,
    /// Sales: the item ordered (`id`, title and price).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// Finance: the validated CPF or CNPJ, digits only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<String>,
    pub bot_attempts: u32,
    pub conversation_started_at: DateTime<Utc>,
    /// The last lines of the conversation, oldest first.
    pub last_messages: Vec<Turn>,
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
    /// A WhatsApp Flow (a form) opened by a call-to-action button.
    Flow {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        header: Option<String>,
        body: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        footer: Option<String>,
        flow_id: String,
        /// Identifies this sending in the customer's answer (`nfm_reply.response_json`).
        flow_token: String,
        cta: String,
        screen: String,
        /// The first screen's data, as JSON.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data: Option<serde_json::Value>,
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
    /// A message template approved in WhatsApp Manager: the only kind WhatsApp delivers
    /// outside the customer's 24-hour window.
    Template {
        name: String,
        /// The template's language code (`pt_BR`).
        language: String,
        /// The body's parameters, `{{1}}` first.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        parameters: Vec<String>,
    },
    /// A file by link (an image shows inline; a document with its file name).
    Media {
        kind: MediaKind,
        link: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filename: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        caption: Option<String>,
    },
}

/// A message over WhatsApp's limits.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the message breaks WhatsApp's limits: {0}")]
pub struct LimitError(pub String);

/// A message checked against WhatsApp's limits: the only kind the `WhatsApp` port sends, so an
/// invalid message cannot reach the Graph API. Made by `OutboundMessage::sendable`.
#[derive(Clone, Debug, PartialEq)]
pub struct Sendable(OutboundMessage, Option<String>);

impl Sendable {
    pub fn message(&self) -> &OutboundMessage {
        &self.0
    }

    /// Tags the message with `reference` (at most 512 characters), which WhatsApp returns in
    /// the message's status webhooks.
    pub fn with_reference(mut self, reference: impl Into<String>) -> Self {
        let reference: String = reference.into();
        self.1 = Some(reference.chars().take(512).collect());
        self
    }

    pub fn reference(&self) -> Option<&str> {
        self.1.as_deref()
    }
}

impl TryFrom<OutboundMessage> for Sendable {
    type Error = LimitError;

    fn try_from(message: OutboundMessage) -> Result<Self, LimitError> {
        message.sendable()
    }
}

impl OutboundMessage {
    pub fn text(body: impl Into<String>) -> Self {
        Self::Text { body: body.into() }
    }

    /// The message, checked against WhatsApp's limits (`check_limits`).
    pub fn sendable(self) -> Result<Sendable, LimitError> {
        self.check_limits().map_err(LimitError)?;
        Ok(Sendable(self, None))
    }

    /// Checks the message against WhatsApp's limits (see `config::limits`): what the Cloud API
    /// would refuse, or silently cut.
    pub fn check_limits(&self) -> Result<(), String> {
        use crate::domain::config::limits::*;
        let len = |s: &str| s.chars().count();
        let at_most = |what: &str, s: &str, max: usize| {
            if len(s) > max {
                Err(format!("{what} has {} characters (at most {max})", len(s)))
            } else if s.trim().is_empty() && what != "footer" {
                Err(format!("{what} is empty"))
            } else {
                Ok(())
            }
        };
        let frame = |header: &Option<String>, footer: &Option<String>| {
            header
                .as_deref()
                .map_or(Ok(()), |h| at_most("header", h, HEADER))?;
            footer
                .as_deref()
                .map_or(Ok(()), |f| at_most("footer", f, FOOTER))
        };
        match self {
            Self::Text { body } => at_most("text", body, TEXT_BODY),
            // Meta's limits for template names and language codes.
            Self::Template {
                name,
                language,
                parameters,
            } => {
                at_most("template name", name, 512)?;
                at_most("template language", language, 15)?;
                for p in parameters {
                    at_most("template parameter", p, TEMPLATE_PARAMETER)?;
                }
                Ok(())
            }
            Self::Media {
                kind,
                link,
                filename,
                caption,
            } => {
                if !(link.starts_with("https://") || link.starts_with("http://")) {
                    return Err("media link is not an http(s) address".into());
                }
                if matches!(kind, MediaKind::Sticker) {
                    return Err("stickers are not sent by link".into());
                }
                if let Some(f) = filename {
                    at_most("file name", f, FILE_NAME)?;
                }
                match (kind, caption) {
                    (MediaKind::Audio, Some(_)) => Err("audio has no caption".into()),
                    (_, Some(c)) => at_most("caption", c, CAPTION),
                    (_, None) => Ok(()),
                }
            }
            Self::Flow {
                header,
                body,
                footer,
                flow_id,
                cta,
                screen,
                ..
            } => {
                frame(header, footer)?;
                at_most("flow body", body, BUTTON_BODY)?;
                at_most("flow call to action", cta, FLOW_CTA)?;
                at_most("flow id", flow_id, BUTTON_ID)?;
                at_most("flow screen", screen, BUTTON_ID)
            }
            Self::Buttons {
                header,
                body,
                footer,
                buttons,
            } => {
                frame(header, footer)?;
                at_most("button message body", body, BUTTON_BODY)?;
                if buttons.is_empty() || buttons.len() > MAX_BUTTONS {
                    return Err(format!("{} buttons (1 to {MAX_BUTTONS})", buttons.len()));
                }
                let mut ids = std::collections::HashSet::new();
                for b in buttons {
                    at_most("button title", &b.title, BUTTON_TITLE)?;
                    at_most("button id", &b.id, BUTTON_ID)?;
                    if !ids.insert(&b.id) {
                        return Err(format!("button id `{}` twice", b.id));
                    }
                }
                Ok(())
            }
            Self::List {
                header,
                body,
                footer,
                button,
                sections,
            } => {
                frame(header, footer)?;
                at_most("list body", body, LIST_BODY)?;
                at_most("list button", button, LIST_BUTTON)?;
                let rows: usize = sections.iter().map(|s| s.rows.len()).sum();
                if sections.is_empty()
                    || sections.len() > LIST_SECTIONS
                    || rows == 0
                    || rows > LIST_ROWS
                {
                    return Err(format!("{} sections with {rows} rows", sections.len()));
                }
                if sections.len() > 1 && sections.iter().any(|s| s.title.is_none()) {
                    return Err("several sections, one without a title".into());
                }
                let mut ids = std::collections::HashSet::new();
                for s in sections {
                    s.title
                        .as_deref()
                        .map_or(Ok(()), |t| at_most("section title", t, SECTION_TITLE))?;
                    for r in &s.rows {
                        at_most("row title", &r.title, ROW_TITLE)?;
                        at_most("row id", &r.id, ROW_ID)?;
                        r.description
                            .as_deref()
                            .map_or(Ok(()), |d| at_most("row description", d, ROW_DESCRIPTION))?;
                        if !ids.insert(&r.id) {
                            return Err(format!("row id `{}` twice", r.id));
                        }
                    }
                }
                Ok(())
            }
        }
    }

    /// What the message says, in one line of text, for the conversation history.
    pub fn summary(&self) -> String {
        match self {
            Self::Text { body } => body.clone(),
            Self::Buttons { body, buttons, .. } => {
                let titles: Vec<&str> = buttons.iter().map(|b| b.title.as_str()).collect();
                format!("{body} [{}]", titles.join(" | "))
            }
            Self::Flow { body, cta, .. } => format!("{body} [{cta}]"),
            Self::Template {
                name, parameters, ..
            } if parameters.is_empty() => format!("[template {name}]"),
            Self::Template {
                name, parameters, ..
            } => format!("[template {name}: {}]", parameters.join(" | ")),
            Self::Media {
                kind,
                filename,
                caption,
                ..
            } => {
                let what = filename.as_deref().unwrap_or(kind.as_str());
                match caption {
                    Some(c) => format!("[{what}] {c}"),
                    None => format!("[{what}]"),
                }
            }
            Self::List { body, sections, .. } => {
                let titles: Vec<&str> = sections
                    .iter()
                    .flat_map(|s| &s.rows)
                    .map(|r| r.title.as_str())
                    .collect();
                format!("{body} [{}]", titles.join(" | "))
            }
        }
    }

    /// The choices a customer can pick in this message, in display order.
    pub fn choices(&self) -> Vec<(&str, &str)> {
        match self {
            Self::Text { .. } | Self::Flow { .. } | Self::Template { .. } | Self::Media { .. } => {
                Vec::new()
            }
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

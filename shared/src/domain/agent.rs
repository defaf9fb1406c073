//! The staff as a conversation knows them, and what they do to it. An agent's action travels
//! on the customer's queue like the customer's own messages, so the engine applies both in one
//! order and each exactly once.

use crate::domain::event::MediaKind;
use serde::{Deserialize, Serialize};

/// An agent or supervisor: their identity (the login's subject) and the name customers see.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRef {
    pub id: String,
    pub name: String,
}

/// What a person does to one customer's conversation. The desk checked who may do it before
/// it was queued; the engine decides what it means for the conversation as it is when it
/// arrives.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum AgentAction {
    /// The agent takes the customer (from the line, or assigned by a supervisor). The desk
    /// took the customer out of the line and reserved one of the agent's places first.
    Claim {
        agent: AgentRef,
        /// The supervisor who assigned the customer, when it was not the agent's own claim.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        assigned_by: Option<AgentRef>,
    },
    /// A message to the customer.
    Reply {
        agent: AgentRef,
        content: AgentContent,
    },
    /// A private note for the staff, never sent.
    Note { agent: AgentRef, text: String },
    /// To another department's line, or to a named agent (whose place the desk reserved).
    Transfer { agent: AgentRef, to: TransferTarget },
    /// Done: the customer leaves the line and is asked for a score.
    Close { agent: AgentRef },
}

impl AgentAction {
    /// Who did it.
    pub fn agent(&self) -> &AgentRef {
        match self {
            Self::Claim { agent, .. }
            | Self::Reply { agent, .. }
            | Self::Note { agent, .. }
            | Self::Transfer { agent, .. }
            | Self::Close { agent } => agent,
        }
    }

    /// The action's name, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Claim { .. } => "claim",
            Self::Reply { .. } => "reply",
            Self::Note { .. } => "note",
            Self::Transfer { .. } => "transfer",
            Self::Close { .. } => "close",
        }
    }
}

/// What an agent sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentContent {
    Text {
        body: String,
    },
    /// A file the agent uploaded, sent by link (a short-lived address of the stored copy).
    File {
        kind: MediaKind,
        link: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filename: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        caption: Option<String>,
    },
    /// An approved template (`[[templates]]`): the only message allowed outside the window.
    Template {
        name: String,
        language: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        parameters: Vec<String>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum TransferTarget {
    /// The department's line, keeping the customer's arrival time.
    Department { department: String },
    /// A named agent, directly.
    Agent { agent: AgentRef },
}

/// How the agents' desk works (`[desk]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeskConfig {
    /// The most conversations an agent holds at once, unless their own is set.
    #[serde(default = "default_capacity")]
    pub default_capacity: u32,
    /// Agents' messages start with their name (`texts.agent_signature`).
    #[serde(default = "yes")]
    pub sign_messages: bool,
    /// Days the conversation log and customers' files are kept.
    #[serde(default = "default_retention")]
    pub retention_days: u32,
}

impl Default for DeskConfig {
    fn default() -> Self {
        Self {
            default_capacity: default_capacity(),
            sign_messages: true,
            retention_days: default_retention(),
        }
    }
}

fn default_capacity() -> u32 {
    3
}

fn default_retention() -> u32 {
    90
}

fn yes() -> bool {
    true
}

/// A message template approved in WhatsApp Manager that agents may send (`[[templates]]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovedTemplate {
    pub name: String,
    /// The template's language code (`pt_BR`).
    pub language: String,
    /// What each body parameter (`{{1}}`, `{{2}}`, …) is, in order, for the agent.
    #[serde(default)]
    pub parameters: Vec<String>,
}

/// Whether an agent takes customers now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    Available,
    #[default]
    Away,
}

/// Who an agent is, as an admin sets it up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentProfile {
    /// The login's subject (Cognito's `sub`; locally, the demo agent's id).
    pub id: String,
    pub email: String,
    /// The name customers and colleagues see.
    pub name: String,
    /// Department ids the agent works in.
    pub departments: Vec<String>,
    /// The most conversations held at once (`desk.default_capacity` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u32>,
    /// Supervisors see and act on every department.
    #[serde(default)]
    pub supervisor: bool,
}

impl AgentProfile {
    pub fn as_ref(&self) -> AgentRef {
        AgentRef {
            id: self.id.clone(),
            name: self.name.clone(),
        }
    }

    /// Whether the agent may see and act on a customer of `department`.
    pub fn serves(&self, department: &str) -> bool {
        self.supervisor || self.departments.iter().any(|d| d == department)
    }
}

/// An agent as the desk keeps them: their profile, presence, and the customers (keys) whose
/// conversations they hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agent {
    #[serde(flatten)]
    pub profile: AgentProfile,
    pub presence: Presence,
    #[serde(default)]
    pub holding: std::collections::BTreeSet<String>,
}

/// What reserving a place among an agent's conversations came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reservation {
    /// The place is the customer's now (or already was).
    Reserved,
    /// The agent is away.
    Away,
    /// The agent holds as many conversations as they may.
    Full,
    /// No such agent.
    Unknown,
}

/// An answer agents pick by typing "/" and its shortcut in the console (`[[quick_replies]]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuickReply {
    /// One word: `/boleto`.
    pub shortcut: String,
    pub text: String,
    /// The departments whose agents see it (all, when empty).
    #[serde(default)]
    pub departments: Vec<String>,
}

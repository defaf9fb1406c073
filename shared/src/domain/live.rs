//! Live updates for the console: who is told that something changed, and what they are told.
//!
//! A change names no content: it tells the pages concerned to read again (through the agents'
//! API, which checks every read), and which customer it is about. Frames stay far below API
//! Gateway's 32 KB, and nothing leaves the API's authorisation.

use crate::domain::CustomerId;
use crate::domain::session::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Who a live connection belongs to, as their login and profile said when it opened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listener {
    /// The agent's id (the login's subject).
    pub agent: String,
    /// The departments whose lines they see.
    pub departments: Vec<String>,
    /// Supervisors hear about every department.
    pub supervisor: bool,
}

/// An open connection of a console page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    pub id: String,
    pub listener: Listener,
    /// When it is forgotten if nobody said it closed (API Gateway closes a connection after
    /// two hours).
    pub expires_at: DateTime<Utc>,
}

/// Something the console shows changed: a line, a conversation, an agent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Change {
    /// The departments whose line or conversations changed.
    pub departments: Vec<String>,
    /// The agents whose own conversations or presence changed.
    pub agents: Vec<String>,
    /// The customer whose conversation changed, when it is one.
    pub customer: Option<CustomerId>,
}

impl Change {
    /// The change to a customer's conversation in `state`: their department's line and the
    /// agent holding them; nothing when the conversation is the bot's alone.
    pub fn of_conversation(customer: &CustomerId, state: &State) -> Self {
        let mut change = Self {
            customer: Some(customer.clone()),
            ..Self::default()
        };
        if let State::Human {
            department, agent, ..
        } = state
        {
            change.departments.push(department.clone());
            if let Some(agent) = agent {
                change.agents.push(agent.id.clone());
            }
        }
        change
    }

    /// About one agent (their presence or load changed).
    pub fn of_agent(agent: &str) -> Self {
        Self {
            agents: vec![agent.to_owned()],
            ..Self::default()
        }
    }

    /// Adds whoever `other` concerns.
    pub fn merge(&mut self, other: Self) {
        for d in other.departments {
            if !self.departments.contains(&d) {
                self.departments.push(d);
            }
        }
        for a in other.agents {
            if !self.agents.contains(&a) {
                self.agents.push(a);
            }
        }
        if self.customer.is_none() {
            self.customer = other.customer;
        }
    }

    /// True when it concerns nobody at the desk.
    pub fn is_empty(&self) -> bool {
        self.departments.is_empty() && self.agents.is_empty()
    }

    /// Whether `listener` is told: supervisors always, agents about their departments and
    /// their own conversations.
    pub fn concerns(&self, listener: &Listener) -> bool {
        !self.is_empty()
            && (listener.supervisor
                || self.agents.contains(&listener.agent)
                || self
                    .departments
                    .iter()
                    .any(|d| listener.departments.contains(d)))
    }

    /// What the page receives: `{"type":"change","customer":"5511…"}`.
    pub fn frame(&self) -> String {
        let frame = Frame::Change {
            customer: self.customer.as_ref().map(|c| c.key().to_owned()),
        };
        serde_json::to_string(&frame).unwrap_or_else(|_| r#"{"type":"change"}"#.to_owned())
    }
}

/// Frames between the console and the server, both ways.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Frame {
    /// Server to page: read again what concerns `customer` (and the lists).
    Change {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        customer: Option<String>,
    },
    /// Page to server, every few minutes, so that an idle connection is not closed.
    Ping,
    /// Server to page, the answer to a ping (locally; API Gateway answers nothing).
    Pong,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AgentRef;

    fn listener(agent: &str, departments: &[&str], supervisor: bool) -> Listener {
        Listener {
            agent: agent.to_owned(),
            departments: departments.iter().map(|d| (*d).to_owned()).collect(),
            supervisor,
        }
    }

    fn human(department: &str, agent: Option<&str>) -> State {
        State::Human {
            department: department.to_owned(),
            since: DateTime::<Utc>::UNIX_EPOCH,
            told_position: None,
            agent: agent.map(|id| AgentRef {
                id: id.to_owned(),
                name: id.to_owned(),
            }),
            awaiting_reply_since: None,
        }
    }

    #[test]
    fn a_conversation_in_line_concerns_its_department_and_supervisors() {
        let customer = CustomerId::Phone("5511988887777".into());
        let change = Change::of_conversation(&customer, &human("suporte", None));
        assert!(change.concerns(&listener("ana", &["suporte"], false)));
        assert!(change.concerns(&listener("carla", &[], true)));
        assert!(!change.concerns(&listener("bruno", &["vendas"], false)));
        assert_eq!(
            change.frame(),
            r#"{"type":"change","customer":"5511988887777"}"#
        );
    }

    #[test]
    fn a_transfer_concerns_both_departments_and_the_agent_who_held_it() {
        let customer = CustomerId::Phone("5511988887777".into());
        let mut change = Change::of_conversation(&customer, &human("suporte", Some("ana")));
        change.merge(Change::of_conversation(&customer, &human("vendas", None)));
        assert_eq!(change.departments, ["suporte", "vendas"]);
        assert!(change.concerns(&listener("ana", &[], false)));
        assert!(change.concerns(&listener("bruno", &["vendas"], false)));
    }

    #[test]
    fn the_bots_conversations_concern_nobody() {
        let customer = CustomerId::Phone("5511988887777".into());
        let change = Change::of_conversation(&customer, &State::MainMenu);
        assert!(change.is_empty());
        assert!(!change.concerns(&listener("carla", &[], true)));
    }

    #[test]
    fn frames_read_as_the_page_writes_them() {
        assert_eq!(
            serde_json::from_str::<Frame>(r#"{"type":"ping"}"#).ok(),
            Some(Frame::Ping)
        );
        assert!(serde_json::from_str::<Frame>(r#"{"type":"shout"}"#).is_err());
    }
}

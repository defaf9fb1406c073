//! The agents' desk: what agents and supervisors do and read, as a service over the ports.
//!
//! Every change to a conversation becomes an event on the customer's queue group
//! (`EventKind::Agent`), applied by the processor in order with the customer's own messages
//! and deduplicated like them; the desk only checks who may do it, reserves what must be
//! reserved atomically (the customer's place in line, the agent's capacity), and answers.
//! Who the caller is (`Actor`) comes from a verified login; the desk checks their role and
//! departments on every call.

mod act;
mod claim;
mod live;
mod read;

pub use act::{MAX_FILE_BYTES, file_kind};
pub use claim::Claimed;
pub use live::LiveTicket;
pub use read::{
    AgentLoad, ConversationPage, ConversationView, DepartmentLoad, Overview, PAGE_MAX, WaitingView,
};

use crate::domain::agent::{AgentProfile, AgentRef, ApprovedTemplate};
use crate::domain::session::{SessionRecord, State};
use crate::domain::{AgentAction, Config, CustomerId, EventKind, QueueEvent};
use crate::ports::{
    Agents, AttendanceQueue, Clock, ConversationLog, EventQueue, MediaStore, QueueError,
    SessionStore, StoreError,
};
use std::sync::Arc;

/// Who calls the desk, as their verified login says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// The login's subject: the agent's id.
    pub id: String,
    /// In the supervisors' group.
    pub supervisor: bool,
}

/// Why the desk refused or failed; each maps to one HTTP status at the edge.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    /// The login is fine but its holder may not do this (403).
    #[error("{0}")]
    Forbidden(String),
    /// No such customer, conversation or agent (404).
    #[error("{0}")]
    NotFound(String),
    /// Not now: the conversation or the agent is not in a state that allows it (409). Free
    /// text after the window names the templates allowed instead.
    #[error("{reason}")]
    Conflict {
        reason: String,
        templates: Vec<ApprovedTemplate>,
    },
    /// The request itself is wrong (400): `field` names what (a text over its limit too; a
    /// body over the API's limit is refused with 413 before it reaches the desk).
    #[error("{field}: {problem}")]
    Invalid { field: String, problem: String },
    /// A store or the queue failed; nothing was changed that is not undone (503).
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl From<StoreError> for DeskError {
    fn from(e: StoreError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

impl From<QueueError> for DeskError {
    fn from(e: QueueError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

fn conflict(reason: impl Into<String>) -> DeskError {
    DeskError::Conflict {
        reason: reason.into(),
        templates: Vec::new(),
    }
}

fn invalid(field: &str, problem: impl Into<String>) -> DeskError {
    DeskError::Invalid {
        field: field.to_owned(),
        problem: problem.into(),
    }
}

pub struct Desk {
    agents: Arc<dyn Agents>,
    attendance: Arc<dyn AttendanceQueue>,
    sessions: Arc<dyn SessionStore>,
    events: Arc<dyn EventQueue>,
    log: Arc<dyn ConversationLog>,
    media: Arc<dyn MediaStore>,
    clock: Arc<dyn Clock>,
    config: Arc<Config>,
    /// The business number (phone number id) to answer from when a conversation does not say.
    business_number: Option<String>,
    /// Live updates for the console, and the address its pages open them at.
    live: Option<(Arc<crate::app::live::Live>, String)>,
}

/// The ports the desk works on.
pub struct DeskPorts {
    pub agents: Arc<dyn Agents>,
    pub attendance: Arc<dyn AttendanceQueue>,
    pub sessions: Arc<dyn SessionStore>,
    pub events: Arc<dyn EventQueue>,
    pub log: Arc<dyn ConversationLog>,
    pub media: Arc<dyn MediaStore>,
    pub clock: Arc<dyn Clock>,
}

impl Desk {
    pub fn new(ports: DeskPorts, config: Arc<Config>, business_number: Option<String>) -> Self {
        Self {
            agents: ports.agents,
            attendance: ports.attendance,
            sessions: ports.sessions,
            events: ports.events,
            log: ports.log,
            media: ports.media,
            clock: ports.clock,
            config,
            business_number,
            live: None,
        }
    }

    /// Wires live updates: pages get tickets for `url` (`wss://…` on AWS), and what the desk
    /// changes is pushed to them.
    pub fn with_live(mut self, live: Arc<crate::app::live::Live>, url: impl Into<String>) -> Self {
        self.live = Some((live, url.into()));
        self
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The caller's profile: only agents of this desk may use it.
    async fn profile(&self, actor: &Actor) -> Result<AgentProfile, DeskError> {
        match self.agents.get(&actor.id).await? {
            Some(agent) => {
                let mut profile = agent.profile;
                profile.supervisor |= actor.supervisor;
                Ok(profile)
            }
            None => Err(DeskError::Forbidden(
                "this login is not an agent of the desk; an admin adds agents with `atende agents add`"
                    .into(),
            )),
        }
    }

    fn supervisor_only(profile: &AgentProfile) -> Result<(), DeskError> {
        if profile.supervisor {
            Ok(())
        } else {
            Err(DeskError::Forbidden("only supervisors may do this".into()))
        }
    }

    /// The customer's live conversation, which the caller must be allowed to see: a person's
    /// conversation (waiting or held) of one of their departments, or one they hold (handed
    /// to them by name from another department); any, for a supervisor.
    async fn conversation_of(
        &self,
        profile: &AgentProfile,
        customer: &CustomerId,
    ) -> Result<SessionRecord, DeskError> {
        let now = self.clock.now();
        let record = self
            .sessions
            .load(customer, now)
            .await?
            .ok_or_else(|| DeskError::NotFound("no conversation with this customer".into()))?;
        if profile.supervisor {
            return Ok(record);
        }
        match &record.session.state {
            // Their departments' customers, and whoever was handed to them by name.
            State::Human {
                department, agent, ..
            } if profile.serves(department)
                || agent.as_ref().is_some_and(|a| a.id == profile.id) =>
            {
                Ok(record)
            }
            State::Human { .. } => Err(DeskError::Forbidden(
                "this customer is in another department's care".into(),
            )),
            _ => Err(DeskError::Forbidden(
                "this customer is with the bot, not with a person".into(),
            )),
        }
    }

    /// Whether the caller holds the customer: claimed by or handed to them, and not let go
    /// (it stays so after the customer's window closed, until they close it).
    async fn holds(
        &self,
        profile: &AgentProfile,
        customer: &CustomerId,
    ) -> Result<bool, DeskError> {
        Ok(self
            .agents
            .get(&profile.id)
            .await?
            .is_some_and(|a| a.holding.contains(customer.key())))
    }

    /// The department whose line the customer last joined, from the log: `None` when nothing
    /// of them is logged, `Some(None)` when they never joined a line.
    async fn last_department(
        &self,
        customer: &CustomerId,
    ) -> Result<Option<Option<String>>, DeskError> {
        use crate::domain::agent::TransferTarget;
        use crate::domain::{ConversationEvent, LogLine};
        let page = self
            .log
            .page(customer, None, read::PAGE_MAX, self.clock.now())
            .await?;
        if page.lines.is_empty() {
            return Ok(None);
        }
        Ok(Some(page.lines.iter().rev().find_map(
            |l| match &l.entry.line {
                LogLine::Event(ConversationEvent::Queued { department, .. })
                | LogLine::Event(ConversationEvent::Transferred {
                    to: TransferTarget::Department { department },
                    ..
                }) => Some(department.clone()),
                _ => None,
            },
        )))
    }

    /// Queues an agent's action on the customer's group. `request` names the request (its
    /// idempotency key): the same request queued twice is applied once.
    async fn queue_action(
        &self,
        record: &SessionRecord,
        request: &str,
        action: AgentAction,
    ) -> Result<(), DeskError> {
        let customer = record.session.customer.clone();
        let business_number = record
            .business_number
            .clone()
            .or_else(|| self.business_number.clone())
            .ok_or_else(|| {
                DeskError::Unavailable("no business number to answer from is known".into())
            })?;
        let event = QueueEvent {
            also: None,
            id: action_id(action.name(), &customer, request),
            customer: Some(customer),
            business_number: Some(business_number),
            kind: EventKind::Agent(action),
        };
        self.events.enqueue(&[event]).await?;
        Ok(())
    }
}

/// The event id of an agent's action: unique per customer and request, stable when the same
/// request comes again, and free of the customer's number (event ids are logged).
pub(super) fn action_id(action: &str, customer: &CustomerId, request: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{}\n{request}", customer.key()).as_bytes());
    format!("agent:{action}:{}", &hex::encode(digest)[..40])
}

/// The agent as customers see them.
fn agent_ref(profile: &AgentProfile) -> AgentRef {
    profile.as_ref()
}

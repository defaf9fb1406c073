//! The processor: applies one queue event to the customer's session and carries out what the
//! engine decided.
//!
//! Exactly-once, as far as the Graph API allows: the engine's commands are saved in the
//! session's outbox in the same conditional write that records the event as applied; then they
//! are sent, the record saved after each send. A redelivered event finds itself applied and only
//! finishes the outbox, so a crash can repeat at most the one send in flight.

mod identity;
mod media;
mod outbox;

pub use outbox::Deadline;
mod send;
mod steps;

pub use media::STORED;

use crate::app::Staff;
use crate::app::live::Live;
use crate::domain::agent::{AgentAction, AgentContent};
use crate::domain::customer::Masked;
use crate::domain::engine::{self, Input};
use crate::domain::live::Change;
use crate::domain::log::LogEntry;
use crate::domain::session::SERVICE_WINDOW;
use crate::domain::{
    Config, DeliveryStatus, EventKind, InboundMessage, Lease, Outgoing, QueueEvent, Session,
    SessionRecord, StatusUpdate, TimerFired,
};
use crate::logging::{Age, IdDigest};
use crate::ports::{
    Agents, Assistant, AttendanceQueue, Clock, ConversationLog, SessionStore, StoreError,
    TimerError, Timers, WhatsApp, WhatsAppError,
};
use crate::ports::{Metric, Metrics};
use std::sync::Arc;

/// How often a save may meet a concurrent writer before the event is failed (and redelivered).
const MAX_CONFLICTS: usize = 5;

/// Deliveries that may try a reply failing for itself (131000, 1, 2, a 5xx) before it is set
/// aside: fewer than the queue's 5 receives, so that the customer's event is not dead-lettered.
pub const MAX_SEND_ATTEMPTS: u32 = 3;

/// How long a delivery holds a customer's outbox: longer than the processor's 60-second
/// timeout (a live delivery is never overtaken), shorter than the queue's 360-second
/// visibility timeout (a delivery that died is taken over when its event comes back).
pub const SENDING_LEASE_SECONDS: i64 = 120;

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("session store: {0}")]
    Store(#[from] StoreError),
    #[error("sending to WhatsApp: {0}")]
    WhatsApp(#[from] WhatsAppError),
    #[error("setting a timer: {0}")]
    Timers(#[from] TimerError),
    #[error("the session kept changing under {MAX_CONFLICTS} attempts")]
    Contended,
    /// Another delivery is sending this customer's replies (it sends this event's too); the
    /// event comes back later to make sure nothing is left.
    #[error("another delivery is sending this customer's replies")]
    Busy,
    /// Too little of the invocation was left for the next step: the rest of the outbox waits
    /// for the event's return.
    #[error("too little time left in this invocation")]
    OutOfTime,
}

/// What processing an event did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A customer message was applied and `sent` messages went out.
    Applied { sent: usize },
    /// The event had been applied before: nothing new was decided (`sent` leftovers finished).
    Duplicate { sent: usize },
    /// A status or error update, logged.
    Recorded,
    /// A message that cannot be answered (no customer or no business number), logged.
    Unanswerable,
    /// A message sent more than 24 hours ago (a late redelivery), logged and not answered.
    Stale,
    /// A timer for a conversation that is over (its session expired): nothing to do.
    NoSession,
}

/// What is applied to a session.
#[derive(Clone, Copy)]
enum Incoming<'a> {
    Message(&'a InboundMessage),
    Closed,
    Agent(&'a AgentAction),
    Timer(TimerFired),
}

pub struct Processor {
    sessions: Arc<dyn SessionStore>,
    attendance: Arc<dyn AttendanceQueue>,
    assistant: Option<Arc<dyn Assistant>>,
    whatsapp: Arc<dyn WhatsApp>,
    timers: Arc<dyn Timers>,
    clock: Arc<dyn Clock>,
    config: Arc<Config>,
    staff: Staff,
    metrics: Option<Arc<dyn Metrics>>,
    agents: Option<Arc<dyn Agents>>,
    log: Option<Arc<dyn ConversationLog>>,
    media: Option<Arc<dyn crate::ports::MediaStore>>,
    live: Option<Arc<Live>>,
}

impl Processor {
    pub fn new(
        sessions: Arc<dyn SessionStore>,
        attendance: Arc<dyn AttendanceQueue>,
        whatsapp: Arc<dyn WhatsApp>,
        timers: Arc<dyn Timers>,
        clock: Arc<dyn Clock>,
        config: Arc<Config>,
    ) -> Self {
        Self {
            sessions,
            attendance,
            assistant: None,
            whatsapp,
            timers,
            clock,
            config,
            staff: Staff::new(),
            metrics: None,
            agents: None,
            log: None,
            media: None,
            live: None,
        }
    }

    /// Keeps the files customers send (downloaded from WhatsApp), and sends the files agents
    /// upload, from `store`.
    pub fn with_media(mut self, store: Arc<dyn crate::ports::MediaStore>) -> Self {
        self.media = Some(store);
        self
    }

    /// Wires the agents' desk: the agents whose places are given back as conversations end
    /// or move, and the conversation log every line is written to.
    pub fn with_desk(mut self, agents: Arc<dyn Agents>, log: Arc<dyn ConversationLog>) -> Self {
        self.agents = Some(agents);
        self.log = Some(log);
        self
    }

    /// Pushes what changed to the console pages it concerns (see `app::live`).
    pub fn with_live(mut self, live: Arc<Live>) -> Self {
        self.live = Some(live);
        self
    }

    async fn publish(&self, change: &Change) {
        if let Some(live) = &self.live {
            live.publish(change).await;
        }
    }

    /// When what is logged now is forgotten (`desk.retention_days`).
    fn log_expiry(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now() + chrono::Duration::days(self.config.desk.retention_days.into())
    }

    /// Writes a line of the customer's conversation log, when the desk is wired.
    async fn write_log(
        &self,
        customer: &crate::domain::CustomerId,
        key: &str,
        entry: &LogEntry,
    ) -> Result<(), StoreError> {
        match &self.log {
            Some(log) => log.write(customer, key, entry, self.log_expiry()).await,
            None => Ok(()),
        }
    }

    /// Records messages in, replies out, escalations, Graph API errors and the assistant's
    /// latency.
    pub fn with_metrics(mut self, metrics: Arc<dyn Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    fn count(&self, metric: Metric) {
        if let Some(m) = &self.metrics {
            m.record(metric);
        }
    }

    fn graph_error(&self, e: &WhatsAppError) {
        self.count(Metric::GraphApiErrors {
            code: e.code().map_or("none".to_owned(), |c| c.to_string()),
        });
    }

    /// Where handoffs are announced to the agents (logs only without it).
    pub fn with_staff(mut self, staff: Staff) -> Self {
        self.staff = staff;
        self
    }

    /// Wires an AI assistant: from now on free text at the menu goes to it.
    pub fn with_assistant(mut self, assistant: Arc<dyn Assistant>) -> Self {
        let mut config = (*self.config).clone();
        config.assistant_available = true;
        self.config = Arc::new(config);
        self.assistant = Some(assistant);
        self
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub async fn handle(&self, event: &QueueEvent) -> Result<Outcome, ProcessError> {
        self.handle_until(event, Deadline::NONE).await
    }

    /// `handle`, starting no outside call that could end past `deadline` (the invocation's):
    /// what is left waits for the event's return.
    pub async fn handle_until(
        &self,
        event: &QueueEvent,
        deadline: Deadline,
    ) -> Result<Outcome, ProcessError> {
        let customer = Masked(&event.group()).to_string();
        match &event.kind {
            EventKind::Status(status) => {
                tracing::info!(
                    event_id = %IdDigest(&event.id),
                    customer,
                    status = status.status.as_str(),
                    errors = ?status.errors,
                    "status update"
                );
                self.on_status(event, status).await
            }
            EventKind::Error(error) => {
                tracing::warn!(event_id = %IdDigest(&event.id), customer, ?error, "webhook error");
                Ok(Outcome::Recorded)
            }
            EventKind::Closed => {
                let outcome = self.apply(event, Incoming::Closed, deadline).await;
                match &outcome {
                    Ok(o) => {
                        tracing::info!(event_id = %IdDigest(&event.id), customer, outcome = ?o, "conversation closed by the agent")
                    }
                    Err(e) => {
                        tracing::error!(event_id = %IdDigest(&event.id), customer, error = %e, "closing failed")
                    }
                }
                outcome
            }
            EventKind::Agent(action) => {
                let outcome = self.apply(event, Incoming::Agent(action), deadline).await;
                match &outcome {
                    Ok(o) => {
                        tracing::info!(event_id = %IdDigest(&event.id), customer, action = action.name(), outcome = ?o, "agent action")
                    }
                    Err(e) => {
                        tracing::error!(event_id = %IdDigest(&event.id), customer, action = action.name(), error = %e, "agent action failed")
                    }
                }
                outcome
            }
            EventKind::Timer(fired) => {
                let outcome = self.apply(event, Incoming::Timer(*fired), deadline).await;
                match &outcome {
                    Ok(o) => {
                        tracing::info!(event_id = %IdDigest(&event.id), customer, timer = fired.timer.as_str(), outcome = ?o, "timer")
                    }
                    Err(e) => {
                        tracing::error!(event_id = %IdDigest(&event.id), customer, timer = fired.timer.as_str(), error = %e, "timer failed")
                    }
                }
                outcome
            }
            EventKind::Message(message) => {
                let outcome = self.on_message(event, message, deadline).await;
                match &outcome {
                    Ok(o) => {
                        tracing::info!(event_id = %IdDigest(&event.id), customer, outcome = ?o, "message processed")
                    }
                    Err(e) => {
                        tracing::error!(event_id = %IdDigest(&event.id), customer, error = %e, "message failed")
                    }
                }
                outcome
            }
        }
    }

    async fn on_message(
        &self,
        event: &QueueEvent,
        message: &InboundMessage,
        deadline: Deadline,
    ) -> Result<Outcome, ProcessError> {
        // Meta retries for a week, but the session (and its memory of applied events) lives
        // 24 hours: a message older than the service window is never answered.
        let now = self.clock.now();
        if let Some(sent_at) = message.sent_at
            && sent_at + SERVICE_WINDOW <= now
        {
            tracing::warn!(
                event_id = %IdDigest(&event.id),
                customer = %Masked(&event.group()),
                %sent_at,
                age = %Age(now - sent_at),
                "message older than the 24-hour window; recorded in this log, not answered"
            );
            return Ok(Outcome::Stale);
        }
        self.apply(event, Incoming::Message(message), deadline)
            .await
    }

    /// Keeps a status on the message it is about, monotonically. A status for a customer
    /// without a live session changes nothing (it must not open a window).
    async fn on_status(
        &self,
        event: &QueueEvent,
        status: &StatusUpdate,
    ) -> Result<Outcome, ProcessError> {
        let Some(customer) = &event.customer else {
            return Ok(Outcome::Recorded);
        };
        let found = self.find(event, customer, self.clock.now()).await?;
        let customer = &found.customer;
        let mut preloaded = Some(found.record);
        for _ in 0..MAX_CONFLICTS {
            let now = self.clock.now();
            let loaded = match preloaded.take() {
                Some(loaded) => loaded,
                None => self.sessions.load(customer, now).await?,
            };
            let Some(mut record) = loaded else {
                return Ok(Outcome::Recorded);
            };
            // Statuses only move forward, so one applied twice changes nothing: they are not
            // remembered (the memory of applied events is kept for customer messages).
            let was_closed = record.session.window_closed;
            let unconfirmed = record.session.unconfirmed.len();
            if record.has_applied(&event.id) || !record.session.apply_status(status) {
                return Ok(Outcome::Recorded);
            }
            // The log shows each sent message's status; written first, so that a failure
            // brings the event back while the session still lets it through.
            if let (Some(log), Some(current)) = (
                &self.log,
                record.session.outbound_status(&status.message_id),
            ) {
                log.set_status(customer, &status.message_id, current, self.log_expiry())
                    .await?;
            }
            // A plain tick (sent, delivered, read) is the log's alone, which keeps it moving
            // forward only: the session is written for what it acts on (a failure, a closed
            // window, a send confirmed), not again for each of Meta's three statuses.
            if status.status != DeliveryStatus::Failed
                && record.session.window_closed == was_closed
                && record.session.unconfirmed.len() == unconfirmed
            {
                self.publish(&Change::of_conversation(customer, &record.session.state))
                    .await;
                return Ok(Outcome::Recorded);
            }
            match self.sessions.save(&record, now).await {
                Ok(version) => {
                    self.publish(&Change::of_conversation(customer, &record.session.state))
                        .await;
                    // A reply failed later with 131047 (the window had closed): the
                    // re-engagement template goes, once, as when the send itself was refused.
                    if !was_closed
                        && record.session.window_closed
                        && let Some(from) = &event.business_number
                    {
                        record.version = version;
                        if self.send_reengagement(&mut record, from).await > 0 {
                            // Best effort: only the template's delivery statuses depend on it.
                            let _ = self.sessions.save(&record, now).await;
                        }
                    }
                    return Ok(Outcome::Recorded);
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ProcessError::Contended)
    }

    /// Applies an event to the customer's session exactly once and carries out the result.
    async fn apply(
        &self,
        event: &QueueEvent,
        incoming: Incoming<'_>,
        deadline: Deadline,
    ) -> Result<Outcome, ProcessError> {
        let (Some(customer), Some(from)) = (&event.customer, &event.business_number) else {
            tracing::warn!(event_id = %IdDigest(&event.id), "event without a customer or business number; not applied");
            return Ok(Outcome::Unanswerable);
        };
        let found = self.find(event, customer, self.clock.now()).await?;
        let customer = &found.customer;
        let mut preloaded = Some(found.record);
        for _ in 0..MAX_CONFLICTS {
            let now = self.clock.now();
            let loaded = match preloaded.take() {
                Some(loaded) => loaded,
                None => self.sessions.load(customer, now).await?,
            };
            let mut record = match loaded {
                Some(record) => record,
                // Only a customer's message opens a conversation. What the desk reserved for
                // an action on one that is over is given back.
                // An approved template from the desk reaches a customer whose window closed:
                // a closed conversation carries it, exactly once, like any reply.
                None if matches!(
                    incoming,
                    Incoming::Agent(AgentAction::Reply {
                        content: AgentContent::Template { .. },
                        ..
                    })
                ) =>
                {
                    let mut session = Session::new(customer.clone(), now);
                    session.state = crate::domain::State::Finished;
                    session.window_closed = true;
                    SessionRecord::new(session)
                }
                // WhatsApp's own notice (a number change) opens no conversation.
                None if matches!(incoming, Incoming::Message(m) if m.content.is_system()) => {
                    return Ok(Outcome::NoSession);
                }
                None if !matches!(incoming, Incoming::Message(_)) => {
                    if let Incoming::Agent(action) = incoming {
                        self.release_reserved(action, customer).await?;
                    }
                    return Ok(Outcome::NoSession);
                }
                None => {
                    // A new conversation. Whoever still waits in a line from an earlier one
                    // (their window closed before anyone took them) leaves it.
                    for department in &self.config.departments {
                        self.attendance.remove(&department.id, customer).await?;
                    }
                    SessionRecord::new(Session::new(customer.clone(), now))
                }
            };
            if record.has_applied(&event.id) {
                if record.outbox.is_empty() {
                    return Ok(Outcome::Duplicate { sent: 0 });
                }
                if !self.claim(&mut record, &event.id, now).await? {
                    continue;
                }
                let sent = self.flush(&mut record, &event.id, deadline).await?;
                return Ok(Outcome::Duplicate { sent });
            }
            if matches!(incoming, Incoming::Message(_)) {
                self.link_names(&mut record, event, now).await?;
            }
            let input = match incoming {
                Incoming::Message(message) => Input::Message(message),
                Incoming::Closed => Input::Closed,
                Incoming::Agent(action) => Input::Agent(action),
                Incoming::Timer(fired) => Input::Timer(fired),
            };
            let mut change = Change::of_conversation(customer, &record.session.state);
            let (session, commands) = engine::step(record.session, input, now, &self.config);
            record.session = session;
            change.merge(Change::of_conversation(customer, &record.session.state));
            // Whoever acted sees the outcome, even on a conversation no longer a person's (a
            // template after the window).
            if let Incoming::Agent(action) = incoming {
                change.merge(Change::of_agent(&action.agent().id));
            }
            let decided = commands.len();
            record.outbox.extend(
                commands
                    .into_iter()
                    .enumerate()
                    .map(|(n, command)| Outgoing {
                        id: format!("{}#{n}", event.id),
                        from: from.clone(),
                        command,
                        attempts: 0,
                    }),
            );
            if matches!(incoming, Incoming::Message(_)) {
                record.business_number = Some(from.clone());
            }
            // A timer acts only if it is still the pending one, so applying it twice does
            // nothing: only messages and closings use the memory of applied events.
            if !matches!(incoming, Incoming::Timer(_)) {
                record.remember(&event.id);
            }
            // The outbox is claimed in the same write, unless another delivery holds it: then
            // that one sends these replies too, after its own.
            let mine = record
                .sending
                .as_ref()
                .is_none_or(|lease| lease.allows(&event.id, now));
            if mine && !record.outbox.is_empty() {
                record.sending = Some(self.lease(&event.id, now));
            }
            match self.sessions.save(&record, now).await {
                Ok(version) if mine => {
                    if matches!(incoming, Incoming::Message(m) if !m.content.is_system()) {
                        self.count(Metric::MessagesIn);
                    }
                    record.version = version;
                    let sent = self.flush(&mut record, &event.id, deadline).await;
                    // What was sent (or failed) is in the log now: the pages read it.
                    self.publish(&change).await;
                    return Ok(Outcome::Applied { sent: sent? });
                }
                Ok(_) => {
                    if matches!(incoming, Incoming::Message(m) if !m.content.is_system()) {
                        self.count(Metric::MessagesIn);
                    }
                    self.publish(&change).await;
                    // Nothing of ours waits behind the holder: no need to come back.
                    if decided == 0 {
                        return Ok(Outcome::Applied { sent: 0 });
                    }
                    return Err(ProcessError::Busy);
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ProcessError::Contended)
    }

    fn lease(&self, event: &str, now: chrono::DateTime<chrono::Utc>) -> Lease {
        Lease {
            event: event.to_owned(),
            until: now + chrono::Duration::seconds(SENDING_LEASE_SECONDS),
        }
    }

    /// Claims a record's outbox for `event`'s delivery (one conditional write). False when the
    /// record changed meanwhile (reload and look again); `Busy` when another live delivery
    /// holds it.
    async fn claim(
        &self,
        record: &mut SessionRecord,
        event: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, ProcessError> {
        match &record.sending {
            // Ours, with time left: no write. Ours but running out: renewed below.
            Some(lease)
                if lease.event == event
                    && lease.until - now > chrono::Duration::seconds(SENDING_LEASE_SECONDS / 2) =>
            {
                return Ok(true);
            }
            Some(lease) if !lease.allows(event, now) => return Err(ProcessError::Busy),
            _ => {}
        }
        record.sending = Some(self.lease(event, now));
        match self.sessions.save(record, now).await {
            Ok(version) => {
                record.version = version;
                Ok(true)
            }
            Err(StoreError::Conflict) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

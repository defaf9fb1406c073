//! The processor: applies one queue event to the customer's session and carries out what the
//! engine decided.
//!
//! Exactly-once, as far as the Graph API allows: the engine's commands are saved in the
//! session's outbox in the same conditional write that records the event as applied; then they
//! are sent, the record saved after each send. A redelivered event finds itself applied and only
//! finishes the outbox, so a crash can repeat at most the one send in flight.

mod media;
mod send;

pub use media::STORED;

use crate::app::Staff;
use crate::app::live::Live;
use crate::domain::OutboundMessage;
use crate::domain::agent::{AgentAction, AgentContent, TransferTarget};
use crate::domain::customer::Masked;
use crate::domain::engine::{self, Input};
use crate::domain::event::bounded_id;
use crate::domain::live::Change;
use crate::domain::log::LogEntry;
use crate::domain::session::SERVICE_WINDOW;
use crate::domain::sla::{Priority, WaitingCustomer};
use crate::domain::{
    Command, Config, EventKind, InboundMessage, Lease, Outgoing, QueueEvent, Session,
    SessionRecord, StatusUpdate, TimerFired, Turn,
};
use crate::logging::{Age, IdDigest};
use crate::ports::{
    Agents, Assistant, AssistantRequest, AttendanceQueue, Clock, ConversationLog, SessionStore,
    StoreError, TimerError, Timers, WhatsApp, WhatsAppError,
};
use crate::ports::{Failure, Metric, Metrics};
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
                let outcome = self.apply(event, Incoming::Closed).await;
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
                let outcome = self.apply(event, Incoming::Agent(action)).await;
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
                let outcome = self.apply(event, Incoming::Timer(*fired)).await;
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
                let outcome = self.on_message(event, message).await;
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
        self.apply(event, Incoming::Message(message)).await
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
        for _ in 0..MAX_CONFLICTS {
            let now = self.clock.now();
            let Some(mut record) = self.sessions.load(customer, now).await? else {
                return Ok(Outcome::Recorded);
            };
            // Statuses only move forward, so one applied twice changes nothing: they are not
            // remembered (the memory of applied events is kept for customer messages).
            let was_closed = record.session.window_closed;
            if record.has_applied(&event.id) || !record.session.apply_status(status) {
                return Ok(Outcome::Recorded);
            }
            // The log shows each sent message's status; written first, so that a failure
            // brings the event back while the session still lets it through.
            if let (Some(log), Some(current)) =
                (&self.log, record.session.outbound.get(&status.message_id))
            {
                log.set_status(customer, &status.message_id, current, self.log_expiry())
                    .await?;
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
    ) -> Result<Outcome, ProcessError> {
        let (Some(customer), Some(from)) = (&event.customer, &event.business_number) else {
            tracing::warn!(event_id = %IdDigest(&event.id), "event without a customer or business number; not applied");
            return Ok(Outcome::Unanswerable);
        };
        for _ in 0..MAX_CONFLICTS {
            let now = self.clock.now();
            let mut record = match self.sessions.load(customer, now).await? {
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
                let sent = self.flush(&mut record, &event.id).await?;
                return Ok(Outcome::Duplicate { sent });
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
                    if matches!(incoming, Incoming::Message(_)) {
                        self.count(Metric::MessagesIn);
                    }
                    record.version = version;
                    let sent = self.flush(&mut record, &event.id).await;
                    // What was sent (or failed) is in the log now: the pages read it.
                    self.publish(&change).await;
                    return Ok(Outcome::Applied { sent: sent? });
                }
                Ok(_) => {
                    if matches!(incoming, Incoming::Message(_)) {
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

    /// Carries out the outbox in order. The record is saved after every message sent, so that
    /// a crash repeats at most the one send in flight; a conflicting writer's record is
    /// reloaded and the messages already sent are dropped from it (idempotent commands stay
    /// and run again on it, so what they lead to is decided on the newer record). A send that
    /// can never succeed is logged and dropped; a transient failure leaves the rest for the
    /// redelivery. A timer the scheduler refuses stays pending in the outbox, tried again by
    /// the customer's next event (or this one's return), and never fails the event: the
    /// customer's later messages must not wait behind it. Returns how many messages were sent.
    async fn flush(&self, record: &mut SessionRecord, holder: &str) -> Result<usize, ProcessError> {
        let customer = record.session.customer.clone();
        let mut done: Vec<String> = Vec::new();
        let mut sent = 0;
        let mut dirty = false;
        // Timers the scheduler refused in this flush: not tried again before the next one.
        let mut deferred: Vec<Outgoing> = Vec::new();
        let mut refused: Vec<String> = Vec::new();
        loop {
            while let Some(out) = record.outbox.front().cloned() {
                if refused.contains(&out.id) {
                    record.outbox.pop_front();
                    deferred.push(out);
                    continue;
                }
                if done.contains(&out.id) {
                    // Decided again by an idempotent command that ran again on a newer record
                    // (follow-up ids are stable): it went out already.
                    record.outbox.pop_front();
                    dirty = true;
                    continue;
                }
                let result: Result<(), ProcessError> = match &out.command {
                    Command::MarkRead { message_id, typing } => {
                        // Read receipts are courtesy: a failure is logged, never retried.
                        if let Err(e) = self
                            .whatsapp
                            .mark_read(&out.from, message_id, *typing)
                            .await
                        {
                            self.graph_error(&e);
                            tracing::warn!(customer = %customer.masked(), error = %e, "mark as read failed");
                        }
                        Ok(())
                    }
                    Command::Send { message, agent } => {
                        self.send_one(record, &out, message, agent.as_ref(), &mut sent)
                            .await
                    }
                    Command::EnqueueForHuman {
                        department,
                        priority,
                        since,
                    } => {
                        self.enqueue_for_human(record, &out, department, *priority, *since)
                            .await
                    }
                    Command::ReleaseAgent { agent } => match &self.agents {
                        Some(agents) => agents
                            .release(agent, &customer)
                            .await
                            .map_err(ProcessError::from),
                        None => Ok(()),
                    },
                    Command::KeepMedia { media } => self.keep_media(&customer, media).await,
                    Command::Log { key, entry } => self
                        .write_log(&customer, key, entry)
                        .await
                        .map_err(ProcessError::from),
                    Command::AskAssistant { question, history } => {
                        self.ask_assistant(record, &out, question, history).await;
                        Ok(())
                    }
                    Command::KeepPlace { department, until } => self
                        .attendance
                        .renew(department, &customer, *until)
                        .await
                        .map_err(ProcessError::from),
                    Command::LeaveQueue { department } => self
                        .attendance
                        .remove(department, &customer)
                        .await
                        .map_err(ProcessError::from),
                    Command::SetTimer { timer, at } => {
                        let fired = TimerFired {
                            timer: *timer,
                            due: *at,
                        };
                        let event = QueueEvent {
                            id: bounded_id(fired.event_id()),
                            customer: Some(customer.clone()),
                            business_number: Some(out.from.clone()),
                            kind: EventKind::Timer(fired),
                        };
                        // The replies do not wait for the scheduler: a timer that could not be
                        // set is put back once the rest is done, and the event fails so that
                        // it is set when the event comes back.
                        if let Err(e) = self.timers.schedule(*at, &event).await {
                            tracing::error!(
                                customer = %customer.masked(),
                                timer = timer.as_str(),
                                error = %e,
                                "timer not set yet; it will be tried again"
                            );
                            self.count(Metric::TimersDeferred);
                            refused.push(out.id.clone());
                            deferred.push(out.clone());
                        }
                        Ok(())
                    }
                    Command::CheckQueue { department, at } => {
                        match self
                            .attendance
                            .position(department, &customer, self.clock.now())
                            .await
                        {
                            Ok(position) => {
                                self.follow_up(
                                    record,
                                    &out,
                                    Input::QueueChecked {
                                        department,
                                        position,
                                        at: *at,
                                    },
                                );
                                Ok(())
                            }
                            Err(e) => Err(e.into()),
                        }
                    }
                    Command::NotifyAgents { context } => {
                        tracing::info!(
                            customer = %context.customer.masked(),
                            department = %context.department,
                            reason = %context.reason,
                            bot_attempts = context.bot_attempts,
                            previous_state = %context.previous_state,
                            lines = context.last_messages.len(),
                            "handoff: a customer waits for an agent"
                        );
                        let notice = crate::domain::notice::handoff(context, &self.config);
                        self.staff.tell(&notice, Some(&out.from)).await;
                        Ok(())
                    }
                };
                if let Err(e) = result {
                    // A reply that keeps failing for itself (not the account, not a rate
                    // limit) is set aside after a few deliveries, so that the rest goes on.
                    if let (Command::Send { message, agent }, ProcessError::WhatsApp(failure)) =
                        (&out.command, &e)
                        && failure.failure() == Failure::Retry
                    {
                        if out.attempts + 1 >= MAX_SEND_ATTEMPTS {
                            self.set_aside(record, &out, message, agent.as_ref(), failure)
                                .await?;
                            record.outbox.pop_front();
                            dirty = true;
                            continue;
                        }
                        if let Some(front) = record.outbox.front_mut() {
                            front.attempts = out.attempts + 1;
                        }
                    }
                    // Best effort: keep what is done out of the next attempt, and let go of the
                    // outbox.
                    record.sending = None;
                    let _ = self.save_progress(record, &done, holder).await;
                    return Err(e);
                }
                record.outbox.pop_front();
                if record.outbox.is_empty() {
                    // Saved with the last step below.
                    record.sending = None;
                }
                if !out.command.is_idempotent() {
                    done.push(out.id.clone());
                }
                dirty = true;
                // Only a message sent must never be repeated: the record is saved after each one.
                // Whatever else was done since is saved with it or at the end; a crash before
                // then repeats idempotent commands and at most a read receipt or a notification.
                if matches!(out.command, Command::Send { .. }) {
                    self.save_progress(record, &done, holder).await?;
                    dirty = false;
                }
            }
            // Timers the scheduler refused stay pending in the outbox.
            for out in deferred.drain(..) {
                record.outbox.push_back(out);
                dirty = true;
            }
            // The outbox is done for now: let go of it, however the last step ended.
            if record.sending.take().is_some() {
                dirty = true;
            }
            if dirty {
                self.save_progress(record, &done, holder).await?;
                dirty = false;
            }
            // A delivery that found us sending may have queued its replies behind ours while
            // we saved: they are ours to send too (the refused timers wait for the next time).
            if record.outbox.iter().all(|o| refused.contains(&o.id)) {
                return Ok(sent);
            }
        }
    }

    /// Gives up on a reply that kept failing: logged, counted, and written to the conversation
    /// log as not sent, for the agents.
    async fn set_aside(
        &self,
        record: &mut SessionRecord,
        out: &Outgoing,
        message: &crate::domain::OutboundMessage,
        agent: Option<&crate::domain::AgentRef>,
        failure: &WhatsAppError,
    ) -> Result<(), ProcessError> {
        let customer = record.session.customer.clone();
        tracing::error!(
            customer = %customer.masked(),
            outgoing = %IdDigest(&out.id),
            attempts = out.attempts + 1,
            code = ?failure.code(),
            error = %failure,
            "a reply kept failing; set aside so that the rest goes on"
        );
        self.count(Metric::RepliesSetAside);
        let key = record.session.next_log_key();
        let entry = LogEntry {
            at: self.clock.now(),
            line: crate::domain::LogLine::NotSent {
                agent: agent.cloned(),
                text: message.summary(),
                reason: format!(
                    "the Graph API kept failing ({} attempts): {failure}",
                    out.attempts + 1
                ),
            },
        };
        Ok(self.write_log(&customer, &key, &entry).await?)
    }

    /// The customer's 24-hour window closed (131047): free-form replies cannot reach them.
    /// The first time, the configured re-engagement template goes instead (if any); the
    /// window counts as closed until they write. Returns how many messages went out.
    async fn reengage(&self, record: &mut SessionRecord, from: &str) -> usize {
        let first = !record.session.window_closed;
        record.session.window_closed = true;
        if !first {
            tracing::warn!(customer = %record.session.customer.masked(), "window closed (131047); reply dropped");
            return 0;
        }
        self.send_reengagement(record, from).await
    }

    /// Sends the configured re-engagement template, if any. Returns how many went out.
    async fn send_reengagement(&self, record: &mut SessionRecord, from: &str) -> usize {
        let customer = record.session.customer.clone();
        let template = match &self.config.reengagement {
            Some(t) => OutboundMessage::Template {
                name: t.template.clone(),
                language: t.language.clone(),
                parameters: Vec::new(),
            },
            None => {
                tracing::warn!(customer = %customer.masked(), "window closed (131047); no re-engagement template configured");
                return 0;
            }
        };
        let template = match template.sendable() {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(customer = %customer.masked(), error = %e, "the re-engagement template is invalid");
                return 0;
            }
        };
        match self.whatsapp.send(from, &customer, &template).await {
            Ok(delivered) => {
                record.session.track_sent(&delivered.id);
                self.count(Metric::RepliesOut);
                tracing::info!(customer = %customer.masked(), "window closed (131047); re-engagement template sent");
                1
            }
            Err(e) => {
                self.graph_error(&e);
                tracing::error!(customer = %customer.masked(), code = ?e.code(), error = %e, "window closed (131047); the re-engagement template failed too");
                0
            }
        }
    }

    /// Queues the customer (idempotent), finds their place in line and runs the engine on it;
    /// what the engine answers goes right after this command in the outbox.
    async fn enqueue_for_human(
        &self,
        record: &mut SessionRecord,
        out: &Outgoing,
        department: &str,
        priority: Priority,
        since: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<(), ProcessError> {
        let customer = record.session.customer.clone();
        let now = self.clock.now();
        self.count(Metric::Escalations {
            department: department.to_owned(),
        });
        self.attendance
            .enqueue(WaitingCustomer {
                customer: customer.clone(),
                department: department.to_owned(),
                priority,
                entered_at: since.unwrap_or(now),
                // Nobody can answer them after their window: they leave the line with it.
                expires_at: Some(record.session.expires_at()),
            })
            .await?;
        let position = self
            .attendance
            .position(department, &customer, now)
            .await?
            .unwrap_or(1);
        self.follow_up(
            record,
            out,
            Input::Queued {
                department,
                position,
            },
        );
        Ok(())
    }

    /// Gives back what the desk reserved for an action that cannot apply (the conversation is
    /// over): the place among the agent's conversations of a claim or a transfer to them.
    async fn release_reserved(
        &self,
        action: &AgentAction,
        customer: &crate::domain::CustomerId,
    ) -> Result<(), ProcessError> {
        let reserved = match action {
            AgentAction::Claim { agent, .. } => Some(agent),
            AgentAction::Transfer {
                to: TransferTarget::Agent { agent },
                ..
            } => Some(agent),
            _ => None,
        };
        if let (Some(agent), Some(agents)) = (reserved, &self.agents) {
            agents.release(&agent.id, customer).await?;
        }
        Ok(())
    }

    /// Asks the assistant and runs the engine on its answer. A failure is not retried here:
    /// the engine apologises and hands over to a person.
    async fn ask_assistant(
        &self,
        record: &mut SessionRecord,
        out: &Outgoing,
        question: &str,
        history: &[Turn],
    ) {
        let settings = &self.config.assistant;
        let started = std::time::Instant::now();
        let reply = match &self.assistant {
            Some(assistant) => assistant
                .answer(AssistantRequest {
                    model: &settings.model,
                    max_tokens: settings.max_tokens,
                    system_prompt: &settings.system_prompt,
                    history,
                    question,
                })
                .await
                .inspect_err(|e| {
                    tracing::warn!(
                        customer = %record.session.customer.masked(),
                        error = %e,
                        "assistant failed; handing over"
                    )
                })
                .ok(),
            None => None,
        };
        let input = match &reply {
            Some(r) => Input::AssistantAnswer {
                text: &r.text,
                wants_human: r.wants_human,
            },
            None => Input::AssistantFailed,
        };
        if self.assistant.is_some() {
            self.count(Metric::AssistantLatency {
                millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            });
            if reply.is_none() {
                self.count(Metric::AssistantFailures);
            }
        }
        self.follow_up(record, out, input);
    }

    /// Runs the engine on what the shell learned carrying out `out`; the commands it answers
    /// with go right after `out` in the outbox.
    fn follow_up(&self, record: &mut SessionRecord, out: &Outgoing, input: Input<'_>) {
        let (session, follow_up) = engine::step(
            record.session.clone(),
            input,
            self.clock.now(),
            &self.config,
        );
        record.session = session;
        for (n, command) in follow_up.into_iter().enumerate() {
            record.outbox.insert(
                1 + n,
                Outgoing {
                    id: format!("{}.{n}", out.id),
                    from: out.from.clone(),
                    command,
                    attempts: 0,
                },
            );
        }
    }

    /// Saves the record after outbox progress. On a conflict, adopts the stored record minus
    /// the commands in `done` and saves that, unless another delivery took the outbox over
    /// (`Busy`: it sends the rest).
    async fn save_progress(
        &self,
        record: &mut SessionRecord,
        done: &[String],
        holder: &str,
    ) -> Result<(), ProcessError> {
        for _ in 0..MAX_CONFLICTS {
            let now = self.clock.now();
            match self.sessions.save(record, now).await {
                Ok(version) => {
                    record.version = version;
                    return Ok(());
                }
                Err(StoreError::Conflict) => {
                    let Some(mut stored) =
                        self.sessions.load(&record.session.customer, now).await?
                    else {
                        // Expired meanwhile: nothing left to finish.
                        record.outbox.clear();
                        return Ok(());
                    };
                    if stored
                        .sending
                        .as_ref()
                        .is_some_and(|lease| !lease.allows(holder, now))
                    {
                        return Err(ProcessError::Busy);
                    }
                    stored.outbox.retain(|o| !done.contains(&o.id));
                    stored.sending = (!stored.outbox.is_empty()).then(|| self.lease(holder, now));
                    keep_what_was_learned(&record.session, &mut stored.session, done);
                    *record = stored;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(ProcessError::Contended)
    }
}

/// What sending taught us (the ids of messages sent, sends of unknown outcome in this flush —
/// `done` — and a closed window), carried from our record into a newer one adopted after a
/// conflicting write.
fn keep_what_was_learned(ours: &Session, newer: &mut Session, done: &[String]) {
    for (id, status) in &ours.outbound {
        newer
            .outbound
            .entry(id.clone())
            .or_insert_with(|| status.clone());
    }
    for unconfirmed in ours
        .unconfirmed
        .iter()
        .filter(|u| done.contains(&u.reference))
    {
        if !newer
            .unconfirmed
            .iter()
            .any(|u| u.reference == unconfirmed.reference)
        {
            newer.unconfirmed.push_back(unconfirmed.clone());
        }
    }
    // Lines are numbered once: the newer record continues after ours.
    newer.log_lines = newer.log_lines.max(ours.log_lines);
    // Unless the customer wrote since (which opens the window again).
    if ours.window_closed && newer.last_inbound_at == ours.last_inbound_at {
        newer.window_closed = true;
    }
}

//! Carrying out the outbox: each command in order, the record saved after every message sent,
//! within the invocation's time; and adopting a newer record after a conflicting write.

use super::{MAX_CONFLICTS, MAX_SEND_ATTEMPTS, ProcessError, Processor};

use crate::domain::engine::Input;
use crate::domain::event::bounded_id;
use crate::domain::log::LogEntry;
use crate::domain::timer::TimerKind;
use crate::domain::{Command, EventKind, Outgoing, QueueEvent, Session, SessionRecord, TimerFired};
use crate::logging::IdDigest;
use crate::ports::{
    ASSISTANT_TIME_LIMIT, Failure, Metric, NOTICE_TIME_LIMIT, StoreError, WHATSAPP_CALL_LIMIT,
    WhatsAppError,
};
use std::time::Duration;

/// The end of the invocation a delivery runs in, if it has one (Lambda's; none locally).
#[derive(Clone, Copy, Debug, Default)]
pub struct Deadline(pub Option<tokio::time::Instant>);

impl Deadline {
    /// No end: records run to completion.
    pub const NONE: Deadline = Deadline(None);

    /// Whether a step that may take `needed` (and the saves after it) ends before the deadline.
    fn allows(self, needed: Duration) -> bool {
        self.0.is_none_or(|end| {
            end.saturating_duration_since(tokio::time::Instant::now()) >= needed + SAVE_TIME
        })
    }
}

/// Room kept after a step for the record's saves (single-digit milliseconds when all is well;
/// the SDK's own retries when DynamoDB throttles).
const SAVE_TIME: Duration = Duration::from_secs(2);

/// The longest carrying out `command` may take: what the port promises for its outside call
/// (the processor holds it to that), nothing for the stores.
fn time_needed(command: &Command) -> Duration {
    match command {
        Command::AskAssistant { .. } => ASSISTANT_TIME_LIMIT,
        Command::Send { .. } | Command::MarkRead { .. } => WHATSAPP_CALL_LIMIT,
        // The file's description, then the file (each request held to the call limit).
        Command::KeepMedia { .. } => WHATSAPP_CALL_LIMIT * 2,
        Command::NotifyAgents { .. } => NOTICE_TIME_LIMIT,
        _ => Duration::ZERO,
    }
}

/// `call`, or an unknown outcome when it has not answered within `limit` (a port that did not
/// keep its promise: a reply that may have gone out is not sent again blindly).
pub(super) async fn within<T>(
    limit: Duration,
    call: impl std::future::Future<Output = T>,
) -> Result<T, WhatsAppError> {
    tokio::time::timeout(limit, call).await.map_err(|_| {
        WhatsAppError::OutcomeUnknown(format!("no answer within {} s", limit.as_secs()))
    })
}

/// What carrying out a command came to, when it did not fail.
enum Carried {
    Done,
    /// A timer the scheduler refused: it stays pending in the outbox.
    Deferred,
}

impl Processor {
    /// Carries out the outbox in order. The record is saved after every message sent, so that
    /// a crash repeats at most the one send in flight; a conflicting writer's record is
    /// reloaded and the messages already sent are dropped from it (idempotent commands stay
    /// and run again on it, so what they lead to is decided on the newer record). A send that
    /// can never succeed is logged and dropped; a transient failure leaves the rest for the
    /// redelivery. A timer the scheduler refuses stays pending in the outbox, tried again by
    /// the customer's next event (or this one's return), and never fails the event: the
    /// customer's later messages must not wait behind it. A call outside that could end past
    /// `deadline` is not started: the rest waits for the event's return (`OutOfTime`).
    /// Returns how many messages were sent.
    pub(super) async fn flush(
        &self,
        record: &mut SessionRecord,
        holder: &str,
        deadline: Deadline,
    ) -> Result<usize, ProcessError> {
        let mut done: Vec<String> = Vec::new();
        let mut sent = 0;
        let mut dirty = false;
        // Timers the scheduler refused in this flush: not tried again before the next one.
        let mut deferred: Vec<Outgoing> = Vec::new();
        loop {
            while let Some(out) = record.outbox.front().cloned() {
                if deferred.iter().any(|d| d.id == out.id) {
                    record.outbox.pop_front();
                    continue;
                }
                if done.contains(&out.id) {
                    // Decided again by an idempotent command that ran again on a newer record
                    // (follow-up ids are stable): it went out already.
                    record.outbox.pop_front();
                    dirty = true;
                    continue;
                }
                let needed = time_needed(&out.command);
                let result = if deadline.allows(needed) {
                    self.carry_out(record, &out, &mut sent).await
                } else {
                    tracing::warn!(
                        customer = %record.session.customer.masked(),
                        outgoing = %IdDigest(&out.id),
                        "too little time left in this invocation; the rest of the outbox waits"
                    );
                    Err(ProcessError::OutOfTime)
                };
                let result = match result {
                    Ok(Carried::Deferred) => {
                        record.outbox.pop_front();
                        deferred.push(out);
                        continue;
                    }
                    Ok(Carried::Done) => Ok(()),
                    Err(e) => self.after_failure(record, &out, e).await,
                };
                if let Err(e) = result {
                    // Best effort: keep what is done out of the next attempt, and let go of the
                    // outbox.
                    record.sending = None;
                    record.outbox.extend(deferred.drain(..));
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
            let refused: Vec<String> = deferred.iter().map(|d| d.id.clone()).collect();
            if !deferred.is_empty() {
                record.outbox.extend(deferred.drain(..));
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
            deferred.extend(
                record
                    .outbox
                    .iter()
                    .filter(|o| refused.contains(&o.id))
                    .cloned(),
            );
        }
    }

    /// What a failed command leaves: a reply that keeps failing for itself (not the account,
    /// not a rate limit) is set aside after a few deliveries, so that the rest goes on (`Ok`);
    /// otherwise the failure stands, the attempt counted on the reply.
    async fn after_failure(
        &self,
        record: &mut SessionRecord,
        out: &Outgoing,
        e: ProcessError,
    ) -> Result<(), ProcessError> {
        if let (Command::Send { message, agent }, ProcessError::WhatsApp(failure)) =
            (&out.command, &e)
            && failure.failure() == Failure::Retry
        {
            if out.attempts + 1 >= MAX_SEND_ATTEMPTS {
                self.set_aside(record, out, message, agent.as_ref(), failure)
                    .await?;
                return Ok(());
            }
            if let Some(front) = record.outbox.front_mut() {
                front.attempts = out.attempts + 1;
            }
        }
        Err(e)
    }

    /// Carries out one command of the outbox.
    async fn carry_out(
        &self,
        record: &mut SessionRecord,
        out: &Outgoing,
        sent: &mut usize,
    ) -> Result<Carried, ProcessError> {
        let customer = record.session.customer.clone();
        match &out.command {
            Command::MarkRead { message_id, typing } => {
                // Read receipts are courtesy: a failure is logged, never retried.
                let read = self.whatsapp.mark_read(&out.from, message_id, *typing);
                if let Err(e) = within(WHATSAPP_CALL_LIMIT, read).await.and_then(|r| r) {
                    self.graph_error(&e);
                    tracing::warn!(customer = %customer.masked(), error = %e, "mark as read failed");
                }
            }
            Command::Send { message, agent } => {
                self.send_one(record, out, message, agent.as_ref(), sent)
                    .await?;
            }
            Command::EnqueueForHuman {
                department,
                priority,
                since,
            } => {
                self.enqueue_for_human(record, out, department, *priority, *since)
                    .await?;
            }
            Command::ReleaseAgent { agent } => {
                if let Some(agents) = &self.agents {
                    agents.release(agent, &customer).await?;
                }
            }
            Command::KeepMedia { media } => self.keep_media(&customer, media).await?,
            Command::Log { key, entry } => self.write_log(&customer, key, entry).await?,
            Command::AskAssistant { question, history } => {
                self.ask_assistant(record, out, question, history).await;
            }
            Command::KeepPlace { department, until } => {
                self.attendance.renew(department, &customer, *until).await?;
            }
            Command::LeaveQueue { department } => {
                self.attendance.remove(department, &customer).await?;
            }
            Command::SetTimer { timer, at } => {
                let fired = TimerFired {
                    timer: *timer,
                    due: *at,
                };
                let event = QueueEvent {
                    also: None,
                    id: bounded_id(fired.event_id()),
                    customer: Some(customer.clone()),
                    business_number: Some(out.from.clone()),
                    kind: EventKind::Timer(fired),
                };
                // The replies do not wait for the scheduler: a timer that could not be set
                // stays pending and is tried again at the customer's next event.
                if let Err(e) = self.timers.schedule(*at, &event).await {
                    tracing::error!(
                        customer = %customer.masked(),
                        timer = timer.as_str(),
                        error = %e,
                        "timer not set yet; it will be tried again"
                    );
                    self.count(Metric::TimersDeferred);
                    return Ok(Carried::Deferred);
                }
            }
            Command::CheckQueue { department, at } => {
                let position = self
                    .attendance
                    .position(department, &customer, self.clock.now())
                    .await?;
                self.follow_up(
                    record,
                    out,
                    Input::QueueChecked {
                        department,
                        position,
                        at: *at,
                    },
                );
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
            }
        }
        Ok(Carried::Done)
    }

    /// Gives up on a reply that kept failing: logged, counted, and written to the conversation
    /// log as not sent, for the agents.
    pub(super) async fn set_aside(
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

    /// Saves the record after outbox progress. On a conflict, adopts the stored record minus
    /// the commands in `done` and saves that, unless another delivery took the outbox over
    /// (`Busy`: it sends the rest).
    pub(super) async fn save_progress(
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
                    // What the engine answered to a command done here (the timer that resends
                    // a send of unknown outcome) is only in ours: carried over, first.
                    let carried: Vec<Outgoing> = record
                        .outbox
                        .iter()
                        .filter(|o| follows_one_of(&o.id, done))
                        .filter(|o| stored.outbox.iter().all(|s| s.id != o.id))
                        .cloned()
                        .collect();
                    for o in carried.into_iter().rev() {
                        stored.outbox.push_front(o);
                    }
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

/// Whether the outbox entry `id` is the engine's answer to one of the commands `done` (its id
/// followed by `.<n>`, as `follow_up` numbers them).
fn follows_one_of(id: &str, done: &[String]) -> bool {
    done.iter().any(|d| {
        id.strip_prefix(d.as_str())
            .is_some_and(|rest| rest.starts_with('.'))
    })
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
    // The timer that resends them, unless the newer record has one armed (it fires first or
    // re-arms for ours).
    if let Some(due) = ours.timers.get(&TimerKind::Unconfirmed)
        && !newer.unconfirmed.is_empty()
    {
        newer.timers.entry(TimerKind::Unconfirmed).or_insert(*due);
    }
    // Lines are numbered once: the newer record continues after ours.
    newer.log_lines = newer.log_lines.max(ours.log_lines);
    // Unless the customer wrote since (which opens the window again).
    if ours.window_closed && newer.last_inbound_at == ours.last_inbound_at {
        newer.window_closed = true;
    }
}

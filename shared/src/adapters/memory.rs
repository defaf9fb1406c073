//! In-process adapters: the local runner's backends and the reference behaviour every other
//! adapter of a port is tested against.

use crate::domain::sla::{SlaAlert, WaitingCustomer};
use crate::domain::{CustomerId, OutboundMessage, QueueEvent, SessionRecord};
use crate::ports::{
    AttendanceQueue, Clock, EventQueue, QueueError, SentMessage, SessionStore, StoreError,
    TimerError, Timers, WhatsApp, WhatsAppError,
};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use tokio::sync::Notify;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep serving it.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Timers in a map, keyed like the scheduler's schedule names (customer + event id); whoever
/// runs them takes the due ones with `due` and puts them on the event queue. Kept in order of
/// due time too, so that taking what is due and finding the next one cost nothing like a scan
/// of every customer's pending timers.
#[derive(Default)]
pub struct MemoryTimers {
    pending: Mutex<PendingTimers>,
    changed: Notify,
}

#[derive(Default)]
struct PendingTimers {
    by_name: HashMap<String, (DateTime<Utc>, QueueEvent)>,
    by_due: std::collections::BTreeSet<(DateTime<Utc>, String)>,
}

impl MemoryTimers {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the timers due at `now`, earliest first.
    pub fn due(&self, now: DateTime<Utc>) -> Vec<QueueEvent> {
        let mut pending = lock(&self.pending);
        let mut due = Vec::new();
        while let Some((at, _)) = pending.by_due.first() {
            if *at > now {
                break;
            }
            let Some((_, name)) = pending.by_due.pop_first() else {
                break;
            };
            if let Some((_, event)) = pending.by_name.remove(&name) {
                due.push(event);
            }
        }
        due
    }

    /// When the next timer goes off, if any is set.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        lock(&self.pending).by_due.first().map(|(at, _)| *at)
    }

    /// Every timer set and not taken yet, earliest first.
    pub fn pending(&self) -> Vec<(DateTime<Utc>, QueueEvent)> {
        let pending = lock(&self.pending);
        pending
            .by_due
            .iter()
            .filter_map(|(_, name)| pending.by_name.get(name).cloned())
            .collect()
    }

    /// Resolves when a timer is set that is due before every other one (to wake a runner
    /// sleeping until the next one).
    pub async fn changed(&self) {
        self.changed.notified().await
    }
}

#[async_trait]
impl Timers for MemoryTimers {
    async fn schedule(&self, at: DateTime<Utc>, event: &QueueEvent) -> Result<(), TimerError> {
        let name = crate::adapters::timer_name(event);
        let mut pending = lock(&self.pending);
        if pending.by_name.contains_key(&name) {
            // Like a schedule of that name: the first one set stands.
            return Ok(());
        }
        let earliest = pending.by_due.first().is_none_or(|(first, _)| at < *first);
        pending.by_due.insert((at, name.clone()));
        pending.by_name.insert(name, (at, event.clone()));
        drop(pending);
        if earliest {
            self.changed.notify_waiters();
        }
        Ok(())
    }
}

/// Sessions in a map, with versions and expiry like the DynamoDB store.
#[derive(Default)]
pub struct MemorySessionStore {
    records: Mutex<HashMap<String, (u64, SessionRecord)>>,
    /// Another name of a customer → (their key, until).
    links: Mutex<HashMap<String, (String, DateTime<Utc>)>>,
}

impl MemorySessionStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn load_key(&self, key: &str, now: DateTime<Utc>) -> Option<SessionRecord> {
        lock(&self.records)
            .get(key)
            .filter(|(_, r)| !r.session.is_expired(now))
            .map(|(version, record)| SessionRecord {
                version: *version,
                ..record.clone()
            })
    }
}

#[async_trait]
impl SessionStore for MemorySessionStore {
    async fn load(
        &self,
        customer: &CustomerId,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionRecord>, StoreError> {
        if let Some(record) = self.load_key(customer.key(), now) {
            return Ok(Some(record));
        }
        let target = lock(&self.links)
            .get(customer.key())
            .filter(|(_, until)| *until > now)
            .map(|(key, _)| key.clone());
        Ok(target.and_then(|key| self.load_key(&key, now)))
    }

    async fn erase(&self, customer: &CustomerId) -> Result<bool, StoreError> {
        let removed = lock(&self.records).remove(customer.key());
        let mut links = lock(&self.links);
        let linked = links.remove(customer.key()).is_some();
        if let Some((_, record)) = &removed {
            for alias in &record.session.aliases {
                if links
                    .get(alias.key())
                    .is_some_and(|(key, _)| key == customer.key())
                {
                    links.remove(alias.key());
                }
            }
        }
        Ok(removed.is_some() || linked)
    }

    async fn save(&self, record: &SessionRecord, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut records = lock(&self.records);
        let key = record.session.customer.key();
        let current = records
            .get(key)
            .map(|(v, r)| (*v, r.session.is_expired(now)));
        let next = match current {
            Some((stored, _)) if stored == record.version => stored + 1,
            // An expired record counts as absent; its version keeps counting up.
            Some((stored, true)) if record.version == 0 => stored + 1,
            None if record.version == 0 => 1,
            _ => return Err(StoreError::Conflict),
        };
        records.insert(key.to_owned(), (next, record.clone()));
        // A record of its own replaces a link under its key.
        lock(&self.links).remove(key);
        Ok(next)
    }

    async fn link(
        &self,
        alias: &CustomerId,
        customer: &CustomerId,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let records = lock(&self.records);
        if records
            .get(alias.key())
            .is_some_and(|(_, r)| !r.session.is_expired(now))
        {
            return Ok(false);
        }
        lock(&self.links).insert(alias.key().to_owned(), (customer.key().to_owned(), until));
        Ok(true)
    }
}

/// Waiting customers in a vector, ordered on read; alert marks beside them.
#[derive(Default)]
pub struct MemoryAttendanceQueue {
    entries: Mutex<Vec<WaitingCustomer>>,
    alerts: Mutex<HashMap<String, AlertMark>>,
}

impl MemoryAttendanceQueue {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl AttendanceQueue for MemoryAttendanceQueue {
    async fn enqueue(&self, entry: WaitingCustomer) -> Result<(), StoreError> {
        let mut entries = lock(&self.entries);
        let present = entries
            .iter()
            .any(|e| e.department == entry.department && e.customer == entry.customer);
        if !present {
            entries.push(entry);
        }
        Ok(())
    }

    async fn waiting(&self, now: DateTime<Utc>) -> Result<Vec<WaitingCustomer>, StoreError> {
        let mut all: Vec<WaitingCustomer> = lock(&self.entries)
            .iter()
            .filter(|w| w.is_live(now))
            .cloned()
            .collect();
        all.sort_by(|a, b| {
            (&a.department, a.priority, a.entered_at).cmp(&(
                &b.department,
                b.priority,
                b.entered_at,
            ))
        });
        Ok(all)
    }

    async fn position(
        &self,
        department: &str,
        customer: &CustomerId,
        now: DateTime<Utc>,
    ) -> Result<Option<usize>, StoreError> {
        let line = self.waiting(now).await?;
        Ok(line
            .iter()
            .filter(|w| w.department == department)
            .position(|w| &w.customer == customer)
            .map(|i| i + 1))
    }

    async fn take(&self, entry: &WaitingCustomer) -> Result<bool, StoreError> {
        let mut entries = lock(&self.entries);
        let before = entries.len();
        entries.retain(|e| {
            !(e.department == entry.department
                && e.customer == entry.customer
                && e.entered_at == entry.entered_at)
        });
        Ok(entries.len() < before)
    }

    async fn remove(&self, department: &str, customer: &CustomerId) -> Result<(), StoreError> {
        lock(&self.entries).retain(|e| !(e.department == department && &e.customer == customer));
        Ok(())
    }

    async fn renew(
        &self,
        department: &str,
        customer: &CustomerId,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        for e in lock(&self.entries).iter_mut() {
            if e.department == department && &e.customer == customer {
                e.expires_at = Some(expires_at);
            }
        }
        Ok(())
    }

    async fn claim_alert(
        &self,
        alert: &SlaAlert,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        if let SlaAlert::Wait { entry, .. } = alert {
            let waiting = lock(&self.entries).iter().any(|e| {
                e.department == entry.department
                    && e.customer == entry.customer
                    && e.entered_at == entry.entered_at
            });
            if !waiting {
                return Ok(false);
            }
        }
        let mut alerts = lock(&self.alerts);
        let mark = alerts.entry(alert_id(alert)).or_default();
        if mark.sent || mark.claimed_until.is_some_and(|end| end > now) {
            return Ok(false);
        }
        mark.claimed_until = Some(until);
        Ok(true)
    }

    async fn settle_alert(&self, alert: &SlaAlert, sent: bool) -> Result<(), StoreError> {
        let mut alerts = lock(&self.alerts);
        if let Some(mark) = alerts.get_mut(&alert_id(alert)) {
            mark.claimed_until = None;
            mark.sent |= sent;
        }
        Ok(())
    }
}

/// Where an alert stands: claimed by a checker until a time, or sent.
#[derive(Default)]
struct AlertMark {
    claimed_until: Option<DateTime<Utc>>,
    sent: bool,
}

/// The one key of an alert: the wait it is about and, in line, the level.
fn alert_id(alert: &SlaAlert) -> String {
    match alert {
        SlaAlert::Wait { entry, level } => format!(
            "wait#{}#{}#{}#{level:?}",
            entry.department,
            entry.customer.key(),
            entry.entered_at.to_rfc3339()
        ),
        SlaAlert::Reply {
            department,
            customer,
            since,
            ..
        } => format!(
            "reply#{department}#{}#{}",
            customer.key(),
            since.to_rfc3339()
        ),
    }
}

/// SQS FIFO's deduplication window.
const DEDUP_WINDOW: Duration = Duration::minutes(5);

/// An in-process FIFO queue: deduplicates by event id for five minutes like SQS FIFO, and hands
/// events to a consumer in arrival order (`next`, or `take` to keep counting an event until it
/// is done with).
///
/// A `bounded` queue holds at most so many events, waiting or taken and not yet done with; past
/// that it refuses (`QueueError::Unavailable`): the webhook answers 500 and Meta delivers again
/// later, instead of the backlog growing without limit in memory.
pub struct MemoryEventQueue {
    state: Mutex<QueueState>,
    ready: Notify,
    refusing: AtomicBool,
    capacity: Option<usize>,
}

#[derive(Default)]
struct QueueState {
    pending: VecDeque<QueueEvent>,
    /// Event ids accepted in the deduplication window, and the same in order of acceptance
    /// (to forget the old ones without a scan).
    seen: HashMap<String, DateTime<Utc>>,
    seen_in_order: VecDeque<(DateTime<Utc>, String)>,
    /// TakenEvent with `take` and not done with yet.
    taken: usize,
}

impl Default for MemoryEventQueue {
    fn default() -> Self {
        Self {
            state: Mutex::default(),
            ready: Notify::new(),
            refusing: AtomicBool::new(false),
            capacity: None,
        }
    }
}

/// An event taken from a queue with `take`: it counts against the queue's capacity until this
/// is dropped.
pub struct TakenEvent {
    pub event: QueueEvent,
    queue: std::sync::Arc<MemoryEventQueue>,
}

impl Drop for TakenEvent {
    fn drop(&mut self) {
        let mut state = lock(&self.queue.state);
        state.taken = state.taken.saturating_sub(1);
    }
}

impl MemoryEventQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// A queue that refuses events past `capacity` held (waiting, or taken and not done with).
    pub fn bounded(capacity: usize) -> Self {
        Self {
            capacity: Some(capacity),
            ..Self::default()
        }
    }

    /// Waits for the next event.
    pub async fn next(&self) -> QueueEvent {
        loop {
            let notified = self.ready.notified();
            if let Some(event) = lock(&self.state).pending.pop_front() {
                return event;
            }
            notified.await;
        }
    }

    /// Waits for the next event, which stays counted against the capacity until the `TakenEvent`
    /// is dropped.
    pub async fn take(self: &std::sync::Arc<Self>) -> TakenEvent {
        loop {
            let notified = self.ready.notified();
            {
                let mut state = lock(&self.state);
                if let Some(event) = state.pending.pop_front() {
                    state.taken += 1;
                    return TakenEvent {
                        event,
                        queue: self.clone(),
                    };
                }
            }
            notified.await;
        }
    }

    /// Events held: waiting, or taken and not done with.
    pub fn held(&self) -> usize {
        let state = lock(&self.state);
        state.pending.len() + state.taken
    }

    /// Takes every pending event.
    pub fn drain(&self) -> Vec<QueueEvent> {
        lock(&self.state).pending.drain(..).collect()
    }

    /// Makes the queue refuse (or accept again) every enqueue: an outage, for tests of what
    /// the webhook answers then.
    pub fn set_refusing(&self, refusing: bool) {
        self.refusing.store(refusing, Ordering::SeqCst);
    }
}

#[async_trait]
impl EventQueue for MemoryEventQueue {
    async fn enqueue(&self, events: &[QueueEvent]) -> Result<(), QueueError> {
        if self.refusing.load(Ordering::SeqCst) {
            return Err(QueueError::Unavailable(
                "the queue is refusing events".into(),
            ));
        }
        let now = Utc::now();
        let mut state = lock(&self.state);
        while let Some((at, _)) = state.seen_in_order.front() {
            if now - *at < DEDUP_WINDOW {
                break;
            }
            if let Some((_, id)) = state.seen_in_order.pop_front() {
                state.seen.remove(&id);
            }
        }
        if let Some(capacity) = self.capacity {
            let new = events
                .iter()
                .filter(|e| !state.seen.contains_key(&e.id))
                .map(|e| &e.id)
                .collect::<std::collections::HashSet<_>>()
                .len();
            let held = state.pending.len() + state.taken;
            if new > 0 && held + new > capacity {
                // All or none: a refused batch is delivered again whole.
                return Err(QueueError::Unavailable(format!(
                    "the queue is full ({held} of {capacity} events held)"
                )));
            }
        }
        for event in events {
            // The window runs from the first acceptance, as SQS FIFO's does.
            if !state.seen.contains_key(&event.id) {
                state.seen.insert(event.id.clone(), now);
                state.seen_in_order.push_back((now, event.id.clone()));
                state.pending.push_back(event.clone());
            }
        }
        drop(state);
        self.ready.notify_waiters();
        self.ready.notify_one();
        Ok(())
    }
}

/// What the memory WhatsApp was asked to do.
// A test and chat record, kept in a Vec: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Delivery {
    Sent {
        from: String,
        to: CustomerId,
        message: OutboundMessage,
        id: String,
    },
    Read {
        from: String,
        message_id: String,
        /// "typing…" shown with it.
        typing: bool,
    },
}

/// Records every request instead of calling Meta: the terminal chat's and the tests' WhatsApp.
#[derive(Default)]
pub struct MemoryWhatsApp {
    deliveries: Mutex<Vec<Delivery>>,
    counter: AtomicU64,
    /// Sends left to fail before sending works again (fault injection for tests), and how.
    failures: AtomicU64,
    failure: Mutex<(u16, Option<i64>)>,
}

impl MemoryWhatsApp {
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything recorded so far, and forgets it.
    pub fn take(&self) -> Vec<Delivery> {
        std::mem::take(&mut *lock(&self.deliveries))
    }

    /// Everything recorded so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        lock(&self.deliveries).clone()
    }

    /// The bodies of the text messages sent so far, in order (other kinds left out).
    pub fn texts(&self) -> Vec<String> {
        lock(&self.deliveries)
            .iter()
            .filter_map(|d| match d {
                Delivery::Sent {
                    message: OutboundMessage::Text { body },
                    ..
                } => Some(body.clone()),
                _ => None,
            })
            .collect()
    }

    /// Makes the next `n` sends fail as if the Graph API were down (HTTP 503, code 131000).
    pub fn fail_next_sends(&self, n: u64) {
        self.fail_next_sends_with(n, 503, Some(131000));
    }

    /// Makes the next `n` sends fail with this HTTP status and Graph API error code.
    pub fn fail_next_sends_with(&self, n: u64, status: u16, code: Option<i64>) {
        *lock(&self.failure) = (status, code);
        self.failures.store(n, Ordering::SeqCst);
    }
}

#[async_trait]
impl WhatsApp for MemoryWhatsApp {
    async fn send(
        &self,
        from: &str,
        to: &CustomerId,
        message: &crate::domain::Sendable,
    ) -> Result<SentMessage, WhatsAppError> {
        let failing = self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            let (status, code) = *lock(&self.failure);
            return Err(WhatsAppError::Api {
                status,
                code,
                message: "injected failure".into(),
            });
        }
        let id = format!(
            "wamid.memory.{}",
            self.counter.fetch_add(1, Ordering::SeqCst) + 1
        );
        lock(&self.deliveries).push(Delivery::Sent {
            from: from.to_owned(),
            to: to.clone(),
            message: message.message().clone(),
            id: id.clone(),
        });
        Ok(SentMessage { id })
    }

    async fn mark_read(
        &self,
        from: &str,
        message_id: &str,
        typing: bool,
    ) -> Result<(), WhatsAppError> {
        lock(&self.deliveries).push(Delivery::Read {
            from: from.to_owned(),
            message_id: message_id.to_owned(),
            typing,
        });
        Ok(())
    }

    /// Every media id holds the bytes `media:<id>`, a JPEG by type.
    async fn media(&self, media_id: &str) -> Result<crate::ports::Media, WhatsAppError> {
        Ok(crate::ports::Media {
            bytes: format!("media:{media_id}").into_bytes(),
            mime_type: "image/jpeg".into(),
        })
    }
}

/// The real time.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told to.
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    pub fn set(&self, now: DateTime<Utc>) {
        *lock(&self.now) = now;
    }

    pub fn advance(&self, by: Duration) {
        *lock(&self.now) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *lock(&self.now)
    }
}

/// An assistant with canned answers, chosen by a word of the question (case and accents
/// ignored); for tests and demonstrations. It records every question it was asked.
#[derive(Default)]
pub struct MemoryAssistant {
    /// (folded word, answer, wants a human)
    answers: Vec<(String, String, bool)>,
    fallback: Option<(String, bool)>,
    asked: Mutex<Vec<(String, usize)>>,
    failing: AtomicBool,
}

impl MemoryAssistant {
    pub fn new() -> Self {
        Self::default()
    }

    /// Answers questions containing `word` with `answer`.
    pub fn answer_when(mut self, word: &str, answer: &str, wants_human: bool) -> Self {
        self.answers.push((
            crate::domain::text::fold(word),
            answer.to_owned(),
            wants_human,
        ));
        self
    }

    /// Answers any other question with `answer`.
    pub fn otherwise(mut self, answer: &str, wants_human: bool) -> Self {
        self.fallback = Some((answer.to_owned(), wants_human));
        self
    }

    /// Makes every question fail, as an unreachable assistant would.
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// The questions asked so far, with how many lines of history came with each.
    pub fn asked(&self) -> Vec<(String, usize)> {
        lock(&self.asked).clone()
    }
}

#[async_trait]
impl crate::ports::Assistant for MemoryAssistant {
    async fn answer(
        &self,
        request: crate::ports::AssistantRequest<'_>,
    ) -> Result<crate::ports::AssistantReply, crate::ports::AssistantError> {
        lock(&self.asked).push((request.question.to_owned(), request.history.len()));
        if self.failing.load(Ordering::SeqCst) {
            return Err(crate::ports::AssistantError::Unavailable(
                "injected failure".into(),
            ));
        }
        let question = crate::domain::text::fold(request.question);
        let found = self
            .answers
            .iter()
            .find(|(word, _, _)| crate::domain::text::has_folded_phrase(&question, word))
            .map(|(_, a, h)| (a.clone(), *h))
            .or_else(|| self.fallback.clone());
        match found {
            Some((text, wants_human)) => Ok(crate::ports::AssistantReply { text, wants_human }),
            None => Err(crate::ports::AssistantError::Unavailable(
                "no canned answer".into(),
            )),
        }
    }
}

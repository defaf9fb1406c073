//! The capabilities the application needs from the outside world. Each port has a memory
//! adapter and one shared contract test suite (`tests/` at the workspace root) that every
//! adapter of the port passes.

use crate::domain::sla::{SlaLevel, WaitingCustomer};
use crate::domain::{CustomerId, OutboundMessage, QueueEvent, SessionRecord, Turn};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Why a store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Somebody else saved the record since it was read: reload and apply again.
    #[error("the record changed since it was read")]
    Conflict,
    /// The stored data cannot be read back (a bug or a manual edit): never overwritten blindly.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
}

/// Customer sessions, one per customer, for the 24-hour service window.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// The customer's record, or `None` when there is none or it expired at `now`.
    async fn load(
        &self,
        customer: &CustomerId,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionRecord>, StoreError>;

    /// Saves `record` if the store still holds `record.version` (0: holds nothing, or only a
    /// record expired at `now`) and returns the new version; `StoreError::Conflict` otherwise.
    /// The record expires at `record.session.expires_at()`.
    async fn save(&self, record: &SessionRecord, now: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// The customers waiting for a human, per department.
#[async_trait]
pub trait AttendanceQueue: Send + Sync {
    /// Adds a customer; a customer already waiting in that department keeps their place.
    async fn enqueue(&self, entry: WaitingCustomer) -> Result<(), StoreError>;
    /// Everyone waiting, per department in priority-then-arrival order.
    async fn waiting(&self) -> Result<Vec<WaitingCustomer>, StoreError>;
    /// The customer's place in a department's line (1 = next), `None` when not waiting there.
    async fn position(
        &self,
        department: &str,
        customer: &CustomerId,
    ) -> Result<Option<usize>, StoreError>;
    /// Takes the first customer in a department's line for an agent, atomically: however many
    /// agents claim at once, each customer goes to exactly one. `None` when nobody waits.
    async fn claim_next(&self, department: &str) -> Result<Option<WaitingCustomer>, StoreError>;
    /// Takes a customer out of a department's queue; absent customers are not an error.
    async fn remove(&self, department: &str, customer: &CustomerId) -> Result<(), StoreError>;
    /// Records that supervisors were alerted at `level` about this wait (the entry as
    /// `waiting` returned it). True only the first time for that wait and level, however many
    /// checkers run at once; false too when the customer no longer waits there.
    async fn mark_alerted(
        &self,
        entry: &WaitingCustomer,
        level: SlaLevel,
    ) -> Result<bool, StoreError>;
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Some events were not accepted; none of the listed ids may be assumed enqueued.
    #[error("the queue refused {} event(s): {reason}", failed.len())]
    Refused { failed: Vec<String>, reason: String },
    #[error("the queue is unavailable: {0}")]
    Unavailable(String),
}

/// The ordered, deduplicated queue between the webhook and the processor.
#[async_trait]
pub trait EventQueue: Send + Sync {
    /// Enqueues every event, ordered per customer, deduplicated by event id. `Ok` means all
    /// of them are durably accepted.
    async fn enqueue(&self, events: &[QueueEvent]) -> Result<(), QueueError>;
}

#[derive(Debug, thiserror::Error)]
pub enum WhatsAppError {
    /// The Graph API answered with an error object.
    #[error("Graph API error {code:?} (HTTP {status}): {message}")]
    Api {
        status: u16,
        code: Option<i64>,
        message: String,
    },
    /// No answer was received; whether the request took effect is unknown.
    #[error("Graph API request failed: {0}")]
    Transport(String),
}

impl WhatsAppError {
    /// Graph API error codes that mean "try again later" (throughput, pair rate, transient).
    const RETRYABLE_CODES: [i64; 6] = [130429, 131056, 131000, 131016, 1, 2];

    /// True when sending the same request again can never succeed (undeliverable, invalid
    /// parameter, expired token, window closed…): a 4xx other than 429 whose code is not a
    /// transient one. Transport failures and 5xx are never permanent.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Api { status, code, .. } => {
                (400..500).contains(status)
                    && *status != 429
                    && !code.is_some_and(|c| Self::RETRYABLE_CODES.contains(&c))
            }
            Self::Transport(_) => false,
        }
    }
}

/// The id WhatsApp gave a message we sent (`wamid…`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentMessage {
    pub id: String,
}

/// The WhatsApp Cloud API, as the processor uses it.
#[async_trait]
pub trait WhatsApp: Send + Sync {
    /// Sends `message` to `to` from the business number `from` (a phone number id).
    async fn send(
        &self,
        from: &str,
        to: &CustomerId,
        message: &OutboundMessage,
    ) -> Result<SentMessage, WhatsAppError>;

    /// Marks a customer's message as read.
    async fn mark_read(&self, from: &str, message_id: &str) -> Result<(), WhatsAppError>;
}

/// What the AI assistant is asked.
#[derive(Clone, Copy, Debug)]
pub struct AssistantRequest<'a> {
    pub model: &'a str,
    pub max_tokens: u32,
    pub system_prompt: &'a str,
    /// The conversation before the question, oldest first.
    pub history: &'a [Turn],
    pub question: &'a str,
}

/// The assistant's answer; `wants_human` when it decided a person should take over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssistantReply {
    pub text: String,
    pub wants_human: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AssistantError {
    #[error("the assistant did not answer: {0}")]
    Unavailable(String),
}

/// An AI assistant that answers customers' free text.
#[async_trait]
pub trait Assistant: Send + Sync {
    async fn answer(&self, request: AssistantRequest<'_>)
    -> Result<AssistantReply, AssistantError>;
}

#[derive(Debug, thiserror::Error)]
pub enum TimerError {
    #[error("the scheduler is unavailable: {0}")]
    Unavailable(String),
}

/// One-off timers that come back as events on the event queue, in the customer's group.
#[async_trait]
pub trait Timers: Send + Sync {
    /// Delivers `event` to the event queue at `at` (or a little later; at once when `at` has
    /// passed). Scheduling an event with the same customer and id again is not an error and
    /// delivers it once.
    async fn schedule(&self, at: DateTime<Utc>, event: &QueueEvent) -> Result<(), TimerError>;
}

/// The time, so that tests can hold it still.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

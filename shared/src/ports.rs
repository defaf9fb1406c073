//! The capabilities the application needs from the outside world. Each port has a memory
//! adapter and one shared contract test suite (`tests/` at the workspace root) that every
//! adapter of the port passes.

use crate::domain::agent::{Agent, AgentProfile, Presence, Reservation};
use crate::domain::event::DeliveryStatus;
use crate::domain::live::{Connection, Listener};
use crate::domain::log::{Erasure, LogEntry, LoggedLine};
use crate::domain::sla::{SlaAlert, WaitingCustomer};
use crate::domain::{CustomerId, QueueEvent, Sendable, SessionRecord, Turn};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;

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

    /// Deletes the customer's record, live or expired, and the links to it (its session's
    /// `aliases`); true when there was one.
    async fn erase(&self, customer: &CustomerId) -> Result<bool, StoreError>;

    /// Makes `alias` another name of `customer` until `until`: `load(alias)` gives the record
    /// kept under `customer` (one hop). `Ok(false)`, and nothing changes, while a live record
    /// of its own is kept under `alias`. A record saved under `alias` (version 0) replaces the
    /// link.
    async fn link(
        &self,
        alias: &CustomerId,
        customer: &CustomerId,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}

/// The customers waiting for a human, per department.
#[async_trait]
pub trait AttendanceQueue: Send + Sync {
    /// Adds a customer; a customer already waiting in that department keeps their place.
    async fn enqueue(&self, entry: WaitingCustomer) -> Result<(), StoreError>;
    /// Everyone waiting at `now`, per department in priority-then-arrival order; a wait past
    /// its `expires_at` is gone (whatever the store still holds until its TTL).
    async fn waiting(&self, now: DateTime<Utc>) -> Result<Vec<WaitingCustomer>, StoreError>;
    /// The customer's place in a department's line at `now` (1 = next; expired waits ahead
    /// do not count), `None` when not waiting there.
    async fn position(
        &self,
        department: &str,
        customer: &CustomerId,
        now: DateTime<Utc>,
    ) -> Result<Option<usize>, StoreError>;
    /// Moves the end of the customer's wait in a department to `expires_at` (they wrote again,
    /// their window runs on); nothing when they do not wait there.
    async fn renew(
        &self,
        department: &str,
        customer: &CustomerId,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Takes this wait (the entry as `waiting` returned it) out of the line for an agent,
    /// atomically: however many agents take it at once, exactly one gets `true`. False when
    /// the customer no longer waits there.
    async fn take(&self, entry: &WaitingCustomer) -> Result<bool, StoreError>;
    /// Takes a customer out of a department's queue; absent customers are not an error.
    async fn remove(&self, department: &str, customer: &CustomerId) -> Result<(), StoreError>;
    /// Claims `alert` for the caller until `until`, to deliver it: true only when it was
    /// neither sent nor claimed by a live claim, however many checkers run at once; false too
    /// when the customer no longer waits there. A claim never settled (the checker died)
    /// ends at `until`, and a later run claims the alert again.
    async fn claim_alert(
        &self,
        alert: &SlaAlert,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Settles a claimed alert: `sent` marks it sent for good; otherwise the claim is let go
    /// and the next run tries again. Nothing happens when the wait is over.
    async fn settle_alert(&self, alert: &SlaAlert, sent: bool) -> Result<(), StoreError>;
}

/// The staff: who they are, where they work, whether they take customers now, and whose
/// conversations each holds.
#[async_trait]
pub trait Agents: Send + Sync {
    async fn get(&self, id: &str) -> Result<Option<Agent>, StoreError>;
    /// Every agent, by name.
    async fn list(&self) -> Result<Vec<Agent>, StoreError>;
    /// Creates the agent (away, holding nothing) or changes their profile, keeping their
    /// presence and conversations.
    async fn put_profile(&self, profile: &AgentProfile) -> Result<(), StoreError>;
    /// False when there is no such agent.
    async fn set_presence(&self, id: &str, presence: Presence) -> Result<bool, StoreError>;
    /// Reserves one of the agent's places for the customer's conversation, atomically:
    /// however many reservations race, an agent never holds more than their capacity
    /// (`default_capacity` unless their profile sets one), and an away agent gets none.
    /// Reserving a customer the agent already holds is `Reserved` and takes no new place.
    async fn reserve(
        &self,
        id: &str,
        customer: &CustomerId,
        default_capacity: u32,
    ) -> Result<Reservation, StoreError>;
    /// Gives the customer's place back (nothing when the agent does not hold it).
    async fn release(&self, id: &str, customer: &CustomerId) -> Result<(), StoreError>;
}

/// A page of a customer's conversation log, oldest first, and the cursor for the lines
/// before it (none when this page starts at the beginning).
#[derive(Clone, Debug, PartialEq)]
pub struct LogPage {
    pub lines: Vec<LoggedLine>,
    pub before: Option<String>,
}

/// Every line of customers' conversations, kept for the retention period.
#[async_trait]
pub trait ConversationLog: Send + Sync {
    /// Writes a line under `key` (`log::log_key`); writing the same key again replaces it.
    /// It is forgotten at `expires_at`.
    async fn write(
        &self,
        customer: &CustomerId,
        key: &str,
        entry: &LogEntry,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Records the delivery status of a message sent (by its WhatsApp id), unless it already
    /// has one as far along or further (`DeliveryStatus::rank`): statuses arriving late or
    /// twice never move it back.
    async fn set_status(
        &self,
        customer: &CustomerId,
        message_id: &str,
        status: &DeliveryStatus,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// At most `limit` lines before the key `before` (the latest when `None`), oldest first,
    /// each sent message with its status; lines past their expiry are not returned.
    async fn page(
        &self,
        customer: &CustomerId,
        before: Option<&str>,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<LogPage, StoreError>;
    /// Deletes everything kept of the customer; returns how many items went.
    async fn erase(&self, customer: &CustomerId) -> Result<usize, StoreError>;

    /// Keeps the record that a customer's data was erased (it names them only by digest).
    async fn record_erasure(&self, erasure: &Erasure) -> Result<(), StoreError>;

    /// The erasures recorded, oldest first.
    async fn erasures(&self) -> Result<Vec<Erasure>, StoreError>;
}

/// What became of a plain delivery status the webhook tried to record itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Advance {
    /// Recorded, or the message's status was already as far along: nothing more to do.
    Recorded,
    /// Not a message known as the bot's (not logged yet, sent by an agent, or under another
    /// name of the customer): the processor must see the status.
    ForTheProcessor,
}

/// Moves the delivery status of a message the bot sent forward, for the webhook: Meta sends
/// three statuses per message, and a plain one (sent, delivered, read) of a known bot message
/// needs nothing but this.
#[async_trait]
pub trait DeliveryStatuses: Send + Sync {
    /// Records `status` (a plain one: `DeliveryStatus::rank` 1 to 3) on the message if it is
    /// one the bot sent, moving it forward only.
    async fn advance(
        &self,
        customer: &CustomerId,
        message_id: &str,
        status: &DeliveryStatus,
    ) -> Result<Advance, StoreError>;
}

/// Files: what customers sent (downloaded from WhatsApp) and what agents upload, kept
/// encrypted and private for the retention period, handed out as short-lived links.
#[async_trait]
pub trait MediaStore: Send + Sync {
    /// Keeps `bytes` under `key` (writing the same key again replaces it).
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), StoreError>;
    /// A link that fetches the object for `valid_for`, to whoever holds it (an agent's
    /// browser, WhatsApp's servers).
    async fn link(&self, key: &str, valid_for: std::time::Duration) -> Result<String, StoreError>;
    /// Deletes every object whose key starts with `prefix`; returns how many went.
    async fn erase_prefix(&self, prefix: &str) -> Result<usize, StoreError>;
}

/// Where a customer's files are kept: `<customer>/in/<WhatsApp media id>` for theirs,
/// `<customer>/out/<name>` for the agents'. Erasing the customer erases `<customer>/`.
pub fn media_key(customer: &CustomerId, direction: &str, name: &str) -> String {
    format!("{}/{direction}/{name}", customer.key())
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
    /// The request never reached the Graph API (no connection): sending again is safe.
    #[error("Graph API unreachable: {0}")]
    Transport(String),
    /// The request went out and no answer came back (a timeout): WhatsApp may have delivered
    /// it. Never sent again blindly (a duplicate is worse than a late answer); the status
    /// webhooks tell what happened.
    #[error("no answer from the Graph API; the message may have gone out: {0}")]
    OutcomeUnknown(String),
}

/// What a failed send calls for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Transient (131000, 131016, 1, 2, HTTP 5xx, no connection): try again.
    Retry,
    /// Over a rate limit (130429 throughput, 131056 pair rate, 4 app, 80007 account, 131048
    /// spam rate, HTTP 429): try again later, backing off.
    Throttled,
    /// The business account cannot send at all (0 refused login, 190 expired token, 10 and
    /// 200–299 permissions, 368 temporarily blocked, 131031 account locked, 131042 payment;
    /// any HTTP 401 or 403 without a code): nothing will go out until someone fixes it, so the
    /// event fails (to be retried, then replayed from the dead-letter queue) instead of
    /// dropping the reply, and `Metric::AccountFailures` alarms.
    Account,
    /// The customer's 24-hour window is closed (131047): only a template may go.
    WindowClosed,
    /// It can never succeed for this message (131026 undeliverable, 100 bad parameter,
    /// 130403, 131050, any other 4xx): never retried.
    Permanent,
    /// It may have gone out: never sent again.
    Unknown,
}

impl WhatsAppError {
    /// The Graph API error code, if the API answered with one.
    pub fn code(&self) -> Option<i64> {
        match self {
            Self::Api { code, .. } => *code,
            _ => None,
        }
    }

    /// Classifies the failure by the Graph API's `error.code`, then the HTTP status.
    pub fn failure(&self) -> Failure {
        match self {
            Self::Api { status, code, .. } => match code {
                Some(130429 | 131056 | 4 | 80007 | 131048) => Failure::Throttled,
                Some(0 | 190 | 10 | 200..=299 | 368 | 131031 | 131042) => Failure::Account,
                Some(131000 | 131016 | 1 | 2) => Failure::Retry,
                Some(131047) => Failure::WindowClosed,
                None if *status == 401 || *status == 403 => Failure::Account,
                _ if *status == 429 => Failure::Throttled,
                // A 5xx with a Graph error code (1, 2, 131000) is WhatsApp's own "not done,
                // try again". Without one it came from something in between (a proxy, a load
                // balancer) that cannot say whether the message went out: wait for its status
                // rather than resend it blindly.
                Some(_) if *status >= 500 => Failure::Retry,
                None if *status >= 500 => Failure::Unknown,
                _ if (400..500).contains(status) => Failure::Permanent,
                _ => Failure::Retry,
            },
            Self::Transport(_) => Failure::Retry,
            Self::OutcomeUnknown(_) => Failure::Unknown,
        }
    }

    /// True when sending the same request again can never succeed.
    pub fn is_permanent(&self) -> bool {
        matches!(self.failure(), Failure::Permanent | Failure::WindowClosed)
    }
}

/// The id WhatsApp gave a message we sent (`wamid…`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentMessage {
    pub id: String,
}

/// The longest one call of the `WhatsApp` port may take, its retries included (a send's, a
/// read receipt's); the processor holds adapters to it (past it, the outcome is unknown).
pub const WHATSAPP_CALL_LIMIT: Duration = Duration::from_secs(10);

/// The longest the assistant may take to answer, its retries included; past it the engine
/// apologises and hands over.
pub const ASSISTANT_TIME_LIMIT: Duration = Duration::from_secs(15);

/// The longest a notice to the staff may take, every channel and supervisor side by side.
pub const NOTICE_TIME_LIMIT: Duration = Duration::from_secs(10);

/// The WhatsApp Cloud API, as the processor uses it.
#[async_trait]
pub trait WhatsApp: Send + Sync {
    /// Sends `message` to `to` from the business number `from` (a phone number id).
    async fn send(
        &self,
        from: &str,
        to: &CustomerId,
        message: &Sendable,
    ) -> Result<SentMessage, WhatsAppError>;

    /// Marks a customer's message as read; with `typing`, shows "typing…" until the reply
    /// (or 25 seconds).
    async fn mark_read(
        &self,
        from: &str,
        message_id: &str,
        typing: bool,
    ) -> Result<(), WhatsAppError>;

    /// Downloads a file a customer sent, by its WhatsApp media id (downloadable for some
    /// days after the message).
    async fn media(&self, media_id: &str) -> Result<Media, WhatsAppError>;
}

/// A file downloaded from WhatsApp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Media {
    pub bytes: Vec<u8>,
    pub mime_type: String,
}

/// The largest file atende downloads from WhatsApp (documents may have up to 100 MB).
pub const MAX_MEDIA_BYTES: usize = 100 * 1024 * 1024;

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

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("the channel did not take the notice: {0}")]
    Failed(String),
}

/// A channel the staff read: supervisors' WhatsApp, a chat webhook.
#[async_trait]
pub trait Notifications: Send + Sync {
    /// Delivers the notice. `from` is the business number (phone number id) the customer
    /// wrote to, when the notice is about a conversation.
    async fn notify(
        &self,
        notice: &crate::domain::notice::Notice,
        from: Option<&str>,
    ) -> Result<(), NotifyError>;
}

/// The console pages listening for live updates, and the one-time tickets that open them.
#[async_trait]
pub trait LiveConnections: Send + Sync {
    /// Keeps a ticket for `listener` until `expires_at`.
    async fn put_ticket(
        &self,
        ticket: &str,
        listener: &Listener,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Takes the ticket, once: a second take, or one after it expired, finds nothing.
    async fn take_ticket(
        &self,
        ticket: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Listener>, StoreError>;
    /// Keeps an open connection (replacing one with the same id).
    async fn add(&self, connection: &Connection) -> Result<(), StoreError>;
    /// Forgets a connection (nothing when it is not kept).
    async fn remove(&self, id: &str) -> Result<(), StoreError>;
    /// The connections kept and not expired at `now`.
    async fn list(&self, now: DateTime<Utc>) -> Result<Vec<Connection>, StoreError>;
}

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The connection is closed: forget it.
    #[error("the connection is gone")]
    Gone,
    #[error("push failed: {0}")]
    Failed(String),
}

/// Sends a frame to one open connection of a console page.
#[async_trait]
pub trait Push: Send + Sync {
    async fn push(&self, connection: &str, frame: &str) -> Result<(), PushError>;
}

/// Business metrics (`metrics::EmfMetrics` on Lambda, `metrics::MemoryMetrics` in tests).
pub use crate::metrics::{Metric, Metrics};

/// The time, so that tests can hold it still.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("secret store unavailable: {0}")]
    Unavailable(String),
}

/// Where the deployment keeps its secrets (the app secret, tokens, keys): read once, at start.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// The secret kept under `id` (a Secrets Manager ARN or name); `None` when there is none,
    /// or it is blank.
    async fn secret(&self, id: &str) -> Result<Option<crate::secret::Secret>, SecretsError>;
}

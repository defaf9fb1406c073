//! A customer's conversation: where it stands and what it collected so far.

use crate::domain::customer::CustomerId;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// WhatsApp's customer-service window: free-form replies are allowed for 24 hours after the
/// customer's last message, and a session lives exactly as long.
pub const SERVICE_WINDOW: Duration = Duration::hours(24);

/// Where a conversation stands. Each state carries the data it needs (none yet).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum State {
    /// A new conversation (`INICIO`).
    #[default]
    Start,
    /// The main menu was shown and the customer picks from it (`MENU_PRINCIPAL`).
    MainMenu,
    /// Support: waiting for the problem's description (`SUPORTE_AGUARDANDO_DETALHES`).
    SupportDetails { department: String },
    /// Support: description taken, an attachment may follow (`SUPORTE_AGUARDANDO_ANEXO`).
    SupportAttachment { department: String, details: String },
    /// Sales: the catalog was shown (`VENDAS_CATALOGO`).
    SalesCatalog { department: String },
    /// Sales: an item was chosen and awaits confirmation (`VENDAS_CHECKOUT`).
    SalesCheckout { department: String, item: String },
    /// Finance: waiting for the CPF or CNPJ for a bill's second copy (`FINANCEIRO_SEGUNDA_VIA`).
    FinanceDocument { department: String },
    /// Waiting for, or talking to, a person (`ATENDIMENTO_HUMANO`): the bot stays quiet.
    Human {
        department: String,
        since: DateTime<Utc>,
        /// The place in line the customer was last told.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        told_position: Option<usize>,
        /// The person talking with the customer; nobody yet while they wait in line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent: Option<crate::domain::agent::AgentRef>,
        /// Since when the customer waits for the agent's answer: their first message since
        /// the agent last wrote (or since the claim).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        awaiting_reply_since: Option<DateTime<Utc>>,
    },
    /// Free text is answered by the AI assistant (`ATENDIMENTO_IA`).
    Assistant,
    /// The agent closed the conversation; the satisfaction question goes out shortly (or as
    /// soon as the customer writes).
    NpsPending,
    /// The satisfaction question (0–10) was asked (`PESQUISA_NPS`).
    Nps,
    /// The conversation is over (`FINALIZADO`); the next message starts a new one.
    Finished,
}

impl State {
    /// The department of the flow the conversation is in, if any.
    pub fn department(&self) -> Option<&str> {
        match self {
            Self::SupportDetails { department }
            | Self::SupportAttachment { department, .. }
            | Self::SalesCatalog { department }
            | Self::SalesCheckout { department, .. }
            | Self::FinanceDocument { department }
            | Self::Human { department, .. } => Some(department),
            Self::Start
            | Self::MainMenu
            | Self::Assistant
            | Self::NpsPending
            | Self::Nps
            | Self::Finished => None,
        }
    }

    /// The state's name, for handoff context and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::MainMenu => "main_menu",
            Self::SupportDetails { .. } => "support_details",
            Self::SupportAttachment { .. } => "support_attachment",
            Self::SalesCatalog { .. } => "sales_catalog",
            Self::SalesCheckout { .. } => "sales_checkout",
            Self::FinanceDocument { .. } => "finance_document",
            Self::Human { .. } => "human",
            Self::Assistant => "assistant",
            Self::NpsPending => "nps_pending",
            Self::Nps => "nps",
            Self::Finished => "finished",
        }
    }
}

/// Who said something in a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    Customer,
    Bot,
    Agent,
}

/// One line of a conversation, kept for the human who takes it over.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    pub from: Party,
    pub text: String,
    pub at: DateTime<Utc>,
}

/// How many sent messages a session follows the delivery of.
pub const OUTBOUND_TRACKED: usize = 50;

/// The key an id (a WhatsApp message id, an event id) is remembered under in a session: the
/// first 8 bytes of its SHA-256 in hex, 16 characters where WhatsApp's ids take about 60. A
/// session is written whole on every change and DynamoDB charges a write unit per KB begun;
/// two ids of one customer meet under one key once in 2^64 pairs. Records saved before keys
/// were digests are re-keyed when loaded (`SessionRecord::digest_ids`).
pub fn id_key(id: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(id.as_bytes())[..8])
}

/// Whether `key` is already an `id_key`.
fn is_id_key(key: &str) -> bool {
    key.len() == 16 && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `key` as an `id_key`, digesting it unless it is one already.
fn as_id_key(key: String) -> String {
    if is_id_key(&key) { key } else { id_key(&key) }
}

/// How many lines of conversation a session keeps for the handoff.
pub const HISTORY_TURNS: usize = 12;

/// A customer's words kept in the session (a line of history, a ticket's description, a Flow's
/// answer) are cut to this many characters: whatever customers type, a session stays far under
/// DynamoDB's 400 KB item limit. The whole text is in the conversation log.
pub const KEPT_TEXT_CHARS: usize = 1000;

/// At most this many answers of WhatsApp Flows are kept (the labelled ones first).
pub const FLOW_ANSWERS_KEPT: usize = 30;

/// `text` cut to at most `max` characters, with "…" when it was longer.
pub fn cut_to(text: &str, max: usize) -> String {
    match text.char_indices().nth(max.saturating_sub(1)) {
        Some((end, _)) if text.chars().count() > max => format!("{}…", &text[..end]),
        _ => text.to_owned(),
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub customer: CustomerId,
    pub state: State,
    /// When this conversation began.
    pub started_at: DateTime<Utc>,
    /// When the customer last wrote: opens the 24-hour window.
    pub last_inbound_at: DateTime<Utc>,
    /// Consecutive messages the bot did not understand.
    #[serde(default)]
    pub bot_attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_name: Option<String>,
    /// The off-hours period (named by when the business closed) whose notice this customer
    /// already got: the notice goes out once per period, not on every message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub off_hours_notice_for: Option<DateTime<Utc>>,
    /// Answers the customer gave in WhatsApp Flows (field → value), latest first wins.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub flow_answers: std::collections::BTreeMap<String, String>,
    /// The last messages sent to the customer, by `id_key` of the WhatsApp message id, with the delivery state
    /// this session was last saved with: a failure, or a status that confirmed a timed-out
    /// send. Plain statuses (sent, delivered, read) are kept by the conversation log only.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub outbound: std::collections::BTreeMap<String, crate::domain::event::DeliveryStatus>,
    /// WhatsApp refused a message because the 24-hour window had closed (error 131047);
    /// cleared by the customer's next message.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub window_closed: bool,
    /// The customer's answer to the satisfaction question, 0 to 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nps_score: Option<u8>,
    /// The last lines of the conversation (at most `HISTORY_TURNS`), oldest first.
    #[serde(default, skip_serializing_if = "std::collections::VecDeque::is_empty")]
    pub history: std::collections::VecDeque<Turn>,
    /// The timer of each kind that is set and has not gone off yet: a timer event that does
    /// not match is stale and does nothing.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub timers: std::collections::BTreeMap<crate::domain::timer::TimerKind, DateTime<Utc>>,
    /// Messages whose send timed out: they may have reached the customer. A status webhook
    /// carrying one's reference confirms it; those still unconfirmed when the `Unconfirmed`
    /// timer goes off are sent again.
    #[serde(default, skip_serializing_if = "std::collections::VecDeque::is_empty")]
    pub unconfirmed: std::collections::VecDeque<Unconfirmed>,
    /// The inactivity follow-up went out since the customer last wrote.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub followed_up: bool,
    /// How many lines of this conversation went to the conversation log.
    #[serde(default)]
    pub log_lines: u64,
    /// Why and with what the bot handed this conversation to a person, for the agents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff: Option<Handoff>,
    /// The customer's other names linked to this session (their phone beside a user id, or
    /// the reverse): events under them find it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<CustomerId>,
    /// When the links of `aliases` end (renewed before the session can outlive them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aliases_until: Option<DateTime<Utc>>,
}

/// What the bot learned before handing the conversation to a person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handoff {
    pub department: String,
    /// A trigger phrase, repeated misunderstandings, the end of a guided flow, the assistant.
    pub reason: String,
    /// Where the conversation was before.
    pub previous_state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<String>,
    pub at: DateTime<Utc>,
}

impl Session {
    pub fn new(customer: CustomerId, now: DateTime<Utc>) -> Self {
        Self {
            customer,
            state: State::Start,
            started_at: now,
            last_inbound_at: now,
            bot_attempts: 0,
            profile_name: None,
            off_hours_notice_for: None,
            flow_answers: Default::default(),
            outbound: Default::default(),
            window_closed: false,
            nps_score: None,
            history: Default::default(),
            timers: Default::default(),
            unconfirmed: Default::default(),
            followed_up: false,
            log_lines: 0,
            handoff: None,
            aliases: Vec::new(),
            aliases_until: None,
        }
    }

    /// Records a message we sent, as `sent`, forgetting the oldest beyond `OUTBOUND_TRACKED`.
    pub fn track_sent(&mut self, message_id: &str) {
        if message_id.is_empty() {
            return;
        }
        let key = id_key(message_id);
        if self.outbound.contains_key(&key) {
            return;
        }
        while self.outbound.len() >= OUTBOUND_TRACKED {
            // Keys do not sort by time; any old one will do once the map is full.
            let Some(oldest) = self.outbound.keys().next().cloned() else {
                break;
            };
            self.outbound.remove(&oldest);
        }
        self.outbound
            .insert(key, crate::domain::event::DeliveryStatus::Sent);
    }

    /// The delivery state this session keeps for a message it sent, if it follows it.
    pub fn outbound_status(
        &self,
        message_id: &str,
    ) -> Option<&crate::domain::event::DeliveryStatus> {
        self.outbound.get(&id_key(message_id))
    }

    /// Applies a status update: statuses only move forward (sent < delivered < read/played),
    /// `failed` wins over anything, and a late update never moves a message back. A failure
    /// with 131047 means the customer's window had closed. Returns whether anything changed.
    pub fn apply_status(&mut self, update: &crate::domain::event::StatusUpdate) -> bool {
        use crate::domain::event::DeliveryStatus as S;
        let rank = S::rank;
        let mut changed = false;
        // A refusal of a message sent before the customer's last message says nothing about
        // the window that message opened.
        if update.status == S::Failed
            && update.errors.iter().any(|e| e.code == Some(131047))
            && update.at.is_none_or(|at| at >= self.last_inbound_at)
            && !self.window_closed
        {
            self.window_closed = true;
            changed = true;
        }
        let Some(new) = rank(&update.status) else {
            return changed;
        };
        // A status for a send that timed out: it did reach WhatsApp.
        if let Some(reference) = &update.reference
            && let Some(i) = self
                .unconfirmed
                .iter()
                .position(|u| &u.reference == reference)
        {
            self.unconfirmed.remove(i);
            self.track_sent(&update.message_id);
            changed = true;
        }
        let Some(current) = self.outbound.get_mut(&id_key(&update.message_id)) else {
            return changed;
        };
        if rank(current).is_some_and(|old| old >= new) {
            return changed;
        }
        *current = update.status.clone();
        true
    }

    /// Records a send whose outcome is unknown, keeping the last ten.
    pub fn expect_unconfirmed(&mut self, unconfirmed: Unconfirmed) {
        if self.unconfirmed.len() >= 10 {
            self.unconfirmed.pop_front();
        }
        self.unconfirmed.push_back(unconfirmed);
    }

    /// Records a line of conversation (cut to `KEPT_TEXT_CHARS`), forgetting the oldest beyond
    /// `HISTORY_TURNS`.
    pub fn record(&mut self, from: Party, text: impl Into<String>, at: DateTime<Utc>) {
        if self.history.len() >= HISTORY_TURNS {
            self.history.pop_front();
        }
        let text: String = text.into();
        self.history.push_back(Turn {
            from,
            text: cut_to(&text, KEPT_TEXT_CHARS),
            at,
        });
    }

    /// The key of the conversation's next log line: the conversation's start, then the line's
    /// number in it, so that a customer's lines sort in the order they happened whatever the
    /// clocks of the processes that wrote them.
    pub fn next_log_key(&mut self) -> String {
        self.log_lines += 1;
        crate::domain::log::log_key(self.started_at, self.log_lines)
    }

    /// When the session (and the customer-service window) ends.
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.last_inbound_at + SERVICE_WINDOW
    }

    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at()
    }
}

/// A message whose send timed out, kept to be sent again unless WhatsApp confirms it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Unconfirmed {
    /// The outbox entry it came from, sent along as `biz_opaque_callback_data`.
    pub reference: String,
    pub message: crate::domain::command::OutboundMessage,
    /// When its send timed out.
    pub at: DateTime<Utc>,
    /// Where the conversation was then (`State::name`): resent only if it is still there.
    pub state: String,
}

/// A session as stored: the conversation plus the processor's bookkeeping for exactly-once
/// processing. The engine sees only `session`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub session: Session,
    /// The stored version this record was read at (0: not stored yet). A save succeeds only if
    /// the store still holds this version.
    #[serde(skip)]
    pub version: u64,
    /// The most recent events applied to this session (their `id_key`), oldest first.
    #[serde(default)]
    pub applied: std::collections::VecDeque<String>,
    /// Commands decided but not yet carried out, in order.
    #[serde(default)]
    pub outbox: std::collections::VecDeque<Outgoing>,
    /// Who is carrying out the outbox, and until when at most: only that delivery sends, so
    /// two processors on one customer never send the same message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sending: Option<Lease>,
    /// The business number (phone number id) the customer last wrote to: the agents' desk
    /// answers from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_number: Option<String>,
}

/// A delivery's claim on a record's outbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The event whose delivery sends. A redelivery of that same event takes over: the queue
    /// hands an event out again only once the previous attempt is over.
    pub event: String,
    pub until: DateTime<Utc>,
}

impl Lease {
    /// Whether `event`'s delivery may carry out the outbox at `now`.
    pub fn allows(&self, event: &str, now: DateTime<Utc>) -> bool {
        self.event == event || self.until <= now
    }
}

/// How many applied event ids a record remembers. Redeliveries come within minutes (SQS) or
/// with Meta's retries; a customer rarely sends this many messages in between.
pub const APPLIED_MEMORY: usize = 64;

impl SessionRecord {
    pub fn new(session: Session) -> Self {
        Self {
            session,
            version: 0,
            applied: Default::default(),
            outbox: Default::default(),
            sending: None,
            business_number: None,
        }
    }

    pub fn has_applied(&self, event_id: &str) -> bool {
        self.applied.contains(&id_key(event_id))
    }

    /// Re-keys what a record saved before ids were digests holds (the ids themselves) by
    /// their `id_key`, so that lookups and evictions treat old and new alike.
    pub fn digest_ids(&mut self) {
        let applied = std::mem::take(&mut self.applied);
        self.applied = applied.into_iter().map(as_id_key).collect();
        let outbound = std::mem::take(&mut self.session.outbound);
        self.session.outbound = outbound
            .into_iter()
            .map(|(id, status)| (as_id_key(id), status))
            .collect();
    }

    pub fn remember(&mut self, event_id: &str) {
        if self.applied.len() >= APPLIED_MEMORY {
            self.applied.pop_front();
        }
        self.applied.push_back(id_key(event_id));
    }
}

/// A command waiting in the outbox, with the business number it goes out from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outgoing {
    /// `<event id>#<n>`: which event decided it, and its place among that event's commands.
    pub id: String,
    pub from: String,
    pub command: crate::domain::command::Command,
    /// Deliveries that tried to send it and met a transient failure.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempts: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_text_is_cut_by_characters_not_bytes() {
        assert_eq!(cut_to("abc", 3), "abc");
        assert_eq!(cut_to("abcd", 3), "ab…");
        assert_eq!(cut_to("😀😀😀😀", 3), "😀😀…");
        assert_eq!(cut_to("", 3), "");
        let at: DateTime<Utc> = "2026-11-24T12:00:00Z".parse().unwrap();
        let mut session = Session::new(CustomerId::Phone("5511".into()), at);
        session.record(Party::Customer, "ç".repeat(5000), at);
        assert_eq!(
            session.history[0].text.chars().count(),
            KEPT_TEXT_CHARS,
            "999 characters and the ellipsis"
        );
    }
    use crate::domain::event::{ApiError, DeliveryStatus as S, StatusUpdate};

    fn update(status: S, code: Option<i64>) -> StatusUpdate {
        StatusUpdate {
            message_id: "wamid.out".into(),
            status,
            at: None,
            errors: code
                .map(|c| ApiError {
                    code: Some(c),
                    ..Default::default()
                })
                .into_iter()
                .collect(),
            reference: None,
        }
    }

    /// Each row: the statuses as they arrive, and where the message ends.
    #[test]
    fn statuses_only_move_forward_and_failed_wins() {
        let cases: &[(&[S], S)] = &[
            (&[S::Delivered, S::Read], S::Read),
            (&[S::Read, S::Delivered], S::Read),
            (&[S::Read, S::Sent], S::Read),
            (&[S::Delivered, S::Failed], S::Failed),
            (&[S::Failed, S::Read], S::Failed),
            (&[S::Read], S::Read),
            (&[S::Other("warning".into())], S::Sent),
        ];
        for (arrivals, end) in cases {
            let mut session = Session::new(CustomerId::Phone("5511".into()), Utc::now());
            session.track_sent("wamid.out");
            for s in *arrivals {
                session.apply_status(&update(s.clone(), None));
            }
            assert_eq!(
                session.outbound_status("wamid.out"),
                Some(end),
                "{arrivals:?}"
            );
        }
    }

    #[test]
    fn a_131047_failure_marks_the_window_closed_and_unknown_ids_change_nothing() {
        let mut session = Session::new(CustomerId::Phone("5511".into()), Utc::now());
        assert!(!session.apply_status(&update(S::Read, None)), "not ours");
        session.track_sent("wamid.out");
        assert!(session.apply_status(&update(S::Failed, Some(131047))));
        assert!(session.window_closed);
    }

    /// A refusal (131047) of a message sent before the customer last wrote says nothing of the
    /// window that message opened.
    #[test]
    fn a_late_131047_does_not_close_a_window_the_customer_reopened() {
        let wrote = Utc::now();
        let mut session = Session::new(CustomerId::Phone("5511".into()), wrote);
        session.track_sent("wamid.out");
        let mut late = update(S::Failed, Some(131047));
        late.at = Some(wrote - chrono::Duration::minutes(1));
        session.apply_status(&late);
        assert!(!session.window_closed);
        let mut current = update(S::Failed, Some(131047));
        current.at = Some(wrote + chrono::Duration::minutes(1));
        assert!(session.apply_status(&current));
        assert!(session.window_closed);
    }

    #[test]
    fn only_the_last_messages_are_followed() {
        let mut session = Session::new(CustomerId::Phone("5511".into()), Utc::now());
        for i in 0..(OUTBOUND_TRACKED + 10) {
            session.track_sent(&format!("wamid.{i:03}"));
        }
        assert_eq!(session.outbound.len(), OUTBOUND_TRACKED);
    }

    /// Ids are kept as short digests; a record saved with the ids themselves knows them once
    /// re-keyed, as the store does on loading it.
    #[test]
    fn ids_are_kept_as_digests_and_old_records_still_know_theirs() {
        let id = "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjBDMDk4NkE3RDJGMUU4NDEwAA==";
        assert_eq!(id_key(id).len(), 16);
        assert_eq!(id_key(id), id_key(id));
        assert_ne!(id_key(id), id_key("wamid.other"));

        let mut session = Session::new(CustomerId::Phone("5511".into()), Utc::now());
        session.track_sent(id);
        assert_eq!(session.outbound.keys().collect::<Vec<_>>(), [&id_key(id)]);
        assert!(session.apply_status(&StatusUpdate {
            message_id: id.into(),
            ..update(S::Read, None)
        }));
        assert_eq!(session.outbound_status(id), Some(&S::Read));

        let mut record = SessionRecord::new(session.clone());
        record.remember(id);
        assert!(record.has_applied(id));
        assert_eq!(record.applied[0], id_key(id));

        // As saved before: the ids themselves, re-keyed when loaded.
        let mut old = SessionRecord::new(session);
        old.applied.push_back("wamid.before".into());
        old.applied.push_back(id_key("wamid.after"));
        old.session.outbound.clear();
        old.session
            .outbound
            .insert("wamid.sent-before".into(), S::Sent);
        old.digest_ids();
        assert_eq!(
            old.applied,
            [id_key("wamid.before"), id_key("wamid.after")],
            "a key stays as it is"
        );
        assert!(old.has_applied("wamid.before"));
        assert!(old.has_applied("wamid.after"));
        assert!(old.session.apply_status(&StatusUpdate {
            message_id: "wamid.sent-before".into(),
            ..update(S::Delivered, None)
        }));
        assert_eq!(
            old.session.outbound_status("wamid.sent-before"),
            Some(&S::Delivered)
        );
        old.session.track_sent("wamid.sent-before");
        assert_eq!(old.session.outbound.len(), 1, "not followed twice");
    }
}

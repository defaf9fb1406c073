//! DynamoDB adapters: `DynamoDbSessionStore` and `DynamoDbAttendanceQueue`.
//!
//! DynamoDB deletes expired items lazily (often days late), so every read filters on the TTL
//! attribute itself.

use crate::domain::sla::{Priority, SlaAlert, SlaLevel, WaitingCustomer};
use crate::domain::{CustomerId, SessionRecord};
use crate::ports::{AttendanceQueue, SessionStore, StoreError};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnValue, TransactWriteItem, Update,
};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

pub(super) type Item = HashMap<String, AttributeValue>;

pub(super) fn unavailable(e: impl std::error::Error) -> StoreError {
    StoreError::Unavailable(DisplayErrorContext(&e).to_string())
}

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(super) fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| StoreError::Corrupt(format!("attribute `{name}` missing or not a string")))
}

pub(super) fn get_n(item: &Item, name: &str) -> Result<i64, StoreError> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| StoreError::Corrupt(format!("attribute `{name}` missing or not a number")))
}

/// Sessions table: partition key `customer` (S); attributes `record_z` (B: the session as JSON,
/// deflated, RFC 1951), `version` (N) for optimistic locking, `expires_at` (N, epoch seconds) as
/// the TTL attribute. Items saved before hold the JSON as `record` (S) and are read as well;
/// their next save replaces it. Deflating is what keeps a session's write at one write unit
/// (1 KB) through most conversations: its JSON is about 1.7 KB mid-conversation, mostly the
/// last lines of the conversation, and deflates to under half.
/// A link (another name of a customer) is an item of its own: `customer` (the other name),
/// `alias_of` (the key its record is kept under) and `expires_at`.
pub struct DynamoDbSessionStore {
    client: Client,
    table: String,
}

impl DynamoDbSessionStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("customer", s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(output.item)
    }
}

/// The record's JSON, deflated, as the item keeps it.
fn deflated(record: &SessionRecord) -> Result<Vec<u8>, StoreError> {
    use std::io::Write;
    let json = serde_json::to_vec(record)
        .map_err(|e| StoreError::Corrupt(format!("cannot serialize the session: {e}")))?;
    let mut encoder = flate2::write::DeflateEncoder::new(
        Vec::with_capacity(json.len() / 2),
        flate2::Compression::default(),
    );
    encoder
        .write_all(&json)
        .and_then(|()| encoder.finish())
        .map_err(|e| StoreError::Corrupt(format!("cannot deflate the session: {e}")))
}

/// Whether an item holds a record (not a link), in either form.
fn holds_record(item: &Item) -> bool {
    item.contains_key(RECORD) || item.contains_key(OLD_RECORD)
}

const RECORD: &str = "record_z";
const OLD_RECORD: &str = "record";
/// The most a session record's JSON may inflate to.
const MAX_RECORD_JSON: u64 = 4 << 20;

/// The record in a session item. An item holding both forms was last saved by a version that
/// writes text (this one removes `record` whenever it saves): the text is the newer.
fn record_of(item: &Item) -> Result<SessionRecord, StoreError> {
    let parsed = match item.get(RECORD).filter(|_| !item.contains_key(OLD_RECORD)) {
        Some(value) => {
            use std::io::Read;
            let bytes = value
                .as_b()
                .map_err(|_| StoreError::Corrupt(format!("attribute `{RECORD}` not binary")))?;
            let mut json = Vec::with_capacity(bytes.as_ref().len() * 3);
            // An item holds at most 400 KB; no record inflates past a few times that.
            flate2::read::DeflateDecoder::new(bytes.as_ref())
                .take(MAX_RECORD_JSON + 1)
                .read_to_end(&mut json)
                .map_err(|e| StoreError::Corrupt(format!("session record: {e}")))?;
            if json.len() as u64 > MAX_RECORD_JSON {
                return Err(StoreError::Corrupt(
                    "session record inflates past its limit".into(),
                ));
            }
            serde_json::from_slice::<SessionRecord>(&json)
        }
        None => serde_json::from_str(get_s(item, OLD_RECORD)?),
    };
    let mut record = parsed.map_err(|e| StoreError::Corrupt(format!("session record: {e}")))?;
    record.digest_ids();
    record.version = get_n(item, "version")?
        .try_into()
        .map_err(|_| StoreError::Corrupt("negative version".into()))?;
    Ok(record)
}

#[async_trait]
impl SessionStore for DynamoDbSessionStore {
    async fn load(
        &self,
        customer: &CustomerId,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let Some(mut item) = self.get(customer.key()).await? else {
            return Ok(None);
        };
        if get_n(&item, "expires_at")? <= now.timestamp() {
            return Ok(None);
        }
        // A link: the record is kept under the customer's other name (one hop).
        if let Some(target) = item.get("alias_of").and_then(|v| v.as_s().ok()) {
            let Some(linked) = self.get(target).await? else {
                return Ok(None);
            };
            if linked.contains_key("alias_of") || get_n(&linked, "expires_at")? <= now.timestamp() {
                return Ok(None);
            }
            item = linked;
        }
        record_of(&item).map(Some)
    }

    async fn erase(&self, customer: &CustomerId) -> Result<bool, StoreError> {
        let output = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("customer", s(customer.key()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable)?;
        let Some(old) = output.attributes().filter(|a| !a.is_empty()) else {
            return Ok(false);
        };
        // The links to it go too (only those still pointing at it).
        let aliases = if holds_record(old) {
            record_of(old)?.session.aliases
        } else {
            Vec::new()
        };
        for alias in aliases {
            let deleted = self
                .client
                .delete_item()
                .table_name(&self.table)
                .key("customer", s(alias.key()))
                .condition_expression("alias_of = :customer")
                .expression_attribute_values(":customer", s(customer.key()))
                .send()
                .await;
            match deleted {
                Ok(_) => {}
                Err(e) => match e.into_service_error() {
                    e if e.is_conditional_check_failed_exception() => {}
                    e => return Err(unavailable(e)),
                },
            }
        }
        Ok(true)
    }

    async fn link(
        &self,
        alias: &CustomerId,
        customer: &CustomerId,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("customer", s(alias.key()))
            .item("alias_of", s(customer.key()))
            .item("expires_at", n(until.timestamp()))
            // Never over a live record of the alias's own.
            .condition_expression(
                "attribute_not_exists(customer) OR attribute_exists(alias_of) \
                 OR expires_at <= :now",
            )
            .expression_attribute_values(":now", n(now.timestamp()))
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(e) => match e.into_service_error() {
                e if e.is_conditional_check_failed_exception() => Ok(false),
                e => Err(unavailable(e)),
            },
        }
    }

    async fn save(&self, record: &SessionRecord, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let record_z = deflated(record)?;
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("customer", s(record.session.customer.key()))
            // A record of its own replaces a link under its key.
            .update_expression(
                "SET #record = :record, expires_at = :expires ADD version :one \
                 REMOVE alias_of, #old_record",
            )
            .expression_attribute_names("#record", RECORD)
            .expression_attribute_names("#old_record", OLD_RECORD)
            .expression_attribute_values(":record", AttributeValue::B(Blob::new(record_z)))
            .expression_attribute_values(":expires", n(record.session.expires_at().timestamp()))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew);
        update = if record.version == 0 {
            update
                .condition_expression(
                    "attribute_not_exists(customer) OR attribute_exists(alias_of) \
                     OR expires_at <= :now",
                )
                .expression_attribute_values(":now", n(now.timestamp()))
        } else {
            update
                .condition_expression("version = :expected")
                .expression_attribute_values(":expected", n(record.version))
        };
        match update.send().await {
            Ok(output) => {
                let attributes = output.attributes().cloned().unwrap_or_default();
                let version = get_n(&attributes, "version")?;
                u64::try_from(version).map_err(|_| StoreError::Corrupt("negative version".into()))
            }
            Err(e) => match e.into_service_error() {
                e if e.is_conditional_check_failed_exception() => Err(StoreError::Conflict),
                e => Err(unavailable(e)),
            },
        }
    }
}

/// Attendance-queue table: partition key `department` (S), sort key `sk` (S). Two items per
/// waiting customer, written together in one transaction:
/// - `sk = "wait#<priority rank>#<entered_at>#<customer>"`: the place in line; sort keys order
///   the queue by priority, then arrival;
/// - `sk = "customer#<customer>"`: the uniqueness guard, pointing at the place in line.
pub struct DynamoDbAttendanceQueue {
    client: Client,
    table: String,
}

impl DynamoDbAttendanceQueue {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

impl DynamoDbAttendanceQueue {
    /// The sort key of the customer's place in a department's line, read from their guard.
    /// The customer's place key in a department's line and the end of that wait.
    async fn place_of(
        &self,
        department: &str,
        customer: &CustomerId,
    ) -> Result<Option<(String, Option<DateTime<Utc>>)>, StoreError> {
        let guard = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("department", s(department))
            .key("sk", s(guard_key(customer)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        let Some(item) = guard.item() else {
            return Ok(None);
        };
        let end = match item.get(WAIT_TTL) {
            Some(_) => DateTime::from_timestamp(get_n(item, WAIT_TTL)?, 0),
            None => None,
        };
        Ok(Some((get_s(item, "place")?.to_owned(), end)))
    }
}

fn priority_rank(p: Priority) -> u8 {
    match p {
        Priority::High => 0,
        Priority::Normal => 1,
        Priority::Low => 2,
    }
}

/// A place-in-line item as a waiting customer.
fn waiting_customer(item: &Item) -> Result<WaitingCustomer, StoreError> {
    let customer: CustomerId = serde_json::from_str(get_s(item, "customer")?)
        .map_err(|e| StoreError::Corrupt(format!("queue customer: {e}")))?;
    let priority: Priority = serde_json::from_value(serde_json::Value::String(
        get_s(item, "priority")?.to_owned(),
    ))
    .map_err(|e| StoreError::Corrupt(format!("queue priority: {e}")))?;
    let entered_at = DateTime::parse_from_rfc3339(get_s(item, "entered_at")?)
        .map_err(|e| StoreError::Corrupt(format!("queue entered_at: {e}")))?
        .with_timezone(&Utc);
    let expires_at = match item.get(WAIT_TTL) {
        Some(_) => Some(
            DateTime::from_timestamp(get_n(item, WAIT_TTL)?, 0)
                .ok_or_else(|| StoreError::Corrupt("queue expires_at out of range".into()))?,
        ),
        None => None,
    };
    Ok(WaitingCustomer {
        department: get_s(item, "department")?.to_owned(),
        customer,
        priority,
        entered_at,
        expires_at,
    })
}

/// The end of a wait (epoch seconds), the table's TTL attribute: DynamoDB deletes the place
/// and its guard some time after it; reads leave it out from the second it passes.
const WAIT_TTL: &str = "expires_at";

/// What reads keep of the line: places not past their end.
const LIVE_PLACES: &str = "(attribute_not_exists(#ttl) OR #ttl > :now)";

/// The sort key of a place in line: priority, then arrival, then the customer.
fn place_key(entry: &WaitingCustomer) -> String {
    format!(
        "wait#{}#{}#{}",
        priority_rank(entry.priority),
        entry.entered_at.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
        entry.customer.key()
    )
}

/// The attributes of a wait's alert at `level` on its place: the claim's end, the sent mark.
fn alert_attributes(level: SlaLevel) -> (&'static str, &'static str) {
    match level {
        SlaLevel::Warning => ("alerting_warning", "alerted_warning"),
        SlaLevel::Breach => ("alerting_breach", "alerted_breach"),
    }
}

/// The item marking a reply alert about `customer` waiting since `since`.
fn reply_alert_key(customer: &CustomerId, since: DateTime<Utc>) -> String {
    format!(
        "reply#{}#{}",
        customer.key(),
        since.format("%Y-%m-%dT%H:%M:%S%.6fZ")
    )
}

fn guard_key(customer: &CustomerId) -> String {
    format!("customer#{}", customer.key())
}

#[async_trait]
impl AttendanceQueue for DynamoDbAttendanceQueue {
    async fn enqueue(&self, entry: WaitingCustomer) -> Result<(), StoreError> {
        let place = place_key(&entry);
        let customer_json = serde_json::to_string(&entry.customer)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let priority = serde_json::to_value(entry.priority)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let ttl = entry.expires_at.map(|at| n(at.timestamp()));
        let guard = Put::builder()
            .table_name(&self.table)
            .item("department", s(&entry.department))
            .item("sk", s(guard_key(&entry.customer)))
            .item("place", s(&place))
            .condition_expression("attribute_not_exists(sk)");
        let guard = match &ttl {
            Some(ttl) => guard.item(WAIT_TTL, ttl.clone()),
            None => guard,
        }
        .build()
        .map_err(unavailable)?;
        let line = Put::builder()
            .table_name(&self.table)
            .item("department", s(&entry.department))
            .item("sk", s(&place))
            .item("customer", s(customer_json))
            .item("priority", s(priority))
            .item("entered_at", s(entry.entered_at.to_rfc3339()));
        let line = match ttl {
            Some(ttl) => line.item(WAIT_TTL, ttl),
            None => line,
        }
        .build()
        .map_err(unavailable)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(guard).build())
            .transact_items(TransactWriteItem::builder().put(line).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => match e.into_service_error() {
                // The guard's condition failed: the customer is already waiting and keeps their
                // place. Any other cancellation (a conflicting transaction, throttling) is not
                // "already there" and is reported.
                TransactWriteItemsError::TransactionCanceledException(cancelled)
                    if cancelled
                        .cancellation_reasons()
                        .first()
                        .and_then(|r| r.code())
                        == Some("ConditionalCheckFailed") =>
                {
                    Ok(())
                }
                e => Err(unavailable(e)),
            },
        }
    }

    async fn waiting(&self, now: DateTime<Utc>) -> Result<Vec<WaitingCustomer>, StoreError> {
        let mut waiting = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let output = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .filter_expression(format!("begins_with(sk, :wait) AND {LIVE_PLACES}"))
                .expression_attribute_names("#ttl", WAIT_TTL)
                .expression_attribute_values(":wait", s("wait#"))
                .expression_attribute_values(":now", n(now.timestamp()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            for item in output.items() {
                waiting.push((
                    get_s(item, "department")?.to_owned(),
                    get_s(item, "sk")?.to_owned(),
                    waiting_customer(item)?,
                ));
            }
            match output.last_evaluated_key() {
                Some(key) => start = Some(key.clone()),
                None => break,
            }
        }
        waiting.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        Ok(waiting.into_iter().map(|(_, _, w)| w).collect())
    }

    /// Reads the guard for the customer's place, then counts the places before it (a Query on
    /// the department's partition, keys only).
    async fn position(
        &self,
        department: &str,
        customer: &CustomerId,
        now: DateTime<Utc>,
    ) -> Result<Option<usize>, StoreError> {
        let Some((place, end)) = self.place_of(department, customer).await? else {
            return Ok(None);
        };
        if end.is_some_and(|end| end <= now) {
            return Ok(None);
        }
        let mut ahead = 0usize;
        let mut start: Option<Item> = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression("department = :d AND sk BETWEEN :first AND :place")
                .filter_expression(LIVE_PLACES)
                .expression_attribute_names("#ttl", WAIT_TTL)
                .expression_attribute_values(":now", n(now.timestamp()))
                .expression_attribute_values(":d", s(department))
                .expression_attribute_values(":first", s("wait#"))
                .expression_attribute_values(":place", s(&place))
                .select(aws_sdk_dynamodb::types::Select::Count)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            ahead += usize::try_from(output.count()).unwrap_or(0);
            match output.last_evaluated_key() {
                Some(key) => start = Some(key.clone()),
                None => break,
            }
        }
        // The count includes the customer's own place.
        Ok(Some(ahead.max(1)))
    }

    /// Deletes the place in line, conditioned on it still existing, and its guard, in one
    /// transaction: of any number of concurrent takers, one succeeds.
    async fn take(&self, entry: &WaitingCustomer) -> Result<bool, StoreError> {
        let delete = |sk: String, must_exist: bool| {
            let mut d = Delete::builder()
                .table_name(&self.table)
                .key("department", s(&entry.department))
                .key("sk", s(sk));
            if must_exist {
                d = d.condition_expression("attribute_exists(sk)");
            }
            d.build().map_err(unavailable)
        };
        // A transaction that meets another one on the same items is cancelled whole; that
        // says nothing about whether the place is still there, so it is tried again.
        for _ in 0..5 {
            let result = self
                .client
                .transact_write_items()
                .transact_items(
                    TransactWriteItem::builder()
                        .delete(delete(place_key(entry), true)?)
                        .build(),
                )
                .transact_items(
                    TransactWriteItem::builder()
                        .delete(delete(guard_key(&entry.customer), false)?)
                        .build(),
                )
                .send()
                .await;
            match result {
                Ok(_) => return Ok(true),
                Err(e) => match e.into_service_error() {
                    TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                        let gone = cancelled
                            .cancellation_reasons()
                            .iter()
                            .any(|r| r.code() == Some("ConditionalCheckFailed"));
                        if gone {
                            return Ok(false);
                        }
                    }
                    e => return Err(unavailable(e)),
                },
            }
        }
        Err(StoreError::Unavailable(
            "taking a place in line kept conflicting with other transactions".into(),
        ))
    }

    async fn remove(&self, department: &str, customer: &CustomerId) -> Result<(), StoreError> {
        let Some((place, _)) = self.place_of(department, customer).await? else {
            return Ok(());
        };
        let delete = |sk: String| {
            Delete::builder()
                .table_name(&self.table)
                .key("department", s(department))
                .key("sk", s(sk))
                .build()
                .map_err(unavailable)
        };
        self.client
            .transact_write_items()
            .transact_items(
                TransactWriteItem::builder()
                    .delete(delete(guard_key(customer))?)
                    .build(),
            )
            .transact_items(TransactWriteItem::builder().delete(delete(place)?).build())
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        Ok(())
    }

    /// Renews the place and its guard together (their TTL attribute), if the customer still
    /// waits.
    async fn renew(
        &self,
        department: &str,
        customer: &CustomerId,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let Some((place, _)) = self.place_of(department, customer).await? else {
            return Ok(());
        };
        let update = |sk: String| {
            Update::builder()
                .table_name(&self.table)
                .key("department", s(department))
                .key("sk", s(sk))
                .update_expression("SET #ttl = :end")
                .condition_expression("attribute_exists(sk)")
                .expression_attribute_names("#ttl", WAIT_TTL)
                .expression_attribute_values(":end", n(expires_at.timestamp()))
                .build()
                .map_err(unavailable)
        };
        let result = self
            .client
            .transact_write_items()
            .transact_items(
                TransactWriteItem::builder()
                    .update(update(guard_key(customer))?)
                    .build(),
            )
            .transact_items(TransactWriteItem::builder().update(update(place)?).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => match e.into_service_error() {
                // Taken or removed meanwhile: nothing to renew.
                TransactWriteItemsError::TransactionCanceledException(cancelled)
                    if cancelled
                        .cancellation_reasons()
                        .iter()
                        .any(|r| r.code() == Some("ConditionalCheckFailed")) =>
                {
                    Ok(())
                }
                e => Err(unavailable(e)),
            },
        }
    }

    /// A wait's alerts are attributes of its place in line (`alerting_<level>`: a claim's end;
    /// `alerted_<level>`: sent), so they go with the wait; a reply alert is an item of its own
    /// (`reply#<customer>#<since>`, kept until `keep_until`, the table's TTL attribute).
    /// Conditional writes: of any number of concurrent checkers one claims.
    async fn claim_alert(
        &self,
        alert: &SlaAlert,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = match alert {
            SlaAlert::Wait { entry, level } => {
                let (claim, sent) = alert_attributes(*level);
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .key("department", s(&entry.department))
                    .key("sk", s(place_key(entry)))
                    .update_expression("SET #claim = :until")
                    .condition_expression(
                        "attribute_exists(sk) AND attribute_not_exists(#sent) \
                         AND (attribute_not_exists(#claim) OR #claim <= :now)",
                    )
                    .expression_attribute_names("#claim", claim)
                    .expression_attribute_names("#sent", sent)
                    .expression_attribute_values(":until", n(until.timestamp_millis()))
                    .expression_attribute_values(":now", n(now.timestamp_millis()))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| e.into_service_error())
                    .map_err(|e| (e.is_conditional_check_failed_exception(), unavailable(e)))
            }
            SlaAlert::Reply {
                department,
                customer,
                since,
                keep_until,
            } => self
                .client
                .put_item()
                .table_name(&self.table)
                .item("department", s(department))
                .item("sk", s(reply_alert_key(customer, *since)))
                .item("expires_at", n(keep_until.timestamp()))
                .item("claimed_until", n(until.timestamp_millis()))
                .condition_expression(
                    "attribute_not_exists(sk) OR (attribute_not_exists(sent) \
                     AND (attribute_not_exists(claimed_until) OR claimed_until <= :now))",
                )
                .expression_attribute_values(":now", n(now.timestamp_millis()))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| e.into_service_error())
                .map_err(|e| (e.is_conditional_check_failed_exception(), unavailable(e))),
        };
        match result {
            Ok(()) => Ok(true),
            Err((true, _)) => Ok(false),
            Err((false, e)) => Err(e),
        }
    }

    async fn settle_alert(&self, alert: &SlaAlert, sent: bool) -> Result<(), StoreError> {
        let (department, sk, claim, sent_attribute) = match alert {
            SlaAlert::Wait { entry, level } => {
                let (claim, sent) = alert_attributes(*level);
                (entry.department.as_str(), place_key(entry), claim, sent)
            }
            SlaAlert::Reply {
                department,
                customer,
                since,
                ..
            } => (
                department.as_str(),
                reply_alert_key(customer, *since),
                "claimed_until",
                "sent",
            ),
        };
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("department", s(department))
            .key("sk", s(sk))
            .condition_expression("attribute_exists(sk)")
            .expression_attribute_names("#claim", claim);
        let update = if sent {
            update
                .update_expression("SET #sent = :at REMOVE #claim")
                .expression_attribute_names("#sent", sent_attribute)
                .expression_attribute_values(":at", s(Utc::now().to_rfc3339()))
        } else {
            update.update_expression("REMOVE #claim")
        };
        match update.send().await {
            Ok(_) => Ok(()),
            Err(e) => match e.into_service_error() {
                // The wait is over (taken, removed): nothing to mark.
                e if e.is_conditional_check_failed_exception() => Ok(()),
                e => Err(unavailable(e)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Session;

    fn item_with(record_z: Vec<u8>) -> Item {
        HashMap::from([
            ("customer".to_owned(), s("5511")),
            (RECORD.to_owned(), AttributeValue::B(Blob::new(record_z))),
            ("version".to_owned(), n(2)),
        ])
    }

    #[test]
    fn a_record_reads_back_as_it_was_deflated() {
        let session = Session::new(CustomerId::Phone("5511".into()), Utc::now());
        let record = SessionRecord::new(session);
        let read = record_of(&item_with(deflated(&record).unwrap())).unwrap();
        assert_eq!(read.session, record.session);
        assert_eq!(read.version, 2);
    }

    /// Both forms in one item: the text was written last (by a version that writes text).
    #[test]
    fn an_item_with_both_forms_is_read_from_its_text() {
        let older = SessionRecord::new(Session::new(
            CustomerId::Phone("5511".into()),
            Utc::now() - chrono::Duration::hours(1),
        ));
        let newer = SessionRecord::new(Session::new(CustomerId::Phone("5511".into()), Utc::now()));
        let mut item = item_with(deflated(&older).unwrap());
        item.insert(
            OLD_RECORD.to_owned(),
            s(serde_json::to_string(&newer).unwrap()),
        );
        assert_eq!(record_of(&item).unwrap().session, newer.session);
    }

    /// What cannot be a record is refused as corrupt, never inflated without a bound.
    #[test]
    fn a_record_that_is_not_one_is_corrupt() {
        use std::io::Write;
        let mut bomb = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        bomb.write_all(&vec![b' '; (MAX_RECORD_JSON + 10) as usize])
            .unwrap();
        let bomb = bomb.finish().unwrap();
        assert!(bomb.len() < 10_000, "{} bytes", bomb.len());
        for item in [item_with(bomb), item_with(b"not deflate".to_vec())] {
            assert!(
                matches!(record_of(&item), Err(StoreError::Corrupt(_))),
                "{:?}",
                record_of(&item).map(|r| r.version)
            );
        }
    }
}

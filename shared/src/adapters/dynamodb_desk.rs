//! DynamoDB adapters of the desk's ports: `DynamoDbAgents`, `DynamoDbConversationLog`.

use super::dynamodb::{Item, get_s, n, s, unavailable};
use crate::domain::CustomerId;
use crate::domain::agent::{Agent, AgentProfile, Presence, Reservation};
use crate::domain::event::DeliveryStatus;
use crate::domain::log::{Erasure, LogEntry, LogLine, LoggedLine};
use crate::ports::{Advance, Agents, ConversationLog, DeliveryStatuses, LogPage, StoreError};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, KeysAndAttributes, ReturnValuesOnConditionCheckFailure,
    WriteRequest,
};
use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, HashMap};

fn presence_name(p: Presence) -> &'static str {
    match p {
        Presence::Available => "available",
        Presence::Away => "away",
    }
}

/// Agents table: partition key `id` (S, the login's subject); `profile` (the profile as JSON),
/// `presence` (S), `holding` (SS: the customer keys whose conversations the agent holds;
/// absent when none).
pub struct DynamoDbAgents {
    client: Client,
    table: String,
}

impl DynamoDbAgents {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn agent(item: &Item) -> Result<Agent, StoreError> {
        let profile: AgentProfile = serde_json::from_str(get_s(item, "profile")?)
            .map_err(|e| StoreError::Corrupt(format!("agent profile: {e}")))?;
        let presence = match item.get("presence").and_then(|v| v.as_s().ok()) {
            Some(p) if p == "available" => Presence::Available,
            _ => Presence::Away,
        };
        let holding: BTreeSet<String> = item
            .get("holding")
            .and_then(|v| v.as_ss().ok())
            .map(|ss| ss.iter().cloned().collect())
            .unwrap_or_default();
        Ok(Agent {
            profile,
            presence,
            holding,
        })
    }
}

#[async_trait]
impl Agents for DynamoDbAgents {
    async fn get(&self, id: &str) -> Result<Option<Agent>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", s(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        output.item().map(Self::agent).transpose()
    }

    async fn list(&self) -> Result<Vec<Agent>, StoreError> {
        let items = self
            .client
            .scan()
            .table_name(&self.table)
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(unavailable)?;
        let mut agents = items
            .iter()
            .map(Self::agent)
            .collect::<Result<Vec<_>, _>>()?;
        agents.sort_by(|a, b| a.profile.name.cmp(&b.profile.name));
        Ok(agents)
    }

    async fn put_profile(&self, profile: &AgentProfile) -> Result<(), StoreError> {
        let json =
            serde_json::to_string(profile).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.client
            .update_item()
            .table_name(&self.table)
            .key("id", s(&profile.id))
            .update_expression("SET profile = :p, presence = if_not_exists(presence, :away)")
            .expression_attribute_values(":p", s(json))
            .expression_attribute_values(":away", s(presence_name(Presence::Away)))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn set_presence(&self, id: &str, presence: Presence) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", s(id))
            .update_expression("SET presence = :p")
            .condition_expression("attribute_exists(id)")
            .expression_attribute_values(":p", s(presence_name(presence)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) => match e.into_service_error() {
                e if e.is_conditional_check_failed_exception() => Ok(false),
                e => Err(unavailable(e)),
            },
        }
    }

    /// Reads the agent, then adds the customer to `holding` on condition that the agent is
    /// available and holds fewer than their capacity: concurrent reservations past the
    /// capacity fail the condition, are read again and classified.
    async fn reserve(
        &self,
        id: &str,
        customer: &CustomerId,
        default_capacity: u32,
    ) -> Result<Reservation, StoreError> {
        for _ in 0..10 {
            let Some(agent) = self.get(id).await? else {
                return Ok(Reservation::Unknown);
            };
            if agent.holding.contains(customer.key()) {
                return Ok(Reservation::Reserved);
            }
            if agent.presence == Presence::Away {
                return Ok(Reservation::Away);
            }
            let capacity = agent.profile.capacity.unwrap_or(default_capacity);
            if agent.holding.len() >= capacity as usize {
                return Ok(Reservation::Full);
            }
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("id", s(id))
                .update_expression("ADD holding :c")
                .condition_expression(
                    "presence = :available AND (attribute_not_exists(holding) OR size(holding) < :cap)",
                )
                .expression_attribute_values(":c", AttributeValue::Ss(vec![customer.key().to_owned()]))
                .expression_attribute_values(":available", s(presence_name(Presence::Available)))
                .expression_attribute_values(":cap", n(capacity))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(Reservation::Reserved),
                Err(e) => match e.into_service_error() {
                    // Changed since it was read: look again.
                    e if e.is_conditional_check_failed_exception() => continue,
                    e => return Err(unavailable(e)),
                },
            }
        }
        Err(StoreError::Conflict)
    }

    async fn release(&self, id: &str, customer: &CustomerId) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", s(id))
            .update_expression("DELETE holding :c")
            .condition_expression("attribute_exists(id)")
            .expression_attribute_values(":c", AttributeValue::Ss(vec![customer.key().to_owned()]))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => match e.into_service_error() {
                // No such agent: nothing held.
                e if e.is_conditional_check_failed_exception() => Ok(()),
                e => Err(unavailable(e)),
            },
        }
    }
}

/// Conversation log table: partition key `customer` (S), sort key `sk` (S): `line#<key>` for a
/// line (`entry`, the line as JSON), `status#<WhatsApp message id>` for a sent message's latest
/// status (`status`); `expires_at` (N, epoch seconds) is the TTL attribute on every item.
pub struct DynamoDbConversationLog {
    client: Client,
    table: String,
}

impl DynamoDbConversationLog {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn live(item: &Item, now: DateTime<Utc>) -> bool {
        item.get("expires_at")
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok())
            .is_none_or(|at| at > now.timestamp())
    }

    /// The latest statuses of these messages.
    async fn statuses(
        &self,
        customer: &CustomerId,
        message_ids: &[&str],
        now: DateTime<Utc>,
    ) -> Result<HashMap<String, DeliveryStatus>, StoreError> {
        let mut found = HashMap::new();
        let unique: BTreeSet<&str> = message_ids.iter().copied().collect();
        let unique: Vec<&str> = unique.into_iter().collect();
        for chunk in unique.chunks(100) {
            let mut keys = KeysAndAttributes::builder().consistent_read(true);
            for id in chunk {
                keys = keys.keys(HashMap::from([
                    ("customer".to_owned(), s(customer.key())),
                    ("sk".to_owned(), status_sk(id)),
                ]));
            }
            let mut request: Option<KeysAndAttributes> = Some(keys.build().map_err(unavailable)?);
            while let Some(keys) = request.take() {
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, keys)
                    .send()
                    .await
                    .map_err(unavailable)?;
                for item in output
                    .responses()
                    .and_then(|r| r.get(&self.table))
                    .into_iter()
                    .flatten()
                {
                    if !Self::live(item, now) {
                        continue;
                    }
                    let id = get_s(item, "sk")?
                        .trim_start_matches(STATUS_PREFIX)
                        .to_owned();
                    found.insert(id, DeliveryStatus::parse(get_s(item, "status")?));
                }
                request = output
                    .unprocessed_keys()
                    .and_then(|u| u.get(&self.table))
                    .filter(|k| !k.keys().is_empty())
                    .cloned();
            }
        }
        Ok(found)
    }
}

#[async_trait]
impl ConversationLog for DynamoDbConversationLog {
    async fn write(
        &self,
        customer: &CustomerId,
        key: &str,
        entry: &LogEntry,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(entry).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("customer", s(customer.key()))
            .item("sk", s(format!("line#{key}")))
            .item("entry", s(json))
            .item("expires_at", n(expires_at.timestamp()))
            .send()
            .await
            .map_err(unavailable)?;
        if let LogLine::Sent {
            message_id, agent, ..
        } = &entry.line
        {
            self.expect_statuses(customer, message_id, agent.is_some(), expires_at)
                .await?;
        }
        Ok(())
    }

    async fn set_status(
        &self,
        customer: &CustomerId,
        message_id: &str,
        status: &DeliveryStatus,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let Some(rank) = status.rank() else {
            return Ok(());
        };
        // An update, not a put: the item may say the message was an agent's.
        let result = self
            .update_status(customer, message_id)
            .update_expression("SET #status = :status, status_rank = :rank, expires_at = :expires")
            .condition_expression("attribute_not_exists(status_rank) OR status_rank < :rank")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(status.as_str()))
            .expression_attribute_values(":rank", n(i64::from(rank)))
            .expression_attribute_values(":expires", n(expires_at.timestamp()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => match e.into_service_error() {
                // It already has this status or a later one.
                e if e.is_conditional_check_failed_exception() => Ok(()),
                e => Err(unavailable(e)),
            },
        }
    }

    /// Queries the customer's lines newest first from just before `before`, one more than
    /// asked (to know whether older ones exist), then fetches the statuses of the messages
    /// sent among them.
    async fn page(
        &self,
        customer: &CustomerId,
        before: Option<&str>,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<LogPage, StoreError> {
        let upper = match before {
            Some(b) => format!("line#{b}"),
            // '$' sorts right after '#': above every line key.
            None => "line$".to_owned(),
        };
        let mut lines: Vec<LoggedLine> = Vec::new();
        let mut more = false;
        let mut start: Option<Item> = None;
        'pages: loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression("customer = :c AND sk BETWEEN :lo AND :hi")
                .expression_attribute_values(":c", s(customer.key()))
                .expression_attribute_values(":lo", s("line#"))
                .expression_attribute_values(":hi", s(&upper))
                .scan_index_forward(false)
                .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            for item in output.items() {
                let sk = get_s(item, "sk")?;
                // BETWEEN includes the upper bound: the cursor's own line is on the page after.
                if sk == upper || !Self::live(item, now) {
                    continue;
                }
                if lines.len() == limit {
                    more = true;
                    break 'pages;
                }
                let entry: LogEntry = serde_json::from_str(get_s(item, "entry")?)
                    .map_err(|e| StoreError::Corrupt(format!("log line: {e}")))?;
                lines.push(LoggedLine {
                    key: sk.trim_start_matches("line#").to_owned(),
                    entry,
                    status: None,
                    link: None,
                });
            }
            match output.last_evaluated_key() {
                Some(key) => start = Some(key.clone()),
                None => break,
            }
        }
        lines.reverse();
        let sent: Vec<&str> = lines
            .iter()
            .filter_map(|l| match &l.entry.line {
                LogLine::Sent { message_id, .. } => Some(message_id.as_str()),
                _ => None,
            })
            .collect();
        let statuses = self.statuses(customer, &sent, now).await?;
        for line in &mut lines {
            if let LogLine::Sent { message_id, .. } = &line.entry.line {
                line.status = Some(
                    statuses
                        .get(message_id)
                        .cloned()
                        .unwrap_or(DeliveryStatus::Sent),
                );
            }
        }
        let before = more.then(|| lines.first().map(|l| l.key.clone())).flatten();
        Ok(LogPage { lines, before })
    }

    async fn erase(&self, customer: &CustomerId) -> Result<usize, StoreError> {
        let keys: Vec<Item> = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("customer = :c")
            .expression_attribute_values(":c", s(customer.key()))
            .projection_expression("customer, sk")
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(unavailable)?;
        for chunk in keys.chunks(25) {
            let mut writes: Vec<WriteRequest> = chunk
                .iter()
                .map(|key| {
                    DeleteRequest::builder()
                        .set_key(Some(key.clone()))
                        .build()
                        .map(|d| WriteRequest::builder().delete_request(d).build())
                        .map_err(unavailable)
                })
                .collect::<Result<_, _>>()?;
            for _ in 0..10 {
                if writes.is_empty() {
                    break;
                }
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, writes)
                    .send()
                    .await
                    .map_err(unavailable)?;
                writes = output
                    .unprocessed_items()
                    .and_then(|u| u.get(&self.table))
                    .cloned()
                    .unwrap_or_default();
            }
            if !writes.is_empty() {
                return Err(StoreError::Unavailable(
                    "the log kept refusing deletes; erase again".into(),
                ));
            }
        }
        Ok(keys.len())
    }

    /// Under the partition `erasures` (no customer key is made of letters alone), kept for good.
    async fn record_erasure(&self, erasure: &Erasure) -> Result<(), StoreError> {
        let json =
            serde_json::to_string(erasure).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("customer", s(ERASURES))
            .item(
                "sk",
                s(format!(
                    "{}#{}",
                    erasure.at.format("%Y-%m-%dT%H:%M:%S%.6fZ"),
                    erasure.customer_digest
                )),
            )
            .item("erasure", s(json))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn erasures(&self) -> Result<Vec<Erasure>, StoreError> {
        let items = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("customer = :c")
            .expression_attribute_values(":c", s(ERASURES))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(unavailable)?;
        let found = items
            .iter()
            .map(|item| {
                serde_json::from_str(get_s(item, "erasure")?)
                    .map_err(|e| StoreError::Corrupt(format!("erasure: {e}")))
            })
            .collect::<Result<Vec<Erasure>, _>>()?;
        Ok(found)
    }
}

/// The sort key prefix of a sent message's status item.
const STATUS_PREFIX: &str = "status#";

/// The sort key of a sent message's status item.
fn status_sk(message_id: &str) -> AttributeValue {
    s(format!("{STATUS_PREFIX}{message_id}"))
}

impl DynamoDbConversationLog {
    /// An update of a sent message's status item.
    fn update_status(&self, customer: &CustomerId, message_id: &str) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("customer", s(customer.key()))
            .key("sk", status_sk(message_id))
    }
}

/// The log table's partition of erasure records.
const ERASURES: &str = "erasures";

impl DynamoDbConversationLog {
    /// A message just sent: its status item, `sent`, so that the webhook knows it (and, for an
    /// agent's, that its statuses go to the processor). A status already there is kept.
    async fn expect_statuses(
        &self,
        customer: &CustomerId,
        message_id: &str,
        by_agent: bool,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("customer", s(customer.key()))
            .item("sk", status_sk(message_id))
            .item("status", s(DeliveryStatus::Sent.as_str()))
            .item("status_rank", n(1))
            .item("expires_at", n(expires_at.timestamp()))
            .condition_expression("attribute_not_exists(sk)");
        if by_agent {
            put = put.item("by_agent", AttributeValue::Bool(true));
        }
        match put.send().await {
            Ok(_) => Ok(()),
            Err(e) => match e.into_service_error() {
                e if e.is_conditional_check_failed_exception() => Ok(()),
                e => Err(unavailable(e)),
            },
        }
    }
}

impl DynamoDbConversationLog {
    /// What a `sent` status comes to without writing: `None` when the status item has no
    /// rank yet (written before ranks were kept), so that the conditional write decides.
    async fn known_status(
        &self,
        customer: &CustomerId,
        message_id: &str,
    ) -> Result<Option<Advance>, StoreError> {
        let found = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("customer", s(customer.key()))
            .key("sk", status_sk(message_id))
            // The item is written just before Meta's `sent` can arrive.
            .consistent_read(true)
            .projection_expression("by_agent, status_rank")
            .send()
            .await
            .map_err(unavailable)?;
        Ok(match found.item() {
            // Unknown (not logged yet, or not ours), or an agent's: the processor's.
            None => Some(Advance::ForTheProcessor),
            Some(item) if item.contains_key("by_agent") => Some(Advance::ForTheProcessor),
            Some(item) if item.contains_key("status_rank") => Some(Advance::Recorded),
            Some(_) => None,
        })
    }
}

#[async_trait]
impl DeliveryStatuses for DynamoDbConversationLog {
    async fn advance(
        &self,
        customer: &CustomerId,
        message_id: &str,
        status: &DeliveryStatus,
    ) -> Result<Advance, StoreError> {
        let Some(rank) = status.plain_rank() else {
            return Ok(Advance::ForTheProcessor);
        };
        // A logged sent line's status item starts at `sent`: Meta's `sent` moves nothing, and
        // a read (a read unit) tells so for a fifth of a write's price (a conditional write
        // that is refused is still a write unit).
        if rank == 1
            && let Some(known) = self.known_status(customer, message_id).await?
        {
            return Ok(known);
        }
        let result = self
            .update_status(customer, message_id)
            .update_expression("SET #status = :status, status_rank = :rank")
            .condition_expression(
                "attribute_exists(sk) AND attribute_not_exists(by_agent) \
                 AND (attribute_not_exists(status_rank) OR status_rank < :rank)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(status.as_str()))
            .expression_attribute_values(":rank", n(i64::from(rank)))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Advance::Recorded),
            Err(e) => match e.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(refused) => {
                    Ok(match refused.item() {
                        // Known and the bot's: already as far along.
                        Some(item) if !item.contains_key("by_agent") => Advance::Recorded,
                        // Unknown, or an agent's.
                        _ => Advance::ForTheProcessor,
                    })
                }
                e => Err(unavailable(e)),
            },
        }
    }
}

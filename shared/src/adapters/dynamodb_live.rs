//! `DynamoDbLiveConnections`: the console's live connections and their tickets in one table.

use super::dynamodb::{Item, get_n, get_s, n, s, unavailable};
use crate::domain::live::{Connection, Listener};
use crate::ports::{LiveConnections, StoreError};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Utc};

/// The table's partition key.
pub const LIVE_KEY: &str = "id";
/// Its TTL attribute (epoch seconds).
pub const LIVE_TTL_ATTRIBUTE: &str = "expires_at";

const TICKET: &str = "ticket#";
const CONNECTION: &str = "connection#";

/// Connections table: partition key `id` (S): `ticket#<ticket>` or `connection#<id>`;
/// `listener` (S, JSON), `expires_at` (N, epoch seconds, the TTL attribute). DynamoDB deletes
/// expired items late, so reads check the expiry themselves.
pub struct DynamoDbLiveConnections {
    client: Client,
    table: String,
}

impl DynamoDbLiveConnections {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    async fn put(
        &self,
        id: String,
        listener: &Listener,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let json =
            serde_json::to_string(listener).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item(LIVE_KEY, s(id))
            .item("listener", s(json))
            .item(LIVE_TTL_ATTRIBUTE, n(expires_at.timestamp()))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

fn listener(item: &Item) -> Result<Listener, StoreError> {
    serde_json::from_str(get_s(item, "listener")?)
        .map_err(|e| StoreError::Corrupt(format!("live listener: {e}")))
}

fn expires_at(item: &Item) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp(get_n(item, LIVE_TTL_ATTRIBUTE)?, 0)
        .ok_or_else(|| StoreError::Corrupt("live expiry out of range".to_owned()))
}

#[async_trait]
impl LiveConnections for DynamoDbLiveConnections {
    async fn put_ticket(
        &self,
        ticket: &str,
        listener: &Listener,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.put(format!("{TICKET}{ticket}"), listener, expires_at)
            .await
    }

    async fn take_ticket(
        &self,
        ticket: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Listener>, StoreError> {
        // One delete: of two connections racing with the same ticket, one gets it.
        let output = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(LIVE_KEY, s(format!("{TICKET}{ticket}")))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable)?;
        match output.attributes() {
            Some(item) if expires_at(item)? > now => Ok(Some(listener(item)?)),
            _ => Ok(None),
        }
    }

    async fn add(&self, connection: &Connection) -> Result<(), StoreError> {
        self.put(
            format!("{CONNECTION}{}", connection.id),
            &connection.listener,
            connection.expires_at,
        )
        .await
    }

    async fn remove(&self, id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(LIVE_KEY, s(format!("{CONNECTION}{id}")))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn list(&self, now: DateTime<Utc>) -> Result<Vec<Connection>, StoreError> {
        let items: Vec<Item> = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("begins_with(#id, :prefix) AND #expires > :now")
            .expression_attribute_names("#id", LIVE_KEY)
            .expression_attribute_names("#expires", LIVE_TTL_ATTRIBUTE)
            .expression_attribute_values(":prefix", s(CONNECTION))
            .expression_attribute_values(":now", n(now.timestamp()))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(unavailable)?;
        let mut all = Vec::with_capacity(items.len());
        for item in &items {
            let id = get_s(item, LIVE_KEY)?;
            all.push(Connection {
                id: id.strip_prefix(CONNECTION).unwrap_or(id).to_owned(),
                listener: listener(item)?,
                expires_at: expires_at(item)?,
            });
        }
        all.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(all)
    }
}

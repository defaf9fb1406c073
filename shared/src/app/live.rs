//! Live updates: console pages open a WebSocket with a one-time ticket, and whatever changes
//! a line or a conversation is pushed to the pages it concerns.
//!
//! The same service runs behind API Gateway's WebSocket API (`functions/live` keeps the
//! connections, the processor and the agents' API push with `PostToConnection`) and inside
//! `atende serve` (its own sockets). Pushing is best effort: a page that misses a frame reads
//! everything again on its next poll, so a failed push never fails the work that caused it.

use crate::domain::live::{Change, Connection, Listener};
use crate::ports::{Clock, LiveConnections, Push, PushError, StoreError};
use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use std::sync::Arc;

/// How long a ticket may wait for its connection.
pub const TICKET_SECONDS: i64 = 60;
/// API Gateway closes a WebSocket after two hours; a connection nobody said was closed is
/// forgotten a little later.
pub const CONNECTION_SECONDS: i64 = 2 * 3600 + 600;

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// No such ticket, used already, or expired (the page asks for a new one).
    #[error("the ticket is unknown, used or expired")]
    BadTicket,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A ticket to open one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ticket {
    pub value: String,
    pub expires_at: DateTime<Utc>,
}

/// How a publication went (for the logs and tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Published {
    pub pushed: usize,
    pub gone: usize,
    pub failed: usize,
}

pub struct Live {
    connections: Arc<dyn LiveConnections>,
    push: Arc<dyn Push>,
    clock: Arc<dyn Clock>,
}

impl Live {
    pub fn new(
        connections: Arc<dyn LiveConnections>,
        push: Arc<dyn Push>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            connections,
            push,
            clock,
        }
    }

    /// A fresh one-time ticket for `listener` (random, 256 bits).
    pub async fn ticket(&self, listener: &Listener) -> Result<Ticket, LiveError> {
        use aws_lc_rs::rand::SecureRandom;
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| StoreError::Unavailable("no randomness for a ticket".to_owned()))?;
        let ticket = Ticket {
            value: hex::encode(bytes),
            expires_at: self.clock.now() + chrono::Duration::seconds(TICKET_SECONDS),
        };
        self.connections
            .put_ticket(&ticket.value, listener, ticket.expires_at)
            .await?;
        Ok(ticket)
    }

    /// Opens connection `id` with `ticket`, which is used up.
    pub async fn connect(&self, id: &str, ticket: &str) -> Result<Listener, LiveError> {
        let now = self.clock.now();
        let listener = self
            .connections
            .take_ticket(ticket, now)
            .await?
            .ok_or(LiveError::BadTicket)?;
        self.connections
            .add(&Connection {
                id: id.to_owned(),
                listener: listener.clone(),
                expires_at: now + chrono::Duration::seconds(CONNECTION_SECONDS),
            })
            .await?;
        Ok(listener)
    }

    pub async fn disconnect(&self, id: &str) -> Result<(), LiveError> {
        Ok(self.connections.remove(id).await?)
    }

    /// Pushes `change` to every connection it concerns, at once; connections found gone are
    /// forgotten. Failures are logged, never returned.
    pub async fn publish(&self, change: &Change) -> Published {
        let mut published = Published::default();
        if change.is_empty() {
            return published;
        }
        let connections = match self.connections.list(self.clock.now()).await {
            Ok(all) => all,
            Err(e) => {
                tracing::warn!(error = %e, "live connections could not be read; pages fall back to polling");
                published.failed = 1;
                return published;
            }
        };
        let frame = change.frame();
        let audience: Vec<&Connection> = connections
            .iter()
            .filter(|c| change.concerns(&c.listener))
            .collect();
        let results = join_all(audience.iter().map(|c| self.push.push(&c.id, &frame))).await;
        for (connection, result) in audience.iter().zip(results) {
            match result {
                Ok(()) => published.pushed += 1,
                Err(PushError::Gone) => {
                    published.gone += 1;
                    if let Err(e) = self.connections.remove(&connection.id).await {
                        tracing::warn!(error = %e, "a gone live connection could not be forgotten");
                    }
                }
                Err(e) => {
                    published.failed += 1;
                    tracing::warn!(error = %e, "live push failed");
                }
            }
        }
        published
    }
}

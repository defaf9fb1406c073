//! Memory adapters of the live ports: `MemoryLiveConnections`, and `ChannelPush`, the sockets
//! of this process (what API Gateway's connections are on AWS: `atende serve` holds them).

use crate::domain::live::{Connection, Listener};
use crate::ports::{LiveConnections, Push, PushError, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use tokio::sync::mpsc;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Default)]
pub struct MemoryLiveConnections {
    tickets: Mutex<HashMap<String, (Listener, DateTime<Utc>)>>,
    connections: Mutex<HashMap<String, Connection>>,
}

impl MemoryLiveConnections {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl LiveConnections for MemoryLiveConnections {
    async fn put_ticket(
        &self,
        ticket: &str,
        listener: &Listener,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tickets = lock(&self.tickets);
        // Long-expired ones go when new ones come, as a TTL would take them.
        tickets.retain(|_, (_, expires)| *expires + chrono::Duration::days(1) > expires_at);
        tickets.insert(ticket.to_owned(), (listener.clone(), expires_at));
        Ok(())
    }

    async fn take_ticket(
        &self,
        ticket: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Listener>, StoreError> {
        Ok(lock(&self.tickets)
            .remove(ticket)
            .filter(|(_, expires)| *expires > now)
            .map(|(listener, _)| listener))
    }

    async fn add(&self, connection: &Connection) -> Result<(), StoreError> {
        lock(&self.connections).insert(connection.id.clone(), connection.clone());
        Ok(())
    }

    async fn remove(&self, id: &str) -> Result<(), StoreError> {
        lock(&self.connections).remove(id);
        Ok(())
    }

    async fn list(&self, now: DateTime<Utc>) -> Result<Vec<Connection>, StoreError> {
        let mut all: Vec<Connection> = lock(&self.connections)
            .values()
            .filter(|c| c.expires_at > now)
            .cloned()
            .collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(all)
    }
}

/// Frames for the sockets this process holds: each open socket registers a channel, and its
/// task writes what arrives on it. A connection without a channel (closed) is `Gone`.
#[derive(Default)]
pub struct ChannelPush {
    sockets: Mutex<HashMap<String, mpsc::UnboundedSender<String>>>,
}

impl ChannelPush {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a socket; what is pushed to `id` arrives on the receiver.
    pub fn open(&self, id: &str) -> mpsc::UnboundedReceiver<String> {
        let (sender, receiver) = mpsc::unbounded_channel();
        lock(&self.sockets).insert(id.to_owned(), sender);
        receiver
    }

    pub fn close(&self, id: &str) {
        lock(&self.sockets).remove(id);
    }
}

#[async_trait]
impl Push for ChannelPush {
    async fn push(&self, connection: &str, frame: &str) -> Result<(), PushError> {
        let mut sockets = lock(&self.sockets);
        match sockets.get(connection) {
            Some(sender) if sender.send(frame.to_owned()).is_ok() => Ok(()),
            Some(_) => {
                sockets.remove(connection);
                Err(PushError::Gone)
            }
            None => Err(PushError::Gone),
        }
    }
}

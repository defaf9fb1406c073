//! Memory adapters of the desk's ports: `MemoryAgents`, `MemoryConversationLog`.

use crate::domain::CustomerId;
use crate::domain::agent::{Agent, AgentProfile, Presence, Reservation};
use crate::domain::event::DeliveryStatus;
use crate::domain::log::{Erasure, LogEntry, LogLine, LoggedLine};
use crate::ports::{Advance, Agents, ConversationLog, DeliveryStatuses, LogPage, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Agents in a map by id; every change under one lock, so a reservation is atomic.
#[derive(Default)]
pub struct MemoryAgents {
    agents: Mutex<BTreeMap<String, Agent>>,
}

impl MemoryAgents {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Agents for MemoryAgents {
    async fn get(&self, id: &str) -> Result<Option<Agent>, StoreError> {
        Ok(lock(&self.agents).get(id).cloned())
    }

    async fn list(&self) -> Result<Vec<Agent>, StoreError> {
        let mut all: Vec<Agent> = lock(&self.agents).values().cloned().collect();
        all.sort_by(|a, b| a.profile.name.cmp(&b.profile.name));
        Ok(all)
    }

    async fn put_profile(&self, profile: &AgentProfile) -> Result<(), StoreError> {
        let mut agents = lock(&self.agents);
        match agents.get_mut(&profile.id) {
            Some(agent) => agent.profile = profile.clone(),
            None => {
                agents.insert(
                    profile.id.clone(),
                    Agent {
                        profile: profile.clone(),
                        presence: Presence::Away,
                        holding: Default::default(),
                    },
                );
            }
        }
        Ok(())
    }

    async fn set_presence(&self, id: &str, presence: Presence) -> Result<bool, StoreError> {
        Ok(lock(&self.agents)
            .get_mut(id)
            .map(|a| a.presence = presence)
            .is_some())
    }

    async fn reserve(
        &self,
        id: &str,
        customer: &CustomerId,
        default_capacity: u32,
    ) -> Result<Reservation, StoreError> {
        let mut agents = lock(&self.agents);
        let Some(agent) = agents.get_mut(id) else {
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
        agent.holding.insert(customer.key().to_owned());
        Ok(Reservation::Reserved)
    }

    async fn release(&self, id: &str, customer: &CustomerId) -> Result<(), StoreError> {
        if let Some(agent) = lock(&self.agents).get_mut(id) {
            agent.holding.remove(customer.key());
        }
        Ok(())
    }
}

/// What the memory log keeps of one customer: lines by key, statuses by message id.
#[derive(Default)]
struct CustomerLog {
    lines: BTreeMap<String, (LogEntry, DateTime<Utc>)>,
    /// The messages sent, by WhatsApp id: their status (`sent` from the start).
    statuses: HashMap<String, (DeliveryStatus, DateTime<Utc>)>,
    /// The ones among them an agent sent.
    by_agents: std::collections::HashSet<String>,
}

/// Conversation logs in maps, per customer.
#[derive(Default)]
pub struct MemoryConversationLog {
    logs: Mutex<HashMap<String, CustomerLog>>,
    erasures: Mutex<Vec<Erasure>>,
}

impl MemoryConversationLog {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl ConversationLog for MemoryConversationLog {
    async fn write(
        &self,
        customer: &CustomerId,
        key: &str,
        entry: &LogEntry,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut logs = lock(&self.logs);
        let log = logs.entry(customer.key().to_owned()).or_default();
        if let LogLine::Sent {
            message_id, agent, ..
        } = &entry.line
        {
            log.statuses
                .entry(message_id.clone())
                .or_insert((DeliveryStatus::Sent, expires_at));
            if agent.is_some() {
                log.by_agents.insert(message_id.clone());
            }
        }
        log.lines
            .insert(key.to_owned(), (entry.clone(), expires_at));
        Ok(())
    }

    async fn set_status(
        &self,
        customer: &CustomerId,
        message_id: &str,
        status: &DeliveryStatus,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let Some(new) = status.rank() else {
            return Ok(());
        };
        let mut logs = lock(&self.logs);
        let statuses = &mut logs.entry(customer.key().to_owned()).or_default().statuses;
        if statuses
            .get(message_id)
            .and_then(|(old, _)| old.rank())
            .is_none_or(|old| old < new)
        {
            statuses.insert(message_id.to_owned(), (status.clone(), expires_at));
        }
        Ok(())
    }

    async fn page(
        &self,
        customer: &CustomerId,
        before: Option<&str>,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<LogPage, StoreError> {
        let logs = lock(&self.logs);
        let Some(log) = logs.get(customer.key()) else {
            return Ok(LogPage {
                lines: Vec::new(),
                before: None,
            });
        };
        let mut older = log
            .lines
            .iter()
            .filter(|(key, (_, expires))| before.is_none_or(|b| key.as_str() < b) && *expires > now)
            .rev();
        let mut lines: Vec<LoggedLine> = older
            .by_ref()
            .take(limit)
            .map(|(key, (entry, _))| LoggedLine {
                key: key.clone(),
                entry: entry.clone(),
                status: match &entry.line {
                    LogLine::Sent { message_id, .. } => Some(
                        log.statuses
                            .get(message_id)
                            .filter(|(_, expires)| *expires > now)
                            .map_or(DeliveryStatus::Sent, |(s, _)| s.clone()),
                    ),
                    _ => None,
                },
                link: None,
            })
            .collect();
        let more = older.next().is_some();
        lines.reverse();
        let before = more.then(|| lines.first().map(|l| l.key.clone())).flatten();
        Ok(LogPage { lines, before })
    }

    async fn erase(&self, customer: &CustomerId) -> Result<usize, StoreError> {
        Ok(lock(&self.logs)
            .remove(customer.key())
            .map_or(0, |log| log.lines.len() + log.statuses.len()))
    }

    async fn record_erasure(&self, erasure: &Erasure) -> Result<(), StoreError> {
        lock(&self.erasures).push(erasure.clone());
        Ok(())
    }

    async fn erasures(&self) -> Result<Vec<Erasure>, StoreError> {
        Ok(lock(&self.erasures).clone())
    }
}

#[async_trait]
impl DeliveryStatuses for MemoryConversationLog {
    async fn advance(
        &self,
        customer: &CustomerId,
        message_id: &str,
        status: &DeliveryStatus,
    ) -> Result<Advance, StoreError> {
        let Some(new) = status.plain_rank() else {
            return Ok(Advance::ForTheProcessor);
        };
        let mut logs = lock(&self.logs);
        let Some(log) = logs.get_mut(customer.key()) else {
            return Ok(Advance::ForTheProcessor);
        };
        if log.by_agents.contains(message_id) {
            return Ok(Advance::ForTheProcessor);
        }
        let Some((current, _)) = log.statuses.get_mut(message_id) else {
            return Ok(Advance::ForTheProcessor);
        };
        if current.rank().is_none_or(|old| old < new) {
            *current = status.clone();
        }
        Ok(Advance::Recorded)
    }
}

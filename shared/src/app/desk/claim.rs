//! Taking customers from the line: an agent's own claim of the next one, and a supervisor's
//! assignment of a waiting customer to a named agent.

use super::{Actor, Desk, DeskError, action_id, agent_ref, conflict};
use crate::domain::agent::{AgentProfile, AgentRef, Presence, Reservation};
use crate::domain::live::Change;
use crate::domain::session::State;
use crate::domain::sla::{Priority, WaitingCustomer};
use crate::domain::{AgentAction, CustomerId, EventKind, QueueEvent};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A customer an agent now holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Claimed {
    #[serde(serialize_with = "super::read::customer_key")]
    pub customer: CustomerId,
    pub department: String,
    /// When they joined the line.
    pub waiting_since: DateTime<Utc>,
    pub vip: bool,
}

impl Desk {
    /// The next customer of the agent's departments, for the agent: VIPs first, then those
    /// past their department's maximum wait, then the longest waiting; only customers whose
    /// 24-hour window is still open. Never over the agent's capacity, never while they are
    /// away; atomic however many agents claim at once. `None` when nobody can be taken.
    pub async fn claim_next(&self, actor: &Actor) -> Result<Option<Claimed>, DeskError> {
        let profile = self.profile(actor).await?;
        self.ready_to_take(&profile).await?;
        let now = self.clock.now();
        let mut waiting: Vec<WaitingCustomer> = self
            .attendance
            .waiting(self.clock.now())
            .await?
            .into_iter()
            .filter(|w| profile.serves(&w.department))
            .collect();
        waiting.sort_by_key(|w| {
            let past_sla = self.config.department(&w.department).is_none_or(|d| {
                now - w.entered_at >= chrono::Duration::minutes(d.sla_max_minutes.into())
            });
            (w.priority, !past_sla, w.entered_at)
        });
        for entry in waiting {
            if !self.window_open(&entry.customer, now).await? {
                continue;
            }
            if !self.attendance.take(&entry).await? {
                // Another agent took them first.
                continue;
            }
            return self
                .hand_to(&agent_ref(&profile), None, entry)
                .await
                .map(Some);
        }
        Ok(None)
    }

    /// The agent takes a customer they opened from their departments' lines (as Whaticket's
    /// *Aceitar*), whatever their place in line. Refused, naming who, when a colleague took
    /// them a moment before.
    pub async fn claim(&self, actor: &Actor, customer: &CustomerId) -> Result<Claimed, DeskError> {
        let profile = self.profile(actor).await?;
        self.ready_to_take(&profile).await?;
        let entry = self
            .attendance
            .waiting(self.clock.now())
            .await?
            .into_iter()
            .find(|w| &w.customer == customer && profile.serves(&w.department));
        let taken = match entry {
            Some(_) if !self.window_open(customer, self.clock.now()).await? => {
                return Err(conflict(
                    "this customer's 24-hour window has closed; nobody can write to them now",
                ));
            }
            Some(entry) if self.attendance.take(&entry).await? => entry,
            _ => return Err(self.not_waiting(customer).await?),
        };
        self.hand_to(&agent_ref(&profile), None, taken).await
    }

    /// Why a customer cannot be taken: who has them, or that they no longer wait.
    async fn not_waiting(&self, customer: &CustomerId) -> Result<DeskError, DeskError> {
        let record = self.sessions.load(customer, self.clock.now()).await?;
        Ok(match record.map(|r| r.session.state) {
            Some(State::Human {
                agent: Some(agent), ..
            }) => conflict(format!("{} took this customer a moment ago", agent.name)),
            _ => conflict("this customer is no longer waiting in your lines"),
        })
    }

    /// A supervisor gives a waiting customer to a named agent, who must be available and
    /// have room (a supervisor may name themselves).
    pub async fn assign(
        &self,
        actor: &Actor,
        customer: &CustomerId,
        agent_id: &str,
    ) -> Result<Claimed, DeskError> {
        let supervisor = self.profile(actor).await?;
        Self::supervisor_only(&supervisor)?;
        let agent = self
            .agents
            .get(agent_id)
            .await?
            .ok_or_else(|| DeskError::NotFound(format!("no agent `{agent_id}`")))?;
        self.ready_to_take(&agent.profile).await?;
        let entry = self
            .attendance
            .waiting(self.clock.now())
            .await?
            .into_iter()
            .find(|w| &w.customer == customer)
            .ok_or_else(|| conflict("this customer is not waiting in any line"))?;
        if !self.window_open(customer, self.clock.now()).await? {
            return Err(conflict(
                "this customer's 24-hour window has closed; nobody can write to them now",
            ));
        }
        if !self.attendance.take(&entry).await? {
            return Err(self.not_waiting(customer).await?);
        }
        self.hand_to(&agent.profile.as_ref(), Some(agent_ref(&supervisor)), entry)
            .await
    }

    /// Whether the agent takes customers now: available, with room.
    async fn ready_to_take(&self, profile: &AgentProfile) -> Result<(), DeskError> {
        let agent = self
            .agents
            .get(&profile.id)
            .await?
            .ok_or_else(|| DeskError::NotFound(format!("no agent `{}`", profile.id)))?;
        if agent.presence == Presence::Away {
            return Err(conflict(format!(
                "{} is away; set the presence to available to take customers",
                profile.name
            )));
        }
        let capacity = agent
            .profile
            .capacity
            .unwrap_or(self.config.desk.default_capacity);
        if agent.holding.len() >= capacity as usize {
            return Err(conflict(format!(
                "{} holds {} conversations, the most at once",
                profile.name, capacity
            )));
        }
        Ok(())
    }

    /// Whether the customer's conversation is live and their window open.
    async fn window_open(
        &self,
        customer: &CustomerId,
        now: DateTime<Utc>,
    ) -> Result<bool, DeskError> {
        Ok(self
            .sessions
            .load(customer, now)
            .await?
            .is_some_and(|r| !r.session.window_closed))
    }

    /// The customer, just taken out of the line, goes to the agent: their place reserved, then
    /// the claim queued on the customer's group. Whatever fails puts everything back.
    async fn hand_to(
        &self,
        agent: &AgentRef,
        assigned_by: Option<AgentRef>,
        entry: WaitingCustomer,
    ) -> Result<Claimed, DeskError> {
        let reserved = self
            .agents
            .reserve(
                &agent.id,
                &entry.customer,
                self.config.desk.default_capacity,
            )
            .await;
        let refusal = match reserved {
            Ok(Reservation::Reserved) => None,
            Ok(Reservation::Away) => Some(conflict(format!("{} is away", agent.name))),
            Ok(Reservation::Full) => Some(conflict(format!(
                "{} holds as many conversations as they may",
                agent.name
            ))),
            Ok(Reservation::Unknown) => {
                Some(DeskError::NotFound(format!("no agent `{}`", agent.id)))
            }
            Err(e) => Some(e.into()),
        };
        if let Some(refusal) = refusal {
            self.attendance.enqueue(entry).await?;
            return Err(refusal);
        }
        let event = QueueEvent {
            also: None,
            // One claim per wait: the wait is taken out of the line once.
            id: action_id(
                "claim",
                &entry.customer,
                &format!(
                    "{}:{}",
                    entry.department,
                    entry.entered_at.timestamp_millis()
                ),
            ),
            customer: Some(entry.customer.clone()),
            business_number: self.number_of(&entry.customer).await?,
            kind: EventKind::Agent(AgentAction::Claim {
                agent: agent.clone(),
                assigned_by,
            }),
        };
        if let Err(e) = self.events.enqueue(&[event]).await {
            self.agents.release(&agent.id, &entry.customer).await?;
            self.attendance.enqueue(entry).await?;
            return Err(e.into());
        }
        // Colleagues see the customer leave the line now, not when the claim is applied.
        self.publish(Change {
            departments: vec![entry.department.clone()],
            agents: vec![agent.id.clone()],
            customer: Some(entry.customer.clone()),
        })
        .await;
        Ok(Claimed {
            vip: entry.priority == Priority::High,
            customer: entry.customer,
            department: entry.department,
            waiting_since: entry.entered_at,
        })
    }

    /// The business number the customer writes to.
    async fn number_of(&self, customer: &CustomerId) -> Result<Option<String>, DeskError> {
        let record = self.sessions.load(customer, self.clock.now()).await?;
        Ok(record
            .and_then(|r| r.business_number)
            .or_else(|| self.business_number.clone()))
    }
}

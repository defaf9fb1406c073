//! What agents and supervisors read: the lines of their departments, their own
//! conversations, one customer's whole conversation, and the supervisors' overview.

use super::{Actor, Desk, DeskError, invalid};
use crate::domain::agent::{AgentRef, Presence};
use crate::domain::session::{Handoff, SessionRecord, State};
use crate::domain::sla::{Priority, SlaLevel, overdue};
use crate::domain::{CustomerId, LoggedLine};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A customer as the API names them: their key (the phone number, or the user id).
pub(super) fn customer_key<S: serde::Serializer>(c: &CustomerId, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(c.key())
}

/// How long an agent's link to a customer's file stays valid.
const FILE_LINK_VALIDITY: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// How much of a waiting customer's last message the lines show.
pub const PREVIEW_CHARS: usize = 80;

/// The first `PREVIEW_CHARS` characters of `text`, with "…" when it goes on.
fn preview(text: &str) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(PREVIEW_CHARS).collect();
    if chars.next().is_some() {
        format!("{}…", head.trim_end())
    } else {
        head
    }
}

/// The most log lines one page holds.
pub const PAGE_MAX: usize = 200;

/// A customer waiting in a line, as an agent sees them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WaitingView {
    #[serde(serialize_with = "customer_key")]
    pub customer: CustomerId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub department: String,
    /// 1 = next in that department's line.
    pub place: usize,
    pub waiting_since: DateTime<Utc>,
    pub waited_minutes: i64,
    pub vip: bool,
    /// `ok`, `warning` (past the department's alert) or `breach` (past its maximum).
    pub sla: &'static str,
    /// Their 24-hour window is open: an agent can take and answer them.
    pub window_open: bool,
    /// The first words of their last message (at most `PREVIEW_CHARS` characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_words: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handoff: Option<Handoff>,
}

/// A conversation held by a person.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConversationView {
    #[serde(serialize_with = "customer_key")]
    pub customer: CustomerId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where the conversation is: `human` (waiting or held), or a bot state.
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentRef>,
    /// Since when the customer waits for the agent's answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub awaiting_reply_since: Option<DateTime<Utc>>,
    /// The customer's messages since the agent last wrote (the console's unread count).
    pub unanswered: usize,
    /// Until when free-form messages reach the customer; `None` once it closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_open_until: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handoff: Option<Handoff>,
}

impl ConversationView {
    fn of(record: &SessionRecord) -> Self {
        let session = &record.session;
        let (department, agent, awaiting) = match &session.state {
            State::Human {
                department,
                agent,
                awaiting_reply_since,
                ..
            } => (
                Some(department.clone()),
                agent.clone(),
                *awaiting_reply_since,
            ),
            other => (other.department().map(str::to_owned), None, None),
        };
        Self {
            customer: session.customer.clone(),
            name: session.profile_name.clone(),
            state: session.state.name(),
            department,
            agent,
            awaiting_reply_since: awaiting,
            unanswered: match awaiting {
                Some(_) => session
                    .history
                    .iter()
                    .rev()
                    .take_while(|t| t.from == crate::domain::Party::Customer)
                    .count(),
                None => 0,
            },
            window_open_until: (!session.window_closed).then(|| session.expires_at()),
            handoff: session.handoff.clone(),
        }
    }
}

impl ConversationView {
    /// A conversation the agent still holds after the customer's window closed (the session
    /// is gone): only a template reaches the customer now; closing lets it go.
    fn after_window(customer: &CustomerId, department: Option<String>, agent: AgentRef) -> Self {
        Self {
            customer: customer.clone(),
            name: None,
            state: "window_closed",
            department,
            agent: Some(agent),
            awaiting_reply_since: None,
            unanswered: 0,
            window_open_until: None,
            handoff: None,
        }
    }
}

/// A page of one customer's conversation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConversationPage {
    /// The live conversation; `None` once the window closed and the session ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation: Option<ConversationView>,
    /// Oldest first.
    pub lines: Vec<LoggedLine>,
    /// The cursor for the lines before these (`before=`), if there are any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
}

/// One department, for the supervisors.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DepartmentLoad {
    pub department: String,
    pub name: String,
    pub waiting: usize,
    pub oldest_wait_minutes: Option<i64>,
    pub sla_warnings: usize,
    pub sla_breaches: usize,
}

/// One agent, for the supervisors.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AgentLoad {
    pub id: String,
    pub name: String,
    pub departments: Vec<String>,
    pub supervisor: bool,
    pub presence: Presence,
    pub holding: usize,
    pub capacity: u32,
    /// When they last wrote to a customer of the conversations they hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_answer_at: Option<DateTime<Utc>>,
}

impl AgentLoad {
    fn of(
        agent: crate::domain::agent::Agent,
        default_capacity: u32,
        last_answer_at: Option<DateTime<Utc>>,
    ) -> Self {
        Self {
            capacity: agent.profile.capacity.unwrap_or(default_capacity),
            id: agent.profile.id,
            name: agent.profile.name,
            departments: agent.profile.departments,
            supervisor: agent.profile.supervisor,
            presence: agent.presence,
            holding: agent.holding.len(),
            last_answer_at,
        }
    }
}

/// The supervisors' view of the desk now.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Overview {
    pub departments: Vec<DepartmentLoad>,
    pub agents: Vec<AgentLoad>,
}

impl Desk {
    /// The quick replies of the caller's departments (every one, for a supervisor).
    pub async fn quick_replies(
        &self,
        actor: &Actor,
    ) -> Result<Vec<crate::domain::agent::QuickReply>, DeskError> {
        let profile = self.profile(actor).await?;
        Ok(self
            .config
            .quick_replies
            .iter()
            .filter(|r| {
                profile.supervisor
                    || r.departments.is_empty()
                    || r.departments.iter().any(|d| profile.serves(d))
            })
            .cloned()
            .collect())
    }

    /// Whom the caller can hand a conversation to: every other agent (a customer may need
    /// someone of another department), with their presence and load.
    pub async fn colleagues(&self, actor: &Actor) -> Result<Vec<AgentLoad>, DeskError> {
        let profile = self.profile(actor).await?;
        Ok(self
            .agents
            .list()
            .await?
            .into_iter()
            .filter(|a| a.profile.id != profile.id)
            .map(|a| AgentLoad::of(a, self.config.desk.default_capacity, None))
            .collect())
    }

    /// The caller as the desk knows them.
    pub async fn me(&self, actor: &Actor) -> Result<AgentLoad, DeskError> {
        let profile = self.profile(actor).await?;
        let agent = self
            .agents
            .get(&profile.id)
            .await?
            .ok_or_else(|| DeskError::NotFound("no such agent".into()))?;
        Ok(AgentLoad {
            capacity: profile
                .capacity
                .unwrap_or(self.config.desk.default_capacity),
            id: profile.id,
            name: profile.name,
            departments: profile.departments,
            supervisor: profile.supervisor,
            presence: agent.presence,
            last_answer_at: self.last_answer(&agent.holding, self.clock.now()).await?,
            holding: agent.holding.len(),
        })
    }

    /// The lines of the caller's departments (all, for a supervisor), each in order.
    pub async fn lines(&self, actor: &Actor) -> Result<Vec<WaitingView>, DeskError> {
        let profile = self.profile(actor).await?;
        let now = self.clock.now();
        let waiting = self.attendance.waiting(now).await?;
        let findings = overdue(&waiting, now, &self.config);
        let mut views = Vec::new();
        let mut place = 0;
        let mut department: Option<&str> = None;
        for w in &waiting {
            if department != Some(w.department.as_str()) {
                department = Some(&w.department);
                place = 0;
            }
            place += 1;
            if !profile.serves(&w.department) {
                continue;
            }
            let record = self.sessions.load(&w.customer, now).await?;
            let sla = match findings
                .iter()
                .find(|f| f.customer == w.customer && f.department == w.department)
                .map(|f| f.level)
            {
                Some(SlaLevel::Breach) => "breach",
                Some(SlaLevel::Warning) => "warning",
                None => "ok",
            };
            views.push(WaitingView {
                customer: w.customer.clone(),
                name: record.as_ref().and_then(|r| r.session.profile_name.clone()),
                department: w.department.clone(),
                place,
                waiting_since: w.entered_at,
                waited_minutes: (now - w.entered_at).num_minutes(),
                vip: w.priority == Priority::High,
                sla,
                window_open: record.as_ref().is_some_and(|r| !r.session.window_closed),
                last_words: record.as_ref().and_then(|r| {
                    r.session
                        .history
                        .iter()
                        .rev()
                        .find(|t| t.from == crate::domain::Party::Customer)
                        .map(|t| preview(&t.text))
                }),
                handoff: record.and_then(|r| r.session.handoff),
            });
        }
        Ok(views)
    }

    /// The conversations the caller holds.
    pub async fn mine(&self, actor: &Actor) -> Result<Vec<ConversationView>, DeskError> {
        let profile = self.profile(actor).await?;
        let Some(agent) = self.agents.get(&profile.id).await? else {
            return Ok(Vec::new());
        };
        let now = self.clock.now();
        let mut views = Vec::new();
        for key in &agent.holding {
            let Some(customer) = CustomerId::from_key(key) else {
                continue;
            };
            match self.sessions.load(&customer, now).await? {
                Some(record) if matches!(record.session.state, State::Human { .. }) => {
                    views.push(ConversationView::of(&record));
                }
                _ => views.push(ConversationView::after_window(
                    &customer,
                    self.last_department(&customer).await?.flatten(),
                    profile.as_ref(),
                )),
            }
        }
        views.sort_by_key(|v| v.awaiting_reply_since.unwrap_or(DateTime::<Utc>::MAX_UTC));
        Ok(views)
    }

    /// A page of the customer's whole conversation (customer, bot and agent lines, notes and
    /// events, each sent message with its delivery status), newest page first: `before` is
    /// the cursor a previous page returned.
    pub async fn conversation(
        &self,
        actor: &Actor,
        customer: &CustomerId,
        before: Option<&str>,
        limit: usize,
    ) -> Result<ConversationPage, DeskError> {
        if limit == 0 || limit > PAGE_MAX {
            return Err(invalid("limit", format!("must be 1 to {PAGE_MAX}")));
        }
        let profile = self.profile(actor).await?;
        let now = self.clock.now();
        let live = self.sessions.load(customer, now).await?;
        let person = live
            .as_ref()
            .is_some_and(|r| matches!(r.session.state, State::Human { .. }));
        let conversation = match live {
            _ if !person && self.holds(&profile, customer).await? => {
                Some(ConversationView::after_window(
                    customer,
                    self.last_department(customer).await?.flatten(),
                    profile.as_ref(),
                ))
            }
            Some(_) => Some(ConversationView::of(
                &self.conversation_of(&profile, customer).await?,
            )),
            None => None,
        };
        let mut page = self.log.page(customer, before, limit, now).await?;
        for line in &mut page.lines {
            if let crate::domain::LogLine::Customer {
                media: Some(media), ..
            } = &line.entry.line
            {
                let key = crate::ports::media_key(customer, "in", &media.id);
                line.link = Some(self.media.link(&key, FILE_LINK_VALIDITY).await?);
            }
        }
        if conversation.is_none() {
            if page.lines.is_empty() && before.is_none() {
                return Err(DeskError::NotFound(
                    "no conversation with this customer".into(),
                ));
            }
            if !profile.supervisor {
                return Err(DeskError::Forbidden(
                    "this customer's conversation is over; supervisors can read it".into(),
                ));
            }
        }
        Ok(ConversationPage {
            conversation,
            lines: page.lines,
            before: page.before,
        })
    }

    /// Per department how many wait, the oldest wait, SLA warnings and breaches; each agent
    /// with presence and load. Supervisors only.
    pub async fn overview(&self, actor: &Actor) -> Result<Overview, DeskError> {
        let profile = self.profile(actor).await?;
        Self::supervisor_only(&profile)?;
        let now = self.clock.now();
        let waiting = self.attendance.waiting(now).await?;
        let findings = overdue(&waiting, now, &self.config);
        let departments = self
            .config
            .departments
            .iter()
            .map(|d| {
                let line: Vec<_> = waiting.iter().filter(|w| w.department == d.id).collect();
                let level = |l: SlaLevel| {
                    findings
                        .iter()
                        .filter(|f| f.department == d.id && f.level == l)
                        .count()
                };
                DepartmentLoad {
                    department: d.id.clone(),
                    name: d.name.clone(),
                    waiting: line.len(),
                    oldest_wait_minutes: line
                        .iter()
                        .map(|w| (now - w.entered_at).num_minutes())
                        .max(),
                    sla_warnings: level(SlaLevel::Warning),
                    sla_breaches: level(SlaLevel::Breach),
                }
            })
            .collect();
        let mut agents = Vec::new();
        for a in self.agents.list().await? {
            let last_answer_at = self.last_answer(&a.holding, now).await?;
            agents.push(AgentLoad::of(
                a,
                self.config.desk.default_capacity,
                last_answer_at,
            ));
        }
        Ok(Overview {
            departments,
            agents,
        })
    }

    /// The last time an agent wrote in any of the conversations they hold.
    async fn last_answer(
        &self,
        holding: &std::collections::BTreeSet<String>,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, DeskError> {
        let mut last = None;
        for key in holding {
            let Some(customer) = CustomerId::from_key(key) else {
                continue;
            };
            if let Some(record) = self.sessions.load(&customer, now).await? {
                let answered = record
                    .session
                    .history
                    .iter()
                    .rev()
                    .find(|t| t.from == crate::domain::Party::Agent)
                    .map(|t| t.at);
                last = last.max(answered);
            }
        }
        Ok(last)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_preview_is_the_first_words() {
        assert_eq!(super::preview("minha internet caiu"), "minha internet caiu");
        let long = "a ".repeat(60);
        let shown = super::preview(&long);
        assert!(shown.ends_with('…') && shown.chars().count() <= super::PREVIEW_CHARS + 1);
    }
}

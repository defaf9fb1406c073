//! Who waits for a human, and for how long compared with the department's limits.

use crate::domain::config::Config;
use crate::domain::customer::CustomerId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Queue priority: VIPs first, then arrival order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    High,
    Normal,
    Low,
}

/// A customer in a department's attendance queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingCustomer {
    pub customer: CustomerId,
    pub department: String,
    pub priority: Priority,
    pub entered_at: DateTime<Utc>,
    /// When the customer's 24-hour window ends (renewed as they write): nobody can answer
    /// them after it, so they leave the line then. `None`: kept until taken or removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

impl WaitingCustomer {
    /// Still in line at `now`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|end| end > now)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SlaLevel {
    /// Waiting longer than `sla_alert_minutes`.
    Warning,
    /// Waiting longer than `sla_max_minutes`.
    Breach,
}

/// An alert to the staff about one wait, as the attendance queue keeps track of it: claimed by
/// one checker while it delivers, then marked sent (or let go for a later run to try again).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlaAlert {
    /// A customer in line past a threshold (the entry as `waiting` returned it).
    Wait {
        entry: WaitingCustomer,
        level: SlaLevel,
    },
    /// A customer held in `department`, waiting for the agent's answer since `since`; the mark
    /// is kept until `keep_until`.
    Reply {
        department: String,
        customer: CustomerId,
        since: DateTime<Utc>,
        keep_until: DateTime<Utc>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlaFinding {
    pub customer: CustomerId,
    pub department: String,
    pub waited_minutes: i64,
    pub level: SlaLevel,
}

/// The waiting customers past their department's alert or maximum wait, most overdue first.
/// A customer in a department the configuration does not know is reported as a breach: nobody
/// is going to pick them up.
pub fn overdue(
    waiting: &[WaitingCustomer],
    now: DateTime<Utc>,
    config: &Config,
) -> Vec<SlaFinding> {
    let mut findings: Vec<SlaFinding> = waiting
        .iter()
        .filter_map(|w| {
            let waited = (now - w.entered_at).num_minutes();
            let level = match config.department(&w.department) {
                None => SlaLevel::Breach,
                Some(d) if waited >= i64::from(d.sla_max_minutes) => SlaLevel::Breach,
                Some(d) if waited >= i64::from(d.sla_alert_minutes) => SlaLevel::Warning,
                Some(_) => return None,
            };
            Some(SlaFinding {
                customer: w.customer.clone(),
                department: w.department.clone(),
                waited_minutes: waited,
                level,
            })
        })
        .collect();
    findings.sort_by_key(|f| std::cmp::Reverse(f.waited_minutes));
    findings
}

/// A conversation a person holds whose customer waits for that person's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwaitingReply {
    pub customer: CustomerId,
    pub department: String,
    pub agent: crate::domain::agent::AgentRef,
    /// The customer's first message since the agent last wrote (or since the claim).
    pub since: DateTime<Utc>,
    pub waited_minutes: i64,
}

/// The held conversation's customer has waited for the agent's answer at least the
/// department's `reply_alert_minutes`; `None` otherwise, or when nobody waits for an answer.
pub fn reply_overdue(
    session: &crate::domain::session::Session,
    now: DateTime<Utc>,
    config: &Config,
) -> Option<AwaitingReply> {
    let crate::domain::session::State::Human {
        department,
        agent: Some(agent),
        awaiting_reply_since: Some(since),
        ..
    } = &session.state
    else {
        return None;
    };
    let limit = i64::from(config.department(department)?.reply_alert_minutes);
    let waited = (now - *since).num_minutes();
    (waited >= limit).then(|| AwaitingReply {
        customer: session.customer.clone(),
        department: department.clone(),
        agent: agent.clone(),
        since: *since,
        waited_minutes: waited,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    #[test]
    fn classifies_waits_against_the_department_limits() {
        let config = Config::embedded().unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 15, 0, 0).unwrap();
        // vendas: alert after 3 minutes, breach after 5.
        let waiting: Vec<WaitingCustomer> = [("a", 2), ("b", 3), ("c", 6), ("d", 4)]
            .into_iter()
            .map(|(who, minutes)| WaitingCustomer {
                customer: CustomerId::Phone(who.into()),
                department: "vendas".into(),
                priority: Priority::Normal,
                entered_at: now - Duration::minutes(minutes),
                expires_at: None,
            })
            .collect();
        let got: Vec<(String, SlaLevel)> = overdue(&waiting, now, &config)
            .into_iter()
            .map(|f| (f.customer.key().to_owned(), f.level))
            .collect();
        let want = [
            ("c", SlaLevel::Breach),
            ("d", SlaLevel::Warning),
            ("b", SlaLevel::Warning),
        ]
        .map(|(k, l)| (k.to_owned(), l));
        assert_eq!(got, want);
    }
}

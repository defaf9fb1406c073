//! The SLA checker: who waits for a human longer than their department allows.

use crate::app::Staff;
use crate::domain::Config;
use crate::domain::CustomerId;
use crate::domain::sla::reply_overdue;
use crate::domain::sla::{SlaAlert, SlaFinding, SlaLevel, overdue};
use crate::ports::{Agents, AttendanceQueue, Clock, SessionStore, StoreError};
use std::sync::Arc;

pub struct SlaChecker {
    queue: Arc<dyn AttendanceQueue>,
    clock: Arc<dyn Clock>,
    config: Arc<Config>,
    staff: Staff,
    metrics: Option<Arc<dyn crate::ports::Metrics>>,
    /// The desk, for the conversations agents hold: who holds what, and their sessions.
    desk: Option<(Arc<dyn Agents>, Arc<dyn SessionStore>)>,
}

impl SlaChecker {
    pub fn new(
        queue: Arc<dyn AttendanceQueue>,
        clock: Arc<dyn Clock>,
        config: Arc<Config>,
    ) -> Self {
        Self {
            queue,
            clock,
            config,
            staff: Staff::new(),
            metrics: None,
            desk: None,
        }
    }

    /// Also watches the conversations agents hold: a customer waiting for the agent's answer
    /// longer than the department's `reply_alert_minutes` is announced once per wait.
    pub fn with_desk(mut self, agents: Arc<dyn Agents>, sessions: Arc<dyn SessionStore>) -> Self {
        self.desk = Some((agents, sessions));
        self
    }

    /// The held conversations whose customer waits past the limit for the agent's answer,
    /// each announced once per wait. Returns how many alerts this run raised.
    async fn check_replies(&self) -> Result<usize, StoreError> {
        let Some((agents, sessions)) = &self.desk else {
            return Ok(0);
        };
        let now = self.clock.now();
        let mut alerts = 0;
        for agent in agents.list().await? {
            for key in &agent.holding {
                let Some(customer) = CustomerId::from_key(key) else {
                    continue;
                };
                let Some(record) = sessions.load(&customer, now).await? else {
                    continue;
                };
                let Some(awaiting) = reply_overdue(&record.session, now, &self.config) else {
                    continue;
                };
                if awaiting.agent.id != agent.profile.id {
                    continue;
                }
                // Kept as long as the session could still be waiting (24 hours).
                let alert = SlaAlert::Reply {
                    department: awaiting.department.clone(),
                    customer: customer.clone(),
                    since: awaiting.since,
                    keep_until: awaiting.since + crate::domain::session::SERVICE_WINDOW,
                };
                let notice = crate::domain::notice::reply_overdue(&awaiting, &self.config);
                if !self.alert_once(&alert, &notice, now).await? {
                    continue;
                }
                tracing::warn!(
                    customer = %customer.masked(),
                    department = %awaiting.department,
                    agent = %awaiting.agent.id,
                    waited_minutes = awaiting.waited_minutes,
                    "SLA alert: customer waiting for the agent's answer"
                );
                if let Some(m) = &self.metrics {
                    m.record(crate::ports::Metric::ReplyOverdue {
                        department: awaiting.department.clone(),
                    });
                }
                alerts += 1;
            }
        }
        Ok(alerts)
    }

    /// Records each warning and breach raised.
    pub fn with_metrics(mut self, metrics: Arc<dyn crate::ports::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Where alerts go (logs only without it).
    pub fn with_staff(mut self, staff: Staff) -> Self {
        self.staff = staff;
        self
    }

    /// Finds the customers waiting past their department's alert or maximum wait, and
    /// returns the alerts due now: a warning, then a breach, each once per wait (marked in
    /// the attendance queue, so concurrent or repeated runs do not alert twice). A wait
    /// found already past its maximum alerts the breach only.
    pub async fn run(&self) -> Result<SlaReport, StoreError> {
        let now = self.clock.now();
        let waiting = self.queue.waiting(now).await?;
        let findings = overdue(&waiting, now, &self.config);
        let mut alerts = Vec::new();
        for f in &findings {
            let Some(entry) = waiting
                .iter()
                .find(|w| w.customer == f.customer && w.department == f.department)
            else {
                continue;
            };
            if f.level == SlaLevel::Breach {
                // The warning is past too: never sent after the breach.
                let warning = SlaAlert::Wait {
                    entry: entry.clone(),
                    level: SlaLevel::Warning,
                };
                if self
                    .queue
                    .claim_alert(&warning, now, now + ALERT_CLAIM)
                    .await?
                {
                    self.queue.settle_alert(&warning, true).await?;
                }
            }
            let alert = SlaAlert::Wait {
                entry: entry.clone(),
                level: f.level,
            };
            let notice = crate::domain::notice::sla(f, &self.config);
            if !self.alert_once(&alert, &notice, now).await? {
                continue;
            }
            let level = match f.level {
                SlaLevel::Warning => "warning",
                SlaLevel::Breach => "breach",
            };
            tracing::warn!(
                customer = %f.customer.masked(),
                department = %f.department,
                waited_minutes = f.waited_minutes,
                level,
                "SLA alert: customer waiting past the limit"
            );
            if let Some(m) = &self.metrics {
                let department = f.department.clone();
                m.record(match f.level {
                    SlaLevel::Warning => crate::ports::Metric::SlaWarnings { department },
                    SlaLevel::Breach => crate::ports::Metric::SlaBreaches { department },
                });
            }
            alerts.push(f.clone());
        }
        let reply_alerts = self.check_replies().await?;
        tracing::info!(
            waiting = waiting.len(),
            overdue = findings.len(),
            alerts = alerts.len(),
            reply_alerts,
            "SLA check done"
        );
        Ok(SlaReport {
            overdue: findings.len(),
            alerts,
            reply_alerts,
        })
    }
}

impl SlaChecker {
    /// Delivers `notice` about `alert` once: claimed (so that overlapping runs do not both
    /// send it), told, and marked sent only when a channel took it (or there is no channel but
    /// the logs). When none took it, or the run dies before marking, the claim ends and a
    /// later run tries again: an alert may, rarely, come twice, but is never lost.
    async fn alert_once(
        &self,
        alert: &SlaAlert,
        notice: &crate::domain::notice::Notice,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, StoreError> {
        if !self
            .queue
            .claim_alert(alert, now, now + ALERT_CLAIM)
            .await?
        {
            return Ok(false);
        }
        let delivered = self.staff.tell(notice, None).await;
        let sent = delivered > 0 || self.staff.is_empty();
        self.queue.settle_alert(alert, sent).await?;
        if !sent {
            tracing::error!(
                customer = %notice.customer.masked(),
                department = %notice.department,
                "no staff channel took the SLA alert; the next run tries again"
            );
        }
        Ok(sent)
    }
}

/// How long a checker holds an alert it is delivering: longer than a run can last (the
/// function's 30-second timeout), so that a live run is never overtaken.
const ALERT_CLAIM: chrono::Duration = chrono::Duration::minutes(2);

/// What one SLA check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlaReport {
    /// Customers waiting past a limit.
    pub overdue: usize,
    /// The alerts this run raised (each threshold of each wait once).
    pub alerts: Vec<SlaFinding>,
    /// Alerts raised for customers waiting for the answer of the agent who holds them.
    pub reply_alerts: usize,
}

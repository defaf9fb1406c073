//! The SLA checker: who waits for a human longer than their department allows.

use crate::app::Staff;
use crate::domain::Config;
use crate::domain::sla::{SlaFinding, SlaLevel, overdue};
use crate::ports::{AttendanceQueue, Clock, StoreError};
use std::sync::Arc;

pub struct SlaChecker {
    queue: Arc<dyn AttendanceQueue>,
    clock: Arc<dyn Clock>,
    config: Arc<Config>,
    staff: Staff,
    metrics: Option<Arc<dyn crate::ports::Metrics>>,
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
        }
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
        let waiting = self.queue.waiting().await?;
        let findings = overdue(&waiting, self.clock.now(), &self.config);
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
                self.queue.mark_alerted(entry, SlaLevel::Warning).await?;
            }
            if !self.queue.mark_alerted(entry, f.level).await? {
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
            self.staff
                .tell(&crate::domain::notice::sla(f, &self.config), None)
                .await;
            alerts.push(f.clone());
        }
        tracing::info!(
            waiting = waiting.len(),
            overdue = findings.len(),
            alerts = alerts.len(),
            "SLA check done"
        );
        Ok(SlaReport {
            overdue: findings.len(),
            alerts,
        })
    }
}

/// What one SLA check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlaReport {
    /// Customers waiting past a limit.
    pub overdue: usize,
    /// The alerts this run raised (each threshold of each wait once).
    pub alerts: Vec<SlaFinding>,
}

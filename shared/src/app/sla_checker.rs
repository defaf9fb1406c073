//! The SLA checker: who waits for a human longer than their department allows.

use crate::domain::Config;
use crate::domain::sla::{SlaFinding, SlaLevel, overdue};
use crate::ports::{AttendanceQueue, Clock, StoreError};
use std::sync::Arc;

pub struct SlaChecker {
    queue: Arc<dyn AttendanceQueue>,
    clock: Arc<dyn Clock>,
    config: Arc<Config>,
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
        }
    }

    /// Lists the overdue customers and logs each one (masked).
    pub async fn run(&self) -> Result<Vec<SlaFinding>, StoreError> {
        let waiting = self.queue.waiting().await?;
        let findings = overdue(&waiting, self.clock.now(), &self.config);
        for f in &findings {
            let level = match f.level {
                SlaLevel::Warning => "warning",
                SlaLevel::Breach => "breach",
            };
            tracing::warn!(
                customer = %f.customer.masked(),
                department = %f.department,
                waited_minutes = f.waited_minutes,
                level,
                "customer waiting past the SLA"
            );
        }
        tracing::info!(
            waiting = waiting.len(),
            overdue = findings.len(),
            "SLA check done"
        );
        Ok(findings)
    }
}

//! `SchedulerTimers`: one-off EventBridge Scheduler schedules (`at(...)`) whose target is the
//! event queue, with the customer's message group, deleted by Scheduler once they fired.
//!
//! Scheduler sends to a FIFO queue only with the group id, so the queue deduplicates timer
//! events by content (`ContentBasedDeduplication`); a timer event's body is unique per
//! customer, kind and due time. Setting a timer twice meets the first schedule's name
//! (`ConflictException`) and is taken as done.

use crate::adapters::timer_name;
use crate::domain::QueueEvent;
use crate::ports::{Clock, TimerError, Timers};
use async_trait::async_trait;
use aws_sdk_scheduler::error::DisplayErrorContext;
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, FlexibleTimeWindow, FlexibleTimeWindowMode, SqsParameters, Target,
};
use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;

/// Scheduler fires one-off schedules to the minute; nearer or past times are set a minute
/// ahead (the engine accepts a timer that arrives late).
const MIN_LEAD: Duration = Duration::minutes(1);

pub struct SchedulerTimers {
    client: aws_sdk_scheduler::Client,
    group: String,
    queue_arn: String,
    role_arn: String,
    clock: Arc<dyn Clock>,
}

impl SchedulerTimers {
    /// Schedules in `group`, delivered to the queue `queue_arn` with the role `role_arn`
    /// (which Scheduler assumes to send to the queue).
    pub fn new(
        client: aws_sdk_scheduler::Client,
        group: impl Into<String>,
        queue_arn: impl Into<String>,
        role_arn: impl Into<String>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            client,
            group: group.into(),
            queue_arn: queue_arn.into(),
            role_arn: role_arn.into(),
            clock,
        }
    }

    /// The schedule expression for `at`, never sooner than a minute from now.
    pub fn expression(&self, at: DateTime<Utc>) -> String {
        let at = at.max(self.clock.now() + MIN_LEAD);
        format!("at({})", at.format("%Y-%m-%dT%H:%M:%S"))
    }
}

fn unavailable(e: impl std::fmt::Display) -> TimerError {
    TimerError::Unavailable(e.to_string())
}

#[async_trait]
impl Timers for SchedulerTimers {
    async fn schedule(&self, at: DateTime<Utc>, event: &QueueEvent) -> Result<(), TimerError> {
        let body = serde_json::to_string(event).map_err(unavailable)?;
        let target = Target::builder()
            .arn(&self.queue_arn)
            .role_arn(&self.role_arn)
            .input(body)
            .sqs_parameters(
                SqsParameters::builder()
                    .message_group_id(event.group())
                    .build(),
            )
            .build()
            .map_err(unavailable)?;
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(unavailable)?;
        let created = self
            .client
            .create_schedule()
            .group_name(&self.group)
            .name(timer_name(event))
            .schedule_expression(self.expression(at))
            .schedule_expression_timezone("UTC")
            .flexible_time_window(window)
            .action_after_completion(ActionAfterCompletion::Delete)
            .target(target)
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conflict_exception()) =>
            {
                // Set before (a redelivered command): the first schedule stands.
                Ok(())
            }
            Err(e) => Err(TimerError::Unavailable(DisplayErrorContext(&e).to_string())),
        }
    }
}

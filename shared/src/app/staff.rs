//! Telling the staff: every configured channel gets each notice; a channel that fails is
//! logged (with the customer masked) and the others still get it. Notices never hold up a
//! customer's replies.

use crate::domain::notice::Notice;
use crate::ports::{NOTICE_TIME_LIMIT, Notifications, NotifyError};
use std::sync::Arc;

#[derive(Clone, Default)]
pub struct Staff {
    channels: Vec<(&'static str, Arc<dyn Notifications>)>,
}

impl Staff {
    /// No channel: notices go to the logs only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a channel, named for the logs.
    pub fn with(mut self, name: &'static str, channel: Arc<dyn Notifications>) -> Self {
        self.channels.push((name, channel));
        self
    }

    /// Whether notices go to the logs only.
    pub fn is_empty(&self) -> bool {
        self.channels.is_empty()
    }

    /// Delivers `notice` to every channel; returns how many took it.
    pub async fn tell(&self, notice: &Notice, from: Option<&str>) -> usize {
        tracing::info!(
            kind = ?notice.kind,
            customer = %notice.customer.masked(),
            department = %notice.department,
            channels = self.channels.len(),
            "notice for the staff"
        );
        // Side by side, each held to the limit: a slow channel does not hold up the others,
        // nor the customer's replies behind the notice.
        let deliveries = self.channels.iter().map(|(name, channel)| async move {
            let outcome = tokio::time::timeout(NOTICE_TIME_LIMIT, channel.notify(notice, from))
                .await
                .unwrap_or_else(|_| {
                    Err(NotifyError::Failed(format!(
                        "no answer within {} s",
                        NOTICE_TIME_LIMIT.as_secs()
                    )))
                });
            (name, outcome)
        });
        let mut delivered = 0;
        for (name, outcome) in futures_util::future::join_all(deliveries).await {
            match outcome {
                Ok(()) => delivered += 1,
                Err(e) => tracing::error!(
                    channel = name,
                    kind = ?notice.kind,
                    customer = %notice.customer.masked(),
                    error = %e,
                    "a staff channel did not take the notice"
                ),
            }
        }
        delivered
    }
}

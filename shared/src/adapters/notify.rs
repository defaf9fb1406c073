//! Channels for the staff's notices: `WebhookNotifications` (an HTTP endpoint taking
//! `{"text": …}`, as a Slack incoming webhook does), `WhatsAppNotifications` (a text to each
//! supervisor's number) and `MemoryNotifications`.

use crate::domain::notice::Notice;
use crate::domain::{CustomerId, OutboundMessage};
use crate::ports::{Notifications, NotifyError, WhatsApp};
use crate::secret::Secret;
use async_trait::async_trait;
use serde_json::json;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// POSTs `{"text": notice}` to a URL (kept secret: a webhook URL is a credential).
pub struct WebhookNotifications {
    http: reqwest::Client,
    url: Secret,
}

impl WebhookNotifications {
    pub fn new(url: Secret) -> Result<Self, NotifyError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| NotifyError::Failed(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self { http, url })
    }
}

#[async_trait]
impl Notifications for WebhookNotifications {
    async fn notify(&self, notice: &Notice, _from: Option<&str>) -> Result<(), NotifyError> {
        let response = self
            .http
            .post(self.url.expose())
            .json(&json!({ "text": notice.text }))
            .send()
            .await
            .map_err(|e| NotifyError::Failed(e.without_url().to_string()))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(NotifyError::Failed(format!("HTTP {status}")))
        }
    }
}

/// A WhatsApp text to each supervisor, from the business number the customer wrote to (or
/// `default_from` for notices not about a conversation, such as SLA alerts).
pub struct WhatsAppNotifications {
    whatsapp: Arc<dyn WhatsApp>,
    supervisors: Vec<CustomerId>,
    default_from: Option<String>,
}

impl WhatsAppNotifications {
    pub fn new(
        whatsapp: Arc<dyn WhatsApp>,
        supervisors: &[String],
        default_from: Option<String>,
    ) -> Self {
        Self {
            whatsapp,
            supervisors: supervisors
                .iter()
                .map(|s| CustomerId::Phone(s.clone()))
                .collect(),
            default_from,
        }
    }
}

#[async_trait]
impl Notifications for WhatsAppNotifications {
    async fn notify(&self, notice: &Notice, from: Option<&str>) -> Result<(), NotifyError> {
        let Some(from) = from.or(self.default_from.as_deref()) else {
            return Err(NotifyError::Failed(
                "no business number to send from (set WHATSAPP_PHONE_NUMBER_ID)".into(),
            ));
        };
        // A long handoff (a long problem description) is cut to what one WhatsApp text holds.
        let text: String = notice
            .text
            .chars()
            .take(crate::domain::config::limits::TEXT_BODY)
            .collect();
        let message = OutboundMessage::text(text)
            .sendable()
            .map_err(|e| NotifyError::Failed(e.to_string()))?;
        // Side by side: five supervisors take as long as one.
        let message = &message;
        let sends = self.supervisors.iter().map(|supervisor| async move {
            let outcome = self.whatsapp.send(from, supervisor, message).await;
            (supervisor, outcome)
        });
        let failed: Vec<String> = futures_util::future::join_all(sends)
            .await
            .into_iter()
            .filter_map(|(supervisor, outcome)| {
                outcome
                    .err()
                    .map(|e| format!("{}: {e}", supervisor.masked()))
            })
            .collect();
        if failed.is_empty() {
            Ok(())
        } else {
            Err(NotifyError::Failed(failed.join("; ")))
        }
    }
}

/// Keeps every notice (the reference adapter, and the tests' eyes).
#[derive(Default)]
pub struct MemoryNotifications {
    notices: Mutex<Vec<Notice>>,
}

impl MemoryNotifications {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn notices(&self) -> Vec<Notice> {
        self.notices
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[async_trait]
impl Notifications for MemoryNotifications {
    async fn notify(&self, notice: &Notice, _from: Option<&str>) -> Result<(), NotifyError> {
        self.notices
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(notice.clone());
        Ok(())
    }
}

//! The webhook service: verifies Meta's subscription handshake and signed deliveries, splits
//! every delivery into events and enqueues them. It answers fast and never drops a signed event.
//! A plain delivery status of a message the bot sent (most of what Meta sends: three per
//! message) it records itself, with `DeliveryStatuses`, when it has one: no queue, no processor.

use crate::app::settings::{Secrets, SettingsError};
use crate::domain::customer::Masked;
use crate::domain::{EventKind, QueueEvent};
use crate::logging::IdDigest;
use crate::ports::{Advance, DeliveryStatuses, EventQueue, QueueError};
use crate::secret::Secret;
use crate::webhook::{MAX_BODY_BYTES, SignatureError, split, verify_signature};
use std::sync::Arc;

/// What the webhook needs to authenticate Meta.
#[derive(Clone, Debug)]
pub struct WebhookSecrets {
    /// The Meta app secret: key of the HMAC in `X-Hub-Signature-256`.
    pub app_secret: Secret,
    /// The token typed into Meta's webhook settings, echoed in the subscription handshake.
    pub verify_token: Secret,
}

impl WebhookSecrets {
    /// The secrets it reads.
    pub const NAMES: [&'static str; 2] = ["WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN"];

    /// `WHATSAPP_APP_SECRET` and `WHATSAPP_VERIFY_TOKEN`; both are required (fail closed).
    pub fn from(secrets: &Secrets) -> Result<Self, SettingsError> {
        Ok(Self {
            app_secret: secrets.required("WHATSAPP_APP_SECRET")?,
            verify_token: secrets.required("WHATSAPP_VERIFY_TOKEN")?,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("subscription refused: hub.mode is not `subscribe` or hub.verify_token does not match")]
    Forbidden,
    #[error("subscription request without hub.challenge")]
    MissingChallenge,
    #[error("body of {0} bytes exceeds the {MAX_BODY_BYTES}-byte limit")]
    TooLarge(usize),
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error("could not enqueue the webhook's events: {0}")]
    Queue(#[from] QueueError),
}

/// What a signed delivery held.
#[derive(Debug, PartialEq, Eq)]
pub struct Accepted {
    /// Events enqueued.
    pub events: usize,
    /// Plain statuses of the bot's messages recorded here instead.
    pub statuses_recorded: usize,
    /// The body was signed but is not a JSON payload: logged whole, acknowledged.
    pub unparseable: bool,
}

pub struct Webhook {
    secrets: WebhookSecrets,
    queue: Arc<dyn EventQueue>,
    statuses: Option<Arc<dyn DeliveryStatuses>>,
}

impl Webhook {
    pub fn new(secrets: WebhookSecrets, queue: Arc<dyn EventQueue>) -> Self {
        Self {
            secrets,
            queue,
            statuses: None,
        }
    }

    /// Records plain statuses of the bot's messages itself (the conversation log's).
    pub fn with_statuses(mut self, statuses: Arc<dyn DeliveryStatuses>) -> Self {
        self.statuses = Some(statuses);
        self
    }

    /// The events that still need the queue: each plain status (sent, delivered, read; no
    /// error) of a message the bot sent is recorded here; what cannot be (unknown, an
    /// agent's, the store unavailable) goes to the processor as before.
    async fn record_statuses(&self, events: Vec<QueueEvent>) -> (Vec<QueueEvent>, usize) {
        let Some(statuses) = &self.statuses else {
            return (events, 0);
        };
        let tries = events.iter().map(|event| async move {
            let (Some(customer), EventKind::Status(status)) = (&event.customer, &event.kind)
            else {
                return false;
            };
            if !status.errors.is_empty() || status.status.plain_rank().is_none() {
                return false;
            }
            match statuses
                .advance(customer, &status.message_id, &status.status)
                .await
            {
                Ok(Advance::Recorded) => {
                    // Most of what Meta sends: at INFO it would be most of the log's bytes.
                    tracing::debug!(
                        event_id = %IdDigest(&event.id),
                        customer = %Masked(&event.group()),
                        status = status.status.as_str(),
                        "status recorded"
                    );
                    true
                }
                Ok(Advance::ForTheProcessor) => false,
                Err(e) => {
                    tracing::warn!(event_id = %IdDigest(&event.id), error = %e, "status not recorded here; queued");
                    false
                }
            }
        });
        let recorded = futures_util::future::join_all(tries).await;
        let mut queued = Vec::with_capacity(events.len());
        let mut count = 0;
        for (event, recorded) in events.into_iter().zip(recorded) {
            if recorded {
                count += 1;
            } else {
                queued.push(event);
            }
        }
        (queued, count)
    }

    /// The `GET` handshake: returns the challenge to echo when the token matches.
    pub fn subscribe<'a>(
        &self,
        mode: Option<&str>,
        token: Option<&str>,
        challenge: Option<&'a str>,
    ) -> Result<&'a str, WebhookError> {
        let token_ok = token.is_some_and(|t| self.secrets.verify_token.matches(t));
        if mode != Some("subscribe") || !token_ok {
            tracing::warn!(mode, "webhook subscription refused");
            return Err(WebhookError::Forbidden);
        }
        challenge.ok_or(WebhookError::MissingChallenge)
    }

    /// A `POST` delivery: `body` must be the exact bytes received.
    pub async fn deliver(
        &self,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<Accepted, WebhookError> {
        if body.len() > MAX_BODY_BYTES {
            return Err(WebhookError::TooLarge(body.len()));
        }
        verify_signature(self.secrets.app_secret.expose().as_bytes(), signature, body)
            .inspect_err(|e| tracing::warn!(error = %e, bytes = body.len(), "webhook refused"))?;
        let split = match split(body) {
            Ok(split) => split,
            Err(e) => {
                // Signed by Meta yet unreadable: keep it in the logs for a human, and answer
                // 200 so that Meta does not retry it for a week.
                tracing::error!(
                    error = %e,
                    body = %String::from_utf8_lossy(body),
                    "signed webhook body is not a JSON payload; acknowledged and kept in this log"
                );
                return Ok(Accepted {
                    events: 0,
                    statuses_recorded: 0,
                    unparseable: true,
                });
            }
        };
        if split.events.is_empty() && split.skipped_fields.is_empty() {
            // Signed, JSON, yet nothing atende can read: keep it in the logs for a human.
            tracing::warn!(
                body = %String::from_utf8_lossy(body),
                "signed webhook delivery holds no change atende can read; kept in this log"
            );
        }
        for field in &split.skipped_fields {
            tracing::info!(field, "webhook change for a field atende does not process");
        }
        let (events, statuses_recorded) = self.record_statuses(split.events).await;
        if !events.is_empty() {
            self.queue.enqueue(&events).await.inspect_err(|e| {
                tracing::error!(error = %e, events = events.len(), "enqueue failed; Meta will retry")
            })?;
        }
        for event in &events {
            tracing::info!(
                event_id = %IdDigest(&event.id),
                customer = %Masked(&event.group()),
                "event enqueued"
            );
        }
        Ok(Accepted {
            events: events.len(),
            statuses_recorded,
            unparseable: false,
        })
    }
}

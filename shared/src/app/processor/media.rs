//! Files: what customers send is downloaded from WhatsApp and kept for the agents; what agents
//! upload is kept and sent by a short-lived link made just before the send.

use super::{ProcessError, Processor};
use crate::domain::command::OutboundMessage;
use crate::domain::customer::CustomerId;
use crate::domain::log::MediaRef;
use crate::ports::{Failure, media_key};

/// How long the link WhatsApp fetches an agent's file by stays valid.
const SEND_LINK_VALIDITY: std::time::Duration = std::time::Duration::from_secs(60 * 60);

/// The scheme of a link to a file the media store keeps (`stored:<key>`).
pub const STORED: &str = "stored:";

impl Processor {
    /// Downloads a file the customer sent and keeps it under `<customer>/in/<media id>`.
    /// Transient failures fail the event (it comes back); a file WhatsApp no longer has, or
    /// refuses for good, is logged and left.
    pub(super) async fn keep_media(
        &self,
        customer: &CustomerId,
        media: &MediaRef,
    ) -> Result<(), ProcessError> {
        let Some(store) = &self.media else {
            return Ok(());
        };
        let file = match self.whatsapp.media(&media.id).await {
            Ok(file) => file,
            Err(e) => {
                self.graph_error(&e);
                return match e.failure() {
                    // A download changes nothing: one of unknown outcome is simply tried again.
                    Failure::Retry | Failure::Throttled | Failure::Account | Failure::Unknown => {
                        Err(e.into())
                    }
                    _ => {
                        tracing::warn!(
                            customer = %customer.masked(),
                            code = ?e.code(),
                            error = %e,
                            "a customer's file could not be downloaded; not kept"
                        );
                        Ok(())
                    }
                };
            }
        };
        let key = media_key(customer, "in", &media.id);
        store.put(&key, file.bytes, &file.mime_type).await?;
        Ok(())
    }

    /// The message with a `stored:` file link replaced by a link WhatsApp can fetch.
    pub(super) async fn with_fetchable_link(
        &self,
        message: OutboundMessage,
    ) -> Result<OutboundMessage, ProcessError> {
        match message {
            OutboundMessage::Media {
                kind,
                link,
                filename,
                caption,
            } if link.starts_with(STORED) => {
                let Some(store) = &self.media else {
                    return Err(ProcessError::Store(crate::ports::StoreError::Unavailable(
                        "no media store to send a kept file from".into(),
                    )));
                };
                let link = store
                    .link(&link[STORED.len()..], SEND_LINK_VALIDITY)
                    .await?;
                Ok(OutboundMessage::Media {
                    kind,
                    link,
                    filename,
                    caption,
                })
            }
            other => Ok(other),
        }
    }
}

//! `SqsEventQueue`: the webhook → processor queue on SQS FIFO.
//!
//! `MessageGroupId` is the customer (ordering per customer, customers in parallel) and
//! `MessageDeduplicationId` the event id (a redelivered webhook within five minutes is dropped
//! by SQS; later duplicates are caught by the processor's applied-event memory).

use crate::domain::QueueEvent;
use crate::ports::{EventQueue, QueueError};
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

/// SQS's batch limit.
const BATCH: usize = 10;
/// Rounds of retry for entries SQS failed on its side (`SenderFault = false`).
const RETRIES: usize = 3;

pub struct SqsEventQueue {
    client: Client,
    queue_url: String,
}

impl SqsEventQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }

    /// Sends one batch of at most ten, retrying the entries SQS failed on its side. Returns
    /// the ids of the events that could not be enqueued, with the last reason.
    async fn send_batch(&self, events: &[QueueEvent]) -> Result<(), QueueError> {
        let mut pending: Vec<usize> = (0..events.len()).collect();
        let mut reason = String::new();
        for _ in 0..RETRIES {
            let mut entries = Vec::with_capacity(pending.len());
            for &i in &pending {
                let event = &events[i];
                let body = serde_json::to_string(event)
                    .map_err(|e| QueueError::Unavailable(format!("cannot serialize event: {e}")))?;
                let entry = SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .message_group_id(event.group())
                    .message_deduplication_id(&event.id)
                    .build()
                    .map_err(|e| QueueError::Unavailable(e.to_string()))?;
                entries.push(entry);
            }
            let output = self
                .client
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| QueueError::Unavailable(DisplayErrorContext(&e).to_string()))?;
            let mut retry = Vec::new();
            for failed in output.failed() {
                let Ok(i) = failed.id().parse::<usize>() else {
                    continue;
                };
                reason = format!(
                    "{}: {}",
                    failed.code(),
                    failed.message().unwrap_or("no message")
                );
                if failed.sender_fault() {
                    // Our request is wrong for this entry: retrying cannot help.
                    return Err(QueueError::Refused {
                        failed: vec![events[i].id.clone()],
                        reason,
                    });
                }
                retry.push(i);
            }
            if retry.is_empty() {
                return Ok(());
            }
            pending = retry;
        }
        Err(QueueError::Refused {
            failed: pending.iter().map(|&i| events[i].id.clone()).collect(),
            reason,
        })
    }
}

#[async_trait]
impl EventQueue for SqsEventQueue {
    async fn enqueue(&self, events: &[QueueEvent]) -> Result<(), QueueError> {
        for chunk in events.chunks(BATCH) {
            self.send_batch(chunk).await?;
        }
        Ok(())
    }
}

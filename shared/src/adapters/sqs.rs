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
use std::collections::{HashMap, HashSet};

/// Received SQS messages as the Lambda event the event source mapping would hand the
/// processor: ids, bodies, system attributes (`MessageGroupId`…) and the queue's ARN. For
/// consumers outside Lambda (`atende serve --backend aws`, the tests).
pub fn lambda_event(
    messages: &[aws_sdk_sqs::types::Message],
    queue_arn: &str,
) -> aws_lambda_events::event::sqs::SqsEvent {
    let mut event = aws_lambda_events::event::sqs::SqsEvent::default();
    event.records = messages
        .iter()
        .map(|m| {
            let mut record = aws_lambda_events::event::sqs::SqsMessage::default();
            record.message_id = m.message_id().map(str::to_owned);
            record.body = m.body().map(str::to_owned);
            record.event_source_arn = Some(queue_arn.to_owned());
            record.attributes = m
                .attributes()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                .collect();
            record
        })
        .collect();
    event
}

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

    /// Sends one call's entries (at most one per group), retrying those SQS failed on its
    /// side. Returns the indices that could not be enqueued, with the last reason.
    async fn send_round(
        &self,
        events: &[QueueEvent],
        round: &[usize],
    ) -> Result<(Vec<usize>, String), QueueError> {
        let mut pending = round.to_vec();
        let mut refused = Vec::new();
        let mut reason = String::new();
        for _ in 0..RETRIES {
            let mut entries = Vec::with_capacity(pending.len());
            for &i in &pending {
                let event = &events[i];
                let entry = SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body(event)?)
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
                // A sender fault is our request's fault for that entry: retrying cannot help.
                if failed.sender_fault() {
                    refused.push(i);
                } else {
                    retry.push(i);
                }
            }
            if retry.is_empty() {
                return Ok((refused, reason));
            }
            pending = retry;
        }
        refused.extend(pending);
        Ok((refused, reason))
    }
}

/// The message body: the event as JSON, with the two characters SQS refuses in a body
/// (U+FFFE, U+FFFF) escaped, which JSON reads back as the same characters.
fn body(event: &QueueEvent) -> Result<String, QueueError> {
    let json = serde_json::to_string(event)
        .map_err(|e| QueueError::Unavailable(format!("cannot serialize event: {e}")))?;
    Ok(if json.contains(['\u{FFFE}', '\u{FFFF}']) {
        json.replace('\u{FFFE}', "\\ufffe")
            .replace('\u{FFFF}', "\\uffff")
    } else {
        json
    })
}

/// Splits events into SendMessageBatch calls of at most ten entries and at most one entry per
/// group, each group's events in increasing calls. Entries of one group never share a call, so
/// a failed entry retried later cannot land behind a later message of its customer.
fn rounds(events: &[QueueEvent]) -> Vec<Vec<usize>> {
    let mut rounds: Vec<Vec<usize>> = Vec::new();
    let mut last_round: HashMap<String, usize> = HashMap::new();
    for (i, event) in events.iter().enumerate() {
        let group = event.group();
        let earliest = last_round.get(&group).map_or(0, |r| r + 1);
        let r = (earliest..)
            .find(|&r| r >= rounds.len() || rounds[r].len() < BATCH)
            .unwrap_or(rounds.len());
        if r >= rounds.len() {
            rounds.resize_with(r + 1, Vec::new);
        }
        rounds[r].push(i);
        last_round.insert(group, r);
    }
    rounds
}

#[async_trait]
impl EventQueue for SqsEventQueue {
    /// Sends every round; a group whose event was refused sends nothing more (its later events
    /// would overtake it), other groups go on. Any refusal fails the whole call afterwards, so
    /// the webhook answers 500 and Meta delivers again (what was enqueued is deduplicated).
    async fn enqueue(&self, events: &[QueueEvent]) -> Result<(), QueueError> {
        let mut blocked: HashSet<String> = HashSet::new();
        let mut failed = Vec::new();
        let mut reason = String::new();
        for round in rounds(events) {
            let (held, round): (Vec<usize>, Vec<usize>) = round
                .into_iter()
                .partition(|&i| blocked.contains(&events[i].group()));
            failed.extend(held);
            if round.is_empty() {
                continue;
            }
            let (refused, why) = self.send_round(events, &round).await?;
            for i in refused {
                blocked.insert(events[i].group());
                failed.push(i);
                reason.clone_from(&why);
            }
        }
        if failed.is_empty() {
            return Ok(());
        }
        failed.sort_unstable();
        Err(QueueError::Refused {
            failed: failed.into_iter().map(|i| events[i].id.clone()).collect(),
            reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CustomerId, DeliveryStatus, EventKind, StatusUpdate};

    fn event(customer: &str, n: usize) -> QueueEvent {
        QueueEvent {
            also: None,
            id: format!("{customer}-{n}"),
            customer: Some(CustomerId::Phone(customer.into())),
            business_number: None,
            kind: EventKind::Status(StatusUpdate {
                message_id: format!("m{n}"),
                status: DeliveryStatus::Read,
                at: None,
                errors: Vec::new(),
                reference: None,
            }),
        }
    }

    #[test]
    fn rounds_hold_one_event_per_group_and_keep_each_groups_order() {
        // a a b a c, then 12 distinct customers.
        let mut events: Vec<QueueEvent> = [("a", 0), ("a", 1), ("b", 2), ("a", 3), ("c", 4)]
            .map(|(c, n)| event(c, n))
            .into();
        events.extend((5..17).map(|n| event(&format!("x{n}"), n)));
        let rounds = rounds(&events);
        for round in &rounds {
            assert!(round.len() <= BATCH);
            let groups: HashSet<String> = round.iter().map(|&i| events[i].group()).collect();
            assert_eq!(groups.len(), round.len(), "one entry per group: {round:?}");
        }
        let position = |i: usize| rounds.iter().position(|r| r.contains(&i)).unwrap();
        assert!(position(0) < position(1) && position(1) < position(3));
        let total: usize = rounds.iter().map(Vec::len).sum();
        assert_eq!(total, events.len());
        assert_eq!(rounds.len(), 3);
    }

    #[test]
    fn bodies_escape_what_sqs_refuses_and_read_back_the_same() {
        let mut e = event("a", 0);
        e.id = "x\u{FFFE}y\u{FFFF}".into();
        let body = body(&e).unwrap();
        assert!(!body.contains(['\u{FFFE}', '\u{FFFF}']));
        let back: QueueEvent = serde_json::from_str(&body).unwrap();
        assert_eq!(back, e);
    }
}

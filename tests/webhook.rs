//! The webhook's HTTP contract (shared by the Lambda and `atende serve`) on a memory queue:
//! what is enqueued, and what Meta is told, for every kind of delivery.

mod support;

use atende_shared::adapters::MemoryEventQueue;
use atende_shared::app::{Webhook, WebhookSecrets};
use atende_shared::edge::http::{self, HttpReply};
use atende_shared::secret::Secret;
use std::sync::Arc;
use support::{APP_SECRET, VERIFY_TOKEN, sign};

fn webhook() -> (Webhook, Arc<MemoryEventQueue>) {
    let queue = Arc::new(MemoryEventQueue::new());
    let secrets = WebhookSecrets {
        app_secret: Secret::new(APP_SECRET).unwrap(),
        verify_token: Secret::new(VERIFY_TOKEN).unwrap(),
    };
    (Webhook::new(secrets, queue.clone()), queue)
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/webhooks/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[tokio::test]
async fn when_the_queue_refuses_meta_gets_500_and_the_retry_is_enqueued() {
    let (webhook, queue) = webhook();
    let body = fixture("two-entries-two-changes.json");
    queue.set_refusing(true);
    let reply = http::post(&webhook, Some(&sign(&body)), &body).await;
    assert_eq!(reply.status, 500);
    assert!(
        !reply.body.contains("refusing"),
        "internal details stay in the logs"
    );
    assert!(queue.drain().is_empty());

    queue.set_refusing(false);
    let reply = http::post(&webhook, Some(&sign(&body)), &body).await;
    assert_eq!(reply.status, 200);
    let ids: Vec<String> = queue.drain().into_iter().map(|e| e.id).collect();
    assert_eq!(
        ids.len(),
        3,
        "every message and status of every entry and change: {ids:?}"
    );
}

#[tokio::test]
async fn a_signed_body_that_is_not_json_is_acknowledged_not_retried_forever() {
    let (webhook, queue) = webhook();
    let body = b"{\"object\": \"whatsapp_business_account\", \"entry\": [".to_vec();
    let reply = http::post(&webhook, Some(&sign(&body)), &body).await;
    assert_eq!(
        reply,
        HttpReply {
            status: 200,
            content_type: "application/json",
            body: r#"{"accepted":0,"unparseable":true}"#.into(),
            headers: Vec::new(),
        }
    );
    assert!(queue.drain().is_empty());
}

#[tokio::test]
async fn an_unsigned_body_that_is_not_json_is_still_401() {
    let (webhook, queue) = webhook();
    let reply = http::post(&webhook, None, b"garbage").await;
    assert_eq!(reply.status, 401);
    assert!(queue.drain().is_empty());
}

#[tokio::test]
async fn changes_of_other_fields_are_acknowledged_with_nothing_to_process() {
    let (webhook, queue) = webhook();
    let body = fixture("account-update-field.json");
    let reply = http::post(&webhook, Some(&sign(&body)), &body).await;
    assert_eq!(reply.status, 200);
    assert!(queue.drain().is_empty());
}

#[tokio::test]
async fn the_same_delivery_twice_is_enqueued_once() {
    let (webhook, queue) = webhook();
    let body = fixture("batch-two-customers.json");
    for _ in 0..2 {
        assert_eq!(
            http::post(&webhook, Some(&sign(&body)), &body).await.status,
            200
        );
    }
    assert_eq!(queue.drain().len(), 2);
}

#[test]
fn the_handshake_needs_subscribe_the_token_and_a_challenge() {
    let (webhook, _) = webhook();
    let get = |mode: Option<&str>, token: Option<&str>, challenge: Option<&str>| {
        http::get(&webhook, |name| {
            match name {
                "hub.mode" => mode,
                "hub.verify_token" => token,
                "hub.challenge" => challenge,
                _ => None,
            }
            .map(str::to_owned)
        })
        .status
    };
    assert_eq!(get(Some("subscribe"), Some(VERIFY_TOKEN), Some("42")), 200);
    assert_eq!(get(Some("subscribe"), Some("nope"), Some("42")), 403);
    assert_eq!(
        get(Some("unsubscribe"), Some(VERIFY_TOKEN), Some("42")),
        403
    );
    assert_eq!(get(Some("subscribe"), None, Some("42")), 403);
    assert_eq!(get(Some("subscribe"), Some(VERIFY_TOKEN), None), 400);
}

/// A delivery of statuses to Maria, one per (message id, status, error code).
fn statuses(entries: &[(&str, &str, Option<i64>)]) -> Vec<u8> {
    let at = chrono::Utc::now().timestamp().to_string();
    let statuses: Vec<serde_json::Value> = entries
        .iter()
        .map(|(id, status, code)| {
            let mut s = serde_json::json!({
                "id": id, "status": status, "timestamp": at, "recipient_id": "5511987654321"
            });
            if let Some(code) = code {
                s["errors"] = serde_json::json!([{"code": code, "title": "Re-engagement message"}]);
            }
            s
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "551130000000", "phone_number_id": "106540352242922"},
            "statuses": statuses
        }}]}]
    }))
    .unwrap()
}

/// Most of what Meta sends is the three statuses of each message sent. A plain one of a
/// message the bot sent is recorded by the webhook itself; the rest (an agent's message, for
/// the consoles; one not known; a failure) go to the processor, as does everything when the
/// log cannot be reached.
#[tokio::test]
async fn plain_statuses_of_the_bot_s_messages_are_recorded_without_the_queue() {
    use atende_shared::adapters::MemoryConversationLog;
    use atende_shared::domain::{
        AgentRef, CustomerId, DeliveryStatus, EventKind, LogEntry, LogLine,
    };
    use atende_shared::ports::{Advance, ConversationLog, DeliveryStatuses, StoreError};

    let maria = CustomerId::Phone("5511987654321".into());
    let log = Arc::new(MemoryConversationLog::new());
    let keep = chrono::Utc::now() + chrono::Duration::days(90);
    for (n, agent) in [(1, None), (2, Some("ana"))] {
        let entry = LogEntry {
            at: chrono::Utc::now(),
            line: LogLine::Sent {
                agent: agent.map(|id: &str| AgentRef {
                    id: id.into(),
                    name: "Ana".into(),
                }),
                text: format!("reply {n}"),
                message_id: format!("wamid.out.{n}"),
            },
        };
        log.write(&maria, &format!("k#{n}"), &entry, keep)
            .await
            .unwrap();
    }
    let (webhook, queue) = webhook();
    let webhook = webhook.with_statuses(log.clone());
    let body = statuses(&[
        ("wamid.out.1", "delivered", None),
        ("wamid.out.1", "read", None),
        ("wamid.out.2", "read", None),
        ("wamid.other", "delivered", None),
        ("wamid.out.1", "failed", Some(131047)),
    ]);
    let reply = http::post(&webhook, Some(&sign(&body)), &body).await;
    assert_eq!(reply.status, 200);
    let queued: Vec<(String, String)> = queue
        .drain()
        .into_iter()
        .map(|e| match e.kind {
            EventKind::Status(s) => (s.message_id, s.status.as_str().to_owned()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        queued,
        [
            ("wamid.out.2".to_owned(), "read".to_owned()),
            ("wamid.other".to_owned(), "delivered".to_owned()),
            ("wamid.out.1".to_owned(), "failed".to_owned()),
        ]
    );
    let page = log
        .page(&maria, None, 10, chrono::Utc::now())
        .await
        .unwrap();
    let shown: Vec<Option<DeliveryStatus>> = page.lines.into_iter().map(|l| l.status).collect();
    assert_eq!(
        shown,
        [Some(DeliveryStatus::Read), Some(DeliveryStatus::Sent)],
        "the bot's read, the agent's left to the processor"
    );

    // The log unreachable: every status goes to the queue, nothing is lost.
    struct Unreachable;
    #[async_trait::async_trait]
    impl DeliveryStatuses for Unreachable {
        async fn advance(
            &self,
            _: &CustomerId,
            _: &str,
            _: &DeliveryStatus,
        ) -> Result<Advance, StoreError> {
            Err(StoreError::Unavailable("the table is down".into()))
        }
    }
    let (webhook, queue) = self::webhook();
    let webhook = webhook.with_statuses(Arc::new(Unreachable));
    let body = statuses(&[("wamid.out.1", "delivered", None)]);
    let reply = http::post(&webhook, Some(&sign(&body)), &body).await;
    assert_eq!(reply.status, 200);
    assert_eq!(queue.drain().len(), 1);
}

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

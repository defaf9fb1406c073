//! `CloudApiWhatsApp` over real HTTP against a local server standing in for the Graph API.

mod support;

use atende_shared::adapters::CloudApiWhatsApp;
use atende_shared::domain::{CustomerId, OutboundMessage};
use atende_shared::ports::{WhatsApp, WhatsAppError};
use atende_shared::secret::Secret;
use serde_json::json;
use support::{ACCESS_TOKEN, GraphStub};

fn client(base_url: &str) -> CloudApiWhatsApp {
    CloudApiWhatsApp::new(base_url, Secret::new(ACCESS_TOKEN).unwrap()).unwrap()
}

#[tokio::test]
async fn sends_to_the_number_path_with_the_bearer_token_and_returns_the_wamid() {
    let graph = GraphStub::start().await;
    let sent = client(&format!("{}/", graph.base_url))
        .send(
            "106540352242922",
            &CustomerId::Phone("5511".into()),
            &OutboundMessage::text("olá"),
        )
        .await
        .unwrap();
    assert_eq!(sent.id, "wamid.stub.1");
    let request = &graph.requests()[0];
    assert_eq!(request.phone_number_id, "106540352242922");
    assert_eq!(
        request.authorization.as_deref(),
        Some("Bearer atende-test-access-token")
    );
    assert_eq!(
        request.body,
        json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "5511",
               "type": "text", "text": {"preview_url": false, "body": "olá"}})
    );
}

#[tokio::test]
async fn mark_as_read_sends_the_documented_body() {
    let graph = GraphStub::start().await;
    client(&graph.base_url)
        .mark_read("106540352242922", "wamid.in.1")
        .await
        .unwrap();
    assert_eq!(
        graph.requests()[0].body,
        json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.in.1"})
    );
}

#[tokio::test]
async fn graph_errors_keep_their_status_and_code() {
    let graph = GraphStub::start().await;
    graph.respond_next([(
        400,
        json!({"error": {"message": "(#131026) Message undeliverable", "type": "OAuthException",
                         "code": 131026, "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam"}}),
    )]);
    let err = client(&graph.base_url)
        .send(
            "1",
            &CustomerId::Phone("5511".into()),
            &OutboundMessage::text("x"),
        )
        .await
        .unwrap_err();
    match err {
        WhatsAppError::Api {
            status,
            code,
            message,
        } => {
            assert_eq!((status, code), (400, Some(131026)));
            assert!(message.contains("undeliverable"));
        }
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unreachable_graph_api_is_a_transport_error() {
    // Bind and drop to get a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = client(&format!("http://127.0.0.1:{port}"))
        .mark_read("1", "wamid.x")
        .await
        .unwrap_err();
    assert!(matches!(err, WhatsAppError::Transport(_)), "{err:?}");
    assert!(!format!("{err}").contains(ACCESS_TOKEN));
}

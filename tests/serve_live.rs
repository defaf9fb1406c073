//! The console's live connection through `atende serve` (`GET /live`), as a page uses it: a
//! ticket from the agents' API opens it once; a customer joining the agent's line is pushed
//! as a frame; a ping is answered; the connection is closed when it reaches its age (API
//! Gateway's two hours; here `LIVE_MAX_SECONDS`), and what is not a WebSocket is refused.

mod support;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use support::serve::{MARIA, PATIENCE, Server, maria_says, post, serve_with_env};
use support::{GraphStub, sign};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

async fn ticket(server: &Server, token: &str) -> Value {
    let answer = reqwest::Client::new()
        .post(server.at("/agent/live/tickets"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 201);
    answer.json().await.unwrap()
}

/// The next text frame, as JSON (pings and pongs of the protocol skipped).
async fn next_frame<S>(socket: &mut S) -> Value
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let message = tokio::time::timeout(PATIENCE, socket.next())
            .await
            .expect("a frame in time")
            .expect("the connection is open")
            .unwrap();
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

#[tokio::test]
async fn a_page_hears_of_its_line_through_a_ticketed_websocket() {
    let graph = GraphStub::start().await;
    let server = serve_with_env(&graph, &[], &[("LIVE_MAX_SECONDS", "3")]);
    let ana = server.login("ana").await;
    let http = reqwest::Client::new();

    // Not a WebSocket, or without a ticket: refused, saying why.
    let plain = http.get(server.at("/live")).send().await.unwrap();
    assert_eq!(plain.status().as_u16(), 426);
    assert_eq!(plain.headers()["content-type"], "application/problem+json");
    let ws_base = server.at("/live").replacen("http://", "ws://", 1);
    let Err(tokio_tungstenite::tungstenite::Error::Http(refused)) =
        tokio_tungstenite::connect_async(ws_base.as_str()).await
    else {
        panic!("opened without a ticket");
    };
    assert_eq!(refused.status().as_u16(), 401);
    // Tickets are for the desk's agents only.
    let anonymous = http
        .post(server.at("/agent/live/tickets"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);

    let ticket = ticket(&server, &ana).await;
    let url = ticket["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{ws_base}?ticket=")), "{url}");
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    // A ticket opens one connection.
    let Err(tokio_tungstenite::tungstenite::Error::Http(again)) =
        tokio_tungstenite::connect_async(url).await
    else {
        panic!("a ticket opened two connections");
    };
    assert_eq!(again.status().as_u16(), 401);

    // Maria asks for a person: Ana's page is told, with her key.
    let body = maria_says(1, json!({"type": "text", "text": {"body": "atendente"}}));
    assert_eq!(post(&server, &body, Some(&sign(&body))).await.0, 200);
    let frame = next_frame(&mut socket).await;
    assert_eq!(frame, json!({"type": "change", "customer": MARIA}));

    // Pings keep it open, and are answered.
    socket
        .send(Message::Text(r#"{"type":"ping"}"#.into()))
        .await
        .unwrap();
    assert_eq!(next_frame(&mut socket).await, json!({"type": "pong"}));

    // At its age the server closes it, going away, as API Gateway does; the page opens another.
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => continue,
                other => panic!("not closed cleanly: {other:?}"),
            }
        }
    })
    .await
    .expect("closed at its age");
    assert_eq!(closed.map(|f| f.code), Some(CloseCode::Away));
    let ticket2 = self::ticket(&server, &ana).await;
    let (mut socket, _) = tokio_tungstenite::connect_async(ticket2["url"].as_str().unwrap())
        .await
        .unwrap();
    let body = maria_says(2, json!({"type": "text", "text": {"body": "ainda aqui"}}));
    assert_eq!(post(&server, &body, Some(&sign(&body))).await.0, 200);
    assert_eq!(
        next_frame(&mut socket).await,
        json!({"type": "change", "customer": MARIA})
    );
}

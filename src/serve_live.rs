//! `GET /live?ticket=…`: the console's live connection in `atende serve`, the same protocol as
//! API Gateway's WebSocket API on AWS (`functions/live`): a one-time ticket from
//! `POST /agent/live/tickets` opens it, the server pushes `{"type":"change",…}` frames, the page
//! pings; a connection is closed after `max_age` (API Gateway's two hours), and the page opens
//! a new one.

use atende_shared::adapters::ChannelPush;
use atende_shared::app::live::{Live, LiveError};
use atende_shared::domain::live::Frame;
use axum::Router;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// API Gateway's limit on a WebSocket connection's life.
pub const MAX_AGE: Duration = Duration::from_secs(2 * 3600);

pub struct LocalLive {
    pub live: Arc<Live>,
    pub sockets: Arc<ChannelPush>,
    /// How long a connection lives (`LIVE_MAX_SECONDS`, for trying the page's reconnection).
    pub max_age: Duration,
    next: AtomicU64,
}

impl LocalLive {
    pub fn new(live: Arc<Live>, sockets: Arc<ChannelPush>, max_age: Duration) -> Self {
        Self {
            live,
            sockets,
            max_age,
            next: AtomicU64::new(0),
        }
    }
}

pub fn router(local: Arc<LocalLive>) -> Router {
    Router::new()
        .route("/live", axum::routing::get(upgrade))
        .with_state(local)
}

fn problem(status: StatusCode, detail: &str) -> Response {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or_default(),
        "status": status.as_u16(),
        "detail": detail,
    });
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

async fn upgrade(
    State(local): State<Arc<LocalLive>>,
    Query(query): Query<HashMap<String, String>>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let Ok(upgrade) = upgrade else {
        return problem(
            StatusCode::UPGRADE_REQUIRED,
            "open this address as a WebSocket",
        );
    };
    let Some(ticket) = query.get("ticket") else {
        return problem(
            StatusCode::UNAUTHORIZED,
            "no ticket; ask POST /agent/live/tickets for one",
        );
    };
    let id = format!("local-{}", local.next.fetch_add(1, Ordering::SeqCst));
    match local.live.connect(&id, ticket).await {
        Ok(listener) => {
            tracing::info!(connection = %id, agent = %listener.agent, "live connection opened");
            // Registered before the upgrade completes, so that nothing pushed meanwhile is lost.
            let frames = local.sockets.open(&id);
            upgrade.on_upgrade(move |socket| serve(socket, id, frames, local))
        }
        Err(LiveError::BadTicket) => problem(
            StatusCode::UNAUTHORIZED,
            "the ticket is unknown, used or expired; ask for a new one",
        ),
        Err(LiveError::Store(e)) => {
            tracing::error!(error = %e, "live connection refused");
            problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily unavailable; try again",
            )
        }
    }
}

async fn serve(
    mut socket: WebSocket,
    id: String,
    mut frames: tokio::sync::mpsc::UnboundedReceiver<String>,
    local: Arc<LocalLive>,
) {
    let deadline = tokio::time::sleep(local.max_age);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            received = socket.recv() => match received {
                Some(Ok(Message::Text(text))) => {
                    if serde_json::from_str::<Frame>(&text).ok() == Some(Frame::Ping) {
                        let pong = serde_json::to_string(&Frame::Pong).unwrap_or_default();
                        if socket.send(Message::Text(pong.into())).await.is_err() {
                            break;
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            frame = frames.recv() => match frame {
                Some(frame) => {
                    if socket.send(Message::Text(frame.into())).await.is_err() {
                        break;
                    }
                }
                None => break,
            },
            () = &mut deadline => {
                // As API Gateway does after two hours: "going away"; the page opens another.
                let _ = socket
                    .send(Message::Close(Some(CloseFrame {
                        code: 1001,
                        reason: "connection too old".into(),
                    })))
                    .await;
                break;
            }
        }
    }
    local.sockets.close(&id);
    if let Err(e) = local.live.disconnect(&id).await {
        tracing::warn!(error = %e, "a closed live connection could not be forgotten");
    }
    tracing::info!(connection = %id, "live connection closed");
}

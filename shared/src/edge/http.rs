//! The webhook's HTTP contract, shared by the Lambda (its function URL) and `atende serve`.

use crate::app::webhook::{Webhook, WebhookError};

/// An HTTP answer, independent of the server that writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    /// Headers besides the content type (`Allow` on a 405, `WWW-Authenticate` on a 401).
    pub headers: Vec<(&'static str, String)>,
}

impl HttpReply {
    fn text(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
            headers: Vec::new(),
        }
    }

    /// The reply with one more header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// The status Meta (or whoever called) gets for each failure.
pub fn status_of(error: &WebhookError) -> u16 {
    match error {
        WebhookError::Forbidden => 403,
        WebhookError::MissingChallenge => 400,
        WebhookError::TooLarge(_) => 413,
        WebhookError::Signature(_) => 401,
        // 500 makes Meta deliver again: a signed event is never dropped.
        WebhookError::Queue(_) => 500,
    }
}

fn error_reply(error: &WebhookError) -> HttpReply {
    let status = status_of(error);
    // Internal details stay in the logs.
    let body = if status >= 500 {
        "temporarily unavailable".to_owned()
    } else {
        error.to_string()
    };
    HttpReply::text(status, body)
}

/// `GET /webhook`: Meta's subscription handshake. `query` looks up a query parameter.
pub fn get(webhook: &Webhook, query: impl Fn(&str) -> Option<String>) -> HttpReply {
    let (mode, token, challenge) = (
        query("hub.mode"),
        query("hub.verify_token"),
        query("hub.challenge"),
    );
    match webhook.subscribe(mode.as_deref(), token.as_deref(), challenge.as_deref()) {
        Ok(challenge) => HttpReply::text(200, challenge),
        Err(e) => error_reply(&e),
    }
}

/// `POST /webhook`: a signed delivery; `body` is the exact bytes received.
pub async fn post(webhook: &Webhook, signature: Option<&str>, body: &[u8]) -> HttpReply {
    match webhook.deliver(signature, body).await {
        Ok(accepted) => HttpReply {
            status: 200,
            content_type: "application/json",
            body: format!(
                "{{\"accepted\":{},\"unparseable\":{}}}",
                accepted.events, accepted.unparseable
            ),
            headers: Vec::new(),
        },
        Err(e) => error_reply(&e),
    }
}

/// Any other method on the webhook route.
pub fn method_not_allowed() -> HttpReply {
    HttpReply::text(
        405,
        "use GET for the subscription handshake or POST for deliveries",
    )
    .with_header("allow", "GET, POST")
}

//! `CloudApiWhatsApp`: the WhatsApp Cloud API over HTTPS (reqwest + rustls).
//!
//! Only `Sendable` messages (checked against WhatsApp's limits) go out; sends are paced to the number's
//! throughput, and retried within a time budget when the Graph API says "later" (130429,
//! 131056, 131000, 131016, 1, 2, 5xx) or could not be reached, with exponential backoff and
//! full jitter. Anything else comes back classified (`WhatsAppError::failure`) for the
//! processor to act on; a timeout after the request went out is `OutcomeUnknown` and is never
//! retried here.

use crate::adapters::retry::{RetryPolicy, Wait};
use crate::domain::{CustomerId, MediaKind, OutboundMessage, Sendable};
use crate::ports::{Failure, MAX_MEDIA_BYTES, Media, SentMessage, WhatsApp, WhatsAppError};
use crate::secret::Secret;
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::time::Instant;

/// The Graph API at its current version.
pub const DEFAULT_BASE_URL: &str = "https://graph.facebook.com/v26.0";

/// A business number's default throughput (messages per second).
pub const DEFAULT_MESSAGES_PER_SECOND: u32 = 80;

/// Spaces sends so that one process stays within the number's throughput.
struct Pacer {
    interval: Duration,
    next: tokio::sync::Mutex<Instant>,
}

impl Pacer {
    fn new(per_second: u32) -> Self {
        Self {
            interval: Duration::from_secs(1) / per_second.max(1),
            next: tokio::sync::Mutex::new(Instant::now()),
        }
    }

    /// Waits for this send's slot.
    async fn wait(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            let slot = (*next).max(Instant::now());
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

pub struct CloudApiWhatsApp {
    http: reqwest::Client,
    base_url: String,
    access_token: Secret,
    retry: RetryPolicy,
    /// The longest one request waits for its answer (a send's: cut to what its retry budget
    /// has left).
    timeout: Duration,
    pacer: Pacer,
}

impl CloudApiWhatsApp {
    /// `base_url` is the Graph API root including its version (`DEFAULT_BASE_URL`), or a local
    /// server standing in for it.
    pub fn new(base_url: &str, access_token: Secret) -> Result<Self, WhatsAppError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| WhatsAppError::Transport(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            access_token,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(10),
            pacer: Pacer::new(DEFAULT_MESSAGES_PER_SECOND),
        })
    }

    /// Waits at most `timeout` for each answer (10 seconds by default), and a send never past
    /// its retry budget; past it the outcome is unknown.
    pub fn with_timeout(mut self, timeout: Duration) -> Result<Self, WhatsAppError> {
        self.http = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(3)))
            .timeout(timeout)
            .build()
            .map_err(|e| WhatsAppError::Transport(format!("cannot build the HTTP client: {e}")))?;
        self.timeout = timeout;
        Ok(self)
    }

    /// Retries within `policy` instead of the default.
    pub fn with_retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// At most `per_second` messages per second from this process (the number's throughput:
    /// 80 by default, up to 1000 once Meta raises it).
    pub fn with_messages_per_second(mut self, per_second: u32) -> Self {
        self.pacer = Pacer::new(per_second);
        self
    }

    /// A GET with the token: the body and the content type, or the Graph API's error.
    async fn get(&self, url: &str) -> Result<(Vec<u8>, Option<String>), WhatsAppError> {
        let response = self
            .http
            .get(url)
            .bearer_auth(self.access_token.expose())
            .send()
            .await
            .map_err(|e| WhatsAppError::Transport(e.without_url().to_string()))?;
        let status = response.status();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = response
            .bytes()
            .await
            .map_err(|e| WhatsAppError::Transport(e.without_url().to_string()))?;
        if status.is_success() {
            return Ok((bytes.to_vec(), content_type));
        }
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Err(WhatsAppError::Api {
            status: status.as_u16(),
            code: value["error"]["code"].as_i64(),
            message: value["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        })
    }

    /// POSTs `body`, waiting at most `time` for the answer.
    async fn post(&self, from: &str, body: &Value, time: Duration) -> Result<Value, WhatsAppError> {
        let url = format!("{}/{from}/messages", self.base_url);
        let response = self
            .http
            .post(&url)
            .timeout(time)
            .bearer_auth(self.access_token.expose())
            .json(body)
            .send()
            .await
            .map_err(|e| {
                let e = e.without_url();
                // Refused or never connected: nothing reached WhatsApp. Anything later (a
                // timeout waiting for the answer) may have.
                if e.is_connect() || e.is_builder() {
                    WhatsAppError::Transport(e.to_string())
                } else {
                    WhatsAppError::OutcomeUnknown(e.to_string())
                }
            })?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| WhatsAppError::OutcomeUnknown(e.without_url().to_string()))?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(value);
        }
        #[derive(Deserialize)]
        struct ErrorBody {
            error: GraphError,
        }
        #[derive(Deserialize)]
        struct GraphError {
            code: Option<i64>,
            message: Option<String>,
        }
        let (code, message) = match serde_json::from_value::<ErrorBody>(value) {
            Ok(ErrorBody { error }) => (error.code, error.message.unwrap_or_default()),
            Err(_) => (None, text.chars().take(200).collect()),
        };
        Err(WhatsAppError::Api {
            status: status.as_u16(),
            code,
            message,
        })
    }
}

#[async_trait]
impl WhatsApp for CloudApiWhatsApp {
    async fn send(
        &self,
        from: &str,
        to: &CustomerId,
        message: &Sendable,
    ) -> Result<SentMessage, WhatsAppError> {
        let mut body = message_body(to, message.message());
        if let Some(reference) = message.reference() {
            body["biz_opaque_callback_data"] = json!(reference);
        }
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            self.pacer.wait().await;
            let time = self.retry.time_for_call(started.elapsed(), self.timeout);
            if time.is_zero() {
                // The pacer took the whole budget: nothing went out, later may work.
                return Err(WhatsAppError::Transport(
                    "no time left in the send's budget".into(),
                ));
            }
            let error = match self.post(from, &body, time).await {
                Ok(answer) => {
                    let id = answer["messages"][0]["id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    return Ok(SentMessage { id });
                }
                Err(e) => e,
            };
            let failure = error.failure();
            if !matches!(failure, Failure::Retry | Failure::Throttled) {
                return Err(error);
            }
            attempt += 1;
            let wait = self.retry.wait(
                attempt,
                if failure == Failure::Throttled {
                    Wait::Longer
                } else {
                    Wait::Normal
                },
            );
            if !self.retry.allows(attempt, started.elapsed(), wait) {
                return Err(error);
            }
            tracing::warn!(
                customer = %to.masked(),
                code = ?error.code(),
                attempt,
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "Graph API asked to wait; retrying"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// Marks the message read and, with `typing`, shows "typing…" until the reply (or 25
    /// seconds).
    async fn mark_read(
        &self,
        from: &str,
        message_id: &str,
        typing: bool,
    ) -> Result<(), WhatsAppError> {
        let mut body = json!({
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": message_id,
        });
        if typing {
            body["typing_indicator"] = json!({ "type": "text" });
        }
        self.post(from, &body, self.timeout).await.map(|_| ())
    }

    /// `GET /{media-id}` gives a short-lived URL (and the type); that URL, with the same
    /// token, gives the bytes.
    async fn media(&self, media_id: &str) -> Result<Media, WhatsAppError> {
        if media_id.is_empty() || !media_id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(WhatsAppError::Api {
                status: 400,
                code: None,
                message: "not a media id".into(),
            });
        }
        let described = self.get(&format!("{}/{media_id}", self.base_url)).await?;
        let info: Value = serde_json::from_slice(&described.0).unwrap_or(Value::Null);
        let (Some(url), mime) = (info["url"].as_str(), info["mime_type"].as_str()) else {
            return Err(WhatsAppError::Api {
                status: 502,
                code: None,
                message: "the media description has no url".into(),
            });
        };
        let mime_type = mime.unwrap_or("application/octet-stream").to_owned();
        let (bytes, _) = self.get(url).await?;
        if bytes.len() > MAX_MEDIA_BYTES {
            return Err(WhatsAppError::Api {
                status: 413,
                code: None,
                message: format!("{} bytes; at most {MAX_MEDIA_BYTES}", bytes.len()),
            });
        }
        Ok(Media { bytes, mime_type })
    }
}

/// The Cloud API request body for `message` to `to`. Customers known only by a business-scoped
/// user id are addressed with `recipient`: sending `to` a missing number is silently dropped.
pub fn message_body(to: &CustomerId, message: &OutboundMessage) -> Value {
    let mut body = json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
    });
    match to {
        CustomerId::Phone(number) => body["to"] = json!(number),
        CustomerId::User(user_id) => body["recipient"] = json!(user_id),
    }
    match message {
        OutboundMessage::Text { body: text } => {
            body["type"] = json!("text");
            body["text"] = json!({ "preview_url": false, "body": text });
        }
        OutboundMessage::Template {
            name,
            language,
            parameters,
        } => {
            body["type"] = json!("template");
            body["template"] = json!({ "name": name, "language": { "code": language } });
            if !parameters.is_empty() {
                let parameters: Vec<Value> = parameters
                    .iter()
                    .map(|p| json!({ "type": "text", "text": p }))
                    .collect();
                body["template"]["components"] =
                    json!([{ "type": "body", "parameters": parameters }]);
            }
        }
        OutboundMessage::Media {
            kind,
            link,
            filename,
            caption,
        } => {
            let mut media = json!({ "link": link });
            if let Some(c) = caption {
                media["caption"] = json!(c);
            }
            if let (MediaKind::Document, Some(f)) = (kind, filename) {
                media["filename"] = json!(f);
            }
            body["type"] = json!(kind.as_str());
            body[kind.as_str()] = media;
        }
        OutboundMessage::Flow {
            header,
            body: text,
            footer,
            flow_id,
            flow_token,
            cta,
            screen,
            data,
        } => {
            let mut payload = json!({ "screen": screen });
            if let Some(data) = data {
                payload["data"] = data.clone();
            }
            let action = json!({
                "name": "flow",
                "parameters": {
                    "flow_message_version": "3",
                    "flow_token": flow_token,
                    "flow_id": flow_id,
                    "flow_cta": cta,
                    "flow_action": "navigate",
                    "flow_action_payload": payload,
                },
            });
            body["type"] = json!("interactive");
            body["interactive"] = interactive("flow", header, text, footer, action);
        }
        OutboundMessage::Buttons {
            header,
            body: text,
            footer,
            buttons,
        } => {
            let buttons: Vec<Value> = buttons
                .iter()
                .map(|b| json!({ "type": "reply", "reply": { "id": b.id, "title": b.title } }))
                .collect();
            body["type"] = json!("interactive");
            body["interactive"] = interactive(
                "button",
                header,
                text,
                footer,
                json!({ "buttons": buttons }),
            );
        }
        OutboundMessage::List {
            header,
            body: text,
            footer,
            button,
            sections,
        } => {
            let sections: Vec<Value> = sections
                .iter()
                .map(|s| {
                    let rows: Vec<Value> = s
                        .rows
                        .iter()
                        .map(|r| {
                            let mut row = json!({ "id": r.id, "title": r.title });
                            if let Some(d) = &r.description {
                                row["description"] = json!(d);
                            }
                            row
                        })
                        .collect();
                    let mut section = json!({ "rows": rows });
                    if let Some(t) = &s.title {
                        section["title"] = json!(t);
                    }
                    section
                })
                .collect();
            body["type"] = json!("interactive");
            body["interactive"] = interactive(
                "list",
                header,
                text,
                footer,
                json!({ "button": button, "sections": sections }),
            );
        }
    }
    body
}

/// An `interactive` object: a text header and a footer only when present.
fn interactive(
    kind: &str,
    header: &Option<String>,
    text: &str,
    footer: &Option<String>,
    action: Value,
) -> Value {
    let mut interactive = json!({ "type": kind, "body": { "text": text }, "action": action });
    if let Some(h) = header {
        interactive["header"] = json!({ "type": "text", "text": h });
    }
    if let Some(f) = footer {
        interactive["footer"] = json!({ "text": f });
    }
    interactive
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Button;

    #[test]
    fn buttons_follow_the_cloud_api_shape() {
        let msg = OutboundMessage::Buttons {
            header: Some("Bem-vindo!".into()),
            body: "Como posso ajudar?".into(),
            footer: None,
            buttons: vec![Button {
                id: "btn_suporte".into(),
                title: "Suporte".into(),
            }],
        };
        let body = message_body(&CustomerId::Phone("5511999990000".into()), &msg);
        assert_eq!(
            body,
            json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "5511999990000",
                "type": "interactive",
                "interactive": {
                    "type": "button",
                    "header": {"type": "text", "text": "Bem-vindo!"},
                    "body": {"text": "Como posso ajudar?"},
                    "action": {"buttons": [
                        {"type": "reply", "reply": {"id": "btn_suporte", "title": "Suporte"}}
                    ]}
                }
            })
        );
    }

    #[test]
    fn a_flow_follows_the_cloud_api_shape() {
        let msg = OutboundMessage::Flow {
            header: None,
            body: "Preencha o formulário.".into(),
            footer: Some("Seus dados estão protegidos".into()),
            flow_id: "1234567890".into(),
            flow_token: "agendamento:1795521600".into(),
            cta: "Agendar agora".into(),
            screen: "APPOINTMENT_SCREEN".into(),
            data: Some(json!({"available_dates": ["2026-12-01"]})),
        };
        let body = message_body(&CustomerId::Phone("5511".into()), &msg);
        assert_eq!(
            body["interactive"],
            json!({
                "type": "flow",
                "body": {"text": "Preencha o formulário."},
                "footer": {"text": "Seus dados estão protegidos"},
                "action": {"name": "flow", "parameters": {
                    "flow_message_version": "3",
                    "flow_token": "agendamento:1795521600",
                    "flow_id": "1234567890",
                    "flow_cta": "Agendar agora",
                    "flow_action": "navigate",
                    "flow_action_payload": {
                        "screen": "APPOINTMENT_SCREEN",
                        "data": {"available_dates": ["2026-12-01"]}
                    }
                }}
            })
        );
    }

    #[test]
    fn user_ids_are_addressed_with_recipient() {
        let body = message_body(
            &CustomerId::User("US.1".into()),
            &OutboundMessage::text("oi"),
        );
        assert_eq!(body["recipient"], "US.1");
        assert!(body.get("to").is_none());
        assert_eq!(body["text"]["body"], "oi");
    }
}

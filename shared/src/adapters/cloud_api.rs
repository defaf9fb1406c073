//! `CloudApiWhatsApp`: the WhatsApp Cloud API over HTTPS (reqwest + rustls).

use crate::domain::{CustomerId, OutboundMessage};
use crate::ports::{SentMessage, WhatsApp, WhatsAppError};
use crate::secret::Secret;
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

/// The Graph API at its current version.
pub const DEFAULT_BASE_URL: &str = "https://graph.facebook.com/v26.0";

pub struct CloudApiWhatsApp {
    http: reqwest::Client,
    base_url: String,
    access_token: Secret,
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
        })
    }

    async fn post(&self, from: &str, body: &Value) -> Result<Value, WhatsAppError> {
        let url = format!("{}/{from}/messages", self.base_url);
        let response = self
            .http
            .post(&url)
            .bearer_auth(self.access_token.expose())
            .json(body)
            .send()
            .await
            .map_err(|e| WhatsAppError::Transport(e.without_url().to_string()))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| WhatsAppError::Transport(e.without_url().to_string()))?;
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
        message: &OutboundMessage,
    ) -> Result<SentMessage, WhatsAppError> {
        let answer = self.post(from, &message_body(to, message)).await?;
        let id = answer["messages"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        Ok(SentMessage { id })
    }

    async fn mark_read(&self, from: &str, message_id: &str) -> Result<(), WhatsAppError> {
        let body = json!({
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": message_id,
        });
        self.post(from, &body).await.map(|_| ())
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

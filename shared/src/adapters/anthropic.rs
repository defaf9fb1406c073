//! `AnthropicAssistant`: the AI assistant over Anthropic's Messages API (reqwest + rustls).
//!
//! The model gets the configured system prompt, the conversation so far (bounded in turns by
//! the engine and in characters here) and a `transfer_to_human` tool; calling it hands the
//! customer to a person. The seed's keyword check stays as a fallback: an answer that says it
//! will transfer the customer hands over too. Rate limits (429), overload (529), server errors
//! and timeouts are retried within a budget; then the call fails, and the engine apologises
//! and hands over — a customer is never left without an answer.

use crate::adapters::retry::{RetryPolicy, Wait};
use crate::domain::{Party, Turn};
use crate::ports::{Assistant, AssistantError, AssistantReply, AssistantRequest};
use crate::secret::Secret;
use async_trait::async_trait;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::time::Instant;

/// The public API.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// The API version this adapter speaks.
pub const API_VERSION: &str = "2023-06-01";
/// The tool the model calls to hand the conversation to a person.
pub const HANDOVER_TOOL: &str = "transfer_to_human";
/// At most this many characters of conversation history go with a question (oldest dropped).
pub const MAX_HISTORY_CHARS: usize = 6000;

pub struct AnthropicAssistant {
    http: reqwest::Client,
    base_url: String,
    api_key: Secret,
    retry: RetryPolicy,
    /// The longest one call waits for its answer (cut to what the retry budget has left).
    timeout: Duration,
    /// Folded phrases that, in an answer, mean the model is handing over.
    handover_phrases: Vec<String>,
}

impl AnthropicAssistant {
    /// `base_url` is the API root (`DEFAULT_BASE_URL`) or a local server standing in for it.
    /// `handover_phrases`: the keyword fallback (whole words, case and accents ignored).
    pub fn new(
        base_url: &str,
        api_key: Secret,
        handover_phrases: &[String],
    ) -> Result<Self, AssistantError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| {
                AssistantError::Unavailable(format!("cannot build the HTTP client: {e}"))
            })?;
        Ok(Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key,
            timeout: Duration::from_secs(10),
            // Three attempts at most, all within 15 seconds (each call's waiting included):
            // a timed-out call leaves one retry about 4 seconds.
            retry: RetryPolicy {
                base: Duration::from_millis(500),
                max_wait: Duration::from_secs(2),
                budget: Duration::from_secs(15),
                max_attempts: 3,
            },
            handover_phrases: handover_phrases
                .iter()
                .map(|p| crate::domain::text::fold(p))
                .collect(),
        })
    }

    pub fn with_retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Waits at most `timeout` per call (10 seconds by default), and never past the retry
    /// budget.
    pub fn with_timeout(mut self, timeout: Duration) -> Result<Self, AssistantError> {
        self.http = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(3)))
            .timeout(timeout)
            .build()
            .map_err(|e| {
                AssistantError::Unavailable(format!("cannot build the HTTP client: {e}"))
            })?;
        self.timeout = timeout;
        Ok(self)
    }

    /// One call, waiting at most `time` for the answer. `Err((retryable, reason))`.
    async fn call(&self, body: &Value, time: Duration) -> Result<Value, (bool, String)> {
        let response = self
            .http
            .post(format!("{}/v1/messages", self.base_url))
            .timeout(time)
            .header("x-api-key", self.api_key.expose())
            .header("anthropic-version", API_VERSION)
            .json(body)
            .send()
            .await
            .map_err(|e| (true, e.without_url().to_string()))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| (true, e.without_url().to_string()))?;
        if (200..300).contains(&status) {
            return serde_json::from_str(&text).map_err(|e| (false, format!("bad answer: {e}")));
        }
        let kind = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["error"]["type"].as_str().map(str::to_owned))
            .unwrap_or_default();
        // 429 rate limit, 529 overloaded, 5xx: later may work. 4xx: the request is wrong.
        let retryable = status == 429 || status >= 500;
        Err((retryable, format!("HTTP {status} {kind}")))
    }
}

/// The Messages API body: system prompt, the history as alternating user/assistant turns
/// (consecutive lines of one side joined, starting with the customer, at most
/// `MAX_HISTORY_CHARS`), the question, and the handover tool.
pub fn request_body(request: &AssistantRequest<'_>) -> Value {
    let mut kept: Vec<&Turn> = Vec::new();
    let mut chars = 0;
    for turn in request.history.iter().rev() {
        chars += turn.text.chars().count();
        if chars > MAX_HISTORY_CHARS {
            break;
        }
        kept.push(turn);
    }
    kept.reverse();
    let mut messages: Vec<(&str, String)> = Vec::new();
    let turns = kept
        .into_iter()
        .map(|t| {
            let role = match t.from {
                Party::Customer => "user",
                Party::Bot | Party::Agent => "assistant",
            };
            (role, t.text.as_str())
        })
        .chain(std::iter::once(("user", request.question)));
    for (role, text) in turns {
        match messages.last_mut() {
            Some((last, joined)) if *last == role => {
                joined.push('\n');
                joined.push_str(text);
            }
            // The API wants the customer first.
            None if role == "assistant" => {}
            _ => messages.push((role, text.to_owned())),
        }
    }
    let messages: Vec<Value> = messages
        .into_iter()
        .map(|(role, content)| json!({ "role": role, "content": content }))
        .collect();
    json!({
        "model": request.model,
        "max_tokens": request.max_tokens,
        "system": request.system_prompt,
        "messages": messages,
        "tools": [{
            "name": HANDOVER_TOOL,
            "description": "Transfer the conversation to a human agent: when the customer asks \
                for a person, is upset, or needs something you cannot answer with certainty.",
            "input_schema": {
                "type": "object",
                "properties": {
                    "reason": { "type": "string", "description": "Why a person should take over." }
                },
                "required": ["reason"]
            }
        }]
    })
}

#[async_trait]
impl Assistant for AnthropicAssistant {
    async fn answer(
        &self,
        request: AssistantRequest<'_>,
    ) -> Result<AssistantReply, AssistantError> {
        let body = request_body(&request);
        let started = Instant::now();
        let mut attempt = 0;
        let answer = loop {
            let time = self.retry.time_for_call(started.elapsed(), self.timeout);
            let reason = match self.call(&body, time).await {
                Ok(answer) => break answer,
                Err((false, reason)) => return Err(AssistantError::Unavailable(reason)),
                Err((true, reason)) => reason,
            };
            attempt += 1;
            let wait = self.retry.wait(attempt, Wait::Normal);
            if !self.retry.allows(attempt, started.elapsed(), wait) {
                return Err(AssistantError::Unavailable(format!(
                    "{reason}, {attempt} attempt(s)"
                )));
            }
            tracing::warn!(attempt, %reason, "assistant call failed; retrying");
            tokio::time::sleep(wait).await;
        };
        let blocks = answer["content"].as_array().cloned().unwrap_or_default();
        let text: Vec<&str> = blocks
            .iter()
            .filter(|b| b["type"] == "text")
            .filter_map(|b| b["text"].as_str())
            .collect();
        let text = text.join("\n").trim().to_owned();
        let tool = blocks
            .iter()
            .find(|b| b["type"] == "tool_use" && b["name"] == HANDOVER_TOOL);
        if let Some(tool) = tool {
            tracing::info!(
                reason = tool["input"]["reason"].as_str().unwrap_or_default(),
                "the assistant hands over to a person"
            );
        }
        let folded = crate::domain::text::fold(&text);
        let said_so = self
            .handover_phrases
            .iter()
            .any(|p| crate::domain::text::has_folded_phrase(&folded, p));
        Ok(AssistantReply {
            text,
            wants_human: tool.is_some() || said_so,
        })
    }
}

//! Reading the environment, once, at start-up.

use crate::domain::{Config, ConfigError};
use crate::secret::Secret;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{0} is not set (or is blank); refusing to start")]
    Missing(&'static str),
    #[error("cannot read the configuration file {path}: {source}")]
    ConfigFile {
        path: String,
        source: std::io::Error,
    },
    #[error("configuration {origin}: {source}")]
    Config { origin: String, source: ConfigError },
    #[error("{name}_ARN names a secret that Secrets Manager does not have (or it is blank)")]
    SecretMissing { name: &'static str },
    #[error("cannot read {name} from Secrets Manager: {reason}")]
    SecretStore { name: &'static str, reason: String },
    #[error("{name} is `{value}`; {expected}")]
    Invalid {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
}

/// The messages per second this process may send: the business number's throughput
/// (`WHATSAPP_MESSAGES_PER_SECOND`, 80 unless Meta raised it) shared among the processors that
/// may run at once (`PROCESSOR_MAX_CONCURRENCY`, the queue's event source bound on AWS; 1 by
/// default, as for the one-process local runner).
pub fn messages_per_second() -> Result<u32, SettingsError> {
    let rate = from_1_to_1000("WHATSAPP_MESSAGES_PER_SECOND")?
        .unwrap_or(crate::adapters::cloud_api::DEFAULT_MESSAGES_PER_SECOND);
    let processors = from_1_to_1000("PROCESSOR_MAX_CONCURRENCY")?.unwrap_or(1);
    share_of_throughput(rate, processors).ok_or(SettingsError::Invalid {
        name: "PROCESSOR_MAX_CONCURRENCY",
        value: processors.to_string(),
        expected: "at most WHATSAPP_MESSAGES_PER_SECOND: each processor must get a message a second",
    })
}

/// A whole number from 1 to 1000 in `name`, if set.
fn from_1_to_1000(name: &'static str) -> Result<Option<u32>, SettingsError> {
    optional(name)
        .map(|value| {
            value
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or(SettingsError::Invalid {
                    name,
                    value,
                    expected: "a whole number from 1 to 1000",
                })
        })
        .transpose()
}

/// Each of `processors`' share of the number's `rate` (messages per second), so that all of
/// them together never exceed it; `None` when there is less than one message a second each.
pub fn share_of_throughput(rate: u32, processors: u32) -> Option<u32> {
    rate.checked_div(processors).filter(|share| *share >= 1)
}

/// The business configuration: the file named by `ATENDE_CONFIG`, else the embedded default.
pub fn load_config() -> Result<Config, SettingsError> {
    match std::env::var("ATENDE_CONFIG")
        .ok()
        .filter(|p| !p.trim().is_empty())
    {
        Some(path) => {
            let text =
                std::fs::read_to_string(&path).map_err(|source| SettingsError::ConfigFile {
                    path: path.clone(),
                    source,
                })?;
            Config::from_toml(&text).map_err(|source| SettingsError::Config {
                origin: format!("file {path}"),
                source,
            })
        }
        None => Config::embedded().map_err(|source| SettingsError::Config {
            origin: "embedded default".into(),
            source,
        }),
    }
}

/// The deployment's secrets, read once at start. On AWS each lives in Secrets Manager and
/// the function's environment names it (`<NAME>_ARN`, its ARN): the value never sits in the
/// environment. Locally (and wherever no `<NAME>_ARN` is set) the value is read from
/// `<NAME>` itself.
#[derive(Clone, Debug, Default)]
pub struct Secrets {
    values: std::collections::HashMap<&'static str, Secret>,
}

impl Secrets {
    /// Every one of `names` from the environment (the local runner).
    pub fn from_env(names: &[&'static str]) -> Self {
        let mut values = std::collections::HashMap::new();
        for name in names {
            if let Some(secret) = std::env::var(name).ok().and_then(Secret::new) {
                values.insert(*name, secret);
            }
        }
        Self { values }
    }

    /// Each of `names` from `store` when `env` gives `<NAME>_ARN`, else from `env(<NAME>)`. A
    /// secret named but not found, or a store that does not answer, stops the start: a
    /// function never runs half-configured.
    pub async fn load(
        names: &[&'static str],
        env: impl Fn(&str) -> Option<String>,
        store: &dyn crate::ports::SecretStore,
    ) -> Result<Self, SettingsError> {
        let mut values = std::collections::HashMap::new();
        for name in names {
            let arn = env(&format!("{name}_ARN")).filter(|v| !v.trim().is_empty());
            let secret = match arn {
                Some(arn) => Some(
                    store
                        .secret(&arn)
                        .await
                        .map_err(|e| SettingsError::SecretStore {
                            name,
                            reason: e.to_string(),
                        })?
                        .ok_or(SettingsError::SecretMissing { name })?,
                ),
                None => env(name).and_then(Secret::new),
            };
            if let Some(secret) = secret {
                values.insert(*name, secret);
            }
        }
        Ok(Self { values })
    }

    /// At start on Lambda: `names` from Secrets Manager, or the environment (`load`).
    pub async fn on_aws(
        names: &[&'static str],
        sdk: &crate::adapters::aws::SdkConfig,
    ) -> Result<Self, SettingsError> {
        let store = crate::adapters::SecretsManagerSecretStore::new(
            crate::adapters::aws::secrets_manager(sdk),
        );
        Self::load(names, |n| std::env::var(n).ok(), &store).await
    }

    /// A secret the function cannot work without.
    pub fn required(&self, name: &'static str) -> Result<Secret, SettingsError> {
        self.values
            .get(name)
            .cloned()
            .ok_or(SettingsError::Missing(name))
    }

    /// A secret that turns something on when present.
    pub fn optional(&self, name: &str) -> Option<Secret> {
        self.values.get(name).cloned()
    }
}

/// Live updates on AWS, when `LIVE_TABLE` (the connections) and `LIVE_ENDPOINT` (the WebSocket
/// stage's management endpoint, `https://{api}.execute-api.{region}.amazonaws.com/{stage}`) are
/// set; without them the console polls.
pub fn live_on_aws(
    sdk: &crate::adapters::aws::SdkConfig,
    clock: std::sync::Arc<dyn crate::ports::Clock>,
) -> Result<Option<std::sync::Arc<crate::app::live::Live>>, SettingsError> {
    use crate::adapters::{ApiGatewayPush, DynamoDbLiveConnections, aws};
    use std::sync::Arc;
    match (optional("LIVE_TABLE"), optional("LIVE_ENDPOINT")) {
        (Some(table), Some(endpoint)) => Ok(Some(Arc::new(crate::app::live::Live::new(
            Arc::new(DynamoDbLiveConnections::new(aws::dynamodb(sdk), table)),
            Arc::new(ApiGatewayPush::new(aws::connections(sdk, &endpoint))),
            clock,
        )))),
        (None, None) => Ok(None),
        (table, _) => Err(SettingsError::Invalid {
            name: if table.is_some() {
                "LIVE_ENDPOINT"
            } else {
                "LIVE_TABLE"
            },
            value: String::new(),
            expected: "set both LIVE_TABLE and LIVE_ENDPOINT, or neither",
        }),
    }
}

/// The AI assistant, when `ANTHROPIC_API_KEY` is set: Anthropic's Messages API at
/// `ANTHROPIC_BASE_URL` (default the public API).
pub fn anthropic_assistant(
    config: &crate::domain::Config,
    secrets: &Secrets,
) -> Result<Option<crate::adapters::AnthropicAssistant>, crate::ports::AssistantError> {
    let Some(key) = secrets.optional("ANTHROPIC_API_KEY") else {
        return Ok(None);
    };
    let base_url = optional("ANTHROPIC_BASE_URL")
        .unwrap_or_else(|| crate::adapters::anthropic::DEFAULT_BASE_URL.to_owned());
    crate::adapters::AnthropicAssistant::new(&base_url, key, &config.assistant.handover_phrases)
        .map(Some)
}

/// The staff's channels: `NOTIFY_WEBHOOK_URL` (a Slack-style incoming webhook) and, with
/// `whatsapp`, the supervisors of `[notifications]` (sent from the customer's business number,
/// or `WHATSAPP_PHONE_NUMBER_ID` for SLA alerts).
pub fn staff(
    config: &crate::domain::Config,
    whatsapp: Option<std::sync::Arc<dyn crate::ports::WhatsApp>>,
    secrets: &Secrets,
) -> Result<crate::app::Staff, crate::ports::NotifyError> {
    let mut staff = crate::app::Staff::new();
    if let Some(url) = secrets.optional("NOTIFY_WEBHOOK_URL") {
        staff = staff.with(
            "webhook",
            std::sync::Arc::new(crate::adapters::WebhookNotifications::new(url)?),
        );
    }
    if let Some(whatsapp) = whatsapp
        && !config.notifications.supervisors.is_empty()
    {
        staff = staff.with(
            "whatsapp",
            std::sync::Arc::new(crate::adapters::WhatsAppNotifications::new(
                whatsapp,
                &config.notifications.supervisors,
                optional("WHATSAPP_PHONE_NUMBER_ID"),
            )),
        );
    }
    Ok(staff)
}

/// An optional setting from the environment; blank counts as unset.
pub fn optional(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The Graph API base URL: `WHATSAPP_API_BASE_URL`, else the public Graph API.
pub fn whatsapp_base_url() -> String {
    optional("WHATSAPP_API_BASE_URL")
        .unwrap_or_else(|| crate::adapters::cloud_api::DEFAULT_BASE_URL.to_owned())
}

/// A required, non-secret setting from the environment.
pub fn required(name: &'static str) -> Result<String, SettingsError> {
    optional(name).ok_or(SettingsError::Missing(name))
}

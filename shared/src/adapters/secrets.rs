//! Secret stores: `SecretsManagerSecretStore` (AWS Secrets Manager, `GetSecretValue`) and
//! `MemorySecretStore`.

use crate::ports::{SecretStore, SecretsError};
use crate::secret::Secret;
use async_trait::async_trait;
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use std::collections::HashMap;
use std::sync::Mutex;

/// Secrets Manager: each secret a plain string (`SecretString`), read by ARN or name.
pub struct SecretsManagerSecretStore {
    client: aws_sdk_secretsmanager::Client,
}

impl SecretsManagerSecretStore {
    pub fn new(client: aws_sdk_secretsmanager::Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl SecretStore for SecretsManagerSecretStore {
    async fn secret(&self, id: &str) -> Result<Option<Secret>, SecretsError> {
        match self.client.get_secret_value().secret_id(id).send().await {
            Ok(output) => Ok(output.secret_string().and_then(Secret::new)),
            Err(e) => match e.into_service_error() {
                e if e.is_resource_not_found_exception() => Ok(None),
                // The error names the secret, never its value.
                e => Err(SecretsError::Unavailable(
                    DisplayErrorContext(&e).to_string(),
                )),
            },
        }
    }
}

/// Secrets in a map (the reference adapter).
#[derive(Default)]
pub struct MemorySecretStore {
    secrets: Mutex<HashMap<String, String>>,
}

impl MemorySecretStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn put(&self, id: &str, value: &str) {
        self.secrets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id.to_owned(), value.to_owned());
    }
}

#[async_trait]
impl SecretStore for MemorySecretStore {
    async fn secret(&self, id: &str) -> Result<Option<Secret>, SecretsError> {
        Ok(self
            .secrets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(id)
            .cloned()
            .and_then(Secret::new))
    }
}

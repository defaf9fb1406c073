//! Shared AWS client configuration: region, credentials and endpoint from the environment
//! (`AWS_REGION`, `AWS_ENDPOINT_URL` for an emulator, …). Built once at cold start.

pub use aws_config::SdkConfig;

/// The SDK configuration from the environment.
pub async fn sdk_config() -> SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

pub fn dynamodb(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}

pub fn sqs(config: &SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(config)
}

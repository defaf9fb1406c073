//! Shared AWS client configuration: region, credentials and endpoint from the environment
//! (`AWS_REGION`, `AWS_ENDPOINT_URL` for an emulator, …). Built once at cold start.

pub use aws_config::{self, SdkConfig};
pub use aws_sdk_apigatewaymanagement;

/// The SDK configuration from the environment.
pub async fn sdk_config() -> SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

pub fn dynamodb(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}

/// S3 with path-style addresses when an emulator stands in (`AWS_ENDPOINT_URL`), so that
/// bucket names need no DNS.
pub fn s3(config: &SdkConfig) -> aws_sdk_s3::Client {
    let emulated = std::env::var_os("AWS_ENDPOINT_URL").is_some();
    let s3_config = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(emulated)
        .build();
    aws_sdk_s3::Client::from_conf(s3_config)
}

pub fn sqs(config: &SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(config)
}

pub fn secrets_manager(config: &SdkConfig) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(config)
}

pub fn scheduler(config: &SdkConfig) -> aws_sdk_scheduler::Client {
    aws_sdk_scheduler::Client::new(config)
}

/// API Gateway's management API of one WebSocket stage: `endpoint` is
/// `https://{api}.execute-api.{region}.amazonaws.com/{stage}` (or a stand-in's address).
pub fn connections(config: &SdkConfig, endpoint: &str) -> aws_sdk_apigatewaymanagement::Client {
    let conf = aws_sdk_apigatewaymanagement::config::Builder::from(config)
        .endpoint_url(endpoint)
        .build();
    aws_sdk_apigatewaymanagement::Client::from_conf(conf)
}

/// Creates atende's tables and queues (for an emulator, or `atende serve --backend aws
/// --create-resources`). The definitions mirror `template.yaml`, which is what deploys them on
/// AWS: keys, TTL attribute, FIFO settings and the dead-letter queue.
pub mod resources {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        TimeToLiveSpecification,
    };
    use aws_sdk_sqs::types::QueueAttributeName;

    /// The sessions table's partition key and TTL attribute.
    pub const SESSIONS_KEY: &str = "customer";
    pub const SESSIONS_TTL_ATTRIBUTE: &str = "expires_at";
    /// The attendance table's partition and sort keys.
    pub const ATTENDANCE_KEYS: [&str; 2] = ["department", "sk"];
    /// Places in line (and their guards) carry it: a wait ends with the customer's window.
    /// The marks of reply alerts carry it too.
    pub const ATTENDANCE_TTL_ATTRIBUTE: &str = "expires_at";
    pub const AGENTS_KEY: &str = "id";
    pub const LOG_KEYS: [&str; 2] = ["customer", "sk"];
    pub const LOG_TTL_ATTRIBUTE: &str = "expires_at";
    /// The event queue's visibility timeout: 6 × the processor's 60-second timeout.
    pub const VISIBILITY_TIMEOUT_SECONDS: u32 = 360;
    /// Receives before an event goes to the dead-letter queue.
    pub const MAX_RECEIVE_COUNT: u32 = 5;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot create {what}: {message}")]
    pub struct ResourceError {
        pub what: String,
        pub message: String,
    }

    fn error(what: &str, e: impl std::error::Error) -> ResourceError {
        ResourceError {
            what: what.to_owned(),
            message: aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string(),
        }
    }

    fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, ResourceError> {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(|e| error(name, e))
    }

    fn string_attribute(name: &str) -> Result<AttributeDefinition, ResourceError> {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| error(name, e))
    }

    /// An on-demand table with string keys: `(name, HASH)` then optionally `(name, RANGE)`.
    async fn create_table(
        client: &aws_sdk_dynamodb::Client,
        table: &str,
        keys: &[(&str, KeyType)],
    ) -> Result<(), ResourceError> {
        let mut request = client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest);
        for (name, kind) in keys {
            request = request
                .attribute_definitions(string_attribute(name)?)
                .key_schema(key(name, kind.clone())?);
        }
        request.send().await.map_err(|e| error(table, e))?;
        Ok(())
    }

    /// Sessions: partition key `customer`, TTL on `expires_at`.
    pub async fn create_agents_table(
        client: &aws_sdk_dynamodb::Client,
        table: &str,
    ) -> Result<(), ResourceError> {
        create_table(client, table, &[(AGENTS_KEY, KeyType::Hash)]).await
    }

    /// The console's live connections and tickets: partition key `id`, TTL on `expires_at`.
    pub async fn create_live_table(
        client: &aws_sdk_dynamodb::Client,
        table: &str,
    ) -> Result<(), ResourceError> {
        use crate::adapters::dynamodb_live::{LIVE_KEY, LIVE_TTL_ATTRIBUTE};
        create_table(client, table, &[(LIVE_KEY, KeyType::Hash)]).await?;
        enable_ttl(client, table, LIVE_TTL_ATTRIBUTE).await
    }

    pub async fn create_log_table(
        client: &aws_sdk_dynamodb::Client,
        table: &str,
    ) -> Result<(), ResourceError> {
        create_table(
            client,
            table,
            &[(LOG_KEYS[0], KeyType::Hash), (LOG_KEYS[1], KeyType::Range)],
        )
        .await?;
        enable_ttl(client, table, LOG_TTL_ATTRIBUTE).await
    }

    async fn enable_ttl(
        client: &aws_sdk_dynamodb::Client,
        table: &str,
        attribute: &str,
    ) -> Result<(), ResourceError> {
        client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(attribute)
                    .build()
                    .map_err(|e| error(table, e))?,
            )
            .send()
            .await
            .map_err(|e| error(table, e))?;
        Ok(())
    }

    pub async fn create_sessions_table(
        client: &aws_sdk_dynamodb::Client,
        table: &str,
    ) -> Result<(), ResourceError> {
        create_table(client, table, &[(SESSIONS_KEY, KeyType::Hash)]).await?;
        enable_ttl(client, table, SESSIONS_TTL_ATTRIBUTE).await
    }

    /// Attendance queue: partition key `department`, sort key `sk`.
    pub async fn create_attendance_table(
        client: &aws_sdk_dynamodb::Client,
        table: &str,
    ) -> Result<(), ResourceError> {
        create_table(
            client,
            table,
            &[
                (ATTENDANCE_KEYS[0], KeyType::Hash),
                (ATTENDANCE_KEYS[1], KeyType::Range),
            ],
        )
        .await?;
        enable_ttl(client, table, ATTENDANCE_TTL_ATTRIBUTE).await
    }

    /// What `create_all` made: the values of the Lambdas' `EVENTS_QUEUE_URL`,
    /// `EVENTS_QUEUE_ARN`, `SESSIONS_TABLE`, `ATTENDANCE_TABLE` and `SCHEDULE_GROUP`.
    #[derive(Clone, Debug)]
    pub struct Created {
        pub events_queue_url: String,
        pub events_queue_arn: String,
        pub sessions_table: String,
        pub attendance_table: String,
        pub agents_table: String,
        pub log_table: String,
        pub live_table: String,
        pub media_bucket: String,
        pub schedule_group: String,
    }

    /// The timers' schedule group.
    /// A bucket like the stack's: encrypted by default, public access blocked. (Expiry is the
    /// stack's lifecycle rule; emulated buckets keep their files.)
    pub async fn create_media_bucket(
        client: &aws_sdk_s3::Client,
        bucket: &str,
    ) -> Result<(), ResourceError> {
        use aws_sdk_s3::types::{
            PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
            ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
        };
        client
            .create_bucket()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| error(bucket, e))?;
        let default = ServerSideEncryptionByDefault::builder()
            .sse_algorithm(ServerSideEncryption::Aes256)
            .build()
            .map_err(|e| error(bucket, e))?;
        let rule = ServerSideEncryptionRule::builder()
            .apply_server_side_encryption_by_default(default)
            .build();
        let encryption = ServerSideEncryptionConfiguration::builder()
            .rules(rule)
            .build()
            .map_err(|e| error(bucket, e))?;
        client
            .put_bucket_encryption()
            .bucket(bucket)
            .server_side_encryption_configuration(encryption)
            .send()
            .await
            .map_err(|e| error(bucket, e))?;
        client
            .put_public_access_block()
            .bucket(bucket)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(true)
                    .block_public_policy(true)
                    .ignore_public_acls(true)
                    .restrict_public_buckets(true)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| error(bucket, e))?;
        Ok(())
    }

    pub async fn create_schedule_group(
        client: &aws_sdk_scheduler::Client,
        name: &str,
    ) -> Result<(), ResourceError> {
        client
            .create_schedule_group()
            .name(name)
            .send()
            .await
            .map_err(|e| error(name, e))?;
        Ok(())
    }

    /// A queue's ARN.
    pub async fn queue_arn(
        client: &aws_sdk_sqs::Client,
        url: &str,
    ) -> Result<String, ResourceError> {
        Ok(client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| error(url, e))?
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .unwrap_or_default())
    }

    /// Both tables, the event queue (with its dead-letter queue, 5 receives) and the timers'
    /// schedule group, named `<prefix>-sessions`, `<prefix>-attendance`,
    /// `<prefix>-events.fifo` and `<prefix>-timers`.
    pub async fn create_all(
        sdk: &aws_config::SdkConfig,
        prefix: &str,
    ) -> Result<Created, ResourceError> {
        let dynamodb = super::dynamodb(sdk);
        let sessions_table = format!("{prefix}-sessions");
        let attendance_table = format!("{prefix}-attendance");
        create_sessions_table(&dynamodb, &sessions_table).await?;
        create_attendance_table(&dynamodb, &attendance_table).await?;
        let agents_table = format!("{prefix}-agents");
        let log_table = format!("{prefix}-log");
        create_agents_table(&dynamodb, &agents_table).await?;
        create_log_table(&dynamodb, &log_table).await?;
        let live_table = format!("{prefix}-live");
        create_live_table(&dynamodb, &live_table).await?;
        let media_bucket = format!("{prefix}-media").to_lowercase();
        create_media_bucket(&super::s3(sdk), &media_bucket).await?;
        let sqs = super::sqs(sdk);
        let events_queue_url =
            create_event_queue(&sqs, &format!("{prefix}-events"), MAX_RECEIVE_COUNT).await?;
        let events_queue_arn = queue_arn(&sqs, &events_queue_url).await?;
        let schedule_group = format!("{prefix}-timers");
        create_schedule_group(&super::scheduler(sdk), &schedule_group).await?;
        Ok(Created {
            events_queue_url,
            events_queue_arn,
            sessions_table,
            attendance_table,
            agents_table,
            log_table,
            live_table,
            media_bucket,
            schedule_group,
        })
    }

    /// The FIFO event queue (high-throughput mode) and its dead-letter queue; returns the
    /// event queue's URL. `name` is without the `.fifo` suffix.
    pub async fn create_event_queue(
        client: &aws_sdk_sqs::Client,
        name: &str,
        max_receive_count: u32,
    ) -> Result<String, ResourceError> {
        let fifo = |q: &str| {
            [
                (QueueAttributeName::FifoQueue, "true".to_owned()),
                (
                    QueueAttributeName::DeduplicationScope,
                    "messageGroup".to_owned(),
                ),
                (
                    QueueAttributeName::FifoThroughputLimit,
                    "perMessageGroupId".to_owned(),
                ),
                // Scheduler sends timer events without a deduplication id; the webhook's
                // events carry theirs, which take precedence.
                (
                    QueueAttributeName::ContentBasedDeduplication,
                    "true".to_owned(),
                ),
                (
                    QueueAttributeName::MessageRetentionPeriod,
                    "1209600".to_owned(),
                ),
            ]
            .into_iter()
            .chain(std::iter::once((
                QueueAttributeName::VisibilityTimeout,
                if q.ends_with("-dlq") {
                    "30".to_owned()
                } else {
                    VISIBILITY_TIMEOUT_SECONDS.to_string()
                },
            )))
        };
        let dlq_name = format!("{name}-dlq");
        let dlq = client
            .create_queue()
            .queue_name(format!("{dlq_name}.fifo"))
            .set_attributes(Some(fifo(&dlq_name).collect()))
            .send()
            .await
            .map_err(|e| error(&dlq_name, e))?;
        let dlq_arn = queue_arn(client, dlq.queue_url().unwrap_or_default()).await?;
        let redrive = format!(
            r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":{max_receive_count}}}"#
        );
        let queue = client
            .create_queue()
            .queue_name(format!("{name}.fifo"))
            .set_attributes(Some(
                fifo(name)
                    .chain(std::iter::once((
                        QueueAttributeName::RedrivePolicy,
                        redrive,
                    )))
                    .collect(),
            ))
            .send()
            .await
            .map_err(|e| error(name, e))?;
        Ok(queue.queue_url().unwrap_or_default().to_owned())
    }
}

/// The SDK crates, for callers that talk to the services directly (tests, tooling).
pub use aws_sdk_dynamodb;
pub use aws_sdk_s3;
pub use aws_sdk_scheduler;
pub use aws_sdk_secretsmanager;
pub use aws_sdk_sqs;

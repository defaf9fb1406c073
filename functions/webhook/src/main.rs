//! The webhook Lambda (its function URL): verifies Meta's deliveries and enqueues their
//! events on the FIFO queue. Wiring only; the behaviour lives in `atende_shared`.

use atende_shared::adapters::{DynamoDbConversationLog, SqsEventQueue, aws};
use atende_shared::app::settings::{self, Secrets};
use atende_shared::app::{Webhook, WebhookSecrets};
use atende_shared::{edge, logging};
use lambda_http::{Error, service_fn};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    logging::init_lambda();
    let queue_url = settings::required("EVENTS_QUEUE_URL")?;
    let sdk = aws::sdk_config().await;
    // Fail closed: without the app secret and verify token the function does not start.
    let secrets = WebhookSecrets::from(&Secrets::on_aws(&WebhookSecrets::NAMES, &sdk).await?)?;
    let queue = Arc::new(SqsEventQueue::new(aws::sqs(&sdk), queue_url));
    let mut webhook = Webhook::new(secrets, queue);
    // Plain statuses of the bot's messages go straight to the conversation log.
    if let Some(log_table) = settings::optional("LOG_TABLE") {
        webhook = webhook.with_statuses(Arc::new(DynamoDbConversationLog::new(
            aws::dynamodb(&sdk),
            log_table,
        )));
    }
    let webhook = &webhook;
    lambda_http::run(service_fn(move |req| edge::lambda::webhook(webhook, req))).await
}

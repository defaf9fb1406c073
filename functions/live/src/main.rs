//! The live-updates Lambda behind API Gateway's WebSocket API (`$connect`, `$disconnect`,
//! `$default`): keeps the console pages' connections in DynamoDB. Pushing is done by the
//! functions that change things (processor, agent API). Wiring only.

use atende_shared::adapters::{ApiGatewayPush, DynamoDbLiveConnections, SystemClock, aws};
use atende_shared::app::live::Live;
use atende_shared::app::settings;
use atende_shared::{edge, logging};
use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    logging::init_lambda();
    let sdk = aws::sdk_config().await;
    let live = Live::new(
        Arc::new(DynamoDbLiveConnections::new(
            aws::dynamodb(&sdk),
            settings::required("LIVE_TABLE")?,
        )),
        // This function only keeps connections; it pushes nothing.
        Arc::new(ApiGatewayPush::new(aws::connections(
            &sdk,
            &settings::required("LIVE_ENDPOINT")?,
        ))),
        Arc::new(SystemClock),
    );
    let live = &live;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| async move {
            Ok::<_, Error>(edge::lambda::live(live, event.payload).await)
        },
    ))
    .await
}

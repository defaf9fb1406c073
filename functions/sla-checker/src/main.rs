//! The SLA checker Lambda (EventBridge Scheduler): reports customers waiting for a human past
//! their department's limits. Wiring only.

use atende_shared::adapters::{DynamoDbAttendanceQueue, SystemClock, aws};
use atende_shared::app::{SlaChecker, settings};
use atende_shared::{edge, logging};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    logging::init_lambda();
    let config = Arc::new(settings::load_config()?);
    let table = settings::required("ATTENDANCE_TABLE")?;
    let sdk = aws::sdk_config().await;
    let queue = Arc::new(DynamoDbAttendanceQueue::new(aws::dynamodb(&sdk), table));
    let checker = SlaChecker::new(queue, Arc::new(SystemClock), config);
    let checker = &checker;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| {
        edge::lambda::sla_checker(checker, event.payload)
    }))
    .await
}

//! The processor Lambda (SQS FIFO, partial batch responses): runs each customer event through
//! the conversation engine and sends the replies. Wiring only.

use atende_shared::adapters::{
    CloudApiWhatsApp, DynamoDbAgents, DynamoDbAttendanceQueue, DynamoDbConversationLog,
    DynamoDbSessionStore, S3MediaStore, SchedulerTimers, SystemClock, aws,
};
use atende_shared::app::Processor;
use atende_shared::app::settings::{self, Secrets};
use atende_shared::metrics::EmfMetrics;
use atende_shared::{edge, logging};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    logging::init_lambda();
    let config = Arc::new(settings::load_config()?);
    let sdk = aws::sdk_config().await;
    let secrets = Secrets::on_aws(
        &[
            "WHATSAPP_ACCESS_TOKEN",
            "ANTHROPIC_API_KEY",
            "NOTIFY_WEBHOOK_URL",
        ],
        &sdk,
    )
    .await?;
    let token = secrets.required("WHATSAPP_ACCESS_TOKEN")?;
    let whatsapp = Arc::new(
        CloudApiWhatsApp::new(&settings::whatsapp_base_url(), token)?
            .with_messages_per_second(settings::messages_per_second()?),
    );
    let sessions_table = settings::required("SESSIONS_TABLE")?;
    let attendance_table = settings::required("ATTENDANCE_TABLE")?;
    let agents_table = settings::required("AGENTS_TABLE")?;
    let log_table = settings::required("LOG_TABLE")?;
    let media_bucket = settings::required("MEDIA_BUCKET")?;
    let schedule_group = settings::required("SCHEDULE_GROUP")?;
    let queue_arn = settings::required("EVENTS_QUEUE_ARN")?;
    let scheduler_role = settings::required("SCHEDULER_ROLE_ARN")?;
    let dynamodb = aws::dynamodb(&sdk);
    let clock = Arc::new(SystemClock);
    let sessions = Arc::new(DynamoDbSessionStore::new(dynamodb.clone(), sessions_table));
    let attendance = Arc::new(DynamoDbAttendanceQueue::new(
        dynamodb.clone(),
        attendance_table,
    ));
    let agents = Arc::new(DynamoDbAgents::new(dynamodb.clone(), agents_table));
    let log = Arc::new(DynamoDbConversationLog::new(dynamodb, log_table));
    let timers = Arc::new(SchedulerTimers::new(
        aws::scheduler(&sdk),
        schedule_group,
        queue_arn,
        scheduler_role,
        clock.clone(),
    ));
    let assistant = settings::anthropic_assistant(&config, &secrets)?;
    let staff = settings::staff(&config, Some(whatsapp.clone()), &secrets)?;
    let live = settings::live_on_aws(&sdk, clock.clone())?;
    let processor = Processor::new(sessions, attendance, whatsapp, timers, clock, config)
        .with_staff(staff)
        .with_desk(agents, log)
        .with_media(Arc::new(S3MediaStore::new(aws::s3(&sdk), media_bucket)))
        .with_metrics(Arc::new(EmfMetrics::stdout("processor")));
    let processor = match assistant {
        Some(assistant) => processor.with_assistant(Arc::new(assistant)),
        None => processor,
    };
    let processor = match live {
        Some(live) => processor.with_live(live),
        None => processor,
    };
    let processor = &processor;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        let deadline = edge::lambda::deadline(event.context.deadline);
        Ok::<_, Error>(edge::lambda::processor_until(processor, event.payload, deadline).await)
    }))
    .await
}

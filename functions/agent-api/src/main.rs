//! The agents' API Lambda (API Gateway HTTP API behind the Cognito JWT authorizer): what agents
//! and supervisors read and do, queued as events on the customers' FIFO groups. Wiring only;
//! the behaviour lives in `atende_shared`.

use atende_shared::adapters::{
    DynamoDbAgents, DynamoDbAttendanceQueue, DynamoDbConversationLog, DynamoDbSessionStore,
    S3MediaStore, SqsEventQueue, SystemClock, aws,
};
use atende_shared::app::{Desk, DeskPorts, settings};
use atende_shared::{edge, logging};
use lambda_http::{Error, service_fn};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    logging::init_lambda();
    let config = Arc::new(settings::load_config()?);
    let sdk = aws::sdk_config().await;
    let dynamodb = aws::dynamodb(&sdk);
    let ports = DeskPorts {
        agents: Arc::new(DynamoDbAgents::new(
            dynamodb.clone(),
            settings::required("AGENTS_TABLE")?,
        )),
        attendance: Arc::new(DynamoDbAttendanceQueue::new(
            dynamodb.clone(),
            settings::required("ATTENDANCE_TABLE")?,
        )),
        sessions: Arc::new(DynamoDbSessionStore::new(
            dynamodb.clone(),
            settings::required("SESSIONS_TABLE")?,
        )),
        log: Arc::new(DynamoDbConversationLog::new(
            dynamodb,
            settings::required("LOG_TABLE")?,
        )),
        media: Arc::new(S3MediaStore::new(
            aws::s3(&sdk),
            settings::required("MEDIA_BUCKET")?,
        )),
        events: Arc::new(SqsEventQueue::new(
            aws::sqs(&sdk),
            settings::required("EVENTS_QUEUE_URL")?,
        )),
        clock: Arc::new(SystemClock),
    };
    let live = settings::live_on_aws(&sdk, Arc::new(SystemClock))?;
    let desk = Desk::new(
        ports,
        config,
        settings::optional("WHATSAPP_PHONE_NUMBER_ID"),
    );
    // Pages open `LIVE_URL` (the WebSocket stage's wss:// address) with their tickets.
    let desk = match (live, settings::optional("LIVE_URL")) {
        (Some(live), Some(url)) => desk.with_live(live, url),
        _ => desk,
    };
    let login = edge::console::Login::cognito_from_env()
        .ok_or(settings::SettingsError::Missing("DESK_COGNITO_CLIENT_ID"))?;
    let (desk, login) = (&desk, &login);
    lambda_http::run(service_fn(move |req| {
        edge::lambda::agent_api(desk, login, req)
    }))
    .await
}

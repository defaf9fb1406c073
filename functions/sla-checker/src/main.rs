//! The SLA checker Lambda (EventBridge Scheduler): alerts the supervisors, once per threshold,
//! about customers waiting for a human past their department's limits. Wiring only.

use atende_shared::adapters::{
    CloudApiWhatsApp, DynamoDbAgents, DynamoDbAttendanceQueue, DynamoDbSessionStore, SystemClock,
    aws,
};
use atende_shared::app::SlaChecker;
use atende_shared::app::settings::{self, Secrets};
use atende_shared::metrics::EmfMetrics;
use atende_shared::{edge, logging};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    logging::init_lambda();
    let config = Arc::new(settings::load_config()?);
    let table = settings::required("ATTENDANCE_TABLE")?;
    let agents_table = settings::required("AGENTS_TABLE")?;
    let sessions_table = settings::required("SESSIONS_TABLE")?;
    let sdk = aws::sdk_config().await;
    let secrets = Secrets::on_aws(&["WHATSAPP_ACCESS_TOKEN", "NOTIFY_WEBHOOK_URL"], &sdk).await?;
    let dynamodb = aws::dynamodb(&sdk);
    let queue = Arc::new(DynamoDbAttendanceQueue::new(dynamodb.clone(), table));
    let agents = Arc::new(DynamoDbAgents::new(dynamodb.clone(), agents_table));
    let sessions = Arc::new(DynamoDbSessionStore::new(dynamodb, sessions_table));
    // Supervisors on WhatsApp need the Graph API; a webhook channel does not.
    let whatsapp: Option<Arc<dyn atende_shared::ports::WhatsApp>> =
        match secrets.optional("WHATSAPP_ACCESS_TOKEN") {
            Some(token) => Some(Arc::new(CloudApiWhatsApp::new(
                &settings::whatsapp_base_url(),
                token,
            )?)),
            None => None,
        };
    let staff = settings::staff(&config, whatsapp, &secrets)?;
    let checker = SlaChecker::new(queue, Arc::new(SystemClock), config)
        .with_staff(staff)
        .with_desk(agents, sessions)
        .with_metrics(Arc::new(EmfMetrics::stdout("sla-checker")));
    let checker = &checker;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| {
        edge::lambda::sla_checker(checker, event.payload)
    }))
    .await
}

//! `atende serve`: the webhook, the processor and the SLA checker in one process on 127.0.0.1.
//! Real HTTP at `/webhook` (the Lambda's rules), an in-process FIFO queue with per-customer
//! ordering, and replies sent to `WHATSAPP_API_BASE_URL`.

use atende_shared::adapters::aws::{self, aws_sdk_sqs, resources};
use atende_shared::adapters::{
    ChannelPush, CloudApiWhatsApp, DynamoDbAgents, DynamoDbAttendanceQueue,
    DynamoDbConversationLog, DynamoDbSessionStore, MemoryAgents, MemoryAttendanceQueue,
    MemoryConversationLog, MemoryEventQueue, MemoryLiveConnections, MemoryMediaStore,
    MemorySessionStore, MemoryTimers, S3MediaStore, SchedulerTimers, SqsEventQueue, SystemClock,
    TakenEvent,
};
use atende_shared::app::live::Live;
use atende_shared::app::settings::{self, SettingsError};
use atende_shared::app::{Desk, DeskPorts, Processor, SlaChecker, Webhook, WebhookSecrets};
use atende_shared::domain::{Config, QueueEvent};
use atende_shared::edge;
use atende_shared::edge::http::{self as webhook_http, HttpReply};
use atende_shared::logging::IdDigest;
use atende_shared::ports::WhatsAppError;
use atende_shared::ports::{
    Agents, AttendanceQueue, Clock, ConversationLog, DeliveryStatuses, EventQueue, MediaStore,
    SessionStore, Timers,
};
use atende_shared::webhook::MAX_BODY_BYTES;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::net::TcpListener;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    WhatsApp(#[from] WhatsAppError),
    #[error(transparent)]
    Assistant(#[from] atende_shared::ports::AssistantError),
    #[error(transparent)]
    Notify(#[from] atende_shared::ports::NotifyError),
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Resources(#[from] resources::ResourceError),
    #[error(transparent)]
    Desk(#[from] crate::serve_desk::DeskSetupError),
    #[error("{0}")]
    Setting(String),
    #[error("the file store: {0}")]
    Media(#[from] atende_shared::ports::StoreError),
}

/// How often the SLA checker runs in `atende serve`.
const SLA_INTERVAL: Duration = Duration::from_secs(60);
/// Attempts per event before it is logged as dead-lettered (like SQS's maxReceiveCount).
const MAX_ATTEMPTS: u32 = 5;

/// Where `atende serve` keeps its state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// In this process: gone when it stops.
    Memory,
    /// DynamoDB and SQS (an emulator at `AWS_ENDPOINT_URL`, or an account), with the tables
    /// and queue named like the Lambdas' (`SESSIONS_TABLE`, `ATTENDANCE_TABLE`,
    /// `EVENTS_QUEUE_URL`), or created under a prefix.
    Aws { create_with_prefix: Option<String> },
}

#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub port: u16,
    pub backend: Backend,
}

/// Where events wait between the webhook and the processor.
enum Consumer {
    Memory(Arc<MemoryEventQueue>),
    Sqs {
        client: aws_sdk_sqs::Client,
        url: String,
    },
}

/// The stores and queues of one backend, and how its events are consumed.
struct Backends {
    events: Arc<dyn EventQueue>,
    sessions: Arc<dyn SessionStore>,
    attendance: Arc<dyn AttendanceQueue>,
    agents: Arc<dyn Agents>,
    log: Arc<dyn ConversationLog>,
    /// The same log, as the webhook records plain statuses in it.
    statuses: Arc<dyn DeliveryStatuses>,
    media: Arc<dyn MediaStore>,
    /// Files this process serves itself at `/media/…` (the memory backend's).
    local_media: Option<Arc<MemoryMediaStore>>,
    timers: Arc<dyn Timers>,
    /// Timers this process runs itself (all of them, unless Scheduler runs them).
    local_timers: Option<Arc<MemoryTimers>>,
    consumer: Consumer,
}

async fn backends(backend: &Backend, clock: Arc<dyn Clock>) -> Result<Backends, ServeError> {
    Ok(match backend {
        Backend::Memory => {
            let queue = Arc::new(MemoryEventQueue::bounded(EVENTS_HELD_AT_MOST));
            let timers = Arc::new(MemoryTimers::new());
            let media = Arc::new(MemoryMediaStore::new("http://127.0.0.1")?);
            let log = Arc::new(MemoryConversationLog::new());
            Backends {
                events: queue.clone(),
                sessions: Arc::new(MemorySessionStore::new()),
                attendance: Arc::new(MemoryAttendanceQueue::new()),
                agents: Arc::new(MemoryAgents::new()),
                log: log.clone(),
                statuses: log,
                media: media.clone(),
                local_media: Some(media),
                timers: timers.clone(),
                local_timers: Some(timers),
                consumer: Consumer::Memory(queue),
            }
        }
        Backend::Aws { create_with_prefix } => {
            let sdk = aws::sdk_config().await;
            let names = match create_with_prefix {
                Some(prefix) => resources::create_all(&sdk, prefix).await?,
                None => {
                    let events_queue_url = settings::required("EVENTS_QUEUE_URL")?;
                    resources::Created {
                        events_queue_arn: match settings::optional("EVENTS_QUEUE_ARN") {
                            Some(arn) => arn,
                            None => {
                                resources::queue_arn(&aws::sqs(&sdk), &events_queue_url).await?
                            }
                        },
                        events_queue_url,
                        sessions_table: settings::required("SESSIONS_TABLE")?,
                        attendance_table: settings::required("ATTENDANCE_TABLE")?,
                        agents_table: settings::required("AGENTS_TABLE")?,
                        log_table: settings::required("LOG_TABLE")?,
                        // This process holds its pages' sockets itself.
                        live_table: settings::optional("LIVE_TABLE").unwrap_or_default(),
                        media_bucket: settings::required("MEDIA_BUCKET")?,
                        schedule_group: settings::optional("SCHEDULE_GROUP").unwrap_or_default(),
                    }
                }
            };
            let sqs = aws::sqs(&sdk);
            let dynamodb = aws::dynamodb(&sdk);
            let log = Arc::new(DynamoDbConversationLog::new(
                dynamodb.clone(),
                names.log_table.clone(),
            ));
            // Scheduler delivers timers when it may assume a role that sends to the queue (a
            // real account); emulators store schedules without running them, so without a
            // role this process runs its timers and puts them on the same queue.
            let (timers, local_timers): (Arc<dyn Timers>, _) =
                match settings::optional("SCHEDULER_ROLE_ARN") {
                    Some(role) if !names.schedule_group.is_empty() => (
                        Arc::new(SchedulerTimers::new(
                            aws::scheduler(&sdk),
                            names.schedule_group.clone(),
                            names.events_queue_arn.clone(),
                            role,
                            clock,
                        )),
                        None,
                    ),
                    _ => {
                        let local = Arc::new(MemoryTimers::new());
                        (local.clone(), Some(local))
                    }
                };
            Backends {
                events: Arc::new(SqsEventQueue::new(
                    sqs.clone(),
                    names.events_queue_url.clone(),
                )),
                sessions: Arc::new(DynamoDbSessionStore::new(
                    dynamodb.clone(),
                    names.sessions_table,
                )),
                attendance: Arc::new(DynamoDbAttendanceQueue::new(
                    dynamodb.clone(),
                    names.attendance_table,
                )),
                agents: Arc::new(DynamoDbAgents::new(dynamodb.clone(), names.agents_table)),
                log: log.clone(),
                statuses: log,
                media: Arc::new(S3MediaStore::new(aws::s3(&sdk), names.media_bucket)),
                local_media: None,
                timers,
                local_timers,
                consumer: Consumer::Sqs {
                    client: sqs,
                    url: names.events_queue_url,
                },
            }
        }
    })
}

/// Wires everything from the environment and serves until Ctrl-C.
pub async fn run(options: ServeOptions, config: Config) -> Result<(), ServeError> {
    // The local runner reads its secrets from the environment.
    let env_secrets = settings::Secrets::from_env(&[
        "WHATSAPP_APP_SECRET",
        "WHATSAPP_VERIFY_TOKEN",
        "WHATSAPP_ACCESS_TOKEN",
        "ANTHROPIC_API_KEY",
        "NOTIFY_WEBHOOK_URL",
    ]);
    let secrets = WebhookSecrets::from(&env_secrets)?;
    let token = env_secrets.required("WHATSAPP_ACCESS_TOKEN")?;
    let base_url = settings::whatsapp_base_url();
    let whatsapp = Arc::new(
        CloudApiWhatsApp::new(&base_url, token)?
            .with_messages_per_second(settings::messages_per_second()?),
    );
    let config = Arc::new(config);
    let clock = Arc::new(SystemClock);

    let Backends {
        events,
        sessions,
        attendance,
        agents,
        log,
        statuses,
        media,
        local_media,
        timers,
        local_timers,
        consumer,
    } = backends(&options.backend, clock.clone()).await?;
    if let Some(local) = local_timers {
        tokio::spawn(run_timers(local, events.clone(), clock.clone()));
    }
    let port = options.port;
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|source| ServeError::Bind { port, source })?;
    let addr = listener.local_addr()?;
    let webhook = Arc::new(Webhook::new(secrets, events.clone()).with_statuses(statuses));
    // The pages' live connections are this process's own sockets, whatever the backend.
    let sockets = Arc::new(ChannelPush::new());
    let live = Arc::new(Live::new(
        Arc::new(MemoryLiveConnections::new()),
        sockets.clone(),
        clock.clone(),
    ));
    let live_max_age = match settings::optional("LIVE_MAX_SECONDS") {
        Some(seconds) => std::time::Duration::from_secs(seconds.parse().map_err(|_| {
            ServeError::Setting(format!(
                "LIVE_MAX_SECONDS: `{seconds}` is not a number of seconds"
            ))
        })?),
        None => crate::serve_live::MAX_AGE,
    };
    let desk_auth = crate::serve_desk::auth(&*agents, &*clock).await?;
    let desk = Arc::new(
        Desk::new(
            DeskPorts {
                agents: agents.clone(),
                attendance: attendance.clone(),
                sessions: sessions.clone(),
                events,
                log: log.clone(),
                media: media.clone(),
                clock: clock.clone(),
            },
            config.clone(),
            settings::optional("WHATSAPP_PHONE_NUMBER_ID"),
        )
        .with_live(live.clone(), format!("ws://{addr}/live")),
    );
    // One attendance queue: the processor puts customers in it, the SLA checker watches it.
    let staff = settings::staff(&config, Some(whatsapp.clone()), &env_secrets)?;
    let processor = Processor::new(
        sessions.clone(),
        attendance.clone(),
        whatsapp,
        timers,
        clock.clone(),
        config.clone(),
    )
    .with_staff(staff.clone())
    .with_desk(agents.clone(), log)
    .with_media(media)
    .with_live(live.clone());
    let processor = Arc::new(
        match settings::anthropic_assistant(&config, &env_secrets)? {
            Some(assistant) => {
                tracing::info!("free text goes to the AI assistant (ANTHROPIC_API_KEY is set)");
                processor.with_assistant(Arc::new(assistant))
            }
            None => processor,
        },
    );
    let checker = SlaChecker::new(attendance, clock.clone(), config)
        .with_staff(staff)
        .with_desk(agents, sessions);

    if let Some(files) = &local_media {
        files.set_base_url(&format!("http://{addr}"));
    }
    // Tests and scripts read this line to learn the port (with --port 0).
    println!("atende serve listening on http://{addr}/webhook (Graph API: {base_url})");
    println!("agents' API on http://{addr}/agent/ and http://{addr}/supervisor/");
    for (agent, token) in &desk_auth.logins {
        // Tests and scripts read these lines for the demo agents' logins.
        println!("desk login {agent}: http://{addr}/desk/#token={token}");
    }

    match consumer {
        Consumer::Memory(queue) => tokio::spawn(consume(queue, processor)),
        Consumer::Sqs { client, url } => tokio::spawn(consume_sqs(client, url, processor)),
    };
    tokio::spawn(async move {
        let mut every = tokio::time::interval(SLA_INTERVAL);
        loop {
            every.tick().await;
            if let Err(e) = checker.run().await {
                tracing::error!(error = %e, "SLA check failed");
            }
        }
    });
    let mut app = router(webhook)
        .merge(crate::serve_desk::router(
            desk,
            desk_auth.verifier,
            clock.clone(),
        ))
        .merge(crate::serve_desk::console_router(desk_auth.login))
        .merge(crate::serve_live::router(Arc::new(
            crate::serve_live::LocalLive::new(live, sockets, live_max_age),
        )));
    if let Some(files) = local_media {
        app = app.merge(crate::serve_desk::media_router(files, clock.clone()));
    }
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// Puts each timer on the event queue when it is due (what Scheduler does on AWS). A timer
/// the queue refuses is tried again a second later.
pub async fn run_timers(
    timers: Arc<MemoryTimers>,
    events: Arc<dyn EventQueue>,
    clock: Arc<dyn Clock>,
) {
    const AT_MOST: Duration = Duration::from_secs(1);
    loop {
        for event in timers.due(clock.now()) {
            if let Err(e) = events.enqueue(std::slice::from_ref(&event)).await {
                tracing::error!(event_id = %IdDigest(&event.id), error = %e, "a due timer was not queued; retrying");
                let due = clock.now();
                let _ = timers.schedule(due, &event).await;
            }
        }
        let wait = timers
            .next_due()
            .and_then(|due| (due - clock.now()).to_std().ok())
            .map_or(AT_MOST, |d| d.min(AT_MOST));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = timers.changed() => {}
        }
    }
}

/// Polls the SQS queue and hands each batch to the processor's Lambda entry point, deleting
/// what succeeded: what the Lambda event source mapping does on AWS. Failed records come back
/// after the visibility timeout, and go to the dead-letter queue after 5 receives.
async fn consume_sqs(client: aws_sdk_sqs::Client, url: String, processor: Arc<Processor>) {
    use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
    let arn = format!(
        "arn:aws:sqs:local:000000000000:{}",
        url.rsplit('/').next().unwrap_or_default()
    );
    loop {
        let received = client
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .wait_time_seconds(5)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await;
        let messages = match received {
            Ok(output) => output.messages.unwrap_or_default(),
            Err(e) => {
                tracing::error!(error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "receiving from SQS failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if messages.is_empty() {
            // An emulator may answer at once instead of waiting.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        let event = atende_shared::adapters::sqs::lambda_event(&messages, &arn);
        let response = edge::lambda::processor(&processor, event).await;
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        let deletes: Vec<DeleteMessageBatchRequestEntry> = messages
            .iter()
            .enumerate()
            .filter(|(_, m)| !failed.contains(&m.message_id().unwrap_or_default()))
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle()?)
                    .build()
                    .ok()
            })
            .collect();
        if !deletes.is_empty()
            && let Err(e) = client
                .delete_message_batch()
                .queue_url(&url)
                .set_entries(Some(deletes))
                .send()
                .await
        {
            // Undeleted records come back and are recognised as already applied.
            tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "deleting from SQS failed");
        }
    }
}

/// `/webhook` with the same rules as the webhook Lambda behind its function URL.
pub fn router(webhook: Arc<Webhook>) -> Router {
    Router::new()
        .route(
            "/webhook",
            get(get_webhook)
                .post(post_webhook)
                .fallback(|| async { reply(webhook_http::method_not_allowed()) }),
        )
        // Bodies a little over the limit reach the webhook, which answers 413 itself; larger
        // ones are cut off by the server with 413 before being read whole.
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES + 64 * 1024))
        .with_state(webhook)
}

async fn get_webhook(
    State(webhook): State<Arc<Webhook>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    reply(webhook_http::get(&webhook, |name| query.get(name).cloned()))
}

async fn post_webhook(
    State(webhook): State<Arc<Webhook>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    reply(webhook_http::post(&webhook, signature, &body).await)
}

/// An `HttpReply` as axum's response: no content type on an empty body.
pub fn reply(r: HttpReply) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = if r.body.is_empty() {
        status.into_response()
    } else {
        (status, [(header::CONTENT_TYPE, r.content_type)], r.body).into_response()
    };
    for (name, value) in r.headers {
        if let Ok(value) = header::HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

type Groups = Arc<Mutex<HashMap<String, VecDeque<TakenEvent>>>>;

/// Customers worked on at once by `atende serve`: the rest wait in the queue (a few hundred
/// bytes each), not as half-done work holding its buffers (what an unbounded pool would do
/// while the pacing holds the sends back).
pub const CUSTOMERS_AT_ONCE: usize = 200;
/// Events `atende serve`'s queue holds, waiting or being worked on: about four seconds of
/// sends at the number's maximum (1,000/s) for new customers. Past it the webhook answers 500
/// and Meta delivers again later (what SQS's storage does on AWS, held by Meta instead).
pub const EVENTS_HELD_AT_MOST: usize = 2_000;

/// Takes events off the queue and processes them: in order within a customer's group, groups
/// in parallel (what SQS FIFO and the Lambda event source mapping do on AWS), at most
/// `CUSTOMERS_AT_ONCE` customers at a time. Each event counts against the queue's capacity
/// until it is done with.
pub async fn consume(queue: Arc<MemoryEventQueue>, processor: Arc<Processor>) {
    let groups: Groups = Arc::default();
    let workers = Arc::new(tokio::sync::Semaphore::new(CUSTOMERS_AT_ONCE));
    loop {
        let taken = queue.take().await;
        let group = taken.event.group();
        {
            let mut map = groups.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(pending) = map.get_mut(&group) {
                // A worker is draining this group; it will reach this event in order.
                pending.push_back(taken);
                continue;
            }
        }
        // A customer no worker has: wait for one to be free (only this loop adds groups, so
        // none appears for this customer meanwhile).
        let Ok(worker) = workers.clone().acquire_owned().await else {
            return;
        };
        groups
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(group.clone(), VecDeque::from([taken]));
        let (groups, processor) = (groups.clone(), processor.clone());
        tokio::spawn(async move {
            drain_group(group, groups, processor).await;
            drop(worker);
        });
    }
}

async fn drain_group(group: String, groups: Groups, processor: Arc<Processor>) {
    loop {
        let next = {
            let mut map = groups.lock().unwrap_or_else(PoisonError::into_inner);
            match map.get_mut(&group).and_then(VecDeque::pop_front) {
                Some(taken) => taken,
                None => {
                    // Removed under the same lock the consumer inserts under: no event is
                    // ever left behind without a worker.
                    map.remove(&group);
                    return;
                }
            }
        };
        process_with_retries(&processor, &next.event).await;
    }
}

async fn process_with_retries(processor: &Processor, event: &QueueEvent) {
    for attempt in 1..=MAX_ATTEMPTS {
        match processor.handle(event).await {
            Ok(_) => return,
            Err(e) if attempt < MAX_ATTEMPTS => {
                tracing::warn!(event_id = %IdDigest(&event.id), attempt, error = %e, "processing failed; retrying");
                tokio::time::sleep(Duration::from_millis(250 * 2u64.pow(attempt))).await;
            }
            Err(e) => tracing::error!(
                event_id = %IdDigest(&event.id),
                attempts = attempt,
                error = %e,
                "processing failed for good; event dead-lettered"
            ),
        }
    }
}

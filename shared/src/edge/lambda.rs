//! Lambda entry points for the three functions. The binaries in `functions/` build the services
//! once at cold start and hand each invocation to these.

use crate::app::{Desk, Processor, SlaChecker, Webhook};
use crate::auth::{AuthError, Principal};
use crate::domain::QueueEvent;
use crate::edge::agent_api::{self, ApiRequest};
use crate::edge::http;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::Value;
use tracing::Instrument;

/// The span every line of an invocation is logged in (inside the runtime's own, which carries
/// the request id): whether it is the process's first, a cold start.
fn invocation_span() -> tracing::Span {
    tracing::info_span!("invocation", cold_start = crate::logging::cold_start())
}

/// The function URL (payload v2, as API Gateway's HTTP API) → the webhook. lambda_http has decoded
/// `isBase64Encoded` bodies, so `req.body()` holds the exact bytes Meta sent.
pub async fn webhook(
    webhook: &Webhook,
    req: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    webhook_invocation(webhook, req)
        .instrument(invocation_span())
        .await
}

async fn webhook_invocation(
    webhook: &Webhook,
    req: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    let reply = match req.method().as_str() {
        "GET" => {
            let params = req.query_string_parameters();
            http::get(webhook, |name| params.first(name).map(str::to_owned))
        }
        "POST" => {
            let signature = req
                .headers()
                .get("x-hub-signature-256")
                .and_then(|v| v.to_str().ok());
            http::post(webhook, signature, req.body().as_ref()).await
        }
        _ => http::method_not_allowed(),
    };
    let mut response = Response::builder()
        .status(reply.status)
        .header("content-type", reply.content_type);
    for (name, value) in &reply.headers {
        response = response.header(*name, value);
    }
    Ok(response.body(Body::Text(reply.body))?)
}

/// API Gateway (HTTP API, payload v2, behind its JWT authorizer) → the agents' API. The
/// authorizer checked the token's signature, issuer, audience and expiry; its claims name the
/// caller and their groups, and the desk checks roles and departments. `GET /desk/…` (no
/// authorizer) is the console's page, which logs in with `login`.
pub async fn agent_api(
    desk: &Desk,
    login: &crate::edge::console::Login,
    req: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    agent_api_invocation(desk, login, req)
        .instrument(invocation_span())
        .await
}

async fn agent_api_invocation(
    desk: &Desk,
    login: &crate::edge::console::Login,
    req: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    use lambda_http::request::RequestContext;
    if req.method() == lambda_http::http::Method::GET
        && let Some(reply) = crate::edge::console::reply(req.uri().path(), login)
    {
        let mut response = Response::builder()
            .status(reply.status)
            .header("content-type", reply.content_type);
        for (name, value) in &reply.headers {
            response = response.header(*name, value);
        }
        return Ok(response.body(Body::Text(reply.body))?);
    }
    let (caller, request_id) = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => {
            let claims = context
                .authorizer
                .as_ref()
                .and_then(|a| a.jwt.as_ref())
                .map(|jwt| &jwt.claims);
            let caller = match claims.and_then(|c| Some((c.get("sub")?, c))) {
                Some((sub, claims)) => Ok(Principal {
                    sub: sub.clone(),
                    groups: claims
                        .get("cognito:groups")
                        .map(|g| Principal::parse_groups(g))
                        .unwrap_or_default(),
                }),
                None => Err(AuthError::Missing),
            };
            (caller, context.request_id.clone().unwrap_or_default())
        }
        _ => (Err(AuthError::Missing), String::new()),
    };
    // Kept as it came, so that a key with bytes outside visible ASCII is refused, not lost.
    let key = req
        .headers()
        .get("idempotency-key")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let request = ApiRequest {
        method: req.method().as_str(),
        path: req.uri().path(),
        query: req.uri().query(),
        idempotency_key: key.as_deref(),
        request_id: &request_id,
        content_type: req
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        body: req.body().as_ref(),
    };
    let reply = agent_api::handle(desk, caller, request).await;
    let mut response = Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        response = response.header(*name, value);
    }
    if reply.body.is_empty() {
        return Ok(response.body(Body::Empty)?);
    }
    Ok(response
        .header("content-type", reply.content_type)
        .body(Body::Text(reply.body))?)
}

/// SQS → the processor, with partial batch responses (`ReportBatchItemFailures`).
///
/// Powertools' FIFO semantics with `skip_group_on_error`: on a FIFO queue, once a record
/// fails, every later record of the same message group (customer) fails too without being
/// processed, so that none of that customer's messages overtakes an earlier one; other
/// customers' records go on, so a poison message delays nobody else and only it reaches the
/// dead-letter queue. A FIFO record without its group id fails the rest of the batch (the safe
/// side). On a standard queue only the failed records are retried.
///
/// Customers are independent, so each group's records run in order while the groups run
/// side by side; a record is not started with less than `MIN_TIME_PER_RECORD` left before
/// `deadline` (the invocation's), and fails instead, to come back — rather than the function
/// being stopped mid-record with the whole batch.
pub async fn processor(processor: &Processor, event: SqsEvent) -> SqsBatchResponse {
    processor_until(processor, event, None).await
}

/// Time enough to start a record: the assistant's limit (15 s) and the saves. Within the
/// record, no outside call starts that could end past the deadline (the rest waits for the
/// record's return).
pub const MIN_TIME_PER_RECORD: std::time::Duration = std::time::Duration::from_secs(20);

/// The invocation's deadline (Lambda gives it in milliseconds since the epoch) as an instant;
/// `None` when it lies further in the past than any Lambda invocation lasts (15 minutes), which
/// is no deadline at all but a local emulator's placeholder (`cargo lambda watch` sends a
/// constant): records then run without one, as in `processor`. A deadline just past, or near,
/// is a real one: no record starts.
pub fn deadline(epoch_millis: u64) -> Option<tokio::time::Instant> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    match time_left(epoch_millis, now) {
        Some(left) => Some(tokio::time::Instant::now() + left),
        None => {
            tracing::warn!(
                deadline_ms = epoch_millis,
                "the invocation's deadline is not a real one (a local emulator?); records run \
                 without a deadline"
            );
            None
        }
    }
}

/// The longest a Lambda invocation lasts.
const MAX_INVOCATION: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// What is left until `deadline_ms` at `now_ms` (zero once it has passed); `None` when the
/// deadline lies further back than an invocation lasts.
fn time_left(deadline_ms: u64, now_ms: u64) -> Option<std::time::Duration> {
    let max_ms = u64::try_from(MAX_INVOCATION.as_millis()).unwrap_or(u64::MAX);
    if deadline_ms.saturating_add(max_ms) < now_ms {
        return None;
    }
    Some(std::time::Duration::from_millis(
        deadline_ms.saturating_sub(now_ms),
    ))
}

/// `processor`, stopping short of `deadline`.
pub async fn processor_until(
    processor: &Processor,
    event: SqsEvent,
    deadline: Option<tokio::time::Instant>,
) -> SqsBatchResponse {
    processor_invocation(processor, event, deadline)
        .instrument(invocation_span())
        .await
}

async fn processor_invocation(
    processor: &Processor,
    event: SqsEvent,
    deadline: Option<tokio::time::Instant>,
) -> SqsBatchResponse {
    let fifo = event.records.first().is_some_and(is_fifo);
    let grouped = fifo
        && event
            .records
            .iter()
            .all(|r| r.attributes.contains_key("MessageGroupId"));
    // In arrival order: groups (customers) when they are known, else one line of records.
    let mut lines: Vec<(Option<&str>, Vec<&SqsMessage>)> = Vec::new();
    for record in &event.records {
        let group = record.attributes.get("MessageGroupId").map(String::as_str);
        let line = if grouped {
            lines.iter().position(|(g, _)| *g == group)
        } else {
            (!lines.is_empty()).then_some(0)
        };
        match line {
            Some(i) => lines[i].1.push(record),
            None => lines.push((group, vec![record])),
        }
    }
    let runs = lines
        .iter()
        .map(|(_, records)| run_line(processor, records, fifo, deadline));
    let failed: Vec<String> = futures_util::future::join_all(runs)
        .await
        .into_iter()
        .flatten()
        .collect();
    // Reported in the batch's order.
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = event
        .records
        .iter()
        .filter_map(|r| r.message_id.clone())
        .filter(|id| failed.contains(id))
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}

/// Runs one line of records in order; returns the ids of those that failed or were not
/// started. On a FIFO queue the first failure fails the rest of the line.
async fn run_line(
    processor: &Processor,
    records: &[&SqsMessage],
    fifo: bool,
    deadline: Option<tokio::time::Instant>,
) -> Vec<String> {
    let mut failures = Vec::new();
    let mut skip = false;
    for record in records {
        let id = record.message_id.clone().unwrap_or_default();
        if skip {
            failures.push(id);
            continue;
        }
        let late = deadline.is_some_and(|d| {
            d.saturating_duration_since(tokio::time::Instant::now()) < MIN_TIME_PER_RECORD
        });
        if late {
            tracing::warn!(sqs_message_id = %id, "too little time left in this invocation; the record comes back");
            failures.push(id);
            skip = fifo;
            continue;
        }
        if let Err(reason) = process_record(processor, record, deadline).await {
            tracing::error!(sqs_message_id = %id, %reason, "record failed; it will be retried");
            failures.push(id);
            skip = fifo;
        }
    }
    failures
}

async fn process_record(
    processor: &Processor,
    record: &SqsMessage,
    deadline: Option<tokio::time::Instant>,
) -> Result<(), String> {
    let body = record.body.as_deref().ok_or("the record has no body")?;
    let event: QueueEvent = serde_json::from_str(body)
        .map_err(|e| format!("the record body is not a queue event: {e}"))?;
    let span = tracing::info_span!("event", event_id = %crate::logging::IdDigest(&event.id));
    processor
        .handle_until(&event, crate::app::processor::Deadline(deadline))
        .instrument(span)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn is_fifo(record: &SqsMessage) -> bool {
    record
        .event_source_arn
        .as_deref()
        .is_some_and(|arn| arn.ends_with(".fifo"))
}

/// EventBridge Scheduler → the SLA checker. The schedule's input is not used.
pub async fn sla_checker(
    checker: &SlaChecker,
    input: Value,
) -> Result<Value, lambda_runtime::Error> {
    sla_checker_invocation(checker, input)
        .instrument(invocation_span())
        .await
}

async fn sla_checker_invocation(
    checker: &SlaChecker,
    _input: Value,
) -> Result<Value, lambda_runtime::Error> {
    let report = checker.run().await?;
    Ok(serde_json::json!({
        "overdue": report.overdue,
        "alerts": report.alerts.len(),
        "reply_alerts": report.reply_alerts,
    }))
}

/// API Gateway's WebSocket API → live updates. `$connect` opens a connection with the ticket
/// in its query (`?ticket=…`, from `POST /agent/live/tickets`): anything but 200 refuses it.
/// `$disconnect` forgets it. Anything the page sends (its pings, `$default`) is only kept
/// from the idle timeout: 200, nothing answered.
pub async fn live(
    live: &crate::app::live::Live,
    event: aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest,
) -> aws_lambda_events::apigw::ApiGatewayProxyResponse {
    live_invocation(live, event)
        .instrument(invocation_span())
        .await
}

async fn live_invocation(
    live: &crate::app::live::Live,
    event: aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest,
) -> aws_lambda_events::apigw::ApiGatewayProxyResponse {
    use crate::app::live::LiveError;
    let context = &event.request_context;
    let connection = context.connection_id.as_deref().unwrap_or_default();
    let status = match context.route_key.as_deref() {
        Some("$connect") => {
            let ticket = event
                .query_string_parameters
                .first("ticket")
                .unwrap_or_default();
            match live.connect(connection, ticket).await {
                Ok(listener) => {
                    tracing::info!(agent = %listener.agent, "live connection opened");
                    200
                }
                Err(LiveError::BadTicket) => {
                    tracing::warn!("live connection refused: unknown, used or expired ticket");
                    401
                }
                Err(LiveError::Store(e)) => {
                    tracing::error!(error = %e, "live connection refused: the store failed");
                    503
                }
            }
        }
        Some("$disconnect") => match live.disconnect(connection).await {
            Ok(()) => 200,
            Err(e) => {
                // Its TTL forgets it anyway; a push to it meanwhile finds it gone.
                tracing::warn!(error = %e, "a closed live connection could not be forgotten");
                200
            }
        },
        _ => 200,
    };
    let mut response = aws_lambda_events::apigw::ApiGatewayProxyResponse::default();
    response.status_code = status;
    response
}

#[cfg(test)]
mod tests {
    use super::time_left;
    use std::time::Duration;

    #[test]
    fn a_deadline_further_back_than_an_invocation_lasts_is_no_deadline() {
        let now = 1_795_521_600_000;
        assert_eq!(
            time_left(now + 60_000, now),
            Some(Duration::from_secs(60)),
            "Lambda: the function's timeout from the start"
        );
        assert_eq!(
            time_left(now - 1_000, now),
            Some(Duration::ZERO),
            "just past: a real deadline, nothing left"
        );
        assert_eq!(time_left(now - 15 * 60_000, now), Some(Duration::ZERO));
        assert_eq!(time_left(now - 15 * 60_000 - 1, now), None);
        assert_eq!(time_left(600_000, now), None, "an emulator's constant");
    }
}

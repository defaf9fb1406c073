//! Lambda entry points for the three functions. The binaries in `functions/` build the services
//! once at cold start and hand each invocation to these.

use crate::app::{Processor, SlaChecker, Webhook};
use crate::domain::QueueEvent;
use crate::edge::http;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::Value;

/// API Gateway (HTTP API, payload v2) → the webhook. lambda_http has already decoded
/// `isBase64Encoded` bodies, so `req.body()` holds the exact bytes Meta sent.
pub async fn webhook(
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
    Ok(Response::builder()
        .status(reply.status)
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
pub async fn processor(processor: &Processor, event: SqsEvent) -> SqsBatchResponse {
    let mut failures = Vec::new();
    let mut failed_groups: Vec<&str> = Vec::new();
    let mut fail_the_rest = false;
    for record in &event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let group = record.attributes.get("MessageGroupId").map(String::as_str);
        if fail_the_rest || group.is_some_and(|g| failed_groups.contains(&g)) {
            failures.push(id);
            continue;
        }
        if let Err(reason) = process_record(processor, record).await {
            tracing::error!(sqs_message_id = %id, %reason, "record failed; it will be retried");
            failures.push(id);
            if is_fifo(record) {
                match group {
                    Some(g) => failed_groups.push(g),
                    None => fail_the_rest = true,
                }
            }
        }
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}

async fn process_record(processor: &Processor, record: &SqsMessage) -> Result<(), String> {
    let body = record.body.as_deref().ok_or("the record has no body")?;
    let event: QueueEvent = serde_json::from_str(body)
        .map_err(|e| format!("the record body is not a queue event: {e}"))?;
    processor
        .handle(&event)
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
    _input: Value,
) -> Result<Value, lambda_runtime::Error> {
    let report = checker.run().await?;
    Ok(serde_json::json!({ "overdue": report.overdue, "alerts": report.alerts.len() }))
}

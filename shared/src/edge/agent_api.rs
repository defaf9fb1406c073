//! The agents' HTTP API, shared by the Lambda (API Gateway with its JWT authorizer) and
//! `atende serve` (which checks the bearer token itself): routes onto the desk, JSON in and
//! out, errors as `application/problem+json` (RFC 9457) naming the field at fault. A refused
//! request changes nothing.
//!
//! Routes (the OpenAPI document `openapi.yaml` describes each):
//! `GET /agent/me`, `PUT /agent/me/presence`, `GET /agent/lines`, `POST /agent/claims`,
//! `GET /agent/templates`, `POST /agent/live/tickets`, `GET /agent/conversations`, `GET /agent/conversations/{customer}`,
//! `POST /agent/conversations/{customer}/messages|notes|transfer|close`,
//! `GET /supervisor/overview`, `POST /supervisor/assignments`.

use crate::app::desk::{Actor, Desk, DeskError, MAX_FILE_BYTES, PAGE_MAX};
use crate::auth::{AuthError, Principal};
use crate::domain::CustomerId;
use crate::domain::agent::{AgentContent, AgentRef, Presence, TransferTarget};
use crate::edge::http::HttpReply;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// The largest JSON body the API reads.
pub const MAX_JSON_BYTES: usize = 64 * 1024;

/// The longest customer key (a phone number or a user id) there can be.
const MAX_CUSTOMER_KEY: usize = 128;

/// The longest page cursor (`log::log_key`) there can be.
const MAX_CURSOR: usize = 64;

/// The longest `Idempotency-Key` taken.
const MAX_IDEMPOTENCY_KEY: usize = 128;

/// One request, as any server received it.
#[derive(Clone, Copy, Debug)]
pub struct ApiRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: Option<&'a str>,
    /// The `Idempotency-Key` header: the same key on the same customer is applied once.
    pub idempotency_key: Option<&'a str>,
    /// The server's id for this request (used when there is no idempotency key).
    pub request_id: &'a str,
    /// The `Content-Type` header (a file's type, for uploads).
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

/// The routes, for the OpenAPI check and for 405 answers.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/agent/me"),
    ("PUT", "/agent/me/presence"),
    ("GET", "/agent/lines"),
    ("POST", "/agent/claims"),
    ("GET", "/agent/templates"),
    ("GET", "/agent/departments"),
    ("GET", "/agent/quick-replies"),
    ("POST", "/agent/live/tickets"),
    ("GET", "/agent/colleagues"),
    ("GET", "/agent/conversations"),
    ("GET", "/agent/conversations/{customer}"),
    ("POST", "/agent/conversations/{customer}/messages"),
    ("POST", "/agent/conversations/{customer}/files"),
    ("POST", "/agent/conversations/{customer}/notes"),
    ("POST", "/agent/conversations/{customer}/transfer"),
    ("POST", "/agent/conversations/{customer}/close"),
    ("GET", "/supervisor/overview"),
    ("POST", "/supervisor/assignments"),
    ("DELETE", "/supervisor/customers/{customer}"),
];

/// A problem (RFC 9457): status, a short title, what happened, and the field at fault.
#[derive(Debug)]
struct Problem {
    status: u16,
    detail: String,
    field: Option<String>,
    /// A member beyond RFC 9457's (the templates allowed, on a 409).
    extra: Option<Box<(&'static str, Value)>>,
    /// The methods a route takes, on a 405.
    allow: Option<Box<str>>,
}

impl Problem {
    fn new(status: u16, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            field: None,
            extra: None,
            allow: None,
        }
    }

    fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    fn reply(self) -> HttpReply {
        let mut body = json!({
            "type": "about:blank",
            "title": title(self.status),
            "status": self.status,
            "detail": self.detail,
        });
        if let Some(field) = self.field {
            body["field"] = json!(field);
        }
        if let Some(extra) = self.extra {
            let (name, value) = *extra;
            body[name] = value;
        }
        let reply = HttpReply {
            status: self.status,
            content_type: "application/problem+json",
            body: body.to_string(),
            headers: Vec::new(),
        };
        match (self.status, self.allow) {
            (401, _) => reply.with_header("www-authenticate", "Bearer"),
            (405, Some(allow)) => reply.with_header("allow", allow.to_string()),
            _ => reply,
        }
    }
}

fn title(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        _ => "Service Unavailable",
    }
}

impl From<DeskError> for Problem {
    fn from(e: DeskError) -> Self {
        match e {
            DeskError::Forbidden(m) => Problem::new(403, m),
            DeskError::NotFound(m) => Problem::new(404, m),
            DeskError::Conflict { reason, templates } => {
                let mut p = Problem::new(409, reason);
                if !templates.is_empty() {
                    p.extra = Some(Box::new(("templates", json!(templates))));
                }
                p
            }
            DeskError::Invalid { field, problem } => Problem::new(400, problem).field(field),
            DeskError::Unavailable(m) => {
                tracing::error!(error = %m, "desk unavailable");
                Problem::new(503, "temporarily unavailable; try again")
            }
        }
    }
}

fn ok(status: u16, body: &impl serde::Serialize) -> HttpReply {
    match serde_json::to_string(body) {
        Ok(body) => HttpReply {
            status,
            content_type: "application/json",
            body,
            headers: Vec::new(),
        },
        Err(e) => Problem::new(503, format!("cannot write the answer: {e}")).reply(),
    }
}

fn no_content() -> HttpReply {
    HttpReply {
        status: 204,
        content_type: "application/json",
        body: String::new(),
        headers: Vec::new(),
    }
}

/// Answers one request. `caller` is who the token says (checked by API Gateway's authorizer
/// or by `atende serve`).
pub async fn handle(
    desk: &Desk,
    caller: Result<Principal, AuthError>,
    request: ApiRequest<'_>,
) -> HttpReply {
    match route(desk, caller, request).await {
        Ok(reply) => reply,
        Err(problem) => problem.reply(),
    }
}

/// Which route a method and path are, with the customer when the path names one.
fn matched(method: &str, path: &str) -> Result<(&'static str, Option<String>), Problem> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let (pattern, customer) = match segments.as_slice() {
        ["agent", "conversations", customer] => {
            ("/agent/conversations/{customer}", Some(*customer))
        }
        ["supervisor", "customers", customer] => {
            ("/supervisor/customers/{customer}", Some(*customer))
        }
        ["agent", "conversations", customer, action] => {
            let pattern = match *action {
                "messages" => "/agent/conversations/{customer}/messages",
                "files" => "/agent/conversations/{customer}/files",
                "notes" => "/agent/conversations/{customer}/notes",
                "transfer" => "/agent/conversations/{customer}/transfer",
                "close" => "/agent/conversations/{customer}/close",
                _ => return Err(Problem::new(404, format!("no route {path}"))),
            };
            (pattern, Some(*customer))
        }
        _ => match ROUTES
            .iter()
            .find(|(_, p)| *p == path.trim_end_matches('/'))
        {
            Some((_, p)) => (*p, None),
            None => return Err(Problem::new(404, format!("no route {path}"))),
        },
    };
    if !ROUTES.iter().any(|(m, p)| *m == method && *p == pattern) {
        let allowed: Vec<&str> = ROUTES
            .iter()
            .filter(|(_, p)| *p == pattern)
            .map(|(m, _)| *m)
            .collect();
        let mut problem = Problem::new(
            405,
            format!("{method} is not allowed here; use {}", allowed.join(", ")),
        );
        problem.allow = Some(allowed.join(", ").into());
        return Err(problem);
    }
    Ok((pattern, customer.map(percent_decode)))
}

async fn route(
    desk: &Desk,
    caller: Result<Principal, AuthError>,
    request: ApiRequest<'_>,
) -> Result<HttpReply, Problem> {
    let (pattern, customer) = matched(request.method, request.path)?;
    let principal = caller.map_err(|e| Problem::new(401, e.to_string()))?;
    if !principal.is_staff() {
        return Err(Problem::new(
            403,
            "this login is in neither the agents' nor the supervisors' group",
        ));
    }
    let actor = Actor {
        id: principal.sub.clone(),
        supervisor: principal.is_supervisor(),
    };
    let customer = match customer {
        Some(key) if key.chars().count() <= MAX_CUSTOMER_KEY => Some(
            CustomerId::from_key(&key)
                .ok_or_else(|| Problem::new(404, "no customer named").field("customer"))?,
        ),
        Some(_) => return Err(Problem::new(404, "no such customer").field("customer")),
        None => None,
    };
    let request_key = request_key(&request)?;
    let customer = || {
        customer
            .clone()
            .ok_or_else(|| Problem::new(404, "no customer named"))
    };
    Ok(match pattern {
        "/agent/me" => ok(200, &desk.me(&actor).await?),
        "/agent/me/presence" => {
            let body: PresenceBody = json_body(request.body)?;
            desk.set_presence(&actor, body.presence).await?;
            no_content()
        }
        "/agent/lines" => ok(200, &json!({ "waiting": desk.lines(&actor).await? })),
        "/agent/claims" => {
            let body: ClaimBody = if request.body.iter().all(u8::is_ascii_whitespace) {
                ClaimBody::default()
            } else {
                json_body(request.body)?
            };
            match body.customer {
                None => match desk.claim_next(&actor).await? {
                    Some(claimed) => ok(201, &claimed),
                    None => no_content(),
                },
                Some(key) => {
                    let customer = CustomerId::from_key(&key)
                        .filter(|_| key.chars().count() <= MAX_CUSTOMER_KEY)
                        .ok_or_else(|| Problem::new(400, "name a customer").field("customer"))?;
                    ok(201, &desk.claim(&actor, &customer).await?)
                }
            }
        }
        "/agent/templates" => ok(200, &json!({ "templates": desk.config().templates })),
        "/agent/live/tickets" => ok(201, &desk.live_ticket(&actor).await?),
        "/agent/colleagues" => ok(200, &json!({ "agents": desk.colleagues(&actor).await? })),
        "/agent/quick-replies" => ok(
            200,
            &json!({ "quick_replies": desk.quick_replies(&actor).await? }),
        ),
        "/agent/departments" => {
            let departments: Vec<Value> = desk
                .config()
                .departments
                .iter()
                .map(|d| json!({ "id": d.id, "name": d.name }))
                .collect();
            ok(200, &json!({ "departments": departments }))
        }
        "/agent/conversations" => ok(200, &json!({ "conversations": desk.mine(&actor).await? })),
        "/agent/conversations/{customer}" => {
            let (before, limit) = page_query(request.query)?;
            let page = desk
                .conversation(&actor, &customer()?, before.as_deref(), limit)
                .await?;
            ok(200, &page)
        }
        "/agent/conversations/{customer}/messages" => {
            let body: MessageBody = json_body(request.body)?;
            desk.reply(&actor, &customer()?, body.content()?, &request_key)
                .await?;
            accepted()
        }
        "/agent/conversations/{customer}/files" => {
            if request.body.len() > MAX_FILE_BYTES {
                return Err(Problem::new(
                    413,
                    format!(
                        "the file has {} bytes; at most {MAX_FILE_BYTES}",
                        request.body.len()
                    ),
                ));
            }
            let (name, caption) = file_query(request.query)?;
            let content_type = request.content_type.unwrap_or("application/octet-stream");
            desk.send_file(
                &actor,
                &customer()?,
                request.body.to_vec(),
                content_type,
                &name,
                caption,
                &request_key,
            )
            .await?;
            accepted()
        }
        "/agent/conversations/{customer}/notes" => {
            let body: NoteBody = json_body(request.body)?;
            desk.note(&actor, &customer()?, &body.text, &request_key)
                .await?;
            accepted()
        }
        "/agent/conversations/{customer}/transfer" => {
            let body: TransferBody = json_body(request.body)?;
            desk.transfer(&actor, &customer()?, body.target()?, &request_key)
                .await?;
            accepted()
        }
        "/agent/conversations/{customer}/close" => {
            desk.close(&actor, &customer()?, &request_key).await?;
            accepted()
        }
        "/supervisor/overview" => ok(200, &desk.overview(&actor).await?),
        "/supervisor/assignments" => {
            let body: AssignmentBody = json_body(request.body)?;
            if body.customer.chars().count() > MAX_CUSTOMER_KEY {
                return Err(Problem::new(404, "no such customer").field("customer"));
            }
            let customer = CustomerId::from_key(&body.customer)
                .ok_or_else(|| Problem::new(400, "is empty").field("customer"))?;
            ok(201, &desk.assign(&actor, &customer, &body.agent).await?)
        }
        "/supervisor/customers/{customer}" => ok(200, &desk.erase(&actor, &customer()?).await?),
        _ => return Err(Problem::new(404, format!("no route {}", request.path))),
    })
}

/// 202: queued on the customer's line of events; it is applied in order with their messages.
fn accepted() -> HttpReply {
    ok(202, &json!({ "status": "accepted" }))
}

/// The request's idempotency: its `Idempotency-Key`, or the server's request id.
fn request_key(request: &ApiRequest<'_>) -> Result<String, Problem> {
    match request.idempotency_key {
        Some(key)
            if key.is_empty()
                || key.len() > MAX_IDEMPOTENCY_KEY
                || !key.chars().all(|c| c.is_ascii_graphic()) =>
        {
            Err(Problem::new(
                400,
                format!("must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"),
            )
            .field("Idempotency-Key"))
        }
        Some(key) => Ok(key.to_owned()),
        None => Ok(request.request_id.to_owned()),
    }
}

fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    if body.len() > MAX_JSON_BYTES {
        return Err(Problem::new(
            413,
            format!(
                "the body has {} bytes; at most {MAX_JSON_BYTES}",
                body.len()
            ),
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        // serde names the field in its message ("unknown field `x`", "missing field `text`").
        let message = e.to_string();
        let field = message
            .split('`')
            .nth(1)
            .filter(|_| message.contains("field"))
            .map(str::to_owned);
        let problem = Problem::new(
            400,
            format!("the body is not what this route takes: {message}"),
        );
        match field {
            Some(f) => problem.field(f),
            None => problem.field("body"),
        }
    })
}

/// `name` (the file's name, required) and `caption` (optional), from an upload's query.
fn file_query(query: Option<&str>) -> Result<(String, Option<String>), Problem> {
    let mut name = None;
    let mut caption = None;
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value);
        match key {
            "name" => name = Some(value),
            "caption" => caption = Some(value),
            other => {
                return Err(Problem::new(400, format!("unknown parameter `{other}`")).field(other));
            }
        }
    }
    let name = name.filter(|n| !n.trim().is_empty()).ok_or_else(|| {
        Problem::new(400, "the file needs a name (`?name=boleto.pdf`)").field("name")
    })?;
    if name.chars().count() > 240 {
        return Err(Problem::new(400, "at most 240 characters").field("name"));
    }
    if caption.as_ref().is_some_and(|c| c.chars().count() > 1024) {
        return Err(Problem::new(400, "at most 1024 characters").field("caption"));
    }
    Ok((name, caption))
}

/// `before` (a cursor from a previous page) and `limit` (1 to 200, 50 by default).
fn page_query(query: Option<&str>) -> Result<(Option<String>, usize), Problem> {
    let mut before = None;
    let mut limit = 50;
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value);
        match name {
            "before" if value.chars().count() > MAX_CURSOR => {
                return Err(Problem::new(400, "is not a cursor this API gave").field("before"));
            }
            "before" if !value.is_empty() => before = Some(value),
            "before" => {}
            "limit" => {
                limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=PAGE_MAX).contains(n))
                    .ok_or_else(|| {
                        Problem::new(400, format!("must be a number from 1 to {PAGE_MAX}"))
                            .field("limit")
                    })?;
            }
            other => {
                return Err(Problem::new(400, format!("unknown parameter `{other}`")).field(other));
            }
        }
    }
    Ok((before, limit))
}

/// `%XX` escapes and `+` in a path segment or query value; a `%` not followed by two hex
/// digits stays as it is.
fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok());
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high * 16 + low);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `POST /agent/claims`: the next customer, or (`customer`) this one.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClaimBody {
    /// Absent for the next customer; `null` is refused, as the schema says.
    #[serde(default, deserialize_with = "present")]
    customer: Option<String>,
}

/// A field that may be left out, but not given as `null`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    String::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PresenceBody {
    presence: Presence,
}

/// A message: `text`, or `template` with its `parameters`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageBody {
    #[serde(default, deserialize_with = "present")]
    text: Option<String>,
    #[serde(default, deserialize_with = "present")]
    template: Option<String>,
    #[serde(default)]
    parameters: Vec<String>,
}

impl MessageBody {
    fn content(self) -> Result<AgentContent, Problem> {
        match (self.text, self.template) {
            (Some(text), None) if self.parameters.is_empty() => {
                Ok(AgentContent::Text { body: text })
            }
            (None, Some(name)) => Ok(AgentContent::Template {
                name,
                language: String::new(),
                parameters: self.parameters,
            }),
            (Some(_), None) => {
                Err(Problem::new(400, "parameters go with a template").field("parameters"))
            }
            _ => Err(Problem::new(400, "give either `text` or `template`").field("text")),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoteBody {
    text: String,
}

/// A transfer: to a `department`, or to an `agent` (their id).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransferBody {
    #[serde(default, deserialize_with = "present")]
    department: Option<String>,
    #[serde(default, deserialize_with = "present")]
    agent: Option<String>,
}

impl TransferBody {
    fn target(self) -> Result<TransferTarget, Problem> {
        match (self.department, self.agent) {
            (Some(department), None) => Ok(TransferTarget::Department { department }),
            (None, Some(id)) => Ok(TransferTarget::Agent {
                agent: AgentRef {
                    id,
                    name: String::new(),
                },
            }),
            _ => Err(Problem::new(400, "give either `department` or `agent`").field("department")),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignmentBody {
    customer: String,
    agent: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_with_their_customer_and_other_methods_are_refused() {
        let (p, c) = matched("GET", "/agent/conversations/5511988887777").unwrap();
        assert_eq!(p, "/agent/conversations/{customer}");
        assert_eq!(c.as_deref(), Some("5511988887777"));
        let (p, c) = matched("POST", "/agent/conversations/US.123%2B4/close").unwrap();
        assert_eq!(p, "/agent/conversations/{customer}/close");
        assert_eq!(c.as_deref(), Some("US.123+4"));
        assert_eq!(
            matched("DELETE", "/agent/claims").err().unwrap().status,
            405
        );
        assert_eq!(matched("GET", "/agent/nothing").err().unwrap().status, 404);
        assert_eq!(
            matched("POST", "/agent/conversations/55/archive")
                .err()
                .unwrap()
                .status,
            404
        );
    }

    #[test]
    fn page_queries_are_checked() {
        assert_eq!(page_query(None).unwrap(), (None, 50));
        assert_eq!(
            page_query(Some(
                "limit=10&before=2026-11-24T12%3A00%3A00.000000Z%2300000003"
            ))
            .unwrap(),
            (Some("2026-11-24T12:00:00.000000Z#00000003".into()), 10)
        );
        for bad in ["limit=0", "limit=201", "limit=x", "after=1"] {
            assert_eq!(page_query(Some(bad)).err().unwrap().status, 400, "{bad}");
        }
    }
}

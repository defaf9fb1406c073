//! The agents' API in `atende serve`: `/agent/…` and `/supervisor/…` with the Lambda's rules
//! (`edge::agent_api`), the bearer token checked here as API Gateway's authorizer does on AWS.
//!
//! With `DESK_JWKS_URL`, `DESK_ISSUER` and `DESK_AUDIENCE` tokens come from a Cognito user pool
//! (or the emulator's); without them this process is its own issuer: it signs a token for each
//! demo agent at start and prints it, as a notebook server prints its login token.

use atende_shared::app::Desk;
use atende_shared::app::desk::MAX_FILE_BYTES;
use atende_shared::app::settings::{self, SettingsError};
use atende_shared::auth::{
    AGENTS_GROUP, AuthError, LocalIssuer, Principal, SUPERVISORS_GROUP, Verifier,
};
use atende_shared::edge::agent_api::{self, ApiRequest};
use atende_shared::edge::console::{self, Login};
use atende_shared::edge::http::HttpReply;
use atende_shared::ports::{Agents, Clock};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The issuer and audience of the tokens `atende serve` signs itself.
pub const LOCAL_ISSUER: &str = "atende-local";
pub const LOCAL_AUDIENCE: &str = "atende-desk";

#[derive(Debug, thiserror::Error)]
pub enum DeskSetupError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("desk logins: {0}")]
    Auth(#[from] AuthError),
    #[error("set all of DESK_JWKS_URL, DESK_ISSUER and DESK_AUDIENCE, or none")]
    Partial,
    #[error("adding the demo agents: {0}")]
    Store(#[from] atende_shared::ports::StoreError),
}

/// How callers of the desk are checked, and the logins to print.
pub struct DeskAuth {
    pub verifier: Verifier,
    /// Demo agents' names and tokens, when this process signs its own.
    pub logins: Vec<(String, String)>,
    /// How the console logs in: the printed links, or the user pool.
    pub login: Login,
}

/// Reads `DESK_JWKS_URL`, `DESK_ISSUER`, `DESK_AUDIENCE`; without them, signs tokens for the
/// demo team (`demo::agents`) and adds it to `agents`.
pub async fn auth(agents: &dyn Agents, clock: &dyn Clock) -> Result<DeskAuth, DeskSetupError> {
    let url = settings::optional("DESK_JWKS_URL");
    let issuer = settings::optional("DESK_ISSUER");
    let audience = settings::optional("DESK_AUDIENCE");
    match (url, issuer, audience) {
        (Some(url), Some(issuer), Some(audience)) => Ok(DeskAuth {
            verifier: Verifier::fetch(&url, &issuer, &audience).await?,
            logins: Vec::new(),
            // The page logs in against the pool (an emulator's, at its address).
            login: Login::Cognito {
                region: settings::optional("AWS_REGION").unwrap_or_else(|| "us-east-1".into()),
                client_id: audience,
                endpoint: settings::optional("DESK_COGNITO_ENDPOINT")
                    .or_else(|| settings::optional("AWS_ENDPOINT_URL")),
            },
        }),
        (None, None, None) => {
            let issuer = LocalIssuer::new(LOCAL_ISSUER, LOCAL_AUDIENCE)?;
            // The signing key lives and dies with this process: a link is good for as long as
            // it runs (a week at most).
            let expires = clock.now() + chrono::Duration::days(7);
            let mut logins = Vec::new();
            for profile in crate::demo::agents() {
                agents.put_profile(&profile).await?;
                let group = if profile.supervisor {
                    SUPERVISORS_GROUP
                } else {
                    AGENTS_GROUP
                };
                let token = issuer.token(&profile.id, &profile.email, &[group], expires)?;
                logins.push((profile.id.clone(), token));
            }
            Ok(DeskAuth {
                verifier: issuer.verifier()?,
                logins,
                login: Login::Local,
            })
        }
        _ => Err(DeskSetupError::Partial),
    }
}

struct DeskState {
    desk: Arc<Desk>,
    verifier: Verifier,
    clock: Arc<dyn Clock>,
    requests: AtomicU64,
    started: i64,
}

/// `/agent/…` and `/supervisor/…`.
pub fn router(desk: Arc<Desk>, verifier: Verifier, clock: Arc<dyn Clock>) -> Router {
    let started = clock.now().timestamp_millis();
    let state = Arc::new(DeskState {
        desk,
        verifier,
        clock,
        requests: AtomicU64::new(0),
        started,
    });
    Router::new()
        .route("/agent/{*rest}", any(api))
        .route("/supervisor/{*rest}", any(api))
        // Files a little over the limit reach the API, which answers 413 itself.
        .layer(DefaultBodyLimit::max(MAX_FILE_BYTES + 64 * 1024))
        .with_state(state)
}

async fn api(
    State(state): State<Arc<DeskState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let caller = caller(&state, &headers);
    let n = state.requests.fetch_add(1, Ordering::SeqCst);
    let request_id = format!("local-{}-{n}", state.started);
    // Kept as it came, so that a key with bytes outside visible ASCII is refused, not lost.
    let key = headers
        .get("idempotency-key")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let request = ApiRequest {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query(),
        idempotency_key: key.as_deref(),
        request_id: &request_id,
        content_type: headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        body: &body,
    };
    reply(agent_api::handle(&state.desk, caller, request).await)
}

/// The caller from `Authorization: Bearer <token>`.
fn caller(state: &DeskState, headers: &HeaderMap) -> Result<Principal, AuthError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(AuthError::Missing)?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or(AuthError::Missing)?;
    Ok(state.verifier.verify(token, state.clock.now())?.principal())
}

fn reply(r: HttpReply) -> Response {
    crate::serve::reply(r)
}

/// `GET /media/<key>?expires=…&signature=…`: the memory backend's files, by the links its
/// store signed (what S3's presigned links are on AWS).
pub fn media_router(
    files: Arc<atende_shared::adapters::MemoryMediaStore>,
    clock: Arc<dyn Clock>,
) -> Router {
    Router::new()
        .route("/media/{*key}", axum::routing::get(media))
        .with_state((files, clock))
}

async fn media(
    State((files, clock)): State<(
        Arc<atende_shared::adapters::MemoryMediaStore>,
        Arc<dyn Clock>,
    )>,
    axum::extract::Path(key): axum::extract::Path<String>,
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    use axum::response::IntoResponse;
    let expires = query
        .get("expires")
        .and_then(|e| e.parse().ok())
        .unwrap_or(0);
    let signature = query.get("signature").map_or("", String::as_str);
    match files.open(&key, expires, signature, clock.now().timestamp()) {
        Some(file) => ([(header::CONTENT_TYPE, file.content_type)], file.bytes).into_response(),
        None => (
            axum::http::StatusCode::FORBIDDEN,
            "this link is not valid (or no longer)",
        )
            .into_response(),
    }
}

/// `/desk/`: the agents' console (`console/`), a page on the API above, logging in with
/// `login`.
pub fn console_router(login: Login) -> Router {
    Router::new()
        .route("/desk", axum::routing::get(console_file))
        .route("/desk/", axum::routing::get(console_file))
        .route("/desk/{file}", axum::routing::get(console_file))
        .with_state(Arc::new(login))
}

async fn console_file(State(login): State<Arc<Login>>, uri: Uri) -> Response {
    match console::reply(uri.path(), &login) {
        Some(r) => reply(r),
        None => axum::http::StatusCode::NOT_FOUND.into_response(),
    }
}

//! The agents' console (`console/` at the workspace root): its files, built into the binaries,
//! served at `/desk/` by the agent API's function on AWS and by `atende serve`, and how the page
//! logs in (`/desk/config.json`).

use crate::edge::http::HttpReply;
use serde::Serialize;

/// The console's files: name, content type, text.
pub const FILES: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../../../console/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../console/app.js"),
    ),
    (
        "login.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../console/login.js"),
    ),
    (
        "texts.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../console/texts.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../../../console/style.css"),
    ),
];

/// How the page logs its users in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "login", rename_all = "snake_case")]
pub enum Login {
    /// `atende serve`'s own login links (`#token=…`, printed at start).
    Local,
    /// The stack's user pool, with its public client: e-mail and password, tokens refreshed.
    Cognito {
        region: String,
        client_id: String,
        /// Cognito's address when it is not AWS's (an emulator).
        #[serde(skip_serializing_if = "Option::is_none")]
        endpoint: Option<String>,
    },
}

impl Login {
    /// On AWS: `DESK_COGNITO_CLIENT_ID` and `AWS_REGION` (set by the template); an emulator's
    /// address from `DESK_COGNITO_ENDPOINT`. `None` without a client id.
    pub fn cognito_from_env() -> Option<Self> {
        let client_id = crate::app::settings::optional("DESK_COGNITO_CLIENT_ID")?;
        Some(Self::Cognito {
            region: crate::app::settings::optional("AWS_REGION")
                .unwrap_or_else(|| "us-east-1".to_owned()),
            client_id,
            endpoint: crate::app::settings::optional("DESK_COGNITO_ENDPOINT"),
        })
    }
}

/// `GET` of `path` under `/desk`: a console file, the login configuration, or `None` when the
/// path is not the console's.
pub fn reply(path: &str, login: &Login) -> Option<HttpReply> {
    let file = match path {
        "/desk" => {
            return Some(
                HttpReply {
                    status: 308,
                    content_type: "text/plain; charset=utf-8",
                    body: "/desk/".to_owned(),
                    headers: Vec::new(),
                }
                .with_header("location", "/desk/"),
            );
        }
        "/desk/" => "index.html",
        other => other.strip_prefix("/desk/")?,
    };
    if file == "config.json" {
        return Some(
            HttpReply {
                status: 200,
                content_type: "application/json",
                body: serde_json::to_string(login).unwrap_or_default(),
                headers: Vec::new(),
            }
            .with_header("cache-control", "no-store"),
        );
    }
    Some(match FILES.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => HttpReply {
            status: 200,
            content_type,
            body: (*body).to_owned(),
            headers: Vec::new(),
        }
        // Always checked again: a deploy changes them at once on every agent's screen.
        .with_header("cache-control", "no-cache"),
        None => HttpReply {
            status: 404,
            content_type: "text/plain; charset=utf-8",
            body: format!("no console file {file}"),
            headers: Vec::new(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_its_files_and_how_it_logs_in() {
        let page = reply("/desk/", &Login::Local).unwrap();
        assert_eq!(
            (page.status, page.content_type),
            (200, "text/html; charset=utf-8")
        );
        assert!(page.body.contains(r#"<html lang="pt-BR">"#));
        assert_eq!(reply("/desk", &Login::Local).unwrap().status, 308);
        assert_eq!(reply("/desk/app.js", &Login::Local).unwrap().status, 200);
        assert_eq!(reply("/desk/../secret", &Login::Local).unwrap().status, 404);
        assert!(reply("/agent/me", &Login::Local).is_none());
        let cognito = Login::Cognito {
            region: "sa-east-1".into(),
            client_id: "4v1tq6l7kq1m3r9f0a2b3c4d5e".into(),
            endpoint: None,
        };
        assert_eq!(
            reply("/desk/config.json", &cognito).unwrap().body,
            r#"{"login":"cognito","region":"sa-east-1","client_id":"4v1tq6l7kq1m3r9f0a2b3c4d5e"}"#
        );
        assert_eq!(
            reply("/desk/config.json", &Login::Local).unwrap().body,
            r#"{"login":"local"}"#
        );
    }
}

//! Agents on Cognito, against the emulator (`bash tests/run`): `atende create-resources` makes
//! the stack's tables, queue and user pool; `atende agents add` creates a login and its
//! profile; the login's real JWT (moto's cognito-idp signs RS256) verifies against the pool's
//! JWKS; and `atende serve --backend aws` lets that agent in.

mod support;

use atende_shared::auth::Verifier;
use std::collections::HashMap;
use std::process::Command;
use support::GraphStub;
use support::serve::{PATIENCE, serve_on_the_real_clock};

fn atende(args: &[&str], env: &HashMap<String, String>) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_atende"))
        .args(args)
        .envs(env)
        .env("RUST_LOG", "warn")
        .output()
        .expect("atende runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The emulator's pool is set up as the stack's: admin-created users, e-mail as the name, the
/// same groups.
async fn the_pool_is_the_templates(cognito: &aws_sdk_cognitoidentityprovider::Client, pool: &str) {
    let template: serde_norway::Value = serde_norway::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml")).unwrap(),
    )
    .unwrap();
    let props = |r: &str| template["Resources"][r]["Properties"].clone();
    let described = cognito
        .describe_user_pool()
        .user_pool_id(pool)
        .send()
        .await
        .unwrap();
    let described = described.user_pool().unwrap();
    assert_eq!(
        described
            .admin_create_user_config()
            .map(|c| c.allow_admin_create_user_only()),
        props("DeskUserPool")["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"].as_bool()
    );
    let attributes: Vec<String> = described
        .username_attributes()
        .iter()
        .map(|a| a.as_str().to_owned())
        .collect();
    assert_eq!(attributes, ["email"]);
    let mut groups: Vec<String> = cognito
        .list_groups()
        .user_pool_id(pool)
        .send()
        .await
        .unwrap()
        .groups()
        .iter()
        .filter_map(|g| g.group_name().map(str::to_owned))
        .collect();
    groups.sort();
    let mut wanted: Vec<String> = ["DeskAgentsGroup", "DeskSupervisorsGroup"]
        .iter()
        .map(|g| props(g)["GroupName"].as_str().unwrap().to_owned())
        .collect();
    wanted.sort();
    assert_eq!(groups, wanted);
}

/// When the token was issued (its `iat`): the emulator that issued it keeps the real clock even
/// when the tests run with it moved, so tokens are checked as of then.
fn issued(token: &str) -> chrono::DateTime<chrono::Utc> {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    chrono::DateTime::from_timestamp(claims["iat"].as_i64().unwrap(), 0).unwrap()
}

/// Logs in with a password, as the console does; returns the access token.
async fn login(
    cognito: &aws_sdk_cognitoidentityprovider::Client,
    pool: &str,
    client: &str,
    email: &str,
) -> String {
    use aws_sdk_cognitoidentityprovider::types::AuthFlowType;
    cognito
        .admin_set_user_password()
        .user_pool_id(pool)
        .username(email)
        .password("Senha-Forte-123")
        .permanent(true)
        .send()
        .await
        .unwrap();
    let auth = cognito
        .initiate_auth()
        .client_id(client)
        .auth_flow(AuthFlowType::UserPasswordAuth)
        .auth_parameters("USERNAME", email)
        .auth_parameters("PASSWORD", "Senha-Forte-123")
        .send()
        .await
        .unwrap();
    auth.authentication_result()
        .and_then(|r| r.access_token())
        .unwrap()
        .to_owned()
}

#[tokio::test]
#[ignore = "needs an AWS emulator: run `bash tests/run`"]
async fn an_agent_added_on_cognito_logs_in_with_a_real_token() {
    let sdk = support::emulator().await;
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&sdk);
    let mut env: HashMap<String, String> = HashMap::new();
    let prefix = support::unique("desk");
    let (ok, out, err) = atende(&["create-resources", "--prefix", &prefix], &env);
    assert!(ok, "{err}");
    for line in out.lines() {
        if let Some((k, v)) = line.split_once('=') {
            env.insert(k.to_owned(), v.to_owned());
        }
    }
    let pool = env["ATENDE_USER_POOL_ID"].clone();
    let client = env["DESK_AUDIENCE"].clone();
    the_pool_is_the_templates(&cognito, &pool).await;

    // A wrong department is refused, naming the flag; nothing is created.
    let (ok, _, err) = atende(
        &[
            "agents",
            "add",
            "ana@empresa.com.br",
            "--name",
            "Ana",
            "--departments",
            "juridico",
        ],
        &env,
    );
    assert!(!ok);
    assert!(
        err.contains("--departments") && err.contains("juridico"),
        "{err}"
    );

    let (ok, out, err) = atende(
        &[
            "agents",
            "add",
            "Ana@Empresa.com.br",
            "--name",
            "Ana",
            "--departments",
            "suporte",
        ],
        &env,
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("ana@empresa.com.br (Ana) is in the group agents"),
        "{out}"
    );

    // Her token, signed by the pool, verifies against its published keys.
    let token = login(&cognito, &pool, &client, "ana@empresa.com.br").await;
    let verifier = Verifier::fetch(&env["DESK_JWKS_URL"], &env["DESK_ISSUER"], &client)
        .await
        .unwrap();
    let claims = verifier.verify(&token, issued(&token)).unwrap();
    assert_eq!(claims.principal().groups, ["agents"]);
    let (ok, listed, err) = atende(&["agents", "list"], &env);
    assert!(ok, "{err}");
    assert!(
        listed.contains(&claims.sub),
        "the profile is under her sub: {listed}"
    );
    assert!(listed.contains("ana@empresa.com.br\tAna\t"), "{listed}");
    // Another pool's audience, or a tampered token, is refused.
    let other = Verifier::fetch(&env["DESK_JWKS_URL"], &env["DESK_ISSUER"], "another-client")
        .await
        .unwrap();
    assert!(other.verify(&token, issued(&token)).is_err());
    let mut tampered = token.clone();
    tampered.insert(tampered.find('.').unwrap() + 5, 'x');
    assert!(verifier.verify(&tampered, issued(&token)).is_err());

    // Through `atende serve --backend aws`, with the pool's keys: she is in.
    let graph = GraphStub::start().await;
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = serve_on_the_real_clock(&graph, &["--backend", "aws"], &vars);
    let http = reqwest::Client::new();
    let me = http
        .get(server.at("/agent/me"))
        .bearer_auth(&token)
        .timeout(PATIENCE)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status().as_u16(), 200);
    let me: serde_json::Value = me.json().await.unwrap();
    assert_eq!(me["name"], "Ana");
    assert_eq!(me["departments"], serde_json::json!(["suporte"]));
    assert_eq!(me["supervisor"], false);
    // Promoted: the same command again, now a supervisor; her next token says so.
    let (ok, _, err) = atende(
        &[
            "agents",
            "add",
            "ana@empresa.com.br",
            "--name",
            "Ana Souza",
            "--supervisor",
        ],
        &env,
    );
    assert!(ok, "{err}");
    let token = login(&cognito, &pool, &client, "ana@empresa.com.br").await;
    let claims = verifier.verify(&token, issued(&token)).unwrap();
    assert_eq!(claims.principal().groups, ["supervisors"]);
    let overview = http
        .get(server.at("/supervisor/overview"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(overview.status().as_u16(), 200);
    // Without a token, or with one the pool did not sign: 401.
    let anonymous = http.get(server.at("/agent/me")).send().await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    let forged = http
        .get(server.at("/agent/me"))
        .bearer_auth(&tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 401);
}

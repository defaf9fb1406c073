//! The agents' console in real browsers: Debian's headless Chromium driven by playwright-core
//! and its Firefox ESR by puppeteer-core (the scripts in `tests/console/`), through `atende
//! serve`, with a Graph API stand-in that records what WhatsApp was asked to send. `bash
//! tests/run` installs them.

mod support;

use std::path::Path;
use std::process::Command;
use support::serve::{
    BUSINESS_NUMBER, MARIA, serve, serve_on_a_moved_clock, serve_on_the_real_clock,
};
use support::{APP_SECRET, GraphStub};

/// Chromium's path, once it and the scripts' packages are known to be there.
fn browser_tools() -> String {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/console");
    assert!(
        Path::new(&chromium).exists(),
        "no Chromium at {chromium}: `apt-get install chromium` (tests/run does), or set CHROMIUM"
    );
    assert!(
        scripts.join("node_modules/playwright-core").exists(),
        "playwright-core is missing: `npm ci --prefix tests/console` (tests/run does)"
    );
    chromium
}

/// Which clock a script's customers send their messages by: the one this test runs on (moved
/// with `TEST_CLOCK`, as the server it started), or the real one (for a server on the real
/// clock plus an offset of its own).
#[derive(Clone, Copy, PartialEq)]
enum ScriptClock {
    Inherited,
    Real,
}

/// Runs `script` of `tests/console` with `env` (and the webhook's secret and Maria's number),
/// fails with what it printed unless it succeeds and printed each of `steps`; its output.
async fn run_script(
    script: &str,
    clock: ScriptClock,
    env: Vec<(&'static str, String)>,
    steps: &[&str],
) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/console")
        .join(script);
    let output = tokio::task::spawn_blocking(move || {
        let mut node = Command::new("node");
        if clock == ScriptClock::Real {
            for faked in [
                "LD_PRELOAD",
                "FAKETIME",
                "FAKETIME_DONT_FAKE_MONOTONIC",
                "DONT_FAKE_MONOTONIC",
                "FAKETIME_SHARED",
            ] {
                node.env_remove(faked);
            }
        }
        node.arg(path)
            .env("APP_SECRET", APP_SECRET)
            .env("CUSTOMER", MARIA)
            .envs(env)
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{script} failed after:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for step in steps {
        assert!(stdout.contains(&format!("step: {step}")), "{stdout}");
    }
    stdout
}

/// The texts WhatsApp was asked to send, in order.
fn sent_texts(graph: &GraphStub) -> Vec<String> {
    graph
        .requests()
        .iter()
        .filter_map(|r| r.body["text"]["body"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
#[ignore = "needs Chromium and playwright-core: run `bash tests/run`"]
async fn an_agent_works_a_customer_in_the_console() {
    let chromium = browser_tools();
    let graph = GraphStub::start().await;
    let server = serve(&graph);
    let link = server.login_link("ana").await;
    let supervisor = server.login_link("carla").await;
    let bruno = server.login_link("bruno").await;
    let board = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/console-board.png");
    let screenshot = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/console-agent.png");
    let env = vec![
        ("CHROMIUM", chromium),
        ("DESK_LINK", link),
        ("SUPERVISOR_LINK", supervisor),
        ("BRUNO_LINK", bruno),
        ("BOARD_SCREENSHOT", board.display().to_string()),
        ("SCREENSHOT", screenshot.display().to_string()),
        ("WEBHOOK_URL", server.url.clone()),
    ];
    run_script(
        "agent-journey.mjs",
        ScriptClock::Inherited,
        env,
        &[
            "logged in, live",
            "a waiting customer appeared",
            "the board counts her",
            "opened before claiming",
            "claimed, with the bot's part and the context",
            "the board shows Ana with her",
            "replied",
            "the tick turned to read",
            "her answer appeared",
            "sent a picture",
            "noted",
            "the board shows Ana's last answer",
            "transferred",
            "a second agent claimed and closed",
            "polled while the live connection was down",
            "live again",
            "claimed by a colleague a moment before",
            "assigned, and transferred to Ana by name",
            "erased",
            "logged out",
        ],
    )
    .await;
    // WhatsApp was asked to send the quick reply once, signed; never the note, never the empty
    // one.
    let texts = sent_texts(&graph);
    let reply = "*Ana:*\nOlá! Em que posso ajudar?";
    assert_eq!(
        texts.iter().filter(|t| *t == reply).count(),
        1,
        "{texts:#?}"
    );
    assert!(
        !texts.iter().any(|t| t.contains("fatura em atraso")),
        "{texts:#?}"
    );
    // The picture by a link WhatsApp can fetch, captioned; nothing of the file too large.
    let requests = graph.requests();
    let images: Vec<_> = requests
        .iter()
        .filter(|r| r.body["type"] == "image")
        .collect();
    assert_eq!(images.len(), 1, "{requests:#?}");
    assert_eq!(
        images[0].body["image"]["caption"],
        "*Ana:*\nVeja se a luz está assim"
    );
    let picture = reqwest::get(images[0].body["image"]["link"].as_str().unwrap())
        .await
        .unwrap();
    let picture = picture.bytes().await.unwrap();
    assert!(
        picture.starts_with(b"\x89PNG") && picture.len() < 100,
        "the one-pixel PNG, not the large one: {} bytes",
        picture.len()
    );
}

#[tokio::test]
#[ignore = "needs Chromium, playwright-core and libfaketime: run `bash tests/run`"]
async fn after_the_window_the_console_offers_templates_only() {
    let chromium = browser_tools();
    let graph = GraphStub::start().await;
    let clock_file = std::env::temp_dir().join(format!("atende-clock-{}", std::process::id()));
    let server = serve_on_a_moved_clock(
        &graph,
        &clock_file,
        &[("WHATSAPP_PHONE_NUMBER_ID", BUSINESS_NUMBER)],
    );
    let env = vec![
        ("CHROMIUM", chromium),
        ("DESK_LINK", server.login_link("ana").await),
        ("WEBHOOK_URL", server.url.clone()),
        ("CLOCK_FILE", clock_file.display().to_string()),
    ];
    run_script(
        "window-closed.mjs",
        ScriptClock::Real,
        env,
        &[
            "free text while the window is open",
            "free text is not offered after the window",
            "sent a template after the window",
            "closed, the place given back",
        ],
    )
    .await;
    let _ = std::fs::remove_file(&clock_file);
    // The free text went while the window was open; after it, only the template.
    let requests = graph.requests();
    let sent: Vec<&str> = requests
        .iter()
        .filter_map(|r| r.body["type"].as_str())
        .collect();
    let template = requests
        .iter()
        .position(|r| r.body["type"] == "template")
        .expect("the template went out");
    assert_eq!(
        requests[template].body["template"]["components"][0]["parameters"][0]["text"],
        "Maria"
    );
    assert!(
        requests[template..]
            .iter()
            .all(|r| r.body["type"] != "text" && r.body["type"] != "interactive"),
        "{sent:?}"
    );
    assert!(
        requests[..template]
            .iter()
            .any(|r| r.body["text"]["body"] == "*Ana:*\nJá vejo o seu caso."),
        "{sent:?}"
    );
}

/// Runs the `atende` CLI with `env`; its `KEY=value` lines are added to `env`.
fn atende_cli(args: &[&str], env: &mut std::collections::HashMap<String, String>) {
    let output = Command::new(env!("CARGO_BIN_EXE_atende"))
        .args(args)
        .envs(env.iter())
        .env("RUST_LOG", "warn")
        .output()
        .expect("atende runs");
    assert!(
        output.status.success(),
        "atende {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        if let Some((k, v)) = line.split_once('=') {
            env.insert(k.to_owned(), v.to_owned());
        }
    }
}

#[tokio::test]
#[ignore = "needs Chromium, playwright-core and an AWS emulator: run `bash tests/run`"]
async fn an_agent_of_the_user_pool_logs_in_to_the_console() {
    let chromium = browser_tools();
    let sdk = support::emulator().await;
    let mut env = std::collections::HashMap::new();
    let prefix = support::unique("console");
    atende_cli(&["create-resources", "--prefix", &prefix], &mut env);
    let email = "ana@empresa.com.br";
    atende_cli(
        &[
            "agents",
            "add",
            email,
            "--name",
            "Ana",
            "--departments",
            "suporte",
        ],
        &mut env,
    );
    // As an admin hands it out: a temporary password, to be changed at the first login.
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&sdk);
    cognito
        .admin_set_user_password()
        .user_pool_id(&env["ATENDE_USER_POOL_ID"])
        .username(email)
        .password("Temporaria-2026")
        .permanent(false)
        .send()
        .await
        .unwrap();
    let graph = GraphStub::start().await;
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = serve_on_the_real_clock(&graph, &["--backend", "aws"], &vars);
    let config: serde_json::Value = reqwest::get(server.at("/desk/config.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["login"], "cognito", "{config}");
    assert_eq!(config["client_id"], env["DESK_AUDIENCE"].as_str());
    let script_env = vec![
        ("CHROMIUM", chromium),
        ("CONSOLE_URL", server.at("/desk/")),
        ("EMAIL", email.to_owned()),
        ("TEMPORARY_PASSWORD", "Temporaria-2026".to_owned()),
        ("NEW_PASSWORD", "Minha-Senha-Nova-2026".to_owned()),
    ];
    run_script(
        "cognito-login.mjs",
        ScriptClock::Real,
        script_env,
        &[
            "a wrong password is refused",
            "logged in with a new password",
            "the token was refreshed",
            "logged in again after the session ran out",
            "logged out",
        ],
    )
    .await;
    // Her own password works from now on; the temporary one no longer does.
    use aws_sdk_cognitoidentityprovider::types::AuthFlowType;
    let login = |password: &'static str| {
        cognito
            .initiate_auth()
            .client_id(&env["DESK_AUDIENCE"])
            .auth_flow(AuthFlowType::UserPasswordAuth)
            .auth_parameters("USERNAME", email)
            .auth_parameters("PASSWORD", password)
            .send()
    };
    assert!(login("Minha-Senha-Nova-2026").await.is_ok());
    assert!(login("Temporaria-2026").await.is_err());
}

#[tokio::test]
#[ignore = "needs Firefox (firefox-esr) and puppeteer-core: run `bash tests/run`"]
async fn the_console_works_in_firefox() {
    browser_tools();
    let firefox = std::env::var("FIREFOX").unwrap_or_else(|_| "/usr/bin/firefox-esr".into());
    assert!(
        Path::new(&firefox).exists(),
        "no Firefox at {firefox}: `apt-get install firefox-esr` (tests/run does), or set FIREFOX"
    );
    let graph = GraphStub::start().await;
    let server = serve(&graph);
    let env = vec![
        ("FIREFOX", firefox),
        ("DESK_LINK", server.login_link("ana").await),
        ("WEBHOOK_URL", server.url.clone()),
    ];
    run_script(
        "firefox.mjs",
        ScriptClock::Inherited,
        env,
        &[
            "loaded, live",
            "a waiting customer appeared",
            "replied with a quick reply",
            "her answer appeared",
            "closed",
        ],
    )
    .await;
    let texts = sent_texts(&graph);
    assert!(
        texts.contains(&"*Ana:*\nOlá! Em que posso ajudar?".to_owned()),
        "{texts:#?}"
    );
}

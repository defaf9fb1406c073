//! The agents' console in a real browser: Debian's headless Chromium driven by playwright-core
//! (`tests/console/agent-journey.mjs`) through `atende serve`, with a Graph API stand-in that
//! records what WhatsApp was asked to send. `bash tests/run` installs both.

mod support;

use std::path::Path;
use std::process::Command;
use support::serve::{MARIA, serve};
use support::{APP_SECRET, GraphStub};

fn browser_tools() -> (String, std::path::PathBuf) {
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
    (chromium, scripts)
}

#[tokio::test]
#[ignore = "needs Chromium and playwright-core: run `bash tests/run`"]
async fn an_agent_works_a_customer_in_the_console() {
    let (chromium, scripts) = browser_tools();
    let graph = GraphStub::start().await;
    let server = serve(&graph);
    let link = server.login_link("ana").await;
    let supervisor = server.login_link("carla").await;
    let board = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/console-board.png");
    let screenshot = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/console-agent.png");
    let webhook = server.url.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(scripts.join("agent-journey.mjs"))
            .env("CHROMIUM", chromium)
            .env("DESK_LINK", link)
            .env("SUPERVISOR_LINK", supervisor)
            .env("BOARD_SCREENSHOT", board)
            .env("WEBHOOK_URL", webhook)
            .env("APP_SECRET", APP_SECRET)
            .env("CUSTOMER", MARIA)
            .env("SCREENSHOT", &screenshot)
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the browser journey failed after:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for step in [
        "a waiting customer appeared",
        "claimed, with the bot's part and the context",
        "replied",
        "her answer appeared",
        "sent a picture",
        "noted",
        "sent a template after the window",
        "closed",
        "the board counts her",
        "the board shows Ana with her",
        "assigned",
        "erased",
    ] {
        assert!(stdout.contains(&format!("step: {step}")), "{stdout}");
    }
    // WhatsApp was asked to send the quick reply once, signed; never the note, never the empty
    // one.
    let texts: Vec<String> = graph
        .requests()
        .iter()
        .filter_map(|r| r.body["text"]["body"].as_str().map(str::to_owned))
        .collect();
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
    // The picture by a link WhatsApp can fetch, captioned; the template with its parameter;
    // nothing of the file too large.
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
    let template = requests
        .iter()
        .find(|r| r.body["type"] == "template")
        .expect("the template went out");
    assert_eq!(
        template.body["template"]["components"][0]["parameters"][0]["text"],
        "Maria"
    );
}

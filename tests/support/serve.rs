//! `atende serve` as a child process for the end-to-end tests.

use super::{ACCESS_TOKEN, APP_SECRET, GraphStub, VERIFY_TOKEN};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const MARIA: &str = "5511987654321";
pub const JOAO: &str = "5521998765432";
pub const BUSINESS_NUMBER: &str = "106540352242922";
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A running `atende serve`, killed on drop. Its log lines go on to the test's stderr and are
/// kept in `logs`.
pub struct Server {
    child: Child,
    pub url: String,
    pub logs: Arc<Mutex<Vec<String>>>,
    /// What the server printed on stdout, line by line.
    pub stdout: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until a log line contains every one of `parts` (or fails after `limit`).
    pub async fn wait_for_log(&self, parts: &[&str], limit: Duration) -> String {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let found = self
                .logs
                .lock()
                .unwrap()
                .iter()
                .find(|line| parts.iter().all(|p| line.contains(p)))
                .cloned();
            if let Some(line) = found {
                return line;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no log line with {parts:?} within {limit:?}: {:#?}",
                self.logs.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn atende() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_atende"));
    // The replies asserted below are those of business hours, whatever the hour of the run.
    cmd.env("ATENDE_CONFIG", super::always_open_config())
        .env_remove("PORT")
        .env("RUST_LOG", "warn");
    cmd
}

pub fn serve(graph: &GraphStub) -> Server {
    serve_with(graph, &[])
}

pub fn serve_with(graph: &GraphStub, extra: &[&str]) -> Server {
    serve_with_env(graph, extra, &[])
}

pub fn serve_with_env(graph: &GraphStub, extra: &[&str], env: &[(&str, &str)]) -> Server {
    start(atende(), graph, extra, env)
}

/// `atende serve` on the real clock even when the tests run with it moved (`TEST_CLOCK`): a
/// server that checks tokens the emulator issued shares the emulator's clock, as a Lambda
/// shares Cognito's.
pub fn serve_on_the_real_clock(graph: &GraphStub, extra: &[&str], env: &[(&str, &str)]) -> Server {
    let mut cmd = atende();
    for faked in [
        "LD_PRELOAD",
        "FAKETIME",
        "FAKETIME_DONT_FAKE_MONOTONIC",
        "DONT_FAKE_MONOTONIC",
        "FAKETIME_SHARED",
    ] {
        cmd.env_remove(faked);
    }
    start(cmd, graph, extra, env)
}

/// libfaketime's preload library, where Debian's `faketime` package puts it.
pub fn libfaketime() -> Option<std::path::PathBuf> {
    std::fs::read_dir("/usr/lib")
        .ok()?
        .filter_map(Result::ok)
        .map(|dir| dir.path().join("faketime/libfaketime.so.1"))
        .chain([std::path::PathBuf::from(
            "/usr/lib/faketime/libfaketime.so.1",
        )])
        .find(|lib| lib.exists())
}

/// `atende serve` on a clock the test moves: the real one plus the offset written in
/// `clock_file` (libfaketime's syntax, e.g. `+1441m`), read again at every call.
pub fn serve_on_a_moved_clock(
    graph: &GraphStub,
    clock_file: &Path,
    env: &[(&str, &str)],
) -> Server {
    let lib = libfaketime().expect("libfaketime: apt-get install faketime (tests/run does)");
    std::fs::write(clock_file, "+0\n").unwrap();
    let mut cmd = atende();
    // The file, not a fixed instant: FAKETIME would take precedence over it, and the test
    // binary's shared clock state (FAKETIME_SHARED, under TEST_CLOCK) would be this one's.
    for faked in ["FAKETIME", "DONT_FAKE_MONOTONIC", "FAKETIME_SHARED"] {
        cmd.env_remove(faked);
    }
    cmd.env("LD_PRELOAD", lib)
        .env("FAKETIME_TIMESTAMP_FILE", clock_file)
        .env("FAKETIME_NO_CACHE", "1")
        // Timers and timeouts keep real time.
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
    start(cmd, graph, &[], env)
}

fn start(cmd: Command, graph: &GraphStub, extra: &[&str], env: &[(&str, &str)]) -> Server {
    start_against(cmd, &graph.base_url, extra, env)
}

/// `atende serve` sending to the Graph API at `base_url` (a benchmark's own stand-in).
pub fn serve_against(base_url: &str, env: &[(&str, &str)]) -> Server {
    start_against(atende(), base_url, &[], env)
}

fn start_against(mut cmd: Command, base_url: &str, extra: &[&str], env: &[(&str, &str)]) -> Server {
    let mut child = cmd
        .args(["serve", "--port", "0"])
        .args(extra)
        .envs(env.iter().copied())
        .env("WHATSAPP_APP_SECRET", APP_SECRET)
        .env("WHATSAPP_VERIFY_TOKEN", VERIFY_TOKEN)
        .env("WHATSAPP_ACCESS_TOKEN", ACCESS_TOKEN)
        .env("WHATSAPP_API_BASE_URL", base_url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("atende starts");
    let logs = Arc::new(Mutex::new(Vec::new()));
    let stderr = child.stderr.take().unwrap();
    let kept = logs.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{line}");
            kept.lock().unwrap().push(line);
        }
    });
    // The first line says where it listens; the rest are kept as they come.
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in `{line}`"))
        .to_owned();
    let stdout = Arc::new(Mutex::new(vec![line.trim_end().to_owned()]));
    let kept = stdout.clone();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            kept.lock().unwrap().push(line);
        }
    });
    Server {
        child,
        url,
        logs,
        stdout,
    }
}

impl Server {
    /// The address of the server's `path` (`/agent/claims`).
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url.trim_end_matches("/webhook"))
    }

    /// The login link the server printed for a demo agent.
    pub async fn login_link(&self, agent: &str) -> String {
        let token = self.login(agent).await;
        let prefix = format!("desk login {agent}: ");
        let lines = self.stdout.lock().unwrap();
        lines
            .iter()
            .find_map(|l| l.strip_prefix(&prefix))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no login link for {agent} ({token})"))
    }

    /// The bearer token of the login link the server printed for a demo agent.
    pub async fn login(&self, agent: &str) -> String {
        let prefix = format!("desk login {agent}: ");
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let found = self.stdout.lock().unwrap().iter().find_map(|l| {
                let link = l.strip_prefix(&prefix)?;
                Some(link.split_once("#token=")?.1.to_owned())
            });
            if let Some(token) = found {
                return token;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no login for {agent}: {:#?}",
                self.stdout.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A webhook fixture as Meta would send it now: the server runs on the real clock and ignores
/// messages older than 24 hours, so its timestamps are moved to the moment of sending (and the
/// body is signed after that).
pub fn fixture(name: &str) -> Vec<u8> {
    let body = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/webhooks")
            .join(name),
    )
    .unwrap();
    super::sent_now(&body)
}

pub async fn post(server: &Server, body: &[u8], signature: Option<&str>) -> (u16, String) {
    let mut req = reqwest::Client::new()
        .post(&server.url)
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(sig) = signature {
        req = req.header("x-hub-signature-256", sig);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// A Meta payload with one message from Maria, sent now (`message` is the message object's
/// type part).
pub fn maria_says(n: usize, message: serde_json::Value) -> Vec<u8> {
    maria_said(n, message, chrono::Utc::now())
}

/// A message id as WhatsApp makes them: base64 of a record that carries the customer's number
/// (`wamid.HBgN` + the number + …), so that what logs an id logs the number.
pub fn wamid(customer: &str, n: usize) -> String {
    use base64::Engine;
    let mut raw = vec![0x1c, 0x18, 0x0d];
    raw.extend_from_slice(customer.as_bytes());
    raw.extend_from_slice(&[0x15, 0x02, 0x00, 0x12, 0x18, 0x14]);
    raw.extend_from_slice(format!("3EB0C7{n:014}").as_bytes());
    format!(
        "wamid.{}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// A Meta payload with one message Maria sent at `sent_at`.
pub fn maria_said(
    n: usize,
    message: serde_json::Value,
    sent_at: chrono::DateTime<chrono::Utc>,
) -> Vec<u8> {
    let mut m = serde_json::json!({
        "from": MARIA,
        "id": wamid(MARIA, n),
        "timestamp": sent_at.timestamp().to_string(),
    });
    for (k, v) in message.as_object().unwrap() {
        m[k] = v.clone();
    }
    serde_json::to_vec(&serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "551130000000", "phone_number_id": BUSINESS_NUMBER},
            "contacts": [{"profile": {"name": "Maria Silva"}, "wa_id": MARIA}],
            "messages": [m]
        }}]}]
    }))
    .unwrap()
}

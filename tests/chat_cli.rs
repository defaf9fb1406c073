//! `atende chat`, the README's first command, as a user runs it: "oi" shows the menu and a
//! number picks an option.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};

#[test]
fn oi_shows_the_menu_and_a_number_answers() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_atende"))
        .arg("chat")
        .env("ATENDE_CONFIG", support::always_open_config())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all("oi\n2\n".as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out = String::from_utf8(output.stdout).unwrap();
    let menu = "     1) Suporte - Problemas com produto ou serviço\n     2) Vendas - Novos pedidos e orçamentos\n";
    let after_oi = out.find(menu).expect("the menu after oi");
    let answer = out
        .find("bot: Que bom! Veja nossos planos:")
        .expect("option 2 answered");
    assert!(answer > after_oi, "{out}");
}

#[test]
fn a_bad_configuration_file_stops_the_chat_with_the_field_named() {
    let dir = std::env::temp_dir().join(format!("atende-chat-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    let shipped = atende_shared::domain::config::EMBEDDED;
    std::fs::write(
        &path,
        shipped.replacen("style = \"list\"", "style = \"carousel\"", 1),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_atende"))
        .arg("chat")
        .env("ATENDE_CONFIG", &path)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("menu.style") || stderr.contains("carousel"),
        "{stderr}"
    );
    assert!(stderr.contains(&*path.to_string_lossy()), "{stderr}");
}

#[test]
#[ignore = "needs an AWS emulator: run `bash tests/run`"]
fn create_resources_prints_the_lambda_variables_for_the_emulator() {
    let prefix = format!("cli{}", std::process::id());
    let output = Command::new(env!("CARGO_BIN_EXE_atende"))
        .args(["create-resources", "--prefix", &prefix])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 13, "{out}");
    assert!(lines[0].starts_with("EVENTS_QUEUE_URL=http://") && lines[0].ends_with("-events.fifo"));
    assert_eq!(lines[1], format!("SESSIONS_TABLE={prefix}-sessions"));
    assert_eq!(lines[2], format!("ATTENDANCE_TABLE={prefix}-attendance"));
    assert!(lines[3].starts_with("EVENTS_QUEUE_ARN=arn:aws:sqs:"));
    assert!(lines[3].ends_with(&format!(":{prefix}-events.fifo")));
    assert_eq!(lines[4], format!("SCHEDULE_GROUP={prefix}-timers"));
    assert_eq!(lines[5], format!("AGENTS_TABLE={prefix}-agents"));
    assert_eq!(lines[6], format!("LOG_TABLE={prefix}-log"));
    assert_eq!(lines[7], format!("LIVE_TABLE={prefix}-live"));
    assert_eq!(lines[8], format!("MEDIA_BUCKET={prefix}-media"));
    let pool = lines[9].strip_prefix("ATENDE_USER_POOL_ID=").unwrap();
    assert!(!pool.is_empty());
    assert!(lines[10].starts_with("DESK_JWKS_URL=http://127.0.0.1:"));
    assert!(
        lines[10].ends_with(&format!("/{pool}/.well-known/jwks.json")),
        "{out}"
    );
    assert_eq!(
        lines[11],
        format!("DESK_ISSUER=https://cognito-idp.us-east-1.amazonaws.com/{pool}")
    );
    assert!(lines[12].starts_with("DESK_AUDIENCE="));
}

#[test]
fn create_resources_refuses_without_an_emulator_endpoint() {
    let output = Command::new(env!("CARGO_BIN_EXE_atende"))
        .arg("create-resources")
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("AWS_ENDPOINT_URL"));
}

//! Data-driven: every webhook payload in `tests/fixtures/webhooks/*.json` (Meta's documented
//! shapes, odd ones included) is split into queue events, and the events must equal the
//! `*.events.jsonl` file beside it, one event per line.
//!
//! After an intended change, `UPDATE_EXPECT=1 cargo test --test webhook_split` rewrites the
//! expectation files; review the diff.

use atende_shared::webhook::split;
use std::path::Path;

fn render(body: &[u8]) -> String {
    let split = split(body).expect("fixture is a JSON payload");
    let mut out = String::new();
    for event in &split.events {
        out.push_str(&serde_json::to_string(event).unwrap());
        out.push('\n');
    }
    for field in &split.skipped_fields {
        out.push_str(&serde_json::json!({ "skipped_field": field }).to_string());
        out.push('\n');
    }
    out
}

#[test]
fn every_fixture_splits_into_its_expected_events() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/webhooks");
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut fixtures: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    fixtures.sort();
    assert!(
        fixtures.len() >= 15,
        "fixtures missing in {}",
        dir.display()
    );
    let mut failures = Vec::new();
    for fixture in &fixtures {
        let got = render(&std::fs::read(fixture).unwrap());
        let expect_path = fixture.with_extension("events.jsonl");
        if update {
            std::fs::write(&expect_path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&expect_path).unwrap_or_default();
        if got != want {
            failures.push(format!(
                "{}:\n--- want\n{want}--- got\n{got}",
                fixture.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_body_that_is_not_json_is_an_error_not_a_panic() {
    for body in [
        &b"not json"[..],
        b"",
        b"[1,2]",
        b"\"entry\"",
        b"{\"entry\": [}",
    ] {
        assert!(split(body).is_err(), "{:?}", String::from_utf8_lossy(body));
    }
    // A JSON object of another shape has nothing to split (the webhook logs it whole).
    for body in [
        &b"{}"[..],
        b"{\"entry\": 5}",
        b"{\"entry\": [null, 1, {\"changes\": \"x\"}]}",
    ] {
        let split = split(body).unwrap();
        assert!(split.events.is_empty() && split.skipped_fields.is_empty());
    }
}

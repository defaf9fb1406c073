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

/// Found by fuzzing: a number with more digits than a double holds (a location's longitude
/// written out to 55 digits) was read a hair differently the second time, after the queue's
/// JSON, so an event did not come back from the queue as it went in. Numbers are read exactly
/// now (serde_json's `float_roundtrip`): every fixture's events, and that one, round-trip.
#[test]
fn every_event_comes_back_from_the_queue_as_it_went_in() {
    use atende_shared::domain::QueueEvent;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/webhooks");
    let mut bodies: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    bodies.push(
        br#"{"entry":[{"changes":[{"field":"messages","value":{"messages":[{"from":"5511987654321",
        "id":"wamid.ODD3","type":"location","location":{"latitude":"-23.56",
        "longitude":-4555555555555555555555555555555555555555555555555555556.65}}]}}]}]}"#
            .to_vec(),
    );
    let mut events = 0;
    for body in &bodies {
        for event in split(body).unwrap().events {
            let json = serde_json::to_string(&event).unwrap();
            let back: QueueEvent = serde_json::from_str(&json).unwrap();
            assert_eq!(back, event);
            events += 1;
        }
    }
    assert!(events > 30, "{events} events");
}

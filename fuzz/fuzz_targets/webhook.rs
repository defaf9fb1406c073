//! The webhook over arbitrary bytes: the signature check and the split never panic; a body
//! signed with the app secret passes and the same body with any other signature fails; every
//! event split out has a deduplication id and an ordering group SQS FIFO takes, and comes back
//! from the queue's JSON as it went in.

#![no_main]

use atende_shared::domain::QueueEvent;
use atende_shared::webhook::{split, verify_signature};
use hmac::{KeyInit, Mac};
use libfuzzer_sys::fuzz_target;

const SECRET: &[u8] = b"atende-fuzz-app-secret";

fn signature(body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// SQS FIFO: at most 128 characters of alphanumerics and punctuation.
fn fifo_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.chars().all(|c| c.is_ascii_graphic())
}

fuzz_target!(|data: &[u8]| {
    // The first line, if any, is also tried as the header Meta would send.
    let header = data
        .split(|b| *b == b'\n')
        .next()
        .and_then(|line| std::str::from_utf8(line).ok());
    let presented = verify_signature(SECRET, header, data);
    let signed = signature(data);
    assert!(verify_signature(SECRET, Some(&signed), data).is_ok());
    assert!(verify_signature(SECRET, None, data).is_err());
    if header != Some(signed.as_str()) {
        assert!(
            presented.is_err(),
            "a signature not made with the secret passed"
        );
    }
    let mut wrong = signed.into_bytes();
    let last = wrong.len() - 1;
    wrong[last] = if wrong[last] == b'0' { b'1' } else { b'0' };
    let wrong = String::from_utf8(wrong).expect("hex");
    assert!(verify_signature(SECRET, Some(&wrong), data).is_err());

    if let Ok(split) = split(data) {
        for event in &split.events {
            assert!(fifo_id(&event.id), "deduplication id {:?}", event.id);
            assert!(fifo_id(&event.group()), "group {:?}", event.group());
            let json = serde_json::to_string(event).expect("an event serializes");
            let back: QueueEvent = serde_json::from_str(&json).expect("and reads back");
            assert_eq!(&back, event);
        }
    }
});

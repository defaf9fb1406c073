//! The configuration loader over arbitrary text: it never panics, and a configuration it
//! accepts makes the engine's first answers (the greeting and the menu) within WhatsApp's
//! limits, as the loader promises.

#![no_main]

use atende_shared::domain::engine::{Input, step};
use atende_shared::domain::{Command, Config, CustomerId, InboundMessage, MessageContent, Session};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = Config::from_toml(text) else {
        return;
    };
    let now = chrono::DateTime::from_timestamp(1_795_521_600, 0).expect("a valid instant");
    let mut session = Session::new(CustomerId::Phone("5511999990000".into()), now);
    for body in ["oi", "1", "menu", "2", "3", "4", "5"] {
        let message = InboundMessage {
            id: format!("wamid.{body}"),
            sent_at: Some(now),
            profile_name: Some("Maria".into()),
            content: MessageContent::Text { body: body.into() },
        };
        let (next, commands) = step(session, Input::Message(&message), now, &config);
        session = next;
        for command in commands {
            if let Command::Send { message, .. } = command {
                assert!(
                    message.check_limits().is_ok(),
                    "an accepted configuration built {message:?}"
                );
            }
        }
    }
});

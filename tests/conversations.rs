//! Conversations as transcripts: every `tests/conversations/*.txt` is replayed through the real
//! processor and engine on memory adapters, and what the bot sends must match, rendered as in
//! `atende chat`.
//!
//! Format: `customer: <text>` is what the customer sends (a number picks a choice of the last
//! menu, as a tap would; `[image]`, `[location]`, `[reaction]` and `[unsupported]` send those
//! message types); the `bot:` lines and their indented continuation lines that follow are what
//! the bot must answer, exactly; `@wait 25h` (or `30m`) moves the clock, and the timers the bot
//! set go off on the way (their messages follow the `@wait` line); `#` starts a comment;
//! blank lines are ignored. The customer's profile name is Maria; the clock starts on
//! 2026-11-24 12:00 UTC.
//!
//! The desk: the demo team (Ana in Suporte, Bruno in Financeiro and Vendas, Carla the
//! supervisor) is there and available. `agent Ana: <text>` is Ana's reply; `@agent Ana claims`
//! (the next customer), `closes`, `is away`, `is available`, `notes <text>`, `sends <file>
//! [caption]`, `sends template <name> | <parameter> | …`, `transfers to <department or
//! agent>`, `assigns to <agent>` (a supervisor) go through the desk's rules; a refusal is a
//! `desk:` line. `@agent closes` alone is a close from outside the desk. `@log` prints the
//! conversation log as agents read it (`log:` lines).
//!
//! After an intended change, `UPDATE_EXPECT=1 cargo test --test conversations` rewrites the
//! transcripts with what the bot now says; review the diff.

use atende::chat::{AgentStep, ChatSession};
use atende_shared::adapters::{ManualClock, MemoryAssistant};
use atende_shared::domain::AgentContent;
use atende_shared::domain::{Config, MediaKind, MessageContent};
use chrono::Duration;
use std::path::Path;
use std::sync::Arc;

enum Step {
    Say(String),
    Close,
    Agent(String, AgentStep),
    Log,
    Wait(Duration),
    At(chrono::DateTime<chrono::Utc>),
}

fn content(typed: &str) -> Option<MessageContent> {
    Some(match typed {
        "[image]" => MessageContent::Media {
            kind: MediaKind::Image,
            id: "1482902119483940".into(),
            mime_type: Some("image/jpeg".into()),
            caption: None,
        },
        "[location]" => MessageContent::Location {
            latitude: -23.56,
            longitude: -46.65,
            name: None,
            address: None,
        },
        "[reaction]" => MessageContent::Reaction {
            message_id: "wamid.out".into(),
            emoji: Some("👍".into()),
        },
        flow if flow.starts_with("[flow-reply ") => MessageContent::FlowReply {
            response_json: flow["[flow-reply ".len()..flow.len() - 1].to_owned(),
        },
        "[unsupported]" => MessageContent::Unsupported {
            message_type: "unsupported".into(),
            errors: Vec::new(),
        },
        _ => return None,
    })
}

fn duration(text: &str) -> Duration {
    let (n, unit) = text.split_at(text.len() - 1);
    let n: i64 = n.parse().unwrap_or_else(|_| panic!("bad @wait `{text}`"));
    match unit {
        "h" => Duration::hours(n),
        "m" => Duration::minutes(n),
        _ => panic!("bad @wait unit in `{text}`: use h or m"),
    }
}

/// Replays a transcript and returns it as it should read given what the bot said.
async fn replay(transcript: &str) -> String {
    let start = "2026-11-24T12:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(start));
    // `@config-append <file>` (relative to tests/fixtures/config) adds to the shipped file.
    let mut config_text = atende_shared::domain::config::EMBEDDED.to_owned();
    for line in transcript.lines() {
        if let Some(file) = line.strip_prefix("@config-append ") {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/config")
                .join(file.trim());
            config_text.push('\n');
            config_text.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
    let mut config = Config::from_toml(&config_text).expect("transcript configuration is valid");
    // `@timers inactivity off`: no follow-up and no closing for silence (to look at the
    // 24-hour window itself).
    if transcript
        .lines()
        .any(|l| l.trim() == "@timers inactivity off")
    {
        config.timers.inactivity_follow_up_minutes = 0;
        config.timers.inactivity_close_minutes = 0;
    }
    // `@assistant when <word> answers|hands-over <text>` and `@assistant otherwise <text>` give
    // the conversation a memory assistant with canned answers.
    let mut assistant: Option<MemoryAssistant> = None;
    for line in transcript.lines() {
        let Some(rule) = line.strip_prefix("@assistant ") else {
            continue;
        };
        let a = assistant.take().unwrap_or_default();
        assistant = Some(if let Some(text) = rule.strip_prefix("otherwise ") {
            a.otherwise(text, false)
        } else if let Some(rest) = rule.strip_prefix("when ") {
            let (word, rest) = rest.split_once(' ').expect("@assistant when <word> ...");
            if let Some(text) = rest.strip_prefix("answers ") {
                a.answer_when(word, text, false)
            } else if let Some(text) = rest.strip_prefix("hands-over ") {
                a.answer_when(word, text, true)
            } else {
                panic!("bad @assistant rule `{rule}`")
            }
        } else if rule.trim() == "fails" {
            a
        } else {
            panic!("bad @assistant rule `{rule}`")
        });
    }
    let failing = transcript.lines().any(|l| l.trim() == "@assistant fails");
    let assistant = assistant.map(|a| {
        a.set_failing(failing);
        Arc::new(a) as Arc<dyn atende_shared::ports::Assistant>
    });
    let mut chat = ChatSession::new(config, clock.clone(), Some("Maria".into()), assistant)
        .with_demo_agents()
        .await;
    let mut out = String::new();
    let mut steps = Vec::new();
    for line in transcript.lines() {
        if let Some(text) = line.strip_prefix("customer: ") {
            steps.push((line.to_owned(), Step::Say(text.to_owned())));
        } else if let Some(d) = line.strip_prefix("@wait ") {
            steps.push((line.to_owned(), Step::Wait(duration(d.trim()))));
        } else if line.trim() == "@agent closes" {
            steps.push((line.to_owned(), Step::Close));
        } else if let Some(rest) = line.strip_prefix("@agent ") {
            let (who, what) = rest.split_once(' ').expect("@agent <name> <what>");
            steps.push((
                line.to_owned(),
                Step::Agent(who.to_owned(), agent_step(what)),
            ));
        } else if let Some(rest) = line.strip_prefix("agent ") {
            let (who, text) = rest.split_once(": ").expect("agent <name>: <text>");
            let reply = AgentStep::Reply(AgentContent::Text {
                body: text.to_owned(),
            });
            steps.push((line.to_owned(), Step::Agent(who.to_owned(), reply)));
        } else if line.trim() == "@log" {
            steps.push((line.to_owned(), Step::Log));
        } else if let Some(t) = line.strip_prefix("@at ") {
            let at = t
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("bad @at `{t}`: use RFC 3339"));
            steps.push((line.to_owned(), Step::At(at)));
        } else if line.starts_with('#')
            || line.starts_with("@config-append ")
            || line.starts_with("@assistant ")
            || line.starts_with("@timers ")
        {
            // Comments stay where they are, before the next step.
            steps.push((line.to_owned(), Step::Wait(Duration::zero())));
        }
    }
    for (line, step) in steps {
        out.push_str(&line);
        out.push('\n');
        match step {
            Step::Wait(d) => {
                let to = chat.now() + d;
                out.push_str(&chat.advance_to(to).await.expect("processed"));
            }
            Step::At(at) => out.push_str(&chat.advance_to(at).await.expect("processed")),
            Step::Close => out.push_str(&chat.close().await.expect("processed")),
            Step::Agent(who, step) => {
                out.push_str(&chat.agent(&who, step).await.expect("processed"))
            }
            Step::Log => out.push_str(&chat.log().await),
            Step::Say(text) => {
                let answer = match content(&text) {
                    Some(c) => chat.send(c).await,
                    None => chat.say(&text).await,
                };
                out.push_str(&answer.expect("processed"));
            }
        }
    }
    out
}

/// What `@agent <name> …` asks of the desk.
fn agent_step(what: &str) -> AgentStep {
    if let Some(text) = what.strip_prefix("notes ") {
        return AgentStep::Note(text.to_owned());
    }
    let what = what.trim();
    match what {
        "claims" => return AgentStep::Claim,
        "closes" => return AgentStep::Close,
        "is away" => return AgentStep::Available(false),
        "is available" => return AgentStep::Available(true),
        _ => {}
    }
    if let Some(text) = what.strip_prefix("notes ") {
        AgentStep::Note(text.to_owned())
    } else if let Some(to) = what.strip_prefix("transfers to ") {
        AgentStep::Transfer(to.to_owned())
    } else if let Some(to) = what.strip_prefix("assigns to ") {
        AgentStep::Assign(to.to_owned())
    } else if let Some(rest) = what.strip_prefix("sends template ") {
        let mut parts = rest.split(" | ");
        let name = parts.next().unwrap_or_default().to_owned();
        AgentStep::Reply(AgentContent::Template {
            name,
            language: String::new(),
            parameters: parts.map(str::to_owned).collect(),
        })
    } else if let Some(rest) = what.strip_prefix("sends ") {
        match rest.split_once(' ') {
            Some((file, caption)) => AgentStep::file(file, Some(caption)),
            None => AgentStep::file(rest, None),
        }
    } else {
        panic!("bad @agent step `{what}`")
    }
}

fn significant(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect()
}

#[tokio::test]
async fn every_transcript_replays_exactly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conversations");
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no transcripts in {}", dir.display());
    let mut failures = Vec::new();
    for file in files {
        let want = std::fs::read_to_string(&file).unwrap();
        let got = replay(&want).await;
        if update {
            std::fs::write(&file, &got).unwrap();
        } else if significant(&got) != significant(&want) {
            failures.push(format!(
                "{}:\n--- want\n{want}\n--- got\n{got}",
                file.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

//! `AnthropicAssistant` over real HTTP against a local server standing in for Anthropic's
//! Messages API, alone and behind the processor: the request it makes, the handover tool, and
//! what happens when the API is overloaded.

mod support;

use atende_shared::adapters::retry::RetryPolicy;
use atende_shared::adapters::{
    AnthropicAssistant, ManualClock, MemoryAttendanceQueue, MemorySessionStore, MemoryTimers,
    MemoryWhatsApp,
};
use atende_shared::app::Processor;
use atende_shared::domain::{
    Config, CustomerId, EventKind, InboundMessage, MessageContent, Party, QueueEvent, Turn,
};
use atende_shared::ports::{Assistant, AssistantRequest, AttendanceQueue};
use atende_shared::secret::Secret;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use support::AnthropicStub;

const KEY: &str = "sk-ant-test-key";

fn assistant(stub: &AnthropicStub) -> AnthropicAssistant {
    let config = Config::embedded().unwrap();
    AnthropicAssistant::new(
        &stub.base_url,
        Secret::new(KEY).unwrap(),
        &config.assistant.handover_phrases,
    )
    .unwrap()
    .with_retry(RetryPolicy {
        base: Duration::from_millis(10),
        max_wait: Duration::from_millis(40),
        budget: Duration::from_secs(2),
        max_attempts: 3,
    })
}

fn turn(from: Party, text: &str) -> Turn {
    Turn {
        from,
        text: text.into(),
        at: "2026-11-24T12:00:00Z".parse().unwrap(),
    }
}

#[tokio::test]
async fn the_request_carries_the_prompt_the_history_and_the_handover_tool() {
    let stub = AnthropicStub::start().await;
    let history = [
        turn(Party::Bot, "Olá! 👋"),
        turn(Party::Customer, "oi"),
        turn(Party::Customer, "tudo bem?"),
        turn(Party::Bot, "Como posso ajudar?"),
    ];
    let reply = assistant(&stub)
        .answer(AssistantRequest {
            model: "claude-sonnet-4-5",
            max_tokens: 300,
            system_prompt: "Você é o assistente virtual.",
            history: &history,
            question: "qual o prazo de entrega?",
        })
        .await
        .unwrap();
    assert_eq!(reply.text, AnthropicStub::DEFAULT_ANSWER);
    assert!(!reply.wants_human);
    let request = &stub.requests()[0];
    assert_eq!(request.api_key.as_deref(), Some(KEY));
    assert_eq!(request.version.as_deref(), Some("2023-06-01"));
    let body = &request.body;
    assert_eq!(body["model"], "claude-sonnet-4-5");
    assert_eq!(body["max_tokens"], 300);
    assert_eq!(body["system"], "Você é o assistente virtual.");
    // The customer first; one side's consecutive lines joined; the question last.
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": "oi\ntudo bem?"},
            {"role": "assistant", "content": "Como posso ajudar?"},
            {"role": "user", "content": "qual o prazo de entrega?"}
        ])
    );
    assert_eq!(body["tools"][0]["name"], "transfer_to_human");
}

#[tokio::test]
async fn the_tool_or_the_words_hand_over() {
    let stub = AnthropicStub::start().await;
    stub.respond_next([
        AnthropicStub::tool_use("", "customer asked for a refund"),
        (
            200,
            json!({"content": [{"type": "text",
                   "text": "Não sei responder isso, vou transferir para um especialista."}],
                   "stop_reason": "end_turn"}),
        ),
    ]);
    let a = assistant(&stub);
    let ask = |q| AssistantRequest {
        model: "m",
        max_tokens: 10,
        system_prompt: "s",
        history: &[],
        question: q,
    };
    let by_tool = a.answer(ask("quero meu dinheiro de volta")).await.unwrap();
    assert!(
        by_tool.wants_human && by_tool.text.is_empty(),
        "{by_tool:?}"
    );
    let by_words = a.answer(ask("e o imposto?")).await.unwrap();
    assert!(by_words.wants_human, "{by_words:?}");
}

// ------------------------------------------------------------------ behind the processor

struct Rig {
    processor: Processor,
    whatsapp: Arc<MemoryWhatsApp>,
    attendance: Arc<MemoryAttendanceQueue>,
}

fn rig(stub: &AnthropicStub) -> Rig {
    let whatsapp = Arc::new(MemoryWhatsApp::new());
    let attendance = Arc::new(MemoryAttendanceQueue::new());
    let processor = Processor::new(
        Arc::new(MemorySessionStore::new()),
        attendance.clone(),
        whatsapp.clone(),
        Arc::new(MemoryTimers::new()),
        Arc::new(ManualClock::new("2026-11-24T12:00:00Z".parse().unwrap())),
        Arc::new(Config::embedded().unwrap()),
    )
    .with_assistant(Arc::new(assistant(stub)));
    Rig {
        processor,
        whatsapp,
        attendance,
    }
}

fn says(n: usize, body: &str) -> QueueEvent {
    QueueEvent {
        also: None,
        id: format!("wamid.A{n}"),
        customer: Some(CustomerId::Phone("5511".into())),
        business_number: Some("106540352242922".into()),
        kind: EventKind::Message(InboundMessage {
            id: format!("wamid.A{n}"),
            sent_at: None,
            profile_name: None,
            content: MessageContent::Text { body: body.into() },
        }),
    }
}

/// The texts sent after the menu (greeting and menu left out).
async fn conversation(rig: &Rig, free_text: &str) -> Vec<String> {
    rig.processor.handle(&says(1, "oi")).await.unwrap();
    rig.processor.handle(&says(2, free_text)).await.unwrap();
    rig.whatsapp.texts().into_iter().skip(1).collect()
}

#[tokio::test]
async fn free_text_is_answered_by_the_assistant() {
    let stub = AnthropicStub::start().await;
    let rig = rig(&stub);
    let said = conversation(&rig, "qual o prazo de entrega?").await;
    assert_eq!(said, [AnthropicStub::DEFAULT_ANSWER]);
    assert!(
        rig.attendance
            .waiting("2026-11-24T12:00:00Z".parse().unwrap())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_transfer_to_human_call_queues_the_customer() {
    let stub = AnthropicStub::start().await;
    stub.respond_next([AnthropicStub::tool_use("", "customer is upset")]);
    let rig = rig(&stub);
    let said = conversation(&rig, "isso é um absurdo, quero resolver agora").await;
    assert_eq!(said.len(), 2, "{said:?}");
    assert!(said[0].starts_with("Entendi! Vou transferir"), "{said:?}");
    assert!(said[1].contains("posição 1"), "{said:?}");
    let waiting = rig
        .attendance
        .waiting("2026-11-24T12:00:00Z".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].customer, CustomerId::Phone("5511".into()));
}

#[tokio::test]
async fn an_overloaded_api_gets_an_apology_and_a_person() {
    let stub = AnthropicStub::start().await;
    stub.respond_next((0..5).map(|_| AnthropicStub::overloaded()));
    let rig = rig(&stub);
    let said = conversation(&rig, "qual o prazo de entrega?").await;
    assert_eq!(stub.requests().len(), 3, "three attempts, then a person");
    assert_eq!(said.len(), 3, "{said:?}");
    assert_eq!(said[0], "Desculpe, não consegui responder agora.");
    assert!(said[1].starts_with("Entendi! Vou transferir"), "{said:?}");
    assert!(said[2].contains("posição 1"), "{said:?}");
    assert_eq!(
        rig.attendance
            .waiting("2026-11-24T12:00:00Z".parse().unwrap())
            .await
            .unwrap()
            .len(),
        1
    );
}

/// Item 7: each call's own timeout counts in the assistant's budget. An API that takes the
/// connection and never answers: the first call waits its whole timeout (1 s), the retry only
/// what the budget (1.5 s) has left, so the question ends within the budget, not after two
/// full timeouts. On a paused clock: virtual time, the same on any machine.
#[tokio::test(start_paused = true)]
async fn one_record_cannot_outlive_the_invocation_the_assistant_ends_within_its_budget() {
    // The kernel completes the handshake for a listener that never accepts; the request is
    // written and no answer ever comes.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base_url = format!("http://{}", silent.local_addr().unwrap());
    let config = Config::embedded().unwrap();
    let assistant = AnthropicAssistant::new(
        &base_url,
        Secret::new(KEY).unwrap(),
        &config.assistant.handover_phrases,
    )
    .unwrap()
    .with_timeout(Duration::from_secs(1))
    .unwrap()
    .with_retry(RetryPolicy {
        base: Duration::from_millis(10),
        max_wait: Duration::from_millis(40),
        budget: Duration::from_millis(1500),
        max_attempts: 3,
    });
    let started = tokio::time::Instant::now();
    let answer = assistant
        .answer(AssistantRequest {
            model: "claude-sonnet-4-5",
            max_tokens: 300,
            system_prompt: "Você é um assistente.",
            history: &[],
            question: "qual o horário?",
        })
        .await;
    let took = started.elapsed();
    assert!(answer.is_err(), "{answer:?}");
    assert!(
        took <= Duration::from_millis(1550),
        "the assistant took {took:?} with a budget of 1.5 s"
    );
    drop(silent);
}

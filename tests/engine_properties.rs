//! Properties of the conversation engine over arbitrary conversations: whatever a customer
//! sends, in any order and at any time, and whenever its timers go off, the engine never
//! panics, marks every message read, and every message it builds is within WhatsApp's limits;
//! timers never open the customer's window and never speak outside it.

use atende_shared::domain::engine::{Input, step};
use atende_shared::domain::{
    Command, Config, CustomerId, InboundMessage, MediaKind, MessageContent, Session, State,
    TimerFired,
};
use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;

/// What a customer may send: the menu's and flows' ids and words, trigger words, documents,
/// numbers, noise, and every other message type.
fn content() -> impl Strategy<Value = MessageContent> {
    let words = prop::sample::select(vec![
        "oi",
        "menu",
        "1",
        "2",
        "3",
        "4",
        "9",
        "0",
        "-1",
        "suporte",
        "VENDAS",
        "financeiro",
        "informações",
        "Confirmar pedido",
        "voltar ao menu",
        "atendente",
        "quero falar com gerente",
        "desumano",
        "529.982.247-25",
        "11.222.333/0001-81",
        "123.456.789-00",
        "plano família",
        "",
        "   ",
        "🙂",
        "sem anexo",
    ]);
    let ids = prop::sample::select(vec![
        "btn_suporte",
        "btn_vendas",
        "btn_financeiro",
        "btn_info",
        "plano_basico",
        "plano_empresa",
        "sales_confirm",
        "sales_back",
        "support_no_attachment",
        "nada",
    ]);
    prop_oneof![
        4 => words.prop_map(|w| MessageContent::Text { body: w.to_owned() }),
        2 => ".{0,300}".prop_map(|body| MessageContent::Text { body }),
        2 => ids.clone().prop_map(|id| MessageContent::ButtonReply { id: id.to_owned(), title: "x".into() }),
        1 => ids.prop_map(|id| MessageContent::ListReply { id: id.to_owned(), title: "x".into(), description: None }),
        1 => proptest::option::of(".{0,50}").prop_map(|caption| MessageContent::Media {
            kind: MediaKind::Image, id: "1482902119483940".into(), mime_type: None, caption,
        }),
        1 => Just(MessageContent::Location { latitude: -23.5, longitude: -46.6, name: None, address: None }),
        1 => proptest::option::of(Just("👍".to_owned())).prop_map(|emoji| MessageContent::Reaction {
            message_id: "wamid.out".into(), emoji,
        }),
        1 => Just(MessageContent::Unsupported { message_type: "sticker".into(), errors: vec![] }),
        1 => ".{0,80}".prop_map(|response_json| MessageContent::FlowReply { response_json }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn any_conversation_is_safe_and_sendable(
        steps in prop::collection::vec((proptest::option::weighted(0.9, content()), 0i64..(30 * 3600)), 1..40),
        vip in any::<bool>(),
        assistant in any::<bool>(),
        answer in ".{0,600}",
    ) {
        let mut text = atende_shared::domain::config::EMBEDDED.to_owned();
        if vip {
            text = text.replacen("vip_numbers = []", "vip_numbers = [\"5511999990000\"]", 1);
        }
        let mut config = Config::from_toml(&text).unwrap();
        config.assistant_available = assistant;
        let mut now: DateTime<Utc> = "2026-11-24T12:00:00Z".parse().unwrap();
        let mut session = Session::new(CustomerId::Phone("5511999990000".into()), now);
        for (i, (content, seconds)) in steps.into_iter().enumerate() {
            now += Duration::seconds(seconds);
            // The timers due meanwhile go off first, on time and in order, as scheduled.
            let mut fired = 0;
            while let Some((timer, due)) = session
                .timers
                .iter()
                .map(|(k, d)| (*k, *d))
                .filter(|(_, d)| *d <= now)
                .min_by_key(|(_, d)| *d)
            {
                fired += 1;
                prop_assert!(fired < 1000, "timers keep firing");
                let last_inbound = session.last_inbound_at;
                let open = !session.is_expired(due);
                let (next, commands) = step(session, Input::Timer(TimerFired { timer, due }), due, &config);
                session = next;
                prop_assert_eq!(session.last_inbound_at, last_inbound, "a timer is not the customer");
                prop_assert!(session.timers.get(&timer).is_none_or(|d| *d > due), "{:?} re-armed in the past", timer);
                for c in &commands {
                    match c {
                        Command::MarkRead { .. } => prop_assert!(false, "a timer marked something read"),
                        Command::Send { message, .. } => {
                            prop_assert!(open, "{:?} spoke outside the window", timer);
                            prop_assert!(message.check_limits().is_ok(), "{:?}", message);
                        }
                        Command::CheckQueue { department, at } => {
                            let position = (i % 3 != 0).then_some(1 + i % 4);
                            let (next, more) = step(session, Input::QueueChecked { department, position, at: *at }, due, &config);
                            session = next;
                            for m in &more {
                                if let Command::Send { message, .. } = m {
                                    prop_assert!(message.check_limits().is_ok(), "{:?}", message);
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            // None: the agent closes the conversation.
            let Some(content) = content else {
                let (next, commands) = step(session, Input::Closed, now, &config);
                session = next;
                for c in &commands {
                    if let Command::Send { message, .. } = c {
                        prop_assert!(message.check_limits().is_ok(), "{:?}", message);
                    }
                }
                continue;
            };
            let message = InboundMessage {
                id: format!("wamid.{i}"),
                sent_at: None,
                profile_name: Some("Maria".into()),
                content,
            };
            let (next, commands) = step(session, Input::Message(&message), now, &config);
            session = next;
            prop_assert_eq!(
                commands.first(),
                Some(&Command::MarkRead {
                    message_id: message.id.clone(),
                    typing: commands
                        .iter()
                        .any(|c| matches!(c, Command::Send { .. } | Command::AskAssistant { .. })),
                })
            );
            let mut all = commands.clone();
            for c in &commands {
                if let Command::AskAssistant { history, .. } = c {
                    prop_assert!(assistant, "asked an assistant that is not there");
                    prop_assert!(history.len() <= config.assistant.history_turns);
                    let input = if i % 5 == 0 {
                        Input::AssistantFailed
                    } else {
                        Input::AssistantAnswer { text: &answer, wants_human: i % 3 == 0 }
                    };
                    let (next, more) = step(session, input, now, &config);
                    session = next;
                    for m in &more {
                        if let Command::EnqueueForHuman { department, .. } = m {
                            let (next, queued) = step(session, Input::Queued { department, position: 1 }, now, &config);
                            session = next;
                            all.extend(queued);
                        }
                    }
                    all.extend(more);
                }
                if let Command::EnqueueForHuman { department, .. } = c {
                    let human = matches!(session.state, State::Human { .. });
                    prop_assert!(human, "queued outside the human state");
                    let (next, more) = step(
                        session,
                        Input::Queued { department, position: i + 1 },
                        now,
                        &config,
                    );
                    session = next;
                    all.extend(more);
                }
            }
            for c in &all {
                if let Command::Send { message, .. } = c {
                    prop_assert!(message.check_limits().is_ok(), "{:?}: {:?}", message.check_limits(), message);
                }
            }
            prop_assert!(session.history.len() <= atende_shared::domain::session::HISTORY_TURNS);
        }
    }
}

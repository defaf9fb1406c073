//! One step of the conversation engine, pure: a menu choice typed by title in the main menu,
//! and the first message of a conversation (greeting and menu built from the configuration).
//!
//! `cargo bench -p atende-shared --bench engine`

use atende_shared::domain::engine::{Input, step};
use atende_shared::domain::{Config, CustomerId, InboundMessage, MessageContent, Session, State};
use chrono::{DateTime, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let config = Config::embedded().unwrap();
    let now: DateTime<Utc> = "2026-11-24T15:00:00Z".parse().unwrap();
    let customer = CustomerId::Phone("5511987654321".into());
    let message = |body: &str| InboundMessage {
        id: "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjBDMDk4NkE3RDJGMUU4NDEwAA==".into(),
        sent_at: Some(now),
        profile_name: Some("Maria Silva".into()),
        content: MessageContent::Text { body: body.into() },
    };
    let mut in_menu = Session::new(customer.clone(), now);
    in_menu.state = State::MainMenu;
    let fresh = Session::new(customer, now);
    let choice = message("Informações");
    let hello = message("oi");
    let mut group = c.benchmark_group("engine_step");
    group.bench_function("menu_choice_by_title", |b| {
        b.iter(|| {
            step(
                black_box(in_menu.clone()),
                Input::Message(black_box(&choice)),
                now,
                &config,
            )
        })
    });
    group.bench_function("first_message", |b| {
        b.iter(|| {
            step(
                black_box(fresh.clone()),
                Input::Message(black_box(&hello)),
                now,
                &config,
            )
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! The webhook's hot path: verify Meta's signature over the raw bytes, then split the payload
//! into queue events. Two shapes: one customer message (~2 KB, the common case) and a batch
//! of 100 events (messages and statuses across entries and changes).
//!
//! `cargo bench -p atende-shared --bench webhook`

use atende_shared::webhook::signature::sign;
use atende_shared::webhook::{split, verify_signature};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use std::hint::black_box;

const SECRET: &[u8] = b"bench-app-secret";

fn message(n: usize) -> Value {
    json!({
        "context": {"from": "551130000000", "id": "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjQyMDdBQjE5RDM4QjQyNTg5RQA="},
        "from": format!("55119876{n:05}"),
        "id": format!("wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjBDMDk4NkE3RDJGMUU4{n:06}AA=="),
        "timestamp": "1795521600",
        "type": "text",
        "text": {"body": "Olá! Gostaria de saber o status do meu pedido número 12345, feito ontem à tarde pelo site. Obrigada!"}
    })
}

/// A message from a click-to-WhatsApp ad: the same message with Meta's `referral` block, which
/// brings a real payload to about 2 KB.
fn message_from_ad(n: usize) -> Value {
    let mut m = message(n);
    m["referral"] = json!({
        "source_url": "https://fb.me/3cr4Wqqkv",
        "source_id": "120212345678901234",
        "source_type": "ad",
        "headline": "Promoção de Black Friday: até 50% de desconto em toda a loja",
        "body": "Fale com a gente pelo WhatsApp e garanta seu cupom exclusivo. Atendimento de segunda a sábado, entrega para todo o Brasil.",
        "media_type": "image",
        "image_url": "https://scontent.xx.fbcdn.net/v/t45.1600-4/123456789_120212345678901234_1234567890123456789_n.png?stp=dst-jpg&_nc_cat=1&ccb=1-7&_nc_sid=5f2048&_nc_ohc=AbCdEfGhIjKlMnOp&_nc_ht=scontent.xx&oh=00_AfD1234567890abcdef&oe=67654321",
        "ctwa_clid": "ARAkLkA8rmlFeiCktEJQ-QTwRiyYHAFDLMNDBH0CD3qpjd0HR4irJ6LEkR7JwFF4XvnO2E4Nx0-eM-ZABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    });
    m
}

fn status(n: usize, s: &str) -> Value {
    json!({
        "id": format!("wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjQyMDdBQjE5RDM4{n:06}AA=="),
        "status": s,
        "timestamp": "1795521605",
        "recipient_id": format!("55119876{n:05}"),
        "conversation": {"id": "b1f3a8c2d4e5f60718293a4b5c6d7e8f", "expiration_timestamp": "1795608000", "origin": {"type": "service"}},
        "pricing": {"billable": false, "pricing_model": "PMP", "category": "service", "type": "free_customer_service"}
    })
}

fn value(messages: Vec<Value>, statuses: Vec<Value>) -> Value {
    let contacts: Vec<Value> = messages
        .iter()
        .map(|m| json!({"profile": {"name": "Maria Conceição da Silva"}, "wa_id": m["from"]}))
        .collect();
    json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "551130000000", "phone_number_id": "106540352242922"},
        "contacts": contacts,
        "messages": messages,
        "statuses": statuses,
    })
}

fn payload(changes: Vec<Value>) -> Vec<u8> {
    let changes: Vec<Value> = changes
        .into_iter()
        .map(|v| json!({"value": v, "field": "messages"}))
        .collect();
    // Meta escapes non-ASCII: serialize, then escape like Meta does.
    let text = serde_json::to_string(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": changes}]
    }))
    .unwrap();
    let mut escaped = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        match c {
            '/' => escaped.push_str("\\/"),
            c if c.is_ascii() => escaped.push(c),
            c => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    escaped.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    escaped.into_bytes()
}

fn bench(c: &mut Criterion) {
    let one = payload(vec![value(vec![message_from_ad(1)], vec![])]);
    // 100 events: 40 messages and 60 statuses over 10 changes.
    let batch = payload(
        (0..10)
            .map(|change| {
                let base = change * 10;
                value(
                    (0..4).map(|i| message(base + i)).collect(),
                    (0..6)
                        .map(|i| status(base + i, ["sent", "delivered", "read"][i % 3]))
                        .collect(),
                )
            })
            .collect(),
    );
    assert_eq!(split(&batch).unwrap().events.len(), 100);
    let mut group = c.benchmark_group("webhook_verify_and_split");
    for (name, body) in [("1_message", &one), ("100_events", &batch)] {
        let header = sign(SECRET, body);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), body, |b, body| {
            b.iter(|| {
                verify_signature(SECRET, Some(black_box(&header)), black_box(body)).unwrap();
                split(black_box(body)).unwrap()
            })
        });
    }
    group.finish();
    eprintln!(
        "payload sizes: 1_message = {} bytes, 100_events = {} bytes",
        one.len(),
        batch.len()
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! The SLA checker with a controlled clock: a customer waiting in a line raises exactly one
//! warning and then exactly one breach, delivered to the staff's channel, however often the
//! checker runs, on every adapter of the attendance queue.

use atende_shared::adapters::aws::{self, resources};
use atende_shared::adapters::{
    DynamoDbAttendanceQueue, ManualClock, MemoryAttendanceQueue, MemoryNotifications,
};
use atende_shared::app::{SlaChecker, Staff};
use atende_shared::domain::sla::{Priority, SlaLevel, WaitingCustomer};
use atende_shared::domain::{Config, CustomerId};
use atende_shared::ports::{AttendanceQueue, Clock};
use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;

fn t0() -> DateTime<Utc> {
    "2026-11-24T15:00:00Z".parse().unwrap()
}

/// Runs the checker every 30 seconds for 10 minutes (twice at a time, as two overlapping
/// invocations would) and returns the alerts as (minute, level), and the texts the staff got.
async fn alerts_over_ten_minutes(
    queue: Arc<dyn AttendanceQueue>,
) -> (Vec<(i64, SlaLevel)>, Vec<String>) {
    let clock = Arc::new(ManualClock::new(t0()));
    let config = Arc::new(Config::embedded().unwrap());
    let channel = Arc::new(MemoryNotifications::new());
    let staff = Staff::new().with("memory", channel.clone());
    let checker =
        SlaChecker::new(queue.clone(), clock.clone(), config.clone()).with_staff(staff.clone());
    let twin = SlaChecker::new(queue.clone(), clock.clone(), config).with_staff(staff);
    // vendas: warning after 3 minutes of waiting, breach after 5.
    queue
        .enqueue(WaitingCustomer {
            customer: CustomerId::Phone("5511988887777".into()),
            department: "vendas".into(),
            priority: Priority::Normal,
            entered_at: t0(),
        })
        .await
        .unwrap();
    let mut alerts = Vec::new();
    for _ in 0..=20 {
        let (a, b) = tokio::join!(checker.run(), twin.run());
        let minute = (clock.now() - t0()).num_minutes();
        for report in [a.unwrap(), b.unwrap()] {
            alerts.extend(report.alerts.iter().map(|f| (minute, f.level)));
        }
        clock.advance(Duration::seconds(30));
    }
    let texts = channel.notices().into_iter().map(|n| n.text).collect();
    (alerts, texts)
}

fn expected_texts() -> Vec<String> {
    vec![
        "⚠️ 5511988887777 espera há 3 min na fila de Vendas (alerta em 3 min).".to_owned(),
        "🚨 SLA estourado: 5511988887777 espera há 5 min na fila de Vendas (máximo 5 min)."
            .to_owned(),
    ]
}

#[tokio::test]
async fn one_warning_then_one_breach_on_memory() {
    let (alerts, texts) = alerts_over_ten_minutes(Arc::new(MemoryAttendanceQueue::new())).await;
    assert_eq!(alerts, [(3, SlaLevel::Warning), (5, SlaLevel::Breach)]);
    assert_eq!(texts, expected_texts());
}

#[tokio::test]
#[ignore = "needs an AWS emulator: run `bash tests/run`"]
async fn one_warning_then_one_breach_on_dynamodb() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("bash tests/run sets AWS_ENDPOINT_URL");
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
    let sdk = aws::sdk_config().await;
    let client = aws::dynamodb(&sdk);
    let table = format!(
        "sla-{}-{}",
        std::process::id(),
        Utc::now().timestamp_micros()
    );
    resources::create_attendance_table(&client, &table)
        .await
        .unwrap();
    let (alerts, texts) =
        alerts_over_ten_minutes(Arc::new(DynamoDbAttendanceQueue::new(client, table))).await;
    assert_eq!(alerts, [(3, SlaLevel::Warning), (5, SlaLevel::Breach)]);
    assert_eq!(texts, expected_texts());
}

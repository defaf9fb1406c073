//! The SLA checker with a controlled clock: a customer waiting in a line raises exactly one
//! warning and then exactly one breach, and a customer waiting for the answer of the agent who
//! holds them one alert per wait, delivered to the staff's channel, however often the checker
//! runs, on every adapter.

use atende_shared::adapters::aws::{self, resources};
use atende_shared::adapters::{
    DynamoDbAgents, DynamoDbAttendanceQueue, DynamoDbSessionStore, ManualClock, MemoryAgents,
    MemoryAttendanceQueue, MemoryNotifications, MemorySessionStore,
};
use atende_shared::app::{SlaChecker, Staff};
use atende_shared::domain::agent::AgentProfile;
use atende_shared::domain::sla::{Priority, SlaLevel, WaitingCustomer};
use atende_shared::domain::{AgentRef, Config, CustomerId, Session, SessionRecord, State};
use atende_shared::ports::{Agents, AttendanceQueue, Clock, SessionStore};
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
            expires_at: None,
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

/// After the claim: Ana holds Maria, who wrote at t0 and waits for Ana's answer (Suporte
/// alerts after 5 minutes). Checked every minute, twice at a time: one alert at minute 5, none
/// after; Ana answers, Maria writes again at minute 10: one more alert at minute 15. Returns
/// (minute, text) of each alert.
async fn reply_alerts(
    queue: Arc<dyn AttendanceQueue>,
    agents: Arc<dyn Agents>,
    sessions: Arc<dyn SessionStore>,
) -> Vec<(i64, String)> {
    let clock = Arc::new(ManualClock::new(t0()));
    let config = Arc::new(Config::embedded().unwrap());
    let channel = Arc::new(MemoryNotifications::new());
    let staff = Staff::new().with("memory", channel.clone());
    let checker = |()| {
        SlaChecker::new(queue.clone(), clock.clone(), config.clone())
            .with_staff(staff.clone())
            .with_desk(agents.clone(), sessions.clone())
    };
    let (one, two) = (checker(()), checker(()));
    let maria = CustomerId::Phone("5511988887777".into());
    let ana = AgentRef {
        id: "ana".into(),
        name: "Ana".into(),
    };
    agents
        .put_profile(&AgentProfile {
            id: "ana".into(),
            email: "ana@example.com".into(),
            name: "Ana".into(),
            departments: vec!["suporte".into()],
            capacity: None,
            supervisor: false,
        })
        .await
        .unwrap();
    agents
        .set_presence("ana", atende_shared::domain::agent::Presence::Available)
        .await
        .unwrap();
    agents.reserve("ana", &maria, 3).await.unwrap();
    let waiting_since = |since: Option<DateTime<Utc>>| {
        let mut session = Session::new(maria.clone(), t0() - Duration::minutes(20));
        session.last_inbound_at = since.unwrap_or(t0());
        session.state = State::Human {
            department: "suporte".into(),
            since: t0() - Duration::minutes(20),
            told_position: None,
            agent: Some(ana.clone()),
            awaiting_reply_since: since,
        };
        session
    };
    let mut record = SessionRecord::new(waiting_since(Some(t0())));
    record.version = sessions.save(&record, t0()).await.unwrap();
    let mut alerts = Vec::new();
    for minute in 0..=20 {
        clock.set(t0() + Duration::minutes(minute));
        match minute {
            // Ana answers.
            7 => record.session = waiting_since(None),
            // Maria writes again.
            10 => record.session = waiting_since(Some(clock.now())),
            _ => {}
        }
        if minute == 7 || minute == 10 {
            record.version = sessions.save(&record, clock.now()).await.unwrap();
        }
        let seen = channel.notices().len();
        let (a, b) = tokio::join!(one.run(), two.run());
        assert_eq!(
            a.unwrap().reply_alerts + b.unwrap().reply_alerts,
            channel.notices().len() - seen
        );
        for notice in channel.notices().into_iter().skip(seen) {
            alerts.push((minute, notice.text));
        }
    }
    alerts
}

fn expected_reply_alerts() -> Vec<(i64, String)> {
    let text =
        "⏳ 5511988887777 espera há 5 min a resposta de Ana em Suporte Técnico (alerta em 5 min).";
    vec![(5, text.to_owned()), (15, text.to_owned())]
}

#[tokio::test]
async fn a_customer_waiting_for_the_agents_answer_is_announced_once_per_wait_on_memory() {
    let alerts = reply_alerts(
        Arc::new(MemoryAttendanceQueue::new()),
        Arc::new(MemoryAgents::new()),
        Arc::new(MemorySessionStore::new()),
    )
    .await;
    assert_eq!(alerts, expected_reply_alerts());
}

#[tokio::test]
#[ignore = "needs an AWS emulator: run `bash tests/run`"]
async fn a_customer_waiting_for_the_agents_answer_is_announced_once_per_wait_on_dynamodb() {
    let sdk = aws::sdk_config().await;
    let client = aws::dynamodb(&sdk);
    let suffix = format!("{}-{}", std::process::id(), Utc::now().timestamp_micros());
    let (attendance, agents, sessions) = (
        format!("reply-attendance-{suffix}"),
        format!("reply-agents-{suffix}"),
        format!("reply-sessions-{suffix}"),
    );
    resources::create_attendance_table(&client, &attendance)
        .await
        .unwrap();
    resources::create_agents_table(&client, &agents)
        .await
        .unwrap();
    resources::create_sessions_table(&client, &sessions)
        .await
        .unwrap();
    let alerts = reply_alerts(
        Arc::new(DynamoDbAttendanceQueue::new(client.clone(), attendance)),
        Arc::new(DynamoDbAgents::new(client.clone(), agents)),
        Arc::new(DynamoDbSessionStore::new(client, sessions)),
    )
    .await;
    assert_eq!(alerts, expected_reply_alerts());
}

/// A staff channel that refuses the first `refusals` notices, and hangs (announcing it on
/// `entered`) while `hang` is set; then takes them, like the memory channel.
struct Unreliable {
    refusals: std::sync::atomic::AtomicUsize,
    hang: std::sync::atomic::AtomicBool,
    entered: tokio::sync::Notify,
    inner: MemoryNotifications,
}

#[async_trait::async_trait]
impl atende_shared::ports::Notifications for Unreliable {
    async fn notify(
        &self,
        notice: &atende_shared::domain::notice::Notice,
        from: Option<&str>,
    ) -> Result<(), atende_shared::ports::NotifyError> {
        use std::sync::atomic::Ordering::SeqCst;
        if self.hang.load(SeqCst) {
            self.entered.notify_one();
            std::future::pending::<()>().await;
        }
        if self
            .refusals
            .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(atende_shared::ports::NotifyError::Failed(
                "HTTP 503 (injected)".into(),
            ));
        }
        self.inner.notify(notice, from).await
    }
}

/// Item 13: SLA alerts are marked as sent only once delivered. A channel that refuses the
/// warning: the next run sends it. A checker stopped while it delivers the breach (a timed-out
/// function): an overlapping run does not send it twice, and once the stopped run's claim
/// ends a later run sends it. Each alert reaches the staff once.
async fn sla_alerts_are_marked_as_sent_only_once_delivered(queue: Arc<dyn AttendanceQueue>) {
    use std::sync::atomic::Ordering::SeqCst;
    let clock = Arc::new(ManualClock::new(t0()));
    let channel = Arc::new(Unreliable {
        refusals: 1.into(),
        hang: false.into(),
        entered: tokio::sync::Notify::new(),
        inner: MemoryNotifications::new(),
    });
    let checker = SlaChecker::new(
        queue.clone(),
        clock.clone(),
        Arc::new(Config::embedded().unwrap()),
    )
    .with_staff(Staff::new().with("unreliable", channel.clone()));
    queue
        .enqueue(WaitingCustomer {
            customer: CustomerId::Phone("5511988887777".into()),
            department: "vendas".into(),
            priority: Priority::Normal,
            entered_at: t0(),
            expires_at: None,
        })
        .await
        .unwrap();
    let texts = || -> Vec<String> {
        channel
            .inner
            .notices()
            .into_iter()
            .map(|n| n.text)
            .collect()
    };
    // Minute 3: the warning is refused, so not marked; 30 s later it goes.
    clock.advance(Duration::minutes(3));
    assert!(checker.run().await.unwrap().alerts.is_empty());
    assert!(texts().is_empty());
    clock.advance(Duration::seconds(30));
    assert_eq!(checker.run().await.unwrap().alerts.len(), 1);
    assert_eq!(texts(), expected_texts()[..1]);
    // Minute 5: the checker is stopped while the channel holds the breach.
    clock.advance(Duration::seconds(90));
    channel.hang.store(true, SeqCst);
    tokio::select! {
        _ = checker.run() => panic!("the channel hangs"),
        () = channel.entered.notified() => {}
    }
    channel.hang.store(false, SeqCst);
    // A run a moment later finds it claimed: no second breach in flight.
    clock.advance(Duration::seconds(30));
    assert!(checker.run().await.unwrap().alerts.is_empty());
    // Once the stopped run's claim has ended, the breach goes.
    clock.advance(Duration::minutes(2));
    assert_eq!(checker.run().await.unwrap().alerts.len(), 1);
    clock.advance(Duration::minutes(1));
    assert!(checker.run().await.unwrap().alerts.is_empty());
    assert_eq!(
        texts(),
        [
            expected_texts()[0].clone(),
            "🚨 SLA estourado: 5511988887777 espera há 7 min na fila de Vendas (máximo 5 min)."
                .to_owned()
        ]
    );
}

#[tokio::test]
async fn sla_alerts_are_marked_as_sent_only_once_delivered_on_memory() {
    sla_alerts_are_marked_as_sent_only_once_delivered(Arc::new(MemoryAttendanceQueue::new())).await;
}

#[tokio::test]
#[ignore = "needs an AWS emulator: run `bash tests/run`"]
async fn sla_alerts_are_marked_as_sent_only_once_delivered_on_dynamodb() {
    let sdk = aws::sdk_config().await;
    let client = aws::dynamodb(&sdk);
    let table = format!(
        "sla-sent-{}-{}",
        std::process::id(),
        Utc::now().timestamp_micros()
    );
    resources::create_attendance_table(&client, &table)
        .await
        .unwrap();
    sla_alerts_are_marked_as_sent_only_once_delivered(Arc::new(DynamoDbAttendanceQueue::new(
        client, table,
    )))
    .await;
}

//! Business metrics. `EmfMetrics` writes each as a CloudWatch Embedded Metric Format line on
//! standard output, which Lambda ships to CloudWatch Logs and CloudWatch turns into metrics
//! (namespace `Atende`): no API call, no extra permission. `MemoryMetrics` keeps them for tests.

use serde_json::{Map, Value, json};
use std::io::Write;
use std::sync::{Mutex, PoisonError};

/// The CloudWatch namespace of atende's metrics.
pub const NAMESPACE: &str = "Atende";

/// What is counted or timed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Metric {
    /// A customer message applied (not a redelivery).
    MessagesIn,
    /// A message delivered to the Graph API.
    RepliesOut,
    /// A customer handed to a department.
    Escalations {
        department: String,
    },
    SlaWarnings {
        department: String,
    },
    /// A held conversation's customer waited past `reply_alert_minutes` for the agent.
    ReplyOverdue {
        department: String,
    },
    SlaBreaches {
        department: String,
    },
    /// A send or read receipt the Graph API refused or did not answer, by `error.code`
    /// (`none` without one: no connection, a timeout).
    GraphApiErrors {
        code: String,
    },
    /// How long the assistant took to answer (or fail), in milliseconds.
    AssistantLatency {
        millis: u64,
    },
    AssistantFailures,
    /// A send the business account could not make at all (`Failure::Account`: token,
    /// permissions, payment, block): every customer's replies wait until someone fixes it.
    AccountFailures,
    /// A timer the scheduler refused: it stays pending and is tried again at the customer's
    /// next event.
    TimersDeferred,
    /// A reply that kept failing for itself, given up so that the customer's rest goes on.
    RepliesSetAside,
}

impl Metric {
    /// Name, unit, value and dimensions (besides `Service`).
    fn parts(&self) -> (&'static str, &'static str, u64, Vec<(&'static str, &str)>) {
        match self {
            Self::MessagesIn => ("MessagesIn", "Count", 1, vec![]),
            Self::RepliesOut => ("RepliesOut", "Count", 1, vec![]),
            Self::Escalations { department } => {
                ("Escalations", "Count", 1, vec![("Department", department)])
            }
            Self::SlaWarnings { department } => {
                ("SlaWarnings", "Count", 1, vec![("Department", department)])
            }
            Self::ReplyOverdue { department } => {
                ("ReplyOverdue", "Count", 1, vec![("Department", department)])
            }
            Self::SlaBreaches { department } => {
                ("SlaBreaches", "Count", 1, vec![("Department", department)])
            }
            Self::GraphApiErrors { code } => ("GraphApiErrors", "Count", 1, vec![("Code", code)]),
            Self::AssistantLatency { millis } => {
                ("AssistantLatency", "Milliseconds", *millis, vec![])
            }
            Self::AssistantFailures => ("AssistantFailures", "Count", 1, vec![]),
            Self::AccountFailures => ("AccountFailures", "Count", 1, vec![]),
            Self::TimersDeferred => ("TimersDeferred", "Count", 1, vec![]),
            Self::RepliesSetAside => ("RepliesSetAside", "Count", 1, vec![]),
        }
    }
}

/// Where metrics go.
pub trait Metrics: Send + Sync {
    fn record(&self, metric: Metric);
}

/// One EMF document for `metric`, as CloudWatch's specification wants it: the metric's
/// definition under `_aws`, its value and dimensions as top-level members. A metric with a
/// dimension of its own (department, error code) is also published per service alone, so
/// that an alarm can watch the total.
pub fn emf_line(service: &str, metric: &Metric, timestamp_millis: i64) -> String {
    let (name, unit, value, dimensions) = metric.parts();
    let mut keys = vec!["Service"];
    keys.extend(dimensions.iter().map(|(k, _)| *k));
    let mut sets = vec![keys];
    if !dimensions.is_empty() {
        sets.push(vec!["Service"]);
    }
    let mut document = Map::new();
    document.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_millis,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": sets,
                "Metrics": [{ "Name": name, "Unit": unit }],
            }],
        }),
    );
    document.insert("Service".into(), json!(service));
    for (k, v) in dimensions {
        document.insert(k.into(), json!(v));
    }
    document.insert(name.into(), json!(value));
    Value::Object(document).to_string()
}

/// EMF lines on a writer (standard output in Lambda), one per metric.
pub struct EmfMetrics {
    service: &'static str,
    out: Mutex<Box<dyn Write + Send>>,
}

impl EmfMetrics {
    /// On standard output, for Lambda.
    pub fn stdout(service: &'static str) -> Self {
        Self::to(service, Box::new(std::io::stdout()))
    }

    pub fn to(service: &'static str, out: Box<dyn Write + Send>) -> Self {
        Self {
            service,
            out: Mutex::new(out),
        }
    }
}

impl Metrics for EmfMetrics {
    fn record(&self, metric: Metric) {
        let line = emf_line(self.service, &metric, chrono::Utc::now().timestamp_millis());
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        // A metric that cannot be written is not worth failing a customer's event for.
        let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    }
}

/// Keeps every metric recorded.
#[derive(Default)]
pub struct MemoryMetrics {
    recorded: Mutex<Vec<Metric>>,
}

impl MemoryMetrics {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn recorded(&self) -> Vec<Metric> {
        self.recorded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Metrics for MemoryMetrics {
    fn record(&self, metric: Metric) {
        self.recorded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(metric);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each row: a metric and the members its EMF document must have.
    #[test]
    fn emf_documents_follow_the_specification() {
        let cases = [
            (Metric::MessagesIn, "MessagesIn", "Count", 1, vec![]),
            (
                Metric::Escalations {
                    department: "suporte".into(),
                },
                "Escalations",
                "Count",
                1,
                vec![("Department", "suporte")],
            ),
            (
                Metric::GraphApiErrors {
                    code: "131026".into(),
                },
                "GraphApiErrors",
                "Count",
                1,
                vec![("Code", "131026")],
            ),
            (
                Metric::AssistantLatency { millis: 842 },
                "AssistantLatency",
                "Milliseconds",
                842,
                vec![],
            ),
        ];
        for (metric, name, unit, value, dimensions) in cases {
            let doc: Value =
                serde_json::from_str(&emf_line("processor", &metric, 1_795_521_600_000)).unwrap();
            let aws = &doc["_aws"];
            assert_eq!(aws["Timestamp"], 1_795_521_600_000_i64);
            let directive = &aws["CloudWatchMetrics"][0];
            assert_eq!(directive["Namespace"], NAMESPACE);
            assert_eq!(directive["Metrics"][0]["Name"], name);
            assert_eq!(directive["Metrics"][0]["Unit"], unit);
            // Every dimension key and the metric itself are top-level members; a metric with
            // its own dimension is also published per service alone.
            let sets = directive["Dimensions"].as_array().unwrap();
            assert_eq!(sets.len(), if dimensions.is_empty() { 1 } else { 2 });
            assert_eq!(sets.last().unwrap(), &json!(["Service"]));
            let keys = sets[0].as_array().unwrap();
            assert_eq!(keys.len(), 1 + dimensions.len());
            for key in keys {
                assert!(doc.get(key.as_str().unwrap()).is_some(), "{key} missing");
            }
            assert_eq!(doc["Service"], "processor");
            for (k, v) in dimensions {
                assert_eq!(doc[k], v);
            }
            assert_eq!(doc[name], value);
        }
    }

    #[test]
    fn emf_metrics_write_one_line_per_metric() {
        #[derive(Clone, Default)]
        struct Shared(std::sync::Arc<Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Shared::default();
        let metrics = EmfMetrics::to("sla-checker", Box::new(buffer.clone()));
        metrics.record(Metric::SlaBreaches {
            department: "vendas".into(),
        });
        metrics.record(Metric::RepliesOut);
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["SlaBreaches"], 1);
        assert_eq!(lines[0]["Department"], "vendas");
        assert_eq!(lines[1]["Service"], "sla-checker");
    }
}

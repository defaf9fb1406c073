//! Application services: the domain run against the ports. No Lambda or HTTP types here.

pub mod desk;
pub mod live;
pub mod processor;
pub mod settings;
pub mod sla_checker;
pub mod staff;
pub mod webhook;

pub use desk::{Actor, Desk, DeskError, DeskPorts};
pub use processor::{Outcome, ProcessError, Processor};
pub use sla_checker::SlaChecker;
pub use staff::Staff;
pub use webhook::{Webhook, WebhookError, WebhookSecrets};

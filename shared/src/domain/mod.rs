//! The functional core: no I/O, no AWS or HTTP types.

pub mod agent;
pub mod command;
pub mod config;
pub mod customer;
pub mod document;
pub mod engine;
pub mod event;
pub mod hours;
pub mod live;
pub mod log;
pub mod notice;
pub mod session;
pub mod sla;
pub mod text;
pub mod timer;

pub use agent::{AgentAction, AgentContent, AgentRef, ApprovedTemplate, TransferTarget};
pub use command::{
    Button, Command, HandoffContext, LimitError, ListRow, ListSection, OutboundMessage, Sendable,
};
pub use config::{Config, ConfigError};
pub use customer::CustomerId;
pub use event::{
    ApiError, DeliveryStatus, EventKind, InboundMessage, MediaKind, MessageContent, QueueEvent,
    StatusUpdate,
};
pub use log::{ConversationEvent, Erasure, LogEntry, LogLine, LoggedLine, MediaRef};
pub use session::{
    Handoff, Lease, Outgoing, Party, Session, SessionRecord, State, Turn, Unconfirmed,
};
pub use timer::{TimerFired, TimerKind};

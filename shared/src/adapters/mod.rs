//! Implementations of the ports: `<Tech><Port>`.

pub mod aws;
pub mod cloud_api;
pub mod dynamodb;
pub mod memory;
pub mod sqs;

pub use cloud_api::CloudApiWhatsApp;
pub use dynamodb::{DynamoDbAttendanceQueue, DynamoDbSessionStore};
pub use memory::{
    ManualClock, MemoryAssistant, MemoryAttendanceQueue, MemoryEventQueue, MemorySessionStore,
    MemoryWhatsApp, SystemClock,
};
pub use sqs::SqsEventQueue;

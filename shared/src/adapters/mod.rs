//! Implementations of the ports: `<Tech><Port>`.

pub mod anthropic;
pub mod apigateway;
pub mod aws;
pub mod cloud_api;
pub mod dynamodb;
pub mod dynamodb_desk;
pub mod dynamodb_live;
pub mod memory;
pub mod memory_desk;
pub mod memory_live;
pub mod memory_media;
pub mod notify;
pub mod retry;
pub mod s3;
pub mod scheduler;
pub mod secrets;
pub mod sqs;

pub use anthropic::AnthropicAssistant;
pub use apigateway::ApiGatewayPush;
pub use cloud_api::CloudApiWhatsApp;
pub use dynamodb::{DynamoDbAttendanceQueue, DynamoDbSessionStore};
pub use dynamodb_desk::{DynamoDbAgents, DynamoDbConversationLog};
pub use dynamodb_live::DynamoDbLiveConnections;
pub use memory::{
    ManualClock, MemoryAssistant, MemoryAttendanceQueue, MemoryEventQueue, MemorySessionStore,
    MemoryTimers, MemoryWhatsApp, SystemClock, TakenEvent,
};
pub use memory_desk::{MemoryAgents, MemoryConversationLog};
pub use memory_live::{ChannelPush, MemoryLiveConnections};
pub use memory_media::MemoryMediaStore;
pub use notify::{MemoryNotifications, WebhookNotifications, WhatsAppNotifications};
pub use s3::S3MediaStore;
pub use scheduler::SchedulerTimers;
pub use secrets::{MemorySecretStore, SecretsManagerSecretStore};
pub use sqs::SqsEventQueue;

use crate::domain::QueueEvent;
use sha2::{Digest, Sha256};

/// A timer's name, unique per customer and timer event and valid as an EventBridge Scheduler
/// schedule name (at most 64 of `[0-9a-zA-Z-_.]`): setting the same timer twice names it twice
/// the same, so the second is recognised and not delivered again.
pub fn timer_name(event: &QueueEvent) -> String {
    let digest = Sha256::digest(format!("{}\n{}", event.group(), event.id).as_bytes());
    format!("atende-timer-{}", &hex::encode(digest)[..48])
}

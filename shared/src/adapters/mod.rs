//! Implementations of the ports: `<Tech><Port>`.

pub mod cloud_api;
pub mod memory;

pub use cloud_api::CloudApiWhatsApp;
pub use memory::{
    ManualClock, MemoryAttendanceQueue, MemoryEventQueue, MemorySessionStore, MemoryWhatsApp,
    SystemClock,
};

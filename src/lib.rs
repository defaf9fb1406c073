//! The local runner: `atende chat` (a terminal conversation on memory adapters) and
//! `atende serve` (webhook + processor + SLA checker in one process). Both run the same
//! services as the Lambda functions, wired to in-process adapters.

pub mod agents_admin;
pub mod chat;
pub mod demo;
pub mod render;
pub mod serve;
pub mod serve_desk;
pub mod serve_live;

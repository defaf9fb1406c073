//! atende's library: the pure domain (conversation engine, webhook parsing), the ports it needs
//! from the outside world, the adapters that implement them, and the application services that
//! the Lambda functions and the local runner wire together.
//!
//! Layering (see ARCHITECTURE.md): `domain` and `webhook` do no I/O and know nothing of AWS or
//! HTTP; `ports` are traits; `adapters` implement ports; `app` runs the domain against ports;
//! `edge` maps Lambda events and HTTP requests onto `app` and errors onto statuses.

pub mod adapters;
pub mod app;
pub mod auth;
pub mod domain;
pub mod edge;
pub mod logging;
pub mod metrics;
pub mod ports;
pub mod secret;
pub mod webhook;

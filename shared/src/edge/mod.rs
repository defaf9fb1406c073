//! The edge: Lambda events and HTTP requests in, `app` services called, errors mapped onto HTTP
//! statuses and SQS batch failures. The only place that knows those shapes.

pub mod agent_api;
pub mod console;
pub mod http;
pub mod lambda;

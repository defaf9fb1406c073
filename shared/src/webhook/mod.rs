//! Meta's webhook, as pure functions: signature verification over the exact bytes received and
//! the split of one payload into queue events.

mod lenient;
pub mod payload;
pub mod signature;

pub use payload::{ParseError, split};
pub use signature::{SignatureError, verify_signature};

/// Meta sends payloads of up to 3 MB; anything larger is refused before hashing.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

//! WebSocket wire types, shared by the server and the browser.
//!
//! Each dialect gets its own module. The server's session loops translate
//! between these types and the event core; nothing else in the code base
//! knows what a frame looks like. `docs/protocol.md` documents every
//! message defined here, field by field.

pub mod cc_anywhere;
pub mod ktcp;
pub mod native;
pub mod team_dashboard;

/// Generators for the dialects' property tests.
#[cfg(test)]
mod arb;

/// WebSocket close codes used by every dialect.
pub mod close {
    /// The server is shutting down (RFC 6455).
    pub const GOING_AWAY: u16 = 1001;
    /// No or an invalid/expired token (seed 002).
    pub const UNAUTHORIZED: u16 = 4001;
    /// The client sent more messages than its rate allows (seed 002).
    pub const RATE_LIMITED: u16 = 4002;
    /// The client kept sending malformed or unknown messages (seed 002).
    pub const INVALID_MESSAGE: u16 = 4003;
}

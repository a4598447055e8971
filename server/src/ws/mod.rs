//! WebSocket endpoints, one module per dialect. The upgrade handlers
//! authenticate; each session loop speaks only its dialect, mapping domain
//! events to its frames and its requests to the services' commands.
//!
//! - `browser`: `/ws`, the browser dialect (seed 002).
//! - `runner`: `/ws/ktcp`, runners and task clients (seed 000).

pub mod browser;
pub mod runner;

/// Slots of the per-event encoding cache (`crate::events`): each dialect
/// that serialises an event once for all its sockets has its own.
pub mod slot {
    pub const BROWSER: usize = 0;
}

//! WebSocket endpoints, one module per dialect. The upgrade handlers
//! authenticate; each session loop speaks only its dialect, mapping domain
//! events to its frames and its requests to the services' commands.
//!
//! - `browser`: `/ws`, the browser dialect (seed 002).
//! - `runner`: `/ws/ktcp`, runners and task clients (seed 000).
//! - `cc_anywhere`: `/ws/cc-anywhere` (seed 001).
//! - `team_dashboard`: `/ws/team-dashboard` (seed 003).
//! - `socketio`: `/socket.io/`, nospace (seed 004) and the Team
//!   Dashboard's own UI, over Socket.IO.
//!
//! `socket` holds what they share.

pub mod browser;
pub mod cc_anywhere;
pub mod runner;
pub mod socket;
pub mod socketio;
pub mod team_dashboard;

/// Slots of the per-event encoding cache (`crate::events`): each encoding
/// that is serialised once for all the sockets that want it has its own.
pub mod slot {
    /// The browser dialect with Yagura's extensions (`?batch=1`).
    pub const BROWSER: usize = 0;
    /// The browser dialect as seed 002 has it.
    pub const BROWSER_SEED: usize = 1;
    pub const CC_ANYWHERE: usize = 2;
}

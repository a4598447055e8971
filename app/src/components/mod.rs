//! Reusable pieces of the UI.

pub mod ansi;
pub mod confirm;
pub mod connection;
pub mod count;
pub mod empty_state;
pub mod layout;
pub mod log_viewer;
pub mod notifications;
pub mod status;
pub mod theme;
pub mod workflow_graph;

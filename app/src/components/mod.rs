//! Reusable pieces of the UI.

pub mod ansi;
pub mod budget;
pub mod charts;
pub mod confirm;
pub mod connection;
pub mod copy;
pub mod count;
pub mod dismiss;
pub mod empty_state;
pub mod layout;
pub mod log_viewer;
pub mod notifications;
pub mod status;
pub mod theme;
pub mod time;
pub mod workflow_graph;

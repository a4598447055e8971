//! Reusable pieces of the UI.

pub mod connection;
pub mod empty_state;
pub mod layout;
pub mod theme;

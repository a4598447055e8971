#![recursion_limit = "512"]

//! The `yagura` server: HTTP and WebSocket front, store, identity.
//! `docs/architecture.md` shows how the pieces fit.

pub mod agents;
pub mod auth;
pub mod backend;
pub mod cli;
pub mod config;
pub mod db;
pub mod events;
pub mod executions;
pub mod github;
pub mod http;
pub mod issues;
pub mod notifications;
pub mod runner;
pub mod runners;
pub mod secrets;
pub mod server;
pub mod state;
pub mod telemetry;
pub mod workflows;
pub mod worktrees;
pub mod ws;

pub use config::Config;
pub use server::{start, RunningServer};

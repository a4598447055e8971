#![recursion_limit = "512"]

//! The `yagura` server: HTTP and WebSocket front, store, identity.
//! `docs/architecture.md` has the module map and how the pieces fit.
//!
//! Modules by layer, each importing only those above it in this list:
//! `config`, `error` → `db` → `events`, `auth`, `secrets` → `agents`,
//! `notifications`, `worktrees` → `executions` → `runners` → `workflows` →
//! `issues` → `github` → `repositories` → `state` → `http`, `ws` →
//! `server`, `doctor` → `cli`. `cargo test -p xtask` checks it.

pub mod agents;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod doctor;
pub mod error;
pub mod events;
pub mod executions;
pub mod github;
pub mod http;
pub mod issues;
pub mod metrics;
pub mod notifications;
pub mod repositories;
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

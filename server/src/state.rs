//! What every handler can reach.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    auth::Auth, config::Config, db::Db, executions::Executions, github::GitHub,
    notifications::Notifier, workflows::Workflows, worktrees::Worktrees,
};

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub auth: Auth,
    pub config: Arc<Config>,
    pub leptos_options: LeptosOptions,
    /// Agent runs: the queue, the executor and (through it) the event core.
    pub executions: Executions,
    /// Workflow definitions and the engine that runs them.
    pub workflows: Workflows,
    /// Stores and pushes notifications.
    pub notifier: Notifier,
    /// GitHub connections, settings and clients.
    pub github: GitHub,
    /// Clones and per-execution worktrees.
    pub worktrees: Worktrees,
    /// Cancelled when the server begins to shut down; every long-lived task
    /// (WebSocket sessions first of all) watches it.
    pub shutdown: CancellationToken,
    /// Long-lived tasks that shutdown waits for (upgraded sockets are not
    /// tracked by the HTTP server's own graceful shutdown).
    pub tasks: TaskTracker,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

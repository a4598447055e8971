//! What every handler can reach: the services, built once at start-up
//! (`crate::server`). Only the edges (`http`, `ws`) see this; services get
//! the few services they use.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::events::Hub;
use crate::github::{sync::IssueSync, GitHub};
use crate::issues::Issues;
use crate::repositories::Repositories;
use crate::runners::Runners;
use crate::{
    auth::Auth, config::Config, db::Db, executions::Executions, notifications::Notifier,
    workflows::Workflows, worktrees::Worktrees,
};

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub auth: Auth,
    pub config: Arc<Config>,
    pub leptos_options: LeptosOptions,
    /// The event core's fan-out.
    pub hub: Arc<Hub>,
    /// Agent runs: the queue, the scheduler and the local executor.
    pub executions: Executions,
    /// Remote runners: registry, tokens, leases.
    pub runners: Runners,
    /// Workflow definitions and the engine that runs them.
    pub workflows: Workflows,
    /// Stores and pushes notifications.
    pub notifier: Notifier,
    /// Issues, mirrored from GitHub where connected.
    pub issues: Issues,
    /// Repositories: create, connect, test.
    pub repositories: Repositories,
    /// GitHub connections, settings and clients.
    pub github: GitHub,
    /// Seals and opens secrets at rest (agents' environment values).
    pub sealer: crate::secrets::Sealer,
    /// Issues flowing in from GitHub (import, polling, webhooks).
    pub sync: IssueSync,
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

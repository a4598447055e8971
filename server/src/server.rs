//! Start-up and shutdown: open the store, bind, serve, and on a signal
//! close every socket with 1001 before exiting.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use leptos::config::{Env, LeptosOptions};
use tokio::task::JoinHandle;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::auth::{secret, throttle::LoginThrottle, Auth, TokenKeys};
use crate::events::{EventWriter, Hub};
use crate::executions::Executions;
use crate::github::{report::Reporter, sync::IssueSync, GitHub};
use crate::issues::Issues;
use crate::notifications::Notifier;
use crate::repositories::Repositories;
use crate::runners::Runners;
use crate::secrets::Sealer;
use crate::workflows::Workflows;
use crate::worktrees::Worktrees;
use crate::{config::Config, db::Store, state::AppState};

/// A server running in the background (used by `serve` and by tests).
pub struct RunningServer {
    pub addr: SocketAddr,
    pub state: AppState,
    handle: JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// Stops accepting, closes sockets with 1001, waits for them (bounded by
    /// the configured grace), and returns.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let grace = self.state.config.shutdown_grace;
        self.state.shutdown.cancel();
        self.state.tasks.close();
        if tokio::time::timeout(grace, self.state.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("some sockets did not close within {grace:?}");
        }
        match tokio::time::timeout(grace, self.handle).await {
            Ok(joined) => joined.context("server task")?.context("server")?,
            Err(_) => tracing::warn!("HTTP connections still open after {grace:?}; exiting anyway"),
        }
        self.state.db.close().await;
        Ok(())
    }
}

/// Opens the store, binds `config.addr` (port 0 picks a free port) and
/// starts serving in the background.
pub async fn start(config: Config) -> anyhow::Result<RunningServer> {
    let store = Store::open(&config.store).await?;
    let secret = secret::load_or_create(&store.data_dir)?;
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.addr))?;
    let addr = listener.local_addr()?;

    let leptos_options = LeptosOptions::builder()
        .output_name("yagura")
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .env(Env::PROD)
        .build();
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    let db = store.db.clone();
    let hub = Arc::new(Hub::default());
    let reserve = store.data_dir.join("reserve");
    crate::events::writer::ensure_reserve(&reserve);
    let replica = crate::executions::Replica {
        id: crate::db::replicas::load_or_create_id(&store.data_dir)?,
        lease: config.runners.lease,
    };
    let id_lock = crate::db::replicas::hold_id(&db, &replica.id).await?;
    {
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            shutdown.cancelled().await;
            id_lock.release().await;
        });
    }
    let (writer, _writer_task) =
        EventWriter::start(db.clone(), hub.clone(), Some(reserve), replica.id.clone());
    crate::events::relay_other_replicas(
        db.clone(),
        hub.clone(),
        replica.id.clone(),
        shutdown.clone(),
        tasks.clone(),
    );
    let sealer = Sealer::load_or_create(&store.data_dir)?;
    if db.backend() == crate::db::Backend::Postgres {
        let sealing_key =
            secret::load_or_create_named(&store.data_dir, crate::secrets::KEY_FILE, 32)?;
        crate::db::replicas::check_keys(&db, &secret, &sealing_key).await?;
    }
    let github = GitHub::new(
        db.clone(),
        sealer.clone(),
        config.github.clone(),
        format!("http://{addr}"),
    );
    let worktrees = Worktrees::new(db.clone(), Arc::new(github.clone()), &store.data_dir);
    let runners = Runners::new(
        sealer.clone(),
        db.clone(),
        hub.clone(),
        writer.clone(),
        config.runners.clone(),
        replica.id.clone(),
    );
    runners.reset().await?;
    let executions = Executions::new(
        sealer.clone(),
        db.clone(),
        writer,
        hub.clone(),
        store.data_dir.clone(),
        config.exec.clone(),
        shutdown.clone(),
        tasks.clone(),
        Arc::new(runners.clone()),
        worktrees.clone(),
        replica,
    );
    let lost = executions.reconcile().await?;
    match worktrees.prune_stale().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(removed = n, "removed worktrees left by a previous process"),
        Err(e) => tracing::warn!(error = %e, "cannot prune stale worktrees"),
    }
    if lost > 0 {
        tracing::warn!(
            lost,
            "executions left running by a previous process were marked failed"
        );
    }
    crate::agents::seal_stored_environments(&db, &sealer).await?;
    crate::agents::seed_demo(&db, &sealer).await?;
    executions.start();
    let notifier = Notifier::new(db.clone(), hub.clone());
    crate::executions::budgets::BudgetWatch::new(executions.clone(), notifier.clone())
        .start(shutdown.clone(), tasks.clone());
    let workflows = Workflows::new(
        db.clone(),
        hub.clone(),
        executions.clone(),
        notifier.clone(),
        shutdown.clone(),
        tasks.clone(),
    );
    // After reconcile: runs whose steps died with the previous process see
    // those steps failed and apply their failure policy.
    workflows.start();
    let issues = Issues::new(
        db.clone(),
        hub.clone(),
        executions.clone(),
        workflows.clone(),
        Arc::new(github.clone()),
    );
    let sync = IssueSync::new(
        github.clone(),
        issues.clone(),
        workflows.clone(),
        db.clone(),
        tasks.clone(),
    );
    sync.start(shutdown.clone());
    Reporter::new(
        github.clone(),
        workflows.clone(),
        worktrees.clone(),
        db.clone(),
    )
    .start(&hub, shutdown.clone(), tasks.clone());
    let repositories =
        Repositories::new(db.clone(), github.clone(), worktrees.clone(), sync.clone());
    let setup_code = crate::auth::accounts::prepare_setup_code(&db, &store.data_dir).await?;
    let state = AppState {
        db,
        auth: Auth {
            keys: Arc::new(TokenKeys::new(&secret, config.token_ttl)),
            throttle: Arc::new(LoginThrottle::default()),
            secure_cookies: config.secure_cookies,
            connections: Arc::default(),
            setup_code: setup_code.into(),
            sso: crate::auth::sso::Sso::new(&config.sso)?.map(Arc::new),
            password_sign_in: config.password_sign_in,
        },
        config: Arc::new(config),
        leptos_options,
        hub,
        executions,
        runners,
        workflows,
        notifier,
        issues,
        repositories,
        github,
        sealer,
        sync,
        worktrees,
        shutdown,
        tasks,
    };
    crate::http::audit::keep_pruned(&state);
    let app = crate::http::router(state.clone());
    let shutdown = state.shutdown.clone();
    let handle = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
    });
    tracing::info!(%addr, data_dir = %store.data_dir.display(), "Yagura is listening on http://{addr}");
    match crate::executions::sandbox::describe(state.config.exec.sandbox) {
        (true, words) => tracing::info!("agent sandbox: {words}"),
        (false, words) => tracing::warn!("agent sandbox: {words}"),
    }
    Ok(RunningServer {
        addr,
        state,
        handle,
    })
}

/// `yagura serve`: run until SIGINT or SIGTERM.
pub async fn run_until_signal(config: Config) -> anyhow::Result<()> {
    let server = start(config).await?;
    wait_for_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

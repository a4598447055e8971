//! Remote runners: the registry of connected runners, dispatch choices,
//! tokens ([`tokens`]), leases ([`leases`]), the mapping between events and
//! seed 000 reports ([`report`]), and `yagura runner` itself ([`client`]).
//!
//! A runner authenticates with a runner token. Each connected runner has a
//! channel to its socket (`crate::ws::runner`); the scheduler offers it
//! queued executions that need a runner: one with free capacity and the
//! capabilities is picked and the execution claimed in the database (so two
//! server replicas cannot both assign it). The claim is a lease that the
//! runner's heartbeats renew.

pub mod client;
pub mod leases;
pub mod report;
pub mod tokens;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use app::api::ApiError;
use app::model::{ExecutionId, Runner, WorkspaceEvent};
use app::protocol::ktcp::{CancelData, ExecuteData, ServerFrame};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::RunnerConfig;
use crate::db::{self, executions as exec_store, runners as store, Db};
use crate::error::OrInternal;
use crate::events::{Broadcast, EventWriter, Hub};
use crate::executions::RemoteRunners;

pub use leases::MAX_REQUEUES;
pub use tokens::{create_token, hash_token};

/// Frames waiting for one runner's socket. A runner that lets this fill
/// has stopped reading and is disconnected.
pub const RUNNER_QUEUE: usize = 256;

/// A runner with an open socket.
pub struct Connected {
    pub id: String,
    pub name: String,
    pub token_id: String,
    pub capabilities: Vec<String>,
    pub concurrency: u32,
    pub tx: mpsc::Sender<ServerFrame>,
    /// Disconnects it (its token was revoked, it stalled, or it connected
    /// again), saying why.
    pub kick: Kick,
    /// This socket (a runner that reconnects gets a new one).
    pub connection: String,
}

/// Disconnects one runner socket, with the close code and reason it gets.
#[derive(Clone, Default)]
pub struct Kick {
    token: CancellationToken,
    why: Arc<std::sync::OnceLock<(u16, &'static str)>>,
}

impl Kick {
    pub fn kick(&self, code: u16, reason: &'static str) {
        let _ = self.why.set((code, reason));
        self.token.cancel();
    }

    /// Waits for the kick; the close code and reason.
    pub async fn kicked(&self) -> (u16, &'static str) {
        self.token.cancelled().await;
        self.why.get().copied().unwrap_or((1000, "disconnected"))
    }
}

#[derive(Clone)]
pub struct Runners {
    inner: Arc<Inner>,
}

struct Inner {
    /// Opens agents' environment values for the runner (sent over its socket).
    sealer: crate::secrets::Sealer,
    db: Db,
    hub: Arc<Hub>,
    writer: EventWriter,
    config: RunnerConfig,
    /// This server's replica id: its own local runs are never taken over
    /// here (it renews their lease, whatever the wall clock did).
    replica: String,
    connected: Mutex<HashMap<String, Connected>>,
}

impl Runners {
    pub fn new(
        sealer: crate::secrets::Sealer,
        db: Db,
        hub: Arc<Hub>,
        writer: EventWriter,
        config: RunnerConfig,
        replica: String,
    ) -> Self {
        Runners {
            inner: Arc::new(Inner {
                sealer,
                db,
                hub,
                writer,
                config,
                replica,
                connected: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn config(&self) -> &RunnerConfig {
        &self.inner.config
    }

    pub fn lease_until(&self) -> i64 {
        db::now_ms() + self.inner.config.lease.as_millis() as i64
    }

    /// Records a connected runner; a previous socket of the same runner is
    /// disconnected.
    pub fn register(&self, runner: Connected) {
        let name = runner.name.clone();
        let id = runner.id.clone();
        if let Ok(mut connected) = self.inner.connected.lock() {
            if let Some(old) = connected.insert(runner.id.clone(), runner) {
                old.kick.kick(1000, "the runner connected again");
            }
        }
        self.announce(&id, &name, true);
    }

    /// Forgets a runner's socket (only if `connection` is still its current one).
    pub async fn unregister(&self, id: &str, connection: &str) {
        let (removed, name) = match self.inner.connected.lock() {
            Ok(mut connected) => match connected.get(id) {
                Some(r) if r.connection == connection => {
                    let name = r.name.clone();
                    connected.remove(id);
                    (true, name)
                }
                _ => (false, String::new()),
            },
            Err(_) => (false, String::new()),
        };
        if removed {
            let _ = store::set_offline(&self.inner.db, id).await;
            self.announce(id, &name, false);
        }
    }

    /// Tells every browser that a runner changed (the Runners page reloads).
    pub fn announce(&self, id: &str, name: &str, online: bool) {
        self.inner
            .hub
            .publish_workspace(Broadcast::new(WorkspaceEvent::RunnerChanged {
                runner_id: id.to_string(),
                name: name.to_string(),
                online,
                at_ms: db::now_ms(),
            }));
    }

    /// Runners connected now.
    pub fn online_count(&self) -> usize {
        self.inner.connected.lock().map(|c| c.len()).unwrap_or(0)
    }

    pub fn is_connected(&self) -> bool {
        self.inner
            .connected
            .lock()
            .map(|c| !c.is_empty())
            .unwrap_or(false)
    }

    /// Sends a frame to a connected runner without waiting: false when it is
    /// not connected. A runner whose queue is full has stopped reading; it
    /// is disconnected (its leases then run out or it reconnects), so one
    /// stalled socket never holds up the scheduler.
    pub fn send(&self, runner_id: &str, frame: ServerFrame) -> bool {
        let Ok(connected) = self.inner.connected.lock() else {
            return false;
        };
        let Some(runner) = connected.get(runner_id) else {
            return false;
        };
        match runner.tx.try_send(frame) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(runner = %runner.name, "runner stopped reading; disconnecting it");
                runner.kick.kick(1008, "the runner stopped reading");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// A connected runner with every capability in `required` and a free
    /// slot, the least loaded first.
    pub async fn pick(&self, required: &[String]) -> Option<String> {
        let load: HashMap<String, i64> = store::load(&self.inner.db)
            .await
            .ok()?
            .into_iter()
            .collect();
        let connected = self.inner.connected.lock().ok()?;
        connected
            .values()
            .filter(|r| required.iter().all(|c| r.capabilities.contains(c)))
            .filter(|r| load.get(&r.id).copied().unwrap_or(0) < i64::from(r.concurrency))
            .min_by_key(|r| {
                load.get(&r.id).copied().unwrap_or(0) * 1000 / i64::from(r.concurrency.max(1))
            })
            .map(|r| r.id.clone())
    }

    /// Claims a queued execution for a runner (atomically, in the store).
    pub async fn claim(&self, execution_id: ExecutionId, runner_id: &str) -> bool {
        store::claim(
            &self.inner.db,
            &execution_id.to_string(),
            runner_id,
            self.lease_until(),
        )
        .await
        .unwrap_or(false)
    }

    /// Gives back a claim that could not be delivered.
    pub async fn unclaim(&self, execution_id: ExecutionId) {
        let _ = store::unclaim(&self.inner.db, &execution_id.to_string()).await;
    }

    /// Every runner the store knows, with live state.
    pub async fn list(&self) -> Result<Vec<Runner>, ApiError> {
        let rows = store::list_runners(&self.inner.db)
            .await
            .or_internal("listing runners")?;
        let load: HashMap<String, i64> = store::load(&self.inner.db)
            .await
            .or_internal("counting runners' tasks")?
            .into_iter()
            .collect();
        let tokens: HashMap<String, String> = store::list_tokens(&self.inner.db)
            .await
            .or_internal("listing runner tokens")?
            .into_iter()
            .map(|t| (t.id, t.name))
            .collect();
        Ok(rows
            .into_iter()
            .map(|r| Runner {
                running_tasks: load.get(&r.id).copied().unwrap_or(0).max(0) as u32,
                token_name: tokens.get(&r.token_id).cloned().unwrap_or_default(),
                id: r.id,
                name: r.name,
                online: r.online,
                capabilities: r.capabilities.0,
                version: r.version,
                concurrency: r.concurrency.max(0) as u32,
                connected_at: r.connected_at,
                last_heartbeat_at: r.last_heartbeat_at,
            })
            .collect())
    }
}

#[async_trait::async_trait]
impl RemoteRunners for Runners {
    fn runners_only(&self) -> bool {
        self.inner.config.runners_only
    }

    async fn dispatch(&self, id: ExecutionId, required: &[String]) -> bool {
        let Some(runner) = self.pick(required).await else {
            return false;
        };
        if !self.claim(id, &runner).await {
            return false; // cancelled meanwhile, or claimed elsewhere
        }
        let row = match exec_store::find(&self.inner.db, &id.to_string()).await {
            Ok(Some(row)) => row,
            _ => {
                self.unclaim(id).await;
                return false;
            }
        };
        let mut env: BTreeMap<String, String> = match self.inner.sealer.open_env(&row.env.0) {
            Ok(env) => env,
            Err(e) => {
                // Not sent anywhere: the run ends, saying why.
                tracing::error!(execution = %id, error = %e, "cannot open the environment");
                let _ = self
                    .inner
                    .writer
                    .append(
                        id,
                        app::model::EventBody::Finished {
                            agent_type: row.agent_type,
                            status: app::model::ExecutionStatus::Failed,
                            result: None,
                            error_code: Some("SECRETS".into()),
                            error_message: Some(format!(
                                "cannot open the agent's environment: {e:#}"
                            )),
                            exit_code: None,
                            signal: None,
                            usage: None,
                        },
                    )
                    .await;
                return true;
            }
        };
        env.insert("YAGURA_EXECUTION_ID".into(), id.to_string());
        let frame = ServerFrame::TaskExecute {
            task_id: id.to_string(),
            data: ExecuteData {
                name: row
                    .task_name
                    .clone()
                    .unwrap_or_else(|| row.agent_name.clone()),
                timeout: row.timeout_secs.max(1) as u64,
                description: row.description.clone().unwrap_or_default(),
                tags: row.tags.0.clone(),
                argv: row.argv.0.clone(),
                env,
                output_cap_bytes: row.output_cap_bytes.max(0) as u64,
                agent_type: row.agent_type.as_str().to_string(),
                sandbox_paths: crate::executions::Settings::from_metadata(row.metadata.as_deref())
                    .sandbox_paths,
            },
            timestamp: chrono::Utc::now(),
        };
        if self.send(&runner, frame) {
            tracing::info!(execution = %id, runner, "dispatched to a runner");
            true
        } else {
            self.unclaim(id).await;
            false
        }
    }

    async fn cancel(&self, runner_id: &str, id: ExecutionId, force: bool) -> bool {
        self.send(
            runner_id,
            ServerFrame::TaskCancel {
                task_id: id.to_string(),
                data: CancelData {
                    reason: "cancelled by a user".into(),
                    force,
                },
                timestamp: chrono::Utc::now(),
            },
        )
    }

    async fn expire_leases(&self) {
        self.expire().await;
    }
}

//! Remote runners: tokens, the registry of connected runners, dispatch
//! choices and leases.
//!
//! A runner authenticates with a runner token (stored as a SHA-256 hash;
//! the token is shown once). Each connected runner has a channel to its
//! socket; the scheduler picks one with free capacity and the capabilities
//! an execution needs and claims the execution in the database (so two
//! server replicas cannot both assign it). The claim is a lease that the
//! runner's heartbeats renew; when it runs out, the execution fails with
//! `RUNNER_LOST`, and a runner that comes back is told to kill it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::api::ApiError;
use app::model::{
    AgentType, EventBody, ExecutionId, ExecutionStatus, NewRunnerToken, Runner, RunnerToken,
};
use app::protocol::ktcp::ServerFrame;
use app::protocol::native::ServerMessage;
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::db::{self, runners as store, Db};
use crate::events::{Audience, Broadcast, EventWriter, Hub};
use crate::http::error::internal;

/// How often one execution may go back to the queue after losing its runner.
pub const MAX_REQUEUES: i64 = 3;

/// Settings of remote execution.
#[derive(Clone, Debug)]
pub struct RunnerConfig {
    /// How long an assignment lives without a heartbeat.
    pub lease: Duration,
    /// Send every execution to a runner, never run locally.
    pub runners_only: bool,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            lease: Duration::from_secs(30),
            runners_only: false,
        }
    }
}

/// A runner with an open socket.
pub struct Connected {
    pub id: String,
    pub name: String,
    pub token_id: String,
    pub capabilities: Vec<String>,
    pub concurrency: u32,
    pub tx: mpsc::Sender<ServerFrame>,
    /// Cancelled to disconnect it (its token was revoked).
    pub kick: CancellationToken,
    /// This socket (a runner that reconnects gets a new one).
    pub connection: String,
}

#[derive(Clone)]
pub struct Runners {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    hub: Arc<Hub>,
    config: RunnerConfig,
    connected: Mutex<HashMap<String, Connected>>,
}

/// `yrt_` and 64 hex digits (32 random bytes).
fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("yrt_{}", hex::encode(bytes))
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn to_token(row: store::TokenRow) -> RunnerToken {
    RunnerToken {
        id: row.id,
        name: row.name,
        created_by: row.created_by,
        created_at: row.created_at,
        revoked_at: row.revoked_at,
        last_used_at: row.last_used_at,
    }
}

/// Creates a token straight in the store (for `yagura runner-token create`).
pub async fn create_token(
    db: &Db,
    name: &str,
    created_by: Option<&str>,
) -> Result<NewRunnerToken, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(ApiError::Invalid(
            "a token name must be 1–64 characters".into(),
        ));
    }
    let token = new_token();
    let row = store::TokenRow {
        id: uuid::Uuid::new_v4().to_string(),
        name: name.to_string(),
        token_hash: hash_token(&token),
        created_by: created_by.map(str::to_string),
        created_at: db::now_ms(),
        revoked_at: None,
        last_used_at: None,
    };
    store::insert_token(db, &row)
        .await
        .map_err(|e| internal("creating a runner token", e))?;
    Ok(NewRunnerToken {
        info: to_token(row),
        token,
    })
}

impl Runners {
    pub fn new(db: Db, hub: Arc<Hub>, config: RunnerConfig) -> Self {
        Runners {
            inner: Arc::new(Inner {
                db,
                hub,
                config,
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

    /// The token row for a presented token, if it is valid (not revoked).
    pub async fn check_token(&self, token: &str) -> Result<store::TokenRow, ApiError> {
        let row = store::find_token_by_hash(&self.inner.db, &hash_token(token))
            .await
            .map_err(|e| internal("reading runner tokens", e))?
            .ok_or(ApiError::Unauthorized)?;
        if row.revoked_at.is_some() {
            return Err(ApiError::Unauthorized);
        }
        let _ = store::touch_token(&self.inner.db, &row.id, db::now_ms()).await;
        Ok(row)
    }

    pub async fn create_token(
        &self,
        name: &str,
        created_by: &str,
    ) -> Result<NewRunnerToken, ApiError> {
        create_token(&self.inner.db, name, Some(created_by)).await
    }

    pub async fn tokens(&self) -> Result<Vec<RunnerToken>, ApiError> {
        Ok(store::list_tokens(&self.inner.db)
            .await
            .map_err(|e| internal("listing runner tokens", e))?
            .into_iter()
            .map(to_token)
            .collect())
    }

    /// Revokes a token and disconnects every runner using it.
    pub async fn revoke_token(&self, id: &str) -> Result<(), ApiError> {
        let revoked = store::revoke_token(&self.inner.db, id, db::now_ms())
            .await
            .map_err(|e| internal("revoking a runner token", e))?;
        if !revoked {
            return Err(ApiError::NotFound);
        }
        if let Ok(connected) = self.inner.connected.lock() {
            for runner in connected.values().filter(|r| r.token_id == id) {
                runner.kick.cancel();
            }
        }
        Ok(())
    }

    /// Records a connected runner; a previous socket of the same runner is
    /// disconnected.
    pub fn register(&self, runner: Connected) {
        let name = runner.name.clone();
        let id = runner.id.clone();
        if let Ok(mut connected) = self.inner.connected.lock() {
            if let Some(old) = connected.insert(runner.id.clone(), runner) {
                old.kick.cancel();
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
        self.inner.hub.publish_workspace(Broadcast::new(
            Audience::Everyone,
            ServerMessage::RunnerUpdated {
                runner_id: id.to_string(),
                name: name.to_string(),
                online,
                timestamp: chrono::Utc::now(),
            },
        ));
    }

    pub fn is_connected(&self) -> bool {
        self.inner
            .connected
            .lock()
            .map(|c| !c.is_empty())
            .unwrap_or(false)
    }

    /// Sends a frame to a connected runner; false when it is not connected.
    pub async fn send(&self, runner_id: &str, frame: ServerFrame) -> bool {
        let tx = self
            .inner
            .connected
            .lock()
            .ok()
            .and_then(|c| c.get(runner_id).map(|r| r.tx.clone()));
        match tx {
            Some(tx) => tx.send(frame).await.is_ok(),
            None => false,
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
            .map_err(|e| internal("listing runners", e))?;
        let load: HashMap<String, i64> = store::load(&self.inner.db)
            .await
            .map_err(|e| internal("counting runners' tasks", e))?
            .into_iter()
            .collect();
        let tokens: HashMap<String, String> = store::list_tokens(&self.inner.db)
            .await
            .map_err(|e| internal("listing runner tokens", e))?
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
                capabilities: serde_json::from_str(&r.capabilities).unwrap_or_default(),
                version: r.version,
                concurrency: r.concurrency.max(0) as u32,
                connected_at: r.connected_at,
                last_heartbeat_at: r.last_heartbeat_at,
            })
            .collect())
    }

    /// Fails executions whose lease ran out: their runner is gone.
    pub async fn expire_leases(&self, writer: &EventWriter) {
        let expired = match store::expired_leases(&self.inner.db, db::now_ms()).await {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(error = %e, "cannot read leases");
                return;
            }
        };
        for (id, runner, agent_type, policy) in expired {
            let Ok(execution) = id.parse::<ExecutionId>() else {
                continue;
            };
            let name = store::find_runner(&self.inner.db, &runner)
                .await
                .ok()
                .flatten()
                .map(|r| r.name)
                .unwrap_or_else(|| runner.clone());
            tracing::warn!(execution = id, runner = name, "lease expired: runner lost");
            let why = format!(
                "runner {name} stopped sending heartbeats; its lease of {} s ran out",
                self.inner.config.lease.as_secs_f32()
            );
            self.lose(writer, execution, &agent_type, &policy, why)
                .await;
        }
    }

    /// An execution whose runner is gone: back to the queue when its agent
    /// asks for that (at most [`MAX_REQUEUES`] times), else failed with
    /// `RUNNER_LOST`.
    pub async fn lose(
        &self,
        writer: &EventWriter,
        execution: ExecutionId,
        agent_type: &str,
        policy: &str,
        why: String,
    ) {
        let requeued =
            crate::db::executions::count_events(&self.inner.db, &execution.to_string(), "requeued")
                .await
                .unwrap_or(i64::MAX);
        let body = if policy == "requeue" && requeued < MAX_REQUEUES {
            EventBody::Requeued { reason: why }
        } else {
            let why = if policy == "requeue" {
                format!("{why} (already requeued {requeued} times)")
            } else {
                why
            };
            EventBody::Finished {
                agent_type: agent_type.parse().unwrap_or(AgentType::Custom),
                status: ExecutionStatus::Failed,
                result: None,
                error_code: Some("RUNNER_LOST".into()),
                error_message: Some(why),
                exit_code: None,
                signal: None,
                usage: None,
            }
        };
        let _ = writer.append(execution, body).await;
    }

    /// At start-up: no runner is connected yet; leases get one full period
    /// for their runners to reconnect.
    pub async fn reset(&self) -> anyhow::Result<()> {
        store::all_offline(&self.inner.db).await?;
        store::extend_leases(&self.inner.db, self.lease_until()).await?;
        Ok(())
    }
}

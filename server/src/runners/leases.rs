//! Leases: a runner holds each execution it was given under a lease that
//! its heartbeats renew. When a lease runs out, the execution goes back to
//! the queue if its agent asks for that (at most [`MAX_REQUEUES`] times),
//! else it fails with `RUNNER_LOST`; a runner that comes back with it is
//! told to kill it.

use app::model::{AgentType, EventBody, ExecutionId, ExecutionStatus, RunnerLost};

use super::Runners;
use crate::db::{self, runners as store};

/// How often one execution may go back to the queue after losing its runner.
pub const MAX_REQUEUES: i64 = 3;

impl Runners {
    /// Ends (or requeues) executions whose lease ran out: their runner (or
    /// the replica that ran them as local processes) is gone. Each is taken
    /// over by one replica only.
    pub async fn expire(&self) {
        let now = db::now_ms();
        self.expire_local(now).await;
        let expired = match store::expired_leases(&self.inner.db, now).await {
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
            match store::take_expired(&self.inner.db, &id, &runner, now).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "cannot take over an expired lease");
                    continue;
                }
            }
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
            if !self
                .lose(execution, agent_type, policy, "RUNNER_LOST", why)
                .await
            {
                let _ = db::replicas::rearm(&self.inner.db, &id, now).await;
            }
        }
    }

    /// Local executions of a replica that stopped renewing its lease (it
    /// died with their processes).
    async fn expire_local(&self, now: i64) {
        // One server alone has no one to take its runs over: it renews
        // their lease, and a restart reconciles them.
        if self.inner.db.backend() == db::Backend::Sqlite {
            return;
        }
        let me = &self.inner.replica;
        if let Err(e) = db::replicas::release_expired_unstarted(&self.inner.db, now, me).await {
            tracing::error!(error = %e, "cannot release another replica's unstarted claims");
        }
        let expired = match db::replicas::expired_local(&self.inner.db, now, me).await {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(error = %e, "cannot read replica leases");
                return;
            }
        };
        for (id, replica, agent_type, policy) in expired {
            let Ok(execution) = id.parse::<ExecutionId>() else {
                continue;
            };
            match db::replicas::take_expired_local(&self.inner.db, &id, &replica, now).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "cannot take over an expired replica lease");
                    continue;
                }
            }
            tracing::warn!(
                execution = id,
                replica,
                "lease expired: the replica running it is gone"
            );
            let why = format!(
                "the Yagura replica {replica} that ran it as a local process stopped; \
                 its lease of {} s ran out and the process was lost with it",
                self.inner.config.lease.as_secs_f32()
            );
            if !self
                .lose(execution, agent_type, policy, "REPLICA_LOST", why)
                .await
            {
                let _ = db::replicas::rearm(&self.inner.db, &id, now).await;
            }
        }
    }

    /// An execution whose runner is gone: back to the queue when its agent
    /// asks for that (at most [`MAX_REQUEUES`] times), else failed with
    /// `RUNNER_LOST`.
    pub async fn lose(
        &self,
        execution: ExecutionId,
        agent_type: AgentType,
        policy: RunnerLost,
        code: &str,
        why: String,
    ) -> bool {
        let requeued =
            db::executions::count_events(&self.inner.db, &execution.to_string(), "requeued")
                .await
                .unwrap_or(i64::MAX);
        let body = if policy == RunnerLost::Requeue && requeued < MAX_REQUEUES {
            EventBody::Requeued { reason: why }
        } else {
            let why = if policy == RunnerLost::Requeue {
                format!("{why} (already requeued {requeued} times)")
            } else {
                why
            };
            EventBody::Finished {
                agent_type,
                status: ExecutionStatus::Failed,
                result: None,
                error_code: Some(code.into()),
                error_message: Some(why),
                exit_code: None,
                signal: None,
                usage: None,
            }
        };
        match self.inner.writer.append(execution, body).await {
            Ok(_) => true,
            Err(e) => {
                tracing::error!(execution = %execution, error = %e, "cannot record a lost execution; retried at the next check");
                false
            }
        }
    }

    /// At start-up: no runner is connected yet; leases get one full period
    /// for their runners to reconnect.
    pub async fn reset(&self) -> anyhow::Result<()> {
        match self.inner.db.backend() {
            db::Backend::Sqlite => store::all_offline(&self.inner.db).await?,
            // Other replicas may hold connected runners: only those no
            // replica heard from within a lease are offline.
            db::Backend::Postgres => {
                let before = db::now_ms() - self.inner.config.lease.as_millis() as i64;
                store::offline_unless_seen_since(&self.inner.db, before).await?
            }
        }
        store::extend_leases(&self.inner.db, self.lease_until()).await?;
        Ok(())
    }
}

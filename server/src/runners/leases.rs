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
    /// Ends (or requeues) executions whose lease ran out: their runner is gone.
    pub async fn expire(&self) {
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
            self.lose(execution, agent_type, policy, why).await;
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
        why: String,
    ) {
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
                error_code: Some("RUNNER_LOST".into()),
                error_message: Some(why),
                exit_code: None,
                signal: None,
                usage: None,
            }
        };
        let _ = self.inner.writer.append(execution, body).await;
    }

    /// At start-up: no runner is connected yet; leases get one full period
    /// for their runners to reconnect.
    pub async fn reset(&self) -> anyhow::Result<()> {
        store::all_offline(&self.inner.db).await?;
        store::extend_leases(&self.inner.db, self.lease_until()).await?;
        Ok(())
    }
}

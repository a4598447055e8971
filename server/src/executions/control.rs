//! Controls for a local execution that another replica runs: the request
//! (stop, pause, resume, input) is sent to that replica over PostgreSQL
//! `NOTIFY` and applied there, as if it had been asked directly.
//!
//! A notice is `<replica> <execution> <action> [<base64 input>]`, with
//! action `cancel`, `kill`, `pause`, `resume`, `close-stdin`, `stdin` or
//! `stdin-echo`. A run on a remote runner connected to another replica is
//! stopped with `* <execution> runner-cancel` (or `runner-kill`), which
//! every replica reads and the one holding the runner's socket acts on. Input sent this way is at most [`MAX_RELAYED_INPUT`] bytes
//! (a notice carries under 8,000).

use std::sync::Arc;
use std::time::Duration;

use app::model::ExecutionId;
use base64::Engine;
use sqlx::postgres::PgListener;

use super::process::Control;
use super::{Executions, Inner};
use crate::db::{replicas, Db};
use crate::error::{ApiError, OrInternal};

/// Input relayed to another replica at a time.
pub const MAX_RELAYED_INPUT: usize = 5_000;

impl Executions {
    /// Sends `control` to the replica holding `id`; false when no other
    /// replica holds it.
    pub(super) async fn control_elsewhere(
        &self,
        id: ExecutionId,
        control: &Control,
    ) -> Result<bool, ApiError> {
        let Some(holder) = replicas::holder(&self.inner.db, &id.to_string())
            .await
            .or_internal("finding the replica running an execution")?
        else {
            return Ok(false);
        };
        if holder == self.inner.replica.id {
            return Ok(false);
        }
        let action = match control {
            Control::Cancel => "cancel".to_string(),
            Control::Kill => "kill".to_string(),
            Control::Pause => "pause".to_string(),
            Control::Resume => "resume".to_string(),
            Control::CloseStdin => "close-stdin".to_string(),
            Control::Stdin { data, echo } => {
                if data.len() > MAX_RELAYED_INPUT {
                    return Err(ApiError::Invalid(format!(
                        "this execution runs on another replica: send at most {MAX_RELAYED_INPUT} bytes of input at a time"
                    )));
                }
                let kind = if *echo { "stdin-echo" } else { "stdin" };
                format!(
                    "{kind} {}",
                    base64::engine::general_purpose::STANDARD.encode(data)
                )
            }
        };
        replicas::send_control(&self.inner.db, &format!("{holder} {id} {action}"))
            .await
            .or_internal("asking another replica")
    }
}

impl Executions {
    /// Asks every replica to stop a run on `runner`, when that runner is
    /// connected somewhere (online in the store); false when it is not (or
    /// on SQLite).
    pub(super) async fn cancel_through_replicas(
        &self,
        id: ExecutionId,
        runner: &str,
        force: bool,
    ) -> Result<bool, ApiError> {
        if self.inner.db.backend() != crate::db::Backend::Postgres {
            return Ok(false);
        }
        let online = crate::db::runners::find_runner(&self.inner.db, runner)
            .await
            .or_internal("reading a runner")?
            .is_some_and(|r| r.online);
        if !online {
            return Ok(false);
        }
        let action = if force {
            "runner-kill"
        } else {
            "runner-cancel"
        };
        replicas::send_control(&self.inner.db, &format!("* {id} {action}"))
            .await
            .or_internal("asking the other replicas")
    }
}

/// Applies the control notices addressed to this replica (PostgreSQL only).
pub(super) fn spawn_listener(inner: Arc<Inner>) {
    let Db::Postgres(pool) = &inner.db else {
        return;
    };
    let pool = pool.clone();
    let tasks = inner.tasks.clone();
    tasks.spawn(async move {
        loop {
            let listener = async {
                let mut l = PgListener::connect_with(&pool).await?;
                l.listen(replicas::CONTROL_CHANNEL).await?;
                Ok::<_, sqlx::Error>(l)
            };
            let mut listener = tokio::select! {
                _ = inner.shutdown.cancelled() => return,
                l = listener => match l {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot listen for other replicas' requests; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                },
            };
            loop {
                let notice = tokio::select! {
                    _ = inner.shutdown.cancelled() => return,
                    n = listener.recv() => n,
                };
                match notice {
                    Ok(n) => apply(&inner, n.payload()).await,
                    Err(e) => {
                        tracing::warn!(error = %e, "listening for other replicas' requests failed");
                        break;
                    }
                }
            }
        }
    });
}

async fn apply(inner: &Inner, payload: &str) {
    if let Some((id, force)) = parse_runner(payload) {
        let runner = crate::db::executions::find(&inner.db, &id.to_string())
            .await
            .ok()
            .flatten()
            .and_then(|row| row.runner_id);
        if let Some(runner) = runner {
            // False unless that runner's socket is on this replica.
            inner.remote.cancel(&runner, id, force).await;
        }
        return;
    }
    let Some((control, id)) = parse(payload, &inner.replica.id) else {
        return;
    };
    let sender = inner.running.lock().ok().and_then(|r| r.get(&id).cloned());
    match sender {
        Some(tx) => {
            let _ = tx.send(control).await;
        }
        None => {
            tracing::debug!(execution = %id, "a request for an execution no longer running here")
        }
    }
}

/// A request to every replica to stop a run on a runner: its id and
/// whether to kill at once.
fn parse_runner(payload: &str) -> Option<(ExecutionId, bool)> {
    let mut parts = payload.split(' ');
    if parts.next()? != "*" {
        return None;
    }
    let id: ExecutionId = parts.next()?.parse().ok()?;
    match parts.next()? {
        "runner-cancel" => Some((id, false)),
        "runner-kill" => Some((id, true)),
        _ => None,
    }
}

/// The control in a notice addressed to `me`.
fn parse(payload: &str, me: &str) -> Option<(Control, ExecutionId)> {
    let mut parts = payload.split(' ');
    if parts.next()? != me {
        return None;
    }
    let id: ExecutionId = parts.next()?.parse().ok()?;
    let control = match parts.next()? {
        "cancel" => Control::Cancel,
        "kill" => Control::Kill,
        "pause" => Control::Pause,
        "resume" => Control::Resume,
        "close-stdin" => Control::CloseStdin,
        kind @ ("stdin" | "stdin-echo") => Control::Stdin {
            data: base64::engine::general_purpose::STANDARD
                .decode(parts.next().unwrap_or_default())
                .ok()?,
            echo: kind == "stdin-echo",
        },
        _ => return None,
    };
    Some((control, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_are_read_only_by_their_replica() {
        let id = ExecutionId(uuid::Uuid::new_v4());
        assert!(matches!(
            parse(&format!("r-a {id} kill"), "r-a"),
            Some((Control::Kill, got)) if got == id
        ));
        assert!(parse(&format!("r-a {id} kill"), "r-b").is_none());
        let input = base64::engine::general_purpose::STANDARD.encode("yes\n");
        assert!(matches!(
            parse(&format!("r-a {id} stdin-echo {input}"), "r-a"),
            Some((Control::Stdin { data, echo: true }, _)) if data == b"yes\n"
        ));
        assert!(parse(&format!("r-a {id} explode"), "r-a").is_none());
        assert!(parse("r-a not-an-id kill", "r-a").is_none());
        assert_eq!(
            parse_runner(&format!("* {id} runner-kill")),
            Some((id, true))
        );
        assert_eq!(
            parse_runner(&format!("* {id} runner-cancel")),
            Some((id, false))
        );
        assert!(parse_runner(&format!("r-a {id} runner-kill")).is_none());
        assert!(parse(&format!("* {id} runner-kill"), "r-a").is_none());
    }
}

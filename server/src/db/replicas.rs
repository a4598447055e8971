//! Local executions claimed by a replica (a `yagura serve` process on the
//! shared database), held under a lease its heartbeats renew.

use app::model::{AgentType, RunnerLost};

use super::Db;

/// Claims a queued execution for this replica to run as a local process:
/// only one claim can win, whichever replica (or runner) makes it.
pub async fn claim_local(db: &Db, id: &str, replica: &str, lease_until: i64) -> sqlx::Result<bool> {
    crate::on_db!(db, db => {
        sqlx::query(
            "UPDATE executions SET replica_id = $2, replica_lease_until = $3 \
             WHERE id = $1 AND status = 'queued' AND runner_id IS NULL AND replica_id IS NULL AND last_seq > 0",
        )
        .bind(id)
        .bind(replica)
        .bind(lease_until)
        .execute(db)
        .await
        .map(|r| r.rows_affected() == 1)
    })
}

/// Gives back the claims of executions this replica claimed but never
/// started (it stopped in between).
pub async fn release_unstarted(db: &Db, replica: &str) -> sqlx::Result<u64> {
    crate::on_db!(db, db => {
        sqlx::query(
            "UPDATE executions SET replica_id = NULL, replica_lease_until = NULL \
             WHERE replica_id = $1 AND status = 'queued'",
        )
        .bind(replica)
        .execute(db)
        .await
        .map(|r| r.rows_affected())
    })
}

/// Renews this replica's lease on the local executions it runs; answers
/// the ids it still holds (one it lost was taken over by another replica).
pub async fn renew_local(db: &Db, replica: &str, until: i64) -> sqlx::Result<Vec<String>> {
    crate::on_db!(db, db => {
        sqlx::query_scalar(
            "UPDATE executions SET replica_lease_until = $2 WHERE replica_id = $1 \
             AND replica_lease_until IS NOT NULL AND status IN ('queued', 'running', 'paused') RETURNING id",
        )
        .bind(replica)
        .bind(until)
        .fetch_all(db)
        .await
    })
}

/// Local executions another replica (not `me`) ran and stopped renewing
/// the lease on: its process is gone with it.
pub async fn expired_local(
    db: &Db,
    now: i64,
    me: &str,
) -> sqlx::Result<Vec<(String, String, AgentType, RunnerLost)>> {
    crate::on_db!(db, db => {
        sqlx::query_as(
            "SELECT id, replica_id, agent_type, on_runner_lost FROM executions WHERE replica_id IS NOT NULL \
             AND replica_id <> $2 AND status IN ('running', 'paused') AND replica_lease_until < $1",
        )
        .bind(now)
        .bind(me)
        .fetch_all(db)
        .await
    })
}

/// Gives back to the queue the runs another replica claimed and never
/// started before its lease ran out (nothing ran: nothing was lost).
pub async fn release_expired_unstarted(db: &Db, now: i64, me: &str) -> sqlx::Result<u64> {
    crate::on_db!(db, db => {
        sqlx::query(
            "UPDATE executions SET replica_id = NULL, replica_lease_until = NULL \
             WHERE status = 'queued' AND replica_id IS NOT NULL AND replica_id <> $2 \
             AND replica_lease_until < $1",
        )
        .bind(now)
        .bind(me)
        .execute(db)
        .await
        .map(|r| r.rows_affected())
    })
}

/// Gives back this replica's claim on a run it did not start after all
/// (its start failed before the process ran).
pub async fn release_claim(db: &Db, id: &str, me: &str) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        sqlx::query(
            "UPDATE executions SET replica_id = NULL, replica_lease_until = NULL \
             WHERE id = $1 AND replica_id = $2 AND status = 'queued'",
        )
        .bind(id)
        .bind(me)
        .execute(db)
        .await
        .map(|_| ())
    })
}

/// Makes a taken-over lease expired again, so the next check retries a
/// takeover whose end could not be written.
pub async fn rearm(db: &Db, id: &str, now: i64) -> sqlx::Result<()> {
    crate::on_db!(db, db => {
        sqlx::query(
            "UPDATE executions SET \
             replica_lease_until = CASE WHEN replica_id IS NOT NULL AND replica_lease_until IS NULL THEN $2 ELSE replica_lease_until END, \
             lease_expires_at = CASE WHEN runner_id IS NOT NULL AND lease_expires_at IS NULL THEN $2 ELSE lease_expires_at END \
             WHERE id = $1 AND status IN ('queued', 'running', 'paused')",
        )
        .bind(id)
        .bind(now)
        .execute(db)
        .await
        .map(|_| ())
    })
}

/// Takes over an execution whose replica's lease ran out: true for the
/// one replica that wins it (the others leave it alone).
pub async fn take_expired_local(db: &Db, id: &str, replica: &str, now: i64) -> sqlx::Result<bool> {
    crate::on_db!(db, db => {
        sqlx::query(
            "UPDATE executions SET replica_lease_until = NULL \
             WHERE id = $1 AND replica_id = $2 AND replica_lease_until < $3",
        )
        .bind(id)
        .bind(replica)
        .bind(now)
        .execute(db)
        .await
        .map(|r| r.rows_affected() == 1)
    })
}

/// The replica running an execution as a local process now, if one is.
pub async fn holder(db: &Db, id: &str) -> sqlx::Result<Option<String>> {
    crate::on_db!(db, db => {
        sqlx::query_scalar(
            "SELECT replica_id FROM executions WHERE id = $1 AND replica_lease_until IS NOT NULL \
             AND status IN ('queued', 'running', 'paused')",
        )
        .bind(id)
        .fetch_optional(db)
        .await
        .map(Option::flatten)
    })
}

/// The PostgreSQL channel on which a replica asks the one running an
/// execution to stop, pause, resume it or give it input.
pub const CONTROL_CHANNEL: &str = "yagura_control";

/// Sends `notice` on [`CONTROL_CHANNEL`] (PostgreSQL only; false on SQLite,
/// where no other replica exists).
pub async fn send_control(db: &Db, notice: &str) -> sqlx::Result<bool> {
    let Db::Postgres(pool) = db else {
        return Ok(false);
    };
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CONTROL_CHANNEL)
        .bind(notice)
        .execute(pool)
        .await?;
    Ok(true)
}

/// Checks that this replica has the same keys as the others on the
/// database (the first to start records a fingerprint of them): sessions
/// signed by one replica must verify on every other, and secrets sealed by
/// one must open on every other. The fingerprint is a SHA-256 of both keys
/// under a fixed label; it reveals nothing of them.
pub async fn check_keys(db: &Db, jwt_secret: &[u8], sealing_key: &[u8]) -> anyhow::Result<()> {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(b"yagura replica keys v1\0");
    hash.update((jwt_secret.len() as u64).to_be_bytes());
    hash.update(jwt_secret);
    hash.update(sealing_key);
    let mine = hex::encode(hash.finalize());
    let agreed =
        super::settings::set_once(db, "replicas.keys_fingerprint", &mine, super::now_ms()).await?;
    if agreed != mine {
        anyhow::bail!(
            "this server's jwt-secret and secrets-key differ from those of the other Yagura \
             replicas on this database: copy both files from another replica's data directory \
             into this one's (see docs/deploy.md)"
        );
    }
    Ok(())
}

/// Holds this replica's id for as long as the process runs (PostgreSQL):
/// a second server started with a copy of the same data directory (and so
/// the same `replica-id`) would take the first one's runs for its own.
pub async fn hold_id(db: &Db, id: &str) -> anyhow::Result<RunLock> {
    match try_lock(db, "yagura.replica", id).await? {
        Some(lock) => Ok(lock),
        None => anyhow::bail!(
            "another running Yagura server uses the replica id {id} (a copy of this data \
             directory?): delete replica-id in one of the two data directories (see docs/deploy.md)"
        ),
    }
}

/// This server's name among the replicas of one database: stable per data
/// directory (`<data dir>/replica-id`, made on first start), so a replica
/// that restarts recognises the executions it left running.
pub fn load_or_create_id(data_dir: &std::path::Path) -> anyhow::Result<String> {
    use anyhow::Context;
    let path = data_dir.join("replica-id");
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => Ok(text.trim().to_string()),
        Ok(_) | Err(_) => {
            let id = format!("r-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
            std::fs::write(&path, format!("{id}\n"))
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(id)
        }
    }
}

/// Work on one workflow run, serialised across replicas: a PostgreSQL
/// advisory lock held on a connection of its own until [`RunLock::release`]
/// (or, if dropped unreleased, until that connection closes). Nothing to
/// hold on SQLite, where one server is the only replica.
pub struct RunLock {
    held: Option<(sqlx::pool::PoolConnection<sqlx::Postgres>, i64)>,
}

/// Waits for the lock on `run_id`, at most 10 s (a replica that holds it
/// and froze must not freeze the others): then an error.
pub async fn lock_run(db: &Db, run_id: &str) -> sqlx::Result<RunLock> {
    let started = std::time::Instant::now();
    loop {
        if let Some(lock) = try_lock(db, RUN_SPACE, run_id).await? {
            return Ok(lock);
        }
        if started.elapsed() > std::time::Duration::from_secs(10) {
            return Err(sqlx::Error::Protocol(format!(
                "workflow run {run_id} stayed locked by another replica for 10 s"
            )));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The lock space of workflow runs.
pub const RUN_SPACE: &str = "yagura.workflow_run";

/// The lock on `id` in `space` if no replica holds it now, else None
/// (for work one replica is enough for, such as reporting a run to GitHub).
pub async fn try_lock(db: &Db, space: &str, id: &str) -> sqlx::Result<Option<RunLock>> {
    let Db::Postgres(pool) = db else {
        return Ok(Some(RunLock { held: None }));
    };
    let key = lock_key(space, id);
    let mut conn = pool.acquire().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(key)
        .fetch_one(&mut *conn)
        .await?;
    Ok(locked.then_some(RunLock {
        held: Some((conn, key)),
    }))
}

impl RunLock {
    pub async fn release(mut self) {
        if let Some((mut conn, key)) = self.held.take() {
            let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(key)
                .execute(&mut *conn)
                .await;
            if unlocked.is_err() {
                // Closing the session releases its locks.
                drop(conn.detach());
            }
        }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        if let Some((conn, _)) = self.held.take() {
            drop(conn.detach());
        }
    }
}

/// A lock key: FNV-1a of `space:id` (stable across builds, so replicas of
/// different versions during an upgrade agree).
fn lock_key(space: &str, id: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in space.bytes().chain(*b":").chain(id.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash as i64
}

#[cfg(test)]
mod tests {
    #[test]
    fn lock_keys_are_stable_and_distinct() {
        let id = "5f825c05-18a8-4f66-a67d-774957ca6510";
        let a = super::lock_key("yagura.workflow_run", id);
        assert_eq!(a, super::lock_key("yagura.workflow_run", id));
        assert_ne!(
            a,
            super::lock_key(
                "yagura.workflow_run",
                "5f825c05-18a8-4f66-a67d-774957ca6511"
            )
        );
        assert_ne!(a, super::lock_key("yagura.github_report", id));
    }
}

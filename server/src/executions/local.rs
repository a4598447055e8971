//! One execution on this server, from start to end: its working
//! directory (a worktree on its issue's repository, or an empty
//! directory), the process driven to its end by [`drive`], and the
//! terminal state written once.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{atomic::Ordering, Arc};
use std::time::Duration;

use app::model::{EventBody, ExecutionId, ExecutionStatus, LineEnd, LogLevel, LogStream};
use tokio::sync::mpsc;

use super::drive::{drive, Job, Sink};
use super::process::{self, Control};
use super::sandbox;
use super::{to_execution, Inner};
use crate::db::executions as store;
use crate::events::EventWriter;

pub(super) async fn run_one(
    inner: &Arc<Inner>,
    id: ExecutionId,
    control: mpsc::Receiver<Control>,
) -> anyhow::Result<()> {
    let row = store::find(&inner.db, &id.to_string())
        .await?
        .ok_or_else(|| anyhow::anyhow!("vanished"))?;
    if row.status != ExecutionStatus::Queued {
        return Ok(()); // cancelled while waiting for a slot
    }
    let execution = to_execution(row.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let agent_type = execution.agent_type;
    let issue_number = execution.issue.as_ref().map(|i| i.number);
    let env: BTreeMap<String, String> = match inner.sealer.open_env(&row.env.0) {
        Ok(env) => env,
        Err(e) => {
            let finished = EventBody::Finished {
                agent_type: execution.agent_type,
                status: ExecutionStatus::Failed,
                result: None,
                error_code: Some("SECRETS".into()),
                error_message: Some(format!("cannot open the agent's environment: {e:#}")),
                exit_code: None,
                signal: None,
                usage: None,
            };
            inner.writer.append(id, finished).await?;
            return Ok(());
        }
    };
    let workdir = inner.work_root.join(id.to_string());
    let writer = &inner.writer;
    let finish =
        |status, error_code: Option<&str>, error_message: Option<String>| EventBody::Finished {
            agent_type,
            status,
            result: None,
            error_code: error_code.map(str::to_string),
            error_message,
            exit_code: None,
            signal: None,
            usage: None,
        };

    // On an issue of a repository agents can work in: a worktree on its
    // own branch. Otherwise a plain empty directory.
    let settings = super::Settings::from_metadata(row.metadata.as_deref());
    let place = match (&execution.issue, settings.workspace) {
        (Some(issue), _) => Some((issue.repository_id, Some(issue.number as i64))),
        (None, Some(repo)) => Some((repo, None)),
        (None, None) => None,
    };
    let mut prepared = None;
    if let Some((repository_id, issue_number)) = place {
        let system = |message: String| EventBody::Log {
            stream: LogStream::System,
            level: LogLevel::Info,
            message,
            end: LineEnd::Lf,
        };
        match inner
            .worktrees
            .prepare(
                &id.to_string(),
                &repository_id.to_string(),
                issue_number,
                row.workflow_run_id.as_deref(),
                &workdir,
            )
            .await
        {
            Ok(Some((p, notes))) => {
                for note in notes {
                    writer.append(id, system(note)).await?;
                }
                prepared = Some(p);
            }
            Ok(None) => {}
            Err(e) => {
                writer
                    .append(
                        id,
                        finish(
                            ExecutionStatus::Failed,
                            Some("WORKTREE"),
                            Some(format!("cannot prepare the repository's worktree: {e}")),
                        ),
                    )
                    .await?;
                return Ok(());
            }
        }
    }
    if prepared.is_some() {
        // The worktree is the directory.
    } else if let Err(e) = std::fs::create_dir_all(&workdir) {
        writer
            .append(
                id,
                finish(
                    ExecutionStatus::Failed,
                    Some("WORKDIR"),
                    Some(format!("cannot create {}: {e}", workdir.display())),
                ),
            )
            .await?;
        return Ok(());
    }

    // A private tmp beside the work dir (never inside a worktree).
    let tmp = inner.work_root.join(format!("{id}.tmp"));
    let path_var = env.get("PATH").map(String::as_str);
    let sandbox = match sandbox_for(inner, &workdir, &tmp, &settings.sandbox_paths, path_var) {
        Ok(sandbox) => sandbox,
        Err(message) => {
            if let Some(p) = &prepared {
                inner.worktrees.finish(p).await;
            }
            let _ = std::fs::remove_dir_all(&tmp);
            writer
                .append(
                    id,
                    finish(ExecutionStatus::Failed, Some("SANDBOX"), Some(message)),
                )
                .await?;
            return Ok(());
        }
    };
    let mut env = env;
    env.insert("YAGURA_EXECUTION_ID".into(), id.to_string());
    env.insert("TMPDIR".into(), tmp.display().to_string());
    let spec = process::Spec {
        argv: execution.argv.clone(),
        env,
        workdir: workdir.clone(),
        timeout: Duration::from_secs(row.timeout_secs.max(1) as u64),
        grace: inner.config.kill_grace,
        memory_limit_mb: settings.memory_limit_mb,
        stdin: settings.stdin.clone().map(String::into_bytes),
        close_stdin: settings.close_stdin,
        sandbox,
    };
    let job = Job {
        spec,
        cap: row.output_cap_bytes.max(0) as u64,
        agent_type,
        issue_number,
        timeout_secs: row.timeout_secs.max(1) as u64,
    };
    let sink = WriterSink {
        writer,
        id,
        pids: &inner.pids,
    };
    let stopping = || inner.stopping.load(Ordering::SeqCst);
    // The worktree is cleaned up however the run went.
    let body = drive(job, control, &sink, &stopping).await;
    if let Ok(mut pids) = inner.pids.lock() {
        pids.remove(&id);
    }
    match &prepared {
        Some(p) => {
            let done = inner.worktrees.finish(p).await;
            for note in done.notes {
                // A note that cannot be stored must not keep the run from ending.
                let _ = writer
                    .append(
                        id,
                        EventBody::Log {
                            stream: LogStream::System,
                            level: LogLevel::Info,
                            message: note,
                            end: LineEnd::Lf,
                        },
                    )
                    .await;
            }
        }
        None => {
            let _ = std::fs::remove_dir_all(&workdir);
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    let body = match body {
        Ok(body) => body,
        // Its output could not be stored (the process was stopped): the run
        // ends with the reason rather than staying "running".
        Err(e) => {
            let storage = e.downcast_ref::<crate::events::writer::WriteError>();
            EventBody::Finished {
                agent_type,
                status: ExecutionStatus::Failed,
                result: None,
                error_code: Some(storage.map_or("INTERNAL", |w| w.code()).into()),
                error_message: Some(match storage {
                    Some(_) => format!("the run was stopped: its output could not be stored ({e})"),
                    None => format!("the run failed inside Yagura: {e:#}"),
                }),
                exit_code: None,
                signal: None,
                usage: None,
            }
        }
    };
    // How the run ended is written however long the store needs (a full
    // disk frees its reserve after the failing batch): a run never stays
    // "running" because its last event met the failure.
    let mut wait = Duration::from_millis(200);
    for attempt in 1.. {
        match writer.append(id, body.clone()).await {
            Ok(_) => break,
            Err(e) if attempt < 8 => {
                tracing::warn!(execution = %id, error = %e, "the end of a run not written yet; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The run's sandbox per `--sandbox`, with its private tmp created; the
/// error is the message the execution fails with.
fn sandbox_for(
    inner: &Inner,
    workdir: &Path,
    tmp: &Path,
    extra: &[String],
    path: Option<&str>,
) -> Result<Option<Arc<sandbox::Prepared>>, String> {
    std::fs::create_dir_all(tmp).map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
    let private = inner.work_root.parent().unwrap_or(&inner.work_root);
    let extra = sandbox::expand_home(extra);
    let paths = sandbox::Paths::for_run(
        workdir,
        tmp,
        &inner.config.yagura_bin,
        private,
        &extra,
        path.map(std::ffi::OsStr::new),
    );
    sandbox::for_mode(inner.config.sandbox, &paths)
        .map(|p| p.map(Arc::new))
        .map_err(|e| e.to_string())
}

/// Events go to the event writer; the process's pid is noted for metrics.
struct WriterSink<'a> {
    writer: &'a EventWriter,
    id: ExecutionId,
    pids: &'a std::sync::Mutex<std::collections::HashMap<ExecutionId, u32>>,
}

#[async_trait::async_trait]
impl Sink for WriterSink<'_> {
    async fn append(&self, body: EventBody) -> anyhow::Result<()> {
        if let EventBody::Started { pid: Some(pid), .. } = &body {
            if let Ok(mut pids) = self.pids.lock() {
                pids.insert(self.id, *pid);
            }
        }
        self.writer.append(self.id, body).await?;
        Ok(())
    }
    async fn enqueue(&self, body: EventBody) -> anyhow::Result<()> {
        self.writer.enqueue(self.id, body).await?;
        Ok(())
    }
}

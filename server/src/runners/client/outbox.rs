//! The runner's outbox: every report about a task, numbered per task
//! (1, 2, 3…), kept in order until the server acknowledges it, and sent
//! again after a reconnect.
//!
//! It is also a journal in the runner's work directory (`outbox.log`), so
//! it survives a restart of the runner itself: one line per report made
//! (`P`), per acknowledgement (`A`), per task that sent its last report
//! (`E`) and per task forgotten once that last report was acknowledged
//! (`D`). A line is written (to the page cache) before the report can be
//! sent, so a runner killed at any moment comes back with every report the
//! server had not acknowledged. Tasks that were running when it died are
//! gone with it: on load each gets a final `RUNNER_RESTARTED` report after
//! what it had printed, so the server stores every line and then ends the
//! run with the reason instead of waiting for a lease to run out.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use app::model::{AgentType, EventBody, ExecutionStatus};
use tokio::sync::Notify;

use crate::executions::drive::Sink;
use crate::runners::report;

/// Reports kept until acknowledged; more than this and tasks wait (their
/// output pipes fill, so the agents slow down) instead of memory growing.
const OUTBOX_LIMIT: usize = 200_000;

/// The journal is rewritten with only what is live once this much has been
/// appended since the last rewrite (and little is pending).
const COMPACT_AFTER: u64 = 64 * 1024 * 1024;

/// The journal's file name in the work directory.
pub const JOURNAL: &str = "outbox.log";

struct Pending {
    key: u64,
    task: String,
    seq: u64,
    json: String,
}

struct Journal {
    path: PathBuf,
    file: std::fs::File,
    /// The file's length up to its last whole line.
    len: u64,
    /// Bytes appended since the file was last rewritten.
    written: u64,
    /// A write failed (a full disk): said once, then the outbox carries on
    /// in memory.
    failing: bool,
}

impl Journal {
    fn write(&mut self, line: &str) {
        match self.file.write_all(line.as_bytes()) {
            Ok(()) => {
                self.len += line.len() as u64;
                self.written += line.len() as u64;
                self.failing = false;
            }
            Err(e) => {
                // A part may have been written (a full disk): cut it off,
                // so the next line does not run into it.
                let _ = self.file.set_len(self.len);
                if !self.failing {
                    tracing::warn!(error = %e, path = %self.path.display(), "cannot write the outbox journal; reports are kept in memory only");
                }
                self.failing = true;
            }
        }
    }
}

#[derive(Default)]
struct OutboxState {
    items: VecDeque<Pending>,
    next_key: u64,
    /// The last report number of each task not yet forgotten.
    seqs: HashMap<String, u64>,
    /// Tasks whose last report is made (forgotten once it is acknowledged).
    ended: HashSet<String>,
    journal: Option<Journal>,
}

impl OutboxState {
    fn log(&mut self, line: &str) {
        if let Some(j) = self.journal.as_mut() {
            j.write(line);
        }
    }

    /// Forgets tasks whose last report is acknowledged.
    fn forget_ended(&mut self) {
        let pending: HashSet<&str> = self.items.iter().map(|p| p.task.as_str()).collect();
        let done: Vec<String> = self
            .ended
            .iter()
            .filter(|t| !pending.contains(t.as_str()))
            .cloned()
            .collect();
        for task in done {
            self.ended.remove(&task);
            self.seqs.remove(&task);
            self.log(&format!("D\t{task}\n"));
        }
    }

    /// The live state as journal lines.
    fn snapshot(&self) -> String {
        let mut out = String::new();
        for (task, seq) in &self.seqs {
            out.push_str(&format!("S\t{task}\t{seq}\n"));
            if self.ended.contains(task) {
                out.push_str(&format!("E\t{task}\n"));
            }
        }
        for p in &self.items {
            out.push_str(&format!("P\t{}\t{}\t{}\n", p.task, p.seq, p.json));
        }
        out
    }

    /// Rewrites the journal with only what is live (a new file, synced,
    /// then renamed over the old one).
    fn compact(&mut self) -> std::io::Result<()> {
        let Some(path) = self.journal.as_ref().map(|j| j.path.clone()) else {
            return Ok(());
        };
        let text = self.snapshot();
        let tmp = path.with_extension("log.tmp");
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &path)?;
        // Until it is open again, nothing is written to the old file.
        self.journal = None;
        let file = std::fs::OpenOptions::new().append(true).open(&path)?;
        self.journal = Some(Journal {
            path,
            file,
            len: text.len() as u64,
            written: 0,
            failing: false,
        });
        Ok(())
    }
}

/// Unacknowledged reports, in the order they were made.
#[derive(Default)]
pub struct Outbox {
    state: Mutex<OutboxState>,
    pub added: Notify,
    room: Notify,
}

impl Outbox {
    /// The outbox kept in `dir`, with what a previous run of the runner
    /// left unacknowledged; tasks that were running then get their final
    /// report (`RUNNER_RESTARTED`). Returns the outbox and those tasks.
    pub fn open(dir: &Path) -> anyhow::Result<(Outbox, Vec<String>)> {
        let path = dir.join(JOURNAL);
        let text = match std::fs::read(&path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let mut state = load(&text);
        // Tasks that had not made their last report were running when the
        // previous process ended: their processes are gone.
        let interrupted: Vec<String> = {
            let mut t: Vec<String> = state
                .seqs
                .keys()
                .filter(|t| !state.ended.contains(*t))
                .cloned()
                .collect();
            t.sort();
            t
        };
        for task in &interrupted {
            let seq = state.seqs.get(task).copied().unwrap_or(0) + 1;
            let body = EventBody::Finished {
                agent_type: AgentType::Custom,
                status: ExecutionStatus::Failed,
                result: None,
                error_code: Some("RUNNER_RESTARTED".into()),
                error_message: Some(
                    "the runner stopped while this task ran; its process was lost".into(),
                ),
                exit_code: None,
                signal: None,
                usage: None,
            };
            if let Some(frame) = report::report(task, seq, &body) {
                let key = state.next_key;
                state.next_key += 1;
                state.items.push_back(Pending {
                    key,
                    task: task.clone(),
                    seq,
                    json: serde_json::to_string(&frame).unwrap_or_default(),
                });
                state.seqs.insert(task.clone(), seq);
                state.ended.insert(task.clone());
            }
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        state.journal = Some(Journal {
            path: path.clone(),
            file,
            len,
            written: 0,
            failing: false,
        });
        state
            .compact()
            .with_context(|| format!("cannot rewrite {}", path.display()))?;
        Ok((
            Outbox {
                state: Mutex::new(state),
                added: Notify::new(),
                room: Notify::new(),
            },
            interrupted,
        ))
    }

    pub async fn push(&self, task: &str, body: &EventBody) {
        loop {
            let notified = self.room.notified();
            {
                let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
                if s.items.len() < OUTBOX_LIMIT {
                    let seq = s.seqs.get(task).copied().unwrap_or(0) + 1;
                    let Some(frame) = report::report(task, seq, body) else {
                        return; // nothing to report
                    };
                    let json = serde_json::to_string(&frame).unwrap_or_default();
                    s.seqs.insert(task.to_string(), seq);
                    let key = s.next_key;
                    s.next_key += 1;
                    // One write: the report, and that it is the task's last.
                    let mut line = format!("P\t{task}\t{seq}\t{json}\n");
                    if matches!(body, EventBody::Finished { .. }) {
                        s.ended.insert(task.to_string());
                        line.push_str(&format!("E\t{task}\n"));
                    }
                    s.log(&line);
                    s.items.push_back(Pending {
                        key,
                        task: task.to_string(),
                        seq,
                        json,
                    });
                    drop(s);
                    self.added.notify_waiters();
                    return;
                }
            }
            notified.await;
        }
    }

    pub fn ack(&self, task: &str, seq: u64) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.items.retain(|p| !(p.task == task && p.seq <= seq));
        s.log(&format!("A\t{task}\t{seq}\n"));
        s.forget_ended();
        let rewrite = s
            .journal
            .as_ref()
            .is_some_and(|j| j.written > COMPACT_AFTER && s.items.len() < 50_000);
        if rewrite {
            if let Err(e) = s.compact() {
                tracing::warn!(error = %e, "cannot rewrite the outbox journal");
            }
        }
        drop(s);
        self.room.notify_waiters();
    }

    /// Drops everything about a task that the server gives to this runner
    /// (again): reports of an earlier attempt of it are void, and the new
    /// attempt numbers from 1.
    pub fn discard(&self, task: &str) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let before = s.items.len();
        s.items.retain(|p| p.task != task);
        let known = s.seqs.remove(task).is_some();
        s.ended.remove(task);
        if known || before != s.items.len() {
            s.log(&format!("D\t{task}\n"));
        }
        drop(s);
        self.room.notify_waiters();
    }

    /// Reports from `key` on, in order.
    pub fn from(&self, key: u64) -> Vec<(u64, String)> {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.items
            .iter()
            .filter(|p| p.key >= key)
            .map(|p| (p.key, p.json.clone()))
            .collect()
    }

    /// Tasks with reports not yet acknowledged: the runner still speaks
    /// for them (their last report may be among them), so it names them
    /// as running when it connects.
    pub fn pending_tasks(&self) -> HashSet<String> {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.items.iter().map(|p| p.task.clone()).collect()
    }
}

/// The state a journal's text describes. A line cut short by a crash (no
/// newline) is ignored: its report was never sent.
fn load(text: &str) -> OutboxState {
    let mut state = OutboxState::default();
    // The highest acknowledged number per task: reports up to it are gone.
    let mut acked: HashMap<String, u64> = HashMap::new();
    let complete = match text.rfind('\n') {
        Some(end) => &text[..=end],
        None => "",
    };
    for line in complete.lines() {
        let mut parts = line.splitn(4, '\t');
        let (Some(kind), Some(task)) = (parts.next(), parts.next()) else {
            continue;
        };
        let number = parts.next().and_then(|n| n.parse::<u64>().ok());
        match (kind, number) {
            ("P", Some(seq)) => {
                let Some(json) = parts.next() else { continue };
                let last = state.seqs.entry(task.to_string()).or_insert(0);
                *last = (*last).max(seq);
                if acked.get(task).is_some_and(|a| seq <= *a) {
                    continue;
                }
                let key = state.next_key;
                state.next_key += 1;
                state.items.push_back(Pending {
                    key,
                    task: task.to_string(),
                    seq,
                    json: json.to_string(),
                });
            }
            ("S", Some(seq)) => {
                let last = state.seqs.entry(task.to_string()).or_insert(0);
                *last = (*last).max(seq);
            }
            ("A", Some(seq)) => {
                let a = acked.entry(task.to_string()).or_insert(0);
                *a = (*a).max(seq);
            }
            ("E", _) => {
                state.ended.insert(task.to_string());
            }
            ("D", _) => {
                state.items.retain(|p| p.task != task);
                acked.remove(task);
                state.seqs.remove(task);
                state.ended.remove(task);
            }
            _ => {}
        }
    }
    state
        .items
        .retain(|p| acked.get(&p.task).is_none_or(|a| p.seq > *a));
    state.forget_ended();
    state
}

/// A task's events go to the outbox.
pub struct OutboxSink {
    pub outbox: Arc<Outbox>,
    pub task: String,
}

#[async_trait::async_trait]
impl Sink for OutboxSink {
    async fn append(&self, body: EventBody) -> anyhow::Result<()> {
        self.outbox.push(&self.task, &body).await;
        Ok(())
    }
    async fn enqueue(&self, body: EventBody) -> anyhow::Result<()> {
        self.outbox.push(&self.task, &body).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(m: &str) -> EventBody {
        EventBody::Log {
            stream: app::model::LogStream::Stdout,
            level: app::model::LogLevel::Info,
            message: m.into(),
            end: Default::default(),
        }
    }

    fn finished() -> EventBody {
        EventBody::Finished {
            agent_type: AgentType::Custom,
            status: ExecutionStatus::Completed,
            result: None,
            error_code: None,
            error_message: None,
            exit_code: Some(0),
            signal: None,
            usage: None,
        }
    }

    #[tokio::test]
    async fn the_outbox_numbers_per_task_and_forgets_what_is_acknowledged() {
        let outbox = Outbox::default();
        outbox.push("a", &log("1")).await;
        outbox.push("b", &log("x")).await;
        outbox.push("a", &log("2")).await;
        let all = outbox.from(0);
        assert_eq!(all.len(), 3);
        assert!(all[2].1.contains(r#""seq":2"#));
        outbox.ack("a", 1);
        let left = outbox.from(0);
        assert_eq!(left.len(), 2);
        assert!(left[0].1.contains(r#""taskId":"b""#));
        // From a key on: what a connection has not sent yet.
        assert_eq!(outbox.from(all[2].0).len(), 1);
        assert_eq!(
            outbox.pending_tasks(),
            HashSet::from(["a".to_string(), "b".to_string()])
        );
    }

    #[tokio::test]
    async fn a_reopened_outbox_holds_what_was_not_acknowledged_and_ends_interrupted_tasks() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (outbox, interrupted) = Outbox::open(dir.path()).unwrap();
            assert!(interrupted.is_empty());
            // "done": ended and fully acknowledged → forgotten.
            outbox.push("done", &log("1")).await;
            outbox.push("done", &finished()).await;
            outbox.ack("done", 2);
            // "ended": its last report is made but not acknowledged.
            outbox.push("ended", &log("1")).await;
            outbox.push("ended", &finished()).await;
            outbox.ack("ended", 1);
            // "running": still running, two lines acknowledged, one not.
            for m in ["1", "2", "3"] {
                outbox.push("running", &log(m)).await;
            }
            outbox.ack("running", 2);
        }
        // A torn last line (the process died mid-write) is ignored.
        let path = dir.path().join(JOURNAL);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"P\trunning\t4\t{\"type\":\"task_lo").unwrap();
        drop(f);

        let (outbox, interrupted) = Outbox::open(dir.path()).unwrap();
        assert_eq!(interrupted, vec!["running".to_string()]);
        let left: Vec<String> = outbox.from(0).into_iter().map(|(_, j)| j).collect();
        assert_eq!(left.len(), 3, "{left:?}");
        assert!(left[0].contains(r#""taskId":"ended""#) && left[0].contains(r#""seq":2"#));
        assert!(left[1].contains(r#""taskId":"running""#) && left[1].contains(r#""seq":3"#));
        assert!(left[2].contains("RUNNER_RESTARTED") && left[2].contains(r#""seq":4"#));
        assert_eq!(
            outbox.pending_tasks(),
            HashSet::from(["ended".to_string(), "running".to_string()])
        );
        // Once everything is acknowledged, a third start has nothing left.
        outbox.ack("ended", 2);
        outbox.ack("running", 4);
        drop(outbox);
        let (outbox, interrupted) = Outbox::open(dir.path()).unwrap();
        assert!(interrupted.is_empty());
        assert!(outbox.from(0).is_empty());
        // A new task starts numbering at 1 again.
        outbox.push("running", &log("again")).await;
        assert!(outbox.from(0)[0].1.contains(r#""seq":1"#));
    }
}

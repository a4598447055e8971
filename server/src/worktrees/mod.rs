//! Working copies. A repository's main checkout is its local path, or a
//! clone of its GitHub twin made once in `<data dir>/repos/<id>`. Each
//! execution on one of its issues gets its own `git worktree` on a branch
//! `yagura/<issue>-<short id>`, in the execution's working directory.
//! Steps of a workflow run start from the run's branch and their commits
//! are collected on it (fast-forward, or a merge without conflicts). A
//! worktree is removed when its execution ends (unless the repository
//! keeps them); stale ones are pruned at start-up.
//!
//! A repository's upstream (a clone URL and a token) comes from
//! [`RemoteAccess`], which the GitHub side implements; git itself runs
//! through [`git::git`].

pub mod changes;
pub mod diff;
pub mod git;
mod highlight;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;

use crate::db::{executions, repositories as store, workflows, Db};
use git::{git, Remote};

/// Where git fetches and pushes a repository that has an upstream.
#[async_trait::async_trait]
pub trait RemoteAccess: Send + Sync + 'static {
    /// The upstream's clone URL and a token for it; `None` for a
    /// repository without one (a local checkout).
    async fn remote(&self, repo: &store::RepositoryRow) -> anyhow::Result<Option<Remote>>;
}
/// How long a measured disk use is shown before it is measured again.
const DISK_TTL: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct Worktrees {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    remotes: Arc<dyn RemoteAccess>,
    repos_root: PathBuf,
    work_root: PathBuf,
    /// One lock per repository: clones, fetches and worktree changes of a
    /// repository happen one at a time.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    disk: Mutex<HashMap<String, (Instant, u64)>>,
}

/// An execution's worktree, as made by [`Worktrees::prepare`].
#[derive(Clone, Debug)]
pub struct Prepared {
    pub repo_id: String,
    pub main: PathBuf,
    pub path: PathBuf,
    pub branch: String,
    /// The commit the branch started at.
    pub start: String,
    /// The run's branch, for a workflow step.
    pub run_branch: Option<String>,
    pub keep: bool,
}

/// What became of an execution's work.
#[derive(Clone, Debug, Default)]
pub struct Finished {
    pub commits: u64,
    /// Lines for the execution's log.
    pub notes: Vec<String>,
}

fn short(id: &str) -> &str {
    &id[..id.len().min(8)]
}

/// `yagura/<issue>-<short id>`, or `yagura/<short id>` without an issue.
pub fn branch_name(issue_number: Option<i64>, id: &str) -> String {
    match issue_number {
        Some(n) => format!("yagura/{n}-{}", short(id)),
        None => format!("yagura/{}", short(id)),
    }
}

impl Worktrees {
    pub fn new(db: Db, remotes: Arc<dyn RemoteAccess>, data_dir: &Path) -> Worktrees {
        Worktrees {
            inner: Arc::new(Inner {
                db,
                remotes,
                repos_root: data_dir.join("repos"),
                work_root: data_dir.join("work"),
                locks: Mutex::new(HashMap::new()),
                disk: Mutex::new(HashMap::new()),
            }),
        }
    }

    fn lock_of(&self, repo_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.inner.locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(repo_id.to_string()).or_default().clone()
    }

    /// The main checkout of a repository, if agents can work in it: its
    /// local path (a git repository), or a clone of its GitHub twin.
    fn main_of(&self, repo: &store::RepositoryRow) -> Option<PathBuf> {
        if let Some(path) = &repo.local_path {
            return Some(PathBuf::from(path));
        }
        repo.github_credentials
            .as_ref()
            .map(|_| self.inner.repos_root.join(&repo.id))
    }

    /// The upstream's clone URL and a token for it, when the repository
    /// has one. Fetch and push go to this URL, not to a remote named in the
    /// checkout's config (which agents can change).
    async fn remote(&self, repo: &store::RepositoryRow) -> anyhow::Result<Option<Remote>> {
        let remote = self.inner.remotes.remote(repo).await?;
        if let Some(r) = &remote {
            if r.url.starts_with('-') {
                bail!("the upstream gave a clone URL that is not one: {:?}", r.url);
            }
        }
        Ok(remote)
    }

    /// Makes sure the main checkout exists (cloning once) and is current
    /// (fetching, for clones). Answers the commit new work starts from.
    async fn ensure_main(
        &self,
        repo: &store::RepositoryRow,
        main: &Path,
        notes: &mut Vec<String>,
    ) -> anyhow::Result<String> {
        let cloned = repo.local_path.is_none();
        if cloned {
            let remote = self
                .remote(repo)
                .await?
                .ok_or_else(|| anyhow::anyhow!("the repository is not connected"))?;
            if !main.join(".git").exists() {
                std::fs::create_dir_all(&self.inner.repos_root)?;
                let _ = std::fs::remove_dir_all(main);
                git(
                    &self.inner.repos_root,
                    &[
                        "clone",
                        "--quiet",
                        "--",
                        &remote.url,
                        &main.display().to_string(),
                    ],
                    Some(&remote),
                )
                .await?;
                notes.push(format!(
                    "cloned {} into {}",
                    repo.github.as_deref().unwrap_or(&repo.name),
                    main.display()
                ));
            } else if let Err(e) = git(
                main,
                &[
                    "fetch",
                    "--quiet",
                    "--prune",
                    "--",
                    &remote.url,
                    "+refs/heads/*:refs/remotes/origin/*",
                ],
                Some(&remote),
            )
            .await
            {
                notes.push(format!(
                    "fetch failed, working from the last fetched state: {e}"
                ));
            }
            let fresh = store::find(&self.inner.db, &repo.id).await?;
            let branch = fresh.and_then(|r| r.default_branch);
            let base = match branch {
                Some(b) => format!("origin/{b}"),
                None => "origin/HEAD".to_string(),
            };
            return match git(
                main,
                &["rev-parse", "--verify", &format!("{base}^{{commit}}")],
                None,
            )
            .await
            {
                Ok(commit) => Ok(commit),
                Err(_) => git(main, &["rev-parse", "--verify", "HEAD^{commit}"], None).await,
            };
        }
        if !main.join(".git").exists() {
            bail!("{} is not a git repository", main.display());
        }
        git(main, &["rev-parse", "--verify", "HEAD^{commit}"], None).await
    }

    /// Makes the execution's worktree at `path` when it runs on an issue of
    /// a repository agents can work in; `None` otherwise (it then gets a
    /// plain empty directory).
    pub async fn prepare(
        &self,
        execution_id: &str,
        repo_id: &str,
        issue_number: Option<i64>,
        run: Option<&str>,
        path: &Path,
    ) -> anyhow::Result<Option<(Prepared, Vec<String>)>> {
        // git runs in the main checkout: a relative path would land there.
        let path = &std::path::absolute(path)?;
        let Some(repo) = store::find(&self.inner.db, repo_id).await? else {
            return Ok(None);
        };
        let Some(main) = self.main_of(&repo) else {
            return Ok(None);
        };
        let lock = self.lock_of(repo_id);
        let _guard = lock.lock().await;
        let mut notes = Vec::new();
        let base = self.ensure_main(&repo, &main, &mut notes).await?;
        let run_branch = run.map(|r| branch_name(issue_number, r));
        let mut start = base.clone();
        if let Some(rb) = &run_branch {
            match git(
                &main,
                &[
                    "rev-parse",
                    "--verify",
                    "--quiet",
                    &format!("refs/heads/{rb}"),
                ],
                None,
            )
            .await
            {
                Ok(tip) if !tip.is_empty() => start = tip,
                _ => {
                    git(&main, &["branch", rb, &base], None).await?;
                    if let Some(run) = run {
                        workflows::set_run_branch(&self.inner.db, run, rb).await?;
                    }
                }
            }
        }
        let branch = branch_name(issue_number, execution_id);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let _ = std::fs::remove_dir_all(path);
        git(
            &main,
            &[
                "worktree",
                "add",
                "--quiet",
                "-B",
                &branch,
                &path.display().to_string(),
                &start,
            ],
            None,
        )
        .await?;
        executions::set_execution_worktree(
            &self.inner.db,
            execution_id,
            repo_id,
            &branch,
            &start,
            &path.display().to_string(),
        )
        .await?;
        notes.push(format!(
            "working in a worktree of {} on branch {branch} (from {})",
            repo.name,
            short(&start)
        ));
        Ok(Some((
            Prepared {
                repo_id: repo_id.to_string(),
                main,
                path: path.to_path_buf(),
                branch,
                start,
                run_branch,
                keep: repo.keep_worktrees,
            },
            notes,
        )))
    }

    /// After the execution: counts its commits, collects them on the run's
    /// branch, and removes the worktree (and a branch with no commits)
    /// unless the repository keeps worktrees.
    pub async fn finish(&self, p: &Prepared) -> Finished {
        let lock = self.lock_of(&p.repo_id);
        let _guard = lock.lock().await;
        let mut out = Finished::default();
        let range = format!("{}..refs/heads/{}", p.start, p.branch);
        out.commits = git(&p.main, &["rev-list", "--count", &range], None)
            .await
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let mut merged = out.commits == 0;
        if let (Some(rb), true) = (&p.run_branch, out.commits > 0) {
            match self.collect(&p.main, rb, &p.branch).await {
                Ok(how) => {
                    merged = true;
                    out.notes.push(format!(
                        "{} commit(s) collected on {rb} ({how})",
                        out.commits
                    ));
                }
                Err(e) => out.notes.push(format!(
                    "{} commit(s) stay on {} only: {e}",
                    out.commits, p.branch
                )),
            }
        } else if out.commits > 0 {
            out.notes
                .push(format!("{} commit(s) on branch {}", out.commits, p.branch));
        }
        if !p.keep {
            if let Err(e) = git(
                &p.main,
                &[
                    "worktree",
                    "remove",
                    "--force",
                    &p.path.display().to_string(),
                ],
                None,
            )
            .await
            {
                out.notes
                    .push(format!("could not remove the worktree: {e}"));
                let _ = std::fs::remove_dir_all(&p.path);
                let _ = git(&p.main, &["worktree", "prune"], None).await;
            }
            if merged {
                let _ = git(&p.main, &["branch", "-D", &p.branch], None).await;
            }
        }
        self.forget_disk(&p.repo_id);
        out
    }

    /// Puts `branch`'s commits on `run_branch`: a fast-forward when the run
    /// branch did not move, else a merge commit made without a checkout
    /// (refused on conflicts).
    async fn collect(
        &self,
        main: &Path,
        run_branch: &str,
        branch: &str,
    ) -> anyhow::Result<&'static str> {
        let run_ref = format!("refs/heads/{run_branch}");
        let run_tip = git(main, &["rev-parse", "--verify", &run_ref], None).await?;
        let tip = git(
            main,
            &["rev-parse", "--verify", &format!("refs/heads/{branch}")],
            None,
        )
        .await?;
        if git(main, &["merge-base", "--is-ancestor", &run_tip, &tip], None)
            .await
            .is_ok()
        {
            git(main, &["update-ref", &run_ref, &tip, &run_tip], None).await?;
            return Ok("fast-forward");
        }
        let tree = git(
            main,
            &[
                "merge-tree",
                "--write-tree",
                "--no-messages",
                &run_tip,
                &tip,
            ],
            None,
        )
        .await
        .map_err(|_| anyhow::anyhow!("it conflicts with what other steps committed"))?;
        let tree = tree.lines().next().unwrap_or_default().to_string();
        let message = format!("Merge {branch} into {run_branch}");
        let commit = git(
            main,
            &[
                "commit-tree",
                &tree,
                "-p",
                &run_tip,
                "-p",
                &tip,
                "-m",
                &message,
            ],
            None,
        )
        .await?;
        git(main, &["update-ref", &run_ref, &commit, &run_tip], None).await?;
        Ok("merged")
    }

    /// Commits on `branch` that the base branch does not have.
    pub async fn commits_ahead(
        &self,
        repo: &store::RepositoryRow,
        branch: &str,
    ) -> anyhow::Result<u64> {
        let Some(main) = self.main_of(repo) else {
            return Ok(0);
        };
        let base = Self::base_of(repo);
        let n = git(
            &main,
            &[
                "rev-list",
                "--count",
                &format!("{base}..refs/heads/{branch}"),
            ],
            None,
        )
        .await?;
        Ok(n.parse().unwrap_or(0))
    }

    /// Pushes `branch` to the repository's GitHub twin.
    pub async fn push(&self, repo: &store::RepositoryRow, branch: &str) -> anyhow::Result<()> {
        let Some(main) = self.main_of(repo) else {
            bail!("the repository has no checkout")
        };
        let lock = self.lock_of(&repo.id);
        let _guard = lock.lock().await;
        let remote = self
            .remote(repo)
            .await?
            .ok_or_else(|| anyhow::anyhow!("the repository is not connected to GitHub"))?;
        git(
            &main,
            &[
                "push",
                "--quiet",
                "--no-verify",
                "--",
                &remote.url,
                &format!("refs/heads/{branch}:refs/heads/{branch}"),
            ],
            Some(&remote),
        )
        .await?;
        Ok(())
    }

    /// At start-up: every worktree under the work directory belongs to an
    /// execution that ended with the previous process, so all are removed
    /// (unless their repository keeps worktrees), and git forgets missing ones.
    pub async fn prune_stale(&self) -> anyhow::Result<usize> {
        let mut removed = 0;
        for repo in store::working(&self.inner.db).await? {
            let Some(main) = self.main_of(&repo) else {
                continue;
            };
            if !main.join(".git").exists() {
                continue;
            }
            let _ = git(&main, &["worktree", "prune"], None).await;
            if repo.keep_worktrees {
                continue;
            }
            let list = git(&main, &["worktree", "list", "--porcelain"], None)
                .await
                .unwrap_or_default();
            for line in list.lines() {
                let Some(path) = line.strip_prefix("worktree ") else {
                    continue;
                };
                if Path::new(path).starts_with(&self.inner.work_root) {
                    match git(&main, &["worktree", "remove", "--force", path], None).await {
                        Ok(_) => removed += 1,
                        Err(e) => {
                            tracing::warn!(path, error = %e, "cannot remove a stale worktree")
                        }
                    }
                }
            }
            let _ = git(&main, &["worktree", "prune"], None).await;
        }
        Ok(removed)
    }

    /// Bytes used by a repository's clone and its worktrees (measured at
    /// most once a minute).
    pub async fn disk_usage(&self, repo: &store::RepositoryRow) -> Option<u64> {
        if let Some((at, bytes)) = self.inner.disk.lock().ok()?.get(&repo.id) {
            if at.elapsed() < DISK_TTL {
                return Some(*bytes);
            }
        }
        let main = self.main_of(repo)?;
        if !main.exists() {
            return Some(0);
        }
        let work_root = self.inner.work_root.clone();
        let is_clone = repo.local_path.is_none();
        let bytes = tokio::task::spawn_blocking(move || {
            let mut total = if is_clone { dir_size(&main) } else { 0 };
            // Worktrees: the directories git lists for this repository.
            let list = std::process::Command::new("git")
                .arg("-C")
                .arg(&main)
                .args(["worktree", "list", "--porcelain"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
                .unwrap_or_default();
            for line in list.lines() {
                if let Some(path) = line.strip_prefix("worktree ") {
                    if Path::new(path).starts_with(&work_root) {
                        total += dir_size(Path::new(path));
                    }
                }
            }
            total
        })
        .await
        .ok()?;
        if let Ok(mut disk) = self.inner.disk.lock() {
            disk.insert(repo.id.clone(), (Instant::now(), bytes));
        }
        Some(bytes)
    }

    fn forget_disk(&self, repo_id: &str) {
        if let Ok(mut disk) = self.inner.disk.lock() {
            disk.remove(repo_id);
        }
    }
}

fn dir_size(path: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                total += meta.len();
            }
        }
    }
    total
}

#[cfg(test)]
mod tests;

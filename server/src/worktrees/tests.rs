//! Worktrees on a real local git repository.

use super::*;

struct NoUpstream;

#[async_trait::async_trait]
impl RemoteAccess for NoUpstream {
    async fn remote(&self, _repo: &store::RepositoryRow) -> anyhow::Result<Option<Remote>> {
        Ok(None)
    }
}

fn sh(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@t")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@t")
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A step commits `file` with `text` in its worktree.
fn commit(p: &Prepared, file: &str, text: &str) {
    std::fs::write(p.path.join(file), text).unwrap();
    sh(&p.path, &["add", file]);
    sh(&p.path, &["commit", "-q", "-m", file]);
}

#[test]
fn branches_are_named_after_the_issue_and_a_short_id() {
    assert_eq!(
        branch_name(Some(12), "0123456789abcdef"),
        "yagura/12-01234567"
    );
    assert_eq!(branch_name(Some(3), "abc"), "yagura/3-abc");
    assert_eq!(branch_name(None, "0123456789abcdef"), "yagura/01234567");
}

/// Steps of one run work on their own branches; their commits are
/// collected on the run's branch (fast-forward, then a merge), a later
/// step starts from there, a conflicting one stays on its own branch,
/// and no worktree is left behind.
#[tokio::test]
async fn steps_collect_their_commits_on_the_run_branch() {
    let (dir, store) = crate::db::test_store().await;
    let main = dir.path().join("checkout");
    std::fs::create_dir_all(&main).unwrap();
    sh(&main, &["init", "-q", "-b", "main"]);
    std::fs::write(main.join("README"), "hello\n").unwrap();
    sh(&main, &["add", "README"]);
    sh(&main, &["commit", "-q", "-m", "start"]);
    let local = main.display().to_string();
    store::insert(&store.db, "repo", "web", None, Some(&local), 1)
        .await
        .unwrap();
    let trees = Worktrees::new(store.db.clone(), Arc::new(NoUpstream), &store.data_dir);
    let work = |name: &str| store.data_dir.join("work").join(name);
    let prepare = |exec: &'static str| {
        let trees = trees.clone();
        let path = work(exec);
        async move {
            trees
                .prepare(exec, "repo", Some(12), Some("run00000"), &path)
                .await
                .unwrap()
                .expect("a worktree")
                .0
        }
    };

    let a = prepare("aaaaaaaa1").await;
    let b = prepare("bbbbbbbb1").await;
    assert_eq!(a.branch, "yagura/12-aaaaaaaa");
    assert_eq!(a.run_branch.as_deref(), Some("yagura/12-run00000"));
    commit(&a, "a.txt", "from a\n");
    commit(&b, "b.txt", "from b\n");
    let done_a = trees.finish(&a).await;
    assert_eq!(done_a.commits, 1);
    assert!(
        done_a.notes[0].contains("fast-forward"),
        "{:?}",
        done_a.notes
    );
    let done_b = trees.finish(&b).await;
    assert!(done_b.notes[0].contains("merged"), "{:?}", done_b.notes);

    // The next step starts where the run is: both files are there.
    let c = prepare("cccccccc1").await;
    assert!(c.path.join("a.txt").exists() && c.path.join("b.txt").exists());
    commit(&c, "a.txt", "c's version\n");
    // A sibling that changed the same file differently conflicts.
    let d = prepare("dddddddd1").await;
    commit(&d, "a.txt", "d's version\n");
    trees.finish(&c).await;
    let done_d = trees.finish(&d).await;
    assert!(
        done_d.notes[0].contains("stay on yagura/12-dddddddd"),
        "{:?}",
        done_d.notes
    );

    let files = sh(&main, &["ls-tree", "--name-only", "yagura/12-run00000"]);
    assert_eq!(
        files.lines().collect::<Vec<_>>(),
        ["README", "a.txt", "b.txt"]
    );
    let worktrees = sh(&main, &["worktree", "list"]);
    assert_eq!(worktrees.lines().count(), 1, "{worktrees}");
    assert_eq!(sh(&main, &["status", "--porcelain"]), "");
    // The conflicting step's work is kept on its branch; the others' go.
    let branches = sh(&main, &["branch", "--format=%(refname:short)"]);
    assert!(branches.contains("yagura/12-dddddddd"), "{branches}");
    assert!(!branches.contains("yagura/12-aaaaaaaa"), "{branches}");
}

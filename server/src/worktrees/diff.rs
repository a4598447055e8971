//! What a branch changes, read with the server's own git: the files with
//! +/− counts, the commits, and one file's unified diff as hunks of
//! highlighted lines.

use std::path::Path;

use app::model::{
    ChangedFile, Commit, DiffLine, FileDiff, FileStatus, Hunk, LineKind, LINES_PER_FILE,
};

/// A file with more changed lines than this is listed but its diff is not
/// read (generated files, lock files, vendored code).
pub const LARGEST_DIFF: u32 = 20_000;
/// Characters of one line shown; the rest is cut (minified files).
const LONGEST_LINE: usize = 2_000;

use super::git::{git, git_output};
use super::highlight;

/// Diff options every call shares: renames found, no colour, no external
/// diff or text conversion a repository's config could ask for.
const DIFF: [&str; 5] = [
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "-M",
    "--end-of-options",
];

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The files `head` changes since its merge base with `base`.
pub async fn files(main: &Path, base: &str, head: &str) -> anyhow::Result<Vec<ChangedFile>> {
    let range = format!("{base}...{head}");
    let mut args = vec!["diff", "--name-status", "-z"];
    args.extend(DIFF);
    args.push(&range);
    let names = git_output(main, &args, None).await?;
    args[1] = "--numstat";
    let counts = git_output(main, &args, None).await?;

    let mut files = Vec::new();
    let mut fields = names.split(|b| *b == 0).filter(|f| !f.is_empty());
    while let Some(status) = fields.next() {
        let status = FileStatus::from_git(&text(status));
        let first = fields.next().map(text).unwrap_or_default();
        let (old_path, path) = if matches!(status, FileStatus::Renamed | FileStatus::Copied) {
            (Some(first), fields.next().map(text).unwrap_or_default())
        } else {
            (None, first)
        };
        files.push(ChangedFile {
            path,
            old_path,
            status,
            additions: 0,
            deletions: 0,
            binary: false,
        });
    }
    // `added\tdeleted\tpath\0`, or `added\tdeleted\t\0old\0new\0` for a
    // rename; `-\t-\t` for a binary file. Same order as the names.
    let mut fields = counts.split(|b| *b == 0);
    let mut i = 0;
    while let Some(entry) = fields.next() {
        if entry.is_empty() {
            continue;
        }
        let entry = text(entry);
        let mut parts = entry.splitn(3, '\t');
        let (added, deleted) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        if parts.next().unwrap_or("").is_empty() {
            // A rename: the two paths follow.
            fields.next();
            fields.next();
        }
        if let Some(file) = files.get_mut(i) {
            file.binary = added == "-";
            file.additions = added.parse().unwrap_or(0);
            file.deletions = deleted.parse().unwrap_or(0);
        }
        i += 1;
    }
    Ok(files)
}

/// The commits on `head` that `base` does not have, newest first.
pub async fn commits(main: &Path, base: &str, head: &str) -> anyhow::Result<Vec<Commit>> {
    let range = format!("{base}..{head}");
    let out = git(
        main,
        &[
            "log",
            "--max-count=100",
            "--format=%H%x1f%an%x1f%at%x1f%s",
            "--end-of-options",
            &range,
        ],
        None,
    )
    .await?;
    Ok(out
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\x1f');
            Some(Commit {
                sha: f.next()?.to_string(),
                author: f.next()?.to_string(),
                at: f.next()?.parse::<i64>().ok()? * 1000,
                subject: f.next().unwrap_or("").to_string(),
            })
        })
        .collect())
}

/// One file's diff, its lines highlighted (none for a binary file or one
/// with more than [`LARGEST_DIFF`] changed lines: `omitted` says how many).
pub async fn file_diff(
    main: &Path,
    base: &str,
    head: &str,
    file: &ChangedFile,
) -> anyhow::Result<FileDiff> {
    let changed = file.additions.saturating_add(file.deletions);
    if file.binary || changed > LARGEST_DIFF {
        return Ok(FileDiff {
            path: file.path.clone(),
            hunks: Vec::new(),
            omitted: if file.binary { 0 } else { changed },
        });
    }
    let range = format!("{base}...{head}");
    let mut args = vec!["diff", "--unified=3"];
    args.extend(DIFF);
    args.extend([range.as_str(), "--", file.path.as_str()]);
    if let Some(old) = &file.old_path {
        args.push(old);
    }
    let patch = text(&git_output(main, &args, None).await?);
    let path = file.path.clone();
    tokio::task::spawn_blocking(move || parse(&path, &patch))
        .await
        .map_err(|e| anyhow::anyhow!("highlighting failed: {e}"))
}

/// `@@ -12,5 +12,7 @@ …` → (12, 12).
fn hunk_start(header: &str) -> Option<(u32, u32)> {
    let mut parts = header.strip_prefix("@@ ")?.split(' ');
    let old = parts.next()?.strip_prefix('-')?;
    let new = parts.next()?.strip_prefix('+')?;
    let first = |r: &str| r.split(',').next()?.parse().ok();
    Some((first(old)?, first(new)?))
}

/// A line as read from a patch: its kind, old and new numbers, text.
type RawLine<'a> = (LineKind, Option<u32>, Option<u32>, &'a str);

/// A unified diff of one file as hunks, at most [`LINES_PER_FILE`] lines.
pub fn parse(path: &str, patch: &str) -> FileDiff {
    let mut hunks: Vec<(String, Vec<RawLine>)> = Vec::new();
    let (mut old, mut new) = (0u32, 0u32);
    let mut kept = 0usize;
    let mut omitted = 0u32;
    for line in patch.lines() {
        if line.starts_with("@@") {
            if let Some((o, n)) = hunk_start(line) {
                (old, new) = (o, n);
                hunks.push((line.to_string(), Vec::new()));
            }
            continue;
        }
        let Some((_, lines)) = hunks.last_mut() else {
            // The header (diff --git, index, ---, +++).
            continue;
        };
        let (kind, rest) = match line.as_bytes().first() {
            Some(b'+') => (LineKind::Added, &line[1..]),
            Some(b'-') => (LineKind::Removed, &line[1..]),
            Some(b' ') => (LineKind::Context, &line[1..]),
            Some(b'\\') => (LineKind::Note, line),
            None => (LineKind::Context, ""),
            _ => continue,
        };
        if kept >= LINES_PER_FILE {
            omitted += u32::from(kind != LineKind::Note);
            continue;
        }
        kept += 1;
        let rest = match rest.char_indices().nth(LONGEST_LINE) {
            Some((cut, _)) => &rest[..cut],
            None => rest,
        };
        let numbers = match kind {
            LineKind::Added => (None, Some(new)),
            LineKind::Removed => (Some(old), None),
            LineKind::Context => (Some(old), Some(new)),
            LineKind::Note => (None, None),
        };
        match kind {
            LineKind::Added => new += 1,
            LineKind::Removed => old += 1,
            LineKind::Context => {
                old += 1;
                new += 1;
            }
            LineKind::Note => {}
        }
        lines.push((kind, numbers.0, numbers.1, rest));
    }
    let hunks = hunks
        .into_iter()
        .filter(|(_, lines)| !lines.is_empty())
        .map(|(header, lines)| {
            // Each side read on its own, as the file it comes from.
            let side = |keep: LineKind| -> Vec<String> {
                let text: Vec<&str> = lines
                    .iter()
                    .filter(|l| l.0 == keep || l.0 == LineKind::Context)
                    .map(|l| l.3)
                    .collect();
                highlight::highlight(path, &text)
            };
            let mut after = side(LineKind::Added).into_iter();
            let mut before = side(LineKind::Removed).into_iter();
            let lines = lines
                .into_iter()
                .map(|(kind, old, new, text)| {
                    let html = match kind {
                        LineKind::Added => after.next(),
                        LineKind::Removed => before.next(),
                        LineKind::Context => {
                            before.next();
                            after.next()
                        }
                        LineKind::Note => None,
                    }
                    .unwrap_or_else(|| highlight::escape(text));
                    DiffLine {
                        kind,
                        old,
                        new,
                        html,
                    }
                })
                .collect();
            Hunk { header, lines }
        })
        .collect();
    FileDiff {
        path: path.to_string(),
        hunks,
        omitted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATCH: &str = "diff --git a/src/lib.rs b/src/lib.rs
index 1111111..2222222 100644
--- a/src/lib.rs
+++ b/src/lib.rs
@@ -1,3 +1,4 @@ mod a;
 fn one() {}
-fn two() {}
+fn two() -> u8 { 2 }
+fn three() {}
 
\\ No newline at end of file
@@ -10 +11 @@
-const X: u8 = 1;
+const X: u8 = 2;
";

    #[test]
    fn hunks_number_their_lines() {
        let d = parse("src/lib.rs", PATCH);
        assert_eq!(d.hunks.len(), 2);
        assert_eq!(d.hunks[0].header, "@@ -1,3 +1,4 @@ mod a;");
        let kinds: Vec<_> = d.hunks[0]
            .lines
            .iter()
            .map(|l| (l.kind, l.old, l.new))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (LineKind::Context, Some(1), Some(1)),
                (LineKind::Removed, Some(2), None),
                (LineKind::Added, None, Some(2)),
                (LineKind::Added, None, Some(3)),
                (LineKind::Context, Some(3), Some(4)),
                (LineKind::Note, None, None),
            ]
        );
        assert_eq!(
            (d.hunks[1].lines[0].old, d.hunks[1].lines[1].new),
            (Some(10), Some(11))
        );
        assert!(d.hunks[0].lines[2].html.contains("hl-"), "highlighted");
        assert_eq!(d.omitted, 0);
    }

    #[test]
    fn long_diffs_are_cut_and_counted() {
        let mut patch = String::from("@@ -0,0 +1,2000 @@\n");
        for i in 0..2000 {
            patch.push_str(&format!("+line {i}\n"));
        }
        let d = parse("notes.txt", &patch);
        assert_eq!(d.hunks[0].lines.len(), LINES_PER_FILE);
        assert_eq!(d.omitted as usize, 2000 - LINES_PER_FILE);
    }
}

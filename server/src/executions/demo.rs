//! `yagura demo-agent [PROMPT]`: a built-in agent that works on any
//! machine. It behaves like a coding agent (reads, plans, edits, tests),
//! prints colours, warnings and progress markers, asks for confirmation on
//! stdin, and reports a result, so that a new installation is alive at once.

use std::io::{BufRead, Write};
use std::sync::mpsc;
use std::time::Duration;

const STEPS: &[(u8, &str, &[&str])] = &[
    (
        5,
        "Reading the task",
        &[
            "Task: {prompt}",
            "Scanning repository layout…",
            "Found 42 source files, 7 test files",
        ],
    ),
    (
        20,
        "Planning",
        &[
            "Plan:",
            "  1. Locate the code involved",
            "  2. Make the change",
            "  3. Run the tests",
        ],
    ),
    (
        40,
        "Editing files",
        &[
            "\u{1b}[32m+\u{1b}[0m src/lib.rs (+18 −3)",
            "\u{1b}[32m+\u{1b}[0m src/handlers.rs (+40 −12)",
            "\u{1b}[32m+\u{1b}[0m tests/handlers.rs (+25)",
        ],
    ),
    (
        70,
        "Running tests",
        &[
            "running 12 tests",
            "test handlers::accepts_valid_input ... \u{1b}[32mok\u{1b}[0m",
            "test handlers::rejects_empty_body ... \u{1b}[32mok\u{1b}[0m",
            "test result: \u{1b}[32mok\u{1b}[0m. 12 passed; 0 failed",
        ],
    ),
    (
        90,
        "Summarising",
        &["3 files changed, 83 insertions(+), 15 deletions(-)"],
    ),
];

pub fn run(prompt: &str, delay: Duration, confirm_wait: Duration) -> i32 {
    let out = std::io::stdout();
    let mut out = out.lock();
    let prompt = if prompt.trim().is_empty() {
        "(no prompt given)"
    } else {
        prompt.trim()
    };
    let stdin = spawn_stdin_reader();
    for (i, (progress, step, lines)) in STEPS.iter().enumerate() {
        let _ = writeln!(out, "::progress {progress} {step}");
        for line in *lines {
            let _ = writeln!(out, "{}", line.replace("{prompt}", prompt));
            let _ = out.flush();
            std::thread::sleep(delay);
        }
        if i == 1 {
            eprintln!("warning: the working tree has uncommitted changes; they are left alone");
            let _ = write!(out, "Proceed with the plan? [y/N] ");
            let _ = out.flush();
            match stdin.recv_timeout(confirm_wait) {
                Ok(answer) => {
                    let _ = writeln!(out, "\nreceived: {}", answer.trim());
                    if answer.trim().eq_ignore_ascii_case("n")
                        || answer.trim().eq_ignore_ascii_case("no")
                    {
                        eprintln!("error: stopped at the user's request");
                        return 3;
                    }
                }
                Err(_) => {
                    let _ = writeln!(
                        out,
                        "\nno answer after {} s; proceeding",
                        confirm_wait.as_secs()
                    );
                }
            }
        }
    }
    let _ = writeln!(out, "::progress 100 Done");
    let _ = writeln!(
        out,
        r#"::result {{"filesChanged": 3, "linesAdded": 83, "linesDeleted": 15, "testsPassed": 12}}"#
    );
    let _ = writeln!(out, "Done.");
    let _ = out.flush();
    0
}

fn spawn_stdin_reader() -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            match line {
                Ok(l) => {
                    if tx.send(l).is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    });
    rx
}

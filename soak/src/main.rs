//! `soak`: Yagura under sustained load and repeated faults, against the
//! real binary (`cargo xtask soak` builds both and runs this).
//!
//! - **load**: agents printing numbered lines at a steady rate (on the
//!   server and on a `yagura runner`), viewers in every dialect that
//!   carries lines, each dropping its connection at random moments and
//!   coming back; then lines printed vs stored vs delivered, delivery
//!   latency, and the server's memory and descriptors over time.
//! - **crash**: `kill -9` of the server at random moments while runs
//!   stream on a runner; after each: SQLite's integrity check, the time to
//!   serve again, and at the end every line stored and seen exactly once.
//! - **storms**: thousands of sockets opened and dropped at once, round
//!   after round; then subscribers of a long finished run all coming back
//!   at once with random `since`, while another run streams live.
//!
//! Exits non-zero when a line is lost, repeated or out of order, or a
//! check fails; `--write FILE` puts the tables into that Markdown file.

mod http;
mod procs;
mod scenarios;
mod storm;
mod viewers;

use std::path::PathBuf;
use std::process::ExitCode;

pub struct Options {
    pub yagura: PathBuf,
    pub secs: u64,
    pub rate: u64,
    pub agents: usize,
    pub viewers: usize,
    pub crash_loops: usize,
    pub storm_sockets: usize,
    pub storm_rounds: usize,
    pub storm_subscribers: usize,
    pub storm_lines: u64,
    pub write: Option<PathBuf>,
}

fn usage() -> &'static str {
    "usage: soak --yagura PATH [--secs N (60)] [--rate LINES_PER_S (200)] [--agents N (10)] \
     [--viewers N (200)] [--crash-loops N (5; 0 skips)] [--storm-sockets N (15000)] \
     [--storm-rounds N (2; 0 skips)] [--storm-subscribers N (200)] [--storm-lines N (20000)] [--write FILE.md]"
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        yagura: PathBuf::from("target/release/yagura"),
        secs: 60,
        rate: 200,
        agents: 10,
        viewers: 200,
        crash_loops: 5,
        storm_sockets: 15_000,
        storm_rounds: 2,
        storm_subscribers: 200,
        storm_lines: 20_000,
        write: None,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        let number = |v: String| {
            v.parse::<u64>()
                .map_err(|_| format!("{flag}: {v:?} is not a number"))
        };
        match flag.as_str() {
            "--yagura" => o.yagura = PathBuf::from(value()?),
            "--secs" => o.secs = number(value()?).map(|s| if s == 0 { 0 } else { s.max(10) })?,
            "--minutes" => o.secs = number(value()?)?.max(1) * 60,
            "--rate" => o.rate = number(value()?)?.clamp(1, 10_000),
            "--agents" => o.agents = number(value()?)?.clamp(2, 100) as usize,
            "--viewers" => o.viewers = number(value()?)?.min(5_000) as usize,
            "--crash-loops" => o.crash_loops = number(value()?)? as usize,
            "--storm-sockets" => o.storm_sockets = number(value()?)?.clamp(1, 18_000) as usize,
            "--storm-rounds" => o.storm_rounds = number(value()?)? as usize,
            "--storm-subscribers" => {
                o.storm_subscribers = number(value()?)?.clamp(1, 5_000) as usize
            }
            "--storm-lines" => o.storm_lines = number(value()?)?.clamp(100, 1_000_000),
            "--write" => o.write = Some(PathBuf::from(value()?)),
            "-h" | "--help" => return Err(usage().into()),
            other => return Err(format!("unknown argument {other:?}\n{}", usage())),
        }
    }
    if !o.yagura.is_file() {
        return Err(format!(
            "{} is not a file: build it first (cargo xtask build)",
            o.yagura.display()
        ));
    }
    Ok(o)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match scenarios::run_all(&options).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("soak: FAILED (see the tables above)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("soak: {e:#}");
            ExitCode::FAILURE
        }
    }
}

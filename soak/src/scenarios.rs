//! The two scenarios and their report.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::http;
use crate::procs::{self, Runner, Server};
use crate::viewers::{self, Access, Dialect, Outcome, Rng};
use crate::Options;

/// The agent: prints `L <n> <µs since the epoch> <80 x>` for n = 1..N at
/// `rate` lines a second, flushing each line (Perl is on every machine
/// this runs on; a shell loop would fork a `sleep` per line).
const PRINTER: &str = r#"$|=1; my ($n,$rate)=@ARGV; my $pad="x" x 80; my $t0=time; for my $i (1..$n) { printf "L %d %.0f %s\n", $i, time*1e6, $pad; my $w=$t0+$i/$rate-time; sleep($w) if $w>0 }"#;

fn printer(lines: u64, rate: u64) -> Value {
    json!([
        "perl",
        "-MTime::HiRes=time,sleep",
        "-e",
        PRINTER,
        lines.to_string(),
        rate.to_string()
    ])
}

const PASSWORD: &str = "soak-password-1234";

/// A fresh server with an admin, an API key, a runner token and a runner.
pub struct World {
    pub root: PathBuf,
    pub data: PathBuf,
    pub port: u16,
    pub access: Access,
    pub runner_token: String,
}

impl World {
    pub async fn new(
        o: &Options,
        name: &str,
        serve_args: &[&str],
    ) -> anyhow::Result<(World, Server)> {
        let root = std::env::temp_dir().join(format!("yagura-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root)?;
        let data = root.join("data");
        let port = procs::free_port()?;
        let (server, _) = Server::start(&o.yagura, &data, port, &root, serve_args).await?;
        let addr = server.addr.clone();
        let setup = http::expect(
            &addr,
            "POST",
            "/api/v1/setup",
            None,
            Some(&json!({"username": "admin", "password": PASSWORD})),
            201,
        )
        .await
        .context("first-run setup")?;
        let token = setup["token"]
            .as_str()
            .context("setup gives a token")?
            .to_string();
        let key = http::expect(
            &addr,
            "POST",
            "/api/v1/api-keys",
            Some(&token),
            Some(&json!({"name": "soak"})),
            201,
        )
        .await?;
        let runner = http::expect(
            &addr,
            "POST",
            "/api/v1/runner-tokens",
            Some(&token),
            Some(&json!({"name": "soak"})),
            201,
        )
        .await?;
        Ok((
            World {
                root,
                data,
                port,
                access: Access {
                    addr,
                    token,
                    api_key: key["key"].as_str().context("api key")?.to_string(),
                },
                runner_token: runner["token"]
                    .as_str()
                    .context("runner token")?
                    .to_string(),
            },
            server,
        ))
    }

    pub fn addr(&self) -> &str {
        &self.access.addr
    }

    pub fn token(&self) -> &str {
        &self.access.token
    }

    pub async fn agent(
        &self,
        name: &str,
        lines: u64,
        rate: u64,
        remote: bool,
    ) -> anyhow::Result<String> {
        // Room for every line (the default cap is 16 MiB) and time for a
        // long soak.
        let mut body = json!({
            "name": name,
            "agentType": "Custom",
            "command": printer(lines, rate),
            "timeoutSecs": 7 * 24 * 3600,
            "outputCapBytes": 1u64 << 30,
        });
        if remote {
            body["capabilities"] = json!(["soak"]);
        }
        let a = http::expect(
            self.addr(),
            "POST",
            "/api/v1/agents",
            Some(self.token()),
            Some(&body),
            201,
        )
        .await?;
        Ok(a["id"].as_str().context("agent id")?.to_string())
    }

    pub async fn start(&self, agent: &str) -> anyhow::Result<String> {
        let e = http::expect(
            self.addr(),
            "POST",
            "/api/v1/executions",
            Some(self.token()),
            Some(&json!({"agentId": agent})),
            201,
        )
        .await?;
        Ok(e["id"].as_str().context("execution id")?.to_string())
    }

    pub async fn status(&self, id: &str) -> anyhow::Result<Value> {
        http::expect(
            self.addr(),
            "GET",
            &format!("/api/v1/executions/{id}"),
            Some(self.token()),
            None,
            200,
        )
        .await
    }

    /// Waits until every run has one of `states`.
    pub async fn wait_all(
        &self,
        ids: &[String],
        states: &[&str],
        within: Duration,
    ) -> anyhow::Result<Vec<Value>> {
        let deadline = Instant::now() + within;
        loop {
            let mut all = Vec::new();
            for id in ids {
                all.push(self.status(id).await.unwrap_or(Value::Null));
            }
            if all.iter().all(|e| states.iter().any(|s| e["status"] == *s)) {
                return Ok(all);
            }
            if Instant::now() > deadline {
                let now: Vec<String> = all.iter().map(|e| format!("{}", e["status"])).collect();
                bail!("runs not {states:?} within {within:?}: {now:?}");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// What the store holds for a run: (log lines, lost, duplicated,
    /// reordered, seq gaps).
    pub async fn stored(&self, id: &str, lines: usize) -> anyhow::Result<Stored> {
        let events = http::events(self.addr(), self.token(), id).await?;
        let mut tracker = viewers::Tracker::new(lines);
        let mut gaps = 0;
        let mut count = 0;
        for (i, e) in events.iter().enumerate() {
            if e["seq"].as_u64() != Some(i as u64 + 1) {
                gaps += 1;
            }
            if e["type"] == "agent.log" {
                if let Some((k, _)) = e["message"].as_str().and_then(viewers::parse_line) {
                    tracker.line(k);
                    count += 1;
                }
            }
        }
        Ok(Stored {
            lines: count,
            lost: (lines - tracker.distinct) as u64,
            duplicated: tracker.duplicated,
            reordered: tracker.reordered,
            gaps,
        })
    }
}

pub struct Stored {
    lines: u64,
    lost: u64,
    duplicated: u64,
    reordered: u64,
    gaps: u64,
}

pub fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_string())
        })
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| format!("{:.0} GiB", kb as f64 / 1024.0 / 1024.0))
        .unwrap_or_default();
    format!("{cpus} cores, {mem}")
}

fn today() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

pub async fn run_all(o: &Options) -> anyhow::Result<bool> {
    let perl = std::process::Command::new("perl")
        .args(["-MTime::HiRes", "-e", "1"])
        .status();
    if !perl.is_ok_and(|s| s.success()) {
        bail!("the soak's agents are Perl one-liners: install perl (Debian: apt-get install perl)");
    }
    let mut report = String::new();
    let mut ok = true;
    let command = format!(
        "cargo xtask soak --secs {} --crash-loops {} --storm-rounds {} --storm-subscribers {} --storm-lines {}",
        o.secs, o.crash_loops, o.storm_rounds, o.storm_subscribers, o.storm_lines
    );
    writeln!(
        report,
        "Measured {} on this machine ({}), with `{command}`.\n",
        today(),
        machine()
    )?;
    if o.secs > 0 {
        let (good, text) = load(o).await?;
        ok &= good;
        report.push_str(&text);
    }
    if o.crash_loops > 0 {
        let (good, text) = crash(o).await?;
        ok &= good;
        report.push_str(&text);
    }
    if o.storm_rounds > 0 {
        let (good, text) = crate::storm::storms(o).await?;
        ok &= good;
        report.push_str(&text);
    }
    println!("{report}");
    if let Some(path) = &o.write {
        write_between_markers(path, &report)?;
        println!("wrote the tables into {}", path.display());
    }
    Ok(ok)
}

const BEGIN: &str = "<!-- soak:begin (cargo xtask soak writes between these lines) -->";
const END: &str = "<!-- soak:end -->";

fn write_between_markers(path: &Path, text: &str) -> anyhow::Result<()> {
    let doc =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let (Some(b), Some(e)) = (doc.find(BEGIN), doc.find(END)) else {
        bail!("{} has no {BEGIN} … {END} markers", path.display());
    };
    let new = format!("{}{BEGIN}\n\n{}\n{}", &doc[..b], text.trim_end(), &doc[e..]);
    std::fs::write(path, new)?;
    Ok(())
}

/// The soak: agents × rate for `secs`, half on the server, half on a
/// runner; viewers across three dialects dropping and coming back.
async fn load(o: &Options) -> anyhow::Result<(bool, String)> {
    let lines = o.rate * o.secs;
    let concurrency = (o.agents + 2).to_string();
    let (world, server) = World::new(o, "soak", &["--concurrency", &concurrency]).await?;
    let remote_count = o.agents / 2;
    let runner_work = world.root.join("runner");
    let _runner = Runner::start(
        &o.yagura,
        world.addr(),
        &world.runner_token,
        &runner_work,
        remote_count as u32,
        &world.root,
    )?;
    let local = world.agent("soak-local", lines, o.rate, false).await?;
    let remote = world.agent("soak-remote", lines, o.rate, true).await?;
    eprintln!(
        "soak: {} agents × {} lines/s × {} s ({} on a runner), {} viewers; data in {}",
        o.agents,
        o.rate,
        o.secs,
        remote_count,
        o.viewers,
        world.root.display()
    );
    // Memory and descriptors over time, from before the load on.
    let samples: Arc<Mutex<Vec<(f64, u64, usize)>>> = Arc::default();
    let began = Instant::now();
    let sampler = {
        let samples = samples.clone();
        let pid = server.pid();
        tokio::spawn(async move {
            loop {
                if let Some((rss, fds)) = procs::footprint(pid) {
                    samples
                        .lock()
                        .unwrap()
                        .push((began.elapsed().as_secs_f64(), rss, fds));
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        })
    };
    let mut ids = Vec::new();
    for i in 0..o.agents {
        ids.push(
            world
                .start(if i < remote_count { &remote } else { &local })
                .await?,
        );
    }
    world
        .wait_all(&ids, &["running", "completed"], Duration::from_secs(60))
        .await?;
    // The baseline once the runs stream (the database pool has grown to
    // what the writer needs) and before any viewer.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = procs::footprint(server.pid()).unwrap_or_default();
    let printing_ends = Instant::now() + Duration::from_secs(o.secs);

    let deadline = Instant::now() + Duration::from_secs(o.secs + 300);
    let secs = o.secs;
    let mut handles = Vec::new();
    for v in 0..o.viewers {
        let dialect = match v % 4 {
            0 | 1 => Dialect::Native,
            2 => Dialect::CcAnywhere,
            _ => Dialect::TeamDashboard,
        };
        let execution = ids[v % ids.len()].clone();
        let access = world.access.clone();
        handles.push(tokio::spawn(async move {
            // Spread the arrivals over the first seconds.
            tokio::time::sleep(Duration::from_millis(
                Rng::new(v as u64 + 7).between(0, 3000),
            ))
            .await;
            // A native viewer resumes cheaply (`since`); the others replay the
            // whole history on each subscribe, so they come back less often.
            // (Each replay is the whole history so far: a few per run.)
            let drops = match dialect {
                Dialect::Native => (3, 15),
                _ => ((secs / 3).max(10), (secs / 2).max(15)),
            };
            let out = viewers::follow(
                dialect,
                access,
                execution,
                lines as usize,
                v,
                Some((drops, printing_ends)),
                deadline,
            )
            .await;
            (dialect, out)
        }));
    }
    let finished = world
        .wait_all(
            &ids,
            &["completed", "failed", "cancelled", "timed_out"],
            Duration::from_secs(o.secs + 120),
        )
        .await?;
    let mut results: BTreeMap<Dialect, Vec<Outcome>> = BTreeMap::new();
    for h in handles {
        let (d, out) = h.await?;
        results.entry(d).or_default().push(out);
    }
    // The viewers are gone: what the server holds now, after a moment.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = procs::footprint(server.pid()).unwrap_or_default();
    sampler.abort();

    let mut ok = true;
    let mut t = String::new();
    writeln!(
        t,
        "### Soak: {} agents × {} lines/s for {} s, {} viewers\n",
        o.agents, o.rate, o.secs, o.viewers
    )?;
    writeln!(
        t,
        "{} agents print numbered lines (`L <n> <printed at µs> <80 bytes>`), {} of them on a `yagura runner`; \
         each viewer follows one run and, while the agents print, drops its connection (no close frame) and \
         comes back: the native viewer every 3–15 s with `since` = the last `seq` it saw, the others two or \
         three times a run (every third to half of it) with a new subscribe, which replays the whole history. Delivery is timed from the line's printing \
         (the agent writes the time into it) to its arrival, for lines that arrive live (after a \
         reconnect's replay). Lost, duplicated and reordered count line numbers.\n",
        o.agents, remote_count
    )?;
    writeln!(t, "| runs | where | status | lines printed | stored | lost | duplicated | reordered | seq gaps |")?;
    writeln!(t, "|---|---|---|---|---|---|---|---|---|")?;
    // (runs, printed, stored, lost, duplicated, reordered, seq gaps)
    type Tally = (u64, u64, u64, u64, u64, u64, u64);
    let mut groups: BTreeMap<(&str, String), Tally> = BTreeMap::new();
    for (i, (id, e)) in ids.iter().zip(&finished).enumerate() {
        let s = world.stored(id, lines as usize).await?;
        let status = e["status"].as_str().unwrap_or("?").to_string();
        ok &= status == "completed"
            && s.lost == 0
            && s.duplicated == 0
            && s.reordered == 0
            && s.gaps == 0;
        let g = groups
            .entry((if i < remote_count { "runner" } else { "server" }, status))
            .or_default();
        g.0 += 1;
        g.1 += lines;
        g.2 += s.lines;
        g.3 += s.lost;
        g.4 += s.duplicated;
        g.5 += s.reordered;
        g.6 += s.gaps;
    }
    for ((place, status), g) in &groups {
        writeln!(
            t,
            "| {} | {place} | {status} | {} | {} | {} | {} | {} | {} |",
            g.0, g.1, g.2, g.3, g.4, g.5, g.6
        )?;
    }
    writeln!(t)?;
    writeln!(t, "| viewers | dialect | connections | lines delivered | lost | duplicated | reordered | live delivery p50 / p99 / max (ms) |")?;
    writeln!(t, "|---|---|---|---|---|---|---|---|")?;
    for (d, outs) in &results {
        let mut lat: Vec<u64> = outs
            .iter()
            .flat_map(|o| o.latencies.iter().copied())
            .collect();
        lat.sort_unstable();
        let sum = |f: fn(&Outcome) -> u64| outs.iter().map(f).sum::<u64>();
        let (lost, dup, reo) = (sum(|o| o.lost), sum(|o| o.duplicated), sum(|o| o.reordered));
        ok &= lost == 0 && dup == 0 && reo == 0;
        writeln!(
            t,
            "| {} | {} | {} | {} | {lost} | {dup} | {reo} | {:.1} / {:.1} / {:.1} |",
            outs.len(),
            d.name(),
            sum(|o| o.connections),
            sum(|o| o.delivered),
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            percentile(&lat, 1.0),
        )?;
    }
    writeln!(t)?;
    let samples = samples.lock().unwrap().clone();
    writeln!(
        t,
        "Server process over time (RSS, open descriptors), every ~{} s:\n",
        (o.secs / 6).max(2)
    )?;
    writeln!(t, "| at | RSS | descriptors |")?;
    writeln!(t, "|---|---|---|")?;
    writeln!(
        t,
        "| before the runs | {:.1} MiB | {} |",
        idle.0 as f64 / 1024.0,
        idle.1
    )?;
    let every = ((o.secs / 6).max(2) / 2).max(1) as usize;
    for (at, rss, fds) in samples.iter().step_by(every) {
        writeln!(
            t,
            "| {:.0} s | {:.1} MiB | {fds} |",
            at,
            *rss as f64 / 1024.0
        )?;
    }
    writeln!(
        t,
        "| viewers gone, runs ended | {:.1} MiB | {} |",
        after.0 as f64 / 1024.0,
        after.1
    )?;
    // After warm-up (the first fifth), memory must not keep climbing: the
    // last third's peak within 25% (+16 MiB) of the warm-up's.
    let warm = samples.len() / 5;
    let third = samples.len() * 2 / 3;
    let peak = |s: &[(f64, u64, usize)]| s.iter().map(|x| x.1).max().unwrap_or(0);
    if samples.len() >= 6 {
        let early = peak(&samples[warm..third]);
        let late = peak(&samples[third..]);
        let grew = late as f64 > early as f64 * 1.25 + 16.0 * 1024.0;
        ok &= !grew;
        writeln!(
            t,
            "\nRSS peak after warm-up {:.1} MiB, in the last third {:.1} MiB: {}.",
            early as f64 / 1024.0,
            late as f64 / 1024.0,
            if grew { "GROWING" } else { "no growth" }
        )?;
    }
    let leaked = after.1 > idle.1 + 16;
    ok &= !leaked;
    writeln!(
        t,
        "Descriptors before the runs {}, after every viewer left and every run ended {}: {}.\n",
        idle.1,
        after.1,
        if leaked { "LEAKED" } else { "none kept" }
    )?;
    server.kill9();
    if ok {
        let _ = std::fs::remove_dir_all(&world.root);
    } else {
        eprintln!("soak: kept {} for a look", world.root.display());
    }
    Ok((ok, t))
}

/// The kill -9 loop: runs stream on a runner while the server is killed
/// `loops` times at random moments.
async fn crash(o: &Options) -> anyhow::Result<(bool, String)> {
    let rate = 200;
    let streams = 4usize;
    let lines = rate * (o.crash_loops as u64 * 4 + 8);
    let (world, mut server) = World::new(o, "crash", &["--concurrency", "8"]).await?;
    let _runner = Runner::start(
        &o.yagura,
        world.addr(),
        &world.runner_token,
        &world.root.join("runner"),
        streams as u32,
        &world.root,
    )?;
    let remote = world.agent("crash-remote", lines, rate, true).await?;
    let local = world.agent("crash-local", lines, rate, false).await?;
    let mut ids = Vec::new();
    for _ in 0..streams {
        ids.push(world.start(&remote).await?);
    }
    let local_run = world.start(&local).await?;
    let mut all = ids.clone();
    all.push(local_run.clone());
    world
        .wait_all(&all, &["running"], Duration::from_secs(60))
        .await?;
    eprintln!(
        "crash: {streams} runs × {lines} lines on a runner, one on the server, {} kill -9s; data in {}",
        o.crash_loops,
        world.root.display()
    );
    let deadline = Instant::now() + Duration::from_secs(o.crash_loops as u64 * 10 + 180);
    let mut handles = Vec::new();
    for (v, id) in ids.iter().chain(ids.iter()).enumerate() {
        let access = world.access.clone();
        let id = id.clone();
        handles.push(tokio::spawn(async move {
            viewers::follow(
                Dialect::Native,
                access,
                id,
                lines as usize,
                v,
                None,
                deadline,
            )
            .await
        }));
    }

    let mut rng = Rng::new(std::process::id() as u64);
    let mut restarts = Vec::new();
    let mut integrity = 0;
    for i in 0..o.crash_loops {
        tokio::time::sleep(Duration::from_millis(rng.between(1000, 3500))).await;
        server.kill9();
        let (next, took) = Server::start(
            &o.yagura,
            &world.data,
            world.port,
            &world.root,
            &["--concurrency", "8"],
        )
        .await?;
        server = next;
        restarts.push(took);
        // What the killed server left, as the new one opened it (a WAL
        // database can be checked while in use).
        if procs::integrity_ok(&o.yagura, &world.data)? {
            integrity += 1;
        } else {
            eprintln!("crash {}: integrity check FAILED", i + 1);
        }
        eprintln!("crash {}: serving again after {:?}", i + 1, took);
    }
    let finished = world
        .wait_all(
            &all,
            &["completed", "failed", "cancelled", "timed_out"],
            Duration::from_secs(120),
        )
        .await?;
    let mut viewers_out = Vec::new();
    for h in handles {
        viewers_out.push(h.await?);
    }

    let mut ok = integrity == o.crash_loops;
    let mut t = String::new();
    writeln!(
        t,
        "### Crash loop: `kill -9` of the server {} times while runs stream\n",
        o.crash_loops
    )?;
    writeln!(
        t,
        "{streams} runs on a `yagura runner` print {lines} numbered lines each at {rate} lines/s; one run on the \
         server itself dies with it. Every 1–3.5 s the server is killed with SIGKILL and started again on the \
         same port (the time until it serves `/login` is measured), then `yagura doctor` runs SQLite's \
         integrity check on the database; the runner \
         reconnects and sends its outbox again, and two native viewers per run come back with `since`.\n"
    )?;
    let mut took: Vec<u64> = restarts.iter().map(|d| d.as_micros() as u64).collect();
    took.sort_unstable();
    let slowest = took.last().copied().unwrap_or(0);
    ok &= slowest <= 5_000_000;
    writeln!(
        t,
        "| restarts | integrity check ok | restart → serving `/login` p50 / max |"
    )?;
    writeln!(t, "|---|---|---|")?;
    writeln!(
        t,
        "| {}/{} | {integrity}/{} | {:.0} ms / {:.0} ms |\n",
        restarts.len(),
        o.crash_loops,
        o.crash_loops,
        percentile(&took, 0.5),
        percentile(&took, 1.0)
    )?;
    writeln!(
        t,
        "| run | status | lines printed | stored | lost | duplicated | reordered | seq gaps |"
    )?;
    writeln!(t, "|---|---|---|---|---|---|---|---|")?;
    for (id, e) in all.iter().zip(&finished) {
        let status = e["status"].as_str().unwrap_or("?");
        let code = e["errorCode"].as_str().unwrap_or("");
        if *id == local_run {
            // Killed with the server: marked by the restart, never left running.
            ok &= status == "failed" && code == "SERVER_RESTARTED";
            writeln!(t, "| on the server | {status} `{code}` | (died with the server) | — | — | — | — | — |")?;
            continue;
        }
        let s = world.stored(id, lines as usize).await?;
        ok &= status == "completed"
            && s.lost == 0
            && s.duplicated == 0
            && s.reordered == 0
            && s.gaps == 0;
        writeln!(
            t,
            "| on the runner | {status} | {lines} | {} | {} | {} | {} | {} |",
            s.lines, s.lost, s.duplicated, s.reordered, s.gaps
        )?;
    }
    let sum = |f: fn(&Outcome) -> u64| viewers_out.iter().map(f).sum::<u64>();
    let (lost, dup, reo) = (sum(|o| o.lost), sum(|o| o.duplicated), sum(|o| o.reordered));
    ok &= lost == 0 && dup == 0 && reo == 0;
    writeln!(
        t,
        "\nViewers: {} native viewers, {} connections, {} lines delivered, lost {lost}, duplicated {dup}, reordered {reo}.\n",
        viewers_out.len(),
        sum(|o| o.connections),
        sum(|o| o.delivered)
    )?;
    server.kill9();
    if ok {
        let _ = std::fs::remove_dir_all(&world.root);
    } else {
        eprintln!("crash: kept {} for a look", world.root.display());
    }
    Ok((ok, t))
}

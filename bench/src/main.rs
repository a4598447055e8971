//! Benchmarks of the event core, each next to a baseline written here:
//!
//! 1. log lines persisted per second: Yagura's event writer (numbering,
//!    batching, effects, publish) vs. plain batched INSERTs into the same
//!    table;
//! 2. events delivered per second to N WebSocket subscribers of one
//!    execution: the real server (`/ws`, subscribe, persist → hub → socket
//!    writer) vs. a bare tokio-tungstenite broadcast server;
//! 3. publish → subscriber latency (p50/p99) at half of Yagura's measured
//!    delivery rate, for both.
//!
//! Everything runs on 127.0.0.1, bounded in count and time.
//!
//!     cargo run --release -p bench -- [--subscribers 1000] [--events 2000] [--lines 1000000] [--rate N]
//!         [--postgres postgres://postgres@127.0.0.1:5432/test] [--persist-only 1]
//!
//! `--postgres` measures (1) on PostgreSQL too, in a fresh database made
//! on that server and dropped after; `--persist-only 1` skips (2) and (3).
//!
//! `--rate` sets the latency run's events per second per stream (default:
//! half of the delivery rate Yagura just measured).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use app::model::{EventBody, ExecutionId, LineEnd, LogLevel, LogStream, Role};
use futures::{SinkExt, StreamExt};
use tokio::sync::{broadcast, mpsc, Barrier};
use tokio_tungstenite::tungstenite::Message;
use yagura::{config::StoreLocation, db, events::Hub, Config};

struct Args {
    subscribers: usize,
    events: usize,
    lines: usize,
    /// Events per second for the latency run; 0 = half of Yagura's measured rate.
    rate: usize,
    /// A PostgreSQL server to measure persistence on as well.
    postgres: Option<String>,
    persist_only: bool,
}

fn args() -> Result<Args> {
    let mut a = Args {
        subscribers: 1000,
        events: 2000,
        lines: 1_000_000,
        rate: 0,
        postgres: None,
        persist_only: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().context("a value after each flag")?;
        if flag == "--postgres" {
            a.postgres = Some(value);
            continue;
        }
        let value: usize = value.parse()?;
        match flag.as_str() {
            "--persist-only" => a.persist_only = value != 0,
            "--subscribers" => a.subscribers = value,
            "--events" => a.events = value,
            "--lines" => a.lines = value,
            "--rate" => a.rate = value,
            other => bail!("unknown flag {other}"),
        }
    }
    Ok(a)
}

#[tokio::main]
async fn main() -> Result<()> {
    let a = args()?;
    println!(
        "machine: {} cores; subscribers {}, events {}, lines {}",
        num_cpus(),
        a.subscribers,
        a.events,
        a.lines
    );

    parse_cost();
    let (ours, base) = (
        persist_yagura(a.lines, None).await?,
        persist_baseline(a.lines, None).await?,
    );
    println!(
        "persist (SQLite): yagura {:.0} lines/s, baseline {:.0} lines/s, ratio {:.2}",
        ours,
        base,
        ours / base
    );
    if let Some(admin) = &a.postgres {
        let scratch = Scratch::create(admin).await?;
        let result = async {
            let ours = persist_yagura(a.lines, Some(scratch.url.clone())).await?;
            scratch.reset().await?;
            let base = persist_baseline(a.lines, Some(scratch.url.clone())).await?;
            anyhow::Ok((ours, base))
        }
        .await;
        scratch.drop_database().await?;
        let (ours, base) = result?;
        println!(
            "persist (PostgreSQL): yagura {:.0} lines/s, baseline {:.0} lines/s, ratio {:.2}",
            ours,
            base,
            ours / base
        );
    }
    if a.persist_only {
        return Ok(());
    }

    let yagura = YaguraTarget::start().await?;
    let bare = BareTarget::start().await?;

    let (n, secs) = replay(&yagura, 100_000).await?;
    println!(
        "replay: {n} stored events to a late subscriber in {secs:.2} s ({:.0} events/s)",
        n as f64 / secs
    );

    let ours = fanout(&yagura, a.subscribers, a.events, None).await?;
    let base = fanout(&bare, a.subscribers, a.events, None).await?;
    println!(
        "fan-out: yagura {:.0} deliveries/s, baseline {:.0} deliveries/s, ratio {:.2}",
        ours.rate,
        base.rate,
        ours.rate / base.rate
    );

    // Half of Yagura's delivery rate, as events per second per stream.
    let per_sec = match a.rate {
        0 => (ours.rate / 2.0 / a.subscribers as f64).max(1.0),
        r => r as f64,
    };
    let count = ((per_sec * 4.0) as usize).clamp(50, a.events);
    let ours_lat = fanout(&yagura, a.subscribers, count, Some(per_sec)).await?;
    let base_lat = fanout(&bare, a.subscribers, count, Some(per_sec)).await?;
    println!(
        "latency at {:.0} events/s x {} subscribers: yagura p50 {:.2} ms p99 {:.2} ms max {:.2} ms; baseline p50 {:.2} ms p99 {:.2} ms max {:.2} ms",
        per_sec,
        a.subscribers,
        ours_lat.p50,
        ours_lat.p99,
        ours_lat.max,
        base_lat.p50,
        base_lat.p99,
        base_lat.max
    );
    Ok(())
}

/// What a browser pays to decode one coalesced frame (natively here).
fn parse_cost() {
    let one = |i: usize| {
        serde_json::json!({"type":"agent.log","executionId":uuid::Uuid::new_v4(),"level":"info","stream":"stdout",
            "message": format!("line {i} of the output"),"seq": i,"timestamp":"2026-11-22T00:00:00.123Z"})
        .to_string()
    };
    let frame = format!(
        r#"{{"type":"batch","events":[{}]}}"#,
        (1..=126).map(one).collect::<Vec<_>>().join(",")
    );
    let t0 = Instant::now();
    for _ in 0..800 {
        let msg: app::protocol::native::ServerMessage =
            serde_json::from_str(&frame).expect("parses");
        std::hint::black_box(msg);
    }
    println!(
        "decode: 800 frames of 126 events in {:.3} s (native)",
        t0.elapsed().as_secs_f64()
    );
}

fn num_cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn log(i: usize) -> EventBody {
    EventBody::Log {
        stream: LogStream::Stdout,
        level: LogLevel::Info,
        message: format!("compiling crate {i} of the workspace: src/lib.rs ok"),
        end: LineEnd::Lf,
    }
}

/// An execution row to hang events on (status `running`, so no scheduler
/// picks it up).
async fn execution_row(db: &db::Db) -> Result<ExecutionId> {
    let id = ExecutionId(uuid::Uuid::new_v4());
    let row = db::executions::NewExecution {
        id: id.to_string(),
        agent_id: None,
        agent_name: "bench".into(),
        agent_type: app::model::AgentType::Custom,
        prompt: String::new(),
        argv: Vec::new(),
        env: Default::default(),
        timeout_secs: 3600,
        output_cap_bytes: 1 << 30,
        status: app::model::ExecutionStatus::Running,
        created_by: None,
        created_at: db::now_ms(),
        issue_id: None,
        workflow_run_id: None,
        capabilities: Vec::new(),
        task_name: None,
        description: None,
        tags: Vec::new(),
        metadata: None,
        on_runner_lost: app::model::RunnerLost::Fail,
        needs_runner: false,
    };
    db::executions::create(db, &row).await?;
    Ok(id)
}

async fn store(database_url: Option<String>) -> Result<(tempfile::TempDir, db::Store)> {
    let dir = tempfile::tempdir()?;
    let store = db::Store::open(&StoreLocation {
        data_dir: dir.path().join("data"),
        database_url,
    })
    .await?;
    Ok((dir, store))
}

/// A database of the bench's own on a PostgreSQL server, dropped after.
struct Scratch {
    admin: String,
    name: String,
    url: String,
}

impl Scratch {
    async fn create(admin: &str) -> Result<Scratch> {
        use sqlx::Connection;
        let name = format!("yagura_bench_{}", std::process::id());
        let mut conn = sqlx::PgConnection::connect(admin).await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .execute(&mut conn)
            .await?;
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await?;
        let (base, _) = admin
            .rsplit_once('/')
            .context("a URL with a database name")?;
        Ok(Scratch {
            admin: admin.to_string(),
            url: format!("{base}/{name}"),
            name,
        })
    }

    /// Empties the events table between two runs (same table, same size).
    async fn reset(&self) -> Result<()> {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&self.url).await?;
        sqlx::query("TRUNCATE execution_events, executions CASCADE")
            .execute(&mut conn)
            .await?;
        sqlx::query("CHECKPOINT").execute(&mut conn).await?;
        Ok(())
    }

    async fn drop_database(&self) -> Result<()> {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&self.admin).await?;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.name
        ))
        .execute(&mut conn)
        .await?;
        Ok(())
    }
}

async fn persist_yagura(lines: usize, database_url: Option<String>) -> Result<f64> {
    let (_dir, store) = store(database_url).await?;
    let id = execution_row(&store.db).await?;
    let (writer, _task) = yagura::events::EventWriter::start(
        store.db.clone(),
        Arc::new(Hub::default()),
        None,
        "bench".into(),
    );
    let bodies: Vec<EventBody> = (0..lines).map(log).collect();
    let t0 = Instant::now();
    for body in bodies {
        writer.enqueue(id, body).await?;
    }
    // The writer is FIFO: once this one is committed, all are.
    writer.append(id, log(lines)).await?;
    Ok((lines + 1) as f64 / t0.elapsed().as_secs_f64())
}

/// Plain batched inserts of the same rows into the same table: SQLite's
/// multi-row `VALUES` (1,000 rows a statement, 4,096 a transaction), and
/// on PostgreSQL one `INSERT … SELECT FROM UNNEST` of 4,096 rows a
/// transaction (the fastest plain statement there; `COPY` is not faster
/// for rows this small).
async fn persist_baseline(lines: usize, database_url: Option<String>) -> Result<f64> {
    let (_dir, store) = store(database_url).await?;
    let id = execution_row(&store.db).await?.to_string();
    let rows: Vec<(i64, String)> = (0..lines)
        .map(|i| {
            (
                i as i64 + 1,
                serde_json::to_string(&log(i)).unwrap_or_default(),
            )
        })
        .collect();
    let t0 = Instant::now();
    for chunk in rows.chunks(4096) {
        match &store.db {
            db::Db::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                for sub in chunk.chunks(1000) {
                    let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                        "INSERT INTO execution_events (execution_id, seq, kind, payload, at_ms) ",
                    );
                    q.push_values(sub, |mut b, (seq, payload)| {
                        b.push_bind(&id)
                            .push_bind(*seq)
                            .push_bind("log")
                            .push_bind(payload)
                            .push_bind(0i64);
                    });
                    q.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
            db::Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let seqs: Vec<i64> = chunk.iter().map(|(seq, _)| *seq).collect();
                let payloads: Vec<&str> = chunk.iter().map(|(_, p)| p.as_str()).collect();
                sqlx::query(
                    "INSERT INTO execution_events (execution_id, seq, kind, payload, at_ms) \
                     SELECT $1, seq, 'log', payload, 0 FROM UNNEST($2::int8[], $3::text[]) AS t (seq, payload)",
                )
                .bind(&id)
                .bind(&seqs)
                .bind(&payloads)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
            }
        }
    }
    Ok(lines as f64 / t0.elapsed().as_secs_f64())
}

/// A server the clients connect to and a way to publish events on it.
trait Target: Sync {
    fn url(&self) -> String;
    fn subscribe_frame(&self) -> Option<String>;
    /// Publishes event `i` (its message is `stamp`).
    fn publish(&self, i: usize, stamp: u64)
        -> impl std::future::Future<Output = Result<()>> + Send;
    /// Readies a fresh stream for the next run.
    fn reset(&self) -> impl std::future::Future<Output = Result<()>> + Send;
}

struct YaguraTarget {
    server: yagura::RunningServer,
    token: String,
    execution: std::sync::Mutex<ExecutionId>,
    _dir: tempfile::TempDir,
}

impl YaguraTarget {
    async fn start() -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut config = Config {
            addr: "127.0.0.1:0".parse()?,
            store: StoreLocation {
                data_dir: dir.path().join("data"),
                database_url: None,
            },
            ..Config::default()
        };
        // Every client sends one frame; the defaults are meant for browsers.
        config.ws.messages_per_minute = 1000;
        // One user holds every benchmark socket.
        config.ws.max_sockets_per_user = 100_000;
        let server = yagura::start(config).await?;
        let user = yagura::auth::accounts::create_user(
            &server.state.db,
            "bench",
            "bench-password",
            Role::Admin,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let token = server
            .state
            .auth
            .issue(&server.state.db, &user, &http::HeaderMap::new(), None)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .token;
        let execution = execution_row(&server.state.db).await?;
        Ok(YaguraTarget {
            server,
            token,
            execution: std::sync::Mutex::new(execution),
            _dir: dir,
        })
    }

    fn execution(&self) -> ExecutionId {
        *self.execution.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Target for YaguraTarget {
    fn url(&self) -> String {
        format!("ws://{}/ws?token={}", self.server.addr, self.token)
    }

    fn subscribe_frame(&self) -> Option<String> {
        Some(
            serde_json::json!({"type": "subscribe", "channel": "agent-execution", "executionId": self.execution()})
                .to_string(),
        )
    }

    async fn publish(&self, _i: usize, stamp: u64) -> Result<()> {
        let body = EventBody::Log {
            stream: LogStream::Stdout,
            level: LogLevel::Info,
            message: stamp.to_string(),
            end: LineEnd::Lf,
        };
        self.server
            .state
            .executions
            .writer()
            .enqueue(self.execution(), body)
            .await?;
        Ok(())
    }

    async fn reset(&self) -> Result<()> {
        let id = execution_row(&self.server.state.db).await?;
        *self.execution.lock().unwrap_or_else(|e| e.into_inner()) = id;
        Ok(())
    }
}

/// The baseline: accept, then forward every broadcast message to every
/// socket. No auth, no storage, no numbering, no batching.
struct BareTarget {
    addr: std::net::SocketAddr,
    tx: broadcast::Sender<Arc<str>>,
    execution: ExecutionId,
}

impl BareTarget {
    async fn start() -> Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, _) = broadcast::channel::<Arc<str>>(65_536);
        let accept_tx = tx.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let mut rx = accept_tx.subscribe();
                tokio::spawn(async move {
                    let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                        return;
                    };
                    while let Ok(msg) = rx.recv().await {
                        if ws.send(Message::text(msg.to_string())).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Ok(BareTarget {
            addr,
            tx,
            execution: ExecutionId(uuid::Uuid::new_v4()),
        })
    }
}

impl Target for BareTarget {
    fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    fn subscribe_frame(&self) -> Option<String> {
        None
    }

    async fn publish(&self, i: usize, stamp: u64) -> Result<()> {
        // The same shape as Yagura's agent.log, serialised once.
        let msg = serde_json::json!({
            "type": "agent.log", "executionId": self.execution, "level": "info", "stream": "stdout",
            "message": stamp.to_string(), "seq": i + 1, "timestamp": "2026-11-22T00:00:00Z"
        })
        .to_string();
        let _ = self.tx.send(msg.into());
        Ok(())
    }

    async fn reset(&self) -> Result<()> {
        Ok(())
    }
}

/// A subscriber arriving after `events` were stored gets all of them.
async fn replay(target: &YaguraTarget, events: usize) -> Result<(usize, f64)> {
    target.reset().await?;
    for i in 0..events {
        target.publish(i, i as u64).await?;
    }
    // Wait until the last one is committed.
    target
        .server
        .state
        .executions
        .writer()
        .append(target.execution(), log(events))
        .await?;
    let total = events + 1;
    let (mut ws, _) = tokio_tungstenite::connect_async(target.url()).await?;
    let t0 = Instant::now();
    ws.send(Message::text(target.subscribe_frame().unwrap_or_default()))
        .await?;
    let mut seen = 0;
    let mut frames = 0;
    while seen < total {
        match tokio::time::timeout(Duration::from_secs(60), ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                frames += 1;
                seen += text.matches("\"seq\":").count();
            }
            Ok(Some(Ok(_))) => {}
            _ => bail!("replay stalled after {seen} of {total}"),
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    println!("replay used {frames} frames");
    Ok((total, secs))
}

struct Outcome {
    rate: f64,
    p50: f64,
    p99: f64,
    max: f64,
}

/// Connects `subscribers` clients, publishes `events` (as fast as possible,
/// or at `per_sec`), and waits until every client has every event.
async fn fanout(
    target: &impl Target,
    subscribers: usize,
    events: usize,
    per_sec: Option<f64>,
) -> Result<Outcome> {
    target.reset().await?;
    let base = Instant::now();
    let ready = Arc::new(Barrier::new(subscribers + 1));
    let (done_tx, mut done_rx) = mpsc::channel::<(Instant, Vec<u64>)>(subscribers);
    let connects = Arc::new(tokio::sync::Semaphore::new(64));
    for _ in 0..subscribers {
        let url = target.url();
        let sub = target.subscribe_frame();
        let ready = ready.clone();
        let done_tx = done_tx.clone();
        let connects = connects.clone();
        let latency = per_sec.is_some();
        tokio::spawn(async move {
            let permit = connects.acquire_owned().await;
            let Ok((mut ws, _)) = tokio_tungstenite::connect_async(&url).await else {
                return;
            };
            if let Some(frame) = sub {
                let _ = ws.send(Message::text(frame)).await;
                // Until `subscribed` (after `connected`).
                while let Some(Ok(msg)) = ws.next().await {
                    if let Message::Text(t) = msg {
                        if t.contains("\"subscribed\"") {
                            break;
                        }
                    }
                }
            }
            drop(permit);
            ready.wait().await;
            let mut seen = 0usize;
            let mut lat = Vec::new();
            while seen < events {
                let Some(Ok(msg)) = ws.next().await else {
                    return;
                };
                let Message::Text(text) = msg else { continue };
                seen += text.matches("\"seq\":").count();
                if latency {
                    let now = base.elapsed().as_nanos() as u64;
                    for part in text.split("\"message\":\"").skip(1) {
                        if let Some(stamp) =
                            part.split('"').next().and_then(|s| s.parse::<u64>().ok())
                        {
                            lat.push(now.saturating_sub(stamp));
                        }
                    }
                }
            }
            let _ = done_tx.send((Instant::now(), lat)).await;
        });
    }
    drop(done_tx);
    tokio::time::timeout(Duration::from_secs(120), ready.wait())
        .await
        .context("clients connect")?;
    let t0 = Instant::now();
    let interval = per_sec.map(|r| Duration::from_secs_f64(1.0 / r));
    for i in 0..events {
        if let Some(step) = interval {
            tokio::time::sleep_until((t0 + step * i as u32).into()).await;
        }
        target.publish(i, base.elapsed().as_nanos() as u64).await?;
    }
    let mut last = t0;
    let mut all = Vec::new();
    let mut finished = 0;
    while let Ok(Some((at, lat))) =
        tokio::time::timeout(Duration::from_secs(120), done_rx.recv()).await
    {
        last = last.max(at);
        all.extend(lat);
        finished += 1;
    }
    if finished < subscribers {
        bail!("only {finished} of {subscribers} subscribers received every event");
    }
    let secs = last.duration_since(t0).as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1e6
    };
    Ok(Outcome {
        rate: (subscribers * events) as f64 / secs,
        p50: pct(0.50),
        p99: pct(0.99),
        max: pct(1.0),
    })
}

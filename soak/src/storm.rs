//! Storms: many sockets opened and dropped at once, round after round;
//! and many subscribers of a long finished run coming back at once, each
//! with its own `since`, while another run streams live.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

use crate::http;
use crate::procs;
use crate::scenarios::{percentile, World};
use crate::viewers::{self, Rng};
use crate::Options;

/// Raises this process's open-file limit to its hard limit (the storms
/// hold thousands of sockets; the server, its child, inherits it).
pub fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit/setrlimit on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// An upgraded `/ws` socket, kept raw (nothing is read from it again).
async fn raw_socket(addr: &str, request: &str) -> anyhow::Result<tokio::net::TcpStream> {
    tokio::time::timeout(Duration::from_secs(30), raw_socket_now(addr, request))
        .await
        .context("no upgrade within 30 s")?
}

async fn raw_socket_now(addr: &str, request: &str) -> anyhow::Result<tokio::net::TcpStream> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(request.as_bytes()).await?;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = s.read(&mut buf).await?;
        anyhow::ensure!(n > 0, "closed during the handshake");
        got.extend_from_slice(&buf[..n]);
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            anyhow::ensure!(got.starts_with(b"HTTP/1.1 101"), "no upgrade");
            if got.len() > end + 4 {
                return Ok(s); // the first frame came: the session is live
            }
        }
    }
}

pub async fn storms(o: &Options) -> anyhow::Result<(bool, String)> {
    raise_fd_limit();
    let (world, server) = World::new(
        o,
        "storm",
        &["--concurrency", "8", "--max-sockets-per-user", "20000"],
    )
    .await?;
    let mut ok = true;
    let mut t = String::new();

    // 1. Connection storms.
    let sockets = o.storm_sockets;
    let rounds = o.storm_rounds;
    let request = format!(
        "GET /ws?token={} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n",
        world.token(),
        world.addr()
    );
    let before = procs::footprint(server.pid()).unwrap_or_default();
    writeln!(
        t,
        "### Connection storms: {sockets} sockets opened, then dropped at once, {rounds} times\n"
    )?;
    writeln!(t, "| round | open took | server RSS with all open | after the drop: answers `/login` | RSS | descriptors |")?;
    writeln!(t, "|---|---|---|---|---|---|")?;
    writeln!(
        t,
        "| before | — | — | — | {:.1} MiB | {} |",
        before.0 as f64 / 1024.0,
        before.1
    )?;
    for round in 1..=rounds {
        let began = Instant::now();
        let mut open = Vec::with_capacity(sockets);
        while open.len() < sockets {
            let batch: Vec<_> = (0..200.min(sockets - open.len()))
                .map(|_| {
                    let (a, r) = (world.addr().to_string(), request.clone());
                    tokio::spawn(async move { raw_socket(&a, &r).await })
                })
                .collect();
            for b in batch {
                open.push(b.await?.context("a socket of the storm")?);
            }
        }
        let took = began.elapsed();
        let full = procs::footprint(server.pid()).unwrap_or_default();
        drop(open); // all at once
        tokio::time::sleep(Duration::from_secs(2)).await;
        let alive = matches!(
            http::call(world.addr(), "GET", "/login", None, None).await,
            Ok((200, _))
        );
        ok &= alive;
        let after = procs::footprint(server.pid()).unwrap_or_default();
        writeln!(
            t,
            "| {round} | {:.1} s | {:.1} MiB | {} | {:.1} MiB | {} |",
            took.as_secs_f64(),
            full.0 as f64 / 1024.0,
            if alive { "yes" } else { "NO" },
            after.0 as f64 / 1024.0,
            after.1
        )?;
        if !alive {
            break;
        }
    }
    let settled = procs::footprint(server.pid()).unwrap_or_default();
    let leaked = settled.1 > before.1 + 16;
    ok &= !leaked;
    writeln!(t)?;

    // 2. Reconnect storm.
    let lines = o.storm_lines;
    let subscribers = o.storm_subscribers;
    let long = world.agent("storm-long", lines, 50_000, false).await?;
    let long_run = world.start(&long).await?;
    world
        .wait_all(
            std::slice::from_ref(&long_run),
            &["completed"],
            Duration::from_secs(300),
        )
        .await?;
    let last_seq = world.status(&long_run).await?["lastSeq"]
        .as_u64()
        .context("lastSeq")?;
    // A live run meanwhile, with one viewer timing its lines.
    let live_secs = 600;
    let live = world
        .agent("storm-live", 200 * live_secs, 200, false)
        .await?;
    let live_run = world.start(&live).await?;
    world
        .wait_all(
            std::slice::from_ref(&live_run),
            &["running"],
            Duration::from_secs(30),
        )
        .await?;
    let latencies: Arc<Mutex<Vec<(Instant, u64)>>> = Arc::default();
    let timer = {
        let lat = latencies.clone();
        let access = world.access.clone();
        let id = live_run.clone();
        tokio::spawn(async move {
            let url = format!("ws://{}/ws?token={}", access.addr, access.token);
            let Ok((mut ws, _)) = tokio_tungstenite::connect_async(url).await else {
                return;
            };
            let sub = json!({"type": "subscribe", "channel": "agent-execution", "executionId": id, "since": 0});
            if ws.send(Message::text(sub.to_string())).await.is_err() {
                return;
            }
            let from = viewers::now_us() + 500_000;
            while let Some(Ok(frame)) = ws.next().await {
                // Pings and the like are not lines.
                let Message::Text(text) = frame else { continue };
                let Ok(v) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                if let Some((_, at)) = v["message"].as_str().and_then(viewers::parse_line) {
                    if at > from {
                        lat.lock()
                            .unwrap()
                            .push((Instant::now(), viewers::now_us().saturating_sub(at)));
                    }
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(5)).await;
    let storm_began = Instant::now();
    let peak = Arc::new(Mutex::new(
        procs::footprint(server.pid()).unwrap_or_default().0,
    ));
    let calm_rss = *peak.lock().unwrap();
    let sampler = {
        let peak = peak.clone();
        let pid = server.pid();
        tokio::spawn(async move {
            loop {
                if let Some((rss, _)) = procs::footprint(pid) {
                    let mut p = peak.lock().unwrap();
                    *p = (*p).max(rss);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let mut rng = Rng::new(42);
    let mut handles = Vec::new();
    for _ in 0..subscribers {
        // From 1: a seed client is not sent `agent.queued` (seq 1).
        let since = rng.between(1, last_seq);
        let access = world.access.clone();
        let id = long_run.clone();
        handles.push(tokio::spawn(async move {
            tail(&access, &id, since, last_seq).await
        }));
    }
    let (mut exact, mut wrong, mut delivered) = (0u64, 0u64, 0u64);
    for h in handles {
        match h.await? {
            Ok(n) => {
                exact += 1;
                delivered += n;
            }
            Err(e) => {
                wrong += 1;
                eprintln!("reconnect storm: {e:#}");
            }
        }
    }
    let storm_took = storm_began.elapsed();
    sampler.abort();
    let storm_peak = *peak.lock().unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    timer.abort();
    let lat = latencies.lock().unwrap().clone();
    let mut calm: Vec<u64> = lat
        .iter()
        .filter(|(at, _)| *at < storm_began)
        .map(|x| x.1)
        .collect();
    let mut during: Vec<u64> = lat
        .iter()
        .filter(|(at, _)| *at >= storm_began && *at <= storm_began + storm_took)
        .map(|x| x.1)
        .collect();
    calm.sort_unstable();
    during.sort_unstable();
    ok &= wrong == 0;
    writeln!(
        t,
        "### Reconnect storm: {subscribers} subscribers of a {lines}-line run come back at once\n"
    )?;
    writeln!(
        t,
        "A finished run of {lines} lines ({last_seq} events); {subscribers} native subscribers arrive at once, each \
         with a `since` drawn uniformly from 1…{last_seq}, and must receive exactly the events after it, in order, \
         once. Meanwhile another run prints 200 lines/s to one viewer.\n"
    )?;
    writeln!(t, "| exact tails | wrong | events delivered | took | server RSS before → peak | live line p50 / p99 before (ms) | during (ms) |")?;
    writeln!(t, "|---|---|---|---|---|---|---|")?;
    writeln!(
        t,
        "| {exact} | {wrong} | {delivered} | {:.1} s | {:.1} → {:.1} MiB | {:.1} / {:.1} | {:.1} / {:.1} |\n",
        storm_took.as_secs_f64(),
        calm_rss as f64 / 1024.0,
        storm_peak as f64 / 1024.0,
        percentile(&calm, 0.5),
        percentile(&calm, 0.99),
        percentile(&during, 0.5),
        percentile(&during, 0.99),
    )?;
    let _ = http::call(
        world.addr(),
        "POST",
        &format!("/api/v1/executions/{live_run}/cancel"),
        Some(world.token()),
        None,
    )
    .await;
    server.kill9();
    if ok {
        let _ = std::fs::remove_dir_all(&world.root);
    }
    Ok((ok, t))
}

/// Subscribes with `since` and checks that exactly `since+1..=last` come.
async fn tail(access: &viewers::Access, id: &str, since: u64, last: u64) -> anyhow::Result<u64> {
    let url = format!("ws://{}/ws?token={}", access.addr, access.token);
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(60),
        tokio_tungstenite::connect_async(url),
    )
    .await??;
    let sub = json!({"type": "subscribe", "channel": "agent-execution", "executionId": id, "since": since});
    ws.send(Message::text(sub.to_string())).await?;
    let mut next = since + 1;
    while next <= last {
        let frame = tokio::time::timeout(Duration::from_secs(120), ws.next())
            .await
            .context("stalled")?;
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(c))) => bail!("closed by the server at {next} of {last}: {c:?}"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => bail!("connection lost at {next} of {last}: {e}"),
            None => bail!("connection ended at {next} of {last}"),
        };
        let v: Value = serde_json::from_str(&text)?;
        if v["executionId"] != id {
            continue;
        }
        let Some(seq) = v["seq"].as_u64() else {
            continue;
        };
        if seq != next {
            bail!("since {since}: got seq {seq}, wanted {next}");
        }
        next += 1;
    }
    let _ = ws.close(None).await;
    Ok(last - since)
}

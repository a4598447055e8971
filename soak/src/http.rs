//! A small HTTP/1.1 client for the REST calls the harness makes (one
//! request per connection, JSON in and out). Small on purpose: the
//! harness shares nothing with the server and builds in seconds.

use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One request; returns the status and the body (JSON, or a string).
pub async fn call(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> anyhow::Result<(u16, Value)> {
    let fut = async {
        let mut stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect {addr}"))?;
        let payload = body.map(|b| b.to_string()).unwrap_or_default();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: application/json\r\n"
        );
        if let Some(t) = token {
            req.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        if body.is_some() {
            req.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                payload.len()
            ));
        }
        req.push_str("\r\n");
        req.push_str(&payload);
        stream.write_all(req.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        parse(&raw)
    };
    tokio::time::timeout(Duration::from_secs(30), fut)
        .await
        .with_context(|| format!("{method} {path}: no answer within 30 s"))?
}

fn parse(raw: &[u8]) -> anyhow::Result<(u16, Value)> {
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        bail!("not an HTTP response");
    };
    let head = String::from_utf8_lossy(&raw[..split]);
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no status")?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let mut body = raw[split + 4..].to_vec();
    if chunked {
        body = dechunk(&body)?;
    }
    let value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    Ok((status, value))
}

fn dechunk(mut rest: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let Some(end) = rest.windows(2).position(|w| w == b"\r\n") else {
            bail!("bad chunk");
        };
        let size_text = String::from_utf8_lossy(&rest[..end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)?;
        rest = &rest[end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if rest.len() < size {
            bail!("short chunk");
        }
        out.extend_from_slice(&rest[..size]);
        rest = rest.get(size + 2..).unwrap_or(&[]);
    }
}

/// A call that must answer `expect`; returns the body.
pub async fn expect(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
    expect: u16,
) -> anyhow::Result<Value> {
    let (status, value) = call(addr, method, path, token, body).await?;
    if status != expect {
        bail!("{method} {path}: HTTP {status} (wanted {expect}): {value}");
    }
    Ok(value)
}

/// Every stored event of an execution, in order (paged).
pub async fn events(addr: &str, token: &str, id: &str) -> anyhow::Result<Vec<Value>> {
    let mut all = Vec::new();
    let mut after = 0u64;
    loop {
        let page = expect(
            addr,
            "GET",
            &format!("/api/v1/executions/{id}/events?after={after}&limit=10000"),
            Some(token),
            None,
            200,
        )
        .await?;
        let page = page.as_array().cloned().unwrap_or_default();
        let Some(last) = page.last() else {
            return Ok(all);
        };
        after = last["seq"].as_u64().context("event without seq")?;
        all.extend(page);
    }
}

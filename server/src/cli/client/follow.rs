//! Following a run over the WebSocket (`/ws?batch=1`): its stored events
//! after `since`, then live ones. When the connection drops (a server
//! restart, a network blip) it connects again and resubscribes with the
//! last `seq` it printed, so nothing is lost and nothing printed twice.
//! Output lines go to stdout or stderr as the agent wrote them, escapes
//! kept; `::progress` drives a progress bar on a terminal's stderr; the
//! run's outcome is the exit code (0 completed, the agent's own exit code
//! when it failed with one, 1 otherwise, 124 timed out, 130 cancelled).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use super::Client;

/// Silence from the server for this long (it pings every 30 s) means the
/// connection is gone.
const SILENCE: Duration = Duration::from_secs(75);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

enum Ended {
    Finished(ExitCode),
    Unauthorized(String),
    /// Cannot work, however often tried (an unknown run, a wrong URL).
    NotFound(String),
    /// Worth connecting again.
    Dropped(String),
}

pub async fn follow(client: &Client, id: &str) -> anyhow::Result<ExitCode> {
    let ws_url = format!(
        "{}/ws?batch=1",
        client
            .url
            .replacen("https://", "wss://", 1)
            .replacen("http://", "ws://", 1)
    );
    let mut printer = Printer::new();
    let mut since = 0u64;
    let mut backoff = Duration::from_millis(250);
    let mut link = Link::default();
    loop {
        match session(client, &ws_url, id, &mut since, &mut printer, &mut link).await {
            Ended::Finished(code) => return Ok(code),
            Ended::Unauthorized(why) => {
                printer.finish();
                bail!("the server refused the credential ({why}): check the API key, or run `yagura login`")
            }
            Ended::NotFound(why) => {
                printer.finish();
                bail!("{why}")
            }
            // Never connected: a wrong URL or a server that is down is
            // said at once, not retried in silence.
            Ended::Dropped(why) if !link.ever => {
                printer.finish();
                bail!("cannot follow the run at {ws_url}: {why}")
            }
            Ended::Dropped(why) => {
                if link.lost_at.is_none() {
                    printer.note(&format!("connection lost ({why}); reconnecting…"));
                    link.lost_at = Some(std::time::Instant::now());
                    backoff = Duration::from_millis(250);
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// The connection's story so far.
#[derive(Default)]
struct Link {
    /// Whether a subscription was ever confirmed.
    ever: bool,
    /// When the connection was lost, while it is.
    lost_at: Option<std::time::Instant>,
}

async fn session(
    client: &Client,
    ws_url: &str,
    id: &str,
    since: &mut u64,
    printer: &mut Printer,
    link: &mut Link,
) -> Ended {
    let mut request = match ws_url.into_client_request() {
        Ok(r) => r,
        Err(e) => return Ended::NotFound(format!("{ws_url}: {e}")),
    };
    let (name, value) = client.auth_header();
    if let Ok(v) = value.parse() {
        request.headers_mut().insert(name, v);
    }
    let connected = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async_tls_with_config(request, None, false, None),
    )
    .await;
    use tokio_tungstenite::tungstenite::Error as WsError;
    let mut ws = match connected {
        Ok(Ok((ws, _))) => ws,
        // Refused at the upgrade: no retry mends a wrong path or a
        // proxy without WebSockets (a 429 or a 5xx may pass).
        Ok(Err(WsError::Http(res)))
            if res.status().is_client_error() && res.status().as_u16() != 429 =>
        {
            return match res.status().as_u16() {
                401 | 403 => Ended::Unauthorized(format!("HTTP {}", res.status())),
                _ => Ended::NotFound(format!(
                    "the server refused the WebSocket at {ws_url} (HTTP {})",
                    res.status()
                )),
            };
        }
        Ok(Err(e)) => return Ended::Dropped(e.to_string()),
        Err(_) => return Ended::Dropped("no answer in 10 s".into()),
    };
    let subscribe = json!({
        "type": "subscribe",
        "channel": "agent-execution",
        "executionId": id,
        "since": *since,
    });
    if let Err(e) = ws.send(Message::text(subscribe.to_string())).await {
        return Ended::Dropped(e.to_string());
    }
    loop {
        let message = match tokio::time::timeout(SILENCE, ws.next()).await {
            Err(_) => return Ended::Dropped("the server went silent".into()),
            Ok(None) => return Ended::Dropped("the connection closed".into()),
            Ok(Some(Err(e))) => return Ended::Dropped(e.to_string()),
            Ok(Some(Ok(m))) => m,
        };
        let text = match message {
            Message::Text(t) => t,
            Message::Close(frame) => {
                let (code, reason) = frame
                    .map(|f| (u16::from(f.code), f.reason.to_string()))
                    .unwrap_or((1005, String::new()));
                return match code {
                    4001 => Ended::Unauthorized(reason),
                    4003 => Ended::NotFound(format!(
                        "the server closed the connection: {reason} (4003)"
                    )),
                    _ => Ended::Dropped(format!("closed {code} {reason}").trim().to_string()),
                };
            }
            _ => continue,
        };
        let Ok(frame) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let events = match frame["type"].as_str() {
            Some("batch") => frame["events"].as_array().cloned().unwrap_or_default(),
            Some("subscribed") => {
                link.ever = true;
                if let Some(at) = link.lost_at.take() {
                    printer.note(&format!(
                        "reconnected after {:.1} s; nothing was missed",
                        at.elapsed().as_secs_f64()
                    ));
                }
                continue;
            }
            Some("error") => {
                let message = frame["message"].as_str().unwrap_or("").to_string();
                return match frame["code"].as_str() {
                    Some("SUBSCRIPTION_ERROR") => {
                        Ended::NotFound(format!("no run {id}: {message}"))
                    }
                    // The server could not read the stored events: it
                    // stopped this subscription, so subscribe again.
                    _ => Ended::Dropped(format!("the server said: {message}")),
                };
            }
            _ => vec![frame],
        };
        for event in events {
            if event["executionId"].as_str() != Some(id) {
                continue;
            }
            let Some(seq) = event["seq"].as_u64() else {
                continue;
            };
            if seq <= *since {
                continue;
            }
            *since = seq;
            let ended = printer.event(&event);
            // Whoever read our output stopped (`| head`): so do we.
            if printer.broken {
                return Ended::Finished(ExitCode::SUCCESS);
            }
            if let Some(code) = ended {
                let _ = ws.close(None).await;
                return Ended::Finished(code);
            }
        }
    }
}

/// Prints a run's events as a terminal shows them.
struct Printer {
    bar: Option<indicatif::ProgressBar>,
    /// Whether stderr is a terminal (progress bar, colours).
    tty: bool,
    /// Whether a write found its reader gone.
    broken: bool,
}

impl Printer {
    fn new() -> Self {
        Printer {
            bar: None,
            tty: std::io::stderr().is_terminal(),
            broken: false,
        }
    }

    fn out(&mut self, to_stderr: bool, text: &str) {
        let write = || {
            let result = if to_stderr {
                let mut err = std::io::stderr().lock();
                err.write_all(text.as_bytes()).and_then(|()| err.flush())
            } else {
                let mut out = std::io::stdout().lock();
                out.write_all(text.as_bytes()).and_then(|()| out.flush())
            };
            matches!(result, Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
        };
        let broken = match &self.bar {
            Some(bar) => bar.suspend(write),
            None => write(),
        };
        self.broken |= broken;
    }

    fn note(&mut self, text: &str) {
        let line = if self.tty {
            format!("\x1b[2m{text}\x1b[0m\n")
        } else {
            format!("{text}\n")
        };
        self.out(true, &line);
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    /// Prints one event; answers the exit code when the run ended.
    fn event(&mut self, e: &Value) -> Option<ExitCode> {
        match e["type"].as_str()? {
            "agent.log" => {
                let message = e["message"].as_str().unwrap_or("");
                let ending = match e["end"].as_str() {
                    Some("none") => "",
                    Some("crlf") => "\r\n",
                    _ => "\n",
                };
                let to_stderr = matches!(e["stream"].as_str(), Some("stderr" | "system" | "stdin"))
                    || (e["stream"].is_null() && e["level"] != "info");
                self.out(to_stderr, &format!("{message}{ending}"));
                None
            }
            "agent.progress" => {
                if self.tty {
                    let bar = self.bar.get_or_insert_with(|| {
                        let bar = indicatif::ProgressBar::new(100);
                        if let Ok(style) = indicatif::ProgressStyle::with_template(
                            "{bar:30.cyan/blue} {pos:>3}% {msg}",
                        ) {
                            bar.set_style(style);
                        }
                        bar
                    });
                    bar.set_position(e["progress"].as_u64().unwrap_or(0).min(100));
                    if let Some(step) = e["currentStep"].as_str() {
                        bar.set_message(step.to_string());
                    }
                }
                None
            }
            "agent.paused" => {
                self.note("paused");
                None
            }
            "agent.resumed" => {
                self.note("resumed");
                None
            }
            "agent.requeued" => {
                self.note(&format!(
                    "back in the queue: {}",
                    e["reason"].as_str().unwrap_or("its runner was lost")
                ));
                None
            }
            "agent.completed" => {
                self.finish();
                self.note(&format!("completed{}", took(e)));
                Some(ExitCode::SUCCESS)
            }
            "agent.cancelled" => {
                self.finish();
                self.note("cancelled");
                Some(ExitCode::from(130))
            }
            "agent.failed" => {
                self.finish();
                let status = e["status"].as_str().unwrap_or("failed");
                self.note(&format!(
                    "{status}: {} ({}){}",
                    e["errorMessage"].as_str().unwrap_or(""),
                    e["errorCode"].as_str().unwrap_or(""),
                    took(e)
                ));
                Some(match (status, e["exitCode"].as_i64()) {
                    ("timed_out", _) => ExitCode::from(124),
                    ("cancelled", _) => ExitCode::from(130),
                    (_, Some(code)) if (1..=255).contains(&code) => ExitCode::from(code as u8),
                    _ => ExitCode::FAILURE,
                })
            }
            _ => None,
        }
    }
}

fn took(e: &Value) -> String {
    e["usage"]["wallMs"]
        .as_u64()
        .map(|ms| format!(" in {:.1} s", ms as f64 / 1000.0))
        .unwrap_or_default()
}

/// Turns off the terminal's echo while a password is typed (restored
/// when dropped, or by Ctrl-C, which would otherwise leave the terminal
/// silent).
pub struct NoEcho {
    saved: Option<libc::termios>,
}

static SAVED_TERMIOS: std::sync::OnceLock<libc::termios> = std::sync::OnceLock::new();

extern "C" fn restore_and_exit(_: libc::c_int) {
    if let Some(t) = SAVED_TERMIOS.get() {
        // SAFETY: tcsetattr and _exit are async-signal-safe; `t` is what
        // tcgetattr returned.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, t);
        }
    }
    // SAFETY: ends the process at once, as SIGINT would have.
    unsafe { libc::_exit(130) }
}

impl NoEcho {
    pub fn new() -> Self {
        // SAFETY: tcgetattr/tcsetattr on stdin with a zeroed termios that
        // tcgetattr fills; the handler only restores it and exits.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(libc::STDIN_FILENO, &mut t) != 0 {
                return NoEcho { saved: None };
            }
            let saved = t;
            let _ = SAVED_TERMIOS.set(saved);
            libc::signal(
                libc::SIGINT,
                restore_and_exit as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
            t.c_lflag &= !libc::ECHO;
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &t);
            NoEcho { saved: Some(saved) }
        }
    }
}

impl Drop for NoEcho {
    fn drop(&mut self) {
        if let Some(t) = self.saved {
            // SAFETY: restores what tcgetattr returned, and SIGINT's
            // default action.
            unsafe {
                libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &t);
                libc::signal(libc::SIGINT, libc::SIG_DFL);
            }
        }
    }
}

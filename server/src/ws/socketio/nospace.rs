//! nospace (seed 004) on a Socket.IO socket: a run is an execution of an
//! agent whose `{prompt}` is the `code`; its output goes out as written,
//! batched per stream.

use std::collections::BTreeMap;
use std::time::Duration;

use app::model::{EventBody, ExecutionId, ExecutionStatus, LogStream};
use serde_json::{json, Value};
use socketioxide::extract::SocketRef;
use tokio::time::Instant;
use tracing::Instrument;

use super::{emit, Shared};
use crate::auth::policy::{authorize, Op};
use crate::auth::Principal;
use crate::events::subscription::ExecutionStream;
use crate::executions::Origin;

/// Output is sent this long after its first unsent byte…
const BATCH_DELAY: Duration = Duration::from_millis(50);
/// …or once this much waits.
const BATCH_BYTES: usize = 64 * 1024;

/// The socket's nospace run, if any.
#[derive(Default)]
pub struct Nospace {
    current: Option<ExecutionId>,
}

impl Nospace {
    pub async fn run(
        &mut self,
        shared: &Shared,
        socket: &SocketRef,
        who: Option<&Principal>,
        request: Value,
    ) {
        // One run per socket: the old one is killed (and says so).
        if let Some(old) = self.current.take() {
            let _ = shared.state.executions.stop(old, false).await;
        }
        match self.start(shared, who, &request).await {
            Ok(id) => {
                if let Some(who) = who {
                    let agent = request
                        .pointer("/options/agentId")
                        .and_then(Value::as_str)
                        .map(|a| ("agentId".to_string(), a.to_string()));
                    crate::auth::audit::note(
                        &shared.state.db,
                        who,
                        "nospace.run",
                        Some(format!("executions/{id}")),
                        agent.into_iter().collect(),
                    )
                    .await;
                }
                self.current = Some(id);
                tokio::spawn(forward(shared.clone(), socket.clone(), id).in_current_span());
            }
            Err(reason) => {
                let session = uuid::Uuid::new_v4().to_string();
                let status = |status: &str| json!({"sessionId": session, "status": status});
                let _ = emit(socket, "nospace_execution_status", &status("running")).await
                    && emit(
                        socket,
                        "nospace_stderr",
                        &json!({"sessionId": session, "data": format!("{reason}\n")}),
                    )
                    .await
                    && emit(
                        socket,
                        "nospace_execution_status",
                        &json!({"sessionId": session, "status": "error", "exitCode": null}),
                    )
                    .await;
            }
        }
    }

    async fn start(
        &self,
        shared: &Shared,
        who: Option<&Principal>,
        request: &Value,
    ) -> Result<ExecutionId, String> {
        let state = &shared.state;
        let principal = who.ok_or("Unauthorized: connect with auth.token")?;
        authorize(&principal.user, Op::StartExecution)
            .map_err(|_| "running code needs the member role".to_string())?;
        let code = request
            .get("code")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let options = request
            .get("options")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let agent = options
            .get("agentId")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| state.config.nospace_agent.clone())
            .ok_or("no agent runs nospace code here: name one in options.agentId, or start the server with --nospace-agent")?;
        let definition = crate::agents::find(&state.db, &agent)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("there is no agent {agent:?}"))?;
        let stdin = request
            .get("stdinData")
            .and_then(Value::as_str)
            .map(str::to_string);
        let batch = match options.get("inputMode").and_then(Value::as_str) {
            Some(mode) => mode == "batch",
            None => stdin.is_some(),
        };
        let origin = Origin {
            env: environment(&options),
            stdin,
            close_stdin: batch,
            ..Origin::default()
        };
        let execution = state
            .executions
            .create(
                &definition,
                code.to_string(),
                &principal.user.username,
                &origin,
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok(execution.id)
    }

    fn ours(&self, request: &Value) -> Option<ExecutionId> {
        let id: ExecutionId = request.get("sessionId")?.as_str()?.parse().ok()?;
        (self.current == Some(id)).then_some(id)
    }

    pub async fn stdin(&self, shared: &Shared, request: Value) {
        let Some(id) = self.ours(&request) else {
            return;
        };
        let Some(data) = request.get("data").and_then(Value::as_str) else {
            return;
        };
        let mut data = data.to_string();
        if !data.ends_with('\n') {
            data.push('\n');
        }
        if let Err(e) = shared.state.executions.stdin(id, data, false).await {
            tracing::debug!(%id, error = %e, "nospace input not taken");
        }
    }

    pub async fn kill(&self, shared: &Shared, request: Value) {
        if let Some(id) = self.ours(&request) {
            let _ = shared.state.executions.stop(id, false).await;
        }
    }

    /// The socket went: its run goes too.
    pub async fn end(&mut self, shared: &Shared) {
        if let Some(id) = self.current.take() {
            let _ = shared.state.executions.stop(id, false).await;
        }
    }
}

/// `options` as `NOSPACE_*` variables: `inputMode` → `NOSPACE_INPUT_MODE`.
fn environment(options: &serde_json::Map<String, Value>) -> BTreeMap<String, String> {
    options
        .iter()
        // Yagura's own option: which agent runs the code.
        .filter(|(key, _)| key.as_str() != "agentId")
        .map(|(key, value)| {
            let mut name = String::from("NOSPACE_");
            for (i, c) in key.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    name.push('_');
                }
                if c.is_ascii_alphanumeric() {
                    name.push(c.to_ascii_uppercase());
                } else {
                    name.push('_');
                }
            }
            let value = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (name, value)
        })
        .collect()
}

/// Output waiting to go out, per stream.
#[derive(Default)]
struct Batch {
    stdout: String,
    stderr: String,
    /// When the oldest unsent byte arrived.
    since: Option<Instant>,
}

impl Batch {
    fn buffer(&mut self, stream: LogStream) -> &mut String {
        match stream {
            LogStream::Stderr => &mut self.stderr,
            _ => &mut self.stdout,
        }
    }

    async fn flush(&mut self, socket: &SocketRef, session: &str) -> bool {
        self.since = None;
        for (event, text) in [
            ("nospace_stdout", std::mem::take(&mut self.stdout)),
            ("nospace_stderr", std::mem::take(&mut self.stderr)),
        ] {
            for chunk in chunks(&text, BATCH_BYTES) {
                if !emit(socket, event, &json!({"sessionId": session, "data": chunk})).await {
                    return false;
                }
            }
        }
        true
    }
}

/// `text` in pieces of at most `max` bytes, cut on character boundaries.
fn chunks(text: &str, max: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut cut = rest.len().min(max);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        if cut == 0 {
            // One character wider than the limit goes whole (never a loop).
            cut = rest.chars().next().map_or(rest.len(), char::len_utf8);
        }
        let (head, tail) = rest.split_at(cut);
        out.push(head);
        rest = tail;
    }
    out
}

/// The run's events as nospace events, until its end.
async fn forward(shared: Shared, socket: SocketRef, id: ExecutionId) {
    let session = id.to_string();
    let state = &shared.state;
    let mut stream = ExecutionStream::open(&state.hub, state.db.clone(), id, 0);
    let mut batch = Batch::default();
    let mut running = false;
    let status = |status: &str, exit: Option<Value>| {
        let mut v = json!({"sessionId": session, "status": status});
        if let Some(exit) = exit {
            v["exitCode"] = exit;
        }
        v
    };
    loop {
        let flush_at = batch.since.map(|s| s + BATCH_DELAY);
        let next = tokio::select! {
            _ = async { tokio::time::sleep_until(flush_at.unwrap_or_else(Instant::now)).await }, if flush_at.is_some() => {
                if !batch.flush(&socket, &session).await {
                    return;
                }
                continue;
            }
            next = stream.next() => next,
        };
        let event = match next {
            Ok(Some(event)) => event,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(%id, error = %e, "reading a nospace run's events");
                return;
            }
        };
        if !running
            && matches!(
                event.event.body,
                EventBody::Started { .. } | EventBody::Log { .. } | EventBody::Finished { .. }
            )
        {
            running = true;
            if !emit(
                &socket,
                "nospace_execution_status",
                &status("running", None),
            )
            .await
            {
                return;
            }
        }
        match &event.event.body {
            EventBody::Log {
                stream: which @ (LogStream::Stdout | LogStream::Stderr),
                message,
                end,
                ..
            } => {
                let buffer = batch.buffer(*which);
                buffer.push_str(message);
                buffer.push_str(end.as_str());
                batch.since.get_or_insert_with(Instant::now);
                if batch.buffer(*which).len() >= BATCH_BYTES
                    && !batch.flush(&socket, &session).await
                {
                    return;
                }
            }
            EventBody::Finished {
                status: outcome,
                exit_code,
                error_message,
                ..
            } => {
                let (name, exit) = match outcome {
                    ExecutionStatus::Completed => ("finished", json!(exit_code.unwrap_or(0))),
                    ExecutionStatus::Cancelled => ("killed", Value::Null),
                    _ => ("error", exit_code.map_or(Value::Null, |c| json!(c))),
                };
                if name == "error" && exit_code.is_none() {
                    // Could not start, or timed out: the reason on stderr.
                    let reason = error_message
                        .clone()
                        .unwrap_or_else(|| "the run failed".into());
                    batch.stderr.push_str(&reason);
                    batch.stderr.push('\n');
                }
                if batch.flush(&socket, &session).await {
                    emit(
                        &socket,
                        "nospace_execution_status",
                        &status(name, Some(exit)),
                    )
                    .await;
                }
                return;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_become_nospace_variables() {
        let options = json!({"language": "ws", "inputMode": "batch", "debug": true, "x-y": 1, "agentId": "a"});
        let env = environment(options.as_object().unwrap());
        assert_eq!(env["NOSPACE_LANGUAGE"], "ws");
        assert_eq!(env["NOSPACE_INPUT_MODE"], "batch");
        assert_eq!(env["NOSPACE_DEBUG"], "true");
        assert_eq!(env["NOSPACE_X_Y"], "1");
        assert!(!env.contains_key("NOSPACE_AGENT_ID"));
    }

    #[test]
    fn chunks_cut_on_character_boundaries() {
        let text = "aé".repeat(40_000); // 3 bytes per pair
        let parts = chunks(&text, BATCH_BYTES);
        assert!(parts.iter().all(|p| p.len() <= BATCH_BYTES));
        assert_eq!(parts.concat(), text);
        assert!(chunks("", 10).is_empty());
        // A limit below one character's width still ends.
        assert_eq!(chunks("éé", 1), vec!["é", "é"]);
    }
}

/// Hostile input, generated: whatever a client puts in `options` and
/// `sessionId`, the run's variables are well-formed names and only its
/// own session is touched; output chunks give the text back.
#[cfg(test)]
mod props {
    use proptest::prelude::*;
    use serde_json::Map;

    use super::*;
    use crate::executions::markers::props::{json_value, text};

    fn options() -> impl Strategy<Value = Map<String, Value>> {
        let key = prop_oneof![
            text(),
            "[a-zA-Z0-9_-]{0,12}",
            prop::sample::select(vec!["agentId", "inputMode", "language", "debug"])
                .prop_map(str::to_string),
        ];
        prop::collection::vec((key, json_value()), 0..8)
            .prop_map(|members| members.into_iter().collect::<Map<_, _>>())
    }

    /// A key's variable, as the seed spells it: camelCase to SNAKE_CASE.
    fn name_of(key: &str) -> String {
        let mut name = String::from("NOSPACE_");
        let mut first = true;
        for c in key.chars() {
            if c.is_ascii_uppercase() && !first {
                name.push('_');
            }
            name.push(if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            });
            first = false;
        }
        name
    }

    /// An option's value as a variable holds it.
    fn rendered(option: &Value) -> String {
        match option {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }

    proptest! {
        #[test]
        fn prop_options_become_wellformed_variables(options in options()) {
            let env = environment(&options);
            let given = options.keys().filter(|k| k.as_str() != "agentId").count();
            prop_assert!(env.len() <= given, "{} variables from {given} options", env.len());
            for (name, value) in &env {
                prop_assert!(name.starts_with("NOSPACE_"), "{name:?}");
                prop_assert!(
                    name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
                    "{name:?}"
                );
                // The value is one of the options', as text.
                let from_some = options.iter().any(|(key, option)| {
                    key != "agentId" && name_of(key) == *name && rendered(option) == *value
                });
                prop_assert!(from_some, "{name}={value:?} from no option");
            }
            // A lowercase key no other key collides with: its value, as
            // NOSPACE_<KEY>.
            for (key, option) in &options {
                let plain = !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase());
                let alone = options.keys().filter(|k| name_of(k) == name_of(key)).count() == 1;
                if plain && alone {
                    let name = format!("NOSPACE_{}", key.to_ascii_uppercase());
                    let want = rendered(option);
                    prop_assert_eq!(env.get(&name), Some(&want));
                }
            }
        }

        #[test]
        fn prop_only_the_current_session_is_ours(
            current in prop::option::of(any::<u128>()),
            request in prop_oneof![
                json_value(),
                any::<u128>().prop_map(|n| json!({"sessionId": uuid::Uuid::from_u128(n).to_string()})),
                json_value().prop_map(|id| json!({"sessionId": id})),
            ],
        ) {
            let current = current.map(|n| ExecutionId(uuid::Uuid::from_u128(n)));
            let nospace = Nospace { current };
            let named = request
                .get("sessionId")
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<ExecutionId>().ok());
            let ours = nospace.ours(&request);
            prop_assert_eq!(ours, named.filter(|id| Some(*id) == current));
            if let Some(id) = current {
                let upper = id.to_string().to_uppercase();
                prop_assert_eq!(nospace.ours(&json!({"sessionId": id.to_string()})), Some(id));
                prop_assert_eq!(nospace.ours(&json!({"sessionId": upper})), Some(id));
            }
        }

        #[test]
        fn prop_chunks_give_the_text_back(
            text in prop::collection::vec(any::<char>(), 0..400)
                .prop_map(|chars| chars.into_iter().collect::<String>()),
            max in 4usize..64,
        ) {
            for limit in [max, BATCH_BYTES] {
                let parts = chunks(&text, limit);
                prop_assert_eq!(parts.concat(), text.as_str());
                prop_assert!(parts.iter().all(|p| !p.is_empty() && p.len() <= limit));
            }
        }
    }
}

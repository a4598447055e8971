//! Seed 003, the Team Dashboard dialect, as its clients speak it: the
//! envelope, auth and acks, agents as executions (create, command, pause,
//! resume, terminate), refusals with their codes, metrics, and a session
//! resumed after a dropped connection with every missed message rebuilt.

use std::collections::VecDeque;
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{
    self, create_agent, user_with_role, ws_close_code, ws_connect, ws_recv, ws_send, Socket,
    TestServer,
};

const WAIT: Duration = Duration::from_secs(15);

/// A Team Dashboard client: sends envelopes, keeps what it read while
/// looking for something else.
struct Td {
    ws: Socket,
    n: u64,
    backlog: VecDeque<Value>,
}

impl Td {
    async fn open(t: &TestServer) -> Td {
        Td::on(ws_connect(&format!("ws://{}/ws/team-dashboard", t.server.addr)).await)
    }

    fn on(ws: Socket) -> Td {
        Td {
            ws,
            n: 0,
            backlog: VecDeque::new(),
        }
    }

    async fn send(&mut self, kind: &str, payload: Value) -> String {
        self.n += 1;
        let id = uuid::Uuid::new_v4().to_string();
        ws_send(
            &mut self.ws,
            &json!({"id": id, "type": kind, "timestamp": self.n, "payload": payload}),
        )
        .await;
        id
    }

    /// Authenticates; the ack's payload.
    async fn auth(&mut self, token: &str, session: Option<&str>) -> Value {
        let mut payload = json!({"token": token, "clientId": "tests"});
        if let Some(s) = session {
            payload["sessionId"] = json!(s);
        }
        let id = self.send("auth", payload).await;
        self.ack(&id).await
    }

    /// The first message (backlog first) for which `pred` holds.
    async fn find(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.backlog.iter().position(&pred) {
            return self.backlog.remove(i).unwrap();
        }
        loop {
            let msg = ws_recv(&mut self.ws, WAIT)
                .await
                .unwrap_or_else(|| panic!("no {what} within {WAIT:?}; backlog {:?}", self.backlog));
            check_envelope(&msg);
            if pred(&msg) {
                return msg;
            }
            self.backlog.push_back(msg);
        }
    }

    async fn ack(&mut self, id: &str) -> Value {
        let msg = self
            .find(&format!("ack of {id}"), |m| {
                m["type"] == "ack" && m["payload"]["messageId"] == id
            })
            .await;
        assert_eq!(msg["metadata"]["correlationId"], id, "{msg}");
        msg["payload"].clone()
    }

    async fn of_type(&mut self, kind: &str, agent: &str) -> Value {
        self.find(kind, |m| {
            m["type"] == kind && m["payload"]["agentId"] == agent
        })
        .await
    }

    async fn status(&mut self, agent: &str, status: &str) -> Value {
        self.find(&format!("status {status}"), |m| {
            m["type"] == "agent:status"
                && m["payload"]["agentId"] == agent
                && m["payload"]["status"] == status
        })
        .await
    }

    /// Output of `agent` until `text` has appeared (joined).
    async fn output_until(&mut self, agent: &str, text: &str) -> String {
        let mut all = String::new();
        while !all.contains(text) {
            let m = self.of_type("agent:output", agent).await;
            all.push_str(m["payload"]["data"].as_str().unwrap());
        }
        all
    }
}

/// Every message is an envelope: UUID id, type, epoch-ms timestamp, payload.
fn check_envelope(m: &Value) {
    let id = m["id"].as_str().unwrap_or_else(|| panic!("no id: {m}"));
    let parsed: uuid::Uuid = id.parse().unwrap_or_else(|_| panic!("id is no UUID: {m}"));
    assert_eq!(parsed.get_version_num(), 4, "{m}");
    assert!(m["type"].is_string(), "{m}");
    assert!(
        m["timestamp"].as_i64().unwrap_or(0) > 1_600_000_000_000,
        "{m}"
    );
    assert!(m.get("payload").is_some(), "{m}");
    if m["type"].as_str().unwrap().starts_with("agent:") && m["payload"]["agentId"].is_string() {
        assert_eq!(m["metadata"]["agentId"], m["payload"]["agentId"], "{m}");
    }
}

/// A refusal: the ack with the code's name and number, and the agent:error
/// beside it.
async fn refused(td: &mut Td, id: &str, name: &str, number: u64) -> (Value, Value) {
    let ack = td.ack(id).await;
    assert_eq!(ack["success"], false, "{ack}");
    assert_eq!(ack["error"], name, "{ack}");
    assert_eq!(ack["code"], number, "{ack}");
    let error = td
        .find("agent:error", |m| {
            m["type"] == "agent:error" && m["metadata"]["correlationId"] == id
        })
        .await;
    assert_eq!(
        error["payload"]["error"]["code"],
        number.to_string(),
        "{error}"
    );
    assert_eq!(error["payload"]["error"]["name"], name, "{error}");
    (ack, error["payload"].clone())
}

#[tokio::test]
async fn an_agent_is_created_commanded_paused_and_terminated() {
    let t = common::start().await;
    let token = t.setup_admin().await;
    create_agent(
        &t,
        &token,
        "repl",
        &[
            "sh",
            "-c",
            "echo \"ready $YAGURA_MODEL $GREETING\"; while read l; do echo \"got:$l\"; done",
        ],
        json!({}),
    )
    .await;
    let mut td = Td::open(&t).await;
    let ack = td.auth(&token, None).await;
    assert_eq!(ack["success"], true, "{ack}");
    assert_eq!(ack["resumed"], false);
    assert!(ack["sessionId"].is_string());

    let create = td
        .send(
            "agent:create",
            json!({"name": "repl", "model": "claude-3-opus", "workspace": "scratch",
                   "environment": {"GREETING": "hello"}, "resourceLimits": {"memory": 512, "cpu": 1}}),
        )
        .await;
    let ack = td.ack(&create).await;
    assert_eq!(ack["success"], true, "{ack}");
    let agent = ack["agentId"].as_str().unwrap().to_string();
    let created = td.of_type("agent:created", &agent).await;
    assert_eq!(created["payload"]["name"], "repl");
    assert!(created["payload"]["pid"].as_u64().unwrap() > 0, "{created}");
    assert!(created["payload"]["startTime"].as_i64().unwrap() > 0);
    td.status(&agent, "running").await;
    let out = td.output_until(&agent, "\n").await;
    assert_eq!(out, "ready claude-3-opus hello\n");

    let cmd = td
        .send("agent:command", json!({"agentId": agent, "command": "hi"}))
        .await;
    assert_eq!(td.ack(&cmd).await["success"], true);
    assert_eq!(td.output_until(&agent, "got:hi\n").await, "got:hi\n");

    // Input sent while paused is read on resume.
    let pause = td.send("agent:pause", json!({"agentId": agent})).await;
    assert_eq!(td.ack(&pause).await["success"], true);
    td.status(&agent, "paused").await;
    let cmd = td
        .send(
            "agent:command",
            json!({"agentId": agent, "command": "later"}),
        )
        .await;
    assert_eq!(td.ack(&cmd).await["success"], true);
    let resume = td.send("agent:resume", json!({"agentId": agent})).await;
    assert_eq!(td.ack(&resume).await["success"], true);
    td.status(&agent, "running").await;
    td.output_until(&agent, "got:later\n").await;

    // Sequences grow per agent.
    let seqs: Vec<u64> = td
        .backlog
        .iter()
        .filter(|m| m["type"] == "agent:output")
        .map(|m| m["payload"]["sequence"].as_u64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");

    let stop = td
        .send("agent:terminate", json!({"agentId": agent, "force": false}))
        .await;
    assert_eq!(td.ack(&stop).await["success"], true);
    td.status(&agent, "stopping").await;
    td.status(&agent, "stopped").await;

    // An ended agent takes no more commands.
    let late = td
        .send("agent:command", json!({"agentId": agent, "command": "x"}))
        .await;
    let (_, error) = refused(&mut td, &late, "AGENT_NOT_FOUND", 2001).await;
    assert_eq!(
        error["error"]["message"],
        format!("Agent {agent} not found")
    );
    assert_eq!(error["agentId"], agent);

    // ping is answered by pong, without an ack.
    let ping = td.send("ping", json!({"timestamp": 1})).await;
    let pong = td.find("pong", |m| m["type"] == "pong").await;
    assert_eq!(pong["metadata"]["correlationId"], ping);
    assert!(pong["payload"]["timestamp"].as_i64().unwrap() > 0);
    t.shutdown().await;
}

#[tokio::test]
async fn refusals_carry_the_seeds_codes_and_the_socket_stays_open() {
    let t = common::start().await;
    let token = t.setup_admin().await;
    let mut td = Td::open(&t).await;
    td.auth(&token, None).await;

    // Not JSON: an ack with a null messageId, and an agent:error.
    ws_send(&mut td.ws, &json!("not an envelope")).await;
    futures::SinkExt::send(
        &mut td.ws,
        tokio_tungstenite::tungstenite::Message::text("{nope"),
    )
    .await
    .unwrap();
    let ack = td
        .find("ack of garbage", |m| {
            m["type"] == "ack" && m["payload"]["messageId"].is_null()
        })
        .await;
    assert_eq!(ack["payload"]["success"], false);
    assert_eq!(ack["payload"]["error"], "INVALID_MESSAGE");
    assert_eq!(ack["payload"]["code"], 4001);
    let error = td.find("agent:error", |m| m["type"] == "agent:error").await;
    assert!(
        error["payload"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Invalid message format"),
        "{error}"
    );

    let unknown = td.send("agent:dance", json!({})).await;
    let (_, error) = refused(&mut td, &unknown, "UNSUPPORTED_TYPE", 4002).await;
    assert_eq!(
        error["error"]["message"],
        "Unknown message type: agent:dance"
    );

    let missing = uuid::Uuid::new_v4().to_string();
    let cmd = td
        .send("agent:terminate", json!({"agentId": missing}))
        .await;
    let (_, error) = refused(&mut td, &cmd, "AGENT_NOT_FOUND", 2001).await;
    assert_eq!(
        error["error"]["message"],
        format!("Agent {missing} not found")
    );

    let create = td
        .send(
            "agent:create",
            json!({"name": "no-such-definition", "model": "m", "workspace": "w"}),
        )
        .await;
    refused(&mut td, &create, "AGENT_SPAWN_FAILED", 2002).await;

    // Still open: a subscription works.
    let sub = td.send("subscribe:logs", json!({})).await;
    let ack = td.ack(&sub).await;
    assert_eq!(ack["success"], true);
    assert!(ack["subscriptionId"].is_string());
    let unsub = td
        .send(
            "unsubscribe",
            json!({"subscriptionId": ack["subscriptionId"]}),
        )
        .await;
    assert_eq!(td.ack(&unsub).await["success"], true);

    // 100 messages a second per connection: the rest are refused.
    let mut ids = Vec::new();
    for _ in 0..130 {
        ids.push(td.send("subscribe:metrics", json!({})).await);
    }
    let mut limited = 0;
    for id in &ids {
        let ack = td.ack(id).await;
        if ack["success"] == false {
            assert_eq!(ack["error"], "RATE_LIMIT_EXCEEDED");
            assert_eq!(ack["code"], 4003);
            limited += 1;
        }
    }
    assert!(limited >= 20, "{limited} refused");

    // A message over 1 MB closes the socket with 1009.
    let big = "x".repeat(1_100_000);
    td.send("ping", json!({"pad": big})).await;
    assert_eq!(ws_close_code(&mut td.ws, WAIT).await, 1009);
    t.shutdown().await;
}

#[tokio::test]
async fn bad_expired_and_missing_auth_close_4001_and_viewers_may_only_watch() {
    let t = common::start().await;
    let token = t.setup_admin().await;

    let mut td = Td::open(&t).await;
    let id = td
        .send("auth", json!({"token": "garbage", "clientId": "c"}))
        .await;
    let ack = td.ack(&id).await;
    assert_eq!(ack["success"], false);
    assert_eq!(ack["error"], "AUTH_FAILED");
    assert_eq!(ack["code"], 1001);
    assert_eq!(ws_close_code(&mut td.ws, WAIT).await, 4001);

    let me: Value = t
        .http
        .get(t.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let now = chrono::Utc::now().timestamp();
    let expired = common::sign_token(
        &t.data_dir(),
        json!({"sub": me["id"], "name": "admin", "iss": "yagura", "exp": now - 3600, "iat": now - 7200}),
    );
    let mut td = Td::open(&t).await;
    // The seed's own client puts the token at the top level.
    ws_send(
        &mut td.ws,
        &json!({"id": "a1", "type": "auth", "timestamp": 1, "token": expired, "clientId": "c"}),
    )
    .await;
    let ack = td.ack("a1").await;
    assert_eq!(ack["error"], "TOKEN_EXPIRED");
    assert_eq!(ack["code"], 1002);
    assert_eq!(ws_close_code(&mut td.ws, WAIT).await, 4001);

    // Nothing within 5 s.
    let mut td = Td::open(&t).await;
    let started = std::time::Instant::now();
    assert_eq!(
        ws_close_code(&mut td.ws, Duration::from_secs(10)).await,
        4001
    );
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );

    // A viewer watches, but may not start or steer agents.
    let viewer = user_with_role(&t, "vera", app::model::Role::Viewer).await;
    let mut td = Td::open(&t).await;
    assert_eq!(td.auth(&viewer, None).await["success"], true);
    let create = td
        .send(
            "agent:create",
            json!({"name": "x", "model": "m", "workspace": "w"}),
        )
        .await;
    refused(&mut td, &create, "INSUFFICIENT_PERMISSIONS", 1003).await;
    let sub = td.send("subscribe:agent", json!({})).await;
    assert_eq!(td.ack(&sub).await["success"], true);
    t.shutdown().await;
}

#[tokio::test]
async fn metrics_report_the_host_and_running_agents() {
    let t = common::start().await;
    let token = t.setup_admin().await;
    create_agent(&t, &token, "sleeper", &["sleep", "30"], json!({})).await;
    let mut td = Td::open(&t).await;
    td.auth(&token, None).await;
    let create = td
        .send(
            "agent:create",
            json!({"name": "sleeper", "model": "m", "workspace": "w"}),
        )
        .await;
    let agent = td.ack(&create).await["agentId"]
        .as_str()
        .unwrap()
        .to_string();

    let sub = td.send("subscribe:metrics", json!({})).await;
    assert_eq!(td.ack(&sub).await["success"], true);
    let first = td.find("metrics", |m| m["type"] == "metrics:update").await;
    let system = &first["payload"]["system"];
    assert!(system["cpu"]["cores"].as_u64().unwrap() >= 1, "{first}");
    let memory = &system["memory"];
    assert!(memory["total"].as_u64().unwrap() >= memory["used"].as_u64().unwrap());
    assert!(memory["percent"].as_f64().unwrap() > 0.0);
    assert!(system["disk"]["total"].as_u64().unwrap() > 0);
    for k in ["bytesIn", "bytesOut", "packetsIn", "packetsOut"] {
        assert!(system["network"][k].is_u64(), "{k}: {first}");
    }
    let agents = first["payload"]["agents"].as_array().unwrap();
    let mine = agents
        .iter()
        .find(|a| a["agentId"] == agent)
        .expect("the agent is listed");
    assert!(mine["memory"].as_u64().unwrap() > 0, "{mine}");
    assert!(mine["threads"].as_u64().unwrap() >= 1);
    // And again two seconds later.
    let t0 = std::time::Instant::now();
    td.find("second metrics", |m| m["type"] == "metrics:update")
        .await;
    assert!(
        t0.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        t0.elapsed()
    );
    let stop = td
        .send("agent:terminate", json!({"agentId": agent, "force": true}))
        .await;
    assert_eq!(td.ack(&stop).await["success"], true);
    td.status(&agent, "stopped").await;
    t.shutdown().await;
}

#[tokio::test]
async fn a_resumed_session_gets_every_missed_message_with_its_id_and_sequence() {
    let t = common::start().await;
    let token = t.setup_admin().await;
    create_agent(
        &t,
        &token,
        "talker",
        &["sh", "-c", "i=0; while [ $i -lt 300 ]; do echo a$i; i=$((i+1)); done; read go; \
                       i=0; while [ $i -lt 700 ]; do echo b$i; i=$((i+1)); done; read end; echo bye"],
        json!({}),
    )
    .await;
    let mut td = Td::open(&t).await;
    let session = td.auth(&token, None).await["sessionId"]
        .as_str()
        .unwrap()
        .to_string();
    let create = td
        .send(
            "agent:create",
            json!({"name": "talker", "model": "m", "workspace": "w"}),
        )
        .await;
    let agent = td.ack(&create).await["agentId"]
        .as_str()
        .unwrap()
        .to_string();
    td.output_until(&agent, "a299\n").await;
    // The connection drops without a goodbye.
    drop(td);

    // The agent carries on: 700 more lines while nobody listens.
    let res = t
        .http
        .post(t.url(&format!("/api/v1/executions/{agent}/stdin")))
        .bearer_auth(&token)
        .json(&json!({"data": "go\n"}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    common::eventually("700 lines stored", 20, || async {
        common::log_lines(&common::stored_events(&t, &token, &agent).await)
            .iter()
            .any(|l| l == "b699")
    })
    .await;

    let mut td = Td::open(&t).await;
    let ack = td.auth(&token, Some(&session)).await;
    assert_eq!(ack["resumed"], true, "{ack}");
    assert_eq!(ack["sessionId"], session);
    let mut missed = Vec::new();
    while missed.len() < 700 {
        let m = td.of_type("agent:output", &agent).await;
        missed.push(m);
    }
    let text: Vec<String> = missed
        .iter()
        .map(|m| m["payload"]["data"].as_str().unwrap().to_string())
        .collect();
    let expected: Vec<String> = (0..700).map(|i| format!("b{i}\n")).collect();
    assert_eq!(
        text, expected,
        "in order, none twice, none from before the drop"
    );
    let seqs: Vec<u64> = missed
        .iter()
        .map(|m| m["payload"]["sequence"].as_u64().unwrap())
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "consecutive sequences"
    );

    // Another session that subscribes sees the same messages under the
    // same ids: they are the agent's, not the connection's.
    let mut other = Td::open(&t).await;
    other.auth(&token, None).await;
    let sub = other
        .send(
            "subscribe:agent",
            json!({"agentId": agent, "filters": ["stdout"]}),
        )
        .await;
    assert_eq!(other.ack(&sub).await["success"], true);
    let wanted = missed[350]["payload"]["sequence"].clone();
    let same = other
        .find("the same line", |m| {
            m["type"] == "agent:output" && m["payload"]["sequence"] == wanted
        })
        .await;
    assert_eq!(same["id"], missed[350]["id"]);
    assert_eq!(same["payload"]["data"], "b350\n");

    // Live again: a command, and the end.
    let cmd = td
        .send("agent:command", json!({"agentId": agent, "command": "end"}))
        .await;
    assert_eq!(td.ack(&cmd).await["success"], true);
    assert_eq!(td.output_until(&agent, "bye\n").await, "bye\n");
    td.status(&agent, "stopped").await;

    // A session id of somebody else's, or unknown, starts afresh.
    let mut td = Td::open(&t).await;
    let ack = td
        .auth(&token, Some("00000000-0000-4000-8000-000000000000"))
        .await;
    assert_eq!(ack["resumed"], false);
    t.shutdown().await;
}

#[tokio::test]
async fn the_shared_path_routes_by_the_first_frame() {
    let t = common::start().await;
    let token = t.setup_admin().await;
    // `/ws` without a credential: a Team Dashboard auth frame.
    let mut td = Td::on(ws_connect(&t.ws_url("")).await);
    let ack = td.auth(&token, None).await;
    assert_eq!(ack["success"], true);
    let ping = td.send("ping", json!({})).await;
    let pong = td.find("pong", |m| m["type"] == "pong").await;
    assert_eq!(pong["metadata"]["correlationId"], ping);

    // Anything else first: 4001.
    let mut ws = ws_connect(&t.ws_url("")).await;
    ws_send(&mut ws, &json!({"type": "subscribe", "channel": "agents"})).await;
    assert_eq!(ws_close_code(&mut ws, WAIT).await, 4001);
    t.shutdown().await;
}

//! What the audit layer reads from a request: the action a route stands
//! for, whether it is recorded at all, its target, and the fields sent
//! with secrets replaced.

use std::collections::BTreeMap;

use axum::http::Method;

/// Server functions that change nothing (they are all `POST`s).
pub const READ_ONLY_FNS: &[&str] = &[
    "session",
    "invitation",
    "agents/list",
    "agents/get",
    "agents/check-program",
    "agents/stats",
    "api-keys/overview",
    "executions/list",
    "executions/get",
    "executions/log-tail",
    "dashboard",
    "github/overview",
    "github/sign-in-enabled",
    "github/test",
    "repositories/list",
    "issues/list",
    "issues/get",
    "issues/board",
    "notifications/list",
    "people/list",
    "auth/options",
    "insights",
    "insights/now",
    "account/sso",
    "people/invitations",
    "runners/overview",
    "workflows/list",
    "workflows/get",
    "workflow-runs/list",
    "workflow-runs/get",
    "workflow-runs/history",
    "changes/execution",
    "changes/run",
    "audit/list",
    "account/sessions",
    // The colour theme: a cookie in one browser, not a change to Yagura.
    "theme",
];

/// The largest body read for the entry's detail; larger ones are passed
/// on untouched and recorded without it.
pub(super) const BODY_LIMIT: usize = 64 * 1024;
/// Each recorded value is cut to this many characters.
const VALUE_LIMIT: usize = 200;
/// Fields whose values are never recorded.
const SECRET_WORDS: &[&str] = &[
    "password",
    "secret",
    "token",
    "key",
    "confirm",
    "current",
    "env",
    "private",
    "credential",
    "data",
    "code",
];

/// What a request is, for the log (None: not recorded).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Kind {
    pub action: String,
    /// The target as the path names it (REST), before the body is read.
    pub target: Option<String>,
    /// A server function: its target comes from an `id`-like field.
    pub server_fn: Option<String>,
}

fn is_plural(word: &str) -> bool {
    word.ends_with('s') && !matches!(word, "status" | "progress" | "access")
}

/// `POST /api/v1/agents` → `agents.create`, `PATCH /api/v1/agents/{id}` →
/// `agents.update`, `POST /api/v1/executions/{id}/cancel` →
/// `executions.cancel`, `POST /api/v1/runners/tokens` →
/// `runners.tokens.create`.
fn rest_action(method: &Method, pattern: &str) -> String {
    let segments: Vec<&str> = pattern
        .trim_start_matches("/api/v1")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let names: Vec<&str> = segments
        .iter()
        .copied()
        .filter(|s| !s.starts_with('{'))
        .collect();
    let ends_in_param = segments.last().is_some_and(|s| s.starts_with('{'));
    let verb = match *method {
        Method::DELETE => Some("delete"),
        Method::PUT | Method::PATCH => Some("update"),
        _ if ends_in_param => Some("update"),
        _ if names.last().is_none_or(|n| is_plural(n)) => Some("create"),
        _ => None,
    };
    // First-run setup sits at `/setup`, beside the sign-in routes.
    if names == ["setup"] {
        return "auth.setup".into();
    }
    let mut action = names.join(".");
    if let Some(verb) = verb {
        if !action.is_empty() {
            action.push('.');
        }
        action.push_str(verb);
    }
    action
}

/// Server function endpoint → action: `agents/save` → `agents.save`,
/// `login` → `auth.login`.
fn fn_action(endpoint: &str) -> String {
    match endpoint {
        "login" | "logout" | "setup" => format!("auth.{endpoint}"),
        "invitation/accept" => "invitations.accept".into(),
        other => other.replace('/', "."),
    }
}

pub(super) fn classify(method: &Method, path: &str, pattern: Option<&str>) -> Option<Kind> {
    if path == "/auth/github/callback" || path == "/auth/sso/callback" {
        return Some(Kind {
            action: if path == "/auth/sso/callback" {
                "auth.sso"
            } else {
                "auth.github"
            }
            .into(),
            target: None,
            server_fn: None,
        });
    }
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return None;
    }
    if path == "/api/github/webhook" {
        return Some(Kind {
            action: "github.webhook".into(),
            target: None,
            server_fn: None,
        });
    }
    if let Some(rest) = path.strip_prefix("/api/v1/") {
        let action = rest_action(method, pattern.unwrap_or(path));
        return Some(Kind {
            action,
            target: pattern.and_then(|p| rest_target(p, rest)),
            server_fn: None,
        });
    }
    let endpoint = path.strip_prefix("/api/")?;
    if READ_ONLY_FNS.contains(&endpoint) {
        return None;
    }
    Some(Kind {
        action: fn_action(endpoint),
        target: None,
        server_fn: Some(endpoint.to_string()),
    })
}

/// A REST route's target: its first segment and the first id in the
/// path (`/api/v1/executions/{id}/cancel` → `executions/<id>`).
fn rest_target(pattern: &str, rest: &str) -> Option<String> {
    let shape = pattern.trim_start_matches("/api/v1/").split('/');
    let values: Vec<&str> = rest.split('/').collect();
    let at = shape.clone().position(|s| s.starts_with('{'))?;
    Some(format!("{}/{}", values.first()?, short(values.get(at)?)))
}

/// What a server function's ids name: `people/invite` makes an
/// invitation, `executions/start` an execution.
pub(super) fn fn_kind(endpoint: &str) -> &str {
    match endpoint {
        "people/invite" | "people/invitations/revoke" => "invitations",
        "workflows/run" => "workflow-runs",
        "github/connect" | "github/test" | "github/sync" | "github/keep-worktrees" => {
            "repositories"
        }
        "runners/tokens/create" | "runners/tokens/revoke" => "runner-tokens",
        "account/sessions/end-one" => "sessions",
        "changes/execution/discard" => "executions",
        "changes/run/discard" | "changes/run/pull-request" => "workflow-runs",
        "changes/execution/pull-request" => "executions",
        other => other.split('/').next().unwrap_or(other),
    }
}

fn is_secret(field: &str) -> bool {
    let field = field.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| field.contains(w))
}

/// A field's name, cut to 100 characters.
fn short_key(key: &str) -> String {
    key.chars().take(100).collect()
}

pub(super) fn short(value: &str) -> String {
    if value.chars().count() <= VALUE_LIMIT {
        value.to_string()
    } else {
        let cut: String = value.chars().take(VALUE_LIMIT).collect();
        format!("{cut}…")
    }
}

/// The fields of a form or JSON body, flattened (`input[name]`,
/// `env.API_KEY`), secrets replaced.
pub(super) fn fields(content_type: &str, body: &[u8]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if content_type.starts_with("application/x-www-form-urlencoded") {
        for (k, v) in form_urlencoded::parse(body) {
            if out.len() >= 50 {
                break;
            }
            let value = if is_secret(&k) {
                "•••".into()
            } else {
                short(&v)
            };
            out.insert(short_key(&k), value);
        }
    } else if content_type.starts_with("application/json") {
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
            flatten("", &value, &mut out, false);
        }
    }
    out
}

fn flatten(
    prefix: &str,
    value: &serde_json::Value,
    out: &mut BTreeMap<String, String>,
    secret: bool,
) {
    if out.len() >= 50 {
        return;
    }
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out, secret || is_secret(k));
            }
        }
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), v, out, secret);
            }
        }
        other => {
            let text = match other {
                serde_json::Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            let value = if secret || is_secret(prefix) {
                "•••".into()
            } else {
                short(&text)
            };
            out.insert(short_key(prefix), value);
        }
    }
}

/// A server function's target: its `id`-like field, named after the
/// endpoint's first part (`agents/save` with `id=…` → `agents/…`).
pub(super) fn fn_target(
    endpoint: &str,
    fields: &BTreeMap<String, String>,
    own_id_only: bool,
) -> Option<String> {
    let keys = [
        ("id", fn_kind(endpoint)),
        ("execution_id", "executions"),
        ("run_id", "workflow-runs"),
        ("workflow_id", "workflows"),
        ("agent_id", "agents"),
        ("issue_id", "issues"),
        ("repository_id", "repositories"),
    ];
    let keys = if own_id_only { &keys[..1] } else { &keys[..] };
    for (key, kind) in keys {
        if let Some(v) = fields
            .get(*key)
            .filter(|v| !v.is_empty() && v.as_str() != "•••")
        {
            return Some(format!("{kind}/{v}"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_named_after_routes() {
        let cases = [
            (Method::POST, "/api/v1/agents", "agents.create"),
            (Method::PATCH, "/api/v1/agents/{id}", "agents.update"),
            (Method::PUT, "/api/v1/agents/{id}", "agents.update"),
            (Method::DELETE, "/api/v1/agents/{id}", "agents.delete"),
            (
                Method::POST,
                "/api/v1/executions/{id}/cancel",
                "executions.cancel",
            ),
            (
                Method::POST,
                "/api/v1/runners/tokens",
                "runners.tokens.create",
            ),
            (Method::POST, "/api/v1/auth/login", "auth.login"),
            (Method::POST, "/api/v1/setup", "auth.setup"),
            (
                Method::POST,
                "/api/v1/invitations/accept",
                "invitations.accept",
            ),
            (Method::POST, "/api/v1/me/password", "me.password"),
        ];
        for (m, p, want) in cases {
            assert_eq!(rest_action(&m, p), want, "{m} {p}");
        }
        assert_eq!(fn_action("login"), "auth.login");
        assert_eq!(fn_action("agents/save"), "agents.save");
        assert_eq!(fn_action("invitation/accept"), "invitations.accept");
    }

    #[test]
    fn reads_are_not_recorded_and_writes_are() {
        assert_eq!(
            classify(&Method::GET, "/api/v1/agents", Some("/api/v1/agents")),
            None
        );
        assert_eq!(classify(&Method::POST, "/api/agents/list", None), None);
        assert_eq!(classify(&Method::GET, "/agents", None), None);
        let save = classify(&Method::POST, "/api/agents/save", None).unwrap();
        assert_eq!(save.action, "agents.save");
        let cancel = classify(
            &Method::POST,
            "/api/v1/executions/abc/cancel",
            Some("/api/v1/executions/{id}/cancel"),
        )
        .unwrap();
        assert_eq!(cancel.target.as_deref(), Some("executions/abc"));
        assert!(classify(&Method::GET, "/auth/github/callback", None).is_some());
        assert_eq!(
            classify(&Method::GET, "/auth/sso/callback", None).map(|k| k.action),
            Some("auth.sso".to_string())
        );
    }

    #[test]
    fn secrets_are_never_recorded() {
        let form = b"username=ada&password=hunter22&confirm=hunter22&input%5Benv%5D%5B0%5D%5Bvalue%5D=sk-1&name=x";
        let f = fields("application/x-www-form-urlencoded", form);
        assert_eq!(f["username"], "ada");
        assert_eq!(f["name"], "x");
        for k in ["password", "confirm", "input[env][0][value]"] {
            assert_eq!(f[k], "•••", "{k}");
        }
        let json = br#"{"name":"a","env":{"OPENAI":"sk-2"},"command":["x"],"webhookSecret":"s","token":"t"}"#;
        let f = fields("application/json", json);
        assert_eq!(f["name"], "a");
        assert_eq!(f["command[0]"], "x");
        assert_eq!(f["env.OPENAI"], "•••");
        assert_eq!(f["webhookSecret"], "•••");
        assert_eq!(f["token"], "•••");
        let all = format!("{f:?}");
        assert!(!all.contains("sk-2") && !all.contains("\"s\""));
    }

    #[test]
    fn a_server_function_names_its_target() {
        let f = fields("application/x-www-form-urlencoded", b"id=42&role=member");
        assert_eq!(
            fn_target("people/change", &f, false).as_deref(),
            Some("people/42")
        );
        let f = fields("application/x-www-form-urlencoded", b"agent_id=7&prompt=hi");
        assert_eq!(
            fn_target("executions/start", &f, false).as_deref(),
            Some("agents/7")
        );
        let f = fields("application/x-www-form-urlencoded", b"id=9");
        assert_eq!(
            fn_target("people/invitations/revoke", &f, true).as_deref(),
            Some("invitations/9")
        );
        assert_eq!(
            rest_target("/api/v1/executions/{id}/cancel", "executions/abc/cancel").as_deref(),
            Some("executions/abc")
        );
        assert_eq!(rest_target("/api/v1/auth/login", "auth/login"), None);
    }
}

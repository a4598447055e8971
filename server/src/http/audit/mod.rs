//! The audit log's writer: a layer that records every change a person, a
//! token or GitHub makes over HTTP. It sees every state-changing REST
//! route (`POST`, `PUT`, `PATCH`, `DELETE` under `/api/v1`), every server
//! function but the read-only ones ([`fields::READ_ONLY_FNS`]), GitHub's webhook
//! and the GitHub sign-in, so a new route is recorded without anyone
//! remembering to. Each entry names the actor (from the request's
//! credential, or the username a sign-in tried), the source, the action
//! (derived from the route), the target (ids in the path, or an `id`
//! field), the outcome and the fields sent, secrets replaced by `•••`.
//! Failures are kept for sign-ins only; other refused requests changed
//! nothing.

use std::collections::BTreeMap;

use app::api::ApiError;
use app::model::{AuditEntry, AuditPage, AuditQuery};
use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

use crate::auth::{api_keys, Auth};
use crate::db::{self, audit as store, Db};
use crate::error::OrInternal;
use crate::state::AppState;

mod fields;

use fields::{classify, fields, fn_kind, fn_target, short, BODY_LIMIT};

/// Actions whose failures are kept too (someone trying to get in).
const SIGN_INS: &[&str] = &[
    "auth.login",
    "auth.setup",
    "auth.github",
    "auth.sso",
    "invitations.accept",
    "account.password",
    "me.password",
];

/// Whether the answer says the change happened: a 2xx/3xx that is not a
/// server function's error, nor a plain form's redirect back with
/// `?error=`.
fn succeeded(res: &Response) -> bool {
    let status = res.status();
    if status.is_client_error()
        || status.is_server_error()
        || res.headers().contains_key("serverfnerror")
    {
        return false;
    }
    // A plain form sent back with `?error=<code>` (the key exactly).
    let location = res
        .headers()
        .get(header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .unwrap_or("");
    let query = location.split_once('?').map(|(_, q)| q).unwrap_or("");
    !query
        .split('&')
        .any(|pair| pair.split('=').next() == Some("error"))
}

pub async fn record(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let pattern = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string());
    let Some(kind) = classify(req.method(), req.uri().path(), pattern.as_deref()) else {
        return next.run(req).await;
    };
    let client = req
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip().to_string());
    // Who, before the handler runs (signing out ends the credential).
    let (actor, source) = who(&state.auth, &state.db, req.headers(), &kind.action).await;
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let small = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n <= BODY_LIMIT);
    let mut detail = BTreeMap::new();
    let req = if small && kind.action != "github.webhook" {
        let (parts, body) = req.into_parts();
        match axum::body::to_bytes(body, BODY_LIMIT).await {
            Ok(bytes) => {
                detail = fields(&content_type, &bytes);
                Request::from_parts(parts, Body::from(bytes))
            }
            // The body could not be read: the handler would fail the same way.
            Err(_) => Request::from_parts(parts, Body::empty()),
        }
    } else {
        req
    };
    if kind.action == "github.webhook" {
        for (h, name) in [
            ("x-github-event", "event"),
            ("x-github-delivery", "delivery"),
        ] {
            if let Some(v) = req.headers().get(h).and_then(|v| v.to_str().ok()) {
                detail.insert(name.into(), short(v));
            }
        }
    }
    // What a create names itself by: REST's first path segment, a server
    // function's kind.
    let kind_of = match kind.server_fn.as_deref() {
        Some(endpoint) => Some(fn_kind(endpoint).to_string()),
        None => req
            .uri()
            .path()
            .strip_prefix("/api/v1/")
            .and_then(|p| p.split('/').next())
            .map(str::to_string),
    };
    let status = res_status_ignored;
    let res = next.run(req).await;
    let ok = succeeded(&res);
    let sign_in = SIGN_INS.contains(&kind.action.as_str());
    if !ok && (!sign_in || status(res.status())) {
        return res;
    }
    if !ok {
        // A failed attempt from anyone: only the name tried is kept.
        detail.retain(|k, _| k == "username");
    }
    // A server function's target: its own `id`, else what it made (the
    // answer's id, below), else the ids it was given (`agent_id`…).
    let mut target = kind.target.or_else(|| {
        kind.server_fn
            .as_deref()
            .and_then(|endpoint| fn_target(endpoint, &detail, true))
    });
    // The answer: what a create made (`executions/<its id>`), and who a
    // sign-in signed in (REST answers with the user).
    let mut res = res;
    let mut answer = None;
    if ok && (target.is_none() || sign_in) {
        let (json, rebuilt) = small_json(res).await;
        res = rebuilt;
        answer = json;
    }
    if target.is_none() {
        let made = answer.as_ref().and_then(|v| match v.get("id")? {
            serde_json::Value::String(s) => Some(short(s)),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        });
        if let (Some(id), Some(kind)) = (made, kind_of) {
            target = Some(format!("{kind}/{id}"));
        }
    }
    if target.is_none() {
        target = kind
            .server_fn
            .as_deref()
            .and_then(|endpoint| fn_target(endpoint, &detail, false));
    }
    let actor = if sign_in && ok {
        // Whom the answer signed in, never a name the form claimed.
        signed_in_as(&state.auth, &res, answer.as_ref()).or(actor)
    } else if sign_in {
        detail.get("username").map(|name| (None, short(name)))
    } else {
        actor
    };
    let row = store::AuditRow {
        id: 0,
        at: db::now_ms(),
        actor_id: actor.as_ref().and_then(|(id, _)| id.clone()),
        actor_name: actor.map(|(_, name)| name),
        source,
        action: kind.action,
        target,
        outcome: if ok { "ok" } else { "failed" }.into(),
        detail: capped(detail),
        client,
    };
    if let Err(e) = store::insert(&state.db, &row).await {
        tracing::error!(error = %e, action = %row.action, "audit entry not written");
    }
    res
}

/// The most an entry's detail takes, serialized.
const DETAIL_LIMIT: usize = 4096;

/// The detail as stored: JSON, at most [`DETAIL_LIMIT`] bytes (the last
/// fields go first, and `…` says so).
fn capped(mut detail: BTreeMap<String, String>) -> Option<String> {
    loop {
        let json = serde_json::to_string(&detail).ok()?;
        if detail.is_empty() {
            return None;
        }
        if json.len() <= DETAIL_LIMIT {
            return Some(json);
        }
        let last = detail.keys().rev().find(|k| k.as_str() != "…")?.clone();
        detail.remove(&last);
        detail.insert("…".into(), "more fields".into());
    }
}

/// A small JSON answer, parsed, and the answer, unchanged.
async fn small_json(res: Response) -> (Option<serde_json::Value>, Response) {
    let json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let small = axum::body::HttpBody::size_hint(res.body())
        .upper()
        .is_some_and(|n| n <= BODY_LIMIT as u64);
    if !json || !small {
        return (None, res);
    }
    let (parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        return (None, Response::from_parts(parts, Body::empty()));
    };
    let value = serde_json::from_slice(&bytes).ok();
    (value, Response::from_parts(parts, Body::from(bytes)))
}

/// Whom a sign-in's answer signed in: the session cookie it sets (pages,
/// GitHub), else the `user` of a REST answer.
fn signed_in_as(
    auth: &Auth,
    res: &Response,
    answer: Option<&serde_json::Value>,
) -> Option<(Option<String>, String)> {
    let prefix = format!("{}=", app::api::SESSION_COOKIE);
    let from_cookie = res
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.strip_prefix(prefix.as_str()))
        .filter_map(|v| v.split(';').next())
        .filter(|t| !t.is_empty())
        .find_map(|t| auth.keys.verify(t).ok())
        .map(|claims| (Some(claims.sub), claims.name));
    from_cookie.or_else(|| {
        let user = answer?.get("user")?;
        Some((
            user.get("id")?.as_str().map(str::to_string),
            user.get("username")?.as_str()?.to_string(),
        ))
    })
}

/// Refusals that are not attempts at a password: throttled (the password
/// was not even checked), foreign origin or host, too large.
fn res_status_ignored(status: axum::http::StatusCode) -> bool {
    matches!(status.as_u16(), 403 | 413 | 421 | 429)
}

/// The actor (id, name) and source of a request.
async fn who(
    auth: &Auth,
    db: &Db,
    headers: &axum::http::HeaderMap,
    action: &str,
) -> (Option<(Option<String>, String)>, String) {
    if action == "github.webhook" {
        return (None, "github".into());
    }
    let Some(token) = Auth::token_from_headers(headers) else {
        return (None, "anonymous".into());
    };
    let source = if api_keys::is_api_key(token) {
        "api_key"
    } else if Auth::uses_cookie(headers) {
        "browser"
    } else {
        "token"
    };
    match auth.authenticate(db, token).await {
        Ok(p) => (
            Some((Some(p.user.id.to_string()), p.user.username)),
            source.into(),
        ),
        Err(_) => (None, "anonymous".into()),
    }
}

/// A page of the log for an admin.
pub async fn list(db: &Db, q: &AuditQuery) -> Result<AuditPage, ApiError> {
    let limit = i64::from(q.limit.unwrap_or(100).clamp(1, 500));
    let nonempty = |s: &Option<String>| {
        s.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let (actor, action, target) = (nonempty(&q.actor), nonempty(&q.action), nonempty(&q.target));
    let rows = store::list(
        db,
        &store::Filter {
            actor: actor.as_deref(),
            action: action.as_deref(),
            target: target.as_deref(),
            since: q.since,
            until: q.until,
            before: q.before,
        },
        limit + 1,
    )
    .await
    .or_internal("reading the audit log")?;
    let more = rows.len() as i64 > limit;
    let entries: Vec<AuditEntry> = rows
        .into_iter()
        .take(limit as usize)
        .map(|r| AuditEntry {
            id: r.id,
            at: r.at,
            actor_id: r.actor_id,
            actor: r.actor_name,
            source: r.source,
            action: r.action,
            target: r.target,
            outcome: r.outcome,
            detail: r.detail.and_then(|d| serde_json::from_str(&d).ok()),
            client: r.client,
        })
        .collect();
    Ok(AuditPage {
        next_before: more.then(|| entries.last().map(|e| e.id)).flatten(),
        entries,
    })
}

/// Deletes entries older than the retention, hourly, until shutdown.
pub fn keep_pruned(state: &AppState) {
    let Some(days) = state.config.audit_retention_days.filter(|d| *d > 0) else {
        return;
    };
    let db = state.db.clone();
    let shutdown = state.shutdown.clone();
    state.tasks.spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = every.tick() => {}
            }
            let before = db::now_ms() - i64::from(days) * 86_400_000;
            match store::prune(&db, before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, days, "old audit entries removed"),
                Err(e) => tracing::warn!(error = %e, "cannot prune the audit log"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_are_capped_and_stay_json() {
        let big: BTreeMap<String, String> = (0..50)
            .map(|i| (format!("field{i:02}"), "x".repeat(200)))
            .collect();
        let json = capped(big).unwrap();
        assert!(json.len() <= DETAIL_LIMIT, "{}", json.len());
        let back: BTreeMap<String, String> = serde_json::from_str(&json).unwrap();
        assert_eq!(back["…"], "more fields");
        assert!(back.contains_key("field00"));
        assert_eq!(capped(BTreeMap::new()), None);
    }
}

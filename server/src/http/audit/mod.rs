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

use fields::{classify, fields, fn_target, short, BODY_LIMIT};

/// Actions whose failures are kept too (someone trying to get in).
const SIGN_INS: &[&str] = &[
    "auth.login",
    "auth.setup",
    "auth.github",
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
    let location = res
        .headers()
        .get(header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .unwrap_or("");
    !(location.contains("error=") || location.contains("&error"))
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
    let kind_of = kind
        .server_fn
        .as_deref()
        .map(|e| e.to_string())
        .or_else(|| {
            req.uri()
                .path()
                .strip_prefix("/api/v1/")
                .map(str::to_string)
        })
        .and_then(|p| p.split('/').next().map(str::to_string));
    let res = next.run(req).await;
    let ok = succeeded(&res);
    if !ok && !SIGN_INS.contains(&kind.action.as_str()) {
        return res;
    }
    // A sign-in (or joining) names who tried, whoever this browser was
    // signed in as before.
    let tried = detail.get("username").map(|name| (None, short(name)));
    let actor = match tried {
        Some(t) if SIGN_INS.contains(&kind.action.as_str()) => Some(t),
        _ => actor,
    };
    // A sign-in that worked names the account too.
    let actor = match actor {
        Some((None, name)) if ok => {
            let id = db::users::find_by_username(&state.db, &name)
                .await
                .ok()
                .flatten()
                .map(|r| r.id);
            Some((id, name))
        }
        other => other,
    };
    let mut target = kind.target.or_else(|| {
        kind.server_fn
            .as_deref()
            .and_then(|endpoint| fn_target(endpoint, &detail))
    });
    // What was made names itself in the answer: `executions/<its id>`.
    let mut res = res;
    if ok && (target.is_none() || kind.server_fn.is_some()) {
        let (made, answer) = created_id(res).await;
        res = answer;
        if let (Some(id), Some(kind)) = (made, kind_of) {
            target = Some(format!("{kind}/{id}"));
        }
    }
    let row = store::AuditRow {
        id: 0,
        at: db::now_ms(),
        actor_id: actor.as_ref().and_then(|(id, _)| id.clone()),
        actor_name: actor.map(|(_, name)| name),
        source,
        action: kind.action,
        target,
        outcome: if ok { "ok" } else { "failed" }.into(),
        detail: (!detail.is_empty())
            .then(|| serde_json::to_string(&detail).ok())
            .flatten(),
        client,
    };
    if let Err(e) = store::insert(&state.db, &row).await {
        tracing::error!(error = %e, action = %row.action, "audit entry not written");
    }
    res
}

/// The `id` of a small JSON answer (what a create or start made), and the
/// answer, unchanged.
async fn created_id(res: Response) -> (Option<String>, Response) {
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
    let id = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| match v.get("id")? {
            serde_json::Value::String(s) => Some(short(s)),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        });
    (id, Response::from_parts(parts, Body::from(bytes)))
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

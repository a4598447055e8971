//! `POST /api/github/webhook`: GitHub's deliveries. The signature
//! (`X-Hub-Signature-256`, HMAC-SHA256 of the raw body with the instance's
//! secret) is checked in constant time before the body is parsed; each
//! `X-GitHub-Delivery` is applied once, however often it comes.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use super::GhIssue;
use crate::db::{self, github as store};
use crate::issues::mirror;
use crate::state::AppState;

/// GitHub caps payloads at 25 MB.
pub const BODY_LIMIT: usize = 26 * 1024 * 1024;

/// True when `header` is `sha256=<hex>` and the HMAC of `body` under
/// `secret` matches it (compared in constant time). SHA-1 signatures
/// (`X-Hub-Signature`) are not accepted.
pub fn verify_signature(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_sig) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(signature) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&signature).is_ok()
}

fn reply(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(serde_json::json!({ "error": code, "message": message })),
    )
        .into_response()
}

fn ok(status: StatusCode, outcome: &str) -> Response {
    (status, Json(serde_json::json!({ "outcome": outcome }))).into_response()
}

#[derive(Deserialize)]
struct Payload {
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    repository: Option<PayloadRepo>,
    #[serde(default)]
    issue: Option<GhIssue>,
    #[serde(default)]
    comment: Option<PayloadComment>,
    #[serde(default)]
    sender: Option<super::GhUser>,
}

#[derive(Deserialize)]
struct PayloadRepo {
    full_name: String,
}

#[derive(Deserialize)]
struct PayloadComment {
    #[serde(default)]
    body: String,
}

pub async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let secret =
        match state.github.webhook_secret().await {
            Ok(Some(secret)) => secret,
            Ok(None) => return reply(
                StatusCode::SERVICE_UNAVAILABLE,
                "webhook_not_configured",
                "set a webhook secret on the settings page (or YAGURA_GITHUB_WEBHOOK_SECRET) first",
            ),
            Err(e) => {
                tracing::error!(error = %e, "cannot read the webhook secret");
                return reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; see the server log",
                );
            }
        };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if !verify_signature(secret.as_bytes(), &body, header("x-hub-signature-256")) {
        tracing::warn!(delivery = ?header("x-github-delivery"), "webhook with a missing or wrong signature refused");
        return reply(
            StatusCode::UNAUTHORIZED,
            "bad_signature",
            "X-Hub-Signature-256 is missing or does not match the body",
        );
    }
    let Some(event) = header("x-github-event").filter(|e| !e.is_empty() && e.len() <= 64) else {
        return reply(
            StatusCode::BAD_REQUEST,
            "invalid",
            "X-GitHub-Event is missing",
        );
    };
    let Some(delivery) = header("x-github-delivery").filter(|d| !d.is_empty() && d.len() <= 100)
    else {
        return reply(
            StatusCode::BAD_REQUEST,
            "invalid",
            "X-GitHub-Delivery is missing",
        );
    };
    if event == "ping" {
        return ok(StatusCode::OK, "pong");
    }
    match store::claim_delivery(&state.db, delivery, event, db::now_ms()).await {
        Ok(true) => {}
        Ok(false) => return ok(StatusCode::OK, "duplicate delivery: applied before"),
        Err(e) => {
            tracing::error!(error = %e, "cannot record a webhook delivery");
            return reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error; see the server log",
            );
        }
    }
    let payload: Payload = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => {
            let _ =
                store::set_delivery_outcome(&state.db, delivery, "rejected: not a JSON payload")
                    .await;
            return reply(
                StatusCode::BAD_REQUEST,
                "invalid",
                &format!("the payload is not valid JSON: {e}"),
            );
        }
    };
    match apply(&state, event, payload).await {
        Ok(outcome) => {
            let _ = store::set_delivery_outcome(&state.db, delivery, &outcome).await;
            tracing::info!(delivery, event, outcome, "webhook delivery");
            ok(StatusCode::OK, &outcome)
        }
        Err(e) => {
            // Let GitHub's redelivery try again.
            let _ = store::release_delivery(&state.db, delivery).await;
            tracing::error!(delivery, event, error = %e, "webhook delivery failed");
            reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the delivery could not be applied; redeliver it later",
            )
        }
    }
}

async fn apply(
    state: &AppState,
    event: &str,
    payload: Payload,
) -> Result<String, app::api::ApiError> {
    if !matches!(event, "issues" | "issue_comment") {
        return Ok(format!("ignored: {event} events are not used"));
    }
    let Some(full_name) = payload.repository.as_ref().map(|r| r.full_name.as_str()) else {
        return Ok("ignored: no repository in the payload".into());
    };
    let repo = store::find_repo_by_github(&state.db, full_name)
        .await
        .map_err(|e| crate::http::error::internal("finding a repository", e))?;
    let Some(repo) = repo else {
        return Ok(format!("ignored: {full_name} is not connected"));
    };
    let Some(issue) = payload.issue else {
        return Ok("ignored: no issue in the payload".into());
    };
    if issue.pull_request.is_some() {
        return Ok("ignored: pull request".into());
    }
    let action = payload.action.unwrap_or_default();
    if action == "deleted" && event == "issues" {
        return Ok("ignored: deleted issues stay in Yagura with their runs".into());
    }
    let actor = payload
        .sender
        .as_ref()
        .map(|s| format!("github:{}", s.login))
        .unwrap_or_else(|| "github".into());
    let mirrored = mirror(state, &repo.id, &issue, &actor, true).await?;
    let mut outcome = format!("{event}.{action}: issue #{} {mirrored:?}", issue.number);
    if event == "issue_comment" && action == "created" {
        if let Some(comment) = payload.comment {
            if let Some(started) =
                comment_command(state, &repo.id, &issue, &comment, &actor).await?
            {
                outcome.push_str(&format!("; {started}"));
            }
        }
    }
    Ok(outcome)
}

/// `/yagura run <workflow>` in a comment by someone with write access to
/// the repository (asked of GitHub) starts that workflow on the issue.
async fn comment_command(
    state: &AppState,
    repo_id: &str,
    issue: &GhIssue,
    comment: &PayloadComment,
    actor: &str,
) -> Result<Option<String>, app::api::ApiError> {
    let Some(name) = comment
        .body
        .lines()
        .next()
        .and_then(|l| l.trim().strip_prefix("/yagura run "))
        .map(str::trim)
        .filter(|n| !n.is_empty())
    else {
        return Ok(None);
    };
    let login = actor.trim_start_matches("github:");
    let trusted = match state.github.connected(repo_id).await {
        Ok(Some(c)) => super::may_write(&c.role_of(login).await),
        _ => false,
    };
    if !trusted {
        return Ok(Some(format!(
            "/yagura run ignored: {actor} has no write access"
        )));
    }
    let workflows = state.workflows.list().await?;
    let Some(workflow) = workflows.iter().find(|w| w.name.eq_ignore_ascii_case(name)) else {
        return Ok(Some(format!("/yagura run: no workflow called {name:?}")));
    };
    let Some(id) = store::find_issue_id(&state.db, repo_id, issue.number as i64)
        .await
        .map_err(|e| crate::http::error::internal("finding an issue", e))?
    else {
        return Ok(None);
    };
    let row = crate::issues::find_row(
        state,
        id.parse()
            .map_err(|e| crate::http::error::internal("issue id", e))?,
    )
    .await?;
    let run = state
        .workflows
        .start_run(workflow, Some(row), actor)
        .await?;
    Ok(Some(format!("started run {}", run.id)))
}

#[cfg(test)]
mod tests {
    use super::verify_signature;

    /// GitHub's published test vector
    /// (docs: "Validating webhook deliveries").
    #[test]
    fn github_test_vector() {
        let secret = b"It's a Secret to Everybody";
        let body = b"Hello, World!";
        let good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(verify_signature(secret, body, Some(good)));
        assert!(!verify_signature(secret, b"Hello, World?", Some(good)));
        assert!(!verify_signature(b"another secret", body, Some(good)));
        assert!(!verify_signature(secret, body, None));
        assert!(!verify_signature(
            secret,
            body,
            Some("sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59")
        ));
        assert!(!verify_signature(secret, body, Some("sha256=zz")));
        assert!(!verify_signature(
            secret,
            body,
            Some(&good[..good.len() - 2])
        ));
    }
}

//! GitHub's webhook deliveries (`POST /api/github/webhook`). The signature
//! (`X-Hub-Signature-256`, HMAC-SHA256 of the raw body with the instance's
//! secret) is checked in constant time before the body is parsed; each
//! `X-GitHub-Delivery` is applied once, however often it comes.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use super::{may_write, sync::IssueSync, GhIssue};
use crate::db::{self, deliveries as store, repositories};
use crate::error::OrInternal;
use crate::issues::Mirrored;

/// A delivery as it arrived: its headers and raw body.
pub struct Delivery<'a> {
    /// `X-GitHub-Event`.
    pub event: Option<&'a str>,
    /// `X-GitHub-Delivery`.
    pub id: Option<&'a str>,
    /// `X-Hub-Signature-256`.
    pub signature: Option<&'a str>,
    pub body: &'a [u8],
}

/// What became of a delivery: applied (or ignored, with why), or refused
/// with an HTTP status, a short code and a message for GitHub's log.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    Done(String),
    Refused {
        status: u16,
        code: &'static str,
        message: String,
    },
}

fn refuse(status: u16, code: &'static str, message: impl Into<String>) -> Answer {
    Answer::Refused {
        status,
        code,
        message: message.into(),
    }
}

/// The largest delivery read (before its signature is checked, so anyone
/// can send one). The events used (`issues`, `issue_comment`) stay far
/// below: an issue body is at most 65,536 characters. A larger delivery
/// gets 413, and polling still brings its change in.
pub const BODY_LIMIT: usize = 1024 * 1024;

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
    /// GitHub's id of the comment: a command runs once per comment, even
    /// when the same payload comes again under a new delivery id.
    #[serde(default)]
    id: i64,
    #[serde(default)]
    body: String,
}

impl IssueSync {
    /// Checks and applies one delivery. The signature is checked before
    /// anything is parsed; a delivery id is applied once (a failed
    /// application releases it, so GitHub's redelivery is applied).
    pub async fn deliver(&self, delivery: Delivery<'_>) -> Answer {
        let secret = match self.github.webhook_secret().await {
            Ok(Some(secret)) => secret,
            Ok(None) => return refuse(
                503,
                "webhook_not_configured",
                "set a webhook secret on the settings page (or YAGURA_GITHUB_WEBHOOK_SECRET) first",
            ),
            Err(e) => {
                tracing::error!(error = %e, "cannot read the webhook secret");
                return refuse(500, "internal", "internal error; see the server log");
            }
        };
        if !verify_signature(secret.as_bytes(), delivery.body, delivery.signature) {
            tracing::warn!(delivery = ?delivery.id, "webhook with a missing or wrong signature refused");
            return refuse(
                401,
                "bad_signature",
                "X-Hub-Signature-256 is missing or does not match the body",
            );
        }
        let Some(event) = delivery.event.filter(|e| !e.is_empty() && e.len() <= 64) else {
            return refuse(400, "invalid", "X-GitHub-Event is missing");
        };
        let Some(id) = delivery.id.filter(|d| !d.is_empty() && d.len() <= 100) else {
            return refuse(400, "invalid", "X-GitHub-Delivery is missing");
        };
        if event == "ping" {
            return Answer::Done("pong".into());
        }
        match store::claim_delivery(&self.db, id, event, db::now_ms()).await {
            Ok(true) => {}
            Ok(false) => return Answer::Done("duplicate delivery: applied before".into()),
            Err(e) => {
                tracing::error!(error = %e, "cannot record a webhook delivery");
                return refuse(500, "internal", "internal error; see the server log");
            }
        }
        let payload: Payload = match serde_json::from_slice(delivery.body) {
            Ok(p) => p,
            Err(e) => {
                let _ =
                    store::set_delivery_outcome(&self.db, id, "rejected: not a JSON payload").await;
                return refuse(
                    400,
                    "invalid",
                    format!("the payload is not valid JSON: {e}"),
                );
            }
        };
        match self.apply_delivery(event, payload).await {
            Ok(outcome) => {
                let _ = store::set_delivery_outcome(&self.db, id, &outcome).await;
                tracing::info!(delivery = id, event, outcome, "webhook delivery");
                Answer::Done(outcome)
            }
            Err(e) => {
                // Let GitHub's redelivery try again.
                let _ = store::release_delivery(&self.db, id).await;
                tracing::error!(delivery = id, event, error = %e, "webhook delivery failed");
                refuse(
                    500,
                    "internal",
                    "the delivery could not be applied; redeliver it later",
                )
            }
        }
    }

    async fn apply_delivery(
        &self,
        event: &str,
        payload: Payload,
    ) -> Result<String, app::api::ApiError> {
        if !matches!(event, "issues" | "issue_comment") {
            return Ok(format!("ignored: {event} events are not used"));
        }
        let Some(full_name) = payload.repository.as_ref().map(|r| r.full_name.as_str()) else {
            return Ok("ignored: no repository in the payload".into());
        };
        let repo = repositories::find_by_github(&self.db, full_name)
            .await
            .or_internal("finding a repository")?;
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
        let mirrored = self.mirror(&repo.id, &issue, &actor, true).await?;
        let mut outcome = format!(
            "{event}.{action}: issue #{} {}",
            issue.number,
            match mirrored {
                Mirrored::Created(_) => "Created",
                Mirrored::Updated => "Updated",
                Mirrored::Unchanged => "Unchanged",
            }
        );
        if event == "issue_comment" && action == "created" {
            if let Some(comment) = payload.comment {
                if let Some(started) = self
                    .comment_command(&repo.id, &issue, &comment, &actor)
                    .await?
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
        &self,
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
        let trusted = match self.github.connected(repo_id).await {
            Ok(Some(c)) => may_write(&c.role_of(login).await),
            _ => false,
        };
        if !trusted {
            return Ok(Some(format!(
                "/yagura run ignored: {actor} has no write access"
            )));
        }
        let workflows = self.workflows.list().await?;
        let Some(workflow) = workflows.iter().find(|w| w.name.eq_ignore_ascii_case(name)) else {
            return Ok(Some(format!("/yagura run: no workflow called {name:?}")));
        };
        let Some(row) = self
            .issues
            .find_by_number(repo_id, issue.number as i64)
            .await?
        else {
            return Ok(None);
        };
        let once = format!("comment:{repo_id}:{}", comment.id);
        match store::claim_delivery(&self.db, &once, "yagura_run", db::now_ms()).await {
            Ok(true) => {}
            Ok(false) => {
                return Ok(Some(format!(
                    "/yagura run: comment {} already started a run",
                    comment.id
                )))
            }
            Err(e) => return Err(crate::error::internal("claiming a comment command", e)),
        }
        let run = match self.workflows.start_run(workflow, Some(row), actor).await {
            Ok(run) => run,
            Err(e) => {
                let _ = store::release_delivery(&self.db, &once).await;
                return Err(e);
            }
        };
        let outcome = format!("started run {}", run.id);
        let _ = store::set_delivery_outcome(&self.db, &once, &outcome).await;
        Ok(Some(outcome))
    }
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

/// Hostile input, generated: any signature header and any body are
/// checked without a panic, a right signature is accepted and a wrong one
/// refused; any body reads as a payload or an error.
#[cfg(test)]
mod props {
    use proptest::prelude::*;
    use serde_json::{json, Value};

    use super::*;
    use crate::executions::markers::props::{json_value, text};

    /// The header GitHub would send for `body` under `secret`.
    fn sign(secret: &[u8], body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key");
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    fn header() -> impl Strategy<Value = String> {
        const PIECES: &[&str] = &["sha256=", "sha1=", " ", "0", "f", "F", "zz", "=", "\t"];
        let piece = prop_oneof![
            3 => prop::sample::select(PIECES).prop_map(str::to_string),
            2 => "[0-9a-f]{0,64}",
            1 => any::<String>(),
        ];
        prop::collection::vec(piece, 0..6).prop_map(|pieces| pieces.concat())
    }

    fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(any::<u8>(), 0..max)
    }

    static NULL: Value = Value::Null;

    /// A member of what serde reads a struct from: an object by name, or
    /// an array by field order; null when absent.
    fn member<'a>(value: &'a Value, name: &str, index: usize) -> &'a Value {
        let found = match value {
            Value::Array(items) => items.get(index),
            other => other.get(name),
        };
        found.unwrap_or(&NULL)
    }

    /// A payload read from `value` holds what `value` says.
    fn check_payload(value: &Value) -> Result<(), TestCaseError> {
        let Ok(payload) = serde_json::from_value::<Payload>(value.clone()) else {
            return Ok(());
        };
        prop_assert!(
            value.is_object() || value.is_array(),
            "a payload from {value}"
        );
        prop_assert_eq!(
            payload.action.as_deref(),
            member(value, "action", 0).as_str()
        );
        let repository = member(value, "repository", 1);
        prop_assert_eq!(
            payload.repository.as_ref().map(|r| r.full_name.as_str()),
            member(repository, "full_name", 0).as_str()
        );
        let issue = member(value, "issue", 2);
        match &payload.issue {
            Some(gh) => {
                prop_assert_eq!(Some(gh.number), member(issue, "number", 0).as_u64());
                prop_assert_eq!(Some(gh.title.as_str()), member(issue, "title", 1).as_str());
                prop_assert_eq!(gh.body.as_deref(), member(issue, "body", 2).as_str());
                prop_assert_eq!(Some(gh.state.as_str()), member(issue, "state", 3).as_str());
            }
            None => prop_assert!(issue.is_null(), "issue {issue} not read"),
        }
        let comment = member(value, "comment", 3);
        match &payload.comment {
            Some(c) => prop_assert_eq!(
                c.body.as_str(),
                member(comment, "body", 1).as_str().unwrap_or_default()
            ),
            None => prop_assert!(comment.is_null(), "comment {comment} not read"),
        }
        let sender = member(value, "sender", 4);
        prop_assert_eq!(
            payload.sender.as_ref().map(|s| s.login.as_str()),
            member(sender, "login", 0).as_str()
        );
        Ok(())
    }

    /// A payload as GitHub sends it for `issues` and `issue_comment`.
    fn payload() -> impl Strategy<Value = Value> {
        (
            (prop::option::of(text()), text(), any::<u64>(), text()),
            (
                prop::option::of(text()),
                text(),
                prop::collection::vec(text(), 0..4),
                any::<bool>(),
            ),
            (any::<i64>(), text(), text()),
        )
            .prop_map(|(head, issue, comment)| {
                let (action, repo, number, title) = head;
                let (body, state, labels, pull) = issue;
                let (comment_id, comment, login) = comment;
                let labels: Vec<Value> = labels.iter().map(|l| json!({"name": l})).collect();
                let mut issue = json!({
                    "number": number, "title": title, "body": body, "state": state,
                    "labels": labels, "user": {"login": login}, "assignee": null,
                    "html_url": "https://github.com/o/r/issues/1",
                    "updated_at": "2024-01-01T10:00:00Z",
                });
                if pull {
                    issue["pull_request"] = json!({"url": "https://api.github.com/x"});
                }
                json!({
                    "action": action, "repository": {"full_name": repo, "id": 1},
                    "issue": issue, "comment": {"id": comment_id, "body": comment},
                    "sender": {"login": login}, "installation": {"id": 7},
                })
            })
    }

    proptest! {
        #[test]
        fn prop_signature_check_survives_any_input(
            secret in bytes(80),
            body in bytes(256),
            header in prop::option::of(header()),
        ) {
            let accepted = verify_signature(&secret, &body, header.as_deref());
            // Accepted exactly when the header is `sha256=` and the MAC in
            // hex (of either case), blanks around it allowed.
            let good = sign(&secret, &body);
            let expected = header
                .as_deref()
                .and_then(|h| h.trim().strip_prefix("sha256="))
                .is_some_and(|sig| sig.eq_ignore_ascii_case(&good[7..]));
            prop_assert!(accepted == expected, "accepted: {accepted} for {header:?}");
        }

        #[test]
        fn prop_right_signatures_pass_and_wrong_ones_fail(
            secret in bytes(80),
            body in bytes(256),
            upper in any::<bool>(),
            at in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            let good = sign(&secret, &body);
            let sent = if upper {
                format!("sha256={}", good[7..].to_uppercase())
            } else {
                good.clone()
            };
            prop_assert!(verify_signature(&secret, &body, Some(sent.as_str())));
            let padded = format!(" {sent}\n");
            prop_assert!(verify_signature(&secret, &body, Some(padded.as_str())));
            // Another body, a signature cut short or one bit off: refused.
            let mut changed = body.clone();
            if changed.is_empty() {
                changed.push(0);
            } else {
                changed[at.index(body.len())] ^= 1 << bit;
            }
            prop_assert!(!verify_signature(&secret, &changed, Some(good.as_str())));
            prop_assert!(!verify_signature(&secret, &body, Some(&good[..good.len() - 2])));
            let mut raw = hex::decode(&good[7..]).expect("our own hex");
            let i = at.index(raw.len());
            raw[i] ^= 1 << bit;
            let flipped = format!("sha256={}", hex::encode(raw));
            prop_assert!(!verify_signature(&secret, &body, Some(flipped.as_str())));
        }

        #[test]
        fn prop_any_bytes_read_as_a_payload_or_an_error(body in bytes(512)) {
            if serde_json::from_slice::<Payload>(&body).is_ok() {
                // JSON, if perhaps only leniently: members a payload
                // ignores are skipped, not checked for valid UTF-8.
                prop_assert!(serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_ok());
                if let Ok(value) = serde_json::from_slice::<Value>(&body) {
                    check_payload(&value)?;
                }
            }
        }

        #[test]
        fn prop_any_json_reads_as_a_payload_or_an_error(value in json_value()) {
            check_payload(&value)?;
            let from_text = serde_json::from_slice::<Payload>(value.to_string().as_bytes());
            prop_assert_eq!(
                from_text.is_ok(),
                serde_json::from_value::<Payload>(value).is_ok()
            );
        }

        #[test]
        fn prop_github_payloads_read_back(value in payload()) {
            let text = value.to_string();
            let payload: Payload = serde_json::from_slice(text.as_bytes())
                .map_err(|e| TestCaseError::fail(format!("{text} not read: {e}")))?;
            check_payload(&value)?;
            let issue = payload.issue.as_ref().expect("an issue");
            let labels: Vec<&str> = issue.labels.iter().map(|l| l.name.as_str()).collect();
            let sent: Vec<&str> = value["issue"]["labels"]
                .as_array()
                .map(|ls| ls.iter().filter_map(|l| l["name"].as_str()).collect())
                .unwrap_or_default();
            prop_assert_eq!(labels, sent);
            prop_assert_eq!(
                issue.pull_request.is_some(),
                !value["issue"]["pull_request"].is_null()
            );
            let comment = payload.comment.as_ref().expect("a comment");
            prop_assert_eq!(Some(comment.id), value["comment"]["id"].as_i64());
        }
    }
}

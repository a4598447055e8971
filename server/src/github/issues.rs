//! Issues of a connected repository are made and changed on GitHub first;
//! GitHub's answer is mirrored back (see `crate::issues::Upstream`).

use app::api::ApiError;

use super::{describe, mirror::to_mirror, Connected, GhIssue, GitHub};
use crate::error::OrInternal;
use crate::issues::{IssuePatch, MirrorInput, NewIssueFields, Upstream};

impl GitHub {
    /// The repository's GitHub side, when it is connected.
    async fn upstream_of(&self, repository_id: &str) -> Result<Option<Connected>, ApiError> {
        self.connected(repository_id)
            .await
            .or_internal("opening a GitHub connection")
    }
}

#[async_trait::async_trait]
impl Upstream for GitHub {
    async fn create(
        &self,
        repository_id: &str,
        issue: &NewIssueFields,
    ) -> Result<Option<MirrorInput>, ApiError> {
        let Some(c) = self.upstream_of(repository_id).await? else {
            return Ok(None);
        };
        let mut payload =
            serde_json::json!({ "title": issue.title, "body": issue.body, "labels": issue.labels });
        if let Some(a) = &issue.assignee {
            payload["assignees"] = serde_json::json!([a]);
        }
        let gh: GhIssue = c
            .client
            .post(
                format!("/repos/{}/{}/issues", c.owner, c.name),
                Some(&payload),
            )
            .await
            .map_err(|e| {
                ApiError::Upstream(format!("GitHub did not take the issue: {}", describe(&e)))
            })?;
        Ok(Some(to_mirror(&gh)))
    }

    async fn update(
        &self,
        repository_id: &str,
        number: i64,
        patch: &IssuePatch,
    ) -> Result<Option<MirrorInput>, ApiError> {
        let Some(c) = self.upstream_of(repository_id).await? else {
            return Ok(None);
        };
        let mut body = serde_json::Map::new();
        if let Some(title) = &patch.title {
            body.insert("title".into(), title.clone().into());
        }
        if let Some(text) = &patch.body {
            body.insert("body".into(), text.clone().into());
        }
        if let Some(s) = patch.state {
            body.insert("state".into(), s.as_str().into());
        }
        if let Some(labels) = &patch.labels {
            body.insert("labels".into(), serde_json::json!(labels));
        }
        if let Some(assignee) = &patch.assignee {
            let a: Vec<String> = assignee.iter().cloned().collect();
            body.insert("assignees".into(), serde_json::json!(a));
        }
        let gh: GhIssue = c
            .client
            .patch(
                format!("/repos/{}/{}/issues/{}", c.owner, c.name, number),
                Some(&serde_json::Value::Object(body)),
            )
            .await
            .map_err(|e| {
                ApiError::Upstream(format!("GitHub did not take the change: {}", describe(&e)))
            })?;
        Ok(Some(to_mirror(&gh)))
    }
}

//! A GitHub issue as Yagura mirrors it: titles and bodies kept within
//! Yagura's limits, labels without duplicates, the author as
//! `github:<login>`. A new issue's labels start workflows only when its
//! author could have set them (see [`IssueSync::mirror`]).

use app::api::ApiError;
use app::model::IssueState;

use super::{may_triage, sync::IssueSync, GhIssue};
use crate::issues::{MirrorInput, Mirrored};

/// Longest body kept (GitHub allows 64 KiB of text; bytes are capped here).
const MAX_BODY: usize = 256 * 1024;

/// What Yagura stores of a GitHub issue.
pub fn to_mirror(gh: &GhIssue) -> MirrorInput {
    let title = {
        let t = gh.title.trim();
        if t.is_empty() {
            "(no title)".to_string()
        } else {
            t.chars().take(200).collect()
        }
    };
    let mut body = gh.body.clone().unwrap_or_default();
    if body.len() > MAX_BODY {
        let mut cut = MAX_BODY;
        while !body.is_char_boundary(cut) {
            cut -= 1;
        }
        body.truncate(cut);
    }
    let mut labels: Vec<String> = Vec::new();
    for l in &gh.labels {
        let l: String = l.name.trim().chars().take(50).collect();
        if !l.is_empty() && !labels.iter().any(|x| x.eq_ignore_ascii_case(&l)) {
            labels.push(l);
        }
    }
    MirrorInput {
        number: gh.number,
        title,
        body,
        state: if gh.state.eq_ignore_ascii_case("closed") {
            IssueState::Closed
        } else {
            IssueState::Open
        },
        labels,
        assignee: gh.assignee.as_ref().map(|a| a.login.clone()),
        author: gh.user.as_ref().map(|u| format!("github:{}", u.login)),
        html_url: gh.html_url.clone(),
        updated_at: gh.updated_at.clone(),
    }
}

impl IssueSync {
    /// Mirrors a GitHub issue. With `triggers`, a change that adds a label
    /// or an assignee starts what it triggers; so does a new issue's, but
    /// only when its author can triage the repository: on GitHub only
    /// triage and above change labels and assignees, except at creation
    /// (issue templates label new issues for anyone).
    pub async fn mirror(
        &self,
        repo_id: &str,
        gh: &GhIssue,
        actor: &str,
        triggers: bool,
    ) -> Result<Mirrored, ApiError> {
        let input = to_mirror(gh);
        let mirrored = self.issues.mirror(repo_id, &input, actor, triggers).await?;
        if let Mirrored::Created(row) = &mirrored {
            let wants = triggers
                && input.state == IssueState::Open
                && (!input.labels.is_empty() || input.assignee.is_some());
            if wants {
                let author = gh
                    .user
                    .as_ref()
                    .map(|u| u.login.clone())
                    .unwrap_or_default();
                let trusted = match self.github.connected(repo_id).await {
                    Ok(Some(c)) if !author.is_empty() => may_triage(&c.role_of(&author).await),
                    _ => false,
                };
                if trusted {
                    self.issues
                        .fire_triggers(actor, row, &input.labels, input.assignee.as_deref())
                        .await;
                } else {
                    tracing::info!(
                        issue = gh.number,
                        author,
                        "new issue's labels start nothing: its author cannot triage the repository"
                    );
                }
            }
        }
        Ok(mirrored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::{GhLabel, GhUser};

    fn issue(title: &str, body: &str, labels: &[&str]) -> GhIssue {
        GhIssue {
            number: 7,
            title: title.into(),
            body: Some(body.into()),
            state: "CLOSED".into(),
            labels: labels
                .iter()
                .map(|l| GhLabel {
                    name: l.to_string(),
                })
                .collect(),
            assignee: Some(GhUser {
                login: "ada".into(),
            }),
            html_url: None,
            user: Some(GhUser {
                login: "bob".into(),
            }),
            updated_at: None,
            pull_request: None,
        }
    }

    #[test]
    fn mirrored_fields_stay_within_limits() {
        let m = to_mirror(&issue(
            "  ",
            &"é".repeat(MAX_BODY),
            &["bug", " Bug ", "", "x"],
        ));
        assert_eq!(m.title, "(no title)");
        assert!(m.body.len() <= MAX_BODY && m.body.chars().all(|c| c == 'é'));
        assert_eq!(m.labels, vec!["bug", "x"]);
        assert_eq!(m.state, IssueState::Closed);
        assert_eq!(m.author.as_deref(), Some("github:bob"));
        assert_eq!(m.assignee.as_deref(), Some("ada"));
        let long = to_mirror(&issue(&"t".repeat(300), "", &[]));
        assert_eq!(long.title.chars().count(), 200);
    }
}

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

/// Hostile input, generated: whatever GitHub sends, the mirrored issue
/// stays within Yagura's limits and keeps what fits.
#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;
    use crate::executions::markers::props::text;
    use crate::github::{GhLabel, GhUser};

    /// Characters of every UTF-8 width.
    const WIDE: &[&str] = &["a", "é", "€", "😀"];

    /// Text around a limit: short, blank, or a run just under to just
    /// over `limit` bytes.
    fn around(limit: usize) -> impl Strategy<Value = String> {
        prop_oneof![
            4 => text(),
            1 => prop::sample::select(vec![" ", "\t", "\n", "\u{3000}"])
                .prop_map(|blank| blank.repeat(3)),
            1 => (prop::sample::select(WIDE), 0usize..16, text())
                .prop_map(move |(c, extra, tail)| c.repeat((limit - 8 + extra) / c.len()) + &tail),
        ]
    }

    fn user() -> impl Strategy<Value = Option<GhUser>> {
        prop::option::of(text().prop_map(|login| GhUser { login }))
    }

    fn gh_issue() -> impl Strategy<Value = GhIssue> {
        let label = prop_oneof![
            text(),
            around(200),
            prop::sample::select(vec!["bug", "Bug", " BUG ", "", "x"]).prop_map(str::to_string),
        ];
        (
            (
                any::<u64>(),
                around(800),
                prop::option::of(around(MAX_BODY)),
            ),
            (
                prop::sample::select(vec!["open", "closed", "CLOSED", "Closed ", "x"]),
                prop::collection::vec(label, 0..8),
                user(),
                user(),
            ),
        )
            .prop_map(
                |((number, title, body), (state, labels, assignee, author))| GhIssue {
                    number,
                    title,
                    body,
                    state: state.to_string(),
                    labels: labels.into_iter().map(|name| GhLabel { name }).collect(),
                    assignee,
                    html_url: None,
                    user: author,
                    updated_at: None,
                    pull_request: None,
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 64,
            ..ProptestConfig::default()
        })]

        #[test]
        fn prop_mirrored_issues_stay_within_limits(gh in gh_issue()) {
            let m = to_mirror(&gh);
            prop_assert_eq!(m.number, gh.number);
            // The title: trimmed, at most 200 characters, never empty.
            let trimmed = gh.title.trim();
            if trimmed.is_empty() {
                prop_assert_eq!(m.title.as_str(), "(no title)");
            } else {
                prop_assert!(trimmed.starts_with(&m.title), "{:?} from {trimmed:?}", m.title);
                prop_assert_eq!(m.title.chars().count(), trimmed.chars().count().min(200));
            }
            // The body: a prefix, cut on a character boundary, only when too long.
            let body = gh.body.as_deref().unwrap_or_default();
            prop_assert!(m.body.len() <= MAX_BODY);
            prop_assert!(body.starts_with(&m.body));
            if body.len() <= MAX_BODY {
                prop_assert_eq!(m.body.as_str(), body);
            } else {
                prop_assert!(m.body.len() > MAX_BODY - 4, "cut to {} bytes", m.body.len());
            }
            // Labels: trimmed, at most 50 characters, none empty, no two
            // alike but for case; every label given is there in some case.
            for (i, l) in m.labels.iter().enumerate() {
                prop_assert!(!l.is_empty() && l.chars().count() <= 50, "label {l:?}");
                prop_assert!(l.trim() == l.as_str() || l.chars().count() == 50, "label {l:?}");
                for other in &m.labels[i + 1..] {
                    prop_assert!(!l.eq_ignore_ascii_case(other), "{l:?} and {other:?}");
                }
            }
            for given in &gh.labels {
                let kept: String = given.name.trim().chars().take(50).collect();
                prop_assert!(
                    kept.is_empty() || m.labels.iter().any(|l| l.eq_ignore_ascii_case(&kept)),
                    "label {kept:?} lost"
                );
            }
            prop_assert_eq!(
                m.state == IssueState::Closed,
                gh.state.eq_ignore_ascii_case("closed")
            );
            prop_assert_eq!(m.assignee, gh.assignee.map(|a| a.login));
            prop_assert_eq!(m.author, gh.user.map(|u| format!("github:{}", u.login)));
        }
    }
}

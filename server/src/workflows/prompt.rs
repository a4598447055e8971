//! A step's prompt template: `{issue.title}`, `{steps.plan.result}` and
//! the like, filled in one pass (a value is never expanded again). An
//! unknown placeholder is left as written, so a prompt that talks about
//! braces is not mangled.

use crate::db::{issues::IssueRow, workflows::StepRow};

pub fn fill_prompt(template: &str, issue: Option<&IssueRow>, steps: &[StepRow]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) if !after[..close].contains('{') => {
                let name = &after[..close];
                match value(name, issue, steps) {
                    Some(v) => out.push_str(&v),
                    None => {
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn value(name: &str, issue: Option<&IssueRow>, steps: &[StepRow]) -> Option<String> {
    if let Some(field) = name.strip_prefix("issue.") {
        let issue = issue?;
        return match field {
            "number" => Some(issue.number.to_string()),
            "title" => Some(issue.title.clone()),
            "body" => Some(issue.body.clone()),
            "labels" => Some(issue.labels.0.join(", ")),
            _ => None,
        };
    }
    let rest = name.strip_prefix("steps.")?;
    let (key, what) = rest.split_once('.')?;
    let step = steps.iter().find(|s| s.step_key == key)?;
    if what == "status" {
        return Some(step.status.as_str().to_string());
    }
    let result = step
        .result
        .clone()
        .map(|j| j.0)
        .unwrap_or(serde_json::Value::Null);
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    if what == "result" {
        return Some(text(&result));
    }
    let path = what.strip_prefix("result.")?;
    let mut v = &result;
    for part in path.split('.') {
        v = v.get(part)?;
    }
    Some(text(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(key: &str, result: Option<&str>) -> StepRow {
        StepRow {
            run_id: "r".into(),
            stage: 0,
            step_index: 0,
            step_key: key.into(),
            agent_id: None,
            agent_name: "a".into(),
            agent_type: app::model::AgentType::Custom,
            prompt: String::new(),
            on_failure: app::model::OnFailure::Stop,
            approval: false,
            status: app::model::StepStatus::Completed,
            execution_id: None,
            result: result.map(|r| crate::db::Json(serde_json::from_str(r).unwrap())),
            error: None,
            decided_by: None,
            decided_at: None,
            reused: false,
            started_at: None,
            finished_at: None,
        }
    }

    #[test]
    fn fills_issue_and_step_results_once() {
        let issue = IssueRow {
            id: "i".into(),
            repository_id: "r".into(),
            repository_name: "web".into(),
            number: 7,
            title: "Fix {steps.plan.result}".into(),
            body: "body".into(),
            state: app::model::IssueState::Open,
            labels: crate::db::Json(vec!["bug".into(), "ui".into()]),
            assignee: None,
            created_by: None,
            created_at: 0,
            updated_at: 0,
            html_url: None,
        };
        let steps = [step("plan", Some(r#"{"files":3,"summary":"do it"}"#))];
        assert_eq!(
            fill_prompt(
                "#{issue.number} {issue.title} [{issue.labels}] {steps.plan.result.summary} {steps.plan.result.files} {steps.plan.status} {unknown} {",
                Some(&issue),
                &steps
            ),
            "#7 Fix {steps.plan.result} [bug, ui] do it 3 completed {unknown} {"
        );
        assert_eq!(
            fill_prompt("{steps.plan.result}", None, &steps),
            r#"{"files":3,"summary":"do it"}"#
        );
        assert_eq!(fill_prompt("{issue.title}", None, &steps), "{issue.title}");
    }
}

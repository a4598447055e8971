//! What the local executor (and a runner) needs beyond an execution's
//! command: kept in its `metadata` under `"yagura"`, set by Yagura only.

use app::model::RepositoryId;

use super::Origin;

/// How the local executor runs an execution beyond its command, kept in
/// the execution's `metadata` (under `"yagura"`).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// Work in a worktree of this repository (no issue needed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<RepositoryId>,
    /// A cap on the process's memory (its address space), in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit_mb: Option<u64>,
    /// Written to standard input when the process starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
    /// Standard input closes after `stdin` (batch input).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub close_stdin: bool,
    /// The agent's extra sandbox paths, as it was when the run was made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sandbox_paths: Vec<String>,
}

impl Settings {
    pub(super) fn of(origin: &Origin) -> Self {
        Settings {
            workspace: origin.workspace,
            memory_limit_mb: origin.memory_limit_mb,
            stdin: origin.stdin.clone(),
            close_stdin: origin.close_stdin,
            sandbox_paths: Vec::new(),
        }
    }

    /// The caller's metadata with Yagura's settings under `"yagura"`. A
    /// `"yagura"` key the caller sent is dropped, never trusted: it could
    /// otherwise widen the sandbox or feed stdin.
    pub(super) fn merged_into(
        self,
        metadata: Option<serde_json::Value>,
    ) -> Option<serde_json::Value> {
        let mut metadata = metadata;
        if let Some(obj) = metadata.as_mut().and_then(|m| m.as_object_mut()) {
            obj.remove("yagura");
        }
        if self == Settings::default() {
            return metadata;
        }
        let mut m = metadata.unwrap_or_else(|| serde_json::json!({}));
        if let Some(obj) = m.as_object_mut() {
            obj.insert(
                "yagura".into(),
                serde_json::to_value(&self).unwrap_or_default(),
            );
        }
        Some(m)
    }

    /// The settings stored with an execution.
    pub fn from_metadata(metadata: Option<&serde_json::Value>) -> Self {
        metadata
            .and_then(|m| m.get("yagura"))
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A caller's own `"yagura"` key is dropped: it cannot widen the
    /// sandbox or feed stdin (the settings come from the agent and Yagura).
    #[test]
    fn a_callers_yagura_key_is_never_trusted() {
        let sent = serde_json::json!({"team": "x", "yagura": {"sandboxPaths": ["/home"], "stdin": "rm -rf ~"}});
        let kept = Settings::default().merged_into(Some(sent.clone())).unwrap();
        assert_eq!(kept, serde_json::json!({"team": "x"}));
        assert_eq!(Settings::from_metadata(Some(&kept)), Settings::default());
        let ours = Settings {
            sandbox_paths: vec!["~/.claude".into()],
            ..Default::default()
        };
        let stored = ours.clone().merged_into(Some(sent)).unwrap();
        assert_eq!(Settings::from_metadata(Some(&stored)), ours);
        assert_eq!(stored["team"], "x");
    }
}

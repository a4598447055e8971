use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::AgentId;

/// What kind of work an agent does (seed 002's `agentType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AgentType {
    CodeGen,
    Review,
    Test,
    Deploy,
    Custom,
}

impl AgentType {
    pub const ALL: [AgentType; 5] = [
        AgentType::CodeGen,
        AgentType::Review,
        AgentType::Test,
        AgentType::Deploy,
        AgentType::Custom,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            AgentType::CodeGen => "CodeGen",
            AgentType::Review => "Review",
            AgentType::Test => "Test",
            AgentType::Deploy => "Deploy",
            AgentType::Custom => "Custom",
        }
    }
}

impl std::str::FromStr for AgentType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AgentType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown agent type {s:?}"))
    }
}

/// What happens to an execution when the runner holding it is lost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunnerLost {
    /// It fails with `RUNNER_LOST`.
    #[default]
    Fail,
    /// It goes back to the queue for another runner (at most 3 times).
    Requeue,
}

impl RunnerLost {
    pub const fn as_str(self) -> &'static str {
        match self {
            RunnerLost::Fail => "fail",
            RunnerLost::Requeue => "requeue",
        }
    }
}

impl std::str::FromStr for RunnerLost {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fail" => Ok(RunnerLost::Fail),
            "requeue" => Ok(RunnerLost::Requeue),
            _ => Err(format!("unknown runner-lost policy {s:?}")),
        }
    }
}

/// Default cap on the output stored per execution: 16 MiB.
pub const DEFAULT_OUTPUT_CAP: u64 = 16 << 20;
/// Default timeout: one hour.
pub const DEFAULT_TIMEOUT_SECS: u64 = 3600;

/// The placeholders an argv template may use. `{yagura}` is this binary
/// (used by the built-in demo agent).
pub const PLACEHOLDERS: &[&str] = &[
    "{prompt}",
    "{issue_title}",
    "{issue_body}",
    "{workdir}",
    "{yagura}",
];

/// Warnings about a command template: a user-written value (a prompt, an
/// issue's title or body) standing alone as an argument before any `--`
/// becomes an option of the CLI when it starts with `-`.
pub fn option_warnings(command: &[String]) -> Vec<String> {
    let mut warnings = Vec::new();
    for arg in command.iter().skip(1) {
        if arg == "--" {
            break;
        }
        if matches!(arg.as_str(), "{prompt}" | "{issue_title}" | "{issue_body}") {
            warnings.push(format!(
                "{arg} stands alone before any \"--\": text starting with \"-\" would be read as an option. Put a line \"--\" before it, or write it as --flag={arg}."
            ));
        }
    }
    warnings
}

/// An agent definition: a command Yagura can run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Agent {
    pub id: AgentId,
    pub name: String,
    pub agent_type: AgentType,
    /// argv template; element 0 is the program. Never run through a shell.
    pub command: Vec<String>,
    /// Extra environment variables for the process.
    pub env: BTreeMap<String, String>,
    pub timeout_secs: u64,
    pub output_cap_bytes: u64,
    /// What a remote runner must offer to run this agent (e.g. `docker`);
    /// empty: anywhere, this server included.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Fail or requeue when its runner is lost.
    #[serde(default)]
    pub on_runner_lost: RunnerLost,
    /// Extra paths its sandbox may read and write (`~/` is the home of
    /// whoever runs it), for CLIs that keep their sign-in in `$HOME`.
    #[serde(default)]
    pub sandbox_paths: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What a client sends to create or replace an agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentInput {
    pub name: String,
    pub agent_type: AgentType,
    pub command: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    #[serde(default = "default_cap")]
    pub output_cap_bytes: u64,
    #[serde(default)]
    pub capabilities: Vec<String>,
    #[serde(default)]
    pub on_runner_lost: RunnerLost,
    #[serde(default)]
    pub sandbox_paths: Vec<String>,
}

/// What an environment value looks like outside the server. Saving an
/// agent with this value keeps the stored one.
pub const MASKED: &str = "********";

impl Agent {
    /// The agent as browsers and clients see it: environment values masked.
    pub fn masked(mut self) -> Agent {
        for v in self.env.values_mut() {
            *v = MASKED.to_string();
        }
        self
    }
}

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_SECS
}

fn default_cap() -> u64 {
    DEFAULT_OUTPUT_CAP
}

impl AgentInput {
    /// Checks what a person could get wrong, with messages that say how to fix it.
    pub fn validate(&self) -> Result<(), String> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 64 {
            return Err("the name has 1–64 characters".into());
        }
        if self.command.is_empty() || self.command[0].trim().is_empty() {
            return Err("the command needs at least a program".into());
        }
        if self.command.len() > 256 || self.command.iter().any(|a| a.len() > 64 * 1024) {
            return Err("the command is too long".into());
        }
        if self.command.iter().any(|a| a.contains('\0')) {
            return Err("the command contains a NUL byte".into());
        }
        for key in self.env.keys() {
            let ok = !key.is_empty()
                && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !key.starts_with(|c: char| c.is_ascii_digit());
            if !ok {
                return Err(format!("{key:?} is not a valid environment variable name"));
            }
        }
        if self.env.values().any(|v| v.contains('\0')) {
            return Err("an environment value contains a NUL byte".into());
        }
        if self.sandbox_paths.len() > 32
            || self.sandbox_paths.iter().any(|p| {
                let p = p.trim();
                !(p.starts_with('/') || p.starts_with("~/")) || p.contains('\0') || p.len() > 4096
            })
        {
            return Err("sandbox paths are up to 32 absolute paths (or ~/…), one per line".into());
        }
        if !(1..=7 * 24 * 3600).contains(&self.timeout_secs) {
            return Err("the timeout is between 1 second and 7 days".into());
        }
        if !(1024..=1 << 30).contains(&self.output_cap_bytes) {
            return Err("the output cap is between 1 KiB and 1 GiB".into());
        }
        if self.capabilities.len() > 16
            || self.capabilities.iter().any(|c| {
                c.is_empty()
                    || c.len() > 32
                    || !c
                        .chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
            })
        {
            return Err(
                "capabilities are up to 16 words of letters, digits, '-' and '_' (e.g. docker)"
                    .into(),
            );
        }
        Ok(())
    }
}

/// A ready-made agent definition for a known CLI.
#[derive(Clone, Copy, Debug)]
pub struct Preset {
    pub key: &'static str,
    pub label: &'static str,
    pub agent_type: AgentType,
    pub command: &'static [&'static str],
    /// Where the CLI keeps its sign-in and settings: the sandbox lets it
    /// read and write these.
    pub sandbox_paths: &'static [&'static str],
    pub note: &'static str,
}

/// Presets for real agent CLIs (they work when the CLI is installed and
/// signed in on the machine that runs it) and the built-in demo agent.
pub const PRESETS: &[Preset] = &[
    Preset {
        key: "demo",
        label: "Demo agent (built in)",
        agent_type: AgentType::CodeGen,
        command: &["{yagura}", "demo-agent", "--", "{prompt}"],
        sandbox_paths: &[],
        note: "Prints realistic output with progress markers; works on any machine.",
    },
    Preset {
        key: "claude",
        label: "Claude Code",
        agent_type: AgentType::CodeGen,
        command: &[
            "claude",
            "--permission-mode",
            "acceptEdits",
            "-p",
            "--",
            "{prompt}",
        ],
        sandbox_paths: &["~/.claude", "~/.claude.json", "~/.config/claude"],
        note: "Needs the `claude` CLI on PATH and signed in.",
    },
    Preset {
        key: "codex",
        label: "Codex CLI",
        agent_type: AgentType::CodeGen,
        command: &["codex", "exec", "--full-auto", "--", "{prompt}"],
        sandbox_paths: &["~/.codex"],
        note: "Needs the `codex` CLI on PATH and signed in.",
    },
    Preset {
        key: "gemini",
        label: "Gemini CLI",
        agent_type: AgentType::CodeGen,
        command: &["gemini", "--yolo", "--prompt={prompt}"],
        sandbox_paths: &["~/.gemini"],
        note: "Needs the `gemini` CLI on PATH and signed in.",
    },
    Preset {
        key: "aider",
        label: "aider",
        agent_type: AgentType::CodeGen,
        command: &["aider", "--yes-always", "--no-pretty", "--message={prompt}"],
        sandbox_paths: &["~/.aider", "~/.aider.conf.yml", "~/.cache/aider"],
        note: "Needs `aider` on PATH and a model API key in the agent's environment.",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> AgentInput {
        AgentInput {
            name: "demo".into(),
            agent_type: AgentType::Custom,
            command: vec!["echo".into(), "{prompt}".into()],
            env: BTreeMap::new(),
            timeout_secs: 60,
            output_cap_bytes: DEFAULT_OUTPUT_CAP,
            capabilities: Vec::new(),
            on_runner_lost: RunnerLost::Fail,
            sandbox_paths: Vec::new(),
        }
    }

    #[test]
    fn validation_names_the_problem() {
        assert!(input().validate().is_ok());
        let mut i = input();
        i.command.clear();
        assert!(i.validate().unwrap_err().contains("program"));
        let mut i = input();
        i.env.insert("1BAD".into(), "x".into());
        assert!(i.validate().unwrap_err().contains("1BAD"));
        let mut i = input();
        i.timeout_secs = 0;
        assert!(i.validate().is_err());
        let mut i = input();
        i.name = " ".into();
        assert!(i.validate().is_err());
    }

    /// M7: user values standing alone before `--` are flagged; the
    /// presets put `--` first or use `--flag={prompt}`.
    #[test]
    fn user_values_cannot_become_options_in_presets() {
        let cmd = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(option_warnings(&cmd(&["x", "{prompt}"])).len(), 1);
        assert!(option_warnings(&cmd(&["x", "--", "{prompt}"])).is_empty());
        assert!(option_warnings(&cmd(&["x", "--message={prompt}"])).is_empty());
        assert!(
            option_warnings(&cmd(&["{prompt}"])).is_empty(),
            "the program itself is not an argument"
        );
        for p in PRESETS {
            assert!(option_warnings(&cmd(p.command)).is_empty(), "{}", p.key);
        }
    }

    #[test]
    fn agent_types_use_seed_names() {
        assert_eq!(
            serde_json::to_string(&AgentType::CodeGen).unwrap(),
            "\"CodeGen\""
        );
        assert_eq!("Review".parse::<AgentType>(), Ok(AgentType::Review));
    }
}

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{AgentId, Budget};

/// What kind of work an agent does (seed 002's `agentType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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

/// The placeholders an argv template may use: the same `{issue.…}` names
/// as a workflow step's prompt. `{yagura}` is this binary (used by the
/// built-in demo agent).
pub const PLACEHOLDERS: &[&str] = &[
    "{prompt}",
    "{issue.title}",
    "{issue.body}",
    "{workdir}",
    "{yagura}",
];

/// Older spellings that keep working: `{issue_title}` is `{issue.title}`.
pub const PLACEHOLDER_ALIASES: &[(&str, &str)] = &[
    ("{issue_title}", "{issue.title}"),
    ("{issue_body}", "{issue.body}"),
];

/// Placeholders a person writes text into: a prompt, an issue.
const USER_VALUES: &[&str] = &[
    "{prompt}",
    "{issue.title}",
    "{issue.body}",
    "{issue_title}",
    "{issue_body}",
];

/// Warnings about a command template: a user-written value (a prompt, an
/// issue's title or body) standing alone as an argument before any `--`
/// becomes an option of the CLI when it starts with `-`.
pub fn option_warnings(command: &[String]) -> Vec<String> {
    let mut warnings = Vec::new();
    if shell_script(command).is_some() {
        return warnings;
    }
    for arg in command.iter().skip(1) {
        if arg == "--" {
            break;
        }
        if USER_VALUES.contains(&arg.as_str()) {
            warnings.push(format!(
                "{arg} stands alone before any \"--\": text starting with \"-\" would be read as an option. Put a line \"--\" before it, or write it as --flag={arg}."
            ));
        }
    }
    warnings
}

/// How a shell-script agent's command ends: the script's positional
/// parameters, so that `"$1"` is the prompt, `"$2"` the issue's title and
/// `"$3"` its body. The values are arguments, never shell code.
pub const SHELL_ARGS: &[&str] = &["yagura-agent", "{prompt}", "{issue.title}", "{issue.body}"];

/// The argv of a shell-script agent: `/bin/sh -c <script>` and the values
/// as `$1`, `$2`, `$3`.
pub fn shell_command(script: &str) -> Vec<String> {
    let mut argv = vec!["/bin/sh".to_string(), "-c".to_string(), script.to_string()];
    argv.extend(SHELL_ARGS.iter().map(|s| s.to_string()));
    argv
}

/// The script of a command that `shell_command` made.
pub fn shell_script(command: &[String]) -> Option<&str> {
    match command {
        [sh, c, script, rest @ ..]
            if sh == "/bin/sh"
                && c == "-c"
                && rest
                    .iter()
                    .map(String::as_str)
                    .eq(SHELL_ARGS.iter().copied()) =>
        {
            Some(script)
        }
        _ => None,
    }
}

/// One argument as a POSIX shell would need it written: bare when that is
/// unambiguous, else in single quotes. Braces are quoted (bash expands
/// `{a,b}`), except in a placeholder standing alone, which reads better.
pub fn shell_quote(arg: &str) -> String {
    let bare = !arg.is_empty()
        && (arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c))
            || PLACEHOLDERS.contains(&arg)
            || PLACEHOLDER_ALIASES.iter().any(|(old, _)| *old == arg));
    if bare {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// What a placeholder becomes in a shell script: the script's arguments
/// ("$1" the prompt, "$2" the issue's title, "$3" its body) and "$PWD".
const SHELL_VALUES: &[(&str, &str)] = &[
    ("{prompt}", "\"$1\""),
    ("{issue.title}", "\"$2\""),
    ("{issue_title}", "\"$2\""),
    ("{issue.body}", "\"$3\""),
    ("{issue_body}", "\"$3\""),
    ("{workdir}", "\"$PWD\""),
];

/// Arguments written as one line of shell script: each quoted as needed,
/// with its placeholders turned into the script's own arguments, so that
/// converting a command to a script never pastes a value into shell code.
pub fn shell_line(args: &[String]) -> String {
    args.iter()
        .map(|arg| {
            let mut word = String::new();
            let mut rest = arg.as_str();
            'scan: while !rest.is_empty() {
                for (name, value) in SHELL_VALUES {
                    if let Some(i) = rest.find(name) {
                        if i == 0 {
                            word.push_str(value);
                            rest = &rest[name.len()..];
                            continue 'scan;
                        }
                    }
                }
                // Up to the next placeholder, quoted.
                let next = SHELL_VALUES
                    .iter()
                    .filter_map(|(name, _)| rest.find(name))
                    .min()
                    .unwrap_or(rest.len());
                word.push_str(&shell_quote(&rest[..next]));
                rest = &rest[next..];
            }
            if word.is_empty() {
                "''".to_string()
            } else {
                word
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The command as a person would type it in a terminal: each argument
/// quoted as needed, so one argument holding spaces shows as one.
pub fn display_command(command: &[String]) -> String {
    match shell_script(command) {
        Some(script) => format!("sh -c {}", shell_quote(script)),
        None => command
            .iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// What a person most likely got wrong in a command: a whole command line
/// on the program's line (each line is one argument, no shell reads it),
/// a placeholder written inside shell code, a placeholder no run fills.
pub fn command_warnings(command: &[String]) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some(script) = shell_script(command) {
        for p in USER_VALUES.iter().chain(&["{model}", "{workdir}"]) {
            if script.contains(p) {
                warnings.push(format!(
                    "The script contains {p}, which stays as written: nothing is pasted into a script (a prompt would become shell code). Use \"$1\" for the prompt, \"$2\" for the issue's title, \"$3\" for its body and \"$PWD\" for the work directory."
                ));
            }
        }
        return warnings;
    }
    // `sh -c '… {prompt} …'` written as arguments: the value is pasted into
    // shell code, where a prompt or an issue could run commands.
    let shells = ["sh", "bash", "dash", "zsh", "ksh"];
    let is_shell = command
        .first()
        .is_some_and(|p| shells.contains(&p.rsplit('/').next().unwrap_or(p.as_str())));
    if is_shell {
        if let Some(pos) = command.iter().position(|a| a == "-c") {
            if let Some(code) = command.get(pos + 1) {
                if USER_VALUES.iter().any(|p| code.contains(p)) {
                    warnings.push(
                        "A placeholder inside the code given to -c is pasted into shell code, where the text of a prompt or an issue could run commands. Make this a shell script and use \"$1\", \"$2\", \"$3\"."
                            .to_string(),
                    );
                }
            }
        }
    }
    if let Some(program) = command.first() {
        if program.trim().contains(char::is_whitespace) {
            warnings.push(format!(
                "The first line, “{program}”, is the program's name, and no program has spaces in its name: each line is one argument and no shell splits them. Put each argument on its own line, or make this a shell script."
            ));
        }
    }
    for arg in command {
        for name in unknown_placeholders(arg) {
            warnings.push(format!(
                "{name} is not a placeholder (these are: {}); it will be passed as written.",
                PLACEHOLDERS.join(", ")
            ));
        }
    }
    warnings.extend(option_warnings(command));
    warnings
}

/// `{…}` words in an argument that look like placeholders (letters, dots,
/// underscores) but are none.
fn unknown_placeholders(arg: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = arg;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        let name = &after[..close];
        let looks = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphabetic() || c == '.' || c == '_')
            && name.contains(|c: char| c.is_ascii_alphabetic());
        let full = format!("{{{name}}}");
        if looks
            && !PLACEHOLDERS.contains(&full.as_str())
            && !PLACEHOLDER_ALIASES.iter().any(|(old, _)| *old == full)
            && full != "{model}"
        {
            out.push(full);
        }
        rest = &after[close + 1..];
    }
    out
}

/// An agent definition: a command Yagura can run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
    /// What its runs may spend before they are paused.
    #[serde(default, skip_serializing_if = "Budget::is_empty")]
    pub budget: Budget,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What a client sends to create or replace an agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
    #[serde(default)]
    pub budget: Budget,
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
        self.budget.validate()?;
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

/// What an agent's runs add up to, for its card.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AgentStats {
    pub agent_id: AgentId,
    pub runs: u64,
    pub completed: u64,
    /// Failed or timed out; cancelled runs count neither way.
    pub failed: u64,
    /// Mean wall time of the runs that have one.
    pub avg_wall_ms: Option<u64>,
    pub last_status: Option<super::ExecutionStatus>,
    pub last_at: Option<i64>,
}

impl AgentStats {
    /// Completed out of those that ended either way, in percent.
    pub fn success_rate(&self) -> Option<u64> {
        let ended = self.completed + self.failed;
        (ended > 0).then(|| (self.completed * 100 + ended / 2) / ended)
    }
}

/// Whether an agent's program can start on this server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ProgramCheck {
    /// The program as written (`{yagura}` is this binary).
    pub program: String,
    /// Where it was found: an executable file on the agent's `PATH`.
    pub found: Option<String>,
    /// Why it was not found, or what else to know.
    pub note: Option<String>,
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
            budget: Budget::default(),
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
    fn shell_scripts_round_trip_and_commands_show_as_typed() {
        let argv = shell_command("echo \"$1\" | wc -c");
        assert_eq!(shell_script(&argv), Some("echo \"$1\" | wc -c"));
        assert_eq!(display_command(&argv), "sh -c 'echo \"$1\" | wc -c'");
        assert!(command_warnings(&argv).is_empty());
        assert_eq!(command_warnings(&shell_command("echo {prompt}")).len(), 1);
        // Arguments become a script line with placeholders as its arguments.
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            shell_line(&args(&["claude", "-p", "--", "{prompt}"])),
            r#"claude -p -- "$1""#
        );
        assert_eq!(
            shell_line(&args(&["aider", "--message={prompt}", "a b", "{x,y}", ""])),
            r#"aider --message="$1" 'a b' '{x,y}' ''"#
        );
        assert_eq!(
            command_warnings(&args(&["sh", "-c", "echo {prompt}"])).len(),
            1,
            "pasted into shell code"
        );
        let cmd = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // One argument with spaces shows quoted: it is not what it looks like.
        let pasted = cmd(&["sh -c 'echo hi'"]);
        assert_eq!(display_command(&pasted), r"'sh -c '\''echo hi'\'''");
        assert!(command_warnings(&pasted)[0].contains("first line"));
        assert_eq!(
            display_command(&cmd(&["claude", "-p", "--", "{prompt}"])),
            "claude -p -- {prompt}"
        );
        let w = command_warnings(&cmd(&["x", "--", "{issue.titel}", "{issue_title}", "{}"]));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("{issue.titel}"));
        for p in PRESETS {
            assert!(command_warnings(&cmd(p.command)).is_empty(), "{}", p.key);
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

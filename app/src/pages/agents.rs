//! Agents: the list (with a Run box per agent), and the form to create or
//! edit one, with presets for real agent CLIs.

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map};

use super::executions::{lifecycle_version, ExecutionTable};
#[cfg(feature = "hydrate")]
use crate::api::check_program;
use crate::api::{
    delete_agent, get_agent, get_agent_stats, list_agents, list_executions, save_agent,
    start_execution, ApiError, StartExecution,
};
use crate::components::budget::{BudgetFields, BudgetForm};
use crate::components::count::plural;
use crate::components::empty_state::{EmptyState, Missing, PageHeader};
use crate::components::status::StatusBadge;
use crate::components::time::Time;
use crate::model::{
    command_warnings, display_command, shell_command, shell_line, shell_script, Agent, AgentId,
    AgentInput, AgentStats, AgentType, ExecutionQuery, DEFAULT_OUTPUT_CAP, DEFAULT_TIMEOUT_SECS,
    PLACEHOLDERS, PRESETS,
};

/// The prompt of the form's "Save and test run".
pub const TEST_PROMPT: &str = "This is a test run from Yagura: reply with one short line.";

const INPUT: &str = "mt-1 block w-full rounded-md border border-slate-300 bg-white px-3 py-2 text-sm dark:border-slate-700 dark:bg-slate-950";
const PRIMARY: &str = "rounded-md bg-indigo-600 px-3 py-1.5 text-sm font-semibold text-white hover:bg-indigo-500 disabled:opacity-50 dark:bg-indigo-500 dark:hover:bg-indigo-400";

#[component]
pub fn AgentsPage() -> impl IntoView {
    let agents = Resource::new(|| (), |_| list_agents());
    let version = lifecycle_version();
    let stats = Resource::new(move || version.get(), |_| get_agent_stats());
    // One run action for the page, made before anything is awaited: the
    // cards stay as they are while their figures refresh (a run starting
    // refreshes them, often before the answer that opens its page).
    // A plain form until the page is live: the server starts the run and
    // redirects to it.
    let run = ServerAction::<StartExecution>::new();
    let last_agent = RwSignal::new(None::<AgentId>);
    Effect::new(move |_| {
        if let Some(input) = run.input().get() {
            last_agent.set(Some(input.agent_id));
        }
    });
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(execution)) = run.value().get() {
            navigate(&format!("/executions/{}", execution.id), Default::default());
        }
    });
    // A run refused after a plain form post (no JavaScript) comes back with
    // the page, with no card to tell: it is said above the cards.
    let page_error = move || {
        run.value()
            .get()
            .and_then(|r| r.err())
            .filter(|_| last_agent.get().is_none())
            .map(|e| e.to_string())
    };
    view! {
        <div class="mb-6 flex flex-wrap items-start justify-between gap-4">
            <PageHeader title="Agents" subtitle="Commands Yagura can run: Claude Code, Codex, Gemini CLI, aider or any script." />
            <a href="/agents/new" class=PRIMARY>"New agent"</a>
        </div>
        {move || page_error().map(|e| view! { <p role="alert" class="mb-4 text-sm text-rose-600">{e}</p> })}
        <Transition fallback=|| view! { <p class="text-sm text-slate-500">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match agents.await {
                    Err(e) => view! { <p class="text-sm text-rose-600">{e.to_string()}</p> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <EmptyState title="No agents yet" body="Define a command Yagura can run, from a preset or your own script.">
                            <a href="/agents/new" class=PRIMARY>"New agent"</a>
                        </EmptyState>
                    }.into_any(),
                    Ok(list) => view! {
                        <div class="grid grid-cols-1 gap-4 md:grid-cols-2">
                            {list.into_iter().map(|a| view! { <AgentCard agent=a stats=stats run=run last_agent=last_agent /> }).collect_view()}
                        </div>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

type StatsResource = Resource<Result<Vec<AgentStats>, ApiError>>;

/// An agent's last run, run count, success rate and average duration.
#[component]
fn AgentStatsLine(agent: AgentId, stats: StatsResource) -> impl IntoView {
    view! {
        <p class="mt-2 flex flex-wrap items-center gap-x-2 gap-y-1 text-xs text-slate-600 dark:text-slate-400" data-testid="agent-stats">
            <Transition>
                {move || Suspend::new(async move {
                    let s = stats.await.unwrap_or_default().into_iter().find(|s| s.agent_id == agent);
                    match s {
                        None => view! { <span>"Not run yet"</span> }.into_any(),
                        Some(s) => view! {
                            {s.last_status.map(|st| view! { <StatusBadge status=Signal::stored(st) /> })}
                            {s.last_at.map(|at| view! { <span>"last run "<Time ms=at /></span> })}
                            <span>{plural(s.runs as usize, "run", "runs")}</span>
                            {s.success_rate().map(|r| view! { <span>{format!("{r}% succeed")}</span> })}
                            {s.avg_wall_ms.map(|ms| view! { <span>{format!("avg {}", super::executions::duration_text(ms))}</span> })}
                        }.into_any(),
                    }
                })}
            </Transition>
        </p>
    }
}

#[component]
fn AgentCard(
    agent: Agent,
    stats: StatsResource,
    run: ServerAction<StartExecution>,
    last_agent: RwSignal<Option<AgentId>>,
) -> impl IntoView {
    let id = agent.id;
    view! {
        <article class="min-w-0 rounded-xl border border-slate-200 bg-white p-4 dark:border-slate-800 dark:bg-slate-900" data-testid="agent-card">
            <div class="flex items-start justify-between gap-2">
                <div class="min-w-0">
                    <h2 class="font-semibold"><a class="hover:underline" href=format!("/agents/{}", agent.id)>{agent.name.clone()}</a></h2>
                    <p class="text-xs text-slate-500">
                        {agent.agent_type.as_str()}
                        {shell_script(&agent.command).map(|_| " · shell script")}
                        " · timeout "{agent.timeout_secs}" s"
                    </p>
                </div>
                <a href=format!("/agents/{}", agent.id) class="text-xs font-medium text-indigo-600 hover:underline dark:text-indigo-400">"Edit"</a>
            </div>
            <AgentStatsLine agent=id stats=stats />
            <p class="mt-2 truncate font-mono text-xs text-slate-600 dark:text-slate-400" data-testid="agent-command" title=display_command(&agent.command)>{display_command(&agent.command)}</p>
            <ActionForm action=run attr:class="mt-3 flex gap-2">
                <input type="hidden" name="agent_id" value=agent.id.to_string() />
                <input
                    name="prompt"
                    class="min-w-0 flex-1 rounded-md border border-slate-300 bg-white px-2 py-1.5 text-sm dark:border-slate-700 dark:bg-slate-950"
                    placeholder="What should it do?"
                    aria-label=format!("Prompt for {}", agent.name)
                />
                <button type="submit" class=PRIMARY disabled=move || run.pending().get()>"Run"</button>
            </ActionForm>
            {move || (last_agent.get() == Some(id) && !run.pending().get()).then(|| run.value().get().and_then(|r| r.err())).flatten().map(|e| view! { <p role="alert" class="mt-2 text-sm text-rose-600">{e.to_string()}</p> })}
        </article>
    }
}

/// `/agents/new` and `/agents/:id`.
#[component]
pub fn AgentEditPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || {
        params
            .with(|p| p.get("id"))
            .and_then(|s| s.parse::<AgentId>().ok())
    };
    // `/agents/new` has no id; `/agents/<not an id>` names nothing.
    let is_new = move || params.with(|p| p.get("id").is_none());
    let agent = Resource::new(
        move || (id(), is_new()),
        |(id, is_new)| async move {
            match (id, is_new) {
                (Some(id), _) => get_agent(id).await.map(Some),
                (None, true) => Ok(None),
                (None, false) => Err(ApiError::NotFound),
            }
        },
    );
    let runs = recent_runs(id);
    view! {
        <Suspense fallback=|| view! { <p class="text-sm text-slate-500">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match agent.await {
                    Ok(existing) => {
                        let saved = existing.is_some();
                        view! {
                            <AgentForm existing=existing />
                            {saved.then(|| view! { <RecentRuns runs=runs /> })}
                        }.into_any()
                    }
                    Err(ApiError::NotFound) => view! {
                        <Missing title="Agent not found" body="There is no such agent: it may have been deleted, or the address is wrong." back_href="/agents" back_label="All agents" />
                    }.into_any(),
                    Err(e) => view! { <p class="text-sm text-rose-600">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

fn env_text(env: &BTreeMap<String, String>) -> String {
    env.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads the form's text fields into an agent definition. `shell`: the
/// command text is a shell script, else one argument per line.
pub fn parse_form(
    name: &str,
    agent_type: &str,
    shell: bool,
    command: &str,
    env: &str,
    timeout: &str,
    cap_mib: &str,
) -> Result<AgentInput, String> {
    let mut vars = BTreeMap::new();
    for line in env
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| format!("{line:?} is not KEY=VALUE"))?;
        vars.insert(k.trim().to_string(), v.to_string());
    }
    let input = AgentInput {
        name: name.trim().to_string(),
        agent_type: agent_type.parse()?,
        command: if shell {
            if command.trim().is_empty() {
                Vec::new()
            } else {
                shell_command(&command.replace("\r\n", "\n"))
            }
        } else {
            command_lines(command)
        },
        env: vars,
        timeout_secs: timeout
            .trim()
            .parse()
            .map_err(|_| "the timeout is a whole number of seconds".to_string())?,
        output_cap_bytes: cap_mib
            .trim()
            .parse::<u64>()
            .map_err(|_| "the output cap is a whole number of MiB".to_string())?
            .saturating_mul(1 << 20),
        capabilities: Vec::new(),
        on_runner_lost: Default::default(),
        sandbox_paths: Vec::new(),
        budget: Default::default(),
    };
    input.validate()?;
    Ok(input)
}

/// The command text's arguments, one per non-empty line.
fn command_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.trim_end_matches('\r').to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// `PATH` as the agent's environment text sets it (None: the server's,
/// or a saved value that is never shown again).
#[cfg(feature = "hydrate")]
fn env_path(env: &str) -> Option<String> {
    env.lines()
        .find_map(|l| l.trim().strip_prefix("PATH="))
        .filter(|v| *v != crate::model::MASKED)
        .map(str::to_string)
}

#[component]
fn AgentForm(existing: Option<Agent>) -> impl IntoView {
    let navigate = use_navigate();
    let id = existing.as_ref().map(|a| a.id);
    let name = RwSignal::new(
        existing
            .as_ref()
            .map(|a| a.name.clone())
            .unwrap_or_default(),
    );
    let agent_type = RwSignal::new(
        existing
            .as_ref()
            .map(|a| a.agent_type)
            .unwrap_or(AgentType::CodeGen)
            .as_str()
            .to_string(),
    );
    let shell = RwSignal::new(
        existing
            .as_ref()
            .is_some_and(|a| shell_script(&a.command).is_some()),
    );
    let command = RwSignal::new(
        existing
            .as_ref()
            .map(|a| match shell_script(&a.command) {
                Some(script) => script.to_string(),
                None => a.command.join("\n"),
            })
            .unwrap_or_default(),
    );
    let env = RwSignal::new(
        existing
            .as_ref()
            .map(|a| env_text(&a.env))
            .unwrap_or_default(),
    );
    let timeout = RwSignal::new(
        existing
            .as_ref()
            .map(|a| a.timeout_secs)
            .unwrap_or(DEFAULT_TIMEOUT_SECS)
            .to_string(),
    );
    let cap = RwSignal::new(
        (existing
            .as_ref()
            .map(|a| a.output_cap_bytes)
            .unwrap_or(DEFAULT_OUTPUT_CAP)
            >> 20)
            .max(1)
            .to_string(),
    );
    let capabilities = RwSignal::new(
        existing
            .as_ref()
            .map(|a| a.capabilities.join(", "))
            .unwrap_or_default(),
    );
    let sandbox_paths = RwSignal::new(
        existing
            .as_ref()
            .map(|a| a.sandbox_paths.join("\n"))
            .unwrap_or_default(),
    );
    let requeue = RwSignal::new(
        existing
            .as_ref()
            .is_some_and(|a| a.on_runner_lost == crate::model::RunnerLost::Requeue),
    );
    let budget = BudgetForm::new(existing.as_ref().map(|a| a.budget).unwrap_or_default());
    let problem = RwSignal::new(None::<String>);
    let preset_note = RwSignal::new(None::<&'static str>);

    // Once saved (say, before a test run that failed to start), saving
    // again replaces that agent rather than creating a second one.
    let saved_id = RwSignal::new(id);
    let save =
        Action::new(move |input: &AgentInput| save_agent(saved_id.get_untracked(), input.clone()));
    // "Save and test run": after saving, run it with a short prompt.
    let test_after_save = RwSignal::new(false);
    let test_run =
        Action::new(move |agent: &AgentId| start_execution(*agent, TEST_PROMPT.to_string(), None));
    // The command as saved would run it: its warnings and whether its
    // program is here.
    let argv = move || {
        let text = command.get();
        if shell.get() {
            shell_command(&text)
        } else {
            command_lines(&text)
        }
    };
    // Checked in the browser only (the server's page has no answer yet, as
    // hydration expects): a resource made here, inside the page's
    // `Suspense`, would not keep its serialization id on the server.
    let program_check = RwSignal::new(None::<crate::model::ProgramCheck>);
    #[cfg(feature = "hydrate")]
    {
        // Asked again only when the program or PATH changes, 300 ms after
        // the typing stops; only the latest question's answer is shown, and
        // none once the form is gone.
        let question = Memo::new(move |_| (argv().first().cloned(), env_path(&env.get())));
        let asked = StoredValue::new(0u64);
        Effect::new(move |_| {
            let (program, path) = question.get();
            let ticket = asked.get_value() + 1;
            asked.set_value(ticket);
            let current = move || asked.try_get_value() == Some(ticket);
            set_timeout(
                move || {
                    if !current() {
                        return;
                    }
                    leptos::task::spawn_local(async move {
                        let answer = match program {
                            Some(p) => check_program(vec![p], path).await.ok(),
                            None => None,
                        };
                        if current() {
                            program_check.try_set(answer);
                        }
                    });
                },
                std::time::Duration::from_millis(300),
            );
        });
    }
    let remove = Action::new(move |_: &()| async move {
        match id {
            Some(id) => delete_agent(id).await,
            None => Ok(()),
        }
    });
    {
        let navigate = navigate.clone();
        Effect::new(move |_| {
            if let Some(Ok(agent)) = save.value().get() {
                saved_id.set(Some(agent.id));
                if test_after_save.get_untracked() {
                    test_run.dispatch(agent.id);
                } else {
                    navigate("/agents", Default::default());
                }
            }
        });
    }
    {
        let navigate = navigate.clone();
        Effect::new(move |_| {
            if let Some(Ok(execution)) = test_run.value().get() {
                navigate(&format!("/executions/{}", execution.id), Default::default());
            }
        });
    }
    Effect::new(move |_| {
        if let Some(Ok(())) = remove.value().get() {
            navigate("/agents", Default::default());
        }
    });
    let error = move || {
        problem
            .get()
            .or_else(|| {
                save.value()
                    .get()
                    .and_then(|r| r.err())
                    .map(|e| e.to_string())
            })
            .or_else(|| {
                remove
                    .value()
                    .get()
                    .and_then(|r| r.err())
                    .map(|e| e.to_string())
            })
            .or_else(|| {
                test_run
                    .value()
                    .get()
                    .and_then(|r| r.err())
                    .map(|e| format!("saved, but the test run did not start: {e}"))
            })
    };
    let apply_preset = move |key: String| {
        if let Some(p) = PRESETS.iter().find(|p| p.key == key) {
            shell.set(false);
            command.set(p.command.join("\n"));
            sandbox_paths.set(p.sandbox_paths.join("\n"));
            agent_type.set(p.agent_type.as_str().to_string());
            if name.get_untracked().trim().is_empty() {
                name.set(p.label.trim_end_matches(" (built in)").to_string());
            }
            preset_note.set(Some(p.note));
        }
    };
    let live_page = crate::components::time::page_live();
    let title = if existing.is_some() {
        "Edit agent"
    } else {
        "New agent"
    };

    view! {
        <PageHeader title=title subtitle="An agent is a command: a program and its arguments, one per line, or a shell script." />
        <form
            class="grid max-w-3xl gap-4 rounded-xl border border-slate-200 bg-white p-5 dark:border-slate-800 dark:bg-slate-900"
            on:submit=move |ev| {
                ev.prevent_default();
                let parsed = parse_form(&name.get_untracked(), &agent_type.get_untracked(), shell.get_untracked(), &command.get_untracked(), &env.get_untracked(), &timeout.get_untracked(), &cap.get_untracked())
                    .and_then(|mut input| {
                        input.capabilities = crate::model::split_labels(&capabilities.get_untracked());
                        input.sandbox_paths = sandbox_paths
                            .get_untracked()
                            .lines()
                            .map(str::trim)
                            .filter(|l| !l.is_empty())
                            .map(str::to_string)
                            .collect();
                        input.on_runner_lost = if requeue.get_untracked() {
                            crate::model::RunnerLost::Requeue
                        } else {
                            crate::model::RunnerLost::Fail
                        };
                        input.budget = budget.parse()?;
                        input.validate().map(|()| input)
                    });
                match parsed {
                    Ok(input) => {
                        problem.set(None);
                        save.dispatch(input);
                    }
                    Err(e) => problem.set(Some(e)),
                }
            }
        >
            <label class="block text-sm font-medium">
                "Start from a preset"
                <select class=INPUT aria-label="Preset" on:change=move |ev| apply_preset(event_target_value(&ev))>
                    <option value="">"—"</option>
                    {PRESETS.iter().map(|p| view! { <option value=p.key>{p.label}</option> }).collect_view()}
                </select>
                {move || preset_note.get().map(|n| view! { <span class="mt-1 block text-xs font-normal text-slate-500">{n}</span> })}
            </label>
            <div class="grid gap-4 sm:grid-cols-2">
                <label class="block text-sm font-medium">
                    "Name"
                    <input class=INPUT required maxlength="64" bind:value=name />
                </label>
                <label class="block text-sm font-medium">
                    "Type"
                    <select class=INPUT on:change=move |ev| agent_type.set(event_target_value(&ev))>
                        {AgentType::ALL.into_iter().map(|t| view! {
                            <option value=t.as_str() selected=move || agent_type.get() == t.as_str()>{t.as_str()}</option>
                        }).collect_view()}
                    </select>
                </label>
            </div>
            <fieldset class="grid gap-2">
                <legend class="text-sm font-medium">"Command"</legend>
                <div class="flex flex-wrap gap-4 text-sm" role="radiogroup" aria-label="Command kind">
                    <label class="flex items-center gap-2">
                        <input type="radio" name="command-kind" data-testid="mode-args" prop:checked=move || !shell.get() on:change=move |_| shell.set(false) />
                        "Program and arguments, one per line"
                    </label>
                    <label class="flex items-center gap-2">
                        <input type="radio" name="command-kind" data-testid="mode-shell" prop:checked=move || shell.get() on:change=move |_| {
                            // A command written as arguments becomes the
                            // same command line in the script.
                            let lines = command_lines(&command.get_untracked());
                            if lines.len() > 1 {
                                command.set(shell_line(&lines));
                            }
                            shell.set(true);
                        } />
                        "Shell script"
                    </label>
                </div>
                <textarea
                    class=format!("{INPUT} font-mono")
                    rows="5"
                    required
                    aria-label="Command"
                    data-testid="command"
                    placeholder=move || if shell.get() { "claude -p -- \"$1\" | tee answer.txt" } else { "claude\n-p\n--\n{prompt}" }
                    bind:value=command
                ></textarea>
                <span class="block text-xs font-normal text-slate-500">
                    {move || if shell.get() {
                        view! { "Run by "<code>"/bin/sh -c"</code>". The prompt is "<code>"\"$1\""</code>", the issue's title "<code>"\"$2\""</code>" and its body "<code>"\"$3\""</code>": arguments, never pasted into the script." }.into_any()
                    } else {
                        view! { "The first line is the program, each further line one argument; no shell reads them, so quotes and spaces are kept as written. Placeholders: "{PLACEHOLDERS.join(", ")}"." }.into_any()
                    }}
                    " Lines like "<code>"::progress 40 Step"</code>" and "<code>"::result {…}"</code>" in its output report progress and a result."
                </span>
                {move || {
                    let argv = argv();
                    let pasted = !shell.get() && argv.first().is_some_and(|p| p.trim().contains(char::is_whitespace));
                    view! {
                        {command_warnings(&argv)
                            .into_iter()
                            .map(|w| view! { <span data-testid="command-warning" class="block text-xs font-normal text-amber-700 dark:text-amber-300">{w}</span> })
                            .collect_view()}
                        {pasted.then(|| view! {
                            <button
                                type="button"
                                data-testid="make-shell"
                                class="w-fit text-xs font-medium text-indigo-600 hover:underline dark:text-indigo-400"
                                on:click=move |_| {
                                    // The first line is shell text already;
                                    // the other lines are its arguments.
                                    let lines = command_lines(&command.get_untracked());
                                    let script = match lines.split_first() {
                                        Some((first, [])) => first.clone(),
                                        Some((first, rest)) => format!("{first} {}", shell_line(rest)),
                                        None => String::new(),
                                    };
                                    command.set(script);
                                    shell.set(true);
                                }
                            >
                                "Run it as a shell script instead"
                            </button>
                        })}
                    }
                }}
                {move || {
                    // A whole command line on the program's line is said
                    // above already.
                    let pasted = !shell.get() && command_lines(&command.get()).first().is_some_and(|p| p.trim().contains(char::is_whitespace));
                    program_check.get().filter(|_| !pasted).map(|c| match c.found {
                        Some(path) => view! {
                            <span data-testid="program-check" data-found="true" class="block text-xs font-normal text-emerald-700 dark:text-emerald-400">
                                "✓ "<code>{c.program.clone()}</code>" is on this server: "<code>{path}</code>
                            </span>
                        }.into_any(),
                        None => view! {
                            <span data-testid="program-check" data-found="false" class="block text-xs font-normal text-rose-700 dark:text-rose-400">
                                "✗ "{c.note.unwrap_or_else(|| format!("{} is not on this server", c.program))}
                            </span>
                        }.into_any(),
                    })
                }}
            </fieldset>
            <label class="block text-sm font-medium">
                "Environment, KEY=VALUE per line"
                <textarea class=format!("{INPUT} font-mono") rows="3" bind:value=env></textarea>
                <span class="mt-1 block text-xs font-normal text-slate-500">"Agents see only these and a few basics (PATH, HOME, LANG…), never the server's own variables. Saved values are never shown again: keep "<code>"KEY=********"</code>" to keep a value."</span>
            </label>
            <label class="block text-sm font-medium">
                "Sandbox paths, one per line"
                <textarea class=format!("{INPUT} font-mono") rows="3" placeholder="~/.claude" bind:value=sandbox_paths></textarea>
                <span class="mt-1 block text-xs font-normal text-slate-500">"The agent reads the system and writes only its work directory; list here what else it may read and write, such as where its CLI keeps its sign-in ("<code>"~/"</code>" is the home directory)."</span>
            </label>
            <div class="grid gap-4 sm:grid-cols-2">
                <label class="block text-sm font-medium">
                    "Timeout (seconds)"
                    <input class=INPUT type="number" min="1" bind:value=timeout />
                </label>
                <label class="block text-sm font-medium">
                    "Output cap (MiB)"
                    <input class=INPUT type="number" min="1" max="1024" bind:value=cap />
                </label>
                <label class="block text-sm font-medium sm:col-span-2">
                    "Runner capabilities"
                    <input class=INPUT placeholder="e.g. docker, gpu" bind:value=capabilities />
                    <span class="mt-1 block text-xs font-normal text-slate-500">"Comma-separated. When set, only a remote runner offering all of them runs this agent; empty runs it anywhere, this server included."</span>
                </label>
                <label class="flex items-center gap-2 text-sm font-medium sm:col-span-2">
                    <input type="checkbox" prop:checked=requeue on:change=move |ev| requeue.set(event_target_checked(&ev)) />
                    "If its runner is lost, run it again on another runner (up to 3 times) instead of failing"
                </label>
            </div>
            <BudgetFields form=budget what="a run of this agent" />
            {move || error().map(|e| view! { <p role="alert" data-testid="form-error" class="text-sm text-rose-600">{e}</p> })}
            <div class="flex items-center gap-3">
                <button type="submit" class=PRIMARY disabled=move || !live_page.get() || save.pending().get() on:click=move |_| test_after_save.set(false)>"Save agent"</button>
                <button
                    type="submit"
                    data-testid="test-run"
                    title=format!("Saves, then runs it with the prompt: {TEST_PROMPT}")
                    class="rounded-md border border-slate-300 px-3 py-1.5 text-sm font-medium hover:bg-slate-50 disabled:opacity-50 dark:border-slate-700 dark:hover:bg-slate-800"
                    disabled=move || !live_page.get() || save.pending().get() || test_run.pending().get()
                    on:click=move |_| test_after_save.set(true)
                >
                    "Save and test run"
                </button>
                <a href="/agents" class="text-sm text-slate-600 hover:underline dark:text-slate-400">"Cancel"</a>
                {id.map(|_| view! {
                    <button
                        type="button"
                        class="ml-auto rounded-md border border-rose-300 px-3 py-1.5 text-sm text-rose-700 hover:bg-rose-50 dark:border-rose-800 dark:text-rose-300 dark:hover:bg-rose-950"
                        on:click=move |_| {
                            if crate::components::confirm::confirmed("Delete this agent? Its past runs stay.") {
                                remove.dispatch(());
                            }
                        }
                    >
                        "Delete"
                    </button>
                })}
            </div>
        </form>
    }
}

/// An agent's last runs, kept fresh as runs start and end. Made by the
/// page before anything is awaited, so that hydration meets it in the
/// server's order.
type RunsResource = Resource<Result<crate::model::ExecutionPage, ApiError>>;

fn recent_runs(agent: impl Fn() -> Option<AgentId> + Send + Sync + 'static) -> RunsResource {
    let version = lifecycle_version();
    Resource::new(
        move || (agent(), version.get()),
        |(agent, _)| async move {
            match agent {
                Some(agent) => {
                    list_executions(ExecutionQuery {
                        agent_id: Some(agent),
                        limit: 10,
                        ..Default::default()
                    })
                    .await
                }
                None => Ok(crate::model::ExecutionPage {
                    items: Vec::new(),
                    total: 0,
                }),
            }
        },
    )
}

#[component]
fn RecentRuns(runs: RunsResource) -> impl IntoView {
    view! {
        <section class="mt-8 max-w-3xl">
            <h2 class="mb-3 text-lg font-semibold">"Recent runs"</h2>
            <Transition>
                {move || Suspend::new(async move {
                    match runs.await {
                        Ok(p) if p.items.is_empty() => view! { <p class="text-sm text-slate-500">"This agent has not run yet."</p> }.into_any(),
                        Ok(p) => view! { <ExecutionTable items=p.items /> }.into_any(),
                        Err(e) => view! { <p class="text-sm text-rose-600">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::parse_form;

    #[test]
    fn form_fields_become_an_agent() {
        let a = parse_form(
            "x",
            "Review",
            false,
            "claude\n-p\n{prompt}\n",
            "A=1\n# note\nB=two=2",
            "60",
            "2",
        )
        .unwrap();
        assert_eq!(a.command, vec!["claude", "-p", "{prompt}"]);
        assert_eq!(a.env.get("B").map(String::as_str), Some("two=2"));
        assert_eq!(a.output_cap_bytes, 2 << 20);
        assert!(parse_form("x", "Review", false, "", "", "60", "2").is_err());
        assert!(
            parse_form("x", "Review", false, "ls", "NOEQUALS", "60", "2")
                .unwrap_err()
                .contains("KEY=VALUE")
        );
        assert!(parse_form("x", "Nope", false, "ls", "", "60", "2").is_err());
        let script =
            parse_form("x", "Custom", true, "echo \"$1\"\r\nls\r\n", "", "60", "2").unwrap();
        assert_eq!(
            crate::model::shell_script(&script.command),
            Some("echo \"$1\"\nls\n")
        );
    }
}

//! The executions list (filters, pages, live statuses) and one
//! execution's page (live log, progress, controls, stdin, result).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use crate::components::time::Time;
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};

use crate::api::{
    control_execution, execution_log_tail, get_execution, list_agents, list_executions, send_stdin,
    start_execution, ApiError,
};
use crate::components::{
    empty_state::{EmptyState, Missing, PageHeader},
    log_viewer::{push_line, LogLine, LogViewer},
    status::{ProgressBar, StatusBadge},
};
use crate::model::{
    EventBody, Execution, ExecutionAction, ExecutionId, ExecutionQuery, ExecutionStatus, LineEnd,
    LogStream, LogTail, ResourceUsage,
};
use crate::protocol::native::ServerMessage;
use crate::state::use_live_connection;

const PAGE_SIZE: u32 = 25;
/// How many of a finished run's last lines its page is served with.
const TAIL_LINES: u32 = 200;

/// A stored log event as a row of the log viewer.
fn log_line(seq: u64, at_ms: i64, body: &EventBody) -> Option<LogLine> {
    match body {
        EventBody::Log {
            stream,
            level,
            message,
            end,
        } => Some(LogLine {
            seq,
            stream: *stream,
            level: *level,
            text: message.clone(),
            open: *end == LineEnd::None,
            at_ms: Some(at_ms),
        }),
        _ => None,
    }
}

/// Bumps whenever an execution starts or ends somewhere (not on progress),
/// so lists refresh without polling.
pub fn lifecycle_version() -> Signal<u64> {
    let live = use_live_connection();
    let version = RwSignal::new(0u64);
    Effect::new(move |_| {
        if let Some(msg) = live.lifecycle.get() {
            if !matches!(msg, ServerMessage::AgentProgress { .. }) {
                version.update(|v| *v += 1);
            }
        }
    });
    version.into()
}

pub fn duration_text(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0 => format!("{ms} ms"),
        1..=59 => format!("{}.{} s", s, (ms % 1000) / 100),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// Now, in ms since the epoch (the browser's clock in the browser).
fn now_ms() -> i64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Date::now() as i64
    }
    #[cfg(not(feature = "hydrate"))]
    {
        chrono::Utc::now().timestamp_millis()
    }
}

pub fn time_text(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

#[component]
pub fn ExecutionsPage() -> impl IntoView {
    let query = use_query_map();
    let navigate = use_navigate();
    let status = move || {
        query
            .with(|q| q.get("status"))
            .and_then(|s| s.parse::<ExecutionStatus>().ok())
    };
    let agent = move || query.with(|q| q.get("agent")).and_then(|s| s.parse().ok());
    let page = move || {
        query
            .with(|q| q.get("page"))
            .and_then(|p| p.parse::<u32>().ok())
            .unwrap_or(1)
            .max(1)
    };
    let version = lifecycle_version();
    let agents = Resource::new(|| (), |_| list_agents());
    let executions = Resource::new(
        move || (status(), agent(), page(), version.get()),
        |(status, agent_id, page, _)| {
            list_executions(ExecutionQuery {
                status,
                agent_id,
                limit: PAGE_SIZE,
                offset: (page - 1) * PAGE_SIZE,
            })
        },
    );
    let go = move |status: Option<String>, agent: Option<String>, page: u32| {
        let mut parts = Vec::new();
        if let Some(s) = status.filter(|s| !s.is_empty()) {
            parts.push(format!("status={s}"));
        }
        if let Some(a) = agent.filter(|a| !a.is_empty()) {
            parts.push(format!("agent={a}"));
        }
        if page > 1 {
            parts.push(format!("page={page}"));
        }
        let q = if parts.is_empty() {
            String::new()
        } else {
            format!("?{}", parts.join("&"))
        };
        navigate(&format!("/executions{q}"), Default::default());
    };
    let go_status = go.clone();
    let go_agent = go.clone();

    view! {
        <PageHeader title="Executions" subtitle="Every run of an agent, with its full log." />
        <form method="get" action="/executions" class="mb-4 flex flex-wrap items-end gap-3 text-sm">
            <label class="flex flex-col gap-1">
                <span class="text-xs font-medium text-slate-600 dark:text-slate-400">"Status"</span>
                <select
                    name="status"
                    class="rounded-md border border-slate-300 bg-white px-2 py-1 dark:border-slate-700 dark:bg-slate-950"
                    on:change=move |ev| go_status(Some(event_target_value(&ev)), agent().map(|a: crate::model::AgentId| a.to_string()), 1)
                >
                    <option value="" selected=move || status().is_none()>"Any"</option>
                    {ExecutionStatus::ALL
                        .into_iter()
                        .map(|s| view! { <option value=s.as_str() selected=move || status() == Some(s)>{crate::components::status::words(s.as_str())}</option> })
                        .collect_view()}
                </select>
            </label>
            <label class="flex flex-col gap-1">
                <span class="text-xs font-medium text-slate-600 dark:text-slate-400">"Agent"</span>
                <select
                    name="agent"
                    class="rounded-md border border-slate-300 bg-white px-2 py-1 dark:border-slate-700 dark:bg-slate-950"
                    on:change=move |ev| go_agent(status().map(|s| s.as_str().to_string()), Some(event_target_value(&ev)), 1)
                >
                    <option value="">"Any"</option>
                    <Transition>
                        {move || agents.get().and_then(|r| r.ok()).unwrap_or_default().into_iter().map(|a| {
                            let id = a.id;
                            view! { <option value=a.id.to_string() selected=move || agent() == Some(id)>{a.name}</option> }
                        }).collect_view()}
                    </Transition>
                </select>
            </label>
            <noscript>
                <button type="submit" class="rounded-md border border-slate-300 px-3 py-1 dark:border-slate-700">"Filter"</button>
            </noscript>
        </form>
        <Transition fallback=|| view! { <p class="text-sm text-slate-500">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match executions.await {
                    Err(e) => view! { <p class="text-sm text-rose-600">{e.to_string()}</p> }.into_any(),
                    Ok(p) if p.items.is_empty() => view! {
                        <EmptyState title="No executions here" body="Run an agent from the Agents page; its executions appear here, updated live.">
                            <a href="/agents" class="text-sm font-medium text-indigo-600 hover:underline dark:text-indigo-400">"Go to agents"</a>
                        </EmptyState>
                    }.into_any(),
                    Ok(p) => {
                        let pages = p.total.div_ceil(u64::from(PAGE_SIZE)).max(1);
                        let current = page();
                        let link = move |n: u32| {
                            let mut q = vec![format!("page={n}")];
                            if let Some(s) = status() { q.push(format!("status={}", s.as_str())); }
                            if let Some(a) = agent() { q.push(format!("agent={a}")); }
                            format!("/executions?{}", q.join("&"))
                        };
                        view! {
                            <ExecutionTable items=p.items />
                            <nav class="mt-4 flex items-center justify-between text-sm" aria-label="Pages">
                                <span class="text-slate-500">{format!("{} · page {current} of {pages}", crate::components::count::plural(p.total as usize, "execution", "executions"))}</span>
                                <span class="flex gap-2">
                                    {(current > 1).then(|| view! { <a class="rounded-md border border-slate-300 px-3 py-1 hover:bg-slate-100 dark:border-slate-700 dark:hover:bg-slate-800" href=link(current - 1)>"Newer"</a> })}
                                    {(u64::from(current) < pages).then(|| view! { <a class="rounded-md border border-slate-300 px-3 py-1 hover:bg-slate-100 dark:border-slate-700 dark:hover:bg-slate-800" href=link(current + 1)>"Older"</a> })}
                                </span>
                            </nav>
                        }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

#[component]
pub fn ExecutionTable(items: Vec<Execution>) -> impl IntoView {
    view! {
        <div class="overflow-x-auto rounded-xl border border-slate-200 bg-white dark:border-slate-800 dark:bg-slate-900">
            <table class="w-full text-left text-sm">
                <thead class="border-b border-slate-200 text-xs uppercase text-slate-500 dark:border-slate-800">
                    <tr>
                        <th class="px-4 py-2 font-medium">"Agent"</th>
                        <th class="px-4 py-2 font-medium">"Status"</th>
                        <th class="hidden px-4 py-2 font-medium md:table-cell">"Prompt"</th>
                        <th class="hidden px-4 py-2 font-medium sm:table-cell">"Started"</th>
                        <th class="px-4 py-2 font-medium">"Duration"</th>
                    </tr>
                </thead>
                <tbody>
                    {items.into_iter().map(|e| {
                        let status = e.status;
                        view! {
                            // The whole row opens the run (the agent's link
                            // covers it); the issue and run links sit above.
                            <tr class="relative border-b border-slate-100 last:border-0 hover:bg-slate-50 dark:border-slate-800 dark:hover:bg-slate-800/50" data-testid="execution-row">
                                <td class="px-4 py-2">
                                    <a class="font-medium text-indigo-600 after:absolute after:inset-0 hover:underline dark:text-indigo-400" href=format!("/executions/{}", e.id)>{e.agent_name.clone()}</a>
                                </td>
                                <td class="px-4 py-2"><StatusBadge status=Signal::stored(status) /></td>
                                <td class="hidden max-w-md px-4 py-2 text-slate-600 md:table-cell dark:text-slate-400">
                                    <p class="truncate">{if e.prompt.is_empty() { "(no prompt)".to_string() } else { e.prompt.clone() }}</p>
                                    <p class="flex flex-wrap gap-x-2 text-xs text-slate-500" data-testid="execution-context">
                                        {e.issue.clone().map(|i| view! {
                                            <a class="relative z-10 truncate hover:underline" href=format!("/issues/{}", i.id)>{format!("#{} {}", i.number, i.title)}</a>
                                        })}
                                        {e.workflow_run_id.map(|r| view! {
                                            <a class="relative z-10 hover:underline" href=format!("/workflow-runs/{r}")>"workflow step"</a>
                                        })}
                                        {e.created_by.clone().map(|u| view! { <span>{format!("by {u}")}</span> })}
                                    </p>
                                </td>
                                <td class="hidden px-4 py-2 text-slate-600 sm:table-cell dark:text-slate-400"><Time ms=e.started_at.unwrap_or(e.created_at) /></td>
                                <td class="px-4 py-2 text-slate-600 dark:text-slate-400">{e.usage.map(|u| duration_text(u.wall_ms)).unwrap_or_else(|| "—".into())}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
pub fn ExecutionPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || {
        params
            .with(|p| p.get("id"))
            .and_then(|s| s.parse::<ExecutionId>().ok())
    };
    // A finished run comes with the end of its log, so that the server's
    // page shows it (the replay takes over in the browser).
    let execution = Resource::new(id, |id| async move {
        let Some(id) = id else {
            return Err(ApiError::NotFound);
        };
        let execution = get_execution(id).await?;
        let tail = if execution.status.is_terminal() {
            execution_log_tail(id, TAIL_LINES).await.unwrap_or_default()
        } else {
            LogTail::default()
        };
        Ok((execution, tail))
    });
    view! {
        <Suspense fallback=|| view! { <p class="text-sm text-slate-500">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match execution.await {
                    Ok((e, tail)) => view! { <ExecutionView initial=e tail=tail /> }.into_any(),
                    Err(ApiError::NotFound) => view! {
                        <Missing title="Execution not found" body="There is no such execution: it may have been deleted, or the address is wrong." back_href="/executions" back_label="All executions" />
                    }.into_any(),
                    Err(e) => view! { <p class="text-sm text-rose-600">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// What the page shows about the run, kept current by its events.
#[derive(Clone, Debug, PartialEq)]
struct RunState {
    status: ExecutionStatus,
    progress: u8,
    step: Option<String>,
    result: Option<serde_json::Value>,
    error: Option<String>,
    exit_code: Option<i32>,
    signal: Option<i32>,
    usage: Option<ResourceUsage>,
    /// Tokens and cost the agent reported.
    tokens: Option<crate::model::TokenUsage>,
    /// When it started and ended (ms since the epoch), for the live timer.
    started_at: Option<i64>,
    finished_at: Option<i64>,
}

impl RunState {
    fn apply(&mut self, msg: &ServerMessage) {
        match msg {
            ServerMessage::AgentStarted { timestamp, .. } => {
                self.status = ExecutionStatus::Running;
                self.started_at = Some(timestamp.timestamp_millis());
                self.finished_at = None;
            }
            ServerMessage::AgentResumed { .. } => self.status = ExecutionStatus::Running,
            ServerMessage::AgentPaused { .. } => self.status = ExecutionStatus::Paused,
            ServerMessage::AgentRequeued { .. } => {
                self.status = ExecutionStatus::Queued;
                self.progress = 0;
                self.step = None;
                self.started_at = None;
            }
            ServerMessage::AgentProgress {
                progress,
                current_step,
                ..
            } => {
                self.progress = *progress;
                self.step = Some(current_step.clone());
            }
            ServerMessage::AgentCompleted {
                result,
                exit_code,
                usage,
                timestamp,
                ..
            } => {
                self.finished_at = Some(timestamp.timestamp_millis());
                self.status = ExecutionStatus::Completed;
                self.progress = 100;
                self.result = Some(result.clone());
                self.exit_code = *exit_code;
                self.usage = *usage;
            }
            ServerMessage::AgentFailed {
                status,
                error_message,
                error_code,
                exit_code,
                signal,
                usage,
                timestamp,
                ..
            } => {
                self.finished_at = Some(timestamp.timestamp_millis());
                self.status = *status;
                self.error = Some(format!("{error_message} ({error_code})"));
                self.exit_code = *exit_code;
                self.signal = *signal;
                self.usage = *usage;
            }
            ServerMessage::AgentCancelled {
                usage, timestamp, ..
            } => {
                self.finished_at = Some(timestamp.timestamp_millis());
                self.status = ExecutionStatus::Cancelled;
                self.usage = *usage;
            }
            _ => {}
        }
    }
}

#[component]
fn ExecutionView(initial: Execution, tail: LogTail) -> impl IntoView {
    let id = initial.id;
    let state = RwSignal::new(RunState {
        status: initial.status,
        progress: initial.progress,
        step: initial.current_step.clone(),
        result: initial.result.clone(),
        error: initial
            .error_message
            .clone()
            .map(|m| match &initial.error_code {
                Some(code) => format!("{m} ({code})"),
                None => m,
            }),
        exit_code: initial.exit_code,
        signal: initial.signal,
        usage: initial.usage,
        tokens: initial.token_usage,
        started_at: initial.started_at,
        finished_at: initial.finished_at,
    });
    // The clock the elapsed time is read against: ticks each second in
    // the browser while the run is not over.
    let now = RwSignal::new(initial.finished_at.unwrap_or_else(now_ms));
    #[cfg(feature = "hydrate")]
    Effect::new(move |prev: Option<()>| {
        if prev.is_some() {
            return;
        }
        now.set(now_ms());
        if let Ok(handle) = set_interval_with_handle(
            move || {
                if !state.with_untracked(|s| s.status.is_terminal()) {
                    now.set(now_ms());
                }
            },
            Duration::from_secs(1),
        ) {
            on_cleanup(move || handle.clear());
        }
    });
    // Started → ended (or now): what the header and the details show.
    let elapsed_ms = move || {
        state.with(|s| {
            // The process's own wall time once known (the figure below).
            if let Some(u) = s.usage {
                return Some(u.wall_ms);
            }
            let start = s.started_at?;
            let end = s.finished_at.unwrap_or_else(|| now.get());
            Some(end.saturating_sub(start).max(0) as u64)
        })
    };
    let elapsed = move || elapsed_ms().map(duration_text);
    let mut shown = Vec::<LogLine>::new();
    for event in &tail.events {
        if let Some(line) = log_line(event.seq, event.at_ms, &event.body) {
            push_line(&mut shown, line);
        }
    }
    // The replay (from the first line) gathers out of sight until it has
    // reached the tail shown from the server, then takes its place.
    let tail_seq = tail.events.last().map(|e| e.seq);
    let initial_seq = initial.last_seq;
    let partial = RwSignal::new(tail_seq.is_some() && !tail.complete);
    let lines = RwSignal::new(shown);

    // Replay everything from the store, then follow live; the connection
    // resumes from the last seq after a reconnect.
    let live = use_live_connection();
    Effect::new(move |prev: Option<()>| {
        if prev.is_some() {
            return;
        }
        // Lines are gathered and added once per frame: a replay of 100,000
        // lines must not re-render 100,000 times.
        let pending: Rc<RefCell<Vec<LogLine>>> = Rc::default();
        let scheduled = Rc::new(Cell::new(false));
        let shadow: Rc<RefCell<Option<Vec<LogLine>>>> =
            Rc::new(RefCell::new(tail_seq.map(|_| Vec::new())));
        // The replay starts at the first line, so the tally ends up where
        // the server's is; it is shown from the first line past the page's.
        let tally: Rc<RefCell<crate::model::TokenTally>> = Rc::default();
        let watch = live.watch_execution(id, 0, move |msg| {
            if let ServerMessage::AgentLog {
                seq,
                stream,
                level,
                message,
                end,
                timestamp,
                ..
            } = &msg
            {
                if matches!(stream, LogStream::Stdout | LogStream::Stderr) {
                    if let Some(report) = crate::model::parse_usage(message) {
                        let mut tally = tally.borrow_mut();
                        tally.apply(&report);
                        if *seq > initial_seq {
                            let total = tally.total();
                            state.update(|s| s.tokens = Some(total));
                        }
                    }
                }
                let line = LogLine {
                    seq: *seq,
                    stream: *stream,
                    level: *level,
                    text: message.clone(),
                    open: *end == LineEnd::None,
                    at_ms: Some(timestamp.timestamp_millis()),
                };
                pending.borrow_mut().push(line);
                if !scheduled.replace(true) {
                    let (pending, scheduled, shadow) =
                        (pending.clone(), scheduled.clone(), shadow.clone());
                    set_timeout(
                        move || {
                            scheduled.set(false);
                            let batch = std::mem::take(&mut *pending.borrow_mut());
                            let mut shadow = shadow.borrow_mut();
                            match shadow.as_mut() {
                                Some(gathered) => {
                                    let caught_up = batch.last().map(|l| l.seq) >= tail_seq;
                                    batch.into_iter().for_each(|l| push_line(gathered, l));
                                    if caught_up {
                                        lines.set(std::mem::take(gathered));
                                        partial.set(false);
                                        *shadow = None;
                                    }
                                }
                                None => lines
                                    .update(|ls| batch.into_iter().for_each(|l| push_line(ls, l))),
                            }
                        },
                        Duration::from_millis(16),
                    );
                }
            } else {
                state.update(|s| s.apply(&msg));
            }
        });
        if let Some(watch) = watch {
            on_cleanup(move || live.unwatch(id, watch));
        }
    });

    let status = Signal::derive(move || state.with(|s| s.status));
    // The progress card only when there is something to put in it: a run
    // without `::progress` lines gets its log higher up.
    let has_progress = move || {
        state.with(|s| {
            // Progress and a step say something while it runs; once it is
            // over, the status does (an error or a result still shows).
            let live = !s.status.is_terminal();
            (live && (s.progress > 0 || s.step.is_some()))
                || s.error.is_some()
                || s.result
                    .as_ref()
                    .is_some_and(|r| !r.is_null() && r != &serde_json::json!({}))
        })
    };
    let control = Action::new(move |action: &ExecutionAction| control_execution(id, *action));
    // "Run again": the same agent, prompt and issue, as a new run.
    let has_agent = initial.agent_id.is_some();
    let again = {
        let prompt = initial.prompt.clone();
        let issue = initial.issue.as_ref().map(|i| i.id);
        let agent = initial.agent_id;
        Action::new(move |_: &()| {
            let prompt = prompt.clone();
            async move {
                match agent {
                    Some(agent) => start_execution(agent, prompt, issue).await,
                    None => Err(ApiError::Invalid(
                        "this run has no agent to run again".into(),
                    )),
                }
            }
        })
    };
    {
        let navigate = use_navigate();
        Effect::new(move |_| {
            if let Some(Ok(execution)) = again.value().get() {
                navigate(&format!("/executions/{}", execution.id), Default::default());
            }
        });
    }
    let stdin_text = RwSignal::new(String::new());
    // A secret (a password at a prompt) is not echoed into the log.
    let secret = RwSignal::new(false);
    let stdin = Action::new(move |(text, echo): &(String, bool)| {
        send_stdin(id, format!("{text}\n"), *echo)
    });
    let action_error = move || {
        control
            .value()
            .get()
            .and_then(|r| r.err())
            .or_else(|| stdin.value().get().and_then(|r| r.err()))
            .or_else(|| again.value().get().and_then(|r| r.err()))
            .map(|e| e.to_string())
    };
    let button = "rounded-md border border-slate-300 px-3 py-1.5 text-sm font-medium hover:bg-slate-100 disabled:opacity-50 dark:border-slate-700 dark:hover:bg-slate-800";
    // Until the page is live these buttons could do nothing: disabled.
    let live_page = crate::components::time::page_live();

    // A process that printed a prompt (a line without its end) and went
    // quiet is most likely waiting for someone to type.
    let waiting_input = move || {
        let now = now.get();
        status.get() == ExecutionStatus::Running
            && lines.with(|ls| {
                ls.last()
                    .is_some_and(|l| l.open && l.at_ms.is_none_or(|at| now - at >= 1_000))
            })
    };

    view! {
        <leptos_meta::Title text=format!("{} · execution", initial.agent_name) />
        // Log first: a compact header that stays on screen while the log
        // scrolls, with the status, the live time and the controls.
        <div
            class="sticky top-0 z-20 -mx-4 mb-2 flex flex-wrap items-center justify-between gap-x-4 gap-y-2 border-b border-slate-200 bg-slate-50/95 px-4 py-2 backdrop-blur md:-mx-8 md:px-8 dark:border-slate-800 dark:bg-slate-950/95"
            data-testid="run-header"
        >
            <div class="flex min-w-0 items-center gap-3">
                <h1 class="truncate text-xl font-semibold tracking-tight" title=format!("{} agent", initial.agent_type.as_str())>
                    {initial.agent_name.clone()}
                </h1>
                <StatusBadge status=status />
                <span
                    class="text-sm font-normal tabular-nums text-slate-500"
                    data-testid="elapsed"
                    data-ms=move || elapsed_ms().map(|ms| ms.to_string()).unwrap_or_default()
                    title="Time since it started"
                >
                    {move || elapsed().unwrap_or_default()}
                </span>
                <Show when=waiting_input>
                    <a
                        href="#stdin"
                        class="shrink-0 rounded-full bg-amber-100 px-2 py-0.5 text-xs font-medium text-amber-800 dark:bg-amber-900/60 dark:text-amber-200"
                        data-testid="waiting-input"
                        title="It printed a prompt and is quiet: type an answer below"
                    >
                        "waiting for input"
                    </a>
                </Show>
            </div>
            <div class="flex flex-wrap gap-2">
                <Show when=move || status.get() == ExecutionStatus::Running>
                    <button type="button" class=button disabled=move || !live_page.get() on:click=move |_| { control.dispatch(ExecutionAction::Pause); }>"Pause"</button>
                </Show>
                <Show when=move || status.get() == ExecutionStatus::Paused>
                    <button type="button" class=button disabled=move || !live_page.get() on:click=move |_| { control.dispatch(ExecutionAction::Resume); }>"Resume"</button>
                </Show>
                <Show when=move || status.get().is_terminal() && has_agent>
                    <button
                        type="button"
                        class=button
                        data-testid="run-again"
                        title="Start the same agent with the same prompt"
                        disabled=move || !live_page.get() || again.pending().get()
                        on:click=move |_| { again.dispatch(()); }
                    >
                        "Run again"
                    </button>
                </Show>
                <Show when=move || !status.get().is_terminal()>
                    <button
                        type="button"
                        class="rounded-md bg-rose-600 px-3 py-1.5 text-sm font-medium text-white hover:bg-rose-500 disabled:opacity-50"
                        disabled=move || !live_page.get() || control.pending().get()
                        on:click=move |_| {
                            if crate::components::confirm::confirmed("Cancel this run? Its process is stopped.") {
                                control.dispatch(ExecutionAction::Cancel);
                            }
                        }
                    >
                        "Cancel"
                    </button>
                </Show>
            </div>
        </div>
        <div class="mb-4 min-w-0">
            <p class="text-xs font-medium uppercase text-slate-500">{initial.agent_type.as_str()}" agent"</p>
            <p class="mt-1 break-words text-sm text-slate-600 dark:text-slate-400" data-testid="prompt">{initial.prompt.clone()}</p>
            {(initial.issue.is_some() || initial.workflow_run_id.is_some()).then(|| view! {
                <p class="mt-1 flex flex-wrap gap-x-3 text-sm">
                    {initial.issue.clone().map(|i| view! {
                        <span>"On issue "<a class="font-medium text-indigo-600 hover:underline dark:text-indigo-400" href=format!("/issues/{}", i.id)>{format!("#{} {}", i.number, i.title)}</a></span>
                    })}
                    {initial.workflow_run_id.map(|r| view! {
                        <a class="font-medium text-indigo-600 hover:underline dark:text-indigo-400" href=format!("/workflow-runs/{r}")>"Step of a workflow run"</a>
                    })}
                </p>
            })}
        </div>
        {move || action_error().map(|e| view! { <p role="alert" class="mb-4 text-sm text-rose-600">{e}</p> })}
        <div class="mb-4 grid items-start gap-4 md:grid-cols-3">
            <Show when=has_progress>
            <section class="rounded-xl border border-slate-200 bg-white p-4 md:col-span-2 dark:border-slate-800 dark:bg-slate-900" data-testid="progress-card">
                <ProgressBar
                    progress=Signal::derive(move || state.with(|s| s.progress))
                    // A run that is over waits for nothing: its last step says
                    // no more (e.g. "Waiting for input").
                    step=Signal::derive(move || state.with(|s| (!s.status.is_terminal()).then(|| s.step.clone()).flatten()))
                />
                {move || state.with(|s| s.error.clone()).map(|e| view! {
                    <p class="mt-3 text-sm text-rose-600 dark:text-rose-400" data-testid="execution-error">{e}</p>
                })}
                {move || state.with(|s| s.result.clone()).filter(|r| !r.is_null() && r != &serde_json::json!({})).map(|r| view! {
                    <div class="mt-3">
                        <h2 class="text-xs font-semibold uppercase text-slate-500">"Result"</h2>
                        <pre class="mt-1 overflow-x-auto rounded-md bg-slate-100 p-2 text-xs dark:bg-slate-950" data-testid="execution-result">
                            {serde_json::to_string_pretty(&r).unwrap_or_default()}
                        </pre>
                    </div>
                })}
            </section>
            </Show>
            <section class=move || format!(
                "rounded-xl border border-slate-200 bg-white p-4 text-sm dark:border-slate-800 dark:bg-slate-900 {}",
                if has_progress() { "" } else { "md:col-span-3" },
            )>
                // Full width (no progress card): the figures in one row.
                <dl class=move || if has_progress() { "grid grid-cols-2 gap-x-3 gap-y-1" } else { "grid grid-cols-2 gap-x-3 gap-y-1 md:grid-cols-12" }>
                    <dt class="text-slate-500">"Started"</dt>
                    <dd data-testid="started-at">{move || match state.with(|s| s.started_at) {
                        Some(ms) => view! { <Time ms=ms /> }.into_any(),
                        None => "—".into_any(),
                    }}</dd>
                    <dt class="text-slate-500">"Exit"</dt>
                    <dd data-testid="exit-code">{move || state.with(|s| match (s.status, s.exit_code, s.signal) {
                        // Stopped on request: the signal is how, not why.
                        (ExecutionStatus::Cancelled, _, _) => "cancelled".into(),
                        (_, Some(c), _) => format!("code {c}"),
                        (_, None, Some(sig)) => format!("signal {sig}"),
                        _ => "—".into(),
                    })}</dd>
                    <dt class="text-slate-500">"Duration"</dt>
                    <dd data-testid="duration">{move || {
                        let wall = state.with(|s| s.usage.map(|u| u.wall_ms));
                        wall.map(duration_text).or_else(elapsed).unwrap_or_else(|| "—".into())
                    }}</dd>
                    <dt class="text-slate-500">"CPU"</dt>
                    <dd>{move || state.with(|s| s.usage.map(|u| duration_text(u.cpu_ms)).unwrap_or_else(|| "—".into()))}</dd>
                    <dt class="text-slate-500">"Memory"</dt>
                    <dd>{move || state.with(|s| s.usage.map(|u| format!("{:.1} MiB", u.peak_memory_kb as f64 / 1024.0)).unwrap_or_else(|| "—".into()))}</dd>
                    <dt class="text-slate-500">"Tokens"</dt>
                    <dd
                        class="whitespace-nowrap"
                        data-testid="tokens"
                        title=move || state.with(|s| s.tokens.as_ref().map(crate::components::budget::describe).unwrap_or_default())
                    >
                        {move || state.with(|s| s.tokens.as_ref().map(crate::components::budget::short).unwrap_or_else(|| "—".into()))}
                    </dd>
                </dl>
                <p class="mt-3 max-h-24 overflow-y-auto break-all font-mono text-xs text-slate-500" title="The command run" data-testid="argv">{crate::model::display_command(&initial.argv)}</p>
                {initial.branch.clone().map(|b| view! {
                    <p class="mt-2 text-sm">
                        "Branch "<code class="font-mono text-xs" data-testid="execution-branch">{b}</code>" · "
                        <a class="text-indigo-600 hover:underline dark:text-indigo-400" href=format!("/executions/{id}/changes") data-testid="execution-changes">"Changes"</a>
                    </p>
                })}
            </section>
        </div>
        <Show when=move || matches!(status.get(), ExecutionStatus::Running | ExecutionStatus::Paused)>
            <form
                id="stdin"
                class=move || if waiting_input() {
                    "mb-4 flex gap-2 rounded-lg p-1 ring-2 ring-amber-400 dark:ring-amber-500"
                } else {
                    "mb-4 flex gap-2"
                }
                on:submit=move |ev| {
                    ev.prevent_default();
                    stdin.dispatch((stdin_text.get_untracked(), !secret.get_untracked()));
                    stdin_text.set(String::new());
                }
            >
                <input
                    class="min-w-0 flex-1 rounded-md border border-slate-300 bg-white px-3 py-1.5 font-mono text-sm dark:border-slate-700 dark:bg-slate-950"
                    placeholder="Type input for the process and press Enter"
                    aria-label="Standard input"
                    prop:type=move || if secret.get() { "password" } else { "text" }
                    bind:value=stdin_text
                />
                <label class="flex shrink-0 items-center gap-1 text-xs text-slate-600 dark:text-slate-400" title="Not shown in the log, and hidden as you type">
                    <input type="checkbox" data-testid="stdin-secret" prop:checked=secret on:change=move |ev| secret.set(event_target_checked(&ev)) />
                    "Secret"
                </label>
                <button type="submit" class=button disabled=move || !live_page.get()>"Send"</button>
            </form>
        </Show>
        <LogViewer lines=lines download_href=format!("/api/v1/executions/{id}/log") partial=partial.into() />
    }
}

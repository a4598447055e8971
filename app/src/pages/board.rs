//! `/board`: the issues in columns (to do, in progress, approval or
//! review, done), each card with the live status and progress of its
//! latest run. Dragging a card to "In progress" asks which workflow to
//! start and starts it; to "Done" closes the issue; from "Done" back to
//! "To do" reopens it.
//!
//! Without JavaScript the board is read-only to the mouse, and each card's
//! "Actions" are plain forms that post to the same server functions.

use std::collections::HashMap;

use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_router::hooks::use_query_map;

use super::common::{
    action_error, query_text, submit_with, workspace_version, FormError, LabelChip, INPUT, LINK,
    PRIMARY, SECONDARY,
};
use super::executions::lifecycle_version;
use crate::api::{
    issue_board, list_repositories, list_workflows, ApiError, StartWorkflow, UpdateIssue,
};
use crate::components::{
    empty_state::PageHeader,
    status::{RunStatusBadge, StatusBadge},
    time::Time,
};
use crate::model::{
    board_move, Board, BoardCard, BoardColumn, BoardMove, BoardQuery, ExecutionId, LatestRun,
    Repository, Workflow, WorkflowId,
};
use crate::protocol::native::ServerMessage;
use crate::state::use_live_connection;

/// A move waiting for the person's yes.
#[derive(Clone, Debug, PartialEq)]
struct PendingMove {
    card: BoardCard,
    kind: BoardMove,
    /// The workflow chosen beforehand (the one the repository's issues
    /// were last run through).
    usual: Option<WorkflowId>,
    /// The workflows to choose from.
    workflows: Vec<Workflow>,
}

/// What the board's handlers share.
#[derive(Clone, Copy)]
struct Moves {
    /// The card being dragged.
    dragging: RwSignal<Option<BoardCard>>,
    over: RwSignal<Option<BoardColumn>>,
    pending: RwSignal<Option<PendingMove>>,
    start: ServerAction<StartWorkflow>,
    update: ServerAction<UpdateIssue>,
    /// Progress of executions as it streams in (cards read it first).
    progress: RwSignal<HashMap<ExecutionId, u8>>,
    /// The board as last read: a drop looks its card up here, since the
    /// card may have moved while it was dragged.
    board: Resource<Result<Board, ApiError>>,
}

impl Moves {
    fn end_drag(&self) {
        self.dragging.set(None);
        self.over.set(None);
    }
}

#[component]
pub fn BoardPage() -> impl IntoView {
    let query = use_query_map();
    let filters = Memo::new(move |_| {
        query.with(|q| {
            let text = |k: &str| query_text(q, k);
            BoardQuery {
                repository_id: text("repo").and_then(|r| r.parse().ok()),
                label: text("label"),
            }
        })
    });
    let issues_changed = workspace_version(|m| {
        matches!(
            m,
            ServerMessage::IssueCreated { .. } | ServerMessage::IssueUpdated { .. }
        )
    });
    let runs_changed = workspace_version(|m| m.workflow_seq().is_some());
    let executions_changed = lifecycle_version();
    let start = ServerAction::<StartWorkflow>::new();
    let update = ServerAction::<UpdateIssue>::new();
    let board = Resource::new(
        move || {
            (
                filters.get(),
                issues_changed.get(),
                runs_changed.get(),
                executions_changed.get(),
                start.version().get(),
                update.version().get(),
            )
        },
        |(q, ..)| issue_board(q.repository_id, q.label),
    );
    let moves = Moves {
        dragging: RwSignal::new(None),
        over: RwSignal::new(None),
        pending: RwSignal::new(None),
        start,
        update,
        progress: RwSignal::new(HashMap::new()),
        board,
    };
    let repos = Resource::new(|| (), |_| list_repositories());
    let workflows = Resource::new(|| (), |_| list_workflows());

    // Progress streams in between the board's reads.
    let live = use_live_connection();
    Effect::new(move |_| {
        if let Some(ServerMessage::AgentProgress {
            execution_id,
            progress,
            ..
        }) = live.lifecycle.get()
        {
            moves.progress.update(|p| {
                p.insert(execution_id, progress);
            });
        }
    });
    // A card re-drawn while it was dragged (the board was read again)
    // gets no `dragend`: the first mouse move after a drag ends it (the
    // browser sends none during one). Escape closes the dialog.
    #[cfg(feature = "hydrate")]
    {
        let moved = window_event_listener(leptos::ev::mousemove, move |_| {
            if moves.dragging.with_untracked(Option::is_some) {
                moves.end_drag();
            }
        });
        let key = window_event_listener(leptos::ev::keydown, move |ev| {
            if ev.key() == "Escape" && moves.pending.with_untracked(Option::is_some) {
                moves.pending.set(None);
            }
        });
        on_cleanup(move || {
            moved.remove();
            key.remove();
        });
    }
    // A move that went through closes its dialog.
    Effect::new(move |_| {
        if matches!(moves.start.value().get(), Some(Ok(_))) {
            moves.pending.set(None);
        }
    });
    Effect::new(move |_| {
        if matches!(moves.update.value().get(), Some(Ok(_))) {
            moves.pending.set(None);
        }
    });

    view! {
        <PageHeader title="Board" subtitle="Every open issue by where its work stands. Drag a card to “In progress” to start a workflow on it, or to “Done” to close it." />
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                repos.await.ok().map(|list| view! { <BoardFilters filters=filters repos=list /> })
            })}
        </Transition>
        <Transition fallback=|| view! { <p class="text-sm text-slate-500">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let workflows = workflows.await.unwrap_or_default();
                match board.await {
                    Err(e) => view! { <p class="text-sm text-rose-600">{e.to_string()}</p> }.into_any(),
                    Ok(b) => view! { <Columns board=b workflows=workflows moves=moves /> }.into_any(),
                }
            })}
        </Transition>
        <MoveDialog moves=moves />
    }
}

/// A GET form: the filters live in the address.
#[component]
fn BoardFilters(filters: Memo<BoardQuery>, repos: Vec<Repository>) -> impl IntoView {
    let select = "mt-1 w-full min-w-0 rounded-md border border-slate-300 bg-white px-2 py-1.5 text-sm dark:border-slate-700 dark:bg-slate-950";
    let label = "flex min-w-0 flex-col text-xs font-medium text-slate-600 dark:text-slate-400";
    move || {
        let f = filters.get();
        let repos = repos.clone();
        view! {
            <form method="get" action="/board" class="mb-4 grid grid-cols-2 items-end gap-3 text-sm sm:flex sm:flex-wrap" role="search" data-testid="board-filters">
                <label class=label>
                    "Repository"
                    <select name="repo" class=select>
                        <option value="">"Any"</option>
                        {repos.into_iter().map(|r| view! {
                            <option value=r.id.to_string() selected=f.repository_id == Some(r.id)>{r.name}</option>
                        }).collect_view()}
                    </select>
                </label>
                <label class=label>
                    "Label"
                    <input name="label" class=select value=f.label.clone().unwrap_or_default() size="12" />
                </label>
                <button type="submit" class=SECONDARY>"Filter"</button>
                <a class=format!("{LINK} text-sm sm:ml-auto sm:self-center") href="/issues">"The issue list"</a>
            </form>
        }
    }
}

#[component]
fn Columns(board: Board, workflows: Vec<Workflow>, moves: Moves) -> impl IntoView {
    let usual = board.usual_workflows();
    let not_shown = board.open_not_shown;
    view! {
        {(not_shown > 0).then(|| view! {
            <p class="mb-3 text-sm text-slate-600 dark:text-slate-400" data-testid="board-more">
                {format!("{not_shown} more open issues are not on the board (it holds the {} most recently updated). ", crate::model::BOARD_OPEN_LIMIT)}
                <a class=LINK href="/issues">"The issue list has them all."</a>
            </p>
        })}
        <div class="board-grid" data-testid="board">
            {BoardColumn::ALL.into_iter().map(|column| {
                let cards: Vec<BoardCard> = board.column(column).cloned().collect();
                view! { <Column column=column cards=cards workflows=workflows.clone() usual=usual.clone() moves=moves /> }
            }).collect_view()}
        </div>
    }
}

#[component]
fn Column(
    column: BoardColumn,
    cards: Vec<BoardCard>,
    workflows: Vec<Workflow>,
    usual: HashMap<crate::model::RepositoryId, WorkflowId>,
    moves: Moves,
) -> impl IntoView {
    let count = cards.len();
    let allowed = move || {
        moves.dragging.with(|d| {
            d.as_ref()
                .is_some_and(|c| board_move(c.column, column).is_some())
        })
    };
    let class = move || {
        let base = "flex min-h-32 flex-col gap-3 rounded-xl border p-3 transition-colors";
        let state = match (moves.dragging.with(Option::is_some), allowed(), moves.over.get() == Some(column)) {
            (true, true, true) => "border-indigo-400 bg-indigo-50 dark:border-indigo-500 dark:bg-indigo-950/40",
            (true, true, false) => "border-dashed border-indigo-300 bg-slate-50 dark:border-indigo-800 dark:bg-slate-900/60",
            (true, false, _) => "border-slate-200 bg-slate-50 opacity-60 dark:border-slate-800 dark:bg-slate-900/60",
            _ => "border-slate-200 bg-slate-50 dark:border-slate-800 dark:bg-slate-900/60",
        };
        format!("{base} {state}")
    };
    let (drop_usual, drop_workflows) = (usual.clone(), workflows.clone());
    let empty = match column {
        BoardColumn::Todo => "Nothing waiting to be picked up.",
        BoardColumn::InProgress => "Nothing running. Drag a card here to start a workflow on it.",
        BoardColumn::Waiting => "Nothing waits for a person.",
        BoardColumn::Done => "Nothing closed in the last two weeks.",
    };
    view! {
        <section
            class=class
            aria-label=column.title()
            data-testid="board-column"
            data-column=column.as_str()
            on:dragover=move |ev: leptos::ev::DragEvent| {
                if allowed() {
                    ev.prevent_default();
                    moves.over.set(Some(column));
                }
            }
            on:dragleave=move |_| {
                if moves.over.get_untracked() == Some(column) {
                    moves.over.set(None);
                }
            }
            on:drop=move |ev: leptos::ev::DragEvent| {
                ev.prevent_default();
                moves.over.set(None);
                let Some(dragged) = moves.dragging.get_untracked() else { return };
                moves.end_drag();
                let id = dragged.issue.id;
                let fresh = moves.board.with_untracked(|b| {
                    b.as_ref()
                        .and_then(|b| b.as_ref().ok())
                        .and_then(|b| b.cards.iter().find(|c| c.issue.id == id).cloned())
                });
                let Some(card) = fresh else { return };
                let Some(kind) = board_move(card.column, column) else { return };
                moves.start.value().set(None);
                moves.update.value().set(None);
                let usual = drop_usual.get(&card.issue.repository_id).copied();
                let workflows = drop_workflows.clone();
                moves.pending.set(Some(PendingMove { card, kind, usual, workflows }));
            }
        >
            <h2 class="flex items-center justify-between text-sm font-semibold">
                <span>{column.title()}</span>
                <span class="rounded-full bg-slate-200 px-2 text-xs font-medium text-slate-700 dark:bg-slate-800 dark:text-slate-300" data-testid="column-count">{count}</span>
            </h2>
            {if cards.is_empty() {
                view! { <p class="text-xs text-slate-500">{empty}</p> }.into_any()
            } else {
                view! {
                    <ul class="flex flex-col gap-2">
                        {cards.into_iter().map(|card| {
                            let usual = usual.get(&card.issue.repository_id).copied();
                            view! { <Card card=card workflows=workflows.clone() usual=usual moves=moves /> }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
    }
}

#[component]
fn Card(
    card: BoardCard,
    workflows: Vec<Workflow>,
    usual: Option<WorkflowId>,
    moves: Moves,
) -> impl IntoView {
    let issue = card.issue.clone();
    let id = issue.id;
    let column = card.column;
    let dragged = card.clone();
    let is_dragged = move || {
        moves
            .dragging
            .with(|d| d.as_ref().is_some_and(|c| c.issue.id == id))
    };
    view! {
        <li
            class=move || format!(
                "rounded-lg border border-slate-200 bg-white p-3 text-sm shadow-sm dark:border-slate-700 dark:bg-slate-900 {}",
                if is_dragged() { "opacity-50" } else { "cursor-grab" },
            )
            draggable="true"
            data-testid="board-card"
            data-issue=id.to_string()
            data-column=column.as_str()
            on:dragstart=move |ev: leptos::ev::DragEvent| {
                #[cfg(feature = "hydrate")]
                if let Some(dt) = ev.data_transfer() {
                    let _ = dt.set_data("text/plain", &id.to_string());
                    dt.set_effect_allowed("move");
                }
                #[cfg(not(feature = "hydrate"))]
                let _ = ev;
                moves.dragging.set(Some(dragged.clone()));
            }
            on:dragend=move |_| moves.end_drag()
        >
            <p class="text-xs text-slate-500">
                {format!("#{} · {}", issue.number, issue.repository_name)}
            </p>
            <a class="mt-0.5 block font-medium hover:underline" href=format!("/issues/{id}") data-testid="card-title">{issue.title.clone()}</a>
            {(!issue.labels.is_empty() || issue.assignee.is_some()).then(|| view! {
                <div class="mt-2 flex flex-wrap items-center gap-1">
                    {issue.labels.iter().cloned().map(|l| view! { <LabelChip label=l /> }).collect_view()}
                    {issue.assignee.clone().map(|a| view! {
                        <span class="text-xs text-slate-600 dark:text-slate-400" title="Assignee" data-testid="card-assignee">{format!("@{a}")}</span>
                    })}
                </div>
            })}
            {card.latest_run.clone().map(|run| view! { <RunLine run=run progress=moves.progress /> })}
            {card.pr_url().map(|u| view! {
                <a class=format!("{LINK} mt-2 inline-block text-xs") href=u.to_string() rel="external noopener" target="_blank" data-testid="card-pr">"Pull request"</a>
            })}
            <CardActions card=card workflows=workflows usual=usual moves=moves />
        </li>
    }
}

/// The latest run: its status, name, progress and when.
#[component]
fn RunLine(run: LatestRun, progress: RwSignal<HashMap<ExecutionId, u8>>) -> impl IntoView {
    let href = run.href();
    let name = run.name().to_string();
    let at = run.at();
    let (badge, percent) = match run {
        LatestRun::Workflow(r) => {
            let percent = (r.steps_done * 100)
                .checked_div(r.steps_total)
                .unwrap_or(0)
                .min(100) as u8;
            let title = format!("{} of {} steps", r.steps_done, r.steps_total);
            (
                view! { <RunStatusBadge status=Signal::stored(r.status) /> }.into_any(),
                Signal::stored((percent, title)),
            )
        }
        LatestRun::Agent(e) => {
            let (id, stored, ended) = (e.id, e.progress, e.status.is_terminal());
            let percent = Signal::derive(move || {
                let p = if ended {
                    stored
                } else {
                    progress
                        .with(|p| p.get(&id).copied())
                        .unwrap_or(stored)
                        .max(stored)
                };
                (p.min(100), format!("{p}%"))
            });
            (
                view! { <StatusBadge status=Signal::stored(e.status) /> }.into_any(),
                percent,
            )
        }
    };
    view! {
        <div class="mt-2 border-t border-slate-100 pt-2 dark:border-slate-800" data-testid="card-run">
            <div class="flex flex-wrap items-center gap-2 text-xs">
                {badge}
                <a class=LINK href=href>{name}</a>
                <span class="text-slate-400"><Time ms=at /></span>
            </div>
            <div
                class="mt-1.5 h-1.5 overflow-hidden rounded-full bg-slate-200 dark:bg-slate-700"
                role="progressbar"
                aria-label="Progress"
                aria-valuemin="0"
                aria-valuemax="100"
                aria-valuenow=move || percent.get().0.to_string()
                title=move || percent.get().1
                data-testid="card-progress"
            >
                <div class="h-full rounded-full bg-indigo-500" style=move || format!("width: {}%", percent.get().0)></div>
            </div>
        </div>
    }
}

/// What can be done to a card without dragging it: plain forms (they work
/// without JavaScript, and from the keyboard).
#[component]
fn CardActions(
    card: BoardCard,
    workflows: Vec<Workflow>,
    usual: Option<WorkflowId>,
    moves: Moves,
) -> impl IntoView {
    let id = card.issue.id;
    let column = card.column;
    let start = (column == BoardColumn::Todo && !workflows.is_empty()).then(|| view! {
        <form
            method="post"
            action=StartWorkflow::url()
            class="flex items-end gap-2"
            on:submit=submit_with(moves.start, |_: &mut StartWorkflow| {})
        >
            <input type="hidden" name="issue_id" value=id.to_string() />
            <label class="min-w-0 flex-1 text-xs font-medium">
                "Workflow"
                <select name="workflow_id" class=INPUT>
                    {workflows.into_iter().map(|w| view! {
                        <option value=w.id.to_string() selected=usual == Some(w.id)>{w.name}</option>
                    }).collect_view()}
                </select>
            </label>
            <button type="submit" class=PRIMARY>"Start"</button>
        </form>
    });
    let (state, text) = if column == BoardColumn::Done {
        ("open", "Reopen issue")
    } else {
        ("closed", "Close issue")
    };
    view! {
        <details class="mt-2 text-xs" data-testid="card-actions">
            <summary class="cursor-pointer font-medium text-slate-500 hover:text-slate-700 dark:hover:text-slate-300">"Actions"</summary>
            <div class="mt-2 flex flex-col gap-2">
                {start}
                <form
                    method="post"
                    action=UpdateIssue::url()
                    on:submit=submit_with(moves.update, |_: &mut UpdateIssue| {})
                >
                    <input type="hidden" name="id" value=id.to_string() />
                    <input type="hidden" name="update[state]" value=state />
                    <button type="submit" class=SECONDARY>{text}</button>
                </form>
            </div>
        </details>
    }
}

/// Asks before a dragged card's move: which workflow to start, or whether
/// to close or reopen the issue.
#[component]
fn MoveDialog(moves: Moves) -> impl IntoView {
    let start_error = action_error(moves.start);
    let update_error = action_error(moves.update);
    let cancel = move || moves.pending.set(None);
    let dialog = NodeRef::<leptos::html::Div>::new();
    // Focus goes into the dialog when it opens (its first choice or its
    // button), and back to where it was when it closes.
    #[cfg(feature = "hydrate")]
    {
        use leptos::wasm_bindgen::JsCast;
        let before = StoredValue::new_local(None::<web_sys::HtmlElement>);
        Effect::new(move |_| match dialog.get() {
            Some(el) => {
                let active = web_sys::window()
                    .and_then(|w| w.document())
                    .and_then(|d| d.active_element())
                    .and_then(|a| a.dyn_into::<web_sys::HtmlElement>().ok());
                before.set_value(active);
                if let Some(first) = el
                    .query_selector("[autofocus]")
                    .ok()
                    .flatten()
                    .and_then(|f| f.dyn_into::<web_sys::HtmlElement>().ok())
                {
                    let _ = first.focus();
                }
            }
            None => {
                if let Some(el) = before.get_value() {
                    let _ = el.focus();
                }
            }
        });
    }
    move || {
        let pending = moves.pending.get()?;
        let issue = pending.card.issue.clone();
        let id = issue.id;
        let what = format!("#{} {}", issue.number, issue.title);
        let body = match pending.kind {
            BoardMove::StartWorkflow => {
                let list = pending.workflows.clone();
                if list.is_empty() {
                    view! {
                        <p class="mt-2 text-sm">"There is no workflow to start yet. "<a class=LINK href="/workflows/new">"Define one"</a>"."</p>
                        <div class="mt-4 flex justify-end">
                            <button type="button" class=SECONDARY on:click=move |_| cancel()>"Close"</button>
                        </div>
                    }.into_any()
                } else {
                    let chosen = pending.usual.or(list.first().map(|w| w.id));
                    view! {
                        <form
                            method="post"
                            action=StartWorkflow::url()
                            class="mt-3 flex flex-col gap-3"
                            on:submit=submit_with(moves.start, |_: &mut StartWorkflow| {})
                        >
                            <input type="hidden" name="issue_id" value=id.to_string() />
                            <label class="block text-sm font-medium">
                                "Workflow"
                                <select name="workflow_id" class=INPUT autofocus data-testid="move-workflow">
                                    {list.into_iter().map(|w| view! {
                                        <option value=w.id.to_string() selected=chosen == Some(w.id)>{w.name}</option>
                                    }).collect_view()}
                                </select>
                            </label>
                            {pending.usual.is_some().then(|| view! {
                                <p class="text-xs text-slate-500">"Preselected: the workflow this repository’s issues were last run through."</p>
                            })}
                            <FormError message=start_error />
                            <div class="flex justify-end gap-2">
                                <button type="button" class=SECONDARY on:click=move |_| cancel()>"Cancel"</button>
                                <button type="submit" class=PRIMARY disabled=move || moves.start.pending().get()>"Start workflow"</button>
                            </div>
                        </form>
                    }.into_any()
                }
            }
            BoardMove::Close | BoardMove::Reopen => {
                let closing = pending.kind == BoardMove::Close;
                let running = pending.card.column == BoardColumn::InProgress;
                view! {
                    {(closing && running).then(|| view! {
                        <p class="mt-2 text-sm text-amber-700 dark:text-amber-300">"Its run goes on: cancel it from the run’s page if it should stop."</p>
                    })}
                    <form
                        method="post"
                        action=UpdateIssue::url()
                        class="mt-4 flex flex-col gap-3"
                        on:submit=submit_with(moves.update, |_: &mut UpdateIssue| {})
                    >
                        <input type="hidden" name="id" value=id.to_string() />
                        <input type="hidden" name="update[state]" value=if closing { "closed" } else { "open" } />
                        <FormError message=update_error />
                        <div class="flex justify-end gap-2">
                            <button type="button" class=SECONDARY on:click=move |_| cancel()>"Cancel"</button>
                            <button type="submit" class=PRIMARY autofocus disabled=move || moves.update.pending().get()>
                                {if closing { "Close issue" } else { "Reopen issue" }}
                            </button>
                        </div>
                    </form>
                }.into_any()
            }
        };
        let title = match pending.kind {
            BoardMove::StartWorkflow => "Start a workflow",
            BoardMove::Close => "Close the issue",
            BoardMove::Reopen => "Reopen the issue",
        };
        Some(view! {
            <div
                class="fixed inset-0 z-40 flex items-center justify-center bg-slate-900/40 p-4"
                on:click=move |_| cancel()
            >
                <div
                    node_ref=dialog
                    class="w-full max-w-md rounded-xl border border-slate-200 bg-white p-5 shadow-xl dark:border-slate-700 dark:bg-slate-900"
                    role="dialog"
                    aria-modal="true"
                    aria-labelledby="move-title"
                    data-testid="move-dialog"
                    on:click=|ev| ev.stop_propagation()
                >
                    <h2 id="move-title" class="text-base font-semibold">{title}</h2>
                    <p class="mt-1 text-sm text-slate-600 dark:text-slate-400">{what}</p>
                    {body}
                </div>
            </div>
        })
    }
}

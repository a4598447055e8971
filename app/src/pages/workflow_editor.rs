//! `/workflows/new` and `/workflows/:id`: the workflow editor, with a live
//! graph of what is being defined; below it, the workflow's runs.
//!
//! The definition is one `RwSignal<WorkflowDefinition>`; each stage and
//! step view reads and writes its place in it by index, so typing never
//! rebuilds an input (the caret stays put) and moving a stage simply shows
//! other values in the same inputs. Like the agent form, this needs
//! JavaScript.

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map};

use super::common::workflow_version;
use super::common::{FormError, CARD, DANGER, INPUT, LINK, PRIMARY, SECONDARY};
use super::workflows::{is_admin, open_issue_choices, WorkflowRuns};
use crate::api::{
    delete_workflow, get_workflow, list_agents, list_workflow_runs, save_workflow, ApiError,
    StartWorkflow,
};
use crate::components::budget::{BudgetFields, BudgetForm};
use crate::components::{
    empty_state::{Missing, PageHeader},
    workflow_graph::{GraphNode, GraphStage, WorkflowGraph},
};
use crate::model::{
    validate_definition, Agent, AgentId, OnFailure, Stage, Step, Workflow, WorkflowDefinition,
    WorkflowId, WorkflowInput, PROMPT_PLACEHOLDERS,
};
use crate::state::use_session;

#[component]
pub fn WorkflowEditPage() -> impl IntoView {
    let ctx = use_session();
    let params = use_params_map();
    let id = move || {
        params
            .with(|p| p.get("id"))
            .and_then(|s| s.parse::<WorkflowId>().ok())
    };
    let is_new = move || params.with(|p| p.get("id").is_none());
    let workflow = Resource::new(
        move || (id(), is_new()),
        |(id, is_new)| async move {
            match (id, is_new) {
                (Some(id), _) => get_workflow(id).await.map(Some),
                (None, true) => Ok(None),
                (None, false) => Err(ApiError::NotFound),
            }
        },
    );
    let agents = Resource::new(|| (), |_| list_agents());
    // The runs list's action and resource are made here, before anything is
    // awaited, so that hydration meets them in the server's order.
    let start = ServerAction::<StartWorkflow>::new();
    let version = workflow_version();
    let runs = Resource::new(
        move || (id(), version.get(), start.version().get()),
        |(id, _, _)| async move {
            match id {
                Some(id) => list_workflow_runs(Some(id)).await,
                None => Ok(Vec::new()),
            }
        },
    );
    let issues = open_issue_choices();
    view! {
        <Suspense fallback=|| view! { <p class="text-sm text-slate-500">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let admin = is_admin(ctx).await;
                let agents = agents.await;
                match (workflow.await, agents) {
                    (Ok(existing), Ok(agents)) => {
                        let runs = existing.clone().map(|w| view! { <WorkflowRuns workflow=w start=start runs=runs issues=issues /> });
                        view! {
                            <WorkflowEditor existing=existing agents=agents admin=admin />
                            {runs}
                        }.into_any()
                    }
                    (Err(ApiError::NotFound), _) => view! {
                        <Missing title="Workflow not found" body="There is no such workflow: it may have been deleted, or the address is wrong." back_href="/workflows" back_label="All workflows" />
                    }.into_any(),
                    (Err(e), _) | (_, Err(e)) => view! { <p class="text-sm text-rose-600">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The smallest `step-N` not yet used as a key.
fn fresh_key(def: &WorkflowDefinition) -> String {
    (1..)
        .map(|n| format!("step-{n}"))
        .find(|k| {
            !def.stages
                .iter()
                .flat_map(|s| &s.steps)
                .any(|s| &s.key == k)
        })
        .unwrap_or_default()
}

/// What the graph shows for a definition being edited.
fn preview(def: &WorkflowDefinition, agents: &[Agent]) -> Vec<GraphStage> {
    def.stages
        .iter()
        .map(|stage| GraphStage {
            name: stage.name.clone(),
            nodes: stage
                .steps
                .iter()
                .map(|step| GraphNode {
                    key: if step.key.is_empty() {
                        "(no key)".into()
                    } else {
                        step.key.clone()
                    },
                    agent: agents
                        .iter()
                        .find(|a| a.id == step.agent_id)
                        .map(|a| a.name.clone())
                        .unwrap_or_else(|| "unknown agent".into()),
                    status: None,
                    approval: step.approval,
                    detail: (step.on_failure == OnFailure::Continue)
                        .then(|| "continues on failure".into()),
                    href: None,
                })
                .collect(),
        })
        .collect()
}

/// Checks the whole form; the message says what to fix.
fn check(name: &str, def: &WorkflowDefinition) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("the workflow needs a name".into());
    }
    validate_definition(def)
}

#[component]
fn WorkflowEditor(existing: Option<Workflow>, agents: Vec<Agent>, admin: bool) -> impl IntoView {
    let navigate = use_navigate();
    let id = existing.as_ref().map(|w| w.id);
    let name = RwSignal::new(
        existing
            .as_ref()
            .map(|w| w.name.clone())
            .unwrap_or_default(),
    );
    let description = RwSignal::new(
        existing
            .as_ref()
            .map(|w| w.description.clone())
            .unwrap_or_default(),
    );
    let trigger = RwSignal::new(
        existing
            .as_ref()
            .and_then(|w| w.trigger_label.clone())
            .unwrap_or_default(),
    );
    let assignee = RwSignal::new(
        existing
            .as_ref()
            .and_then(|w| w.trigger_assignee.clone())
            .unwrap_or_default(),
    );
    let budget = BudgetForm::new(existing.as_ref().map(|w| w.budget).unwrap_or_default());
    let def = RwSignal::new(existing.map(|w| w.definition).unwrap_or_default());
    let agents = StoredValue::new(agents);
    let problem = RwSignal::new(None::<String>);

    let save = Action::new(move |input: &WorkflowInput| save_workflow(id, input.clone()));
    let remove = Action::new(move |_: &()| async move {
        match id {
            Some(id) => delete_workflow(id).await,
            None => Ok(()),
        }
    });
    {
        let navigate = navigate.clone();
        Effect::new(move |_| {
            if let Some(Ok(_)) = save.value().get() {
                navigate("/workflows", Default::default());
            }
        });
    }
    Effect::new(move |_| {
        if let Some(Ok(())) = remove.value().get() {
            navigate("/workflows", Default::default());
        }
    });
    let error = Signal::derive(move || {
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
    });
    let graph = Signal::derive(move || def.with(|d| agents.with_value(|a| preview(d, a))));
    let stage_count = move || def.with(|d| d.stages.len());

    let add_stage = move |_| {
        def.update(|d| d.stages.push(Stage::default()));
    };
    let title = if id.is_some() {
        "Edit workflow"
    } else {
        "New workflow"
    };

    view! {
        <PageHeader title=title subtitle="Stages run one after another; the steps of a stage run side by side. A step with an approval gate waits for a person." />
        <noscript>
            <p class="mb-4 rounded-md border border-amber-300 bg-amber-50 px-3 py-2 text-sm text-amber-900 dark:border-amber-800 dark:bg-amber-950 dark:text-amber-200">
                "The workflow editor needs JavaScript. Workflows can still be run, approved and cancelled without it."
            </p>
        </noscript>
        {(!admin).then(|| view! {
            <p class="mb-4 rounded-md border border-slate-300 bg-slate-50 px-3 py-2 text-sm text-slate-700 dark:border-slate-700 dark:bg-slate-900 dark:text-slate-300">
                "Only administrators can change workflows. You can read this one and run it."
            </p>
        })}
        <div class="grid gap-6 xl:grid-cols-5">
            <form
                class="flex flex-col gap-4 xl:col-span-3"
                on:submit=move |ev| {
                    ev.prevent_default();
                    let budget = match budget.parse() {
                        Ok(b) => b,
                        Err(e) => {
                            problem.set(Some(e));
                            return;
                        }
                    };
                    let input = WorkflowInput {
                        name: name.get_untracked().trim().to_string(),
                        description: description.get_untracked().trim().to_string(),
                        trigger_label: Some(trigger.get_untracked().trim().to_string()).filter(|t| !t.is_empty()),
                        trigger_assignee: Some(assignee.get_untracked().trim().to_string()).filter(|t| !t.is_empty()),
                        definition: def.get_untracked(),
                        budget,
                    };
                    match check(&input.name, &input.definition) {
                        Ok(()) => {
                            problem.set(None);
                            save.dispatch(input);
                        }
                        Err(e) => problem.set(Some(e)),
                    }
                }
            >
                <section class=format!("grid gap-4 {CARD}")>
                    <label class="block text-sm font-medium">
                        "Name"
                        <input class=INPUT required maxlength="100" bind:value=name value=name.get_untracked() />
                    </label>
                    <label class="block text-sm font-medium">
                        "Description"
                        <textarea class=INPUT rows="2" bind:value=description>{description.get_untracked()}</textarea>
                    </label>
                    <label class="block text-sm font-medium">
                        "Trigger label (optional)"
                        <input class=INPUT maxlength="50" bind:value=trigger value=trigger.get_untracked() placeholder="e.g. agent-ready" />
                        <span class="mt-1 block text-xs font-normal text-slate-500">"When an issue gets this label, the workflow starts on it."</span>
                    </label>
                    <label class="block text-sm font-medium">
                        "Trigger assignee (optional)"
                        <input class=INPUT maxlength="100" bind:value=assignee value=assignee.get_untracked() placeholder="e.g. yagura-bot" />
                        <span class="mt-1 block text-xs font-normal text-slate-500">"When an issue is assigned to this user (a GitHub login on synced repositories), the workflow starts on it."</span>
                    </label>
                    <BudgetFields form=budget what="a run of this workflow (its steps summed)" />
                </section>
                <For each=move || 0..stage_count() key=|i| *i let:i>
                    <StageEditor i=i def=def agents=agents />
                </For>
                <div>
                    <button type="button" class=SECONDARY on:click=add_stage>"Add stage"</button>
                </div>
                <FormError message=error />
                <div class="flex items-center gap-3">
                    <button type="submit" class=PRIMARY disabled=move || !admin || save.pending().get()>"Save workflow"</button>
                    <a href="/workflows" class="text-sm text-slate-600 hover:underline dark:text-slate-400">"Cancel"</a>
                    {(id.is_some() && admin).then(|| view! {
                        <button type="button" class=format!("ml-auto {DANGER}") on:click=move |_| {
                            if crate::components::confirm::confirmed("Delete this workflow? Its past runs stay.") {
                                remove.dispatch(());
                            }
                        }>
                            "Delete"
                        </button>
                    })}
                </div>
            </form>
            <aside class="xl:col-span-2">
                <div class=format!("xl:sticky xl:top-4 {CARD}")>
                    <h2 class="mb-3 text-sm font-semibold text-slate-500 dark:text-slate-400">"Graph"</h2>
                    <WorkflowGraph stages=graph testid="workflow-graph" />
                    <p class="mt-3 text-xs text-slate-500">
                        "Prompts may use: "
                        {PROMPT_PLACEHOLDERS.iter().map(|p| view! { <code class="mr-1 rounded bg-slate-100 px-1 dark:bg-slate-800">{*p}</code> }).collect_view()}
                    </p>
                </div>
            </aside>
        </div>
    }
}

#[component]
fn StageEditor(
    i: usize,
    def: RwSignal<WorkflowDefinition>,
    agents: StoredValue<Vec<Agent>>,
) -> impl IntoView {
    let stage_name = move || {
        def.with(|d| d.stages.get(i).map(|s| s.name.clone()))
            .unwrap_or_default()
    };
    let steps = move || def.with(|d| d.stages.get(i).map_or(0, |s| s.steps.len()));
    let count = move || def.with(|d| d.stages.len());
    let no_agents = agents.with_value(Vec::is_empty);
    let add_step = move |_| {
        let Some(agent) = agents.with_value(|a| a.first().map(|a| a.id)) else {
            return;
        };
        def.update(|d| {
            let key = fresh_key(d);
            if let Some(stage) = d.stages.get_mut(i) {
                stage.steps.push(Step {
                    key,
                    agent_id: agent,
                    prompt: String::new(),
                    on_failure: OnFailure::Stop,
                    approval: false,
                });
            }
        });
    };
    let swap = move |other: usize| {
        def.update(|d| {
            if other < d.stages.len() && i < d.stages.len() {
                d.stages.swap(i, other);
            }
        })
    };
    let small = "rounded-md border border-slate-300 px-2 py-1 text-xs hover:bg-slate-100 disabled:opacity-40 dark:border-slate-700 dark:hover:bg-slate-800";
    view! {
        <fieldset class=CARD data-testid="stage-editor">
            <div class="flex flex-wrap items-end gap-2">
                <label class="block min-w-0 flex-1 text-sm font-medium">
                    {format!("Stage {}", i + 1)}
                    <input
                        class=INPUT
                        maxlength="80"
                        placeholder="e.g. Plan"
                        value=stage_name()
                        prop:value=stage_name
                        on:input=move |ev| {
                            let v = event_target_value(&ev);
                            def.update(|d| if let Some(s) = d.stages.get_mut(i) { s.name = v });
                        }
                    />
                </label>
                <button type="button" class=small aria-label=format!("Move stage {} earlier", i + 1) disabled={move || i == 0} on:click=move |_| { if i > 0 { swap(i - 1) } }>"←"</button>
                <button type="button" class=small aria-label=format!("Move stage {} later", i + 1) disabled={move || i + 1 >= count()} on:click=move |_| swap(i + 1)>"→"</button>
                <button
                    type="button"
                    class=small
                    aria-label=format!("Remove stage {}", i + 1)
                    on:click=move |_| def.update(|d| if i < d.stages.len() { d.stages.remove(i); })
                >
                    "Remove stage"
                </button>
            </div>
            <div class="mt-4 flex flex-col gap-3">
                <For each=move || 0..steps() key=|j| *j let:j>
                    <StepEditor i=i j=j def=def agents=agents />
                </For>
            </div>
            <div class="mt-3 flex items-center gap-3">
                <button type="button" class=SECONDARY disabled=no_agents on:click=add_step>"Add step"</button>
                {no_agents.then(|| view! {
                    <span class="text-xs text-slate-500">"Steps run agents: "<a class=LINK href="/agents/new">"add an agent"</a>" first."</span>
                })}
            </div>
        </fieldset>
    }
}

#[component]
fn StepEditor(
    i: usize,
    j: usize,
    def: RwSignal<WorkflowDefinition>,
    agents: StoredValue<Vec<Agent>>,
) -> impl IntoView {
    // Reads this step's field (empty once the step is gone, before its view
    // is dropped), and writes it.
    let read = move |f: fn(&Step) -> String| {
        def.with(|d| {
            d.stages
                .get(i)
                .and_then(|s| s.steps.get(j))
                .map(f)
                .unwrap_or_default()
        })
    };
    let write = move |f: &dyn Fn(&mut Step)| {
        def.update(|d| {
            if let Some(step) = d.stages.get_mut(i).and_then(|s| s.steps.get_mut(j)) {
                f(step)
            }
        })
    };
    let key = move || read(|s| s.key.clone());
    let agent = move || read(|s| s.agent_id.to_string());
    let prompt = move || read(|s| s.prompt.clone());
    let on_failure = move || {
        read(|s| match s.on_failure {
            OnFailure::Stop => "stop".into(),
            OnFailure::Continue => "continue".into(),
        })
    };
    let approval = move || {
        def.with(|d| {
            d.stages
                .get(i)
                .and_then(|s| s.steps.get(j))
                .is_some_and(|s| s.approval)
        })
    };
    let first_agent = agent();
    let first_failure = on_failure();
    view! {
        <div class="rounded-lg border border-slate-200 p-3 dark:border-slate-700" data-testid="step-editor">
            <div class="grid gap-3 sm:grid-cols-3">
                <label class="block text-sm font-medium">
                    "Key"
                    <input
                        class=format!("{INPUT} font-mono")
                        required
                        maxlength="40"
                        pattern="[A-Za-z0-9_\\-]+"
                        value=key()
                        prop:value=key
                        on:input=move |ev| {
                            let v = event_target_value(&ev);
                            write(&|s| s.key = v.trim().to_string());
                        }
                    />
                </label>
                <label class="block text-sm font-medium">
                    "Agent"
                    <select
                        class=INPUT
                        prop:value=agent
                        on:change=move |ev| {
                            if let Ok(id) = event_target_value(&ev).parse::<AgentId>() {
                                write(&|s| s.agent_id = id);
                            }
                        }
                    >
                        {agents.with_value(|list| list.iter().map(|a| {
                            let value = a.id.to_string();
                            view! { <option value=value.clone() selected=value == first_agent>{a.name.clone()}</option> }
                        }).collect_view())}
                    </select>
                </label>
                <label class="block text-sm font-medium">
                    "On failure"
                    <select
                        class=INPUT
                        prop:value=on_failure
                        on:change=move |ev| {
                            let v = if event_target_value(&ev) == "continue" { OnFailure::Continue } else { OnFailure::Stop };
                            write(&|s| s.on_failure = v);
                        }
                    >
                        <option value="stop" selected=first_failure == "stop">"Stop the run"</option>
                        <option value="continue" selected=first_failure == "continue">"Continue"</option>
                    </select>
                </label>
            </div>
            <label class="mt-3 block text-sm font-medium">
                "Prompt"
                <textarea
                    class=format!("{INPUT} font-mono")
                    rows="3"
                    prop:value=prompt
                    on:input=move |ev| {
                        let v = event_target_value(&ev);
                        write(&|s| s.prompt = v.clone());
                    }
                >
                    {prompt()}
                </textarea>
                <span class="mt-1 block text-xs font-normal text-slate-500">
                    "Given to the agent as {prompt}. Placeholders: "{PROMPT_PLACEHOLDERS.join(" ")}
                </span>
            </label>
            <div class="mt-3 flex items-center justify-between gap-3">
                <label class="inline-flex items-center gap-2 text-sm font-medium">
                    <input
                        type="checkbox"
                        checked=approval()
                        prop:checked=approval
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            write(&|s| s.approval = on);
                        }
                    />
                    "Needs approval"
                </label>
                <button
                    type="button"
                    class="text-xs font-medium text-rose-700 hover:underline dark:text-rose-300"
                    aria-label=move || format!("Remove step {}", key())
                    on:click=move |_| def.update(|d| {
                        if let Some(stage) = d.stages.get_mut(i) {
                            if j < stage.steps.len() {
                                stage.steps.remove(j);
                            }
                        }
                    })
                >
                    "Remove step"
                </button>
            </div>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(key: &str) -> Step {
        Step {
            key: key.into(),
            agent_id: AgentId(uuid::Uuid::nil()),
            prompt: String::new(),
            on_failure: OnFailure::Stop,
            approval: false,
        }
    }

    #[test]
    fn new_steps_get_an_unused_key() {
        let mut def = WorkflowDefinition::default();
        assert_eq!(fresh_key(&def), "step-1");
        def.stages.push(Stage {
            name: "a".into(),
            steps: vec![step("step-1"), step("step-3")],
        });
        assert_eq!(fresh_key(&def), "step-2");
    }

    #[test]
    fn the_form_is_checked_before_saving() {
        let def = WorkflowDefinition {
            stages: vec![Stage {
                name: "a".into(),
                steps: vec![step("plan")],
            }],
        };
        assert!(check("", &def).unwrap_err().contains("name"));
        assert_eq!(check("x", &def), Ok(()));
        assert!(check("x", &WorkflowDefinition::default()).is_err());
    }
}

#[cfg(all(test, feature = "ssr"))]
mod render_tests {
    use super::*;

    #[test]
    fn a_stage_renders_its_steps_with_labelled_fields() {
        let owner = Owner::new();
        owner.set();
        let agent: Agent = serde_json::from_value(serde_json::json!({
            "id": uuid::Uuid::nil(), "name": "Claude", "agentType": "CodeGen",
            "command": ["claude"], "env": {}, "timeoutSecs": 60, "outputCapBytes": 1024,
            "createdAt": 0, "updatedAt": 0
        }))
        .unwrap();
        let def = RwSignal::new(WorkflowDefinition {
            stages: vec![Stage {
                name: "Plan".into(),
                steps: vec![Step {
                    key: "plan".into(),
                    agent_id: agent.id,
                    prompt: "Plan {issue.title}".into(),
                    on_failure: OnFailure::Continue,
                    approval: true,
                }],
            }],
        });
        let agents = StoredValue::new(vec![agent]);
        let html = view! { <StageEditor i=0 def=def agents=agents /> }.to_html();
        for label in [
            "Stage 1",
            "Key",
            "Agent",
            "Prompt",
            "On failure",
            "Needs approval",
            "Add step",
        ] {
            assert!(html.contains(label), "{label}: {html}");
        }
        assert!(html.contains(r#"value="plan""#), "{html}");
        assert!(html.contains("Plan {issue.title}</textarea>"), "{html}");
        assert!(
            html.contains(r#"<option value="continue" selected"#),
            "{html}"
        );
        assert!(html.contains("checked"), "{html}");
    }
}

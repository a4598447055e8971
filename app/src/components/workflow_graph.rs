//! A workflow drawn as an SVG: stages are columns from left to right, the
//! steps of a stage (which run in parallel) are boxes in its column, and
//! lines join each stage to the next. The editor shows it as a preview; a
//! run's page colours each box by the step's status.
//!
//! Plain SVG rendered on the server, so it shows without JavaScript; the
//! link to a step's execution is an SVG `<a>`.

use leptos::prelude::*;

use crate::model::StepStatus;

/// One column of the graph.
#[derive(Clone, Debug, PartialEq)]
pub struct GraphStage {
    pub name: String,
    pub nodes: Vec<GraphNode>,
}

/// One box of the graph.
#[derive(Clone, Debug, PartialEq)]
pub struct GraphNode {
    pub key: String,
    /// The agent's name.
    pub agent: String,
    /// `None` in the editor, where nothing has run.
    pub status: Option<StepStatus>,
    /// A person must approve before the step starts.
    pub approval: bool,
    /// A third line: the duration, or who decided the gate.
    pub detail: Option<String>,
    /// Where its execution is shown.
    pub href: Option<String>,
}

const PAD: f64 = 12.0;
const HEAD: f64 = 30.0;
const COL_W: f64 = 190.0;
const COL_GAP: f64 = 56.0;
const NODE_H: f64 = 68.0;
const NODE_GAP: f64 = 14.0;

fn col_x(i: usize) -> f64 {
    PAD + i as f64 * (COL_W + COL_GAP)
}

fn node_y(j: usize) -> f64 {
    PAD + HEAD + j as f64 * (NODE_H + NODE_GAP)
}

fn node_mid(j: usize) -> f64 {
    node_y(j) + NODE_H / 2.0
}

/// Shortens a label to `max` characters, with an ellipsis.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

fn box_class(status: Option<StepStatus>) -> &'static str {
    match status {
        None => "fill-white stroke-indigo-400 dark:fill-slate-900 dark:stroke-indigo-500",
        Some(StepStatus::Pending) => {
            "fill-slate-50 stroke-slate-300 dark:fill-slate-900 dark:stroke-slate-600"
        }
        Some(StepStatus::WaitingApproval) => {
            "fill-amber-50 stroke-amber-500 dark:fill-amber-950 dark:stroke-amber-500"
        }
        Some(StepStatus::Running) => {
            "fill-sky-50 stroke-sky-500 animate-pulse dark:fill-sky-950 dark:stroke-sky-400"
        }
        Some(StepStatus::Completed) => {
            "fill-emerald-50 stroke-emerald-500 dark:fill-emerald-950 dark:stroke-emerald-500"
        }
        Some(StepStatus::Failed) => {
            "fill-rose-50 stroke-rose-500 dark:fill-rose-950 dark:stroke-rose-500"
        }
        Some(StepStatus::Cancelled | StepStatus::Skipped | StepStatus::Rejected) => {
            "fill-zinc-100 stroke-zinc-300 dark:fill-zinc-900 dark:stroke-zinc-700"
        }
    }
}

/// The SVG `d` of the lines from stage `i` (with `from` steps) to the next
/// (with `to` steps): each step joins a vertical bus between the columns,
/// which joins each step of the next stage.
fn joins(i: usize, from: usize, to: usize) -> (String, Vec<String>) {
    let bus = col_x(i) + COL_W + COL_GAP / 2.0;
    let mut d = String::new();
    for j in 0..from.max(1) {
        d.push_str(&format!("M{} {}H{} ", col_x(i) + COL_W, node_mid(j), bus));
    }
    let last = from.max(to).max(1) - 1;
    if last > 0 {
        d.push_str(&format!("M{} {}V{} ", bus, node_mid(0), node_mid(last)));
    }
    let arrows = (0..to.max(1))
        .map(|j| format!("M{} {}H{}", bus, node_mid(j), col_x(i + 1) - 2.0))
        .collect();
    (d, arrows)
}

#[component]
pub fn WorkflowGraph(
    #[prop(into)] stages: Signal<Vec<GraphStage>>,
    /// `data-testid` of the `<svg>`; also makes the marker id unique.
    testid: &'static str,
) -> impl IntoView {
    let marker = format!("{testid}-arrow");
    move || {
        let stages = stages.get();
        if stages.is_empty() {
            return view! {
                <p class="rounded-lg border border-dashed border-slate-300 p-6 text-center text-sm text-slate-500 dark:border-slate-700" data-testid=testid>
                    "Add a stage to see the graph."
                </p>
            }
            .into_any();
        }
        let n = stages.len();
        let rows = stages
            .iter()
            .map(|s| s.nodes.len())
            .max()
            .unwrap_or(0)
            .max(1);
        let width = 2.0 * PAD + n as f64 * COL_W + (n - 1) as f64 * COL_GAP;
        let height = node_y(rows) - NODE_GAP + PAD;
        let marker_url = format!("url(#{marker})");
        let lines = (0..n.saturating_sub(1))
            .map(|i| {
                let (d, arrows) = joins(i, stages[i].nodes.len(), stages[i + 1].nodes.len());
                let marker_url = marker_url.clone();
                view! {
                    <path d=d fill="none" stroke-width="1.5" class="stroke-slate-400 dark:stroke-slate-500" />
                    {arrows.into_iter().map(|a| view! {
                        <path d=a fill="none" stroke-width="1.5" marker-end=marker_url.clone() class="stroke-slate-400 dark:stroke-slate-500" />
                    }).collect_view()}
                }
            })
            .collect_view();
        let columns = stages
            .into_iter()
            .enumerate()
            .map(|(i, stage)| {
                let x = col_x(i);
                let title = if stage.name.trim().is_empty() {
                    format!("Stage {}", i + 1)
                } else {
                    clip(&stage.name, 26)
                };
                let empty = stage.nodes.is_empty().then(|| view! {
                    <g>
                        <rect x=x y=node_y(0) width=COL_W height=NODE_H rx="10" fill="none" stroke-width="1.5" stroke-dasharray="4 4" class="stroke-slate-300 dark:stroke-slate-600" />
                        <text x=x + COL_W / 2.0 y=node_mid(0) + 4.0 text-anchor="middle" font-size="12" class="fill-slate-500 dark:fill-slate-400">"no steps yet"</text>
                    </g>
                });
                let nodes = stage
                    .nodes
                    .into_iter()
                    .enumerate()
                    .map(|(j, node)| view! { <Node node=node x=x y=node_y(j) /> })
                    .collect_view();
                view! {
                    <g data-stage=i.to_string()>
                        <text x=x + 2.0 y=PAD + 14.0 font-size="12" font-weight="600" class="fill-slate-500 dark:fill-slate-400">
                            {title}
                        </text>
                        {empty}
                        {nodes}
                    </g>
                }
            })
            .collect_view();
        view! {
            <div class="overflow-x-auto">
                <svg
                    data-testid=testid
                    role="img"
                    aria-label="Workflow graph: stages from left to right"
                    width=width
                    height=height
                    viewBox=format!("0 0 {width} {height}")
                    class="max-w-none"
                >
                    <defs>
                        <marker id=marker.clone() viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
                            <path d="M0 0L10 5L0 10z" class="fill-slate-400 dark:fill-slate-500" />
                        </marker>
                    </defs>
                    {lines}
                    {columns}
                </svg>
            </div>
        }
        .into_any()
    }
}

#[component]
fn Node(node: GraphNode, x: f64, y: f64) -> impl IntoView {
    let status = node.status;
    let tooltip = match status {
        Some(s) => format!("{} · {} · {}", node.key, node.agent, s.as_str()),
        None => format!("{} · {}", node.key, node.agent),
    };
    let third = node
        .detail
        .clone()
        .or_else(|| status.map(|s| super::status::words(s.as_str())));
    view! {
        <g
            data-step=node.key.clone()
            data-status=status.map(|s| s.as_str())
            data-approval=node.approval.then_some("true")
        >
            <title>{tooltip}</title>
            <rect x=x y=y width=COL_W height=NODE_H rx="10" stroke-width="1.5" class=box_class(status) />
            // The padlock goes before the key, where a narrow editor
            // column cannot cut it off.
            <text x=x + if node.approval { 28.0 } else { 12.0 } y=y + 21.0 font-size="13" font-weight="600" class="fill-slate-900 dark:fill-slate-100">
                {clip(&node.key, if node.approval { 20 } else { 22 })}
            </text>
            <text x=x + 12.0 y=y + 39.0 font-size="11" class="fill-slate-600 dark:fill-slate-300">
                {clip(&node.agent, 28)}
            </text>
            {third.map(|t| view! {
                <text x=x + 12.0 y=y + 56.0 font-size="11" class="fill-slate-500 dark:fill-slate-400">{clip(&t, 18)}</text>
            })}
            {node.approval.then(|| view! {
                // A padlock: the step waits at an approval gate.
                <g transform=format!("translate({} {})", x + 10.0, y + 8.0) class="fill-amber-500 stroke-amber-500" data-testid="approval-lock">
                    <title>"Needs approval"</title>
                    <rect x="2" y="6" width="10" height="8" rx="1.5" stroke="none" />
                    <path d="M4.5 6V4a2.5 2.5 0 0 1 5 0v2" fill="none" stroke-width="1.5" />
                </g>
            })}
            {node.href.map(|href| view! {
                <a href=href>
                    <text x=x + COL_W - 10.0 y=y + NODE_H - 10.0 font-size="11" font-weight="500" text-anchor="end" text-decoration="underline" class="fill-indigo-600 dark:fill-indigo-400">
                        "log →"
                    </text>
                </a>
            })}
        </g>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_labels_are_clipped() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("abcdefghij", 5), "abcd…");
    }

    #[test]
    fn every_step_of_the_next_stage_gets_an_arrow() {
        let (bus, arrows) = joins(0, 2, 3);
        assert_eq!(arrows.len(), 3);
        assert_eq!(bus.matches('M').count(), 3);
        let (_, arrows) = joins(1, 1, 0);
        assert_eq!(arrows.len(), 1);
    }
}

#[cfg(all(test, feature = "ssr"))]
mod render_tests {
    use super::*;

    fn node(key: &str, status: Option<StepStatus>, approval: bool) -> GraphNode {
        GraphNode {
            key: key.into(),
            agent: "Claude".into(),
            status,
            approval,
            detail: Some("1.2 s".into()),
            href: Some("/executions/x".into()),
        }
    }

    #[test]
    fn steps_carry_their_key_and_status_for_tests_and_tools() {
        let owner = Owner::new();
        owner.set();
        let stages = vec![
            GraphStage {
                name: "plan".into(),
                nodes: vec![node("plan", Some(StepStatus::Completed), false)],
            },
            GraphStage {
                name: "build".into(),
                nodes: vec![
                    node("build", Some(StepStatus::WaitingApproval), true),
                    node("docs", None, false),
                ],
            },
        ];
        let html =
            view! { <WorkflowGraph stages=Signal::stored(stages) testid="run-graph" /> }.to_html();
        assert!(html.contains(r#"data-testid="run-graph""#), "{html}");
        assert!(
            html.contains(r#"data-step="plan" data-status="completed""#),
            "{html}"
        );
        assert!(
            html.contains(r#"data-step="build" data-status="waiting_approval""#),
            "{html}"
        );
        assert!(html.contains(r#"href="/executions/x""#), "{html}");
        assert!(
            html.contains("marker-end=\"url(#run-graph-arrow)\""),
            "{html}"
        );
    }
}

//! Insights: how the team's runs went (per day by outcome; per agent and
//! per workflow: success rate and how long they take), how long runs wait
//! in the queue, and the load right now (event rates, the host's CPU,
//! memory and disk), and tokens and cost per day, agent, workflow and
//! issue. Drawn on the server as SVG; live: refreshed when a
//! run starts or ends, and every few seconds for the load.

use std::time::Duration;

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::common::{workflow_version, CARD};
use super::executions::lifecycle_version;
use crate::api::{insights, insights_now, ApiError};
use crate::components::budget::{describe, dollars};
use crate::components::charts::{compact, Meter, RunsPerDay, TokensPerDay};
use crate::components::empty_state::PageHeader;
use crate::model::{
    thousands, GroupStats, Insights, LiveLoad, Percentiles, UsageGroup, UsageInsights,
};

const PERIODS: [u32; 3] = [7, 30, 90];

/// "1.2 s", "3 min 4 s", "2 h 5 min", or "–".
pub fn duration(ms: Option<i64>) -> String {
    let Some(ms) = ms else {
        return "–".into();
    };
    let s = ms / 1000;
    match s {
        _ if ms < 10_000 => format!("{:.1} s", ms as f64 / 1000.0),
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

fn bytes(b: u64) -> String {
    const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
    format!("{:.1} GiB", b as f64 / GIB)
}

#[component]
pub fn InsightsPage() -> impl IntoView {
    let query = use_query_map();
    let days = move || {
        query
            .with(|q| q.get("days"))
            .and_then(|d| d.parse::<u32>().ok())
            .filter(|d| PERIODS.contains(d))
            .unwrap_or(30)
    };
    let runs = lifecycle_version();
    let workflows = workflow_version();
    // The load changes without any run starting or ending.
    let tick = RwSignal::new(0u64);
    Effect::new(move |_| {
        if let Ok(handle) =
            set_interval_with_handle(move || tick.update(|t| *t += 1), Duration::from_secs(5))
        {
            on_cleanup(move || handle.clear());
        }
    });
    // Made before anything is awaited (one serialization id each). The
    // period's figures change when runs start or end; the load is read
    // again every few seconds on its own.
    let data = Resource::new(
        move || (days(), runs.get(), workflows.get()),
        |(d, _, _)| insights(d),
    );
    let load = Resource::new(move || (tick.get(), runs.get()), |_| insights_now());
    view! {
        <leptos_meta::Title text="Insights" />
        <PageHeader title="Insights" subtitle="How the runs went, how long they take and wait, and the load right now. Live." />
        <nav class="mb-4 flex gap-2 text-sm" aria-label="Period">
            {PERIODS.into_iter().map(|p| view! {
                <a href=format!("/insights?days={p}")
                    aria-current=move || (days() == p).then_some("page")
                    class=move || if days() == p {
                        "rounded-md bg-indigo-600 px-3 py-1 font-medium text-white dark:bg-indigo-500"
                    } else {
                        "rounded-md border border-slate-300 px-3 py-1 font-medium hover:bg-slate-100 dark:border-slate-700 dark:hover:bg-slate-800"
                    }>
                    {format!("{p} days")}
                </a>
            }).collect_view()}
        </nav>
        <Transition fallback=|| view! { <p class="text-sm text-slate-500">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(i) => view! { <Figures insights=i load=load /> }.into_any(),
                    Err(e) => view! { <p role="alert" class="text-sm text-rose-600">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Figures(insights: Insights, load: Resource<Result<LiveLoad, ApiError>>) -> impl IntoView {
    let total: u32 = insights.per_day.iter().map(|d| d.total()).sum();
    let first = insights.now.clone();
    view! {
        <div class="grid gap-6 lg:grid-cols-3">
            <section class=format!("lg:col-span-2 {CARD}")>
                <h2 class="text-base font-semibold">"Runs per day"</h2>
                <p class="mt-1 text-sm text-slate-600 dark:text-slate-400" data-testid="runs-total">
                    {format!("{total} {} in the last {} days.", if total == 1 { "run" } else { "runs" }, insights.days)}
                </p>
                <div class="mt-3">
                    <RunsPerDay days=insights.per_day.clone() />
                </div>
            </section>
            <section class=CARD data-testid="load">
                <h2 class="text-base font-semibold">"Now"</h2>
                <Transition fallback=move || view! { <Now now=first.clone() /> }>
                    {move || Suspend::new(async move {
                        load.await.ok().map(|now| view! { <Now now=now /> })
                    })}
                </Transition>
            </section>
        </div>
        <section class=format!("mt-6 {CARD}")>
            <h2 class="text-base font-semibold">"Time in the queue"</h2>
            <WaitFigures wait=insights.queue_wait.clone() />
        </section>
        <GroupTable title="Agents" testid="agent-stats" groups=insights.agents.clone() empty="No agent ran in this period." />
        <GroupTable title="Workflows" testid="workflow-stats" groups=insights.workflows.clone() empty="No workflow ran in this period." />
        <Spending usage=insights.usage.clone() days=insights.days />
    }
}

/// Tokens and cost: per day, and who spent them.
#[component]
fn Spending(usage: UsageInsights, days: u32) -> impl IntoView {
    let total = usage.total;
    view! {
        <section class=format!("mt-6 {CARD}") data-testid="spending">
            <h2 class="text-base font-semibold">"Tokens and cost"</h2>
            <p class="mt-1 text-sm text-slate-600 dark:text-slate-400" data-testid="spending-total">
                {if total.is_empty() {
                    format!("No run reported tokens in the last {days} days. Agents report them with ::usage lines, Claude Code's stream-json or Codex's --json output.")
                } else {
                    format!("{} in the last {days} days ({} input, {} output).", describe(&total), thousands(total.input_tokens), thousands(total.output_tokens))
                }}
            </p>
            {(!total.is_empty()).then(|| view! {
                <div class="mt-3">
                    <TokensPerDay days=usage.per_day.clone() />
                </div>
                <div class="mt-4 grid gap-6 md:grid-cols-3">
                    <SpendTable title="By agent" testid="spend-agents" groups=usage.agents.clone() />
                    <SpendTable title="By workflow" testid="spend-workflows" groups=usage.workflows.clone() />
                    <SpendTable title="By issue" testid="spend-issues" groups=usage.issues.clone() />
                </div>
            })}
        </section>
    }
}

#[component]
fn SpendTable(title: &'static str, testid: &'static str, groups: Vec<UsageGroup>) -> impl IntoView {
    view! {
        <div class="min-w-0">
            <h3 class="text-sm font-semibold text-slate-600 dark:text-slate-300">{title}</h3>
            {if groups.is_empty() {
                view! { <p class="mt-1 text-sm text-slate-500">"None."</p> }.into_any()
            } else {
                view! {
                    <table class="mt-1 w-full text-sm" data-testid=testid>
                        <tbody class="divide-y divide-slate-100 dark:divide-slate-800">
                            {groups.into_iter().map(|g| view! {
                                <tr data-name=g.name.clone()>
                                    <td class="w-full max-w-0 truncate py-1.5 pr-3" title=g.name.clone()>{g.name.clone()}</td>
                                    <td class="whitespace-nowrap py-1.5 text-right tabular-nums" title=format!("{} runs", g.runs)>
                                        {compact(g.usage.tokens())}
                                        {(g.usage.cost_usd > 0.0).then(|| view! {
                                            <span class="ml-2 text-slate-500">{dollars(g.usage.cost_usd)}</span>
                                        })}
                                    </td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </div>
    }
}

#[component]
fn Now(now: LiveLoad) -> impl IntoView {
    view! {
        <dl class="mt-3 grid grid-cols-2 gap-x-4 gap-y-2 text-sm">
            <dt class="text-slate-600 dark:text-slate-400">"Running"</dt>
            <dd class="text-right font-medium tabular-nums" data-testid="running-now">{now.running}</dd>
            <dt class="text-slate-600 dark:text-slate-400">"Queued"</dt>
            <dd class="text-right font-medium tabular-nums">{now.queued}</dd>
            <dt class="text-slate-600 dark:text-slate-400">"Events / s"</dt>
            <dd class="text-right font-medium tabular-nums">{format!("{:.1}", now.events_per_second)}</dd>
            <dt class="text-slate-600 dark:text-slate-400">"Log lines / s"</dt>
            <dd class="text-right font-medium tabular-nums">{format!("{:.1}", now.lines_per_second)}</dd>
        </dl>
        <p class="mt-1 text-xs text-slate-500">"Rates over the last minute, on this server."</p>
        {now.host.map(|h| view! {
            <div class="mt-4 space-y-3 text-sm">
                <div>
                    <div class="mb-1 flex justify-between"><span>{format!("CPU ({} cores)", h.cores)}</span><span class="tabular-nums">{format!("{:.0}%", h.cpu_percent)}</span></div>
                    <Meter percent=h.cpu_percent label="CPU".to_string() />
                </div>
                <div>
                    <div class="mb-1 flex justify-between"><span>"Memory"</span><span class="tabular-nums">{format!("{} of {}", bytes(h.memory_used), bytes(h.memory_total))}</span></div>
                    <Meter percent=h.memory_percent label="Memory".to_string() />
                </div>
                <div>
                    <div class="mb-1 flex justify-between"><span>"Disk (data)"</span><span class="tabular-nums">{format!("{} of {}", bytes(h.disk_used), bytes(h.disk_total))}</span></div>
                    <Meter percent=h.disk_percent label="Disk".to_string() />
                </div>
            </div>
        })}
    }
}

#[component]
fn WaitFigures(wait: Percentiles) -> impl IntoView {
    view! {
        <p class="mt-1 text-sm text-slate-600 dark:text-slate-400">
            {if wait.samples == 0 {
                "No run started in this period.".to_string()
            } else {
                format!("From queued to started, over {} {}:", wait.samples, if wait.samples == 1 { "run" } else { "runs" })
            }}
        </p>
        {(wait.samples > 0).then(|| view! {
            <dl class="mt-3 grid grid-cols-3 gap-4 text-center">
                {[("median", wait.p50), ("90th percentile", wait.p90), ("99th percentile", wait.p99)]
                    .into_iter()
                    .map(|(label, v)| view! {
                        <div>
                            <dd class="text-lg font-semibold tabular-nums">{duration(v)}</dd>
                            <dt class="text-xs text-slate-500">{label}</dt>
                        </div>
                    })
                    .collect_view()}
            </dl>
        })}
    }
}

#[component]
fn GroupTable(
    title: &'static str,
    testid: &'static str,
    groups: Vec<GroupStats>,
    empty: &'static str,
) -> impl IntoView {
    view! {
        <section class=format!("mt-6 {CARD}")>
            <h2 class="text-base font-semibold">{title}</h2>
            {if groups.is_empty() {
                view! { <p class="mt-1 text-sm text-slate-600 dark:text-slate-400">{empty}</p> }.into_any()
            } else {
                view! {
                    <div class="mt-3 overflow-x-auto">
                        <table class="w-full text-sm" data-testid=testid>
                            <thead class="text-left text-xs uppercase tracking-wide text-slate-500">
                                <tr>
                                    <th class="py-2 pr-4 font-medium">"Name"</th>
                                    <th class="py-2 pr-4 font-medium">"Success"</th>
                                    <th class="py-2 pr-4 text-right font-medium">"Runs"</th>
                                    <th class="py-2 pr-4 text-right font-medium">"Median"</th>
                                    <th class="hidden py-2 pr-4 text-right font-medium sm:table-cell">"p90"</th>
                                    <th class="hidden py-2 text-right font-medium sm:table-cell">"p99"</th>
                                </tr>
                            </thead>
                            <tbody class="divide-y divide-slate-100 dark:divide-slate-800">
                                {groups.into_iter().map(|g| {
                                    let rate = g.success_rate();
                                    view! {
                                        <tr data-name=g.name.clone()>
                                            <td class="py-2 pr-4 font-medium">{g.name.clone()}</td>
                                            <td class="w-24 py-2 pr-4 sm:w-48">
                                                {match rate {
                                                    Some(r) => view! {
                                                        <div class="flex items-center gap-2">
                                                            <Meter percent=f64::from(r) label=format!("{} success rate", g.name) kind="good" />
                                                            <span class="w-10 text-right tabular-nums">{format!("{r}%")}</span>
                                                        </div>
                                                    }.into_any(),
                                                    None => "–".into_any(),
                                                }}
                                            </td>
                                            <td class="py-2 pr-4 text-right tabular-nums">{g.finished}</td>
                                            <td class="py-2 pr-4 text-right tabular-nums">{duration(g.duration.p50)}</td>
                                            <td class="hidden py-2 pr-4 text-right tabular-nums sm:table-cell">{duration(g.duration.p90)}</td>
                                            <td class="hidden py-2 text-right tabular-nums sm:table-cell">{duration(g.duration.p99)}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::duration;

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(None), "–");
        assert_eq!(duration(Some(1234)), "1.2 s");
        assert_eq!(duration(Some(42_000)), "42 s");
        assert_eq!(duration(Some(184_000)), "3 min 4 s");
        assert_eq!(duration(Some(7_500_000)), "2 h 5 min");
    }
}

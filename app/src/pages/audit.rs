//! The audit log (admins): who changed what, when, from where. Filters are
//! a plain `GET` form, so a filtered view is a link to share and works
//! without JavaScript.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::common::{CARD, INPUT, LINK, PRIMARY, SECONDARY};
use crate::api::{list_audit, ApiError};
use crate::components::empty_state::PageHeader;
use crate::components::time::Time;
use crate::model::{AuditEntry, AuditQuery};

/// `YYYY-MM-DD` → that day's start, UTC, in ms.
fn day_start(day: &str) -> Option<i64> {
    chrono::NaiveDate::parse_from_str(day.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

#[component]
pub fn AuditLogPage() -> impl IntoView {
    let query = use_query_map();
    let get = move |k: &str| {
        query
            .with(|q| q.get(k))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let filter = move || AuditQuery {
        actor: get("actor"),
        action: get("action"),
        target: get("target"),
        since: get("since").as_deref().and_then(day_start),
        until: get("until")
            .as_deref()
            .and_then(day_start)
            .map(|t| t + 86_400_000),
        before: get("before").and_then(|b| b.parse().ok()),
        limit: Some(100),
    };
    let page = Resource::new(filter, list_audit);
    // The form shows the filter in force; "older" keeps it.
    let value = move |k: &'static str| move || get(k).unwrap_or_default();
    let older = move |before: i64| {
        let mut link = format!("/audit?before={before}");
        for k in ["actor", "action", "target", "since", "until"] {
            if let Some(v) = get(k) {
                link.push_str(&format!("&{k}={}", crate::api::encode_query(&v)));
            }
        }
        link
    };
    view! {
        <PageHeader title="Audit log" subtitle="Every change made by a person, a token or GitHub: runs started and stopped, agents and workflows edited, people and keys managed, sign-ins and failed sign-ins. Secrets are never recorded." />
        <form method="get" action="/audit" class=format!("{CARD} flex flex-wrap items-end gap-3") data-testid="audit-filter">
            <label class="block w-full text-sm font-medium sm:w-44">"Person"<input name="actor" class=INPUT placeholder="username" value=value("actor") /></label>
            <label class="block w-full text-sm font-medium sm:w-44">"Action"<input name="action" class=INPUT placeholder="agents, executions.cancel…" value=value("action") /></label>
            <label class="block w-full text-sm font-medium sm:w-44">"Target"<input name="target" class=INPUT placeholder="an id" value=value("target") /></label>
            <label class="block w-full text-sm font-medium sm:w-40">"From"<input type="date" name="since" class=INPUT value=value("since") /></label>
            <label class="block w-full text-sm font-medium sm:w-40">"To"<input type="date" name="until" class=INPUT value=value("until") /></label>
            <div class="flex gap-2">
                <button type="submit" class=PRIMARY>"Filter"</button>
                <a href="/audit" class=SECONDARY>"Clear"</a>
            </div>
        </form>
        <Transition fallback=|| view! { <p class="mt-4 text-sm text-slate-500">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Err(ApiError::Forbidden) => view! {
                        <p role="alert" class="mt-4 text-sm text-slate-600 dark:text-slate-400">"Only admins read the audit log."</p>
                    }.into_any(),
                    Err(e) => view! { <p role="alert" class="mt-4 text-sm text-rose-600">{e.to_string()}</p> }.into_any(),
                    Ok(p) if p.entries.is_empty() => view! {
                        <p class="mt-4 text-sm text-slate-600 dark:text-slate-400" data-testid="audit-empty">"Nothing recorded matches."</p>
                    }.into_any(),
                    Ok(p) => view! {
                        <section class=format!("mt-6 {CARD} overflow-x-auto")>
                            <ul class="divide-y divide-slate-100 dark:divide-slate-800" data-testid="audit">
                                {p.entries.into_iter().map(|e| view! { <Entry entry=e /> }).collect_view()}
                            </ul>
                        </section>
                        {p.next_before.map(|b| view! {
                            <p class="mt-4 text-sm"><a class=LINK href=older(b)>"Older entries →"</a></p>
                        })}
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Entry(entry: AuditEntry) -> impl IntoView {
    let failed = entry.outcome != "ok";
    let detail: Vec<(String, String)> = match &entry.detail {
        Some(serde_json::Value::Object(map)) => map
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string()),
                )
            })
            .collect(),
        _ => Vec::new(),
    };
    let who = entry.actor.clone().unwrap_or_else(|| "someone".into());
    view! {
        <li class="flex flex-col gap-1 py-3 text-sm sm:flex-row sm:items-start sm:gap-4" data-testid="audit-entry" data-action=entry.action.clone() data-actor=entry.actor.clone().unwrap_or_default() data-outcome=entry.outcome.clone()>
            <span class="w-40 shrink-0 text-xs text-slate-500"><Time ms=entry.at /></span>
            <div class="min-w-0 flex-1">
                <p>
                    <strong>{who}</strong>
                    <span class="ml-1 rounded bg-slate-100 px-1.5 py-0.5 text-xs text-slate-600 dark:bg-slate-800 dark:text-slate-300">{entry.source.clone()}</span>
                    " "<code class="font-mono text-xs">{entry.action.clone()}</code>
                    {entry.target.clone().map(|t| view! { " "<code class="break-all font-mono text-xs text-slate-500">{t}</code> })}
                    {failed.then(|| view! { <span class="ml-2 rounded bg-rose-100 px-1.5 py-0.5 text-xs text-rose-800 dark:bg-rose-950 dark:text-rose-200">"failed"</span> })}
                </p>
                {(!detail.is_empty()).then(|| view! {
                    <details class="mt-1 text-xs text-slate-600 dark:text-slate-400">
                        <summary class="cursor-pointer select-none">{format!("{} field(s) sent", detail.len())}</summary>
                        <dl class="mt-1 grid grid-cols-[auto_1fr] gap-x-3 font-mono">
                            {detail.into_iter().map(|(k, v)| view! { <dt class="text-slate-500">{k}</dt><dd class="break-all">{v}</dd> }).collect_view()}
                        </dl>
                    </details>
                })}
            </div>
            <span class="shrink-0 text-xs text-slate-500">{entry.client.clone()}</span>
        </li>
    }
}

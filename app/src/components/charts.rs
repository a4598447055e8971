//! Small charts drawn as SVG on the server (and again in the browser when
//! their data changes): no chart library, no script needed to see them.
//! They scale to their box (`viewBox`, width 100%) and take their colours
//! from classes, so dark mode is the stylesheet's.

use leptos::prelude::*;

use crate::model::{thousands, DayOutcomes, DayUsage};

/// The outcome colours, as the status badges use them.
const COMPLETED: &str = "fill-emerald-500 dark:fill-emerald-400";
const FAILED: &str = "fill-rose-500 dark:fill-rose-400";
const CANCELLED: &str = "fill-slate-400 dark:fill-slate-500";
const UNFINISHED: &str = "fill-sky-400 dark:fill-sky-500";

/// A day chart's box: columns of `BAR` with `GAP` around, `H` high.
const H: f64 = 120.0;
const BAR: f64 = 10.0;
const GAP: f64 = 4.0;

fn day_label(day_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(day_ms)
        .map(|d| d.format("%b %-d").to_string())
        .unwrap_or_default()
}

/// Runs per day, stacked by outcome, oldest on the left. The bars are SVG
/// stretched to the box; the scale and the day labels are HTML, so their
/// text is never stretched with it.
#[component]
pub fn RunsPerDay(days: Vec<DayOutcomes>) -> impl IntoView {
    let max = days
        .iter()
        .map(DayOutcomes::total)
        .max()
        .unwrap_or(0)
        .max(1);
    let scale = H / f64::from(max);
    let bars = days
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let x = i as f64 * (BAR + GAP) + GAP / 2.0;
            let mut y = H;
            let mut parts = Vec::new();
            for (count, class) in [
                (d.completed, COMPLETED),
                (d.failed, FAILED),
                (d.cancelled, CANCELLED),
                (d.unfinished, UNFINISHED),
            ] {
                if count == 0 {
                    continue;
                }
                let h = f64::from(count) * scale;
                y -= h;
                parts.push(view! { <rect x=x y=y width=BAR height=h class=class /> });
            }
            let title = format!(
                "{}: {} completed, {} failed, {} cancelled, {} not finished",
                day_label(d.day),
                d.completed,
                d.failed,
                d.cancelled,
                d.unfinished
            );
            view! {
                <g data-total=d.total()>
                    <title>{title}</title>
                    // The whole column answers to the pointer, empty days too.
                    <rect x=x - GAP / 2.0 y=0 width=BAR + GAP height=H class="fill-transparent" />
                    {parts}
                </g>
            }
        })
        .collect_view();
    view! {
        <DayBars
            days=days.iter().map(|d| d.day).collect()
            top=max.to_string()
            label="Runs per day by outcome"
            testid="runs-per-day"
            bars=bars.into_any()
            legend=&[("completed", COMPLETED), ("failed", FAILED), ("cancelled", CANCELLED), ("not finished", UNFINISHED)]
        />
    }
}

/// The frame both day charts share: the scale (`top` to 0), the columns
/// (`bars`, [`BAR`] + [`GAP`] wide per day, [`H`] high), one label every few days and
/// the legend. The bars are SVG stretched to the box; the scale and the
/// labels are HTML, so their text is never stretched with it.
#[component]
fn DayBars(
    days: Vec<i64>,
    top: String,
    label: &'static str,
    testid: &'static str,
    bars: AnyView,
    legend: &'static [(&'static str, &'static str)],
) -> impl IntoView {
    let n = days.len().max(1);
    let width = n as f64 * (BAR + GAP);
    let label_every = n.div_ceil(7);
    let labels = days
        .iter()
        .enumerate()
        .map(|(i, day)| {
            let shown = (n - 1 - i).is_multiple_of(label_every);
            view! {
                <span class="overflow-visible whitespace-nowrap text-center">
                    {shown.then(|| day_label(*day))}
                </span>
            }
        })
        .collect_view();
    view! {
        <div class="flex gap-2">
            <div class="flex h-40 flex-col justify-between text-right text-[10px] tabular-nums text-slate-500 dark:text-slate-400" aria-hidden="true">
                <span>{top}</span>
                <span>"0"</span>
            </div>
            <div class="min-w-0 flex-1">
                <svg viewBox=format!("0 0 {width} {H}") class="block h-40 w-full border-b border-slate-200 dark:border-slate-700" role="img"
                    aria-label=label data-testid=testid preserveAspectRatio="none">
                    {bars}
                </svg>
                <div class="mt-1 grid text-[10px] text-slate-500 dark:text-slate-400" aria-hidden="true"
                    style=format!("grid-template-columns: repeat({n}, minmax(0, 1fr))")>
                    {labels}
                </div>
            </div>
        </div>
        <ul class="mt-3 flex flex-wrap gap-x-4 gap-y-1 text-xs text-slate-600 dark:text-slate-400">
            {legend
                .iter()
                .map(|(label, class)| view! {
                    <li class="flex items-center gap-1.5">
                        <svg viewBox="0 0 10 10" class="h-2.5 w-2.5" aria-hidden="true"><rect width="10" height="10" rx="2" class=*class /></svg>
                        {*label}
                    </li>
                })
                .collect_view()}
        </ul>
    }
}

const INPUT_TOKENS: &str = "fill-indigo-400 dark:fill-indigo-400";
const OUTPUT_TOKENS: &str = "fill-amber-400 dark:fill-amber-300";

/// `1234567` → `"1.2M"`, for a chart's scale.
pub fn compact(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1}M", n as f64 / 1e6),
        _ => format!("{:.1}G", n as f64 / 1e9),
    }
}

/// Tokens per day, input and output stacked, oldest on the left; each
/// day's cost in its tooltip. Drawn like [`RunsPerDay`].
#[component]
pub fn TokensPerDay(days: Vec<DayUsage>) -> impl IntoView {
    let max = days
        .iter()
        .map(|d| d.usage.tokens())
        .max()
        .unwrap_or(0)
        .max(1);
    let scale = H / max as f64;
    let bars = days
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let x = i as f64 * (BAR + GAP) + GAP / 2.0;
            let input_h = d.usage.input_tokens as f64 * scale;
            let output_h = d.usage.output_tokens as f64 * scale;
            let mut title = format!(
                "{}: {} input and {} output tokens",
                day_label(d.day),
                thousands(d.usage.input_tokens),
                thousands(d.usage.output_tokens)
            );
            if d.usage.cost_usd > 0.0 {
                title.push_str(&format!(", {}", super::budget::dollars(d.usage.cost_usd)));
            }
            view! {
                <g data-tokens=d.usage.tokens()>
                    <title>{title}</title>
                    <rect x=x - GAP / 2.0 y=0 width=BAR + GAP height=H class="fill-transparent" />
                    <rect x=x y=H - input_h width=BAR height=input_h class=INPUT_TOKENS />
                    <rect x=x y=H - input_h - output_h width=BAR height=output_h class=OUTPUT_TOKENS />
                </g>
            }
        })
        .collect_view();
    view! {
        <DayBars
            days=days.iter().map(|d| d.day).collect()
            top=compact(max)
            label="Tokens per day"
            testid="tokens-per-day"
            bars=bars.into_any()
            legend=&[("input", INPUT_TOKENS), ("output", OUTPUT_TOKENS)]
        />
    }
}

/// A horizontal meter, 0–100.
#[component]
pub fn Meter(
    percent: f64,
    /// Read out to screen readers.
    label: String,
    /// Its colour: `good` (green), `warn` (amber over 75), `load` (indigo,
    /// amber over 75, red over 90).
    #[prop(default = "load")]
    kind: &'static str,
) -> impl IntoView {
    let p = percent.clamp(0.0, 100.0);
    let class = match kind {
        "good" if p < 50.0 => "bg-rose-500 dark:bg-rose-400",
        "good" if p < 80.0 => "bg-amber-500 dark:bg-amber-400",
        "good" => "bg-emerald-500 dark:bg-emerald-400",
        _ if p > 90.0 => "bg-rose-500 dark:bg-rose-400",
        _ if p > 75.0 => "bg-amber-500 dark:bg-amber-400",
        _ => "bg-indigo-500 dark:bg-indigo-400",
    };
    view! {
        <div class="h-2 w-full overflow-hidden rounded-full bg-slate-200 dark:bg-slate-800" role="meter"
            aria-valuemin="0" aria-valuemax="100" aria-valuenow=format!("{p:.0}") aria-label=label>
            <div class=format!("h-full rounded-full {class}") style=format!("width: {p:.1}%") />
        </div>
    }
}

//! The four budget fields of the agent form and the workflow editor, and
//! how a run's tokens and cost are written.

use leptos::prelude::*;

pub use crate::model::dollars;
use crate::model::{thousands, Budget, TokenUsage};

const INPUT: &str = "mt-1 block w-full rounded-md border border-slate-300 bg-white px-3 py-2 text-sm font-normal dark:border-slate-700 dark:bg-slate-950";

/// The fields as typed: empty is no limit.
#[derive(Clone, Copy)]
pub struct BudgetForm {
    tokens_per_run: RwSignal<String>,
    cost_per_run: RwSignal<String>,
    tokens_per_day: RwSignal<String>,
    cost_per_day: RwSignal<String>,
}

impl BudgetForm {
    pub fn new(budget: Budget) -> Self {
        BudgetForm {
            tokens_per_run: RwSignal::new(opt(budget.tokens_per_run)),
            cost_per_run: RwSignal::new(opt(budget.cost_per_run_usd)),
            tokens_per_day: RwSignal::new(opt(budget.tokens_per_day)),
            cost_per_day: RwSignal::new(opt(budget.cost_per_day_usd)),
        }
    }

    pub fn set(&self, budget: Budget) {
        self.tokens_per_run.set(opt(budget.tokens_per_run));
        self.cost_per_run.set(opt(budget.cost_per_run_usd));
        self.tokens_per_day.set(opt(budget.tokens_per_day));
        self.cost_per_day.set(opt(budget.cost_per_day_usd));
    }

    /// The budget typed, or what is wrong with it.
    pub fn parse(&self) -> Result<Budget, String> {
        let tokens = |s: RwSignal<String>, what: &str| -> Result<Option<u64>, String> {
            let text = s.get_untracked().trim().replace([',', '_', ' '], "");
            if text.is_empty() {
                return Ok(None);
            }
            text.parse()
                .map(Some)
                .map_err(|_| format!("{what} is a whole number of tokens"))
        };
        let dollars = |s: RwSignal<String>, what: &str| -> Result<Option<f64>, String> {
            let text = s.get_untracked();
            let text = text.trim().trim_start_matches('$');
            if text.is_empty() {
                return Ok(None);
            }
            text.parse()
                .map(Some)
                .map_err(|_| format!("{what} is an amount of dollars, such as 2.50"))
        };
        let budget = Budget {
            tokens_per_run: tokens(self.tokens_per_run, "the tokens per run budget")?,
            cost_per_run_usd: dollars(self.cost_per_run, "the cost per run budget")?,
            tokens_per_day: tokens(self.tokens_per_day, "the tokens per day budget")?,
            cost_per_day_usd: dollars(self.cost_per_day, "the cost per day budget")?,
        };
        budget.validate().map(|()| budget)
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// The budget fields; `what` says what a limit stops ("a run of this agent").
#[component]
pub fn BudgetFields(form: BudgetForm, what: &'static str) -> impl IntoView {
    view! {
        <fieldset class="grid gap-3 sm:grid-cols-2" data-testid="budget">
            <legend class="mb-1 text-sm font-medium">"Budget"</legend>
            <p class="-mt-1 text-xs text-slate-500 sm:col-span-2">
                {format!("When {what} goes past a limit it is paused and you are told; resume it to let it go on (on a remote runner, which cannot pause, it is cancelled). Empty is no limit. Tokens are input plus output, as the agent reports them (")}
                <code>"::usage"</code>", Claude Code's "<code>"stream-json"</code>", Codex's "<code>"--json"</code>"). Days are UTC."
            </p>
            <label class="block text-sm font-medium">
                "Tokens per run"
                <input class=INPUT name="budget_tokens_per_run" inputmode="numeric" placeholder="e.g. 200000" bind:value=form.tokens_per_run />
            </label>
            <label class="block text-sm font-medium">
                "Cost per run (USD)"
                <input class=INPUT name="budget_cost_per_run" inputmode="decimal" placeholder="e.g. 2.50" bind:value=form.cost_per_run />
            </label>
            <label class="block text-sm font-medium">
                "Tokens per day"
                <input class=INPUT name="budget_tokens_per_day" inputmode="numeric" bind:value=form.tokens_per_day />
            </label>
            <label class="block text-sm font-medium">
                "Cost per day (USD)"
                <input class=INPUT name="budget_cost_per_day" inputmode="decimal" bind:value=form.cost_per_day />
            </label>
        </fieldset>
    }
}

/// `"12,400 tokens · $0.42"`.
pub fn describe(usage: &TokenUsage) -> String {
    let mut out = format!("{} tokens", thousands(usage.tokens()));
    if usage.cost_usd > 0.0 {
        out.push_str(&format!(" · {}", dollars(usage.cost_usd)));
    }
    out
}

/// `"12.4k · $0.42"`, for a narrow cell (its title gives [`describe`]).
pub fn short(usage: &TokenUsage) -> String {
    let mut out = super::charts::compact(usage.tokens());
    if usage.cost_usd > 0.0 {
        out.push_str(&format!(" · {}", dollars(usage.cost_usd)));
    }
    out
}

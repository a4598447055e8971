//! A live log viewer that stays smooth at 100,000 lines: rows have a fixed
//! height and only the visible window (plus some overscan) is rendered.
//! Follows new output until the reader scrolls up. Numbered lines with
//! links to a line or a range (`#L12-L20`, shift-click extends), optional
//! per-line times, a search that highlights and jumps between matches,
//! foldable `::group::` sections, dimmed `::progress` / `::result` lines,
//! a stream filter, wrapping (up to `WRAP_MAX` rows: wrapped rows have no
//! fixed height, so they are all rendered), copy and full screen; colours
//! come from ANSI sequences.

use leptos::prelude::*;

use super::ansi;
use super::count::fmt_count;
use crate::model::{LogLevel, LogStream};

const ROW_PX: f64 = 20.0;
const OVERSCAN: usize = 40;
/// The most rows shown wrapped (all rendered at once).
pub const WRAP_MAX: usize = 5_000;

#[derive(Clone, Debug, PartialEq)]
pub struct LogLine {
    pub seq: u64,
    pub stream: LogStream,
    pub level: LogLevel,
    pub text: String,
    /// The line did not end (a prompt, or a piece of a very long line):
    /// the stream's next line continues it.
    pub open: bool,
    /// When it was stored (ms since the epoch).
    pub at_ms: Option<i64>,
}

/// How far back a line looks for its stream's open row (other streams'
/// lines may have come in between: stdout and stderr are read apart).
const CONTINUE_WITHIN: usize = 64;

/// Adds `line` to `lines`, joining it to its stream's last row when that
/// row was left open (so a prompt and the rest of its line show as one
/// row, whatever the other stream printed meanwhile).
pub fn push_line(lines: &mut Vec<LogLine>, line: LogLine) {
    // A line Yagura adds (typed input echoed, a marker) ends the rows left
    // open before it: what follows it is shown after it.
    if matches!(line.stream, LogStream::System | LogStream::Stdin) {
        for prev in lines.iter_mut().rev().take(CONTINUE_WITHIN) {
            prev.open = false;
        }
        lines.push(line);
        return;
    }
    let open = lines
        .iter_mut()
        .rev()
        .take(CONTINUE_WITHIN)
        .find(|prev| prev.stream == line.stream)
        .filter(|prev| prev.open);
    match open {
        Some(prev) => {
            prev.text.push_str(&line.text);
            prev.open = line.open;
            // Rows are keyed by seq: the grown row must render anew.
            prev.seq = line.seq;
        }
        None => lines.push(line),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StreamFilter {
    All,
    Stdout,
    Stderr,
}

impl StreamFilter {
    fn accepts(self, stream: LogStream) -> bool {
        match self {
            StreamFilter::All => true,
            StreamFilter::Stdout => stream == LogStream::Stdout,
            StreamFilter::Stderr => stream != LogStream::Stdout,
        }
    }
}

/// A `::group::name` line opens a group, `::endgroup::` closes it (the
/// GitHub Actions workflow commands).
fn group_name(text: &str) -> Option<&str> {
    text.strip_prefix("::group::").map(str::trim)
}

fn is_endgroup(text: &str) -> bool {
    text.trim_end() == "::endgroup::"
}

/// Marker lines Yagura reads (`::progress`, `::result`, `::usage`): kept,
/// but shown dimmed.
fn is_marker(text: &str) -> bool {
    ["::progress", "::result", "::usage"]
        .iter()
        .any(|m| text.starts_with(m))
}

/// The rows to show, as indices into the lines (`None`: all of them):
/// the stream filter, `::endgroup::` lines, and the insides of folded
/// groups (by the index of their `::group::` line) are left out.
pub fn visible_rows(
    lines: &[LogLine],
    accepts: impl Fn(LogStream) -> bool,
    folded: &std::collections::HashSet<usize>,
    filtering: bool,
) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    let mut hidden_any = false;
    // The folded group we are inside of, if any (groups do not nest here:
    // a new `::group::` closes the previous one, as on GitHub).
    let mut inside_folded = false;
    for (i, l) in lines.iter().enumerate() {
        let text = l.text.as_str();
        let mut show = accepts(l.stream);
        if group_name(text).is_some() {
            inside_folded = folded.contains(&i);
        } else if is_endgroup(text) {
            inside_folded = false;
            show = false;
        } else if inside_folded {
            show = false;
        }
        if show {
            out.push(i as u32);
        } else {
            hidden_any = true;
        }
    }
    (hidden_any || filtering).then_some(out)
}

/// Lines a `#L12` or `#L12-L20` fragment names (1-based, inclusive).
pub fn parse_line_range(hash: &str) -> Option<(usize, usize)> {
    let rest = hash.trim_start_matches('#').strip_prefix('L')?;
    let (a, b) = match rest.split_once('-') {
        Some((a, b)) => (a, b.trim_start_matches('L')),
        None => (rest, rest),
    };
    let (a, b): (usize, usize) = (a.parse().ok()?, b.parse().ok()?);
    (a >= 1 && b >= 1).then_some((a.min(b), a.max(b)))
}

fn range_fragment((a, b): (usize, usize)) -> String {
    if a == b {
        format!("#L{a}")
    } else {
        format!("#L{a}-L{b}")
    }
}

/// Case-insensitive positions of `query` in `text` (byte ranges of `text`).
fn matches_in(text: &str, query: &str) -> Vec<(usize, usize)> {
    if query.is_empty() {
        return Vec::new();
    }
    let lower = text.to_lowercase();
    // Lower-casing may change lengths outside ASCII: match on the original
    // only when it keeps them.
    if lower.len() != text.len() {
        return Vec::new();
    }
    let q = query.to_lowercase();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = lower[from..].find(&q) {
        let start = from + at;
        let end = start + q.len();
        // Same length is not the same boundaries for every script.
        if !(text.is_char_boundary(start) && text.is_char_boundary(end)) {
            return Vec::new();
        }
        out.push((start, end));
        from = end.max(start + 1);
        while from < lower.len() && !lower.is_char_boundary(from) {
            from += 1;
        }
    }
    out
}

fn time_of_day(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%H:%M:%S%.3f").to_string())
        .unwrap_or_default()
}

/// Where line `number`'s row starts in the viewport, when it is rendered:
/// wrapped rows have no fixed height.
fn row_top(viewport: &leptos::web_sys::HtmlDivElement, number: usize) -> Option<f64> {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let el = viewport
            .query_selector(&format!("[data-line='{number}']"))
            .ok()
            .flatten()?
            .dyn_into::<web_sys::HtmlElement>()
            .ok()?;
        Some(f64::from(el.offset_top()))
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (viewport, number);
        None
    }
}

/// Enters full screen with `frame`, or leaves it (the `fullscreenchange`
/// that follows says which happened).
fn toggle_full_screen(frame: NodeRef<leptos::html::Div>) {
    #[cfg(feature = "hydrate")]
    {
        let Some(document) = web_sys::window().and_then(|w| w.document()) else {
            return;
        };
        if document.fullscreen_element().is_some() {
            document.exit_fullscreen();
        } else if let Some(el) = frame.get_untracked() {
            let _ = el.request_fullscreen();
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = frame;
}

#[component]
pub fn LogViewer(
    #[prop(into)] lines: Signal<Vec<LogLine>>,
    download_href: String,
    /// Only the end of the log is here so far (a finished run's page as
    /// served): its rows are not numbered, line links wait for the rest.
    #[prop(optional)]
    partial: Option<Signal<bool>>,
) -> impl IntoView {
    let partial = Signal::derive(move || partial.is_some_and(|p| p.get()));
    let (stream_filter, set_stream_filter) = signal(StreamFilter::All);
    let (search, set_search) = signal(String::new());
    let (scroll_top, set_scroll_top) = signal(0.0f64);
    let (viewport_height, set_viewport_height) = signal(560.0f64);
    let (follow, set_follow) = signal(true);
    // A line link or a search put a row in view: scrolling done by the page
    // (not the reader) must not turn following back on.
    let pinned = RwSignal::new(false);
    // Where following last put the view (see the follow effect below).
    let followed_to = StoredValue::new(None::<i32>);
    let (timestamps, set_timestamps) = signal(false);
    let folded = RwSignal::new(std::collections::HashSet::<usize>::new());
    // The selected lines (from a `#L…` link or a click on a number).
    let selected = RwSignal::new(None::<(usize, usize)>);
    // Which match of the search is current (an index into `matches`).
    let current = RwSignal::new(0usize);
    let viewport = NodeRef::<leptos::html::Div>::new();
    let frame = NodeRef::<leptos::html::Div>::new();
    let (wrap, set_wrap) = signal(false);
    let (full_screen, set_full_screen) = signal(false);
    let copied = RwSignal::new(false);

    // Indices of the rows shown; `None` means every line.
    let visible = Memo::new(move |_| {
        let f = stream_filter.get();
        folded.with(|folded| {
            lines.with(|ls| visible_rows(ls, |s| f.accepts(s), folded, f != StreamFilter::All))
        })
    });
    let total = move || {
        visible
            .with(|v| v.as_ref().map(Vec::len))
            .unwrap_or_else(|| lines.with(Vec::len))
    };
    // Row positions (among the shown rows) of the lines the search finds.
    let matches = Memo::new(move |_| {
        let q = search.get().to_lowercase();
        if q.is_empty() {
            return Vec::new();
        }
        lines.with(|ls| {
            visible.with(|v| {
                let hit = |i: usize| {
                    ls.get(i)
                        .is_some_and(|l| l.text.to_lowercase().contains(&q))
                };
                match v {
                    Some(v) => v
                        .iter()
                        .enumerate()
                        .filter(|(_, i)| hit(**i as usize))
                        .map(|(row, _)| row)
                        .collect(),
                    None => (0..ls.len()).filter(|i| hit(*i)).collect(),
                }
            })
        })
    });
    // Wrapped rows have no fixed height: all of them are rendered.
    let too_long = move || total() > WRAP_MAX;
    let wrapped = move || wrap.get() && !too_long();
    let window = move || {
        if wrapped() {
            return (0, total());
        }
        let start = ((scroll_top.get() / ROW_PX) as usize).saturating_sub(OVERSCAN);
        let count = (viewport_height.get() / ROW_PX) as usize + 2 * OVERSCAN;
        let end = (start + count).min(total());
        (start.min(end), end)
    };
    // (line index, line) for the rows in the window.
    let rows = move || {
        let (start, end) = window();
        lines.with(|ls| {
            visible.with(|v| {
                (start..end)
                    .filter_map(|row| {
                        let idx = match v {
                            Some(v) => *v.get(row)? as usize,
                            None => row,
                        };
                        ls.get(idx).cloned().map(|l| (idx, l))
                    })
                    .collect::<Vec<_>>()
            })
        })
    };

    let on_scroll = move |_| {
        if let Some(el) = viewport.get() {
            let top = f64::from(el.scroll_top());
            let height = f64::from(el.client_height());
            set_scroll_top.set(top);
            set_viewport_height.set(height);
            if !pinned.get_untracked() {
                let at_end = top + height >= f64::from(el.scroll_height()) - 4.0;
                set_follow.set(at_end);
                followed_to.set_value(at_end.then(|| el.scroll_top()));
            }
        }
    };

    let jump_to_end = move || {
        if let Some(el) = viewport.get() {
            el.set_scroll_top(el.scroll_height());
        }
    };
    // Brings a shown row into the middle of the viewport.
    let scroll_to_row = move |row: usize| {
        set_follow.set(false);
        pinned.set(true);
        if let Some(el) = viewport.get() {
            let height = f64::from(el.client_height());
            let number = visible.with_untracked(|v| match v {
                Some(v) => v.get(row).map(|i| *i as usize + 1),
                None => Some(row + 1),
            });
            let top = (number
                .and_then(|n| row_top(&el, n))
                .unwrap_or(row as f64 * ROW_PX)
                - height / 2.0)
                .max(0.0);
            el.set_scroll_top(top as i32);
            set_scroll_top.set(top);
        }
    };
    // Full screen as the browser has it (Escape leaves it, a request can
    // be refused): read back on every change, and the viewport measured.
    #[cfg(feature = "hydrate")]
    {
        let sync = move || {
            let full = web_sys::window()
                .and_then(|w| w.document())
                .is_some_and(|d| d.fullscreen_element().is_some());
            set_full_screen.set(full);
            if let Some(el) = viewport.get_untracked() {
                set_viewport_height.set(f64::from(el.client_height()));
            }
        };
        let change = window_event_listener_untyped("fullscreenchange", move |_| sync());
        let resize = window_event_listener(leptos::ev::resize, move |_| sync());
        on_cleanup(move || {
            change.remove();
            resize.remove();
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = set_full_screen;
    // Follow mode: new output scrolls into view unless the reader scrolled
    // up, or a line link or a search holds the view. A scroll event comes a
    // frame late: when the view is above where following last put it, the
    // reader moved it, even if their scroll event has not arrived yet.
    Effect::new(move |_| {
        let _ = total();
        if !follow.get_untracked() {
            return;
        }
        if let Some(el) = viewport.get_untracked() {
            // (A view that got taller or a log that got shorter is still at
            // its end: that is no reader's doing.)
            let at_end = el.scroll_top() + el.client_height() >= el.scroll_height() - 4;
            if !at_end
                && followed_to
                    .get_value()
                    .is_some_and(|at| el.scroll_top() < at - 4)
            {
                set_follow.set(false);
                followed_to.set_value(None);
                return;
            }
            el.set_scroll_top(el.scroll_height());
            followed_to.set_value(Some(el.scroll_top()));
        }
    });
    // A `#L…` fragment in the address: select those lines and show them
    // once they have arrived (the log may still be replaying).
    // (In an effect: after hydration, never while the server's HTML is
    // being taken over.)
    #[cfg(feature = "hydrate")]
    {
        // The shown row of a line index.
        let row_of = move |idx: usize| -> Option<usize> {
            visible.with(|v| match v {
                Some(v) => v.iter().position(|i| *i as usize == idx),
                None => Some(idx),
            })
        };
        let shown = RwSignal::new(false);
        Effect::new(move |_| {
            if shown.get_untracked() || partial.get() {
                return;
            }
            let wanted = web_sys::window()
                .and_then(|w| w.location().hash().ok())
                .and_then(|h| parse_line_range(&h));
            let Some(range) = wanted else {
                shown.set(true);
                return;
            };
            if selected.get_untracked().is_none() {
                selected.set(Some(range));
                set_follow.set(false);
                pinned.set(true);
            }
            let count = lines.with(Vec::len);
            if count >= range.0 {
                shown.set(true);
                if let Some(row) = row_of(range.0 - 1) {
                    scroll_to_row(row);
                }
            }
        });
    }
    // The line index of the current match.
    let current_line = Memo::new(move |_| {
        let row = matches.with(|m| m.get(current.get()).copied())?;
        visible.with(|v| match v {
            Some(v) => v.get(row).map(|i| *i as usize),
            None => Some(row),
        })
    });
    let go_to_match = move |delta: isize| {
        let n = matches.with(Vec::len);
        if n == 0 {
            return;
        }
        let next = (current.get_untracked() as isize + delta).rem_euclid(n as isize) as usize;
        current.set(next);
        if let Some(row) = matches.with(|m| m.get(next).copied()) {
            scroll_to_row(row);
        }
    };
    // A new search starts at its first match.
    Effect::new(move |_| {
        let _ = search.get();
        current.set(0);
        if let Some(row) = matches.with_untracked(|m| m.first().copied()) {
            scroll_to_row(row);
        }
    });
    let on_number = move |idx: usize, extend: bool| {
        let line = idx + 1;
        let range = match (extend, selected.get_untracked()) {
            (true, Some((a, _))) => (a.min(line), a.max(line)),
            _ => (line, line),
        };
        selected.set(Some(range));
        set_follow.set(false);
        #[cfg(feature = "hydrate")]
        if let Some(history) = web_sys::window().and_then(|w| w.history().ok()) {
            // The router's own state stays.
            let state = history.state().unwrap_or(wasm_bindgen::JsValue::NULL);
            let _ = history.replace_state_with_url(&state, "", Some(&range_fragment(range)));
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = range_fragment(range);
    };
    let toggle_group = move |idx: usize| {
        folded.update(|f| {
            if !f.remove(&idx) {
                f.insert(idx);
            }
        })
    };
    // Until the page is live the tools could do nothing: disabled.
    let live_page = super::time::page_live();
    let tool = "rounded-md border border-slate-300 px-2 py-1 text-xs hover:bg-slate-100 disabled:opacity-50 dark:border-slate-700 dark:hover:bg-slate-800";

    view! {
        <div node_ref=frame class="flex flex-col rounded-xl border border-slate-200 bg-white dark:border-slate-800 dark:bg-slate-900" data-testid="log-viewer">
            <div class="flex flex-wrap items-center gap-2 border-b border-slate-200 px-3 py-2 text-sm dark:border-slate-800">
                <select
                    class="rounded-md border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-950"
                    aria-label="Stream"
                    disabled=move || !live_page.get()
                    on:change=move |ev| {
                        set_stream_filter.set(match event_target_value(&ev).as_str() {
                            "stdout" => StreamFilter::Stdout,
                            "stderr" => StreamFilter::Stderr,
                            _ => StreamFilter::All,
                        })
                    }
                >
                    <option value="all">"All output"</option>
                    <option value="stdout">"stdout"</option>
                    <option value="stderr">"stderr"</option>
                </select>
                <input
                    type="search"
                    placeholder="Search the log"
                    aria-label="Search the log"
                    disabled=move || !live_page.get()
                    class="min-w-0 grow basis-40 rounded-md border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-950"
                    on:input=move |ev| set_search.set(event_target_value(&ev))
                    on:keydown=move |ev| {
                        if ev.key() == "Enter" {
                            ev.prevent_default();
                            go_to_match(if ev.shift_key() { -1 } else { 1 });
                        }
                    }
                />
                <Show when=move || !search.get().is_empty()>
                    <span class="text-xs tabular-nums text-slate-500" data-testid="search-count">
                        {move || match matches.with(Vec::len) {
                            0 => "no match".to_string(),
                            n => format!("{} of {}", (current.get() + 1).min(n), fmt_count(n)),
                        }}
                    </span>
                    <button type="button" class=tool aria-label="Previous match" on:click=move |_| go_to_match(-1)>"↑"</button>
                    <button type="button" class=tool aria-label="Next match" on:click=move |_| go_to_match(1)>"↓"</button>
                </Show>
                <span class="text-xs tabular-nums text-slate-500" data-testid="log-count">
                    {move || match lines.with(Vec::len) {
                        1 => "1 line".to_string(),
                        n => format!("{} lines", fmt_count(n)),
                    }}
                </span>
                <label class="flex items-center gap-1 text-xs text-slate-600 dark:text-slate-400">
                    <input
                        type="checkbox"
                        data-testid="toggle-timestamps"
                        disabled=move || !live_page.get()
                        prop:checked=timestamps
                        on:change=move |ev| set_timestamps.set(event_target_checked(&ev))
                    />
                    "Times (UTC)"
                </label>
                <label
                    class="flex items-center gap-1 text-xs text-slate-600 dark:text-slate-400"
                    title=move || if too_long() { format!("Wrapping shows up to {} lines", fmt_count(WRAP_MAX)) } else { "Wrap long lines".to_string() }
                >
                    <input
                        type="checkbox"
                        data-testid="toggle-wrap"
                        prop:checked=wrap
                        disabled=move || too_long() || !live_page.get()
                        on:change=move |ev| set_wrap.set(event_target_checked(&ev))
                    />
                    "Wrap"
                </label>
                <button
                    type="button"
                    class=tool
                    disabled=move || partial.get() || !live_page.get()
                    data-testid="log-copy"
                    title="Copy the selected lines, or the whole log"
                    on:click=move |_| {
                        // As shown: the text without its escapes; the
                        // selected lines, or all of them.
                        let plain = |ls: &[LogLine]| ls.iter().map(|l| ansi::plain(&l.text)).collect::<Vec<_>>().join("\n");
                        let text = lines.with(|ls| {
                            let chosen = selected
                                .get_untracked()
                                .and_then(|(a, b)| ls.get(a.saturating_sub(1)..b.min(ls.len())))
                                .filter(|c| !c.is_empty());
                            plain(chosen.unwrap_or(ls))
                        });
                        if super::copy::copy_text(&text) {
                            copied.set(true);
                            set_timeout(move || copied.set(false), std::time::Duration::from_secs(2));
                        }
                    }
                >
                    {move || if copied.get() { "Copied" } else { "Copy" }}
                </button>
                <button
                    type="button"
                    class=tool
                    data-testid="log-full-screen"
                    disabled=move || !live_page.get()
                    aria-pressed=move || full_screen.get().to_string()
                    on:click=move |_| toggle_full_screen(frame)
                >
                    {move || if full_screen.get() { "Exit full screen" } else { "Full screen" }}
                </button>
                <button
                    type="button"
                    class=tool
                    disabled=move || follow.get()
                    on:click=move |_| {
                        pinned.set(false);
                        followed_to.set_value(None);
                        set_follow.set(true);
                        jump_to_end();
                    }
                >
                    {move || if follow.get() { "Following" } else { "Follow" }}
                </button>
                // With times when they are shown.
                <a
                    href=move || if timestamps.get() { format!("{download_href}?timestamps=true") } else { download_href.clone() }
                    class=tool
                    download=""
                    data-testid="log-download"
                >
                    "Download"
                </a>
            </div>
            <Show when=move || partial.get()>
                <p class="border-b border-slate-200 px-3 py-1.5 text-xs text-slate-500 dark:border-slate-800" data-testid="log-tail-note">
                    {move || format!("The last {} lines; the whole log comes as the page goes live (Download has it all).", fmt_count(lines.with(Vec::len)))}
                </p>
            </Show>
            <div
                node_ref=viewport
                // Full screen, the log takes what the toolbar leaves (a
                // column flex item's basis would override a height).
                class=move || if full_screen.get() {
                    "relative min-h-0 flex-1 overflow-auto bg-slate-950 font-mono text-xs text-slate-200"
                } else {
                    "relative overflow-auto rounded-b-xl bg-slate-950 font-mono text-xs text-slate-200"
                }
                style=move || if full_screen.get() { "" } else { "height: 60vh" }
                on:scroll=on_scroll
                // The reader takes over.
                on:wheel=move |_| pinned.set(false)
                on:touchstart=move |_| pinned.set(false)
                on:keydown=move |_| pinned.set(false)
                tabindex="0"
                data-testid="log-viewport"
            >
                <div style=move || if wrapped() {
                    "position: relative; width: 100%".to_string()
                } else {
                    format!("position: relative; height: {}px; min-width: 100%; width: max-content", total() as f64 * ROW_PX)
                }>
                    <div style=move || if wrapped() {
                        "position: static".to_string()
                    } else {
                        format!("position: absolute; left: 0; right: 0; top: {}px", window().0 as f64 * ROW_PX)
                    }>
                        <For each=rows key=|(idx, line)| (*idx, line.seq) let:row>
                            {
                                let (idx, line) = row;
                                let n = idx + 1;
                                let is_selected = move || selected.with(|s| s.is_some_and(|(a, b)| (a..=b).contains(&n)));
                                let is_folded = move || folded.with(|f| f.contains(&idx));
                                let current_row = move || current_line.get() == Some(idx);
                                view! {
                                    <LogRow
                                        line=line
                                        number=n
                                        query=search
                                        selected=Signal::derive(is_selected)
                                        current=Signal::derive(current_row)
                                        folded=Signal::derive(is_folded)
                                        timestamps=timestamps
                                        wrap=Signal::derive(wrapped)
                                        partial=partial
                                        on_number=Callback::new(move |extend: bool| on_number(idx, extend))
                                        on_toggle=Callback::new(move |()| toggle_group(idx))
                                    />
                                }
                            }
                        </For>
                    </div>
                </div>
                <Show when=move || total() == 0>
                    <p class="absolute inset-x-0 top-4 text-center text-slate-500">"No output yet."</p>
                </Show>
            </div>
        </div>
    }
}

#[component]
#[allow(clippy::too_many_arguments)]
fn LogRow(
    line: LogLine,
    number: usize,
    #[prop(into)] query: Signal<String>,
    selected: Signal<bool>,
    current: Signal<bool>,
    folded: Signal<bool>,
    #[prop(into)] timestamps: Signal<bool>,
    wrap: Signal<bool>,
    partial: Signal<bool>,
    on_number: Callback<bool>,
    on_toggle: Callback<()>,
) -> impl IntoView {
    let tone = match (line.stream, line.level) {
        (LogStream::System, _) => "bg-amber-950/40",
        (LogStream::Stdin, _) => "bg-emerald-950/40",
        (_, LogLevel::Error) => "bg-rose-950/40",
        _ => "",
    };
    let marker = match line.stream {
        LogStream::Stdout => "border-transparent",
        LogStream::Stderr => "border-amber-500",
        LogStream::System => "border-sky-500",
        LogStream::Stdin => "border-emerald-500",
    };
    let dim = if is_marker(&line.text) {
        "opacity-50"
    } else {
        ""
    };
    let at = line.at_ms.map(time_of_day).unwrap_or_default();
    let group = group_name(&line.text).map(str::to_string);
    let text = line.text.clone();
    let body = move || match &group {
        Some(name) => {
            let name = name.clone();
            view! {
                <button
                    type="button"
                    class="font-semibold text-slate-100 hover:underline"
                    data-testid="log-group"
                    aria-expanded=move || (!folded.get()).to_string()
                    on:click=move |_| on_toggle.run(())
                >
                    {move || if folded.get() { "▸ " } else { "▾ " }}{name.clone()}
                </button>
            }
            .into_any()
        }
        None => {
            let q = query.get();
            ansi::spans(&text)
                .into_iter()
                .map(|s| {
                    let hits = matches_in(&s.text, &q);
                    if hits.is_empty() {
                        return view! { <span class=s.class style=(!s.style.is_empty()).then_some(s.style)>{s.text}</span> }.into_any();
                    }
                    let mut parts = Vec::new();
                    let mut at = 0;
                    for (a, b) in hits {
                        if a > at {
                            parts.push(view! { <span>{s.text[at..a].to_string()}</span> }.into_any());
                        }
                        parts.push(view! { <mark class="rounded-sm bg-amber-300 text-slate-950" data-testid="log-match">{s.text[a..b].to_string()}</mark> }.into_any());
                        at = b;
                    }
                    if at < s.text.len() {
                        parts.push(view! { <span>{s.text[at..].to_string()}</span> }.into_any());
                    }
                    view! { <span class=s.class style=(!s.style.is_empty()).then_some(s.style)>{parts}</span> }.into_any()
                })
                .collect_view()
                .into_any()
        }
    };
    view! {
        <div
            class=move || format!(
                "flex border-l-2 leading-5 {marker} {tone} {dim} {} {}",
                if wrap.get() { "min-h-5 whitespace-pre-wrap break-all" } else { "h-5 whitespace-pre" },
                if current.get() { "ring-1 ring-inset ring-amber-400" } else if selected.get() { "bg-indigo-900/50" } else { "" },
            )
            data-testid="log-line"
            data-line=number
            data-selected=move || selected.get().to_string()
            data-stream=match line.stream {
                LogStream::Stdout => "stdout",
                LogStream::Stderr => "stderr",
                LogStream::System => "system",
                LogStream::Stdin => "stdin",
            }
        >
            // Numbers (and links) only once the whole log is here.
            <a
                id=move || (!partial.get()).then(|| format!("L{number}"))
                href=move || (!partial.get()).then(|| format!("#L{number}"))
                class="sticky left-0 w-14 shrink-0 select-none bg-slate-950 pr-3 text-right text-slate-500 hover:text-slate-200"
                data-testid="line-number"
                on:click=move |ev| {
                    ev.prevent_default();
                    if !partial.get_untracked() {
                        on_number.run(ev.shift_key());
                    }
                }
            >
                {move || if partial.get() { String::new() } else { number.to_string() }}
            </a>
            <Show when=move || timestamps.get()>
                <span class="shrink-0 select-none pr-3 text-slate-500" data-testid="line-time">{at.clone()}</span>
            </Show>
            <span class="min-w-0 pr-3" data-testid="line-text">{body}</span>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(seq: u64, stream: LogStream, text: &str, open: bool) -> LogLine {
        LogLine {
            seq,
            stream,
            level: LogLevel::Info,
            text: text.into(),
            open,
            at_ms: None,
        }
    }

    #[test]
    fn groups_fold_and_endgroup_lines_hide() {
        let ls: Vec<LogLine> = ["a", "::group::Build", "b1", "b2", "::endgroup::", "c"]
            .iter()
            .enumerate()
            .map(|(i, t)| line(i as u64 + 1, LogStream::Stdout, t, false))
            .collect();
        let none = std::collections::HashSet::new();
        assert_eq!(
            visible_rows(&ls, |_| true, &none, false),
            Some(vec![0, 1, 2, 3, 5])
        );
        let folded = std::collections::HashSet::from([1usize]);
        assert_eq!(
            visible_rows(&ls, |_| true, &folded, false),
            Some(vec![0, 1, 5])
        );
        let plain: Vec<LogLine> = vec![line(1, LogStream::Stdout, "x", false)];
        assert_eq!(visible_rows(&plain, |_| true, &none, false), None);
        assert_eq!(visible_rows(&plain, |_| true, &none, true), Some(vec![0]));
    }

    #[test]
    fn line_links_parse() {
        assert_eq!(parse_line_range("#L12"), Some((12, 12)));
        assert_eq!(parse_line_range("#L20-L12"), Some((12, 20)));
        assert_eq!(parse_line_range("#L3-4"), Some((3, 4)));
        assert_eq!(parse_line_range("#L0"), None);
        assert_eq!(parse_line_range("#top"), None);
        assert_eq!(range_fragment((5, 9)), "#L5-L9");
    }

    #[test]
    fn search_finds_every_match() {
        assert_eq!(matches_in("Error: error", "error"), vec![(0, 5), (7, 12)]);
        assert!(matches_in("abc", "").is_empty());
    }

    #[test]
    fn a_system_line_ends_the_open_rows_before_it() {
        let mut ls = Vec::new();
        push_line(&mut ls, line(1, LogStream::Stdout, "Name? ", true));
        push_line(&mut ls, line(2, LogStream::Stdin, "> Ada", false));
        push_line(&mut ls, line(3, LogStream::Stdout, "hi Ada", false));
        let texts: Vec<&str> = ls.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["Name? ", "> Ada", "hi Ada"]);
    }

    #[test]
    fn an_open_line_is_continued_by_its_stream_only() {
        let mut lines = Vec::new();
        push_line(&mut lines, line(1, LogStream::Stdout, "Name? ", true));
        push_line(&mut lines, line(2, LogStream::Stdout, "bob", false));
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].text, "Name? bob");
        assert_eq!(lines[0].seq, 2, "a new key, so the row renders again");
        assert!(!lines[0].open);
        push_line(&mut lines, line(3, LogStream::Stdout, "50%", true));
        // The other stream's line, read first, stands alone ...
        push_line(&mut lines, line(4, LogStream::Stderr, "warn", false));
        // ... and the prompt's stream still continues its own row.
        push_line(&mut lines, line(5, LogStream::Stdout, "done", false));
        push_line(&mut lines, line(6, LogStream::Stdout, "next", false));
        let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["Name? bob", "50%done", "warn", "next"]);
    }
}

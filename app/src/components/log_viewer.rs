//! A live log viewer that stays smooth at 100,000 lines: rows have a fixed
//! height and only the visible window (plus some overscan) is rendered.
//! Follows new output until the reader scrolls up; filters by stream and
//! by text; colours come from ANSI sequences.

use leptos::prelude::*;

use super::ansi;
use crate::model::{LogLevel, LogStream};

const ROW_PX: f64 = 20.0;
const OVERSCAN: usize = 40;

#[derive(Clone, Debug, PartialEq)]
pub struct LogLine {
    pub seq: u64,
    pub stream: LogStream,
    pub level: LogLevel,
    pub text: String,
    /// The line did not end (a prompt, or a piece of a very long line):
    /// the stream's next line continues it.
    pub open: bool,
}

/// How far back a line looks for its stream's open row (other streams'
/// lines may have come in between: stdout and stderr are read apart).
const CONTINUE_WITHIN: usize = 64;

/// Adds `line` to `lines`, joining it to its stream's last row when that
/// row was left open (so a prompt and the rest of its line show as one
/// row, whatever the other stream printed meanwhile).
pub fn push_line(lines: &mut Vec<LogLine>, line: LogLine) {
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

#[component]
pub fn LogViewer(
    #[prop(into)] lines: Signal<Vec<LogLine>>,
    download_href: String,
) -> impl IntoView {
    let (stream_filter, set_stream_filter) = signal(StreamFilter::All);
    let (search, set_search) = signal(String::new());
    let (scroll_top, set_scroll_top) = signal(0.0f64);
    let (viewport_height, set_viewport_height) = signal(560.0f64);
    let (follow, set_follow) = signal(true);
    let viewport = NodeRef::<leptos::html::Div>::new();

    // Indices of the lines that pass the filters; `None` means all of them.
    let filtered = Memo::new(move |_| {
        let f = stream_filter.get();
        let q = search.get().to_lowercase();
        if f == StreamFilter::All && q.is_empty() {
            return None;
        }
        Some(lines.with(|ls| {
            ls.iter()
                .enumerate()
                .filter(|(_, l)| {
                    f.accepts(l.stream) && (q.is_empty() || l.text.to_lowercase().contains(&q))
                })
                .map(|(i, _)| i as u32)
                .collect::<Vec<u32>>()
        }))
    });
    let total = move || {
        filtered
            .with(|f| f.as_ref().map(Vec::len))
            .unwrap_or_else(|| lines.with(Vec::len))
    };
    let window = move || {
        let start = ((scroll_top.get() / ROW_PX) as usize).saturating_sub(OVERSCAN);
        let count = (viewport_height.get() / ROW_PX) as usize + 2 * OVERSCAN;
        let end = (start + count).min(total());
        (start.min(end), end)
    };
    let rows = move || {
        let (start, end) = window();
        lines.with(|ls| {
            filtered.with(|f| {
                (start..end)
                    .filter_map(|i| {
                        let idx = match f {
                            Some(v) => *v.get(i)? as usize,
                            None => i,
                        };
                        ls.get(idx).cloned()
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
            set_follow.set(top + height >= f64::from(el.scroll_height()) - 4.0);
        }
    };
    let jump_to_end = move || {
        if let Some(el) = viewport.get() {
            el.set_scroll_top(el.scroll_height());
        }
    };
    // Follow mode: new output scrolls into view unless the reader scrolled up.
    Effect::new(move |_| {
        let _ = total();
        if follow.get_untracked() {
            jump_to_end();
        }
    });

    view! {
        <div class="rounded-xl border border-slate-200 bg-white dark:border-slate-800 dark:bg-slate-900">
            <div class="flex flex-wrap items-center gap-2 border-b border-slate-200 px-3 py-2 text-sm dark:border-slate-800">
                <select
                    class="rounded-md border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-950"
                    aria-label="Stream"
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
                    class="min-w-0 flex-1 rounded-md border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-950"
                    on:input=move |ev| set_search.set(event_target_value(&ev))
                />
                <span class="text-xs text-slate-500" data-testid="log-count">
                    {move || match total() {
                        1 => "1 line".to_string(),
                        n => format!("{n} lines"),
                    }}
                </span>
                <button
                    type="button"
                    class="rounded-md border border-slate-300 px-2 py-1 text-xs hover:bg-slate-100 disabled:opacity-50 dark:border-slate-700 dark:hover:bg-slate-800"
                    disabled=move || follow.get()
                    on:click=move |_| {
                        set_follow.set(true);
                        jump_to_end();
                    }
                >
                    {move || if follow.get() { "Following" } else { "Follow" }}
                </button>
                <a
                    href=download_href
                    class="rounded-md border border-slate-300 px-2 py-1 text-xs hover:bg-slate-100 dark:border-slate-700 dark:hover:bg-slate-800"
                    download=""
                >
                    "Download"
                </a>
            </div>
            <div
                node_ref=viewport
                class="relative overflow-auto rounded-b-xl bg-slate-950 font-mono text-xs text-slate-200"
                style="height: 60vh"
                on:scroll=on_scroll
                data-testid="log-viewport"
            >
                <div style=move || format!("position: relative; height: {}px", total() as f64 * ROW_PX)>
                    <div style=move || format!("position: absolute; left: 0; right: 0; top: {}px", window().0 as f64 * ROW_PX)>
                        <For each=rows key=|line| line.seq let:line>
                            <LogRow line=line />
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
fn LogRow(line: LogLine) -> impl IntoView {
    let tone = match (line.stream, line.level) {
        (LogStream::System, _) => "bg-amber-950/40",
        (_, LogLevel::Error) => "bg-rose-950/40",
        _ => "",
    };
    let marker = match line.stream {
        LogStream::Stdout => "border-transparent",
        LogStream::Stderr => "border-amber-500",
        LogStream::System => "border-sky-500",
    };
    view! {
        <div
            class=format!("h-5 whitespace-pre border-l-2 px-3 leading-5 {marker} {tone}")
            data-testid="log-line"
            data-stream=match line.stream {
                LogStream::Stdout => "stdout",
                LogStream::Stderr => "stderr",
                LogStream::System => "system",
            }
        >
            {ansi::spans(&line.text)
                .into_iter()
                .map(|s| view! { <span class=s.class>{s.text}</span> })
                .collect_view()}
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
        }
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

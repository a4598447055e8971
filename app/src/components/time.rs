//! Times as people read them: "5 min ago", with the exact time (in the
//! reader's own time zone once the page is live) in a tooltip, and kept
//! current while the page stays open.

use std::time::Duration;

use leptos::prelude::*;

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Date::now() as i64
    }
    #[cfg(not(feature = "hydrate"))]
    {
        chrono::Utc::now().timestamp_millis()
    }
}

/// `at` relative to `now`: "just now", "12 s ago", "5 min ago", "3 h ago",
/// "yesterday", "4 days ago", a date after a month; "in 5 min" ahead.
pub fn relative(at: i64, now: i64) -> String {
    let diff = now - at;
    let (ahead, secs) = (diff < 0, diff.unsigned_abs() / 1000);
    let text = match secs {
        0..=9 => return "just now".into(),
        10..=59 => format!("{secs} s"),
        60..=3599 => format!("{} min", secs / 60),
        3600..=86_399 => format!("{} h", secs / 3600),
        86_400..=172_799 if !ahead => return "yesterday".into(),
        86_400..=2_591_999 => format!("{} days", secs / 86_400),
        _ => return date(at),
    };
    if ahead {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

fn date(at: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(at)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// The exact time: UTC on the server, the reader's local time in the
/// browser.
pub fn absolute(at: i64, local: bool) -> String {
    #[cfg(feature = "hydrate")]
    if local {
        let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(at as f64));
        return String::from(d.to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED));
    }
    let _ = local;
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(at)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// The page's clock: ticks every 15 s in the browser, so that every time
/// on the page stays true. Provided once by the frame.
#[derive(Clone, Copy)]
pub struct Clock {
    pub now: RwSignal<i64>,
    /// The page is live (times show in the local zone).
    pub live: RwSignal<bool>,
}

pub fn provide_clock() {
    let clock = Clock {
        now: RwSignal::new(now_ms()),
        live: RwSignal::new(false),
    };
    #[cfg(feature = "hydrate")]
    Effect::new(move |prev: Option<()>| {
        if prev.is_some() {
            return;
        }
        clock.live.set(true);
        clock.now.set(now_ms());
        if let Ok(handle) =
            set_interval_with_handle(move || clock.now.set(now_ms()), Duration::from_secs(15))
        {
            on_cleanup(move || handle.clear());
        }
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = Duration::ZERO;
    provide_context(clock);
}

/// Whether the page is live (hydrated). Buttons that need the browser are
/// disabled until then, so that none silently does nothing.
pub fn page_live() -> Signal<bool> {
    let clock = use_context::<Clock>();
    Signal::derive(move || clock.is_some_and(|c| c.live.get()))
}

/// `<time>` showing `ms` relative to now, exact in its tooltip.
#[component]
pub fn Time(ms: i64) -> impl IntoView {
    let clock = use_context::<Clock>();
    let iso = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default();
    view! {
        <time
            datetime=iso
            data-testid="time"
            title=move || absolute(ms, clock.is_some_and(|c| c.live.get()))
        >
            {move || relative(ms, clock.map_or_else(now_ms, |c| c.now.get()))}
        </time>
    }
}

#[cfg(test)]
mod tests {
    use super::relative;

    #[test]
    fn times_read_as_people_say_them() {
        let now = 1_800_000_000_000;
        assert_eq!(relative(now - 3_000, now), "just now");
        assert_eq!(relative(now - 42_000, now), "42 s ago");
        assert_eq!(relative(now - 5 * 60_000, now), "5 min ago");
        assert_eq!(relative(now - 3 * 3_600_000, now), "3 h ago");
        assert_eq!(relative(now - 30 * 3_600_000, now), "yesterday");
        assert_eq!(relative(now - 4 * 86_400_000, now), "4 days ago");
        assert_eq!(relative(now + 5 * 60_000, now), "in 5 min");
        assert_eq!(relative(now - 90 * 86_400_000, now), "2026-10-17");
    }
}

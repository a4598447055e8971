//! What the process counts as it goes, for Prometheus: requests, events
//! written and their batches' latency, GitHub deliveries. Kept since the
//! process started (one set per process); `crate::http::metrics` serves
//! them at `/metrics` with gauges read at each scrape.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: &'static str,
    /// The route's pattern (`/api/v1/executions/{id}`), never the path.
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    event: String,
    outcome: &'static str,
}

/// What the process counts as it goes.
struct Counters {
    http_requests: Family<HttpLabels, Counter>,
    http_seconds: Histogram,
    events_written: Counter,
    batch_seconds: Histogram,
    deliveries: Family<DeliveryLabels, Counter>,
}

static COUNTERS: LazyLock<Counters> = LazyLock::new(|| Counters {
    http_requests: Family::default(),
    // 0.5 ms … ~4 s.
    http_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
    events_written: Counter::default(),
    // 0.1 ms … ~0.8 s.
    batch_seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 14)),
    deliveries: Family::default(),
});

/// Events and log lines written, per second, for the last minute or so
/// (one slot per second, reused as time goes round).
static RECENT: std::sync::Mutex<[(i64, u64, u64); 64]> = std::sync::Mutex::new([(0, 0, 0); 64]);

/// A batch of `events` (`lines` of them log lines) written by the event
/// writer in `took`.
pub fn events_written(events: usize, lines: usize, took: Duration) {
    COUNTERS.events_written.inc_by(events as u64);
    COUNTERS.batch_seconds.observe(took.as_secs_f64());
    let second = chrono::Utc::now().timestamp();
    let mut recent = RECENT.lock().unwrap_or_else(|e| e.into_inner());
    let slot = &mut recent[second.rem_euclid(64) as usize];
    if slot.0 != second {
        *slot = (second, 0, 0);
    }
    slot.1 += events as u64;
    slot.2 += lines as u64;
}

/// Events and log lines this process wrote per second over the last 60
/// seconds.
pub fn recent_rates() -> (f64, f64) {
    let now = chrono::Utc::now().timestamp();
    let recent = RECENT.lock().unwrap_or_else(|e| e.into_inner());
    let (events, lines) = recent
        .iter()
        .filter(|(second, _, _)| now - second < 60 && *second <= now)
        .fold((0, 0), |(e, l), (_, de, dl)| (e + de, l + dl));
    (events as f64 / 60.0, lines as f64 / 60.0)
}

/// A GitHub delivery and what became of it (`done`, or the refusal's code).
pub fn delivery(event: Option<&str>, outcome: &'static str) {
    // The header is the sender's: it names the event only once the
    // signature proved the sender is GitHub (whose events are a short
    // list), and only in GitHub's shape, so that nobody can grow the
    // series without bound.
    let event = match event {
        _ if outcome != "done" => "unverified",
        Some(e) if e.len() <= 40 && e.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') => e,
        _ => "other",
    };
    COUNTERS
        .deliveries
        .get_or_create(&DeliveryLabels {
            event: event.to_string(),
            outcome,
        })
        .inc();
}

/// One answered HTTP request: `route` is the matched route's pattern
/// (`/api/v1/executions/{id}`, never the path), or `unmatched`.
pub fn request(method: &axum::http::Method, route: String, status: u16, took: Duration) {
    COUNTERS
        .http_requests
        .get_or_create(&HttpLabels {
            method: method_label(method),
            route,
            status,
        })
        .inc();
    COUNTERS.http_seconds.observe(took.as_secs_f64());
}

fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Registers the process's counters in `registry` (they keep counting:
/// the registry holds handles, not copies).
pub fn register(registry: &mut Registry) {
    let c = &*COUNTERS;
    registry.register(
        "http_requests",
        "HTTP requests by method, route pattern and status",
        c.http_requests.clone(),
    );
    registry.register(
        "http_request_duration_seconds",
        "Time to answer an HTTP request (to its headers; a WebSocket until its upgrade)",
        c.http_seconds.clone(),
    );
    registry.register(
        "events_written",
        "Execution events (log lines, progress, status) committed by the event writer",
        c.events_written.clone(),
    );
    registry.register(
        "event_batch_duration_seconds",
        "Time to commit one batch of events",
        c.batch_seconds.clone(),
    );
    registry.register(
        "github_deliveries",
        "GitHub webhook deliveries by event and outcome (done, or the refusal's code)",
        c.deliveries.clone(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_verified_deliveries_name_their_event() {
        delivery(Some("issues"), "done");
        delivery(Some("x{y=\"z\"}"), "done");
        delivery(Some("made_up_by_anyone"), "bad_signature");
        delivery(None, "bad_signature");
        let unverified = COUNTERS.deliveries.get_or_create(&DeliveryLabels {
            event: "unverified".into(),
            outcome: "bad_signature",
        });
        assert!(unverified.get() >= 2);
        let other = COUNTERS.deliveries.get_or_create(&DeliveryLabels {
            event: "other".into(),
            outcome: "done",
        });
        assert!(other.get() >= 1);
        let issues = COUNTERS.deliveries.get_or_create(&DeliveryLabels {
            event: "issues".into(),
            outcome: "done",
        });
        assert!(issues.get() >= 1);
    }
}

//! `/metrics`: off without a token, refused without the right one, and
//! figures that follow what happened (requests by route, events written,
//! runs by status, sockets by dialect), in the OpenMetrics text format.

use serde_json::json;

use crate::common::*;

const TOKEN: &str = "metrics-token-for-the-tests-0123";

async fn scrape(t: &TestServer, token: Option<&str>) -> reqwest::Response {
    let mut req = t.http.get(t.url("/metrics"));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.send().await.unwrap()
}

/// The value of one series (`name{labels}` exactly as exposed).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

#[tokio::test]
async fn metrics_are_off_without_a_token() {
    let t = start().await;
    let res = scrape(&t, None).await;
    assert_eq!(res.status(), 404);
    assert!(res.text().await.unwrap().contains("--metrics-token"));
}

#[tokio::test]
async fn metrics_count_requests_runs_and_sockets() {
    let t = start_with(|c| c.metrics_token = Some(TOKEN.into())).await;
    for token in [None, Some("wrong"), Some(&TOKEN[..TOKEN.len() - 1])] {
        let res = scrape(&t, token).await;
        assert_eq!(res.status(), 401, "token {token:?}");
        assert_eq!(res.headers()["www-authenticate"], "Bearer");
    }
    let admin = t.setup_admin().await;
    let (run, lines) = run_to_completion(
        &t,
        &admin,
        "Counted",
        &[
            "sh",
            "-c",
            "i=1; while [ $i -le 50 ]; do echo line $i; i=$((i+1)); done",
        ],
        json!({}),
    )
    .await;
    assert_eq!(lines.len(), 50);
    let _ws = ws_connect(&t.ws_url(&format!("?token={admin}"))).await;

    let series = r#"yagura_websocket_connections{dialect="native"}"#;
    eventually("the socket is counted", 10, || async {
        value(&scrape(&t, Some(TOKEN)).await.text().await.unwrap(), series) == Some(1.0)
    })
    .await;
    let res = scrape(&t, Some(TOKEN)).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = res.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    let at_least = |series: &str, min: f64| {
        let v = value(&text, series).unwrap_or_else(|| panic!("no {series} in\n{text}"));
        assert!(v >= min, "{series} = {v}, expected ≥ {min}");
    };
    at_least(r#"yagura_executions{status="completed"}"#, 1.0);
    at_least("yagura_events_written_total", 50.0);
    at_least("yagura_event_batch_duration_seconds_count", 1.0);
    at_least(
        r#"yagura_http_requests_total{method="POST",route="/api/v1/executions",status="201"}"#,
        1.0,
    );
    at_least(
        r#"yagura_http_requests_total{method="GET",route="/metrics",status="401"}"#,
        3.0,
    );
    assert_eq!(value(&text, "yagura_queue_depth"), Some(0.0));
    assert_eq!(value(&text, "yagura_runners_online"), Some(0.0));
    assert_eq!(
        value(&text, r#"yagura_websocket_connections{dialect="ktcp"}"#),
        Some(0.0)
    );
    // Routes are patterns: no run's id ever becomes a label.
    let _ = execution(&t, &admin, &run).await;
    let text = scrape(&t, Some(TOKEN)).await.text().await.unwrap();
    assert!(!text.contains(&run), "an id in the labels");
    at_least_in(
        &text,
        r#"yagura_http_requests_total{method="GET",route="/api/v1/executions/{id}",status="200"}"#,
    );
}

fn at_least_in(text: &str, series: &str) {
    assert!(
        value(text, series).is_some_and(|v| v >= 1.0),
        "no {series} in\n{text}"
    );
}

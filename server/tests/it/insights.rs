//! Insights: the figures follow the runs (per day by outcome, per agent,
//! queue wait), and the page renders them on the server.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::*;

#[tokio::test]
async fn insights_count_the_runs_by_day_agent_and_outcome() {
    let t = start().await;
    let admin = t.setup_admin().await;
    let ok = create_agent(&t, &admin, "Passes", &["sh", "-c", "echo fine"], json!({})).await;
    let bad = create_agent(
        &t,
        &admin,
        "Breaks",
        &["sh", "-c", "echo no; exit 2"],
        json!({}),
    )
    .await;
    for (agent, times) in [(&ok, 3), (&bad, 1)] {
        for _ in 0..times {
            let id = start_execution(&t, &admin, agent, "").await;
            wait_status(
                &t,
                &admin,
                &id,
                &["completed", "failed"],
                Duration::from_secs(30),
            )
            .await;
        }
    }
    let get = |days: &str| {
        let t = &t;
        let admin = admin.clone();
        let days = days.to_string();
        async move {
            t.http
                .get(t.url(&format!("/api/v1/insights?days={days}")))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap()
        }
    };
    let res = get("7").await;
    assert_eq!(res.status(), 200);
    let i: Value = res.json().await.unwrap();
    let days = i["perDay"].as_array().unwrap();
    assert_eq!(days.len(), 7);
    let today = days.last().unwrap();
    assert_eq!(
        (today["completed"].as_u64(), today["failed"].as_u64()),
        (Some(3), Some(1)),
        "{i}"
    );
    assert!(days[..6]
        .iter()
        .all(|d| d["completed"] == 0 && d["failed"] == 0));
    let agents = i["agents"].as_array().unwrap();
    assert_eq!(agents[0]["name"], "Passes");
    assert_eq!(
        (
            agents[0]["finished"].as_u64(),
            agents[0]["succeeded"].as_u64()
        ),
        (Some(3), Some(3))
    );
    assert_eq!(agents[0]["duration"]["samples"], 3);
    assert!(agents[0]["duration"]["p50"].as_i64().unwrap() >= 0);
    assert_eq!(
        (
            agents[1]["finished"].as_u64(),
            agents[1]["succeeded"].as_u64()
        ),
        (Some(1), Some(0))
    );
    assert_eq!(i["queueWait"]["samples"], 4);
    // The runs' lines were written by this server within the minute.
    assert!(i["now"]["linesPerSecond"].as_f64().unwrap() > 0.0, "{i}");
    assert_eq!(i["now"]["running"], 0);
    // Out of range: a clear error.
    assert_eq!(get("0").await.status(), 422);
    assert_eq!(get("365").await.status(), 422);
    // The page, server-rendered: the chart, the agents, the load.
    let page = t
        .http
        .get(t.url("/insights?days=7"))
        .header("cookie", format!("yagura_session={admin}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("data-testid=\"runs-per-day\""), "chart");
    assert!(page.contains("4 runs in the last 7 days"), "total");
    assert!(page.contains("data-name=\"Breaks\""), "agents table");
    assert!(
        page.contains("100%") && page.contains("0%"),
        "success rates"
    );
    assert!(page.contains("CPU ("), "host load");
    t.shutdown().await;
}

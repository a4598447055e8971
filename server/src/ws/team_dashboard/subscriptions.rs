//! `subscribe:agent`, `subscribe:logs`, `subscribe:metrics` and
//! `unsubscribe` on a connection.

use std::time::Duration;

use app::protocol::team_dashboard::{ErrorCode, MAX_SUBSCRIPTIONS, METRICS_INTERVAL_SECS};
use serde_json::{json, Value};
use tokio::time::{Instant, Interval};

use super::agents;
use super::conn::Conn;
use super::envelope::{message, Request};
use super::session::{Subscription, Topic};

impl Conn {
    pub(super) async fn subscribe(&mut self, request: &Request) {
        let topic = match request.kind.as_str() {
            "subscribe:agent" => Topic::Agent,
            "subscribe:logs" => Topic::Logs,
            _ => Topic::Metrics,
        };
        let agent = match (topic, request.str("agentId")) {
            (Topic::Metrics, _) | (_, None) => None,
            (_, Some(raw)) => match agents::find_agent(&self.ctx, raw).await {
                Some(agent) => Some(agent.id),
                None => {
                    self.ctx
                        .refuse(
                            request.id(),
                            Some(raw),
                            ErrorCode::AgentNotFound,
                            format!("Agent {raw} not found"),
                        )
                        .await;
                    return;
                }
            },
        };
        let filters: Vec<String> = request
            .field("filters")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let id = uuid::Uuid::new_v4().to_string();
        let added = {
            let mut state = self.session.state();
            let room = state.subscriptions.len() < MAX_SUBSCRIPTIONS;
            if room {
                state.subscriptions.insert(
                    id.clone(),
                    Subscription {
                        topic,
                        agent,
                        filters,
                        since_ms: chrono::Utc::now().timestamp_millis(),
                    },
                );
            }
            room
        };
        if !added {
            self.ctx
                .refuse(
                    request.id(),
                    None,
                    ErrorCode::RateLimitExceeded,
                    format!("at most {MAX_SUBSCRIPTIONS} subscriptions per connection"),
                )
                .await;
            return;
        }
        self.ctx
            .ack(request.id(), json!({"subscriptionId": id}))
            .await;
        match (topic, agent) {
            (Topic::Metrics, _) => {
                if self.metrics.is_none() {
                    self.metrics = Some(metrics_timer());
                }
                self.send_metrics(request.id()).await;
            }
            (_, Some(agent)) => self.follow(agent, 0),
            (_, None) => self.ensure_discovery(),
        }
    }

    pub(super) async fn unsubscribe(&mut self, request: &Request) {
        let Some(id) = request.str("subscriptionId") else {
            self.ctx
                .refuse(
                    request.id(),
                    None,
                    ErrorCode::InvalidMessage,
                    "unsubscribe needs payload.subscriptionId",
                )
                .await;
            return;
        };
        let removed = self.session.state().subscriptions.remove(id);
        if removed.is_some() {
            let session = self.session.clone();
            self.followers.retain(|agent, token| {
                let keep = session.follows(*agent);
                if !keep {
                    token.cancel();
                }
                keep
            });
            self.ensure_discovery();
            if !self.session.wants_metrics() {
                self.metrics = None;
            }
        }
        self.ctx
            .ack(
                request.id(),
                json!({"subscriptionId": id, "removed": removed.is_some()}),
            )
            .await;
    }

    pub(super) async fn send_metrics(&self, correlation: Option<&str>) {
        let pids = self.ctx.state.executions.running_pids();
        let payload = self.ctx.dash.metrics.sample(pids).await;
        self.ctx
            .send(message("metrics:update", payload, correlation, None))
            .await;
    }
}

pub(super) fn metrics_timer() -> Interval {
    let every = Duration::from_secs(METRICS_INTERVAL_SECS);
    let mut timer = tokio::time::interval_at(Instant::now() + every, every);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    timer
}

//! `metrics:update`: the host's CPU, memory, network, the disk holding the
//! data directory, and each running agent's process.
//!
//! One sampler serves every connection: a sample younger than
//! [`FRESH_FOR`] is handed out again instead of reading `/proc` once per
//! subscriber. CPU figures are the usage between two samples, so the very
//! first one reads 0.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::model::ExecutionId;
use serde_json::{json, Value};
use sysinfo::{Disks, Networks, Pid, ProcessRefreshKind, ProcessesToUpdate, System};

/// A sample this young is reused.
const FRESH_FOR: Duration = Duration::from_millis(1000);

pub struct Sampler {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    data_dir: PathBuf,
    system: System,
    networks: Networks,
    disks: Disks,
    /// The last sample and the agents it was read for.
    last: Option<(Instant, Agents, Value)>,
}

/// Running agents' processes: execution id and pid.
type Agents = Vec<(ExecutionId, u32)>;

impl Sampler {
    pub fn new(data_dir: PathBuf) -> Self {
        let mut system = System::new();
        system.refresh_cpu_usage();
        Sampler {
            inner: Arc::new(Mutex::new(Inner {
                data_dir,
                system,
                networks: Networks::new_with_refreshed_list(),
                disks: Disks::new_with_refreshed_list(),
                last: None,
            })),
        }
    }

    /// The `metrics:update` payload, with `agents` the running agents'
    /// processes (execution id and pid).
    pub async fn sample(&self, agents: Vec<(ExecutionId, u32)>) -> Value {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut inner = inner.lock().unwrap_or_else(|e| e.into_inner());
            // Reused only for the same agents: a read for none (the
            // Insights page) must not blank the dashboard's.
            if let Some((at, for_agents, value)) = &inner.last {
                if at.elapsed() < FRESH_FOR && *for_agents == agents {
                    return value.clone();
                }
            }
            let value = inner.read(&agents);
            inner.last = Some((Instant::now(), agents, value.clone()));
            value
        })
        .await
        .unwrap_or_else(|_| json!({}))
    }
}

impl Inner {
    fn read(&mut self, agents: &[(ExecutionId, u32)]) -> Value {
        self.system.refresh_cpu_usage();
        self.system.refresh_memory();
        self.networks.refresh(true);
        self.disks.refresh(true);

        let total = self.system.total_memory();
        let available = self.system.available_memory();
        let used = total.saturating_sub(available);
        let (bytes_in, bytes_out, packets_in, packets_out) =
            self.networks
                .list()
                .values()
                .fold((0u64, 0u64, 0u64, 0u64), |(bi, bo, pi, po), n| {
                    (
                        bi + n.total_received(),
                        bo + n.total_transmitted(),
                        pi + n.total_packets_received(),
                        po + n.total_packets_transmitted(),
                    )
                });
        // The disk holding the data directory: the longest mount point
        // that is a prefix of it.
        let data_dir = std::fs::canonicalize(&self.data_dir).unwrap_or(self.data_dir.clone());
        let disk = self
            .disks
            .list()
            .iter()
            .filter(|d| data_dir.starts_with(d.mount_point()))
            .max_by_key(|d| d.mount_point().as_os_str().len());
        let (disk_total, disk_used) = disk.map_or((0, 0), |d| {
            (
                d.total_space(),
                d.total_space().saturating_sub(d.available_space()),
            )
        });

        let pids: Vec<Pid> = agents.iter().map(|(_, p)| Pid::from_u32(*p)).collect();
        self.system.refresh_processes_specifics(
            ProcessesToUpdate::Some(&pids),
            true,
            ProcessRefreshKind::nothing()
                .with_cpu()
                .with_memory()
                .with_tasks(),
        );
        let agents: Vec<Value> = agents
            .iter()
            .filter_map(|(id, pid)| {
                let p = self.system.process(Pid::from_u32(*pid))?;
                Some(json!({
                    "agentId": id.to_string(),
                    "cpu": round(f64::from(p.cpu_usage())),
                    "memory": p.memory(),
                    "threads": p.tasks().map_or(1, |t| t.len().max(1)),
                }))
            })
            .collect();

        json!({
            "system": {
                "cpu": {
                    "usage": round(f64::from(self.system.global_cpu_usage())),
                    "cores": self.system.cpus().len(),
                },
                "memory": {
                    "total": total,
                    "used": used,
                    "available": available,
                    "percent": percent(used, total),
                },
                "disk": {
                    "total": disk_total,
                    "used": disk_used,
                    "percent": percent(disk_used, disk_total),
                },
                "network": {
                    "bytesIn": bytes_in,
                    "bytesOut": bytes_out,
                    "packetsIn": packets_in,
                    "packetsOut": packets_out,
                },
            },
            "agents": agents,
        })
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        round(part as f64 * 100.0 / whole as f64)
    }
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_sample_has_the_seeds_fields_and_our_own_process() {
        let dir = std::env::temp_dir();
        let sampler = Sampler::new(dir);
        let me = ExecutionId(uuid::Uuid::from_u128(1));
        // A fresh sample for no agents (the Insights page) is not handed
        // to whoever asks for some.
        let none = sampler.sample(Vec::new()).await;
        assert_eq!(none["agents"].as_array().map(Vec::len), Some(0));
        let v = sampler.sample(vec![(me, std::process::id())]).await;
        let system = &v["system"];
        assert!(system["cpu"]["cores"].as_u64().unwrap() >= 1);
        assert!(system["memory"]["total"].as_u64().unwrap() > 0);
        assert!(
            system["memory"]["used"].as_u64().unwrap()
                <= system["memory"]["total"].as_u64().unwrap()
        );
        assert!(system["disk"]["total"].as_u64().unwrap() > 0);
        assert!(system["network"]["bytesIn"].is_u64());
        let agents = v["agents"].as_array().unwrap();
        assert_eq!(agents.len(), 1);
        assert_eq!(agents[0]["agentId"], me.to_string());
        assert!(agents[0]["memory"].as_u64().unwrap() > 0);
        // The test runtime runs more than one thread.
        assert!(agents[0]["threads"].as_u64().unwrap() >= 1);
    }
}

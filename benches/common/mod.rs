//! What several benches share: an in-process node on port 0 with the repository's
//! topology, and a learn that retries while admission control refuses it.
#![allow(dead_code)]

use serde_json::json;
use std::path::Path;
use std::time::Duration;
use sutra::actors::node::{self, NodeOptions, RunningNode};
use sutra::config::ClusterConfig;

/// Resident memory of this process (`VmRSS`), in KiB; `None` where /proc is missing.
pub fn rss_kib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The repository's `cluster.toml`.
pub fn config() -> ClusterConfig {
    ClusterConfig::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("cluster.toml")).unwrap()
}

/// Starts the topology's first node in this process, HTTP on port 0, data in `dir`;
/// `embedders` overrides its embedder replicas (0: no embeddings).
pub async fn start_node(dir: &Path, embedders: Option<u32>) -> RunningNode {
    let config = config();
    let mut node = config.node(None).unwrap().clone();
    node.http_addr = "127.0.0.1:0".parse().unwrap();
    node.data_dir = dir.to_path_buf();
    if let Some(n) = embedders {
        node.embedder_replicas = n;
    }
    node::start(NodeOptions {
        config,
        node,
        fault_injection: false,
    })
    .await
    .unwrap()
}

/// `POST {base}/v1/learn/batch` with `contents` until it is admitted. A full node answers
/// 503 at once (admission control paces learns by queue delay): a client after
/// throughput retries soon.
pub fn learn_until_admitted(agent: &ureq::Agent, base: &str, contents: &[String]) {
    loop {
        match agent
            .post(&format!("{base}/v1/learn/batch"))
            .send_json(json!({ "contents": contents }))
        {
            Ok(resp) => {
                assert_eq!(resp.status(), 200);
                return;
            }
            Err(ureq::Error::Status(503, _)) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => panic!("learn failed: {e}"),
        }
    }
}

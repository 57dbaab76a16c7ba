//! A full or failing disk under a shard's log (issue 15): writes are refused with 507
//! (full) or 503 (I/O error) and nothing of them is stored, reads go on, the shard is
//! not restarted, `/ready` and `/v1/stats` say the shard is read-only and why, and
//! writes resume by themselves once the disk takes them again, with nothing
//! acknowledged lost across kill -9. The faults come from the `log_error` fault point
//! (every write, sync and probe of one shard's log fails with an errno for a while).

mod common;

use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn batch(tag: &str) -> Vec<String> {
    (0..16)
        .map(|i| format!("Widget {tag}{i} is part of Rack {tag}."))
        .collect()
}

fn learn_batch(node: &common::Node, contents: &[String]) -> (u16, Value) {
    node.post(
        "/v1/learn/batch",
        json!({ "contents": contents, "options": { "generate_embedding": false, "read_your_writes": true } }),
    )
}

/// Learns until the node takes writes again (the probe runs every 200 ms); panics with
/// the last answer after `secs`.
fn learn_when_writable(node: &common::Node, contents: &[String], secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let (status, body) = learn_batch(node, contents);
        if status == 200 {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "writes did not resume after the fault cleared: {status} {body}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn shard_restarts(stats: &Value) -> u64 {
    stats["restarts"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| k.starts_with("shard"))
                .map(|(_, v)| v.as_u64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn a_full_or_failing_disk_refuses_writes_keeps_reads_and_recovers_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut node = common::start(&data);
    node.wait_status("/ready", 200, 60);
    let before = batch("base");
    let (status, body) = learn_batch(&node, &before);
    assert_eq!(status, 200, "{body}");

    for (errno, expected) in [(28, 507), (5, 503)] {
        // Every shard's log fails: any batch is refused, whichever shards it touches.
        for shard in 0..4 {
            node.fault(
                json!({"point": "log_error", "shard": shard, "errno": errno, "ms": 600_000}),
            );
        }
        let refused = batch(&format!("r{errno}x"));
        let (status, body) = learn_batch(&node, &refused);
        assert_eq!(status, expected, "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("nothing of it was stored"), "{message}");
        assert!(message.contains("reads still work"), "{message}");
        // Refused again at once while the shard is read-only (no replay, no restart).
        let (status, _) = learn_batch(&node, &refused);
        assert_eq!(status, expected);
        // Reads go on.
        let (status, a) = node.post(
            "/v1/reason",
            json!({"query": "Is Widget base3 part of Rack base?"}),
        );
        assert_eq!(status, 200, "{a}");
        assert_eq!(a["verdict"], "yes", "{a}");
        let (status, ready) = node.get("/ready");
        assert_eq!(status, 200, "{ready}");
        assert_eq!(ready["status"], "read_only", "{ready}");
        let (_, stats) = node.get("/v1/stats");
        let read_only = stats["shards"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["stats"]["read_only"].is_string())
            .count();
        assert!(read_only >= 1, "{stats}");

        // Space comes back: writes resume by themselves.
        for shard in 0..4 {
            node.fault(json!({"point": "log_error", "shard": shard, "errno": errno, "ms": 0}));
        }
        let after = batch(&format!("w{errno}x"));
        learn_when_writable(&node, &after, 10);
        assert_eq!(node.get("/ready").1["status"], "ready");
        let (_, stats) = node.get("/v1/stats");
        assert_eq!(shard_restarts(&stats), 0, "no shard restarted: {stats}");
        // The refused batch left nothing behind.
        let (_, a) = node.post(
            "/v1/reason",
            json!({"query": format!("Is Widget r{errno}x3 part of Rack r{errno}x?")}),
        );
        assert_eq!(a["verdict"], "unknown", "{a}");
    }

    // Everything acknowledged survives kill -9, and the cut-back logs replay cleanly.
    node.kill9();
    let node = common::start(&data);
    node.wait_status("/ready", 200, 60);
    for q in [
        "Is Widget base3 part of Rack base?",
        "Is Widget w28x5 part of Rack w28x?",
        "Is Widget w5x7 part of Rack w5x?",
    ] {
        let (_, a) = node.post("/v1/reason", json!({ "query": q }));
        assert_eq!(a["verdict"], "yes", "{q}: {a}");
    }
    let (_, a) = node.post(
        "/v1/reason",
        json!({"query": "Is Widget r28x3 part of Rack r28x?"}),
    );
    assert_eq!(a["verdict"], "unknown", "{a}");
}

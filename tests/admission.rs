//! Admission control: a full node refuses data requests at once with 503 + Retry-After,
//! keeps answering health and admin requests, and loses nothing it admitted.
//!
//! The node is filled deterministically: the shards' next log syncs are made to stall
//! (fault injection), so admitted learns stay in flight while the test probes, and the
//! test waits for `GET /v1/stats` to show them in flight rather than sleeping.

mod common;

use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn batch(tag: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("Widget {tag}{i} is part of Rack {tag}."))
        .collect()
}

/// POSTs in a thread; returns (status, body).
fn post_in_background(
    base: &str,
    path: &str,
    body: Value,
) -> std::thread::JoinHandle<(u16, Value)> {
    let url = format!("{base}{path}");
    std::thread::spawn(move || {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(120))
            .build();
        match agent.post(&url).send_json(body) {
            Ok(r) => (r.status(), r.into_json().unwrap_or(Value::Null)),
            Err(ureq::Error::Status(s, r)) => (s, r.into_json().unwrap_or(Value::Null)),
            Err(e) => panic!("{e}"),
        }
    })
}

fn wait_ingress(node: &common::Node, key: &str, want: u64) {
    let started = Instant::now();
    loop {
        let (_, stats) = node.get("/v1/stats");
        if stats["ingress"][key].as_u64() == Some(want) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "ingress.{key} never reached {want}: {}",
            stats["ingress"]
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn stall_syncs(node: &common::Node, ms: u64) {
    for shard in 0..4 {
        node.fault(json!({"point": "log_slow_sync", "shard": shard, "ms": ms}));
    }
}

#[test]
fn a_full_node_refuses_at_once_and_keeps_what_it_admitted() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("cluster.toml");
    let text = std::fs::read_to_string(common::default_config()).unwrap();
    assert!(text.contains("max_in_flight = 512"));
    std::fs::write(
        &config,
        text.replace(
            "max_in_flight = 512",
            "max_in_flight = 2\nmax_statements_in_flight = 600",
        ),
    )
    .unwrap();
    let node = common::start_with(&config, &dir.path().join("data"));
    node.wait_status("/ready", 200, 60);
    let (_, stats) = node.get("/v1/stats");
    assert_eq!(stats["ingress"]["max_in_flight"], 2, "{stats}");
    assert_eq!(stats["ingress"]["max_statements_in_flight"], 600);

    // A batch of 500 held in its log sync: 1 request, 500 statements in flight.
    stall_syncs(&node, 3000);
    let opts = json!({ "generate_embedding": false, "read_your_writes": true });
    let a = post_in_background(
        &node.base,
        "/v1/learn/batch",
        json!({ "contents": batch("held", 500), "options": opts }),
    );
    wait_ingress(&node, "statements_in_flight", 500);

    // 500 + 200 > 600: refused at once, with Retry-After and a message saying why.
    let resp = ureq::post(&format!("{}/v1/learn/batch", node.base))
        .send_json(json!({ "contents": batch("refused", 200), "options": opts }));
    let Err(ureq::Error::Status(503, r)) = resp else {
        panic!("a batch beyond the statement bound was not refused: {resp:?}")
    };
    assert_eq!(r.header("retry-after"), Some("1"));
    let body: Value = r.into_json().unwrap();
    assert_eq!(body["error"]["code"], "unavailable");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("limits.max_statements_in_flight"), "{msg}");

    // A second learn fills the request bound (it stalls in the next sync).
    stall_syncs(&node, 3000);
    let b = post_in_background(
        &node.base,
        "/v1/learn",
        json!({ "content": "Widget single is part of Rack single.", "options": opts }),
    );
    wait_ingress(&node, "requests_in_flight", 2);
    let (status, body) = node.post(
        "/v1/reason",
        json!({ "query": "Is Widget held1 part of Rack held?" }),
    );
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("limits.max_in_flight"),
        "{body}"
    );
    // Liveness and the admin view are never refused.
    assert_eq!(node.get("/health").0, 200);
    assert_eq!(node.get("/v1/admin/actors").0, 200);

    // What was admitted is acknowledged and kept; the refused batch left nothing.
    let (sa, ba) = a.join().unwrap();
    assert_eq!(sa, 200, "{ba}");
    let (sb, bb) = b.join().unwrap();
    assert_eq!(sb, 200, "{bb}");
    wait_ingress(&node, "requests_in_flight", 0);
    for (q, verdict) in [
        ("Is Widget held499 part of Rack held?", "yes"),
        ("Is Widget single part of Rack single?", "yes"),
        ("Is Widget refused3 part of Rack refused?", "unknown"),
    ] {
        let (status, a) = node.post("/v1/reason", json!({ "query": q }));
        assert_eq!(
            (status, a["verdict"].as_str()),
            (200, Some(verdict)),
            "{q}: {a}"
        );
    }
    let text = ureq::get(&format!("{}/metrics", node.base))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(
        text.contains("sutra_admission_refused_total{bound=\"statements\"} 1"),
        "{text}"
    );
}

#[test]
fn a_learn_behind_more_than_the_queue_target_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("cluster.toml");
    let text = std::fs::read_to_string(common::default_config()).unwrap();
    std::fs::write(
        &config,
        text.replace(
            "max_in_flight = 512",
            "max_in_flight = 512\nqueue_target_ms = 1",
        ),
    )
    .unwrap();
    let node = common::start_with(&config, &dir.path().join("data"));
    node.wait_status("/ready", 200, 60);
    let opts = json!({ "generate_embedding": false });
    // One finished batch gives the node a measured rate.
    let (status, body) = node.post(
        "/v1/learn/batch",
        json!({ "contents": batch("first", 100), "options": opts }),
    );
    assert_eq!(status, 200, "{body}");
    let (_, stats) = node.get("/v1/stats");
    assert!(
        stats["ingress"]["statements_per_s"].as_f64().unwrap() > 0.0,
        "{stats}"
    );
    assert_eq!(stats["ingress"]["queue_target_ms"], 1);

    // An idle node admits any learn; this one is held in its log sync.
    stall_syncs(&node, 3000);
    let held = post_in_background(
        &node.base,
        "/v1/learn/batch",
        json!({ "contents": batch("held", 1000), "options": opts }),
    );
    wait_ingress(&node, "statements_in_flight", 1000);
    // 1,000 statements ahead take more than 1 ms at any rate a node reaches (it would
    // need a million a second), and are more than this learn's own 10: refused at once.
    let resp = ureq::post(&format!("{}/v1/learn/batch", node.base))
        .send_json(json!({ "contents": batch("late", 10), "options": opts }));
    let Err(ureq::Error::Status(503, r)) = resp else {
        panic!("a learn behind the queue target was not refused: {resp:?}")
    };
    assert_eq!(r.header("retry-after"), Some("1"));
    let body: Value = r.into_json().unwrap();
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("limits.queue_target_ms"), "{msg}");

    let (status, body) = held.join().unwrap();
    assert_eq!(status, 200, "{body}");
    wait_ingress(&node, "statements_in_flight", 0);
    // Idle again: admitted.
    let (status, body) = node.post(
        "/v1/learn/batch",
        json!({ "contents": batch("late", 10), "options": opts }),
    );
    assert_eq!(status, 200, "{body}");
    let (_, stats) = node.get("/v1/stats");
    assert_eq!(stats["ingress"]["refused_for_queue_delay"], 1, "{stats}");
}

//! Self-monitoring events (issue 13): each event type triggered by a real code path,
//! stored in the `events` knowledge base, listed by `GET /v1/events` and answered in
//! English; a burst beyond the buffer is dropped and counted; events off store nothing.

mod common;

use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// The event types stored so far.
fn types(node: &common::Node) -> BTreeSet<String> {
    let (status, body) = node.get("/v1/events?limit=10000");
    assert_eq!(status, 200, "{body}");
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["type"].as_str().unwrap().to_string())
        .collect()
}

/// Waits until every type in `want` is stored.
fn wait_for_types(node: &common::Node, want: &[&str], secs: u64) -> BTreeSet<String> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let have = types(node);
        let missing: Vec<&&str> = want.iter().filter(|t| !have.contains(**t)).collect();
        if missing.is_empty() {
            return have;
        }
        if Instant::now() > deadline {
            panic!(
                "event types {missing:?} never stored (have {have:?})\n{}",
                node.log_text()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn ask(node: &common::Node, kb: &str, q: &str) -> Value {
    let (status, body) = node.post(&format!("/v1/reason?kb={kb}"), json!({ "query": q }));
    assert_eq!(status, 200, "{q}: {body}");
    body
}

/// Every source text cited by an answer's paths.
fn cited(answer: &Value) -> Vec<Value> {
    answer["paths"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["edges"].as_array().unwrap().clone())
        .flat_map(|e| e["sources"].as_array().unwrap().clone())
        .map(|s| serde_json::from_str(s["text"].as_str().unwrap()).unwrap())
        .collect()
}

#[test]
fn real_code_paths_emit_events_that_are_listed_and_answered_in_english() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut node = common::start(&data);
    node.wait_status("/ready", 200, 60);

    // Learning across shards with embeddings, then a question.
    let batch: Vec<String> = (0..300)
        .map(|i| format!("Gadget {i}x is a kind of device {}.", i % 7))
        .collect();
    let (status, body) = node.post(
        "/v1/learn/batch",
        json!({"contents": batch, "options": {"generate_embedding": true}}),
    );
    assert_eq!(status, 200, "{body}");
    ask(&node, "default", "Is gadget 3x a kind of device 3?");

    // An operator kills a shard; an embedder replica panics in a batch.
    let (status, body) = node.post("/v1/admin/actors/shard-2/kill", json!({}));
    assert_eq!(status, 202, "{body}");
    node.fault(json!({"point": "embedder_panic", "replica": 0}));
    node.fault(json!({"point": "embedder_panic", "replica": 1}));
    let (status, _) = node.post(
        "/v1/learn",
        json!({"content": "The replica test sentence is a kind of probe.", "options": {"generate_embedding": true}}),
    );
    assert!(status == 200 || status == 503, "{status}");
    // A failing disk aborts a transaction across shards.
    node.wait_status("/ready", 200, 30);
    node.fault(
        json!({"point": "log_error", "shard": 1, "errno": 5, "ms": 600_000, "stage": "write"}),
    );
    let (status, body) = node.post(
        "/v1/learn/batch",
        json!({"contents": ["Widget a1 is part of rack b1.", "Widget c2 is part of rack d2.", "Widget e3 is part of rack f3.", "Widget g4 is part of rack h4."]}),
    );
    assert!(
        status >= 500,
        "the failing disk must refuse: {status} {body}"
    );
    node.fault(json!({"point": "log_error", "shard": 1, "errno": 5, "ms": 0}));

    wait_for_types(
        &node,
        &[
            "SpawnRequested",
            "SpawnSucceeded",
            "NodeRestarted",
            "NodeHealthy",
            "StorageMetrics",
            "EmbeddingServiceHealthy",
            "EmbeddingLatency",
            "TransactionCommitted",
            "TransactionAborted",
            "QueryPerformance",
            "PathfindingMetrics",
            "StopRequested",
            "ActorCrashed",
            "ActorRestarted",
            "EmbeddingServiceDegraded",
            "ReconciliationComplete",
        ],
        60,
    );

    // In English, in the events knowledge base and in the default one.
    for kb in ["events", "default"] {
        let a = ask(&node, kb, "Show all crashes in the last hour");
        let text = a["answer"].as_str().unwrap();
        assert!(
            text.contains("shard-2") && text.contains("embedder-"),
            "{a}"
        );
        let sources = cited(&a);
        assert!(!sources.is_empty(), "{a}");
        assert!(
            sources.iter().all(|s| s["type"] == "ActorCrashed"),
            "the explanation is the crash events: {a}"
        );
        assert!(sources.iter().any(|s| s["actor"] == "shard-2"), "{a}");
    }
    let a = ask(&node, "events", "When did shard 2 last restart?");
    assert!(
        a["answer"]
            .as_str()
            .unwrap()
            .contains("shard-2 was restarted"),
        "{a}"
    );
    let a = ask(&node, "events", "Which embedder replica failed today?");
    assert!(a["answer"].as_str().unwrap().contains("embedder-"), "{a}");
    let a = ask(
        &node,
        "events",
        "How many queries took longer than 0 ms today?",
    );
    let count: u64 = a["answer"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("{a}"));
    assert!(count >= 1, "{a}");
    let a = ask(&node, "events", "Which nodes went offline this week?");
    assert_eq!(
        a["answer"], "No events of type AgentOffline this week.",
        "{a}"
    );

    // Exact listing with filters; bad filters are refused clearly.
    let (status, body) = node.get("/v1/events?kind=ActorCrashed&actor=shard-2&since=1h");
    assert_eq!(status, 200, "{body}");
    let listed = body["events"].as_array().unwrap();
    assert!(!listed.is_empty(), "{body}");
    assert!(
        listed.iter().all(|e| e["event"]["actor"] == "shard-2"),
        "{body}"
    );
    for bad in [
        "/v1/events?kind=Crashes",
        "/v1/events?since=yesterday-ish",
        "/v1/events?limit=0",
        "/v1/events?colour=red",
    ] {
        let (status, body) = node.get(bad);
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().len() > 10,
            "{body}"
        );
    }

    // kill -9: the next start says the node crashed and rebuilds its vector index.
    node.kill9();
    let mut node = common::start(&data);
    node.wait_status("/ready", 200, 60);
    wait_for_types(&node, &["NodeCrashed", "HnswIndexBuilt"], 30);
    // A clean stop: its actors stop as asked (each shard saving its vector index with
    // its final checkpoint), and the next start says so and loads the indexes saved.
    assert!(node.terminate(), "clean stop failed:\n{}", node.log_text());
    let node = common::start(&data);
    node.wait_status("/ready", 200, 60);
    wait_for_types(&node, &["StopSucceeded", "HnswIndexLoaded"], 30);
    // Three starts; the last followed a clean stop.
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        let (_, body) = node.get("/v1/events?kind=NodeRestarted");
        if body["matching"] == 3 || Instant::now() > deadline {
            break body;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(body["matching"], 3, "{body}");
    let after_crash: Vec<&Value> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["event"]["after_crash"])
        .collect();
    assert_eq!(
        after_crash,
        [&json!(false), &json!(true), &json!(false)],
        "{body}"
    );
}

#[test]
fn a_burst_beyond_the_buffer_is_dropped_and_counted_and_learning_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_with(
        dir.path(),
        &[
            ("buffer = 8192", "buffer = 8"),
            ("flush_ms = 500", "flush_ms = 60000"),
        ],
    );
    let node = common::start_with(&config, &dir.path().join("data"));
    node.wait_status("/ready", 200, 60);
    for i in 0..50 {
        let (status, body) = node.post(
            "/v1/learn/batch",
            json!({"contents": [format!("Part {i}p is part of machine {i}m."), format!("Bolt {i}b is part of part {i}p.")]}),
        );
        assert_eq!(status, 200, "{body}");
        ask(
            &node,
            "default",
            &format!("Is bolt {i}b part of machine {i}m?"),
        );
    }
    let (_, stats) = node.get("/v1/stats");
    let events = &stats["events"];
    assert_eq!(events["enabled"], true, "{stats}");
    assert!(events["dropped"].as_u64().unwrap() > 0, "{stats}");
    // Every learn above succeeded while events were being dropped.
}

#[test]
fn with_events_off_nothing_is_emitted_or_stored() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_with(dir.path(), &[("enabled = true", "enabled = false")]);
    let node = common::start_with(&config, &dir.path().join("data"));
    node.wait_status("/ready", 200, 60);
    let (status, body) = node.post("/v1/admin/actors/shard-1/kill", json!({}));
    assert_eq!(status, 202, "{body}");
    // The kill is asynchronous: wait until the supervisor has restarted shard-1 (a
    // `/ready` right after the kill can still see the old actor).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, tree) = node.get("/v1/admin/actors");
        let restarted = tree["actors"].as_array().is_some_and(|a| {
            a.iter()
                .any(|x| x["name"] == "shard-1" && x["restarts"].as_u64().unwrap_or(0) >= 1)
        });
        if restarted {
            break;
        }
        assert!(Instant::now() < deadline, "shard-1 never restarted: {tree}");
        std::thread::sleep(Duration::from_millis(20));
    }
    node.wait_status("/ready", 200, 30);
    let (_, stats) = node.get("/v1/stats");
    assert_eq!(stats["events"]["enabled"], false, "{stats}");
    assert_eq!(stats["events"]["emitted"], 0, "{stats}");
    let (status, body) = node.get("/v1/events");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["matching"], 0, "{body}");
}

#[test]
fn stop_and_start_orders_hold_a_shard_down_and_bring_it_back_with_its_events() {
    let dir = tempfile::tempdir().unwrap();
    let node = common::start(&dir.path().join("data"));
    node.wait_status("/ready", 200, 60);
    let (status, body) = node.post(
        "/v1/learn",
        json!({ "content": "Valve seven is part of pump house two." }),
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = node.post("/v1/cluster/shards/9/stop", json!({}));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_shard");

    let (status, body) = node.post("/v1/cluster/shards/2/stop", json!({}));
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["stopped"], "shard-2", "{body}");
    // Held down: not restarted by its supervisor, and a learn that needs it fails fast
    // with a 503 that names it (a batch of 40 statements touches every shard).
    let batch: Vec<String> = (0..40)
        .map(|i| format!("Gauge {i} is part of panel {i}."))
        .collect();
    let (status, body) = node.post("/v1/learn/batch", json!({ "contents": batch }));
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("shard-2"),
        "{body}"
    );
    // A second stop order is harmless.
    let (status, body) = node.post("/v1/cluster/shards/2/stop", json!({}));
    assert_eq!(status, 202, "{body}");

    let (status, body) = node.post("/v1/cluster/shards/2/start", json!({}));
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["started"], "shard-2", "{body}");
    let (status, body) = node.post("/v1/learn/batch", json!({ "contents": batch }));
    assert_eq!(status, 200, "{body}");
    let a = ask(&node, "default", "Is valve seven part of pump house two?");
    assert_eq!(a["verdict"], "yes", "{a}");
    // Every step is an event about shard-2, stored once the shard is back.
    wait_for_types(
        &node,
        &[
            "StopRequested",
            "StopSucceeded",
            "SpawnRequested",
            "SpawnSucceeded",
        ],
        30,
    );
    for kind in ["StopSucceeded", "SpawnSucceeded"] {
        let (status, body) = node.get(&format!("/v1/events?kind={kind}&actor=shard-2"));
        assert_eq!(status, 200, "{body}");
        assert!(body["matching"].as_u64().unwrap() >= 1, "{kind}: {body}");
    }
    let (status, body) = node.get("/v1/events?kind=StopRequested&actor=shard-2");
    assert_eq!(status, 200, "{body}");
    assert!(
        body["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"]["by"]
                .as_str()
                .is_some_and(|b| b.contains("stop order"))),
        "{body}"
    );
}

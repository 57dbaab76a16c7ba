//! Self-monitoring events of supervision failures (issue 13), each provoked by a real
//! failure in a real node and found through `GET /v1/events` and in English: a shard
//! whose data directory cannot be opened fails to spawn on every restart until its
//! supervisor gives up (`SpawnFailed`, `ActorGaveUp`); a shard whose final checkpoint
//! outlasts the stop timeout fails to stop and is killed (`StopFailed`).

mod common;

use serde_json::{json, Value};

fn ask(node: &common::Node, q: &str) -> Value {
    let (status, body) = node.post("/v1/reason?kb=events", json!({ "query": q }));
    assert_eq!(status, 200, "{q}: {body}");
    body
}

fn learn_every_shard(node: &common::Node, tag: &str) {
    // 40 statements touch every shard.
    let batch: Vec<String> = (0..40)
        .map(|i| format!("Lever {tag}{i} is part of crane {tag}{}.", i % 3))
        .collect();
    let (status, body) = node.post(
        "/v1/learn/batch",
        json!({ "contents": batch, "options": {"read_your_writes": true} }),
    );
    assert_eq!(status, 200, "{body}");
}

#[test]
fn a_shard_that_cannot_open_fails_to_spawn_until_its_supervisor_gives_up() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let node = common::try_start(&data, &["--embedders", "0"])
        .unwrap_or_else(|log| panic!("node failed to start:\n{log}"));
    node.wait_status("/ready", 200, 60);
    learn_every_shard(&node, "a");

    // A file where shard-2's directory must be: every start of shard-2 fails.
    let shard_dir = data.join("shard-2");
    let aside = data.join("shard-2.aside");
    std::fs::rename(&shard_dir, &aside).unwrap();
    std::fs::write(&shard_dir, "not a directory").unwrap();
    let (status, body) = node.post("/v1/admin/actors/shard-2/kill", json!({}));
    assert_eq!(status, 202, "{body}");
    // Past its restart budget the shards supervisor gives up and escalates; the node
    // supervisor restarts the shards supervisor, which comes back once the directory
    // is repaired.
    node.wait_log(60, "of giving up on shard-2", |l| {
        l.contains("restart intensity exceeded") && l.contains("shard-2")
    });
    std::fs::remove_file(&shard_dir).unwrap();
    std::fs::rename(&aside, &shard_dir).unwrap();
    node.wait_status("/ready", 200, 60);

    let gave_up = node.wait_event("kind=ActorGaveUp&actor=shard-2", 60, |_| true);
    assert!(
        gave_up["event"]["crashes"].as_u64().unwrap() > 10,
        "more crashes than the 10 restarts allowed: {gave_up}"
    );
    let failed = node.wait_event("kind=SpawnFailed&actor=shard-2", 30, |_| true);
    let error = failed["event"]["error"].as_str().unwrap();
    assert!(
        error.contains(&shard_dir.display().to_string()),
        "the error names the directory: {failed}"
    );
    let (_, body) = node.get("/v1/events?kind=SpawnFailed&actor=shard-2");
    assert!(
        body["matching"].as_u64().unwrap() >= 10,
        "one per failed restart: {body}"
    );
    // The escalation reached the node supervisor, which restarted the shards.
    node.wait_event("kind=ActorRestarted&actor=shards", 30, |_| true);

    let a = ask(
        &node,
        "Which actors did their supervisor give up on in the last hour?",
    );
    assert!(a["answer"].as_str().unwrap().contains("shard-2"), "{a}");
    let a = ask(&node, "Show all failures of shard 2 in the last hour");
    assert!(
        a["answer"].as_str().unwrap().contains("failed to start"),
        "{a}"
    );
    // Nothing learned before was lost.
    let (status, a) = node.post(
        "/v1/reason",
        json!({ "query": "Is lever a7 part of crane a1?" }),
    );
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["verdict"], "yes", "{a}");
}

#[test]
fn a_stop_that_outlasts_the_stop_timeout_fails_and_the_shard_starts_again() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_with(
        dir.path(),
        &[("stop_timeout_ms = 30000", "stop_timeout_ms = 300")],
    );
    let node = common::try_start_with(&config, &dir.path().join("data"), &["--embedders", "0"])
        .unwrap_or_else(|log| panic!("node failed to start:\n{log}"));
    node.wait_status("/ready", 200, 60);
    learn_every_shard(&node, "b");

    // Its final checkpoint stalls (a stalling disk) for longer than the stop timeout.
    node.fault(json!({"point": "checkpoint_stall", "shard": 2, "ms": 3000}));
    let (status, body) = node.post("/v1/cluster/shards/2/stop", json!({}));
    assert_eq!(status, 503, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("did not stop within") && message.contains("killed"),
        "{body}"
    );
    // Killed, it stays stopped until started; the start waits for the stalled
    // checkpoint of its predecessor instead of racing on its files.
    let (status, body) = node.post("/v1/cluster/shards/2/start", json!({}));
    assert_eq!(status, 202, "{body}");
    node.wait_status("/ready", 200, 60);

    let failed = node.wait_event("kind=StopFailed&actor=shard-2", 60, |_| true);
    assert!(
        failed["event"]["error"]
            .as_str()
            .unwrap()
            .contains("did not stop within"),
        "{failed}"
    );
    node.wait_event("kind=StopRequested&actor=shard-2", 30, |e| {
        e["event"]["by"]
            .as_str()
            .is_some_and(|b| b.contains("stop order"))
    });
    let a = ask(&node, "Show all failures of shard 2 in the last hour");
    assert!(
        a["answer"].as_str().unwrap().contains("failed to stop"),
        "{a}"
    );
    // Everything learned is still there, and the shard takes writes again.
    learn_every_shard(&node, "c");
    let (status, a) = node.post(
        "/v1/reason",
        json!({ "query": "Is lever b5 part of crane b2?" }),
    );
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["verdict"], "yes", "{a}");
}

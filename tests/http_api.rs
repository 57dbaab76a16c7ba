//! The HTTP API of one real node: learning, reading, deleting, associations across
//! shards, validation of bad input, stats, readiness and the admin actor tree.

mod common;

use serde_json::{json, Value};

fn learn(node: &common::Node, text: &str) -> String {
    let (status, body) = node.post("/v1/learn", json!({ "content": text }));
    assert_eq!(status, 200, "{body}");
    body["concept_id"].as_str().unwrap().to_string()
}

#[test]
fn learn_read_reinforce_delete() {
    let dir = tempfile::tempdir().unwrap();
    let node = common::start(&dir.path().join("data"));
    assert_eq!(node.get("/health").0, 200);
    node.wait_status("/ready", 200, 10);

    let id = learn(&node, "The Eiffel Tower is in Paris.");
    assert_eq!(id.len(), 16);
    let (status, c) = node.get(&format!("/v1/concepts/{id}?fresh=true"));
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["content"], "The Eiffel Tower is in Paris.");
    assert_eq!(c["kind"], "sentence");
    assert_eq!(c["evidence"], 1);

    // Same content, other spacing and case: same concept, reinforced.
    assert_eq!(learn(&node, "the eiffel tower  is in paris"), id);
    let (_, c2) = node.get(&format!("/v1/concepts/{id}?fresh=true"));
    assert_eq!(c2["evidence"], 2);
    assert!(c2["confidence"].as_f64() > c["confidence"].as_f64());
    assert!(c2["strength"].as_f64() > c["strength"].as_f64());

    let (status, _) = node.delete(&format!("/v1/concepts/{id}"));
    assert_eq!(status, 200);
    assert_eq!(node.get(&format!("/v1/concepts/{id}?fresh=true")).0, 404);
    assert_eq!(node.delete(&format!("/v1/concepts/{id}")).0, 404);
}

#[test]
fn batch_and_associations_span_shards_and_delete_removes_both_directions() {
    let dir = tempfile::tempdir().unwrap();
    let node = common::start(&dir.path().join("data"));
    let contents: Vec<String> = (0..200)
        .map(|i| format!("Fact number {i} is true."))
        .collect();
    let (status, body) = node.post(
        "/v1/learn/batch",
        json!({ "contents": contents, "options": { "read_your_writes": true } }),
    );
    assert_eq!(status, 200, "{body}");
    let ids = body["concept_ids"].as_array().unwrap();
    assert_eq!(ids.len(), 200);
    // read_your_writes: visible at once, without ?fresh.
    for id in ids.iter().step_by(37) {
        assert_eq!(
            node.get(&format!("/v1/concepts/{}", id.as_str().unwrap()))
                .0,
            200
        );
    }

    // A chain whose names hash to different shards.
    let places = [
        "Eiffel Tower",
        "Paris",
        "France",
        "Europe",
        "Lyon",
        "Berlin",
        "Germany",
    ];
    let mut ids = std::collections::HashMap::new();
    for pair in places.windows(2) {
        let (status, body) = node.post(
            "/v1/associations",
            json!({ "source": pair[0], "target": pair[1], "type": "located_in", "confidence": 0.9 }),
        );
        assert_eq!(status, 200, "{body}");
        ids.insert(pair[0], body["source"].as_str().unwrap().to_string());
        ids.insert(pair[1], body["target"].as_str().unwrap().to_string());
        assert_eq!(body["associations"][0]["type"], "located_in");
    }
    // Names are normalized: "the paris" is Paris, and it keeps its display name.
    let (_, again) = node.post(
        "/v1/associations",
        json!({ "source": "the Eiffel Tower", "target": "PARIS", "type": "located_in" }),
    );
    assert_eq!(again["source"], ids["Eiffel Tower"]);
    assert_eq!(again["target"], ids["Paris"]);
    let (_, paris) = node.get(&format!("/v1/concepts/{}?fresh=true", ids["Paris"]));
    assert_eq!(paris["content"], "Paris");
    assert_eq!(paris["kind"], "entity");
    let assocs = paris["associations"].as_array().unwrap();
    assert_eq!(assocs.len(), 2, "{paris}");
    let tower_edge = assocs
        .iter()
        .find(|a| a["source"] == ids["Eiffel Tower"])
        .unwrap();
    assert_eq!(tower_edge["evidence"], 2);

    // By id as well as by name.
    let (status, body) = node.post(
        "/v1/associations",
        json!({ "source": ids["Lyon"], "target": "France", "type": "part_of" }),
    );
    assert_eq!(status, 200, "{body}");

    // Deleting Paris removes its associations on the other ends too, and the Eiffel
    // Tower, whose only association was with Paris, is left with nothing and goes.
    let (status, removed) = node.delete(&format!("/v1/concepts/{}", ids["Paris"]));
    assert_eq!(status, 200, "{removed}");
    assert_eq!(removed["removed"]["entities"], 2, "{removed}");
    assert_eq!(removed["removed"]["associations"], 2, "{removed}");
    assert_eq!(
        node.get(&format!("/v1/concepts/{}?fresh=true", ids["Eiffel Tower"]))
            .0,
        404
    );
    {
        let other = "France";
        let (_, c) = node.get(&format!("/v1/concepts/{}?fresh=true", ids[other]));
        let touching: Vec<&Value> = c["associations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["source"] == ids["Paris"] || a["target"] == ids["Paris"])
            .collect();
        assert!(touching.is_empty(), "{other} still links to Paris: {c}");
    }
    let (_, stats) = node.get("/v1/stats");
    assert!(stats["concepts"].as_u64().unwrap() >= 200 + 6, "{stats}");
    assert!(
        stats["coordinator"]["committed"].as_u64().unwrap() >= 1,
        "{stats}"
    );
}

#[test]
fn bad_input_gets_clear_4xx_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = common::start(&dir.path().join("data"));
    let before = node.get("/v1/stats").1["concepts"].clone();
    let long = "x".repeat(20_000);
    let too_many: Vec<String> = (0..10_001).map(|i| format!("s{i}")).collect();
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("/v1/learn", b"{".to_vec(), 400, "invalid_json"),
        ("/v1/learn", b"\xff\xfe\x00".to_vec(), 400, "invalid_json"),
        ("/v1/learn", b"".to_vec(), 400, "invalid_json"),
        (
            "/v1/learn",
            br#"{"content": 5}"#.to_vec(),
            400,
            "invalid_json",
        ),
        ("/v1/learn", br#"{}"#.to_vec(), 400, "invalid_json"),
        (
            "/v1/learn",
            br#"{"content": "   "}"#.to_vec(),
            400,
            "invalid_content",
        ),
        (
            "/v1/learn",
            json!({"content": long}).to_string().into_bytes(),
            400,
            "invalid_content",
        ),
        (
            "/v1/learn",
            br#"{"content": "x", "options": {"confidence": 2}}"#.to_vec(),
            400,
            "invalid_option",
        ),
        (
            "/v1/learn",
            br#"{"content": "x", "options": {"bogus": 1}}"#.to_vec(),
            400,
            "invalid_json",
        ),
        (
            "/v1/learn/batch",
            br#"{"contents": []}"#.to_vec(),
            400,
            "invalid_content",
        ),
        (
            "/v1/learn/batch",
            br#"{"contents": ["ok", ""]}"#.to_vec(),
            400,
            "invalid_content",
        ),
        (
            "/v1/learn/batch",
            json!({"contents": too_many}).to_string().into_bytes(),
            400,
            "batch_too_large",
        ),
        (
            "/v1/associations",
            br#"{"source": "a", "target": "b", "type": "likes"}"#.to_vec(),
            400,
            "unknown_association_type",
        ),
        (
            "/v1/associations",
            br#"{"source": "a", "target": "b", "type": "is_a", "confidence": -1}"#.to_vec(),
            400,
            "invalid_option",
        ),
        (
            "/v1/associations",
            br#"{"source": "!!", "target": "b", "type": "is_a"}"#.to_vec(),
            400,
            "invalid_name",
        ),
        (
            "/v1/associations",
            br#"{"source": "dog", "target": "the dogs", "type": "is_a"}"#.to_vec(),
            400,
            "self_association",
        ),
        (
            "/v1/associations",
            br#"{"source": "00000000000000ab", "target": "b", "type": "is_a"}"#.to_vec(),
            404,
            "not_found",
        ),
    ];
    for (path, body, status, code) in cases {
        let (got, resp) = node.post_raw(path, &body);
        assert_eq!(
            got,
            status,
            "{path} {:?} -> {resp}",
            String::from_utf8_lossy(&body[..body.len().min(60)])
        );
        assert_eq!(resp["error"]["code"], code, "{resp}");
        assert!(
            resp["error"]["message"].as_str().unwrap().len() > 10,
            "{resp}"
        );
    }
    // Oversized body.
    // The server answers 413 as soon as the declared length exceeds the limit and may
    // close before the client has written the whole body (the client then sees a broken
    // pipe instead of the answer): retry until the answer is read.
    let huge = vec![b'a'; 17 * 1024 * 1024];
    let (got, resp) = (0..5)
        .map(|_| node.post_raw("/v1/learn", &huge))
        .find(|(got, _)| *got != 0)
        .unwrap_or((0, serde_json::Value::Null));
    assert_eq!(got, 413, "{resp}");
    assert_eq!(resp["error"]["code"], "payload_too_large");

    assert_eq!(node.get("/v1/concepts/nothex").0, 400);
    assert_eq!(node.get("/v1/concepts/00000000000000ff").0, 404);
    assert_eq!(node.delete("/v1/concepts/00000000000000ff").0, 404);
    let (status, resp) = node.get("/v1/nothing");
    assert_eq!(status, 404);
    assert_eq!(resp["error"]["code"], "not_found");
    assert_eq!(node.get("/v1/learn").0, 405);
    assert_eq!(node.post("/v1/admin/actors/nobody/kill", json!({})).0, 404);
    assert_eq!(node.post("/v1/admin/actors/node/kill", json!({})).0, 400);
    assert_eq!(node.get("/v1/stats").1["concepts"], before);
}

#[test]
fn killed_shard_is_restarted_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let node = common::start(&dir.path().join("data"));
    let ids: Vec<String> = (0..40)
        .map(|i| learn(&node, &format!("Statement {i} about shards.")))
        .collect();

    let (_, tree) = node.get("/v1/admin/actors");
    let actors = tree["actors"].as_array().unwrap();
    let names: Vec<&str> = actors.iter().map(|a| a["name"].as_str().unwrap()).collect();
    for n in [
        "node",
        "shards",
        "shard-0",
        "shard-3",
        "reconciler-2",
        "txn-coordinator",
        "learner",
        "ingress",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    let shard0 = actors.iter().find(|a| a["name"] == "shard-0").unwrap();
    assert_eq!(shard0["parent"], "shards");
    assert_eq!(shard0["kind"], "shard");
    assert_eq!(shard0["state"], "running");
    let reconciler0 = actors.iter().find(|a| a["name"] == "reconciler-0").unwrap();
    assert_eq!(reconciler0["parent"], "shard-0");

    for shard in ["shard-0", "shard-1", "shard-2", "shard-3"] {
        let (status, body) = node.post(&format!("/v1/admin/actors/{shard}/kill"), json!({}));
        assert_eq!(status, 202, "{body}");
    }
    node.wait_status("/ready", 200, 20);
    for id in &ids {
        let (status, body) = node.get(&format!("/v1/concepts/{id}?fresh=true"));
        assert_eq!(status, 200, "{id} lost after shard restart: {body}");
    }
    let (_, tree) = node.get("/v1/admin/actors");
    let shard0 = tree["actors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "shard-0")
        .unwrap()
        .clone();
    assert!(shard0["restarts"].as_u64().unwrap() >= 1, "{shard0}");
    // Writes work again after the restart.
    learn(&node, "A statement after the restart.");

    // The ingress itself can be killed and comes back on the same address.
    assert_eq!(node.post("/v1/admin/actors/ingress/kill", json!({})).0, 202);
    std::thread::sleep(std::time::Duration::from_millis(300));
    node.wait_status("/ready", 200, 20);
}

#[test]
fn graceful_shutdown_checkpoints_and_restart_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut node = common::start(&data);
    let contents: Vec<String> = (0..500)
        .map(|i| format!("Checkpointed fact {i}."))
        .collect();
    let (status, body) = node.post("/v1/learn/batch", json!({ "contents": contents }));
    assert_eq!(status, 200);
    let ids: Vec<String> = body["concept_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert!(
        node.terminate(),
        "SIGTERM must exit 0:\n{}",
        node.log_text()
    );
    assert!(data.join("shard-0").join("checkpoint.bin").exists());

    let node = common::start(&data);
    for id in ids.iter().step_by(11) {
        assert_eq!(node.get(&format!("/v1/concepts/{id}")).0, 200);
    }
    let (_, stats) = node.get("/v1/stats");
    assert_eq!(stats["concepts"], 500, "{stats}");
}

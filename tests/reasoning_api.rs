//! `/v1/reason` and `/v1/path` over HTTP: answers with sources, validation, streaming,
//! and a crashing query session that fails only its own request.

mod common;

use serde_json::json;
use std::io::Read;

fn learn_all(node: &common::Node, facts: &[&str]) {
    let (status, body) = node.post(
        "/v1/learn/batch",
        json!({ "contents": facts, "options": { "read_your_writes": true } }),
    );
    assert_eq!(status, 200, "{body}");
}

#[test]
fn reason_answers_with_paths_sources_and_validates_input() {
    let dir = tempfile::tempdir().unwrap();
    let node = common::start(&dir.path().join("data"));
    learn_all(
        &node,
        &[
            "A poodle is a kind of dog.",
            "A dog is a kind of mammal.",
            "Paris is not in Germany.",
        ],
    );

    let (status, a) = node.post(
        "/v1/reason",
        json!({ "query": "Is a poodle a kind of mammal?" }),
    );
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["verdict"], "yes");
    assert_eq!(a["quality_gate"], "PASSED");
    let path = &a["paths"][0];
    let names: Vec<&str> = path["concepts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["poodle", "dog", "mammal"]);
    assert_eq!(path["edges"][0]["type"], "is_a");
    let evidence = &path["edges"][0]["sources"][0];
    assert_eq!(evidence["text"], "A poodle is a kind of dog.", "{evidence}");
    assert_eq!(evidence["kind"], "sentence");
    assert_eq!(path["edges"][0]["source_count"], 1);
    assert!(path["edges"][1]["confidence"].as_f64().unwrap() > 0.5);
    assert!(a["answer"].as_str().unwrap().starts_with("Yes."), "{a}");

    let (_, a) = node.post("/v1/reason", json!({ "query": "Is Paris in Germany?" }));
    assert_eq!(a["verdict"], "no", "negative evidence answers no: {a}");
    let (_, a) = node.post(
        "/v1/reason",
        json!({ "query": "Is a poodle a kind of cat?" }),
    );
    assert_eq!(a["verdict"], "unknown");
    assert_eq!(a["quality_gate"], "FAILED");

    let (_, a) = node.post(
        "/v1/reason",
        json!({ "query": "Is a poodle a kind of mammal?", "num_paths": 1, "max_depth": 1 }),
    );
    assert_eq!(
        a["verdict"], "unknown",
        "max_depth 1 cannot reach mammal: {a}"
    );

    for (body, code) in [
        (json!({ "query": "" }), "invalid_query"),
        (
            json!({ "query": "Is x in y?", "num_paths": 0 }),
            "invalid_option",
        ),
        (
            json!({ "query": "Is x in y?", "max_depth": 257 }),
            "invalid_option",
        ),
        (json!({ "query": 5 }), "invalid_json"),
        (json!({ "question": "Is x in y?" }), "invalid_json"),
    ] {
        let (status, e) = node.post("/v1/reason", body.clone());
        assert_eq!(status, 400, "{body} -> {e}");
        assert_eq!(e["error"]["code"], code, "{e}");
    }

    let (status, p) = node.post("/v1/path", json!({ "from": "poodle", "to": "mammal" }));
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["paths"][0]["concepts"].as_array().unwrap().len(), 3);
    let (status, _) = node.post("/v1/path", json!({ "from": "poodle", "to": "unicorn" }));
    assert_eq!(status, 404);
}

#[test]
fn reason_streams_progress_then_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let node = common::start(&dir.path().join("data"));
    learn_all(&node, &["Smoking causes lung cancer."]);
    let resp = ureq::post(&format!("{}/v1/reason", node.base))
        .set("accept", "text/event-stream")
        .send_json(json!({ "query": "What causes lung cancer?" }))
        .unwrap();
    assert!(resp.content_type().contains("text/event-stream"));
    let mut body = String::new();
    resp.into_reader().read_to_string(&mut body).unwrap();
    assert!(body.contains("event: progress"), "{body}");
    let result = body.split("event: result").nth(1).expect("a result event");
    assert!(result.to_lowercase().contains("smoking"), "{body}");
    assert!(body.find("event: progress").unwrap() < body.find("event: result").unwrap());
}

#[test]
fn a_crashing_query_session_fails_only_its_request() {
    let dir = tempfile::tempdir().unwrap();
    let node = common::start(&dir.path().join("data"));
    learn_all(&node, &["Paris is in France."]);
    node.fault(json!({ "point": "query_panic" }));
    let (status, e) = node.post("/v1/reason", json!({ "query": "Is Paris in France?" }));
    assert_eq!(status, 500, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("query session crashed"),
        "{e}"
    );
    let (status, a) = node.post("/v1/reason", json!({ "query": "Is Paris in France?" }));
    assert_eq!(status, 200);
    assert_eq!(a["verdict"], "yes");
    // The supervisor counts the crash when its supervision event arrives, which can be
    // just after the client already has its 500.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let stats = loop {
        let (_, stats) = node.get("/v1/stats");
        if stats["queries"]["failed"] == 1 || std::time::Instant::now() > deadline {
            break stats;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(stats["queries"]["failed"], 1, "{stats}");
    assert!(stats["queries"]["completed"].as_u64().unwrap() >= 1);
    let (_, tree) = node.get("/v1/admin/actors");
    assert!(tree["actors"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["name"] == "queries"));
}

//! Right to deletion reaches derived knowledge (issue 10 §2) and sources an auditor can
//! follow (§3), on a real node: deleting a sentence takes its associations and the
//! entities left with nothing; forgetting a source or a request removes what only it
//! taught; the removed text leaves every file of the data directory by the time the
//! DELETE answers, and stays gone across kill -9.

mod common;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn learn(node: &common::Node, text: &str, source: Option<&str>) -> Value {
    let mut body = json!({ "content": text, "options": { "read_your_writes": true } });
    if let Some(s) = source {
        body["source"] = json!(s);
    }
    let (status, reply) = node.post("/v1/learn", body);
    assert_eq!(status, 200, "{reply}");
    reply
}

fn ask(node: &common::Node, q: &str) -> Value {
    let (status, a) = node.post("/v1/reason", json!({ "query": q }));
    assert_eq!(status, 200, "{a}");
    a
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                    found.push(path);
                }
            }
        }
    }
    found
}

/// Waits until no file under `dir` holds `needle` (the shards erase a removal that was
/// replayed after a crash on their own); panics with the files after `secs`.
fn wait_erased(dir: &Path, needle: &str, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let left = files_containing(dir, needle);
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "'{needle}' still on disk after {secs} s in {left:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn deleting_a_sentence_removes_what_was_derived_from_it_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let node = common::start(&data);
    node.wait_status("/ready", 200, 60);
    let learned = learn(&node, "The Eiffel Tower is in Paris.", Some("guide.txt#L3"));
    let sentence = learned["concept_id"].as_str().unwrap().to_string();
    let request_id = learned["request_id"].as_str().unwrap().to_string();
    learn(&node, "Lyon is in France.", Some("other.txt"));

    // Evidence an auditor can follow: the sentence's id, text, time, label, request.
    let a = ask(&node, "Is the Eiffel Tower in Paris?");
    assert_eq!(a["verdict"], "yes", "{a}");
    let edge = &a["paths"][0]["edges"][0];
    assert_eq!(edge["source_count"], 1, "{edge}");
    let ev = &edge["sources"][0];
    assert_eq!(ev["kind"], "sentence");
    assert_eq!(ev["id"], sentence.as_str());
    assert_eq!(ev["text"], "The Eiffel Tower is in Paris.");
    assert_eq!(ev["source"], "guide.txt#L3");
    assert_eq!(ev["request_id"], request_id.as_str());
    assert!(ev["learned_at"].as_str().unwrap().ends_with('Z'), "{ev}");
    assert!(ev["confidence"].as_f64().unwrap() > 0.5);
    let tower = a["paths"][0]["concepts"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let paris = a["paths"][0]["concepts"][1]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The full list is paged from the edge's evidence_url.
    let (status, page) = node.get(edge["evidence_url"].as_str().unwrap());
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["source_count"], 1);
    assert_eq!(page["sources"][0]["text"], "The Eiffel Tower is in Paris.");
    // The concept shows its teachers.
    let (_, c) = node.get(&format!("/v1/concepts/{sentence}"));
    assert_eq!(c["sources"][0]["source"], "guide.txt#L3", "{c}");
    assert_eq!(c["sources"][0]["request_id"], request_id.as_str());
    let (_, hits) = node.post("/v1/search", json!({ "query": "Eiffel Tower", "k": 5 }));
    assert!(hits.to_string().contains("Eiffel"), "{hits}");
    assert!(
        !files_containing(&data, "Eiffel").is_empty(),
        "the text is on disk first"
    );

    let (status, removed) = node.delete(&format!("/v1/concepts/{sentence}"));
    assert_eq!(status, 200, "{removed}");
    let r = &removed["removed"];
    assert_eq!(
        (&r["sentences"], &r["entities"], &r["associations"]),
        (&json!(1), &json!(2), &json!(1)),
        "{removed}"
    );
    assert_eq!(r["erased_from_disk"], true, "{removed}");

    let a = ask(&node, "Is the Eiffel Tower in Paris?");
    assert_eq!(a["verdict"], "unknown", "{a}");
    assert!(a["paths"].as_array().unwrap().is_empty(), "{a}");
    for id in [&sentence, &tower, &paris] {
        assert_eq!(node.get(&format!("/v1/concepts/{id}?fresh=true")).0, 404);
    }
    let (status, p) = node.post("/v1/path", json!({ "from": tower, "to": paris }));
    assert!(
        status == 404 || p["paths"].as_array().is_some_and(|p| p.is_empty()),
        "{p}"
    );
    let (_, hits) = node.post("/v1/search", json!({ "query": "Eiffel Tower", "k": 5 }));
    assert!(!hits.to_string().contains("Eiffel"), "{hits}");
    assert!(!hits.to_string().contains("Paris"), "{hits}");
    // Gone from every file when the DELETE answered: log, checkpoint, vectors.
    assert_eq!(files_containing(&data, "Eiffel"), Vec::<PathBuf>::new());
    assert_eq!(
        files_containing(&data, "guide.txt#L3"),
        Vec::<PathBuf>::new()
    );
    // What other sentences taught is untouched.
    assert_eq!(ask(&node, "Is Lyon in France?")["verdict"], "yes");
}

#[test]
fn a_fact_with_two_sentences_keeps_answering_from_the_other_and_direct_evidence_stays() {
    let dir = tempfile::tempdir().unwrap();
    let node = common::start(&dir.path().join("data"));
    node.wait_status("/ready", 200, 60);
    let first = learn(&node, "Paris is in France.", Some("atlas"));
    learn(&node, "Paris is located in France.", Some("almanac"));
    let a = ask(&node, "Is Paris in France?");
    assert_eq!(a["paths"][0]["edges"][0]["source_count"], 2, "{a}");
    let both = a["confidence"].as_f64().unwrap();

    let id = first["concept_id"].as_str().unwrap();
    let (status, removed) = node.delete(&format!("/v1/concepts/{id}"));
    assert_eq!(status, 200, "{removed}");
    assert_eq!(removed["removed"]["evidence"], 1, "{removed}");
    assert_eq!(removed["removed"]["entities"], 0, "{removed}");
    let a = ask(&node, "Is Paris in France?");
    assert_eq!(a["verdict"], "yes", "{a}");
    let edge = &a["paths"][0]["edges"][0];
    assert_eq!(edge["source_count"], 1, "{edge}");
    assert_eq!(edge["sources"][0]["text"], "Paris is located in France.");
    assert!(
        a["confidence"].as_f64().unwrap() < both,
        "confidence recomputed"
    );

    // A direct statement is evidence of its own, listed as such.
    let (status, body) = node.post(
        "/v1/associations",
        json!({"source": "Paris", "target": "France", "type": "located_in", "label": "gazetteer"}),
    );
    assert_eq!(status, 200, "{body}");
    let almanac = node.delete("/v1/sources/almanac");
    assert_eq!(almanac.0, 200, "{}", almanac.1);
    assert_eq!(almanac.1["removed"]["sentences"], 1, "{}", almanac.1);
    let a = ask(&node, "Is Paris in France?");
    assert_eq!(a["verdict"], "yes", "{a}");
    let ev = &a["paths"][0]["edges"][0]["sources"][0];
    assert_eq!(ev["kind"], "direct", "{ev}");
    assert_eq!(ev["source"], "gazetteer");
    assert_eq!(ev["text"], Value::Null);
    assert_eq!(ev["request_id"], body["request_id"]);

    // Forgetting the last evidence removes the fact and the entities.
    let g = node.delete("/v1/sources/gazetteer");
    assert_eq!(g.0, 200, "{}", g.1);
    assert_eq!(g.1["removed"]["associations"], 1, "{}", g.1);
    assert_eq!(g.1["removed"]["entities"], 2, "{}", g.1);
    assert_eq!(ask(&node, "Is Paris in France?")["verdict"], "unknown");
    assert_eq!(node.delete("/v1/sources/gazetteer").0, 404);
    assert_eq!(node.delete("/v1/sources/%01bad").0, 400);
}

#[test]
fn forgetting_a_source_that_taught_a_thousand_facts_and_kill9_after_forget_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut node = common::start(&data);
    node.wait_status("/ready", 200, 60);
    let facts: Vec<String> = (0..1000)
        .map(|i| format!("Gizmo{i} is part of Assembly{}.", i % 37))
        .collect();
    let (status, body) = node.post(
        "/v1/learn/batch",
        json!({ "contents": facts, "source": "manual-v1",
                "options": { "read_your_writes": true, "generate_embedding": false } }),
    );
    assert_eq!(status, 200, "{body}");
    // One fact is also taught by another document, and one sentence too.
    learn(&node, "Gizmo5 is part of Assembly5.", Some("manual-v2"));
    learn(&node, "Gizmo7 is part of Assembly7.", Some("manual-v2"));
    learn(&node, "Gizmo7 is a part of Assembly7.", Some("manual-v2"));
    // An unlabelled learn, forgettable by its request id.
    let unlabelled = learn(&node, "Sprocket9 is part of Gearbox4.", None);

    let (status, f) = node.delete("/v1/sources/manual-v1");
    assert_eq!(status, 200, "{f}");
    let r = &f["removed"];
    assert_eq!(r["sentences"], 998, "{f}");
    assert_eq!(r["sources_forgotten"], 2, "{f}");
    assert_eq!(r["erased_from_disk"], true, "{f}");
    // Kill at once: the forget is durable, and stays done after restart.
    node.kill9();
    let mut node = common::start(&data);
    node.wait_status("/ready", 200, 60);
    let a = ask(&node, "Is Gizmo17 part of Assembly17?");
    assert_eq!(a["verdict"], "unknown", "{a}");
    assert_eq!(
        ask(&node, "Is Gizmo900 part of Assembly12?")["verdict"],
        "unknown"
    );
    for (q, text) in [
        (
            "Is Gizmo5 part of Assembly5?",
            "Gizmo5 is part of Assembly5.",
        ),
        (
            "Is Gizmo7 part of Assembly7?",
            "Gizmo7 is part of Assembly7.",
        ),
    ] {
        let a = ask(&node, q);
        assert_eq!(a["verdict"], "yes", "{q}: {a}");
        let texts = a["paths"][0]["edges"][0]["sources"].to_string();
        assert!(texts.contains(text), "{texts}");
        assert!(!texts.contains("manual-v1"), "{texts}");
    }
    wait_erased(&data, "Gizmo900", 10);
    wait_erased(&data, "manual-v1", 10);

    let rid = unlabelled["request_id"].as_str().unwrap();
    let (status, f) = node.delete(&format!("/v1/requests/{rid}"));
    assert_eq!(status, 200, "{f}");
    assert_eq!(f["removed"]["sentences"], 1, "{f}");
    node.kill9();
    let node = common::start(&data);
    node.wait_status("/ready", 200, 60);
    assert_eq!(
        ask(&node, "Is Sprocket9 part of Gearbox4?")["verdict"],
        "unknown"
    );
    wait_erased(&data, "Sprocket9", 10);
    assert_eq!(ask(&node, "Is Gizmo5 part of Assembly5?")["verdict"], "yes");
}

//! Knowledge bases (issue 12 §7) on a real node: `?kb=NAME` isolates everything
//! (learning, ids, questions, search, concepts, forgetting), names are validated, `GET
//! /v1/kbs` lists them with their sizes, `DELETE /v1/kbs/NAME` drops one durably (its
//! text leaves every file and does not come back after kill -9), and thousands of small
//! ones cost no files or threads.

mod common;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn learn_in(node: &common::Node, kb: &str, text: &str, source: &str) -> Value {
    let body =
        json!({ "content": text, "source": source, "options": { "read_your_writes": true } });
    let (status, reply) = node.post(&format!("/v1/learn?kb={kb}"), body);
    assert_eq!(status, 200, "{reply}");
    reply
}

fn ask_in(node: &common::Node, kb: &str, q: &str) -> Value {
    let (status, a) = node.post(&format!("/v1/reason?kb={kb}"), json!({ "query": q }));
    assert_eq!(status, 200, "{a}");
    a
}

/// The knowledge bases clients made: the node's own self-monitoring `events` knowledge
/// base appears whenever its event sink has flushed (timing-dependent), so it is left out.
fn kbs(node: &common::Node) -> Vec<Value> {
    let (status, body) = node.get("/v1/kbs");
    assert_eq!(status, 200, "{body}");
    body["kbs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["name"] != "events")
        .cloned()
        .collect()
}

fn kb_named<'a>(list: &'a [Value], name: &str) -> Option<&'a Value> {
    list.iter().find(|k| k["name"] == name)
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

#[test]
fn knowledge_bases_never_mix() {
    let dir = tempfile::tempdir().unwrap();
    let node = common::start(&dir.path().join("data"));
    node.wait_status("/ready", 200, 60);
    let a = learn_in(&node, "alpha", "The Eiffel Tower is in Paris.", "a.txt");
    let b = learn_in(&node, "beta", "The Eiffel Tower is in Paris.", "b.txt");
    learn_in(&node, "beta", "Lyon is in France.", "b.txt");
    let (ida, idb) = (
        a["concept_id"].as_str().unwrap().to_string(),
        b["concept_id"].as_str().unwrap().to_string(),
    );
    assert_ne!(
        ida, idb,
        "the same sentence in two knowledge bases is two concepts"
    );

    // Each knowledge base answers from its own sentence.
    for (kb, id, label) in [("alpha", &ida, "a.txt"), ("beta", &idb, "b.txt")] {
        let ans = ask_in(&node, kb, "Is the Eiffel Tower in Paris?");
        assert_eq!(ans["verdict"], "yes", "{kb}: {ans}");
        let ev = &ans["paths"][0]["edges"][0]["sources"][0];
        assert_eq!(ev["id"], id.as_str(), "{kb}: {ans}");
        assert_eq!(ev["source"], label, "{kb}: {ans}");
    }
    // What only one knowledge base knows, the others do not.
    assert_eq!(
        ask_in(&node, "beta", "Is Lyon in France?")["verdict"],
        "yes"
    );
    let ans = ask_in(&node, "alpha", "Is Lyon in France?");
    assert_eq!(ans["verdict"], "unknown", "{ans}");
    let ans = ask_in(&node, "default", "Is the Eiffel Tower in Paris?");
    assert_eq!(ans["verdict"], "unknown", "{ans}");
    let (status, ans) = node.post("/v1/reason", json!({ "query": "Is Lyon in France?" }));
    assert_eq!((status, &ans["verdict"]), (200, &json!("unknown")), "{ans}");
    // An unknown knowledge base reads as an empty one, and is not created by reading.
    let ans = ask_in(&node, "never-learned", "Is Lyon in France?");
    assert_eq!(ans["verdict"], "unknown", "{ans}");
    assert!(kb_named(&kbs(&node), "never-learned").is_none());

    // Concepts: found in their own knowledge base only.
    assert_eq!(node.get(&format!("/v1/concepts/{ida}?kb=alpha")).0, 200);
    let (status, c) = node.get(&format!("/v1/concepts/{ida}?kb=beta"));
    assert_eq!(status, 404, "{c}");
    assert!(
        c["error"]["message"].as_str().unwrap().contains("beta"),
        "{c}"
    );
    assert_eq!(node.get(&format!("/v1/concepts/{ida}")).0, 404);
    assert_eq!(node.delete(&format!("/v1/concepts/{ida}?kb=beta")).0, 404);
    // Paths and search see one knowledge base.
    let (status, p) = node.post(
        "/v1/path?kb=alpha",
        json!({ "from": "Lyon", "to": "France" }),
    );
    assert_eq!(status, 404, "{p}");
    let (status, p) = node.post(
        "/v1/path?kb=beta",
        json!({ "from": "Lyon", "to": "France" }),
    );
    assert_eq!(status, 200, "{p}");
    let (status, hits) = node.post("/v1/search?kb=alpha", json!({ "query": "Lyon", "k": 20 }));
    assert_eq!(status, 200, "{hits}");
    let text = hits.to_string();
    assert!(!text.contains("Lyon"), "{hits}");
    assert!(text.contains("Eiffel"), "{hits}");
    let (_, hits) = node.post("/v1/search?kb=beta", json!({ "query": "Lyon", "k": 20 }));
    assert!(hits.to_string().contains("Lyon"), "{hits}");
    let (_, hits) = node.post("/v1/search?kb=gamma", json!({ "query": "Lyon", "k": 20 }));
    assert_eq!(hits["results"], json!([]), "{hits}");

    // Sizes: listed and per knowledge base.
    let list = kbs(&node);
    let (ka, kb) = (
        kb_named(&list, "alpha").unwrap(),
        kb_named(&list, "beta").unwrap(),
    );
    assert_eq!(ka["sentences"], 1, "{list:?}");
    assert_eq!(kb["sentences"], 2, "{list:?}");
    assert_eq!(ka["concepts"], 3, "{list:?}");
    assert_eq!(kb["concepts"], 6, "{list:?}");
    let (_, st) = node.get("/v1/stats?kb=beta");
    assert_eq!(st["kb"]["name"], "beta", "{st}");
    assert_eq!(st["kb"]["sentences"], 2, "{st}");
    let (_, st) = node.get("/v1/stats?kb=nothing");
    assert_eq!(st["kb"]["concepts"], 0, "{st}");

    // Forgetting a source in one knowledge base leaves the other.
    assert_eq!(node.delete("/v1/sources/a.txt?kb=beta").0, 404);
    let (status, f) = node.delete("/v1/sources/a.txt?kb=alpha");
    assert_eq!(status, 200, "{f}");
    assert_eq!(f["removed"]["sentences"], 1, "{f}");
    let ans = ask_in(&node, "alpha", "Is the Eiffel Tower in Paris?");
    assert_eq!(ans["verdict"], "unknown", "{ans}");
    let ans = ask_in(&node, "beta", "Is the Eiffel Tower in Paris?");
    assert_eq!(ans["verdict"], "yes", "{ans}");
    assert_eq!(node.get(&format!("/v1/concepts/{idb}?kb=beta")).0, 200);
}

#[test]
fn bad_knowledge_base_names_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = common::start(&dir.path().join("data"));
    node.wait_status("/ready", 200, 60);
    let long = "x".repeat(65);
    for kb in ["a%20b", "a/b", "", "%C3%A9t%C3%A9", long.as_str()] {
        for (status, body) in [
            node.post(
                &format!("/v1/learn?kb={kb}"),
                json!({ "content": "Paris is in France." }),
            ),
            node.post(
                &format!("/v1/reason?kb={kb}"),
                json!({ "query": "Is Paris in France?" }),
            ),
            node.get(&format!("/v1/stats?kb={kb}")),
        ] {
            assert_eq!(status, 400, "kb={kb}: {body}");
            assert_eq!(body["error"]["code"], "invalid_kb", "{body}");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("1 to 64"),
                "{body}"
            );
        }
    }
    let (status, body) = node.post(
        "/v1/learn?kb=a&kb=b",
        json!({ "content": "Paris is in France." }),
    );
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!("invalid_kb"))
    );
    assert_eq!(node.delete("/v1/kbs/a%20b").0, 400);
    assert!(kbs(&node).is_empty(), "nothing was created");
    let (status, body) = node.delete("/v1/kbs/nothing-here");
    assert_eq!(status, 404, "{body}");
}

#[test]
fn a_dropped_knowledge_base_is_gone_from_disk_and_stays_gone_after_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut node = common::start(&data);
    node.wait_status("/ready", 200, 60);
    learn_in(
        &node,
        "secret",
        "Zanzibarite is a kind of mineral.",
        "vault.txt",
    );
    learn_in(
        &node,
        "secret",
        "Zanzibarite is in Quarrytown.",
        "vault.txt",
    );
    learn_in(&node, "kept", "Lyon is in France.", "kept.txt");
    learn_in(&node, "default", "Paris is in France.", "main.txt");
    assert!(!files_containing(&data, "Zanzibarite").is_empty());
    let before = kb_named(&kbs(&node), "secret").unwrap().clone();

    let (status, dropped) = node.delete("/v1/kbs/secret");
    assert_eq!(status, 200, "{dropped}");
    assert_eq!(dropped["dropped"], before, "{dropped}");
    assert_eq!(dropped["erased_from_disk"], true, "{dropped}");
    assert_eq!(
        files_containing(&data, "Zanzibarite"),
        Vec::<PathBuf>::new()
    );
    assert_eq!(files_containing(&data, "vault.txt"), Vec::<PathBuf>::new());
    assert!(kb_named(&kbs(&node), "secret").is_none());
    assert_eq!(node.delete("/v1/kbs/secret").0, 404, "already gone");
    let ans = ask_in(&node, "secret", "Is Zanzibarite a kind of mineral?");
    assert_eq!(ans["verdict"], "unknown", "{ans}");

    node.kill9();
    let node = common::start(&data);
    node.wait_status("/ready", 200, 60);
    let list = kbs(&node);
    assert!(kb_named(&list, "secret").is_none(), "{list:?}");
    let ans = ask_in(&node, "secret", "Is Zanzibarite a kind of mineral?");
    assert_eq!(ans["verdict"], "unknown", "{ans}");
    assert_eq!(
        ask_in(&node, "kept", "Is Lyon in France?")["verdict"],
        "yes"
    );
    assert_eq!(
        ask_in(&node, "default", "Is Paris in France?")["verdict"],
        "yes"
    );
    assert_eq!(
        files_containing(&data, "Zanzibarite"),
        Vec::<PathBuf>::new()
    );
    // The name can be used again, from empty.
    learn_in(&node, "secret", "Quartz is a kind of mineral.", "new.txt");
    let list = kbs(&node);
    assert_eq!(
        kb_named(&list, "secret").unwrap()["sentences"],
        1,
        "{list:?}"
    );
    let ans = ask_in(&node, "secret", "Is Zanzibarite a kind of mineral?");
    assert_eq!(ans["verdict"], "unknown", "{ans}");
}

#[test]
fn each_learned_occurrence_has_its_own_increasing_time() {
    let dir = tempfile::tempdir().unwrap();
    let node = common::start(&dir.path().join("data"));
    node.wait_status("/ready", 200, 60);
    // The same sentence twice in one story, by two requests, and by a second label.
    let first = node.post(
        "/v1/learn?kb=story",
        json!({ "content": "Mary went to the garden.", "options": { "read_your_writes": true } }),
    );
    let second = node.post(
        "/v1/learn?kb=story",
        json!({ "content": "Mary went to the garden.", "options": { "read_your_writes": true } }),
    );
    learn_in(&node, "story", "Mary went to the garden.", "chapter-2");
    assert_eq!(first.1["concept_id"], second.1["concept_id"]);
    let id = first.1["concept_id"].as_str().unwrap();
    let (status, c) = node.get(&format!("/v1/concepts/{id}?kb=story"));
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["kb"], "story");
    let times: Vec<&str> = c["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["learned_at"].as_str().unwrap())
        .collect();
    assert_eq!(times.len(), 3, "one teacher per request or label: {c}");
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
    // A batch's statements are learned in order, each at its own time.
    let (status, b) = node.post(
        "/v1/learn/batch?kb=story",
        json!({ "contents": ["John went to the kitchen.", "John went to the hallway."],
                "options": { "read_your_writes": true } }),
    );
    assert_eq!(status, 200, "{b}");
    let created: Vec<u64> = b["concept_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| {
            let (_, c) = node.get(&format!("/v1/concepts/{}?kb=story", id.as_str().unwrap()));
            c["created_ms"].as_u64().unwrap()
        })
        .collect();
    assert!(created[0] < created[1], "{created:?}");
    let (_, last) = node.get(&format!("/v1/concepts/{id}?kb=story"));
    assert!(last["updated_ms"].as_u64().unwrap() < created[0]);
}

/// Files under `dir`, recursively.
fn file_count(dir: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            if entry.path().is_dir() {
                stack.push(entry.path());
            } else {
                n += 1;
            }
        }
    }
    n
}

fn proc_status(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn two_thousand_small_knowledge_bases_cost_no_files_threads_or_actors() {
    const KBS: usize = 2000;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // No embedders: this measures the knowledge base plumbing, not the model.
    let node = common::try_start(&data, &["--embedders", "0"]).unwrap();
    node.wait_status("/ready", 200, 60);
    learn_in(&node, "warm-up", "Paris is in France.", "w");
    let files_before = file_count(&data);
    let threads_before = proc_status(node.pid(), "Threads:");
    let (_, actors) = node.get("/v1/admin/actors");
    let actors_before = actors.to_string().matches("\"name\"").count();
    let mut rng = common::Rng(12);
    let names = ["Mary", "John", "Sandra", "Daniel"];
    let places = ["garden", "kitchen", "hallway", "office", "bathroom"];
    let started = std::time::Instant::now();
    for k in 0..KBS {
        let n = 10 + rng.below(11);
        // Every even story says Mary is in the garden, every odd one the kitchen; the
        // rest is filler of the same kind.
        let mut contents = vec![format!(
            "Mary is in the {}.",
            if k % 2 == 0 { "garden" } else { "kitchen" }
        )];
        contents.extend((1..n).map(|i| {
            format!(
                "{} is in the {} {k}-{i}.",
                rng.pick(&names),
                rng.pick(&places)
            )
        }));
        let (status, body) = node.post(
            &format!("/v1/learn/batch?kb=story-{k}"),
            json!({ "contents": contents }),
        );
        assert_eq!(status, 200, "{body}");
    }
    let learn_s = started.elapsed().as_secs_f64();
    // Spot checks: each answers from its own story only.
    for k in [0, 777, KBS - 1] {
        let (_, c) = node.get(&format!("/v1/stats?kb=story-{k}"));
        assert!(c["kb"]["sentences"].as_u64().unwrap() >= 10, "{c}");
    }
    let (status, list) = node.get("/v1/kbs");
    assert_eq!(status, 200);
    // The node's own `events` knowledge base is listed too.
    let list: Vec<&Value> = list["kbs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["name"] != "events")
        .collect();
    assert_eq!(list.len(), KBS + 1, "every story and the warm-up");
    let asked = std::time::Instant::now();
    let mut answered = 0;
    for k in (0..KBS).step_by(100) {
        let a = ask_in(&node, &format!("story-{k}"), "Is Mary in the garden?");
        assert_eq!(a["verdict"], "yes", "story-{k}: {a}");
        let other = ask_in(&node, &format!("story-{}", k + 1), "Is Mary in the garden?");
        assert_ne!(
            other["verdict"], "yes",
            "never another story's facts: {other}"
        );
        answered += 1;
    }
    let ask_ms = asked.elapsed().as_millis() as f64 / (2 * answered) as f64;
    let files_after = file_count(&data);
    let threads_after = proc_status(node.pid(), "Threads:");
    let (_, actors) = node.get("/v1/admin/actors");
    let actors_after = actors.to_string().matches("\"name\"").count();
    let rss_mb = proc_status(node.pid(), "VmRSS:") / 1024;
    eprintln!(
        "{KBS} knowledge bases: learned in {learn_s:.1} s, {ask_ms:.1} ms per question, RSS {rss_mb} MB, files {files_before} -> {files_after}, threads {threads_before} -> {threads_after}, actors {actors_before} -> {actors_after}"
    );
    // Per-knowledge-base files, threads or actors would grow with KBS.
    assert!(
        files_after < files_before + 50,
        "{files_before} -> {files_after}"
    );
    assert!(
        threads_after < threads_before + 50,
        "{threads_before} -> {threads_after}"
    );
    assert!(
        actors_after < actors_before + 50,
        "{actors_before} -> {actors_after}"
    );
}

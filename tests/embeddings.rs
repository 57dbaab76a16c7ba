//! Embeddings and vector search end to end, against a real `sutra-node` with the real
//! model (prepared by `scripts/setup-model.py`, which the README's test command runs).

mod common;

use common::{start, try_start, Node};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn vectors(node: &Node, texts: &[String]) -> Vec<Vec<f32>> {
    let (status, body) = node.post("/v1/embed", json!({ "texts": texts }));
    assert_eq!(status, 200, "{body}");
    body["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        })
        .collect()
}

fn search(node: &Node, query: &str, k: u64) -> Vec<Value> {
    let (status, body) = node.post("/v1/search", json!({"query": query, "k": k}));
    assert_eq!(status, 200, "{body}");
    body["results"].as_array().unwrap().clone()
}

fn contents(results: &[Value]) -> Vec<String> {
    results
        .iter()
        .map(|r| r["content"].as_str().unwrap().to_string())
        .collect()
}

/// Waits until every replica has loaded its model.
fn wait_healthy(node: &Node) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while stats(node)["embedders"]["state"] != "healthy" {
        assert!(Instant::now() < deadline, "embedders never became healthy");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stats(node: &Node) -> Value {
    let (status, body) = node.get("/v1/stats");
    assert_eq!(status, 200);
    body
}

/// Thousands of distractor statements in a few templates with invented names.
fn distractors(n: usize) -> Vec<String> {
    let things = [
        "library",
        "bakery",
        "harbor",
        "museum",
        "bridge",
        "tower",
        "garden",
        "station",
        "market",
        "castle",
        "temple",
        "stadium",
        "factory",
        "school",
        "theatre",
        "lighthouse",
    ];
    let places = [
        "Varnholt",
        "Quillmere",
        "Ostravik",
        "Belcaro",
        "Tindlemoor",
        "Saxhaven",
        "Corriden",
        "Mallowby",
        "Renquist",
        "Fenwarde",
        "Liselund",
        "Harrowgate",
        "Pellucid",
        "Drummore",
    ];
    (0..n)
        .map(|i| {
            let (t, p) = (
                things[i % things.len()],
                places[(i / things.len()) % places.len()],
            );
            match i % 4 {
                0 => format!("The old {t} number {i} is in {p}."),
                1 => format!(
                    "Visitors to {p} often see the {t} built in year {}.",
                    1500 + i
                ),
                2 => format!("A {t} called Item{i} belongs to the district of {p}."),
                _ => format!(
                    "The {t} of {p} closes at {} o'clock on day {i}.",
                    i % 12 + 1
                ),
            }
        })
        .collect()
}

#[test]
fn paraphrased_questions_find_the_right_sentence() {
    let dir = tempfile::tempdir().unwrap();
    // Each learn below embeds about 500 texts; the request limit is made generous so
    // that how fast this machine embeds them does not matter.
    let node = start_configured(
        dir.path(),
        &[("request_timeout_ms = 10000", "request_timeout_ms = 120000")],
        "2",
    );
    let facts = [
        (
            "The Eiffel Tower is in Paris.",
            "Where can I find the Eiffel Tower?",
        ),
        (
            "Penicillin was discovered by Alexander Fleming.",
            "Who found penicillin?",
        ),
        (
            "Smoking causes lung cancer.",
            "What disease can tobacco lead to?",
        ),
        (
            "The Nile is the longest river in Africa.",
            "Which African river is the longest?",
        ),
        ("Bees make honey from nectar.", "How is honey produced?"),
    ];
    let mut all = distractors(3000);
    for (i, (fact, _)) in facts.iter().enumerate() {
        all.insert(i * 500 + 7, fact.to_string());
    }
    for chunk in all.chunks(250) {
        let (status, body) = node.post("/v1/learn/batch", json!({ "contents": chunk }));
        assert_eq!(status, 200, "{body}");
    }
    // Searches see the folded snapshot; wait until every sentence is indexed.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = stats(&node);
        let vectors: u64 = s["shards"]
            .as_array()
            .unwrap()
            .iter()
            .map(|sh| sh["stats"]["vectors"].as_u64().unwrap())
            .sum();
        if vectors >= 3005 {
            break;
        }
        assert!(Instant::now() < deadline, "only {vectors} vectors indexed");
        std::thread::sleep(Duration::from_millis(100));
    }
    for (fact, question) in facts {
        let top = contents(&search(&node, question, 5));
        assert!(
            top.iter().any(|c| c == fact),
            "'{question}' should find '{fact}' in the top 5, got {top:?}"
        );
    }
    // Sentence-only search puts the fact first.
    let (status, body) = node.post(
        "/v1/search",
        json!({"query": "Where can I find the Eiffel Tower?", "k": 3, "kind": "sentence"}),
    );
    assert_eq!(status, 200);
    assert_eq!(
        body["results"][0]["content"],
        "The Eiffel Tower is in Paris."
    );
    let sims: Vec<f64> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["similarity"].as_f64().unwrap())
        .collect();
    assert!(sims.windows(2).all(|w| w[0] >= w[1]), "sorted: {sims:?}");

    // Bad searches are 400s with clear messages.
    for (body, needle) in [
        (json!({"query": "x", "k": 0}), "k must"),
        (json!({"query": "x", "k": 5000}), "k must"),
        (json!({"query": "x", "k": "ten"}), "invalid type"),
        (json!({"query": ""}), "empty"),
        (json!({"k": 3}), "missing field"),
        (json!({"query": "x", "kind": "robot"}), "kind must"),
    ] {
        let (status, resp) = node.post("/v1/search", body.clone());
        assert_eq!(status, 400, "{body} -> {resp}");
        let msg = resp["error"]["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{body}: {msg}");
    }
}

#[test]
fn cache_returns_identical_vectors_and_counts_hits() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(&dir.path().join("n"));
    wait_healthy(&node);
    let texts = vec!["A cat is a kind of mammal.".to_string()];
    let first = vectors(&node, &texts);
    let hits_before = stats(&node)["embedders"]["cache_hits"].as_u64().unwrap();
    // Same text with other case and spacing: the cache key folds both.
    let second = vectors(&node, &["  a CAT is a kind of   mammal. ".to_string()]);
    assert_eq!(first, second, "cached vector must be identical");
    let s = stats(&node);
    assert_eq!(
        s["embedders"]["cache_hits"].as_u64().unwrap(),
        hits_before + 1
    );
    assert_eq!(first[0].len(), 384);
    let norm: f32 = first[0].iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4, "unit length, got {norm}");
    assert!(s["embedders"]["cache_hit_rate"].as_f64().unwrap() > 0.0);
    assert_eq!(s["embedders"]["state"], "healthy");
}

/// Concurrent callers while `embedder-1` is killed over and over: no request fails and
/// every vector equals the one a single-replica node computes.
#[test]
fn killing_a_replica_repeatedly_loses_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let texts: Vec<String> = (0..480)
        .map(|i| {
            format!(
                "Statement number {i} says that item {} sits near {}.",
                i * 7,
                i % 13
            )
        })
        .collect();
    let reference = {
        let single = try_start(&dir.path().join("single"), &["--embedders", "1"]).unwrap();
        let v = texts
            .iter()
            .flat_map(|t| vectors(&single, std::slice::from_ref(t)))
            .collect::<Vec<_>>();
        drop(single);
        v
    };
    let node = Arc::new(try_start(&dir.path().join("pool"), &["--embedders", "3"]).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let kills = Arc::new(AtomicUsize::new(0));
    wait_healthy(&node);
    // Alternate the operator's kill and a panic inside a batch (which is sure to hit
    // work in flight), each time once embedder-1 serves again.
    let killer = {
        let (node, stop, kills) = (node.clone(), stop.clone(), kills.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                if stats(&node)["embedders"]["replicas"][1]["state"] != "healthy" {
                    continue;
                }
                let (status, _) = if n % 2 == 0 {
                    node.post("/v1/admin/actors/embedder-1/kill", json!({}))
                } else {
                    node.post(
                        "/v1/admin/faults",
                        json!({"point": "embedder_panic", "replica": 1}),
                    )
                };
                if status == 202 || status == 200 {
                    kills.fetch_add(1, Ordering::Relaxed);
                }
                n += 1;
            }
        })
    };
    let results: Vec<_> = (0..16)
        .map(|c| {
            let (node, texts) = (node.clone(), texts.clone());
            std::thread::spawn(move || {
                let mut out = Vec::new();
                for i in (c..texts.len()).step_by(16) {
                    let (status, body) =
                        node.post("/v1/embed", json!({ "texts": [texts[i].clone()] }));
                    out.push((i, status, body));
                }
                out
            })
        })
        .flat_map(|h| h.join().unwrap())
        .collect();
    stop.store(true, Ordering::Relaxed);
    killer.join().unwrap();
    assert!(
        kills.load(Ordering::Relaxed) >= 3,
        "the replica was killed repeatedly"
    );
    let mut max_diff = 0f32;
    for (i, status, body) in &results {
        assert_eq!(*status, 200, "request {i} failed during failover: {body}");
        let v: Vec<f32> = body["vectors"][0]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        for (a, b) in v.iter().zip(&reference[*i]) {
            max_diff = max_diff.max((a - b).abs());
        }
    }
    assert_eq!(results.len(), texts.len());
    assert!(
        max_diff <= 1e-6,
        "vectors differ from the single-replica run by {max_diff}"
    );
    let s = stats(&node);
    assert!(
        s["embedders"]["replicas"][1]["restarts"].as_u64().unwrap() >= 1
            && s["embedders"]["rerouted_batches"].as_u64().unwrap() >= 1,
        "embedder-1 restarted and its batches ran elsewhere: {}",
        s["embedders"]
    );
}

/// A replica that did its work and then was killed comes back at once, however often
/// that happens: restart backoff is for replicas that crash before getting anything done,
/// so a pool whose replicas are killed now and then never drifts into long outages.
#[test]
fn a_replica_killed_after_working_restarts_at_once_every_time() {
    let dir = tempfile::tempdir().unwrap();
    let node = try_start(&dir.path().join("n"), &["--embedders", "2"]).unwrap();
    wait_healthy(&node);
    let replica = |s: &Value, field: &str| s["embedders"]["replicas"][1][field].clone();
    let mut took = Vec::new();
    // More kills than the restart intensity (10 in 30 s), which with growing backoff
    // would keep the replica down for seconds by the end.
    for round in 0..12 {
        // Make embedder-1 finish a batch: the idle pool routes to the replica that has
        // embedded the fewest texts, which is the one killed over and over.
        let done = replica(&stats(&node), "batches").as_u64().unwrap();
        let mut i = 0;
        while replica(&stats(&node), "batches").as_u64().unwrap() == done {
            let (status, body) = node.post(
                "/v1/embed",
                json!({ "texts": [format!("round {round} text {i} keeps the replica busy")] }),
            );
            assert_eq!(status, 200, "{body}");
            i += 1;
            assert!(i < 200, "embedder-1 never got a batch");
        }
        let restarts = replica(&stats(&node), "restarts").as_u64().unwrap();
        let (status, body) = node.post("/v1/admin/actors/embedder-1/kill", json!({}));
        assert!(status == 200 || status == 202, "{body}");
        let killed = Instant::now();
        loop {
            let s = stats(&node);
            if replica(&s, "restarts").as_u64().unwrap() > restarts
                && replica(&s, "state") == "healthy"
            {
                break;
            }
            assert!(
                killed.elapsed() < Duration::from_secs(60),
                "embedder-1 did not come back: {}",
                s["embedders"]
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        took.push(killed.elapsed());
    }
    // Coming back is a model load (0.1-0.6 s here, longer on a slower CPU) plus any
    // backoff. A backoff that grew with the kills (10 ms doubling per kill, capped at 2 s)
    // would add 1.3-2 s to each of the last four rounds but at most 80 ms to the first
    // four; compare their medians, so the bound does not depend on how fast this machine
    // loads a model.
    let median = |rounds: &[Duration]| {
        let mut r = rounds.to_vec();
        r.sort();
        r[r.len() / 2]
    };
    let (early, late) = (median(&took[..4]), median(&took[8..]));
    assert!(
        late < early + Duration::from_millis(1000),
        "killed working replicas came back slower and slower (a growing backoff): first \
         rounds {early:?}, last rounds {late:?}; all {took:?}"
    );
}

/// A learn whose batch takes longer than `limits.request_timeout_ms` is not answered
/// with a 503 while it goes on to commit: it answers 200 once everything is stored.
///
/// The batch is made slow with the `embedder_stall` fault point, not with CPU speed:
/// its 520 texts are embedded in two chunks (512 texts, then 8), each one pool batch
/// on the only replica, stalled for 1.5 s and 14 s: each under the 15 s limit, together
/// over it. Embedding the 512 short texts may take up to 13.5 s (about 2 s here, on a
/// busy 2-core machine) and the 8 up to 1 s before a step would miss its limit.
#[test]
fn a_batch_slower_than_the_request_timeout_answers_with_its_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_configured(
        dir.path(),
        &[
            ("request_timeout_ms = 10000", "request_timeout_ms = 15000"),
            // The 14 s stall is no hung model.
            ("batch_deadline_ms = 10000", "batch_deadline_ms = 60000"),
            // A whole 512-text chunk fits in one pool batch, so each stall below hits
            // exactly one chunk.
            ("max_batch = 32", "max_batch = 1024"),
            ("max_batch_tokens = 8192", "max_batch_tokens = 65536"),
        ],
        "1",
    );
    let limit = Duration::from_millis(15000);
    let stalls = [1500u64, 14000];
    for ms in stalls {
        node.fault(json!({"point": "embedder_stall", "replica": 0, "ms": ms}));
    }
    // 520 sentences (no associations, so no entity names): 520 texts to embed, in a
    // chunk of 512 and one of 8.
    let contents: Vec<String> = (0..520).map(|i| format!("Fact {i}.")).collect();
    let started = Instant::now();
    let (status, body) = node.post(
        "/v1/learn/batch",
        json!({ "contents": contents, "options": {"extract_associations": false} }),
    );
    let took = started.elapsed();
    assert_eq!(status, 200, "after {took:?}: {body}");
    let e = stats(&node)["embedders"].clone();
    println!(
        "learn took {took:?}: stalls {stalls:?} ms, embedding batches p50 {} ms",
        e["batch_p50_ms"]
    );
    assert_eq!(
        e["batches"], 2,
        "two chunks, one stalled pool batch each (took {took:?}): {e}"
    );
    assert!(
        took > limit,
        "the stalls alone outlast the request limit (took {took:?})"
    );
    assert_eq!(body["concept_ids"].as_array().unwrap().len(), 520);
    // Stats read the folded snapshot, which follows the durable log within moments.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = stats(&node);
        let vectors: u64 = s["shards"]
            .as_array()
            .unwrap()
            .iter()
            .map(|sh| sh["stats"]["vectors"].as_u64().unwrap())
            .sum();
        if s["concepts"].as_u64().unwrap() >= 520 && vectors >= 520 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "everything acknowledged is stored: {} concepts, {vectors} vectors",
            s["concepts"]
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A node with `embedders` replicas on the default topology with some keys changed,
/// started in `dir` and with every replica loaded.
fn start_configured(dir: &std::path::Path, replace: &[(&str, &str)], embedders: &str) -> Node {
    let mut text = std::fs::read_to_string(common::default_config()).unwrap();
    for (from, to) in replace {
        assert!(text.contains(from), "cluster.toml has no '{from}'");
        text = text.replace(from, to);
    }
    let config = dir.join("cluster.toml");
    std::fs::write(&config, text).unwrap();
    let node =
        common::try_start_with(&config, &dir.join("n"), &["--embedders", embedders]).unwrap();
    wait_healthy(&node);
    node
}

#[test]
fn all_replicas_down_gives_a_clear_503_then_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_configured(
        dir.path(),
        &[("unavailable_wait_ms = 3000", "unavailable_wait_ms = 50")],
        "1",
    );
    // The only replica panics on the next batch; it needs a few hundred milliseconds to
    // reload its model, longer than callers may wait with no replica up.
    node.fault(json!({"point": "embedder_panic", "replica": 0}));
    let started = Instant::now();
    let (status, body) = node.post("/v1/embed", json!({"texts": ["nobody can embed this now"]}));
    assert_eq!(status, 503, "{body}");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("no embedder replica is running") && msg.contains("retry"),
        "{msg}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded wait, never a hang"
    );
    // Again for a learn, once the replica is back (so the panic hits the learn's batch).
    wait_healthy(&node);
    node.fault(json!({"point": "embedder_panic", "replica": 0}));
    let (status, body) = node.post(
        "/v1/learn",
        json!({"content": "Nothing is learned while down."}),
    );
    assert_eq!(
        status, 503,
        "a learn that cannot be embedded is refused: {body}"
    );
    assert_eq!(stats(&node)["concepts"], 0, "and nothing of it is stored");
    // After the restart everything works again, and the restart is counted.
    wait_healthy(&node);
    let (status, body) = node.post("/v1/embed", json!({"texts": ["nobody can embed this now"]}));
    assert_eq!(status, 200, "{body}");
    let st = stats(&node);
    assert_eq!(
        st["embedders"]["replicas"][0]["restarts"].as_u64().unwrap(),
        2
    );
    assert!(st["embedders"]["failed_unavailable"].as_u64().unwrap() >= 1);
}

#[test]
fn a_stalled_replica_misses_its_deadline_and_the_batch_runs_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_configured(
        dir.path(),
        &[("batch_deadline_ms = 10000", "batch_deadline_ms = 300")],
        "2",
    );
    node.fault(json!({"point": "embedder_stall", "replica": 0, "ms": 2000}));
    // The idle pool routes the first batch to embedder-0, which hangs.
    let started = Instant::now();
    let (status, body) = node.post(
        "/v1/embed",
        json!({"texts": ["a hung model must not hang callers"]}),
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "rerouted at the deadline, not after the stall"
    );
    let st = stats(&node);
    assert!(
        st["embedders"]["rerouted_batches"].as_u64().unwrap() >= 1,
        "{}",
        st["embedders"]
    );
}

#[test]
fn vectors_survive_kill9_and_the_index_is_loaded_not_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("n");
    let mut node = start(&data);
    let first: Vec<String> = (0..40)
        .map(|i| format!("Checkpointed fact {i}: the blue kettle {i} is in kitchen {i}."))
        .collect();
    let (s, b) = node.post("/v1/learn/batch", json!({"contents": first}));
    assert_eq!(s, 200, "{b}");
    assert!(
        node.terminate(),
        "clean stop saves the index with the checkpoint"
    );
    let mut node = start(&data);
    let log = node.log_text();
    assert!(
        log.contains("vector index loaded from disk, not rebuilt"),
        "restart must load the saved index:\n{log}"
    );
    assert!(
        log.contains("index_load_ms"),
        "the log line carries the time"
    );
    let second: Vec<String> = (0..20)
        .map(|i| format!("Logged-only fact {i}: the red teapot {i} is in cellar {i}."))
        .collect();
    let (s, b) = node.post("/v1/learn/batch", json!({"contents": second}));
    assert_eq!(s, 200, "{b}");
    node.kill9();
    let node = start(&data);
    let top = contents(&search(&node, "Where is the blue kettle 7?", 5));
    assert!(top.iter().any(|c| c.contains("blue kettle 7 ")), "{top:?}");
    let top = contents(&search(&node, "Where is the red teapot 3?", 5));
    assert!(
        top.iter().any(|c| c.contains("red teapot 3 ")),
        "acknowledged vector lost: {top:?}"
    );
    // Deleting a concept removes its vector.
    let id = top_id(
        &node,
        "Logged-only fact 3: the red teapot 3 is in cellar 3.",
    );
    let (s, _) = node.delete(&format!("/v1/concepts/{id}"));
    assert_eq!(s, 200);
    let after = contents(&search(
        &node,
        "Logged-only fact 3: the red teapot 3 is in cellar 3.",
        10,
    ));
    assert!(
        !after
            .iter()
            .any(|c| c == "Logged-only fact 3: the red teapot 3 is in cellar 3."),
        "deleted concept still searchable: {after:?}"
    );
}

fn top_id(node: &Node, sentence: &str) -> String {
    let (s, body) = node.post(
        "/v1/search",
        json!({"query": sentence, "k": 1, "kind": "sentence"}),
    );
    assert_eq!(s, 200);
    assert_eq!(body["results"][0]["content"], sentence);
    body["results"][0]["concept_id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn questions_resolve_unknown_names_by_similarity() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(&dir.path().join("n"));
    for fact in [
        "The gray wolf is a kind of canine.",
        "A canine is a kind of mammal.",
    ] {
        let (s, b) = node.post(
            "/v1/learn",
            json!({ "content": fact, "options": {"read_your_writes": true} }),
        );
        assert_eq!(s, 200, "{b}");
    }
    // "grey wolf" is no known name (nor the same word stems): it resolves by embedding
    // similarity to "gray wolf", and the session says so in its progress.
    let (s, body) = node.post(
        "/v1/reason",
        json!({"query": "Is the grey wolf a kind of mammal?"}),
    );
    assert_eq!(s, 200);
    assert_eq!(body["verdict"], "yes", "{body}");
    assert_eq!(
        body["paths"][0]["concepts"][0]["name"], "gray wolf",
        "{body}"
    );
    // Unrelated words stay unknown rather than matching something.
    let (s, body) = node.post(
        "/v1/reason",
        json!({"query": "Is a zorblaxian quimp a kind of mammal?"}),
    );
    assert_eq!(s, 200);
    assert_eq!(body["verdict"], "unknown", "{body}");
}

#[test]
fn a_full_queue_answers_503_at_once_and_loses_nothing_admitted() {
    let dir = tempfile::tempdir().unwrap();
    let node = Arc::new(start_configured(
        dir.path(),
        &[("queue_limit = 20000", "queue_limit = 32")],
        "1",
    ));
    // Hold the only replica for a while so the queue fills.
    let first = hold_the_only_replica(&node, 3000);
    let callers: Vec<_> = (0..48)
        .map(|i| {
            let node = node.clone();
            std::thread::spawn(move || {
                let t = Instant::now();
                let r = node.post("/v1/embed", json!({"texts": [format!("queued text {i}")]}));
                (r, t.elapsed())
            })
        })
        .collect();
    let (mut ok, mut refused) = (0, 0);
    for c in callers {
        let ((status, body), took) = c.join().unwrap();
        match status {
            200 => ok += 1,
            503 => {
                refused += 1;
                assert!(
                    body["error"]["message"]
                        .as_str()
                        .unwrap()
                        .contains("queue is full"),
                    "{body}"
                );
                assert!(
                    took < Duration::from_millis(1000),
                    "refused at once, not after the stall"
                );
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(first.join().unwrap().0, 200);
    assert!(refused >= 1 && ok >= 32, "ok {ok}, refused {refused}");
    let st = stats(&node);
    assert!(st["embedders"]["rejected_overload"].as_u64().unwrap() >= refused);
}

/// Texts whose caller stopped waiting are dropped from the queue instead of embedded:
/// an overloaded pool does no work whose answer nobody reads.
#[test]
fn texts_of_callers_that_gave_up_are_not_embedded() {
    let dir = tempfile::tempdir().unwrap();
    let node = Arc::new(start_configured(
        dir.path(),
        &[("request_timeout_ms = 10000", "request_timeout_ms = 400")],
        "1",
    ));
    // The first request holds the only replica; the second waits in the queue until its
    // caller's 400 ms run out. The stall is long enough that a slow machine still sends
    // the second request while the first holds the replica.
    let first = hold_the_only_replica(&node, 5000);
    let texts: Vec<String> = (0..5)
        .map(|i| format!("nobody waits for text {i}"))
        .collect();
    let (status, body) = node.post("/v1/embed", json!({ "texts": texts }));
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        first.join().unwrap().0,
        503,
        "the stalled request timed out too"
    );
    // Once the stall ends the queue is cleared without running the abandoned texts.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let e = &stats(&node)["embedders"];
        if e["abandoned_texts"].as_u64().unwrap() == 5 && e["queue_depth"] == 0 {
            assert_eq!(e["batches"], 1, "only the stalled batch ran: {e}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "abandoned texts still queued: {e}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // And the pool serves the next caller.
    let (status, body) = node.post("/v1/embed", json!({"texts": ["a caller that waits"]}));
    assert_eq!(status, 200, "{body}");
}

/// Stalls `embedder-0` (the only replica) for `ms` on its next batch and sends it one
/// text from another thread; returns once that batch is running (the replica is busy).
fn hold_the_only_replica(node: &Arc<Node>, ms: u64) -> std::thread::JoinHandle<common::Resp> {
    node.fault(json!({"point": "embedder_stall", "replica": 0, "ms": ms}));
    let first = {
        let node = node.clone();
        std::thread::spawn(move || node.post("/v1/embed", json!({"texts": ["held by the stall"]})))
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while stats(node)["embedders"]["replicas"][0]["busy"] != true {
        assert!(Instant::now() < deadline, "the stalled batch never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    first
}

/// Where the set-up marked int8 unavailable (its check failed on this CPU), a node asked
/// for `embedding.variant = "int8"` stops at start with the reason and the way out.
#[test]
fn a_node_asked_for_an_unavailable_int8_stops_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    std::fs::create_dir(&models).unwrap();
    let real = common::model_dir();
    for f in ["libonnxruntime.so", "tokenizer.json", "model_fp32.onnx"] {
        std::os::unix::fs::symlink(real.join(f), models.join(f)).unwrap();
    }
    std::fs::write(
        models.join("manifest.json"),
        json!({"int8": {"available": false,
                        "reason": "its cosine to fp32 is 0.9868 on 'thanks', below the bar of 0.99"}})
        .to_string(),
    )
    .unwrap();
    let text = std::fs::read_to_string(common::default_config())
        .unwrap()
        .replace(r#"variant = "fp32""#, r#"variant = "int8""#);
    assert!(text.contains(r#"variant = "int8""#));
    let config = dir.path().join("cluster.toml");
    std::fs::write(&config, text).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sutra-node"))
        .arg("--config")
        .arg(&config)
        .args(["--http", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("n"))
        .env("SUTRA_MODEL_DIR", &models)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("sutra-node kept running with an unavailable int8 model");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success(), "{err}");
    assert!(
        err.contains("0.9868") && err.contains("embedding.variant") && err.contains("fp32"),
        "the error names the reason and the fp32 way out: {err}"
    );
}

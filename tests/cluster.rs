//! Several `sutra-node` processes from one topology on 127.0.0.1 (issue 11): they find
//! each other over ractor_cluster, any node's ingress serves writes and reads of shards
//! that live on the others (single-shard writes, two-phase commits through the master's
//! coordinator, concept reads, stats), a dead node's shards answer 503 fast naming the
//! node while the rest keeps working, and a restarted node rejoins by itself with every
//! acknowledged write.

mod common;

use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

/// Free local ports (bound and released; the test's nodes take them right after).
fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    held.iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// A 3-node topology: 6 shards, 2 per node; n1 is the master.
fn topology(dir: &Path, cookie_of_n3: Option<&str>) -> (std::path::PathBuf, std::path::PathBuf) {
    let ports = free_ports(6);
    let mut text = String::from("[cluster]\nname = \"t\"\ncookie = \"COOKIE\"\nshards = 6\n");
    for i in 0..3 {
        let roles = if i == 0 {
            r#"["master", "storage", "ingress"]"#
        } else {
            r#"["storage", "ingress"]"#
        };
        text += &format!(
            "\n[[nodes]]\nname = \"n{}\"\ncluster_addr = \"127.0.0.1:{}\"\nhttp_addr = \"127.0.0.1:{}\"\ndata_dir = \"d{}\"\nroles = {roles}\nshards = [{}, {}]\nembedder_replicas = 0\n",
            i + 1,
            ports[2 * i],
            ports[2 * i + 1],
            i + 1,
            i,
            i + 3
        );
    }
    let good = dir.join("cluster.toml");
    std::fs::write(&good, text.replace("COOKIE", "right")).unwrap();
    let other = dir.join("other-cookie.toml");
    std::fs::write(
        &other,
        text.replace("COOKIE", cookie_of_n3.unwrap_or("wrong")),
    )
    .unwrap();
    (good, other)
}

fn start(config: &Path, dir: &Path, name: &str) -> common::Node {
    common::try_start_with(config, &dir.join(name), &["--node", name])
        .unwrap_or_else(|log| panic!("{name} failed to start:\n{log}"))
}

fn facts(tag: &str) -> Vec<String> {
    (0..24)
        .map(|i| format!("Sprocket {tag}{i} is part of Engine {tag}{}.", i % 5))
        .collect()
}

fn learn(node: &common::Node, tag: &str) -> (u16, Value) {
    node.post(
        "/v1/learn/batch",
        json!({"contents": facts(tag), "options": {"generate_embedding": false, "read_your_writes": true}}),
    )
}

/// Learns until the cluster takes it (peers connect in the background).
fn learn_eventually(node: &common::Node, tag: &str, secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let (status, body) = learn(node, tag);
        if status == 200 {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "never learned: {status} {body}\n{}",
            node.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Concepts per shard, as one node reports them for the whole cluster.
fn concepts_per_shard(node: &common::Node) -> Vec<u64> {
    let (status, stats) = node.get("/v1/stats");
    assert_eq!(status, 200, "{stats}");
    // In shard order; an unreachable shard counts 0.
    stats["shards"]
        .as_array()
        .unwrap_or_else(|| panic!("{stats}"))
        .iter()
        .map(|s| s["stats"]["concepts"].as_u64().unwrap_or(0))
        .collect()
}

/// The ids of the concepts a learn response names.
fn concept_ids(body: &Value) -> Vec<String> {
    let mut ids = Vec::new();
    let mut stack = vec![body];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    if matches!(k.as_str(), "concept_id" | "id" | "source" | "target")
                        && x.is_string()
                    {
                        ids.push(x.as_str().unwrap().to_string());
                    } else {
                        stack.push(x);
                    }
                }
            }
            Value::Array(a) => stack.extend(a.iter()),
            _ => {}
        }
    }
    ids
}

#[test]
fn three_nodes_serve_each_others_shards_and_survive_a_node_kill() {
    let dir = tempfile::tempdir().unwrap();
    let (config, wrong_cookie) = topology(dir.path(), None);
    let n1 = start(&config, dir.path(), "n1");
    let n2 = start(&config, dir.path(), "n2");
    let mut n3 = start(&config, dir.path(), "n3");

    // Learn through n2 (not the master): every batch spans all six shards, so this is a
    // two-phase commit run by n1's coordinator across all three nodes.
    let body = learn_eventually(&n2, "a", 60);
    let per_shard = concepts_per_shard(&n3);
    assert_eq!(per_shard.len(), 6, "{per_shard:?}");
    assert!(
        per_shard.iter().all(|&c| c > 0),
        "every shard got concepts: {per_shard:?}"
    );
    // Every node sees the same cluster-wide counts.
    assert_eq!(concepts_per_shard(&n1), per_shard);
    // Concepts are read through any node, wherever they live.
    let ids = concept_ids(&body);
    assert!(!ids.is_empty(), "{body}");
    for id in ids.iter().take(20) {
        for node in [&n1, &n2, &n3] {
            let (status, c) = node.get(&format!("/v1/concepts/{id}"));
            assert_eq!(status, 200, "{id} through {}: {c}", node.base);
        }
    }

    // n3 dies: writes that need its shards fail fast with 503 naming it; reads of
    // shards elsewhere still work.
    n3.kill9();
    let started = Instant::now();
    let (status, err) = learn(&n1, "b");
    assert_eq!(status, 503, "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    let message = err["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("n3"), "{message}");
    let (status, stats) = n2.get("/v1/stats");
    assert!(status == 200 || status == 503, "{stats}");

    // n3 restarts, rejoins by itself, and has kept what it acknowledged.
    let n3 = start(&config, dir.path(), "n3");
    learn_eventually(&n1, "c", 60);
    let after = concepts_per_shard(&n3);
    assert!(
        after.iter().zip(&per_shard).all(|(a, b)| a >= b),
        "{after:?} vs {per_shard:?}"
    );
    for id in ids.iter().take(20) {
        let (status, c) = n3.get(&format!("/v1/concepts/{id}"));
        assert_eq!(status, 200, "{id}: {c}");
    }

    // A node with another cookie is refused: it never serves the others' shards, and
    // the refusal is logged.
    drop(n3);
    let n3 = start(&wrong_cookie, dir.path(), "n3");
    let deadline = Instant::now() + Duration::from_secs(30);
    while ![&n1, &n2, &n3]
        .iter()
        .any(|n| n.log_text().contains("same cluster.cookie"))
    {
        assert!(
            Instant::now() < deadline,
            "no node logged the cookie refusal:\n{}",
            n3.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, _) = learn(&n3, "d");
    assert_eq!(
        status, 503,
        "a node with a wrong cookie must not reach the others"
    );
    drop(n2);
    drop(n1);
}

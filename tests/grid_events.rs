//! Two `sutra-node` processes in one test (issue 13): the grid's agent events as the
//! master sees real nodes come, crash, come back and leave; and a client's request id
//! carried across nodes, into the remote node's log lines and events.

mod common;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A 2-node topology: 4 shards, 2 per node, no embedders; n1 is the master.
fn two_nodes(dir: &Path) -> PathBuf {
    let path = dir.join("cluster.toml");
    std::fs::write(
        &path,
        common::cluster::topology_text(2).replace("COOKIE", "c"),
    )
    .unwrap();
    path
}

fn start(config: &Path, dir: &Path, name: &str, env: &[(&str, &str)]) -> common::Node {
    common::try_start_env(config, &dir.join(name), &["--node", name], env)
        .unwrap_or_else(|log| panic!("{name} failed to start:\n{log}"))
}

/// Polls `node`'s `/v1/cluster` until `ok` holds for node `name`'s entry and the
/// master's transitions about it; panics after `secs`.
fn wait_state(node: &common::Node, name: &str, secs: u64, ok: impl Fn(&Value, &[Value]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut last = Value::Null;
    loop {
        let (status, view) = node.get("/v1/cluster");
        if status == 200 {
            let entry = view["nodes"]
                .as_array()
                .and_then(|a| a.iter().find(|n| n["name"] == name))
                .cloned()
                .unwrap_or(Value::Null);
            let about: Vec<Value> = view["transitions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|t| t["node"] == name)
                .cloned()
                .collect();
            if ok(&entry, &about) {
                return;
            }
            last = view;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never reached the state waited for; last view: {last}\n{}",
            node.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn about(agent: &'static str) -> impl Fn(&Value) -> bool {
    move |e| e["event"]["agent"] == agent
}

fn matching(node: &common::Node, filters: &str) -> u64 {
    let (status, body) = node.get(&format!("/v1/events?{filters}"));
    assert_eq!(status, 200, "{body}");
    body["matching"].as_u64().unwrap()
}

#[test]
fn agents_register_beat_degrade_go_offline_recover_and_leave() {
    let dir = tempfile::tempdir().unwrap();
    let config = two_nodes(dir.path());
    let n1 = start(&config, dir.path(), "n1", &[]);
    let mut n2 = start(&config, dir.path(), "n2", &[]);

    // Both agents register with the master (n1) and heartbeat.
    for agent in ["n1", "n2"] {
        n1.wait_event("kind=AgentRegistered", 60, about(agent));
        n1.wait_event("kind=AgentHeartbeat", 60, about(agent));
    }

    // kill -9: suspected, then declared offline, a crash seen by the master.
    n2.kill9();
    wait_state(&n1, "n2", 30, |n, _| n["state"] == "offline");
    n2 = start(&config, dir.path(), "n2", &[]);
    wait_state(&n1, "n2", 60, |n, _| n["state"] == "recovered");
    n1.wait_event("kind=AgentDegraded", 60, about("n2"));
    let offline = n1.wait_event("kind=AgentOffline", 60, about("n2"));
    assert_eq!(
        offline["event"]["node"], "n1",
        "the master says so: {offline}"
    );
    n1.wait_event("kind=NodeCrashed", 60, |e| {
        e["event"]["crashed"] == "n2"
            && e["event"]["seen"]
                .as_str()
                .is_some_and(|s| s.contains("grid master"))
    });
    n1.wait_event("kind=AgentRecovered", 60, about("n2"));

    // A clean stop: the agent says it leaves, an unregistration and not a crash.
    assert!(n2.terminate(), "clean stop failed:\n{}", n2.log_text());
    wait_state(&n1, "n2", 30, |n, t| {
        n["state"] == "offline"
            && t.last()
                .is_some_and(|t| t["reason"].as_str().is_some_and(|r| r.contains("left")))
    });
    n2 = start(&config, dir.path(), "n2", &[]);
    n1.wait_event("kind=AgentUnregistered", 60, about("n2"));
    // Stored after everything the master said about the leave: the second recovery.
    let deadline = Instant::now() + Duration::from_secs(60);
    while matching(&n1, "kind=AgentRecovered&node=n2") < 2 {
        assert!(Instant::now() < deadline, "n2 never recovered twice");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        matching(&n1, "kind=AgentOffline&node=n2"),
        1,
        "the leave is no outage"
    );
    let (_, crashes) = n1.get("/v1/events?kind=NodeCrashed&node=n2");
    let by_master = crashes["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"]["node"] == "n1")
        .count();
    assert_eq!(by_master, 1, "the leave is no crash: {crashes}");

    // In English, from either node.
    for node in [&n1, &n2] {
        for (q, want) in [
            ("Which nodes left the grid in the last hour?", "n2"),
            ("Which nodes went offline in the last hour?", "n2"),
            ("Which nodes recovered in the last hour?", "n2"),
        ] {
            let (status, a) = node.post("/v1/reason?kb=events", json!({ "query": q }));
            assert_eq!(status, 200, "{a}");
            let text = a["answer"].as_str().unwrap();
            assert!(text.starts_with("Nodes") && text.contains(want), "{q}: {a}");
        }
    }
}

/// Lines of a JSON log from `target` that carry `id` on a span.
fn lines_with(log: &str, id: &str, target: &str) -> usize {
    log.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == target)
        .filter(|v| {
            v["spans"]
                .as_array()
                .is_some_and(|s| s.iter().any(|s| s["request_id"] == id))
        })
        .count()
}

/// POSTs with a request id until the cluster takes it (peers connect in the
/// background); returns the body and the response's `x-request-id`.
fn post_as(node: &common::Node, path: &str, id: Option<&str>, body: Value) -> (Value, String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut req = ureq::post(&format!("{}{path}", node.base));
        if let Some(id) = id {
            req = req.set("x-request-id", id);
        }
        let resp = match req.send_json(body.clone()) {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{path}: {e}"),
        };
        let (status, header) = (
            resp.status(),
            resp.header("x-request-id").map(str::to_string),
        );
        let reply: Value = resp.into_json().unwrap_or(Value::Null);
        if status == 200 {
            return (reply, header.expect("x-request-id on every response"));
        }
        assert!(
            Instant::now() < deadline,
            "{path} never succeeded: {status} {reply}\n{}",
            node.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until `node`'s log has a line from each `(id, target)`.
fn wait_lines(node: &common::Node, want: &[(&str, &str)]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = node.log_text();
        let missing: Vec<_> = want
            .iter()
            .filter(|(id, target)| lines_with(&text, id, target) == 0)
            .collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no log line for {missing:?}:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn request_ids_cross_nodes_into_logs_and_events() {
    let dir = tempfile::tempdir().unwrap();
    let config = two_nodes(dir.path());
    let env = [
        ("SUTRA_LOG", "info,sutra=debug"),
        ("SUTRA_LOG_FORMAT", "json"),
    ];
    let n1 = start(&config, dir.path(), "n1", &env);
    let n2 = start(&config, dir.path(), "n2", &env);

    // A batch learned through n2 runs as one transaction of the coordinator on n1.
    let batch: Vec<String> = (0..40)
        .map(|i| format!("Piston x{i} is part of motor x{}.", i % 4))
        .collect();
    let (_, id) = post_as(
        &n2,
        "/v1/learn/batch",
        Some("xnode-learn-1"),
        json!({ "contents": batch, "options": {"read_your_writes": true} }),
    );
    assert_eq!(id, "xnode-learn-1");
    // A question through n2 reads n1's shards; n2 makes up the id this time.
    let (answer, asked) = post_as(
        &n2,
        "/v1/reason",
        None,
        json!({ "query": "Is piston x5 part of motor x1?" }),
    );
    assert_eq!(answer["verdict"], "yes", "{answer}");
    assert!(asked.starts_with("n2-"), "{asked}");

    // n1 logs the calls and the coordinator's work under the ids of n2's requests.
    wait_lines(
        &n1,
        &[
            ("xnode-learn-1", "sutra::cluster"),
            ("xnode-learn-1", "sutra::actors::coordinator"),
            (&asked, "sutra::cluster"),
        ],
    );
    // n1's event about the transaction carries the id too, listed from either node.
    for node in [&n1, &n2] {
        let e = node.wait_event(
            "kind=TransactionCommitted&request_id=xnode-learn-1",
            60,
            |e| e["event"]["node"] == "n1",
        );
        assert_eq!(e["event"]["request_id"], "xnode-learn-1", "{e}");
    }
    // And n2's own event for the question.
    n2.wait_event(
        &format!("kind=QueryPerformance&request_id={asked}"),
        60,
        |e| e["event"]["node"] == "n2",
    );
    // Events of other requests are not listed under this one.
    assert_eq!(
        matching(&n1, "kind=QueryPerformance&request_id=xnode-learn-1"),
        0
    );
    assert_eq!(matching(&n1, "request_id=no-such-request"), 0);
}

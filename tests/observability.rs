//! Observability of a real `sutra-node` process: a failing log sink never kills or
//! stalls the node (issue 15, part 4); request ids reach the response and the actors'
//! log lines (issue 13, part 6); `GET /metrics` passes `promtool check metrics` and
//! counts what happened (issue 13, part 4).

mod common;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Where the node's stderr goes.
enum Stderr {
    /// A file the test reads.
    File(PathBuf),
    /// `/dev/full`: every write fails with ENOSPC.
    DevFull,
    /// Closed before the node starts.
    Closed,
    /// A pipe whose read end the test closes at once: EPIPE.
    BrokenPipe,
    /// A pipe nobody reads: writes block once it is full.
    StuckPipe,
}

/// A node process started by these tests; killed on drop.
struct Proc {
    child: Option<Child>,
    base: String,
    /// Held open and never read (the stuck pipe).
    _stderr: Option<ChildStderr>,
}

fn spawn(data_dir: &Path, stderr: Stderr, env: &[(&str, &str)], embedders: bool) -> Proc {
    let bin = env!("CARGO_BIN_EXE_sutra-node");
    let mut cmd = match stderr {
        // The shell closes fd 2, then becomes the node.
        Stderr::Closed => {
            let mut c = Command::new("sh");
            c.args(["-c", "exec 2>&- \"$0\" \"$@\"", bin]);
            c
        }
        _ => Command::new(bin),
    };
    cmd.arg("--config")
        .arg(common::default_config())
        .args([
            "--http",
            "127.0.0.1:0",
            "--enable-fault-injection",
            "--data-dir",
        ])
        .arg(data_dir)
        .env("SUTRA_MODEL_DIR", common::model_dir())
        .stdout(Stdio::piped());
    if !embedders {
        cmd.args(["--embedders", "0"]);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    match &stderr {
        Stderr::File(p) => cmd.stderr(std::fs::File::create(p).unwrap()),
        Stderr::DevFull => cmd.stderr(
            std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .unwrap(),
        ),
        Stderr::Closed => cmd.stderr(Stdio::inherit()),
        Stderr::BrokenPipe | Stderr::StuckPipe => cmd.stderr(Stdio::piped()),
    };
    let mut child = cmd.spawn().expect("spawn sutra-node");
    let held = match stderr {
        Stderr::BrokenPipe => {
            drop(child.stderr.take());
            None
        }
        Stderr::StuckPipe => child.stderr.take(),
        _ => None,
    };
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(line) => {
                if let Some(addr) = line.strip_prefix("http listening on ") {
                    return Proc {
                        child: Some(child),
                        base: addr.trim().to_string(),
                        _stderr: held,
                    };
                }
            }
            Err(_) => {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("the node exited before listening: {status}");
                }
                assert!(Instant::now() < deadline, "no listening line within 60 s");
            }
        }
    }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build()
}

/// Status, body, and the response's `x-request-id`.
fn send(req: ureq::Request, body: Option<Value>) -> (u16, Value, Option<String>) {
    let r = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    };
    let resp = match r {
        Ok(resp) => resp,
        Err(ureq::Error::Status(_, resp)) => resp,
        Err(e) => panic!("request failed: {e}"),
    };
    let status = resp.status();
    let id = resp.header("x-request-id").map(str::to_string);
    (status, resp.into_json().unwrap_or(Value::Null), id)
}

impl Proc {
    fn post(&self, path: &str, body: Value) -> (u16, Value, Option<String>) {
        send(agent().post(&format!("{}{path}", self.base)), Some(body))
    }
    fn post_with_id(&self, path: &str, id: &str, body: Value) -> (u16, Value, Option<String>) {
        send(
            agent()
                .post(&format!("{}{path}", self.base))
                .set("x-request-id", id),
            Some(body),
        )
    }
    fn get(&self, path: &str) -> (u16, Value, Option<String>) {
        send(agent().get(&format!("{}{path}", self.base)), None)
    }
    fn get_text(&self, path: &str) -> (u16, String, String) {
        let resp = agent()
            .get(&format!("{}{path}", self.base))
            .call()
            .expect("GET");
        let ct = resp.header("content-type").unwrap_or("").to_string();
        (resp.status(), ct, resp.into_string().unwrap())
    }
    /// SIGTERM; true if the node exits successfully within 60 s.
    fn terminate(&mut self) -> bool {
        let mut c = self.child.take().unwrap();
        Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = c.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        false
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Learns and asks `rounds` times; every answer must be a 200.
fn drive(node: &Proc, rounds: usize) {
    for i in 0..rounds {
        let (s, b, _) = node.post(
            "/v1/learn",
            serde_json::json!({
                "content": format!("Gadget {i} is a kind of tool."),
                "options": {"read_your_writes": true},
            }),
        );
        assert_eq!(s, 200, "learn {i}: {b}");
        let (s, b, _) = node.post(
            "/v1/reason",
            serde_json::json!({"query": format!("Is gadget {i} a tool?")}),
        );
        assert_eq!(s, 200, "reason {i}: {b}");
        assert_eq!(b["verdict"], "yes", "reason {i}: {b}");
    }
}

/// Drives a node whose stderr fails in the given way: it keeps answering, counts the
/// lines it could not write, and stops cleanly on SIGTERM.
fn survives(stderr: Stderr, env: &[(&str, &str)], rounds: usize, counts_drops: bool) {
    let dir = tempfile::tempdir().unwrap();
    let mut env = env.to_vec();
    env.push(("SUTRA_LOG", "debug"));
    let mut node = spawn(&dir.path().join("data"), stderr, &env, false);
    drive(&node, rounds);
    let (s, stats, _) = node.get("/v1/stats");
    assert_eq!(s, 200, "{stats}");
    let logs = &stats["logs"];
    let dropped = logs["dropped_lines"].as_u64().expect("logs.dropped_lines");
    if counts_drops {
        assert!(dropped > 0, "no dropped lines counted: {logs}");
    }
    assert!(node.terminate(), "the node did not stop cleanly on SIGTERM");
}

#[test]
fn stderr_on_a_full_device_drops_and_counts() {
    survives(Stderr::DevFull, &[], 20, true);
}

#[test]
fn closed_stderr_is_harmless() {
    // Rust's runtime puts /dev/null on a closed fd 2 before main: lines are written
    // into it, nothing to count; what matters is that the node serves and stops.
    survives(Stderr::Closed, &[], 20, false);
}

#[test]
fn stderr_to_a_broken_pipe_drops_and_counts() {
    survives(Stderr::BrokenPipe, &[], 20, true);
}

#[test]
fn stderr_that_blocks_never_stalls_requests() {
    // 64 queued lines on top of the pipe's own buffer (64 KiB on Linux): a few hundred
    // debug lines fill both, and every line after that is dropped, not waited for.
    survives(Stderr::StuckPipe, &[("SUTRA_LOG_QUEUE", "64")], 300, true);
}

/// Lines of a JSON log that carry `id` in their span chain and come from `target`.
fn lines_with(log: &str, id: &str, target: &str) -> usize {
    log.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"].as_str() == Some(target))
        .filter(|v| {
            v["spans"]
                .as_array()
                .is_some_and(|s| s.iter().any(|s| s["request_id"] == id))
        })
        .count()
}

#[test]
fn request_ids_reach_the_response_and_the_actors_logs() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr.json");
    let node = spawn(
        &dir.path().join("data"),
        Stderr::File(log.clone()),
        &[("SUTRA_LOG", "debug"), ("SUTRA_LOG_FORMAT", "json")],
        false,
    );
    // A client's valid id is kept, returned and stored as the learn's teacher.
    let (s, b, header) = node.post_with_id(
        "/v1/learn",
        "client-learn-1",
        serde_json::json!({
            "content": "The red fox is a kind of canine.",
            "options": {"read_your_writes": true},
        }),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(header.as_deref(), Some("client-learn-1"));
    assert_eq!(b["request_id"], "client-learn-1");
    // Without one (or with an invalid one) the node makes one, the same in the header
    // and the body.
    for sent in [None, Some("has space"), Some("slash/inside")] {
        let (s, b, header) = match sent {
            Some(id) => node.post_with_id(
                "/v1/learn",
                id,
                serde_json::json!({"content": "The grey wolf is a kind of canine."}),
            ),
            None => node.post(
                "/v1/learn",
                serde_json::json!({"content": "The grey wolf is a kind of canine."}),
            ),
        };
        assert_eq!(s, 200, "{b}");
        let header = header.expect("x-request-id on every response");
        assert_eq!(b["request_id"], header.as_str());
        assert!(header.starts_with("node-1-"), "{header}");
    }
    // Every response carries one, errors included.
    let (s, _, header) = node.get("/v1/no-such-endpoint");
    assert_eq!(s, 404);
    assert!(header.is_some());
    let (s, b, header) = node.post_with_id(
        "/v1/reason",
        "client-ask-1",
        serde_json::json!({"query": "Is the red fox a canine?"}),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(header.as_deref(), Some("client-ask-1"));
    // The learner, the coordinator (the sentence and its entities live on several
    // shards: a 2PC) and the query session log under the request's span.
    let want = [
        ("client-learn-1", "sutra::actors::learner"),
        ("client-learn-1", "sutra::actors::coordinator"),
        ("client-learn-1", "sutra::http::observe"),
        ("client-ask-1", "sutra::actors::query"),
        ("client-ask-1", "sutra::http::observe"),
    ];
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let missing: Vec<_> = want
            .iter()
            .filter(|(id, target)| lines_with(&text, id, target) == 0)
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no log line for {missing:?}:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Every line is one JSON object.
    let text = std::fs::read_to_string(&log).unwrap();
    for line in text.lines() {
        assert!(
            serde_json::from_str::<Value>(line).is_ok(),
            "not JSON: {line}"
        );
    }
}

/// `promtool`, installed with apt-get where it is missing and apt is there (CI runs as
/// root); `None` (the test then says why it skips) where it cannot be had.
fn promtool() -> Option<PathBuf> {
    let find = || {
        std::env::var_os("PATH").and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("promtool"))
                .find(|p| p.is_file())
        })
    };
    if let Some(p) = find() {
        return Some(p);
    }
    let apt = Command::new("apt-get").arg("--version").output();
    if apt.is_err() {
        eprintln!("SKIPPED promtool check: promtool is not installed and apt-get is not available (install the Debian package `prometheus`)");
        return None;
    }
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", "prometheus"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success())
    };
    if !install() {
        let _ = Command::new("apt-get").arg("update").status();
        if !install() {
            eprintln!("SKIPPED promtool check: `apt-get install prometheus` failed (not root, or no package source)");
            return None;
        }
    }
    find()
}

/// The value of the sample `series` (name and labels exactly as rendered).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

#[test]
fn metrics_pass_promtool_and_count_what_happened() {
    let dir = tempfile::tempdir().unwrap();
    let node = spawn(
        &dir.path().join("data"),
        Stderr::File(dir.path().join("stderr.log")),
        &[("SUTRA_LOG", "info")],
        true,
    );
    for i in 0..5 {
        let (s, b, _) = node.post(
            "/v1/learn",
            serde_json::json!({"content": format!("Widget {i} is a kind of part.")}),
        );
        assert_eq!(s, 200, "{b}");
    }
    let (s, b, _) = node.post(
        "/v1/learn/batch",
        serde_json::json!({"contents": ["Bolts are parts.", "Nuts are parts."]}),
    );
    assert_eq!(s, 200, "{b}");
    let (s, b, _) = node.post("/v1/search", serde_json::json!({"query": "widget"}));
    assert_eq!(s, 200, "{b}");
    let (s, b, _) = node.post(
        "/v1/reason",
        serde_json::json!({"query": "Is widget 1 a part?"}),
    );
    assert_eq!(s, 200, "{b}");
    let (s, _, _) = node.get("/v1/concepts/not-an-id");
    assert_eq!(s, 400);
    let (s, _, _) = node.get("/nowhere");
    assert_eq!(s, 404);
    // A restart the supervisor counts.
    let (s, b, _) = node.post("/v1/admin/actors/learner/kill", serde_json::json!({}));
    assert_eq!(s, 202, "{b}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        let (s, ct, text) = node.get_text("/metrics");
        assert_eq!(s, 200);
        assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
        if sample(&text, "sutra_actor_restarts_total{actor=\"learner\"}") == Some(1.0) {
            break text;
        }
        assert!(Instant::now() < deadline, "restart never counted:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let count = |series: &str| {
        sample(&text, series).unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
    };
    assert_eq!(
        count(r#"sutra_http_requests_total{method="POST",route="/v1/learn",status="200"}"#),
        5.0
    );
    assert_eq!(
        count(r#"sutra_http_requests_total{method="POST",route="/v1/learn/batch",status="200"}"#),
        1.0
    );
    assert_eq!(
        count(r#"sutra_http_requests_total{method="GET",route="/v1/concepts/{id}",status="400"}"#),
        1.0
    );
    assert_eq!(
        count(r#"sutra_http_requests_total{method="GET",route="unmatched",status="404"}"#),
        1.0
    );
    assert_eq!(
        count(
            r#"sutra_http_request_duration_seconds_count{method="POST",route="/v1/search",status="200"}"#
        ),
        1.0
    );
    assert_eq!(count("sutra_learned_statements_total"), 7.0);
    assert!(count("sutra_queries_completed_total") >= 1.0);
    assert!(count("sutra_transactions_committed_total") >= 1.0);
    let concepts: f64 = (0..4)
        .map(|s| count(&format!("sutra_shard_concepts{{shard=\"{s}\"}}")))
        .sum();
    assert!(concepts >= 7.0, "{concepts}");
    assert!(count("sutra_shard_log_flushes_total{shard=\"0\"}") >= 1.0);
    assert!(count("sutra_shard_snapshot_age_seconds{shard=\"0\"}") >= 0.0);
    assert!(count("sutra_embedder_batch_size_count") >= 1.0);
    assert_eq!(count("sutra_embedder_up"), 1.0);
    assert_eq!(count("sutra_log_lines_dropped_total"), 0.0);
    assert!(count("sutra_log_lines_written_total") >= 1.0);
    assert!(text.contains("# HELP sutra_http_requests_total "));
    let Some(promtool) = promtool() else { return };
    let mut check = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut check.stdin.take().unwrap(), text.as_bytes()).unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn openapi_document_describes_every_route_as_served() {
    let dir = tempfile::tempdir().unwrap();
    let node = spawn(
        &dir.path().join("data"),
        Stderr::File(dir.path().join("stderr.log")),
        &[("SUTRA_LOG", "warn")],
        false,
    );
    let (s, doc, _) = node.get("/openapi.json");
    assert_eq!(s, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let expected = [
        ("/v1/learn", "post"),
        ("/v1/learn/batch", "post"),
        ("/v1/associations", "post"),
        ("/v1/concepts/{id}", "get"),
        ("/v1/concepts/{id}", "delete"),
        ("/v1/sources/{source}", "delete"),
        ("/v1/requests/{request_id}", "delete"),
        ("/v1/evidence", "get"),
        ("/v1/kbs", "get"),
        ("/v1/kbs/{name}", "delete"),
        ("/v1/events", "get"),
        ("/v1/stats", "get"),
        ("/v1/search", "post"),
        ("/v1/embed", "post"),
        ("/v1/reason", "post"),
        ("/v1/path", "post"),
        ("/v1/admin/actors", "get"),
        ("/v1/admin/actors/{name}/kill", "post"),
        ("/v1/cluster", "get"),
        ("/v1/cluster/shards/{shard}/restart", "post"),
        ("/v1/cluster/shards/{shard}/stop", "post"),
        ("/v1/cluster/shards/{shard}/start", "post"),
        ("/health", "get"),
        ("/ready", "get"),
        ("/metrics", "get"),
        ("/openapi.json", "get"),
    ];
    let paths = doc["paths"].as_object().unwrap();
    let listed: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        listed,
        expected.len(),
        "{:?}",
        paths.keys().collect::<Vec<_>>()
    );
    for (path, method) in expected {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is not documented");
        for status in ["400", "404", "503"] {
            let schema = &op["responses"][status]["content"]["application/json"]["schema"];
            assert_eq!(
                schema["properties"]["error"]["$ref"], "#/components/schemas/ErrorDetail",
                "{method} {path} {status}: {schema}"
            );
        }
    }
    // A served response has exactly the documented properties, all required ones.
    let (s, learned, _) = node.post(
        "/v1/learn",
        serde_json::json!({"content": "Owls are birds."}),
    );
    assert_eq!(s, 200, "{learned}");
    let schema = &doc["components"]["schemas"]["LearnOut"];
    let props: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
    let mut served: Vec<&String> = learned.as_object().unwrap().keys().collect();
    served.sort();
    let mut documented = props.clone();
    documented.sort();
    assert_eq!(served, documented);
    for r in schema["required"].as_array().unwrap() {
        assert!(learned.get(r.as_str().unwrap()).is_some(), "{r} missing");
    }
    // So does an error.
    let (s, err, _) = node.post("/v1/learn", serde_json::json!({"content": "  "}));
    assert_eq!(s, 400);
    assert_eq!(err["error"]["code"], "invalid_content");
    assert!(err["error"]["message"].is_string());
    // Integers the document allows as JSON Schema does (5.0 is an integer) are accepted.
    let (s, b, _) = node.post(
        "/v1/reason",
        serde_json::json!({"query": "Are owls birds?", "max_depth": 5.0}),
    );
    assert_eq!(s, 200, "{b}");
    let (s, b, _) = node.post(
        "/v1/reason",
        serde_json::json!({"query": "Are owls birds?", "max_depth": 5.5}),
    );
    assert_eq!(s, 400, "{b}");
}

//! Foundation benchmarks (a bench binary; figures go to BENCHMARKS.md).
//!
//! `cargo bench --bench foundation -- [quick]` runs:
//! 1. durable batch learn, in-process (4 concurrent callers, batches of 500);
//! 2. durable batch learn through HTTP (4 clients, batches of 500), with the group-commit
//!    factor (log records per fdatasync) read from /v1/stats;
//! 3. point reads: from a snapshot in-process, and GET /v1/concepts/{id} over HTTP;
//! 4. 2PC commit latency of a two-shard transaction;
//! 5. restart-to-ready and RSS per concept at 1M concepts (graceful stop, and kill -9).
//!
//! `restart-only` skips 1-4 and the kill -9 run; `SUTRA_BENCH_DIR=DIR` keeps the 1M
//! data set in DIR between runs (built on first use); `SUTRA_NODE_BIN=PATH` times
//! another build of `sutra-node` (an earlier commit's, for before/after figures).
//!
//! A restart is timed from process start to three points: the `http listening` line,
//! the first answer to a question (`POST /v1/reason` about a fact of the set, retried
//! until it answers 200), and `GET /ready` answering 200 (every actor up and, with
//! embedders, the model loaded).
//!
//! Every figure is a median or percentile of repeated measurements on this machine.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use sutra::actors::node::RunningNode;
use sutra::actors::shard::local_core;
use sutra::graph::{ConceptId, ConceptKind, ConceptUpsert, Op, SemanticType, Source};
use sutra::protocol::{LearnOptions, TxnPlan};
use sutra::router::Router;

use common::config;

async fn start_in_process(dir: &Path) -> RunningNode {
    // These figures are without embeddings (benches/embeddings.rs measures those).
    common::start_node(dir, Some(0)).await
}

fn router() -> Router {
    Router::new(config().cluster.shards, Duration::from_secs(30))
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    pct(&v, 0.5)
}

/// Learns `total` statements in batches of `batch` from `callers` concurrent tasks.
async fn learn_in_process(tag: &str, total: usize, batch: usize, callers: usize) -> f64 {
    let r = router();
    let started = Instant::now();
    let per = total / callers;
    let tasks: Vec<_> = (0..callers)
        .map(|c| {
            let r = r.clone();
            let tag = tag.to_string();
            tokio::spawn(async move {
                for b in 0..per / batch {
                    let contents = (0..batch)
                        .map(|i| format!("{tag} caller {c} batch {b} fact {i} is recorded."))
                        .collect();
                    sutra::actors::learner::learn(
                        &r,
                        sutra::graph::DEFAULT_KB,
                        contents,
                        &LearnOptions::default(),
                        sutra::graph::Source {
                            request_id: Some("bench".into()),
                            ..Default::default()
                        },
                    )
                    .await
                    .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    (per / batch * batch * callers) as f64 / started.elapsed().as_secs_f64()
}

fn learn_http(base: &str, tag: &str, total: usize, batch: usize, clients: usize) -> f64 {
    let started = Instant::now();
    let per = total / clients;
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let base = base.to_string();
            let tag = tag.to_string();
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new()
                    .timeout(Duration::from_secs(60))
                    .build();
                for b in 0..per / batch {
                    let contents: Vec<String> = (0..batch)
                        .map(|i| format!("{tag} client {c} batch {b} fact {i} is recorded."))
                        .collect();
                    common::learn_until_admitted(&agent, &base, &contents);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    (per / batch * batch * clients) as f64 / started.elapsed().as_secs_f64()
}

fn stats(base: &str) -> serde_json::Value {
    ureq::get(&format!("{base}/v1/stats"))
        .call()
        .unwrap()
        .into_json()
        .unwrap()
}

fn log_counters(base: &str) -> (u64, u64) {
    let s = stats(base);
    s["shards"]
        .as_array()
        .unwrap()
        .iter()
        .fold((0, 0), |(r, f), sh| {
            (
                r + sh["stats"]["log_records"].as_u64().unwrap(),
                f + sh["stats"]["log_flushes"].as_u64().unwrap(),
            )
        })
}

fn sentence_id(text: &str) -> ConceptId {
    ConceptId::derive(
        ConceptKind::Sentence,
        &sutra::learn::normalize::sentence_key(text),
    )
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

/// The node binary to time: `SUTRA_NODE_BIN`, else this build's.
fn node_bin() -> PathBuf {
    std::env::var_os("SUTRA_NODE_BIN")
        .filter(|b| !b.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_sutra-node")))
}

/// Seconds from `started` until `GET {base}{path}` (or `POST` with `body`) answers 200.
/// Polls every millisecond: the figure is a start-up time, not a latency.
fn secs_until_ok(
    started: Instant,
    base: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> f64 {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let url = format!("{base}{path}");
        let r = match body {
            Some(b) => agent.post(&url).send_json(b.clone()),
            None => agent.get(&url).call(),
        };
        if r.is_ok() {
            return started.elapsed().as_secs_f64();
        }
        assert!(Instant::now() < deadline, "{path} never answered 200");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Starts the node binary with `embedders` replicas; returns (child, base url, seconds
/// to the listening line, the start instant).
fn spawn_node_at(dir: &Path, embedders: usize) -> (std::process::Child, String, f64, Instant) {
    let started = Instant::now();
    let mut child = Command::new(node_bin())
        .arg("--config")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("cluster.toml"))
        .args(["--http", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .args(["--embedders", &embedders.to_string()])
        .env("SUTRA_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    // "cluster listening on ..." comes first when the peer port is free.
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("http listening on ") {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "the node stopped before listening"
        );
    }
    let secs = started.elapsed().as_secs_f64();
    let base = line
        .trim()
        .strip_prefix("http listening on ")
        .unwrap_or_else(|| panic!("the node printed {line:?} instead of its address"))
        .to_string();
    (child, base, secs, started)
}

/// [`spawn_node_at`] without the start instant.
fn spawn_node(dir: &Path, embedders: usize) -> (std::process::Child, String, f64) {
    let (child, base, secs, _) = spawn_node_at(dir, embedders);
    (child, base, secs)
}

fn sigterm(child: &mut std::process::Child) {
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
}

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    let scale = if quick { 10 } else { 1 };
    println!(
        "# sutra foundation benchmarks ({} mode)",
        if quick { "quick" } else { "full" }
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();

    let restart_only = std::env::args().any(|a| a == "restart-only");
    // 1-4 on one in-process node.
    let dir1 = tmp.path().join("bench1");
    if !restart_only {
        rt.block_on(async {
        let running = start_in_process(&dir1).await;
        let base = format!("http://{}", running.http_addr);

        let mut runs = Vec::new();
        for i in 0..3 {
            runs.push(learn_in_process(&format!("inproc{i}"), 200_000 / scale, 500, 4).await);
        }
        println!("learn_batch_in_process: median {:.0} concepts/s over {} runs of {} (4 callers, batches of 500; runs {:?})", median(runs.clone()), runs.len(), 200_000 / scale, runs.iter().map(|r| r.round()).collect::<Vec<_>>());

        let (r0, f0) = log_counters(&base);
        let mut runs = Vec::new();
        for i in 0..3 {
            let b = base.clone();
            runs.push(tokio::task::spawn_blocking(move || learn_http(&b, &format!("http{i}"), 200_000 / scale, 500, 4)).await.unwrap());
        }
        let (r1, f1) = log_counters(&base);
        println!("learn_batch_http: median {:.0} concepts/s over {} runs of {} (4 clients, batches of 500; runs {:?})", median(runs.clone()), runs.len(), 200_000 / scale, runs.iter().map(|r| r.round()).collect::<Vec<_>>());
        println!("group_commit: {} log records in {} fdatasyncs during the HTTP runs = {:.2} records per flush", r1 - r0, f1 - f0, (r1 - r0) as f64 / (f1 - f0).max(1) as f64);

        // Single-statement learns from 16 concurrent clients: acknowledged writes per flush.
        let (r0, f0) = log_counters(&base);
        let b = base.clone();
        let single = tokio::task::spawn_blocking(move || learn_http(&b, "single", 16_000 / scale, 1, 16)).await.unwrap();
        let (r1, f1) = log_counters(&base);
        println!("learn_single_http_16_clients: {:.0} statements/s; {:.2} log records per fdatasync", single, (r1 - r0) as f64 / (f1 - f0).max(1) as f64);

        // Point reads.
        for s in 0..4 {
            local_core(s).unwrap().fold();
        }
        let ids: Vec<ConceptId> = (0..10_000).map(|i| sentence_id(&format!("inproc0 caller {} batch {} fact {} is recorded.", i % 4, (i / 4) % 10, i % 500))).collect();
        let cores: Vec<_> = (0..4).map(|s| local_core(s).unwrap()).collect();
        let mut lat = Vec::with_capacity(ids.len());
        let mut found = 0;
        for _ in 0..5 {
            for id in &ids {
                let t = Instant::now();
                let snap = cores[id.shard(4) as usize].snapshot();
                found += snap.concept(*id).is_some() as usize;
                lat.push(t.elapsed().as_nanos() as f64 / 1000.0);
            }
        }
        lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!("point_read_in_process: p50 {:.2} us, p99 {:.2} us over {} reads ({} found)", pct(&lat, 0.5), pct(&lat, 0.99), lat.len(), found);
        let b = base.clone();
        let ids2 = ids.clone();
        let lat = tokio::task::spawn_blocking(move || {
            let agent = ureq::AgentBuilder::new().build();
            let mut lat = Vec::new();
            for id in ids2.iter().take(5000) {
                let t = Instant::now();
                let r = agent.get(&format!("{b}/v1/concepts/{id}")).call().unwrap();
                assert_eq!(r.status(), 200);
                let _ = r.into_string();
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
            lat
        }).await.unwrap();
        println!("get_concept_http: p50 {:.3} ms, p99 {:.3} ms over {} requests (keep-alive, 1 client)", pct(&lat, 0.5), pct(&lat, 0.99), lat.len());

        // 2PC of a two-shard transaction (one concept on each of two shards).
        let r = router();
        let mut lat = Vec::new();
        let mut i = 0u64;
        while lat.len() < 2000 / scale {
            i += 1;
            let mut plan = TxnPlan::default();
            for k in 0..2 {
                let text = format!("2pc probe {i} part {k}");
                plan.push(4, Op::PutConcept(ConceptUpsert {
                    id: sentence_id(&text), content: text, kind: ConceptKind::Sentence,
                    semantic_type: SemanticType::Unclassified, strength: 1.0, confidence: 0.9,
                    at_ms: 0, source: Source::default(),
                    vector: None,
                }));
            }
            if plan.parts.len() != 2 { continue; }
            let t = Instant::now();
            r.commit(plan).await.unwrap();
            lat.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!("2pc_commit_two_shards: p50 {:.3} ms, p99 {:.3} ms over {} sequential transactions", pct(&lat, 0.5), pct(&lat, 0.99), lat.len());
        running.shutdown().await;
    });
    }

    // 5. 1M concepts: build in-process, stop gracefully, then time restarts of the binary.
    let n = 1_000_000 / scale;
    let dir2 = tmp.path().join("bench2");
    let empty_dir = tmp.path().join("empty");
    // SUTRA_BENCH_DIR keeps the (slow to build) 1M data set between runs.
    let dir2 = std::env::var_os("SUTRA_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or(dir2);
    if !dir2.join("shard-0").exists() {
        // Each fact is a sentence concept plus the entity it is about (and all of them
        // share the property "recorded", a hub with n/2 incoming associations).
        let build_rate = rt.block_on(async {
            let running = start_in_process(&dir2).await;
            let rate = learn_in_process("million", n / 2, 5000, 4).await;
            running.shutdown().await;
            rate
        });
        println!(
            "build_{n}: {} facts at {build_rate:.0} facts/s in-process (batches of 5000, extraction on)",
            n / 2
        );
    }
    // Storage recovery alone (no embedding model to load), then the default node.
    for embedders in [0, 2] {
        let (mut empty, _, _) = spawn_node(&empty_dir, embedders);
        std::thread::sleep(Duration::from_millis(300));
        let empty_rss = rss_kib(empty.id());
        sigterm(&mut empty);
        let mut ready = Vec::new();
        let mut answered = Vec::new();
        let mut all_up = Vec::new();
        let mut rss = 0;
        // A question about a fact of the set (the first caller's first fact).
        let question =
            serde_json::json!({ "query": "Is million caller 0 batch 0 fact 1 recorded?" });
        for _ in 0..3 {
            let (mut child, base, secs, started) = spawn_node_at(&dir2, embedders);
            ready.push(secs);
            answered.push(secs_until_ok(started, &base, "/v1/reason", Some(&question)));
            all_up.push(secs_until_ok(started, &base, "/ready", None));
            let s = stats(&base);
            // Data sets built before extraction hold n sentences; newer ones n/2 facts
            // with their entities (plus the shared property).
            let concepts = s["concepts"].as_u64().unwrap() as usize;
            // learn_in_process learns whole batches per caller: at 1/10 scale that is
            // 40,000 of the 50,000 facts.
            let facts = n / 2 / 4 / 5000 * 5000 * 4;
            assert!((2 * facts..=n + 1).contains(&concepts), "{s}");
            rss = rss_kib(child.id());
            sigterm(&mut child);
        }
        println!(
            "restart_to_ready_{n}_after_graceful_stop ({embedders} embedder replicas): median {:.3} s over {} runs ({:?})",
            median(ready.clone()),
            ready.len(),
            ready
        );
        println!(
            "restart_to_first_answer_{n} ({embedders} embedder replicas, POST /v1/reason): median {:.3} s ({:?}); to GET /ready 200: median {:.3} s ({:?})",
            median(answered.clone()),
            answered,
            median(all_up.clone()),
            all_up
        );
        println!(
            "rss_{n} ({embedders} embedder replicas): {} MiB (empty node {} MiB) = {:.0} bytes per concept",
            rss / 1024,
            empty_rss / 1024,
            (rss - empty_rss) as f64 * 1024.0 / n as f64
        );
    }

    if restart_only {
        return;
    }
    // kill -9 with up to checkpoint_every_records of log to replay.
    let (mut child, base, _) = spawn_node(&dir2, 0);
    learn_http(&base, "tail", 100_000 / scale, 500, 4);
    child.kill().unwrap();
    child.wait().unwrap();
    let (mut child, base, secs) = spawn_node(&dir2, 0);
    let s = stats(&base);
    let replayed: u64 = s["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            x["stats"]["snapshot_lsn"].as_u64().unwrap()
                - x["stats"]["checkpoint_lsn"].as_u64().unwrap()
        })
        .sum();
    println!(
        "restart_to_ready_after_kill9: {:.3} s with {} concepts, {} log records replayed",
        secs, s["concepts"], replayed
    );
    sigterm(&mut child);
}

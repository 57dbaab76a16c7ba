//! Logic module benchmarks: proof search p50/p99 for proofs of depth 1..10 in a
//! knowledge base of 10K stated facts and 1K rules, in-process and through HTTP (one
//! in-process node, its own temp dir, no embedders: "Is it true that ...?" questions only
//! the logic layer reads resolve no mentions), learn throughput with rule and relation
//! extraction (in-process and over HTTP), and the time to score each public set.
//!
//! Then a large knowledge base over HTTP (`-- large N`, default 200,000 sentences): the
//! first question (the program built from every sentence), then questions each right
//! after one more learn (the program learns only what changed), and the node's memory.
//!
//! Run: `cargo bench --bench logic` (`-- in-process` skips the HTTP part)

mod common;
#[path = "../tests/logic_eval/mod.rs"]
mod logic_eval;

use serde_json::json;
use std::time::{Duration, Instant};
use sutra::logic::{AskOptions, Kb, Verdict};

const CHAINS: usize = 100;
const DEPTH: usize = 10;
const ENTITIES: usize = 5_000;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    // 1K rules: 100 chains of 10 ("If something is c7s3 then it is c7s4."); 10K facts:
    // each entity starts one chain and likes another entity.
    let mut sentences = Vec::new();
    for c in 0..CHAINS {
        for k in 0..DEPTH {
            sentences.push(format!(
                "If something is c{c}s{k} then it is c{c}s{}.",
                k + 1
            ));
        }
    }
    for i in 0..ENTITIES {
        sentences.push(format!("Ent{i} is c{}s0.", i % CHAINS));
        sentences.push(format!("Ent{i} likes ent{}.", (i * 7 + 1) % ENTITIES));
    }
    let mut kb = Kb::new();
    let t = Instant::now();
    for (i, s) in sentences.iter().enumerate() {
        kb.learn(s, i as u64 + 1, i as u64 + 1).expect("learn");
    }
    let learn = t.elapsed();
    let t = Instant::now();
    assert!(kb.saturate(u64::MAX));
    let saturate = t.elapsed();
    let stats = kb.stats();
    println!(
        "program: {} sentences learned in {:.0} ms ({:.0} sentences/s); saturation to {} facts, {} rules in {:.0} ms",
        sentences.len(),
        learn.as_secs_f64() * 1e3,
        sentences.len() as f64 / learn.as_secs_f64(),
        stats.facts,
        stats.rules,
        saturate.as_secs_f64() * 1e3
    );
    let options = AskOptions::default();
    for depth in 1..=DEPTH {
        let mut times = Vec::new();
        for q in 0..1_000 {
            let i = (q * 37) % ENTITIES;
            let question = format!("Is it true that Ent{i} is c{}s{depth}?", i % CHAINS);
            let t = Instant::now();
            let reply = kb.ask(&question, &options).expect("handled");
            times.push(t.elapsed().as_secs_f64() * 1e3);
            assert_eq!(reply.verdict, Verdict::Yes, "{question}");
            assert_eq!(reply.proofs[0].steps.len(), depth + 1);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "depth {depth:>2}: p50 {:.3} ms, p99 {:.3} ms (1,000 questions)",
            percentile(&times, 0.5),
            percentile(&times, 0.99)
        );
    }
    if !std::env::args().any(|a| a == "in-process") {
        over_http(&sentences);
    }
    for &(task, file) in logic_eval::BABI {
        let t = Instant::now();
        let s = logic_eval::score_babi(task, file);
        println!("{} in {:.0} ms", s.line(), t.elapsed().as_secs_f64() * 1e3);
    }
    let t = Instant::now();
    let s = logic_eval::score_prontoqa();
    println!("{} in {:.0} ms", s.line(), t.elapsed().as_secs_f64() * 1e3);
    let t = Instant::now();
    let s = logic_eval::score_proofwriter();
    println!("{} in {:.0} ms", s.line(), t.elapsed().as_secs_f64() * 1e3);
}

/// The same program and questions through a node's HTTP API, in knowledge base `bench`.
fn over_http(sentences: &[String]) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let running = rt.block_on(common::start_node(dir.path(), Some(0)));
    let base = format!("http://{}", running.http_addr);
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(60))
        .build();
    let t = Instant::now();
    for chunk in sentences.chunks(500) {
        let r = agent
            .post(&format!("{base}/v1/learn/batch?kb=bench"))
            .send_json(json!({ "contents": chunk }))
            .expect("learn");
        assert_eq!(r.status(), 200);
    }
    let learn = t.elapsed();
    println!(
        "HTTP: {} sentences learned in batches of 500 in {:.0} ms ({:.0} sentences/s, durable, with extraction)",
        sentences.len(),
        learn.as_secs_f64() * 1e3,
        sentences.len() as f64 / learn.as_secs_f64()
    );
    let ask = |question: &str| -> serde_json::Value {
        agent
            .post(&format!("{base}/v1/reason?kb=bench"))
            .send_json(json!({ "query": question }))
            .expect("reason")
            .into_json()
            .unwrap()
    };
    let t = Instant::now();
    let first = ask("Is it true that Ent0 is c0s1?");
    println!(
        "HTTP: first question (program built from {} occurrences, saturated) {:.0} ms: {}",
        sentences.len(),
        t.elapsed().as_secs_f64() * 1e3,
        first["verdict"]
    );
    for depth in 1..=DEPTH {
        let mut times = Vec::new();
        for q in 0..200 {
            let i = (q * 37) % ENTITIES;
            let question = format!("Is it true that Ent{i} is c{}s{depth}?", i % CHAINS);
            let t = Instant::now();
            let a = ask(&question);
            times.push(t.elapsed().as_secs_f64() * 1e3);
            assert_eq!(a["verdict"], "yes", "{question}: {a}");
            assert_eq!(
                a["proof"]["steps"].as_array().map(Vec::len),
                Some(depth + 1),
                "{question}: {a}"
            );
        }
        times.sort_by(f64::total_cmp);
        println!(
            "HTTP depth {depth:>2}: p50 {:.3} ms, p99 {:.3} ms (200 questions, POST /v1/reason, wall time at the client)",
            percentile(&times, 0.5),
            percentile(&times, 0.99)
        );
    }
    large_kb(&agent, &base);
    rt.block_on(running.shutdown());
}

/// Resident memory of this process (the node runs in it), in MiB.
fn rss_mib() -> f64 {
    common::rss_kib().map_or(0.0, |kib| kib / 1024.0)
}

/// A knowledge base far past the old 20,000-sentence limit of the logic layer.
fn large_kb(agent: &ureq::Agent, base: &str) {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args
        .iter()
        .position(|a| a == "large")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(200_000);
    let rules = 1_000;
    let mut sentences: Vec<String> = (0..rules)
        .map(|k| format!("If something is big{k} then it is huge{k}."))
        .collect();
    sentences.extend((0..n - rules).map(|i| format!("Thing{i} is big{}.", i % rules)));
    let t = Instant::now();
    for chunk in sentences.chunks(500) {
        let r = agent
            .post(&format!("{base}/v1/learn/batch?kb=large"))
            .send_json(json!({ "contents": chunk }))
            .expect("learn");
        assert_eq!(r.status(), 200);
    }
    println!(
        "large: {n} sentences learned in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let ask = |question: &str| -> serde_json::Value {
        agent
            .post(&format!("{base}/v1/reason?kb=large"))
            .send_json(json!({ "query": question }))
            .expect("reason")
            .into_json()
            .unwrap()
    };
    let before = rss_mib();
    let t = Instant::now();
    let first = ask("Is it true that Thing7 is huge7?");
    assert_eq!(first["verdict"], "yes", "{first}");
    println!(
        "large: first question (program built from {n} occurrences, saturated) {:.0} ms; resident memory {before:.0} -> {:.0} MiB",
        t.elapsed().as_secs_f64() * 1e3,
        rss_mib()
    );
    let (mut learn_ms, mut ask_ms) = (Vec::new(), Vec::new());
    for q in 0..50 {
        let t = Instant::now();
        let r = agent
            .post(&format!("{base}/v1/learn?kb=large"))
            .send_json(json!({ "content": format!("Newcomer{q} is big{q}.") }))
            .expect("learn");
        assert_eq!(r.status(), 200);
        learn_ms.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let a = ask(&format!("Is it true that Newcomer{q} is huge{q}?"));
        ask_ms.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(a["verdict"], "yes", "{a}");
    }
    ask_ms.sort_by(f64::total_cmp);
    learn_ms.sort_by(f64::total_cmp);
    println!(
        "large: a question right after one more learn: p50 {:.2} ms, p99 {:.2} ms (the learn itself p50 {:.2} ms; 50 pairs)",
        percentile(&ask_ms, 0.5),
        percentile(&ask_ms, 0.99),
        percentile(&learn_ms, 0.5)
    );
}

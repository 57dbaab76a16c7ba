//! Reasoning benchmarks (a bench binary; figures go to BENCHMARKS.md).
//!
//! `cargo bench --bench reasoning -- [quick]`:
//! 1. learn with extraction (no embeddings), durable, through HTTP: 4 clients, batches
//!    of 500 sentences;
//! 2. reason latency p50/p99 for 1- to 6-hop is-a questions at ~10K and ~100K concepts,
//!    in-process (the query actor's work: snapshot view + reasoning) and end to end
//!    through `POST /v1/reason` (there is no query embedding yet);
//! 3. at ~100K concepts, 8-, 16- and 32-hop questions over 150 extra chains of 32 hops
//!    (certain edges: learned with `confidence` 1 and the explicit "a kind of" wording),
//!    at the default `max_depth`.

use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};
use sutra::actors::node::{self, reason_config, NodeOptions};
use sutra::actors::shard::local_core;
use sutra::config::ClusterConfig;
use sutra::reason::{reason, GraphView, Verdict};

const SYLLABLES: [&str; 16] = [
    "ka", "lo", "mi", "ra", "ve", "tu", "zor", "bel", "qui", "nax", "dre", "fil", "gon", "sha",
    "pim", "wex",
];

/// A distinct invented word for `n`.
fn word(mut n: usize) -> String {
    let mut w = String::new();
    loop {
        w.push_str(SYLLABLES[n % 16]);
        n /= 16;
        if n == 0 {
            break;
        }
    }
    w.push_str("ith");
    w
}

/// Chains of 7 concepts (6 is-a hops) named after chain `c`, level `l`.
fn name(c: usize, l: usize) -> String {
    format!("{} {}", word(c), word(1000 + l))
}

fn chain_sentences(chains: usize) -> Vec<String> {
    let mut out = Vec::new();
    for c in 0..chains {
        for l in 0..6 {
            out.push(format!("A {} is a kind of {}.", name(c, l), name(c, l + 1)));
        }
    }
    out
}

/// Long chains: 33 concepts (32 is-a hops) named after chain `c`, level `l`.
fn deep_name(c: usize, l: usize) -> String {
    format!("{} deep {}", word(5000 + c), word(2000 + l))
}

fn learn_http(base: &str, sentences: &[String], clients: usize) -> f64 {
    let started = Instant::now();
    let chunks: Vec<Vec<String>> = sentences.chunks(500).map(|c| c.to_vec()).collect();
    let per = chunks.len().div_ceil(clients);
    let threads: Vec<_> = chunks
        .chunks(per)
        .map(|mine| {
            let (base, mine) = (base.to_string(), mine.to_vec());
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new()
                    .timeout(Duration::from_secs(120))
                    .build();
                for batch in mine {
                    let r = agent
                        .post(&format!("{base}/v1/learn/batch"))
                        .send_json(json!({ "contents": batch }))
                        .unwrap();
                    assert_eq!(r.status(), 200);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    sentences.len() as f64 / started.elapsed().as_secs_f64()
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let config =
        ClusterConfig::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("cluster.toml")).unwrap();
    let cfg = reason_config(&config.reasoning, config.embedding.resolve_similarity);
    println!(
        "# sutra reasoning benchmarks ({} mode)",
        if quick { "quick" } else { "full" }
    );
    // ~3 concepts per sentence (sentence + 2 entities, shared along a chain):
    // a chain of 6 sentences adds 6 sentence concepts + 7 entities = 13 concepts.
    let targets: &[usize] = if quick { &[10_000] } else { &[10_000, 100_000] };
    let tmp = tempfile::tempdir().unwrap();
    let mut node_opts = config.node(None).unwrap().clone();
    node_opts.http_addr = "127.0.0.1:0".parse().unwrap();
    node_opts.data_dir = tmp.path().join("data");
    // Reasoning figures without embeddings (benches/embeddings.rs measures those).
    node_opts.embedder_replicas = 0;
    rt.block_on(async {
        let running = node::start(NodeOptions { config: config.clone(), node: node_opts, fault_injection: false })
            .await
            .unwrap();
        let base = format!("http://{}", running.http_addr);
        let mut learned_chains = 0;
        for &target in targets {
            let chains = target / 13;
            let fresh: Vec<String> = chain_sentences(chains).split_off(learned_chains * 6);
            let b = base.clone();
            let n = fresh.len();
            let rate = tokio::task::spawn_blocking(move || learn_http(&b, &fresh, 4)).await.unwrap();
            learned_chains = chains;
            println!("learn_with_extraction_http: {rate:.0} sentences/s durable ({n} sentences, 4 clients, batches of 500)");
            for s in 0..config.cluster.shards {
                local_core(s).unwrap().fold();
            }
            let stats: serde_json::Value = ureq::get(&format!("{base}/v1/stats")).call().unwrap().into_json().unwrap();
            let concepts = stats["concepts"].as_u64().unwrap();
            for hops in 1..=6 {
                let questions: Vec<String> = (0..200)
                    .map(|i| {
                        let c = (i * 7919) % chains;
                        format!("Is a {} a kind of {}?", name(c, 0), name(c, hops))
                    })
                    .collect();
                let mut inproc = Vec::new();
                for q in &questions {
                    let t = Instant::now();
                    let view = GraphView::new((0..config.cluster.shards).map(|s| local_core(s).unwrap().snapshot()).collect());
                    let a = reason(&view, &cfg, q);
                    inproc.push(t.elapsed().as_secs_f64() * 1000.0);
                    assert_eq!(a.verdict, Verdict::Yes, "{q}: {}", a.answer);
                }
                let b = base.clone();
                let qs = questions.clone();
                let mut http = tokio::task::spawn_blocking(move || {
                    let agent = ureq::AgentBuilder::new().build();
                    qs.iter()
                        .map(|q| {
                            let t = Instant::now();
                            let r = agent.post(&format!("{b}/v1/reason")).send_json(json!({ "query": q })).unwrap();
                            let _ = r.into_string();
                            t.elapsed().as_secs_f64() * 1000.0
                        })
                        .collect::<Vec<_>>()
                })
                .await
                .unwrap();
                println!(
                    "reason_{hops}_hops at {concepts} concepts: in-process p50 {:.3} ms p99 {:.3} ms; HTTP p50 {:.3} ms p99 {:.3} ms ({} questions)",
                    pct(&mut inproc, 0.5),
                    pct(&mut inproc, 0.99),
                    pct(&mut http, 0.5),
                    pct(&mut http, 0.99),
                    questions.len()
                );
            }
            // Names no entity has: the reasoner tries exact keys, then word stems, and
            // (without embedders here) gives up with "unknown".
            let mut unknown = Vec::new();
            for i in 0..50 {
                let q = format!("Is a zorblaxian quimp{i} a kind of {}?", name((i * 7919) % chains, 1));
                let t = Instant::now();
                let view = GraphView::new((0..config.cluster.shards).map(|s| local_core(s).unwrap().snapshot()).collect());
                let a = reason(&view, &cfg, &q);
                unknown.push(t.elapsed().as_secs_f64() * 1000.0);
                assert_eq!(a.verdict, Verdict::Unknown, "{q}: {}", a.answer);
            }
            println!(
                "reason_unknown_name at {concepts} concepts: in-process p50 {:.3} ms p99 {:.3} ms ({} questions)",
                pct(&mut unknown, 0.5),
                pct(&mut unknown, 0.99),
                unknown.len()
            );
        }
        if !quick {
            // Deep chains: a transitive chain is as strong as its weakest link with 0.99
            // per hop, so 32 hops of learned "a kind of" facts answer yes.
            const DEEP: usize = 150;
            let sentences: Vec<String> = (0..DEEP)
                .flat_map(|c| (0..32).map(move |l| format!("A {} is a kind of {}.", deep_name(c, l), deep_name(c, l + 1))))
                .collect();
            let b = base.clone();
            tokio::task::spawn_blocking(move || {
                let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(120)).build();
                for batch in sentences.chunks(500) {
                    let r = agent
                        .post(&format!("{b}/v1/learn/batch"))
                        .send_json(json!({ "contents": batch, "options": { "confidence": 1.0 } }))
                        .unwrap();
                    assert_eq!(r.status(), 200);
                }
            })
            .await
            .unwrap();
            for s in 0..config.cluster.shards {
                local_core(s).unwrap().fold();
            }
            let stats: serde_json::Value = ureq::get(&format!("{base}/v1/stats")).call().unwrap().into_json().unwrap();
            let concepts = stats["concepts"].as_u64().unwrap();
            for hops in [8, 16, 32] {
                let mut inproc = Vec::new();
                let mut yes = 0;
                for c in 0..DEEP {
                    let q = format!("Is a {} a kind of {}?", deep_name(c, 0), deep_name(c, hops));
                    let t = Instant::now();
                    let view = GraphView::new((0..config.cluster.shards).map(|s| local_core(s).unwrap().snapshot()).collect());
                    let a = reason(&view, &cfg, &q);
                    inproc.push(t.elapsed().as_secs_f64() * 1000.0);
                    // The chain is found at any depth (its path is the answer's evidence).
                    assert_eq!(a.paths.first().map(|p| p.edges.len()), Some(hops), "{q}: {}", a.answer);
                    yes += usize::from(a.verdict == Verdict::Yes);
                }
                println!(
                    "reason_{hops}_hops at {concepts} concepts: in-process p50 {:.3} ms p99 {:.3} ms ({} questions, chain found in all, verdict yes in {yes})",
                    pct(&mut inproc, 0.5),
                    pct(&mut inproc, 0.99),
                    DEEP
                );
            }
        }
        running.shutdown().await;
    });
}

//! Logic module benchmarks (in-process): proof search p50/p99 for proofs of depth 1..10
//! in a knowledge base of 10K stated facts and 1K rules, learn throughput with rule and
//! relation extraction, and the time to score each public set.
//!
//! Run: `cargo bench --bench logic`

#[path = "../tests/logic_eval/mod.rs"]
mod logic_eval;

use std::time::Instant;
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

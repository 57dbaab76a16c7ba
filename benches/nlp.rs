//! English analysis benchmark (a bench binary; figures go to BENCHMARKS.md).
//!
//! `cargo bench --bench nlp -- [quick]`: on one thread, over the sentences of
//! tests/data/nlp/wordnet-sentences.txt (3,029 definitions and examples, 12.8 tokens on
//! average), the time per sentence of
//! 1. tagging + tag-only chunking (`Nlp::tag` + `chunk::chunks`),
//! 2. the full analysis (`Nlp::analyze`: tags, parse, POS, noun chunks, lemmas),
//! 3. extraction (`learn::extract::extract`, which runs the analysis where it needs it),
//!
//! each sentence timed alone, median / p90 / p99 over all sentences (best of 3 passes per
//! sentence, warm tokenizer cache), plus the model's load time, the tokenizer on a cold
//! cache (each sentence once, in order, on a freshly loaded model), and
//! 4. the matrix kernel alone on the CNN layer's shape (20 rows x 288 -> 288, random
//!    weights), as multiply-adds per second: what the arithmetic costs on this CPU.

use std::time::Instant;
use sutra::learn::extract::extract;
use sutra::nlp::matmul::Packed;
use sutra::nlp::{chunk, default_dir, Nlp};

fn percentiles(mut v: Vec<f64>) -> (f64, f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    (at(0.5), at(0.9), at(0.99), mean)
}

fn time_each(sentences: &[String], passes: usize, mut f: impl FnMut(&str)) -> Vec<f64> {
    sentences
        .iter()
        .map(|s| {
            (0..passes)
                .map(|_| {
                    let t = Instant::now();
                    f(s);
                    t.elapsed().as_secs_f64() * 1e3
                })
                .fold(f64::INFINITY, f64::min)
        })
        .collect()
}

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    let dir = default_dir();
    let t = Instant::now();
    let nlp = Nlp::load(&dir).unwrap_or_else(|e| panic!("{e}"));
    println!(
        "load: {:.0} ms from {}",
        t.elapsed().as_secs_f64() * 1e3,
        dir.display()
    );
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/nlp/wordnet-sentences.txt"
    );
    let mut sentences: Vec<String> = std::fs::read_to_string(path)
        .expect("tests/data/nlp/wordnet-sentences.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    if quick {
        sentences.truncate(300);
    }
    // The tokenizer's first sight of each word: a freshly loaded model (empty chunk
    // cache), each sentence once, in order (later sentences reuse earlier words, as a
    // stream of new documents would). Every row below runs on a warm cache.
    let fresh = Nlp::load(&dir).unwrap_or_else(|e| panic!("{e}"));
    let cold = time_each(&sentences, 1, |s| {
        std::hint::black_box(fresh.tokenizer().tokenize(s));
    });
    drop(fresh);
    let tokens: usize = sentences
        .iter()
        .map(|s| nlp.tokenizer().tokenize(s).len())
        .sum();
    println!(
        "{} sentences, {:.1} tokens each on average, one thread",
        sentences.len(),
        tokens as f64 / sentences.len() as f64
    );
    // Warm up (and load the process-wide model extraction uses).
    for s in sentences.iter().take(50) {
        std::hint::black_box(nlp.analyze(s));
        std::hint::black_box(extract(s));
    }
    let passes = if quick { 1 } else { 3 };
    let rows: [(&str, Vec<f64>); 3] = [
        (
            "tag + tag-only chunks",
            time_each(&sentences, passes, |s| {
                let toks = nlp.tag(s);
                std::hint::black_box(chunk::chunks(&toks));
            }),
        ),
        (
            "full analysis (tags, parse, POS, noun chunks, lemmas)",
            time_each(&sentences, passes, |s| {
                std::hint::black_box(nlp.analyze(s));
            }),
        ),
        (
            "extract() (wordings + parse where needed)",
            time_each(&sentences, passes, |s| {
                std::hint::black_box(extract(s));
            }),
        ),
    ];
    let (p50, p90, p99, mean) = percentiles(cold);
    println!("tokenizer, cold cache (each sentence once, fresh model): median {p50:.3} ms, p90 {p90:.3} ms, p99 {p99:.3} ms, mean {mean:.3} ms per sentence");
    for (name, v) in rows {
        let (p50, p90, p99, mean) = percentiles(v);
        println!("{name}: median {p50:.3} ms, p90 {p90:.3} ms, p99 {p99:.3} ms, mean {mean:.3} ms per sentence");
    }
    kernel_rate();
}

/// The kernel alone: one CNN layer's product for a 12-token sentence (20 rows of 288
/// inputs, 288 outputs), repeated; the median of 200 timings of 50 products each.
fn kernel_rate() {
    let (rows, n_in, n_out) = (20, 288, 288);
    let val = |i: usize| ((i * 7919 % 1000) as f32 - 500.0) * 0.001;
    let w: Vec<f32> = (0..n_out * n_in).map(val).collect();
    let b: Vec<f32> = (0..n_out).map(|i| val(i + 1)).collect();
    let x: Vec<f32> = (0..rows * n_in).map(|i| val(i + 2)).collect();
    let m = Packed::from_out_major(&w, &b, n_out, n_in);
    let mut y = vec![0f32; rows * n_out];
    let reps = 50;
    let times: Vec<f64> = (0..200)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..reps {
                m.forward(std::hint::black_box(&x), rows, n_in, &mut y);
                std::hint::black_box(&y);
            }
            t.elapsed().as_secs_f64() / reps as f64
        })
        .collect();
    let (p50, ..) = percentiles(times);
    let macs = (rows * n_in * n_out) as f64;
    println!(
        "kernel {rows}x{n_in}->{n_out}: median {:.1} us per product, {:.1} G multiply-adds/s",
        p50 * 1e6,
        macs / p50 / 1e9
    );
}

//! Sutra side by side with SQLite, in one run (issue 14, "side by side in the repo").
//!
//! `cargo bench --bench vs_sqlite -- [quick]`:
//! 1. the same synthetic is-a facts ("A concept 17 is a kind of concept 4.") ingested
//!    - into SQLite in-process as parsed triples (WAL, `synchronous=FULL`, one transaction
//!      per batch of 500: upsert both concepts by name, insert the edge), and
//!    - into Sutra as English through `POST /v1/learn/batch` (batches of 500, one client,
//!      each batch acknowledged — durable — before the next; no embeddings),
//!      and the ratio Sutra / SQLite;
//! 2. Sutra with 4 HTTP clients (batches of 500) on fresh facts;
//! 3. multi-hop questions on both: "Is a concept N a kind of concept A?" where A is N's
//!    ancestor `hops` levels up — Sutra in-process (snapshot view + reasoning, what a
//!    query session does) and SQLite's recursive CTE over the edge table.
//!
//! With `realistic` (`cargo bench --bench vs_sqlite -- realistic`), also:
//! 4. real definitional sentences (tests/data/nlp/wordnet-sentences.txt, each three
//!    times), one client, batches of 500: the learn path of prose rather than is-a
//!    patterns (for profiles; SQLite has no counterpart).
//!
//! Both stores live in their own temp dirs on the same file system. Figures are medians
//! of this run; quote them with the ratio, never across runs.

mod common;

use rusqlite::{params, Connection};
use std::path::Path;
use std::time::{Duration, Instant};
use sutra::actors::node::{reason_config, RunningNode};
use sutra::actors::shard::local_core;
use sutra::reason::{reason, GraphView, Verdict};

const BATCH: usize = 500;

use common::config;

async fn start_node(dir: &Path) -> RunningNode {
    // Learning from English is compared with parsed triples: no embeddings on either side.
    common::start_node(dir, Some(0)).await
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v
}

/// The parent of concept `i` (> 0): a deterministic pseudo-random earlier concept, so the
/// facts form a random recursive tree (depth ~ ln n) like a real taxonomy's long tail.
fn parent(i: usize) -> usize {
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 29;
    (x % i as u64) as usize
}

fn sentence(i: usize) -> String {
    format!("A concept {i} is a kind of concept {}.", parent(i))
}

/// SQLite: WAL, synchronous=FULL, parsed triples, one transaction per batch.
fn sqlite_ingest(conn: &mut Connection, n: usize) -> (f64, Vec<f64>) {
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
         CREATE TABLE concept(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
         CREATE TABLE edge(src INTEGER NOT NULL, kind TEXT NOT NULL, dst INTEGER NOT NULL,
                           PRIMARY KEY (src, kind, dst)) WITHOUT ROWID;",
    )
    .unwrap();
    // Parsing happens before the clock starts: SQLite is given triples, not English.
    let triples: Vec<(String, String)> = (1..=n)
        .map(|i| (format!("concept {i}"), format!("concept {}", parent(i))))
        .collect();
    let mut batch_ms = Vec::new();
    let started = Instant::now();
    for chunk in triples.chunks(BATCH) {
        let t = Instant::now();
        let tx = conn.transaction().unwrap();
        {
            let mut upsert = tx
                .prepare_cached(
                    "INSERT INTO concept(name) VALUES (?1)
                     ON CONFLICT(name) DO UPDATE SET name = excluded.name RETURNING id",
                )
                .unwrap();
            let mut edge = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO edge(src, kind, dst) VALUES (?1, 'is_a', ?2)",
                )
                .unwrap();
            for (s, o) in chunk {
                let s: i64 = upsert.query_row(params![s], |r| r.get(0)).unwrap();
                let o: i64 = upsert.query_row(params![o], |r| r.get(0)).unwrap();
                edge.execute(params![s, o]).unwrap();
            }
        }
        tx.commit().unwrap();
        batch_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let rate = (triples.len() as f64) / started.elapsed().as_secs_f64();
    (rate, sorted(batch_ms))
}

/// Sutra through HTTP: `clients` threads, batches of [`BATCH`], each acknowledged before
/// the next. `make(i)` is the i-th sentence.
fn sutra_ingest(
    base: &str,
    range: std::ops::Range<usize>,
    clients: usize,
    make: fn(usize) -> String,
) -> (f64, Vec<f64>) {
    let ids: Vec<usize> = range.collect();
    let per = ids.len().div_ceil(clients);
    let started = Instant::now();
    let threads: Vec<_> = ids
        .chunks(per)
        .map(|mine| {
            let mine = mine.to_vec();
            let base = base.to_string();
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new()
                    .timeout(Duration::from_secs(120))
                    .build();
                let mut ms = Vec::new();
                for chunk in mine.chunks(BATCH) {
                    let contents: Vec<String> = chunk.iter().map(|&i| make(i)).collect();
                    let t = Instant::now();
                    common::learn_until_admitted(&agent, &base, &contents);
                    ms.push(t.elapsed().as_secs_f64() * 1e3);
                }
                ms
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in threads {
        all.extend(t.join().unwrap());
    }
    let rate = ids.len() as f64 / started.elapsed().as_secs_f64();
    (rate, sorted(all))
}

/// Concept `i`'s ancestor `hops` levels up, if the tree is that deep there.
fn ancestor(mut i: usize, hops: usize) -> Option<usize> {
    for _ in 0..hops {
        if i == 0 {
            return None;
        }
        i = parent(i);
    }
    Some(i)
}

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    let n = if quick { 20_000 } else { 100_000 };
    let questions = if quick { 100 } else { 300 };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    println!("== 1. ingest {n} is-a facts, batches of {BATCH}, one client, durable per batch");
    let sql_dir = tempfile::tempdir().unwrap();
    let mut conn = Connection::open(sql_dir.path().join("facts.db")).unwrap();
    let (sql_rate, sql_ms) = sqlite_ingest(&mut conn, n);
    println!(
        "sqlite (parsed triples, WAL, synchronous=FULL): {sql_rate:.0} facts/s, batch p50 {:.1} ms p99 {:.1} ms",
        pct(&sql_ms, 0.5),
        pct(&sql_ms, 0.99)
    );

    let dir = tempfile::tempdir().unwrap();
    let running = rt.block_on(start_node(dir.path()));
    let base = format!("http://{}", running.http_addr);
    let (sutra_rate, sutra_ms) = sutra_ingest(&base, 1..n + 1, 1, sentence);
    println!(
        "sutra (English over HTTP, extraction, durable): {sutra_rate:.0} sentences/s, batch p50 {:.1} ms p99 {:.1} ms",
        pct(&sutra_ms, 0.5),
        pct(&sutra_ms, 0.99)
    );
    println!("ratio sutra/sqlite: {:.2}", sutra_rate / sql_rate);
    // What the commit protocol cost: the coordinator's own latency and how many
    // durable rounds each cross-shard transaction waited for before its answer.
    let stats: serde_json::Value = ureq::get(&format!("{base}/v1/stats"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    let c = &stats["coordinator"];
    let committed = c["committed"].as_f64().unwrap_or(0.0).max(1.0);
    println!(
        "coordinator: {} committed, commit p50 {} us p99 {} us, durable rounds per transaction {:.2}, participant commits ahead {} / waited {}",
        c["committed"],
        c["p50_us"],
        c["p99_us"],
        c["sync_rounds"].as_f64().unwrap_or(f64::NAN) / committed,
        c["commits_ahead"],
        c["commits_waited"]
    );

    println!("== 2. sutra, 4 HTTP clients, batches of {BATCH}");
    let (rate4, ms4) = sutra_ingest(&base, 0..n, 4, |i| {
        format!("Record {i} is part of throughput set {}.", i % 97)
    });
    println!(
        "sutra 4 clients: {rate4:.0} sentences/s, batch p50 {:.1} ms p99 {:.1} ms",
        pct(&ms4, 0.5),
        pct(&ms4, 0.99)
    );

    println!("== 3. multi-hop: \"Is a concept N a kind of concept A?\", A = N's ancestor");
    let shards = config().cluster.shards;
    for s in 0..shards {
        local_core(s).unwrap().fold();
    }
    let c = config();
    let cfg = reason_config(&c.reasoning, c.embedding.resolve_similarity);
    let mut check = conn
        .prepare(
            "WITH RECURSIVE anc(id) AS (
                 SELECT dst FROM edge WHERE src = (SELECT id FROM concept WHERE name = ?1) AND kind = 'is_a'
                 UNION
                 SELECT e.dst FROM edge e JOIN anc ON e.src = anc.id WHERE e.kind = 'is_a')
             SELECT EXISTS(SELECT 1 FROM anc WHERE id = (SELECT id FROM concept WHERE name = ?2))",
        )
        .unwrap();
    for hops in [2usize, 4, 6, 8] {
        let pairs: Vec<(usize, usize)> = (n / 2..=n)
            .rev()
            .filter_map(|i| ancestor(i, hops).map(|a| (i, a)))
            .take(questions)
            .collect();
        if pairs.len() < 10 {
            continue;
        }
        let mut sutra_us = Vec::new();
        let mut sql_us = Vec::new();
        let mut yes = 0;
        for &(i, a) in &pairs {
            let q = format!("Is a concept {i} a kind of concept {a}?");
            let t = Instant::now();
            let view = GraphView::new(
                (0..shards)
                    .map(|s| local_core(s).unwrap().snapshot())
                    .collect(),
            );
            let answer = reason(&view, &cfg, &q);
            sutra_us.push(t.elapsed().as_secs_f64() * 1e6);
            if answer.verdict == Verdict::Yes {
                yes += 1;
            }
            let t = Instant::now();
            let found: bool = check
                .query_row(
                    params![format!("concept {i}"), format!("concept {a}")],
                    |r| r.get(0),
                )
                .unwrap();
            sql_us.push(t.elapsed().as_secs_f64() * 1e6);
            assert!(found, "sqlite must find concept {a} above concept {i}");
        }
        let (s, q) = (sorted(sutra_us), sorted(sql_us));
        println!(
            "{hops} hops ({} questions, sutra yes {yes}): sutra p50 {:.0} us p99 {:.0} us | sqlite CTE p50 {:.0} us p99 {:.0} us | ratio p50 {:.2}",
            pairs.len(),
            pct(&s, 0.5),
            pct(&s, 0.99),
            pct(&q, 0.5),
            pct(&q, 0.99),
            pct(&s, 0.5) / pct(&q, 0.5)
        );
    }
    if std::env::args().any(|a| a == "realistic") {
        let real = realistic();
        println!(
            "== 4. sutra, {} real definitional sentences ({} distinct), one client, batches of {BATCH}",
            3 * real.len(),
            real.len()
        );
        let (rate, ms) = sutra_ingest(&base, 0..3 * real.len(), 1, |i| {
            let real = realistic();
            real[i % real.len()].clone()
        });
        println!(
            "sutra realistic: {rate:.0} sentences/s, batch p50 {:.1} ms p99 {:.1} ms",
            pct(&ms, 0.5),
            pct(&ms, 0.99)
        );
    }
    rt.block_on(running.shutdown());
}

/// WordNet glosses and examples made into sentences (the nlp golden set's input).
fn realistic() -> &'static [String] {
    static REAL: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    REAL.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/nlp/wordnet-sentences.txt"
        );
        std::fs::read_to_string(path)
            .expect("tests/data/nlp/wordnet-sentences.txt")
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(str::to_string)
            .collect()
    })
}

//! Embedding benchmarks (a bench binary; figures go to BENCHMARKS.md).
//!
//! `cargo bench --bench embeddings -- [quick] [failover] [--variant int8|fp32]` (`failover`:
//! the raw figures and the failover run only), all in one run so
//! the ratios compare like with like:
//! 1. raw model sentences/s (one `Embedder`, batches of 32) with 1 and 2 threads;
//! 2. the pool (`embedders` actor, cache off): 1 client and 32 concurrent clients, with
//!    1 replica x 1 thread and 2 replicas x 1 thread: sentences/s, p50/p99;
//! 3. failover: 3 replicas, 16 clients; 10 s undisturbed, then 30 s killing one replica
//!    every second: failed requests, p99 before/during, crash-to-reroute;
//! 4. learn with embeddings through HTTP (sentence + entity names embedded, durable);
//! 5. search p50/p99 end to end through HTTP on an idle node.

use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use sutra::actors::embedder::{self, Pool, PoolArgs, POOL};
use sutra::actors::node::{self, NodeOptions};
use sutra::config::{ClusterConfig, EmbeddingConfig};
use sutra::embed::{Embedder, ModelFiles};

/// A distinct sentence of about 17 tokens for `i` (unique, so no cache can help).
fn sentence(i: usize) -> String {
    const A: [&str; 8] = [
        "river", "museum", "engine", "forest", "bridge", "violin", "harbor", "glacier",
    ];
    const B: [&str; 8] = [
        "northern", "ancient", "quiet", "crowded", "famous", "hidden", "sunny", "narrow",
    ];
    const C: [&str; 8] = [
        "Lisbon", "Kyoto", "Oslo", "Quito", "Hanoi", "Perth", "Tunis", "Riga",
    ];
    format!(
        "The {} {} number {} stands near the {} of {} since {}.",
        B[i % 8],
        A[(i / 8) % 8],
        i,
        A[(i / 64) % 8],
        C[(i / 512) % 8],
        1000 + i % 997
    )
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn config() -> ClusterConfig {
    ClusterConfig::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("cluster.toml"))
        .expect("cluster.toml")
}

fn files(cfg: &EmbeddingConfig) -> ModelFiles {
    ModelFiles::locate(&cfg.model_dir, &cfg.variant).unwrap_or_else(|e| panic!("{e}"))
}

/// Raw model throughput; `batched` forces padded batches even for int8 (whose vectors
/// then depend on batch composition; the engine never runs it that way).
fn raw(files: &ModelFiles, threads: usize, n: usize, batched: bool) -> f64 {
    let mut m = Embedder::load(files, threads, 256).unwrap();
    if batched {
        m.set_per_text(false);
    }
    let texts: Vec<String> = (0..n).map(|i| sentence(1_000_000 + i)).collect();
    m.embed(&texts[..32]).unwrap();
    let started = Instant::now();
    for chunk in texts.chunks(32) {
        m.embed(chunk).unwrap();
    }
    n as f64 / started.elapsed().as_secs_f64()
}

async fn start_pool(files: &ModelFiles, cfg: &EmbeddingConfig, replicas: usize) {
    let args = PoolArgs {
        replicas,
        files: Arc::new(files.clone()),
        config: EmbeddingConfig {
            cache_entries: 0,
            ..cfg.clone()
        },
    };
    ractor::Actor::spawn(Some(POOL.into()), Pool, args)
        .await
        .expect("pool");
    // Wait for every replica to load.
    loop {
        if embedder::stats()
            .await
            .is_some_and(|s| s.state == "healthy")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn stop_pool() {
    if let Some(cell) = ractor::registry::where_is(POOL) {
        cell.stop(None);
    }
    while ractor::registry::where_is(POOL).is_some()
        || (0..8).any(|i| ractor::registry::where_is(embedder::replica_name(i)).is_some())
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `clients` tasks embed one sentence per request until `n` are done; returns
/// (sentences/s, latencies ms, errors).
async fn drive(clients: usize, n: usize, offset: usize) -> (f64, Vec<f64>, usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let lat = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (next, lat, errors) = (next.clone(), lat.clone(), errors.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let t = Instant::now();
                    match embedder::embed(vec![sentence(offset + i)], Duration::from_secs(30)).await
                    {
                        Ok(_) => lat.lock().unwrap().push(t.elapsed().as_secs_f64() * 1000.0),
                        Err(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    let lat = std::mem::take(&mut *lat.lock().unwrap());
    (rate, lat, errors.load(Ordering::Relaxed))
}

/// Clients embedding until `stop`; returns (latencies ms, errors, count).
async fn drive_until(clients: usize, stop: Arc<AtomicBool>, offset: usize) -> (Vec<f64>, usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let lat = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (next, lat, errors, stop) =
                (next.clone(), lat.clone(), errors.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let t = Instant::now();
                    match embedder::embed(vec![sentence(offset + i)], Duration::from_secs(30)).await
                    {
                        Ok(_) => lat.lock().unwrap().push(t.elapsed().as_secs_f64() * 1000.0),
                        Err(e) => {
                            eprintln!("request failed: {e}");
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let lat = std::mem::take(&mut *lat.lock().unwrap());
    (lat, errors.load(Ordering::Relaxed))
}

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    let mut cfg = config();
    if let Some(i) = std::env::args().position(|a| a == "--variant") {
        cfg.embedding.variant = std::env::args().nth(i + 1).expect("--variant int8|fp32");
    }
    let files = files(&cfg.embedding);
    let n = if quick { 256 } else { 2048 };
    println!(
        "# sutra embedding benchmarks ({} mode, model variant {}, {} sentences of ~17 tokens per measurement)",
        if quick { "quick" } else { "full" },
        cfg.embedding.variant,
        n
    );

    // 1. Raw model, run the way the engine runs it (int8: one text per inference, so a
    // text's vector never depends on its batch; fp32: padded batches of 32).
    let raw1 = raw(&files, 1, n, false);
    let raw2 = raw(&files, 2, n, false);
    println!("raw model as the engine runs it: 1 thread {raw1:.0} sentences/s; 2 threads {raw2:.0} sentences/s (groups of 32)");
    if cfg.embedding.variant == "int8" {
        let b1 = raw(&files, 1, n, true);
        let b2 = raw(&files, 2, n, true);
        println!("raw int8 in padded batches of 32 (batch-dependent vectors; for reference only): 1 thread {b1:.0} sentences/s; 2 threads {b2:.0} sentences/s");
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // 2. Pool.
        let mut offset = 0;
        let only_failover = std::env::args().any(|a| a == "failover");
        for (replicas, raw) in [(1usize, raw1), (2, raw2)] {
            if only_failover {
                break;
            }
            start_pool(&files, &cfg.embedding, replicas).await;
            for clients in [1usize, 32] {
                let count = if clients == 1 { n / 4 } else { n };
                let before = embedder::stats().await.unwrap();
                let (rate, mut lat, errors) = drive(clients, count, offset).await;
                offset += count;
                let st = embedder::stats().await.unwrap();
                let batches = (st.batches - before.batches).max(1);
                println!(
                    "pool: {replicas} replica(s) x 1 thread, {clients:>2} client(s): {rate:.0} sentences/s ({:.0}% of raw {} thread(s)), p50 {:.2} ms, p99 {:.2} ms, mean batch {:.1}, errors {errors}",
                    100.0 * rate / raw,
                    replicas,
                    pct(&mut lat, 0.5),
                    pct(&mut lat, 0.99),
                    count as f64 / batches as f64
                );
            }
            stop_pool().await;
        }

        // 3. Failover.
        let (before_s, during_s) = if quick { (3, 8) } else { (10, 30) };
        start_pool(&files, &cfg.embedding, 3).await;
        let stop = Arc::new(AtomicBool::new(false));
        let baseline = {
            let flag = stop.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(before_s)).await;
                flag.store(true, Ordering::Relaxed);
            });
            drive_until(16, stop, 10_000_000).await
        };
        let stop = Arc::new(AtomicBool::new(false));
        let kills = Arc::new(AtomicUsize::new(0));
        let killer = {
            let (stop, kills) = (stop.clone(), kills.clone());
            tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if let Some(cell) = ractor::registry::where_is(embedder::replica_name(i % 3)) {
                        cell.kill();
                        kills.fetch_add(1, Ordering::Relaxed);
                    }
                    i += 1;
                }
            })
        };
        let during = {
            let flag = stop.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(during_s)).await;
                flag.store(true, Ordering::Relaxed);
            });
            drive_until(16, stop.clone(), 20_000_000).await
        };
        killer.await.unwrap();
        let st = embedder::stats().await.unwrap();
        let (mut b, mut d) = (baseline.0, during.0);
        println!(
            "failover: 3 replicas, 16 clients; before ({before_s} s): {} requests, {} errors, p50 {:.1} ms, p99 {:.1} ms; during ({during_s} s, {} kills): {} requests, {} errors, p50 {:.1} ms, p99 {:.1} ms; crash-to-reroute p50 {:.2} ms, max {:.2} ms over {} rerouted batches; restarts {:?}",
            b.len(),
            baseline.1,
            pct(&mut b, 0.5),
            pct(&mut b, 0.99),
            kills.load(Ordering::Relaxed),
            d.len(),
            during.1,
            pct(&mut d, 0.5),
            pct(&mut d, 0.99),
            st.crash_to_reroute_p50_ms,
            st.max_crash_to_reroute_ms,
            st.rerouted_batches,
            st.replicas.iter().map(|r| r.restarts).collect::<Vec<_>>()
        );
        stop_pool().await;
        if only_failover {
            return;
        }

        // 4 and 5: a whole node, through HTTP.
        let tmp = tempfile::tempdir().unwrap();
        let mut node_cfg = cfg.node(None).unwrap().clone();
        node_cfg.http_addr = "127.0.0.1:0".parse().unwrap();
        node_cfg.data_dir = tmp.path().join("data");
        let running = node::start(NodeOptions {
            config: cfg.clone(),
            node: node_cfg,
            fault_injection: false,
        })
        .await
        .unwrap();
        let base = format!("http://{}", running.http_addr);
        while embedder::stats().await.is_none_or(|s| s.state != "healthy") {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let learn_n = if quick { 256 } else { 2048 };
        let rate = tokio::task::spawn_blocking({
            let base = base.clone();
            move || {
                // Facts with recurring entity names (a city per 64 facts), in batches
                // of 64 from 4 clients.
                let facts: Vec<String> = (0..learn_n)
                    .map(|i| {
                        format!(
                            "The {} landmark {} is in {}.",
                            ["old", "new", "tall", "small"][i % 4],
                            i,
                            ["Lisbon", "Kyoto", "Oslo", "Quito"][(i / 64) % 4]
                        )
                    })
                    .collect();
                let started = Instant::now();
                let chunks: Vec<Vec<String>> = facts.chunks(64).map(|c| c.to_vec()).collect();
                let per = chunks.len().div_ceil(4);
                let threads: Vec<_> = chunks
                    .chunks(per)
                    .map(|mine| {
                        let (base, mine) = (base.clone(), mine.to_vec());
                        std::thread::spawn(move || {
                            for c in mine {
                                let r = ureq::post(&format!("{base}/v1/learn/batch"))
                                    .send_json(json!({ "contents": c }))
                                    .expect("learn");
                                assert_eq!(r.status(), 200);
                            }
                        })
                    })
                    .collect();
                for t in threads {
                    t.join().unwrap();
                }
                learn_n as f64 / started.elapsed().as_secs_f64()
            }
        })
        .await
        .unwrap();
        let texts = embedder::stats().await.unwrap();
        println!(
            "learn with embeddings (HTTP, durable, 4 clients x batches of 64): {rate:.0} sentences/s ({:.0}% of raw {} replicas' threads = {raw2:.0}/s); cache hit rate {:.2}",
            100.0 * rate / raw2,
            running_replicas(&cfg),
            texts.cache_hit_rate
        );
        let mut lat = tokio::task::spawn_blocking(move || {
            let mut lat = Vec::new();
            for i in 0..200 {
                let t = Instant::now();
                let r = ureq::post(&format!("{base}/v1/search"))
                    .send_json(json!({ "query": format!("Where is landmark {i}?"), "k": 10 }))
                    .expect("search");
                assert_eq!(r.status(), 200);
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            lat
        })
        .await
        .unwrap();
        println!(
            "search k=10 through HTTP, idle node, after learning {} sentences, one short query at a time (each new, so it is embedded): p50 {:.2} ms, p99 {:.2} ms",
            learn_n,
            pct(&mut lat, 0.5),
            pct(&mut lat, 0.99)
        );
        running.shutdown().await;
    });
}

fn running_replicas(cfg: &ClusterConfig) -> u32 {
    cfg.node(None).map(|n| n.embedder_replicas).unwrap_or(0)
}

//! Ten times the load the node can serve, for a minute (issue 14, "bounded under
//! overload").
//!
//! `cargo bench --bench overload -- [quick] [--seconds N] [--clients N] [--batch N]`
//!
//! One in-process node with the repository's `cluster.toml` (embedder replicas and all),
//! its own temp data dir. Every client loops: `POST /v1/learn/batch` with fresh
//! sentences, each acknowledged before the next; after a 503 it waits 50 ms (a client
//! that retries eagerly keeps the offered load up) and tries a new batch.
//! 1. unloaded: one client, to measure the unloaded p99 of a batch;
//! 2. capacity: `--clients` clients (default 4: on this 2-core machine 4 saturate the node),
//!    the load the node can serve;
//! 3. overload: 10 × that many clients for `--seconds` (default 60), while one more client
//!    probes `GET /health` every 20 ms and the process's RSS is sampled;
//! 4. every acknowledged statement is read back (`GET /v1/concepts/{id}?fresh=true`).
//!
//! Prints admitted p50/p99 against the unloaded p99, refusal latency p99, `/health` p99,
//! RSS growth over the overload phase, statuses other than 200 and 503, and acknowledged
//! statements missing. Quote figures from one run with the command.

mod common;

use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use sutra::graph::{ConceptId, ConceptKind};
use sutra::learn::normalize::sentence_key;

fn arg(name: &str) -> Option<u64> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} takes a number"))
        })
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// What the clients of one phase saw.
#[derive(Default)]
struct Seen {
    admitted_ms: Vec<f64>,
    refused_ms: Vec<f64>,
    /// Statuses other than 200 and 503 (or transport errors, as 0).
    other: Vec<(u16, String)>,
    /// Statements acknowledged.
    acked: Vec<String>,
}

fn sentence(client: usize, batch: usize, i: usize) -> String {
    format!("Record {client}-{batch}-{i} is part of load set {client}.")
}

/// `clients` clients learning batches of `batch` until `stop`; client ids start at `first`.
fn run_clients(
    base: &str,
    first: usize,
    clients: usize,
    batch: usize,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
) -> Vec<std::thread::JoinHandle<()>> {
    (first..first + clients)
        .map(|c| {
            let (base, stop, seen) = (base.to_string(), stop.clone(), seen.clone());
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new()
                    .timeout(Duration::from_secs(120))
                    .build();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let contents: Vec<String> = (0..batch).map(|i| sentence(c, n, i)).collect();
                    let t = Instant::now();
                    let result = agent
                        .post(&format!("{base}/v1/learn/batch"))
                        .send_json(json!({ "contents": contents }));
                    let ms = t.elapsed().as_secs_f64() * 1e3;
                    let mut s = seen.lock().unwrap();
                    match result {
                        Ok(r) if r.status() == 200 => {
                            s.admitted_ms.push(ms);
                            s.acked.extend(contents);
                        }
                        Ok(r) => s
                            .other
                            .push((r.status(), r.into_string().unwrap_or_default())),
                        Err(ureq::Error::Status(503, _)) => {
                            s.refused_ms.push(ms);
                            drop(s);
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        Err(ureq::Error::Status(code, r)) => {
                            s.other.push((code, r.into_string().unwrap_or_default()))
                        }
                        Err(e) => s.other.push((0, e.to_string())),
                    }
                }
            })
        })
        .collect()
}

/// Runs one phase for `secs`; returns what the clients saw and the /health latencies
/// (probed only when `probe_health`) and the RSS samples.
fn phase(
    base: &str,
    first: usize,
    clients: usize,
    batch: usize,
    secs: u64,
    probe_health: bool,
) -> (Seen, Vec<f64>, Vec<u64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let threads = run_clients(base, first, clients, batch, stop.clone(), seen.clone());
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build();
    let (mut health_ms, mut rss) = (Vec::new(), vec![rss_kib()]);
    let end = Instant::now() + Duration::from_secs(secs);
    let mut next_rss = Instant::now() + Duration::from_secs(1);
    while Instant::now() < end {
        if probe_health {
            let t = Instant::now();
            let ok = agent
                .get(&format!("{base}/health"))
                .call()
                .is_ok_and(|r| r.status() == 200);
            assert!(ok, "/health failed under load");
            health_ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        if Instant::now() >= next_rss {
            rss.push(rss_kib());
            next_rss += Duration::from_secs(1);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    rss.push(rss_kib());
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    (seen, health_ms, rss)
}

fn report(name: &str, secs: u64, seen: &mut Seen) {
    let statements = seen.acked.len();
    println!(
        "{name}: {} batches admitted ({:.0} statements/s), admitted p50 {:.1} ms p99 {:.1} ms; {} refused (503), refusal p50 {:.1} ms p99 {:.1} ms; {} other",
        seen.admitted_ms.len(),
        statements as f64 / secs as f64,
        pct(&mut seen.admitted_ms, 0.5),
        pct(&mut seen.admitted_ms, 0.99),
        seen.refused_ms.len(),
        pct(&mut seen.refused_ms, 0.5),
        pct(&mut seen.refused_ms, 0.99),
        seen.other.len(),
    );
    for (code, body) in seen.other.iter().take(5) {
        println!("  other status {code}: {body}");
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    let secs = arg("--seconds").unwrap_or(if quick { 15 } else { 60 });
    let warm = if quick { 5 } else { 15 };
    let clients = arg("--clients").unwrap_or(4) as usize;
    let batch = arg("--batch").unwrap_or(50) as usize;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let running = rt.block_on(common::start_node(dir.path(), None));
    let base = format!("http://{}", running.http_addr);
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build();
    // Everything up, the embedding model included.
    let deadline = Instant::now() + Duration::from_secs(120);
    while !agent
        .get(&format!("{base}/ready"))
        .call()
        .is_ok_and(|r| r.status() == 200)
    {
        assert!(Instant::now() < deadline, "the node never became ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    println!("batches of {batch} statements (embeddings on); phases: 1 client {warm} s, {clients} clients {warm} s, {} clients {secs} s", clients * 10);

    let (mut one, _, _) = phase(&base, 0, 1, batch, warm, false);
    report("1. unloaded (1 client)", warm, &mut one);
    let (mut cap, mut cap_health, _) = phase(&base, 1, clients, batch, warm, true);
    report(&format!("2. capacity ({clients} clients)"), warm, &mut cap);
    println!(
        "   /health p50 {:.2} ms p99 {:.2} ms",
        pct(&mut cap_health, 0.5),
        pct(&mut cap_health, 0.99)
    );
    let (mut over, mut health, rss) = phase(&base, 1000, clients * 10, batch, secs, true);
    report(
        &format!("3. overload ({} clients)", clients * 10),
        secs,
        &mut over,
    );
    let unloaded_p99 = pct(&mut one.admitted_ms, 0.99);
    let admitted_p99 = pct(&mut over.admitted_ms, 0.99);
    let (rss_first, rss_last) = (rss[0], *rss.last().unwrap());
    let rss_max = rss.iter().copied().max().unwrap_or(0);
    println!(
        "   /health p50 {:.2} ms p99 {:.2} ms (target p99 <= 50 ms)",
        pct(&mut health, 0.5),
        pct(&mut health, 0.99)
    );
    println!(
        "   admitted p99 / unloaded p99: {:.2} (target <= 2.0); refusal p99 {:.1} ms (target <= 50 ms)",
        admitted_p99 / unloaded_p99,
        pct(&mut over.refused_ms, 0.99)
    );
    println!(
        "   RSS {} MiB -> {} MiB (max {} MiB): growth {:.1}% (target <= 10%)",
        rss_first / 1024,
        rss_last / 1024,
        rss_max / 1024,
        (rss_last as f64 / rss_first as f64 - 1.0) * 100.0
    );

    // 4. Nothing acknowledged lost.
    let acked: Vec<String> = [one.acked, cap.acked, over.acked].concat();
    let missing = acked
        .iter()
        .filter(|t| {
            let id = ConceptId::derive(ConceptKind::Sentence, &sentence_key(t));
            !agent
                .get(&format!("{base}/v1/concepts/{id}?fresh=true"))
                .call()
                .is_ok_and(|r| r.status() == 200)
        })
        .count();
    println!(
        "4. {} acknowledged statements read back: {missing} missing; statuses other than 200/503: {}",
        acked.len(),
        over.other.len() + cap.other.len() + one.other.len()
    );
    rt.block_on(running.shutdown());
}

//! Learn throughput with self-monitoring events on vs off, in one run (issue 13, part 8).
//!
//! `cargo bench --bench events -- [quick] [rounds=N]`: rounds alternate between a node
//! with `[events] enabled = true` and one with it off (each round a fresh node and data
//! directory, in the same process; events are per process, so never both at once), the
//! side that goes first alternating too. Each round learns English is-a sentences
//! through `POST /v1/learn/batch` (batches of 500, 4 clients, no embeddings) and asks one
//! question per batch, so queries and transactions emit events while learning. Prints
//! each side's median round and their ratio, and the median of the on/off ratios of the
//! round pairs (each pair ran back to back, so it shares the machine's load).

use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};
use sutra::actors::node::{self, NodeOptions};
use sutra::config::ClusterConfig;

const BATCH: usize = 500;
const CLIENTS: usize = 4;

/// CPU seconds this process has used (user + system), from `/proc/self/stat`: on a
/// shared machine the CPU a round costs moves less with other processes' load than its
/// wall-clock time does.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces):
    // utime and stime are the 12th and 13th, in clock ticks of 1/100 s.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let f: Vec<f64> = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|x| x.parse().ok())
        .collect();
    f.iter().sum::<f64>() / 100.0
}

/// One round: sentences per wall-clock second, sentences per CPU second, events
/// emitted so far in the process.
fn round(rt: &tokio::runtime::Runtime, events_on: bool, n: usize) -> (f64, f64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut config =
        ClusterConfig::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("cluster.toml")).unwrap();
    config.events.enabled = events_on;
    // Four clients with 500-statement batches keep more queued than the default pacing
    // target admits; the bench measures the learn path's throughput, not the pacing.
    config.limits.queue_target_ms = 0;
    let mut node_cfg = config.node(None).unwrap().clone();
    node_cfg.http_addr = "127.0.0.1:0".parse().unwrap();
    node_cfg.data_dir = dir.path().to_path_buf();
    node_cfg.embedder_replicas = 0;
    let running = rt
        .block_on(node::start(NodeOptions {
            config,
            node: node_cfg,
            fault_injection: false,
        }))
        .unwrap();
    let base = format!("http://{}", running.http_addr);
    let per = n / CLIENTS;
    let (started, cpu) = (Instant::now(), cpu_seconds());
    let threads: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let base = base.clone();
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new()
                    .timeout(Duration::from_secs(120))
                    .build();
                for b in 0..per / BATCH {
                    let contents: Vec<String> = (0..BATCH)
                        .map(|i| {
                            let k = c * per + b * BATCH + i;
                            format!("A gizmo {k} is a kind of gadget {}.", k / 10)
                        })
                        .collect();
                    let r = agent
                        .post(&format!("{base}/v1/learn/batch"))
                        .send_json(json!({ "contents": contents }))
                        .unwrap();
                    assert_eq!(r.status(), 200);
                    let k = c * per + b * BATCH;
                    let r = agent
                        .post(&format!("{base}/v1/reason"))
                        .send_json(json!({ "query": format!("Is a gizmo {k} a kind of gadget {}?", k / 10) }))
                        .unwrap();
                    assert_eq!(r.status(), 200);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let learned = (per / BATCH * BATCH * CLIENTS) as f64;
    let rate = learned / started.elapsed().as_secs_f64();
    let per_cpu = learned / (cpu_seconds() - cpu).max(0.01);
    let emitted = sutra::events::counts().0;
    rt.block_on(running.shutdown());
    (rate, per_cpu, emitted)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    let (n, mut rounds) = if quick { (20_000, 3) } else { (200_000, 5) };
    if let Some(r) = std::env::args().find_map(|a| a.strip_prefix("rounds=")?.parse().ok()) {
        rounds = r;
    }
    // The node's own logger (`SUTRA_LOG`, default info), as `sutra-node` installs it:
    // events read their request id from its request spans, so both sides pay for them.
    sutra::logging::init().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("== learn {n} sentences per round (batches of {BATCH}, {CLIENTS} clients, a question per batch), events on vs off, {rounds} rounds each, alternating");
    let (mut on, mut off, mut pairs) = (Vec::new(), Vec::new(), Vec::new());
    let (mut on_cpu, mut off_cpu, mut cpu_pairs) = (Vec::new(), Vec::new(), Vec::new());
    let mut emitted_before = 0;
    for r in 0..rounds {
        // The side that runs first alternates, so neither always follows the other.
        let (mut pair, mut cpu_pair) = ([0.0; 2], [0.0; 2]);
        for events_on in if r % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        } {
            let (rate, per_cpu, emitted) = round(&rt, events_on, n);
            if events_on {
                println!(
                    "round {r}: events on  {rate:.0} sentences/s, {per_cpu:.0} per CPU second ({} events emitted)",
                    emitted - emitted_before
                );
                emitted_before = emitted;
                (pair[0], cpu_pair[0]) = (rate, per_cpu);
                on.push(rate);
                on_cpu.push(per_cpu);
            } else {
                println!(
                    "round {r}: events off {rate:.0} sentences/s, {per_cpu:.0} per CPU second"
                );
                (pair[1], cpu_pair[1]) = (rate, per_cpu);
                off.push(rate);
                off_cpu.push(per_cpu);
            }
        }
        pairs.push(pair[0] / pair[1]);
        cpu_pairs.push(cpu_pair[0] / cpu_pair[1]);
    }
    let (on, off, paired) = (median(on), median(off), median(pairs));
    println!(
        "median: events on {on:.0} sentences/s, off {off:.0} sentences/s, on/off {:.3}; median of the rounds' on/off ratios {paired:.3}",
        on / off
    );
    let (on, off, paired) = (median(on_cpu), median(off_cpu), median(cpu_pairs));
    println!(
        "median per CPU second: events on {on:.0}, off {off:.0}, on/off {:.3}; median of the rounds' on/off ratios {paired:.3}",
        on / off
    );
}

//! Soak: 16 writers against a disk that really fills up (issue 15).
//!
//! `cargo bench --bench disk_full` (needs root to mount a 64 MiB tmpfs; says so and
//! exits otherwise). `SOAK_SECS` sets the full-disk phase (default 60).
//!
//! Phases: 10 s of normal load (16 writers learning batches of 10, one reader asking
//! questions) for the reference read latency; then the disk is filled with a ballast
//! file and the same load runs for `SOAK_SECS`; then the ballast is deleted and the
//! time until the next acknowledged write is measured; finally the node is killed
//! with SIGKILL, restarted, and every acknowledged batch is read back.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WRITERS: usize = 16;

fn spawn_node(config: &Path, data: &Path, log: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sutra-node"))
        .arg("--config")
        .arg(config)
        .args(["--http", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .env("SUTRA_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("http listening on ")
        .unwrap_or_else(|| {
            panic!(
                "node did not start: {}",
                std::fs::read_to_string(log).unwrap()
            )
        })
        .to_string();
    (child, base)
}

fn facts(tag: &str) -> Vec<String> {
    (0..10)
        .map(|i| format!("Gadget {tag}n{i} is part of Crate {tag}."))
        .collect()
}

fn post(agent: &ureq::Agent, url: &str, body: Value) -> (u16, Value) {
    match agent.post(url).send_json(body) {
        Ok(r) => (r.status(), r.into_json().unwrap_or(Value::Null)),
        Err(ureq::Error::Status(s, r)) => (s, r.into_json().unwrap_or(Value::Null)),
        Err(_) => (0, Value::Null),
    }
}

fn learn(agent: &ureq::Agent, base: &str, tag: &str) -> u16 {
    // Read-your-writes: the reader's first question must already see its facts.
    let options = json!({"generate_embedding": false, "read_your_writes": tag == "known"});
    let body = json!({"contents": facts(tag), "options": options});
    post(agent, &format!("{base}/v1/learn/batch"), body).0
}

fn ask(agent: &ureq::Agent, base: &str, tag: &str) -> (u16, Option<String>) {
    let q = format!("Is Gadget {tag}n3 part of Crate {tag}?");
    let (s, a) = post(agent, &format!("{base}/v1/reason"), json!({ "query": q }));
    if a["verdict"] != "yes" {
        eprintln!("read failed: {s} {a}");
    }
    (s, a["verdict"].as_str().map(String::from))
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() - 1) as f64 * p).round() as usize]
}

#[derive(Default)]
struct Phase {
    statuses: Mutex<std::collections::BTreeMap<u16, u64>>,
    refused_ms: Mutex<Vec<f64>>,
    read_ms: Mutex<Vec<f64>>,
    reads_ok: AtomicU64,
    reads: AtomicU64,
    acked: Mutex<Vec<String>>,
}

/// Runs the load until `stop`; every writer uses its own tags.
fn load(base: &str, phase: &Arc<Phase>, stop: &Arc<AtomicBool>, name: &str, known: &str) {
    std::thread::scope(|s| {
        for w in 0..WRITERS {
            let (phase, stop) = (phase.clone(), stop.clone());
            s.spawn(move || {
                let agent = ureq::AgentBuilder::new()
                    .timeout(Duration::from_secs(30))
                    .build();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let tag = format!("{name}w{w}b{i}");
                    i += 1;
                    let started = Instant::now();
                    let status = learn(&agent, base, &tag);
                    let ms = started.elapsed().as_secs_f64() * 1e3;
                    *phase.statuses.lock().unwrap().entry(status).or_default() += 1;
                    match status {
                        200 => phase.acked.lock().unwrap().push(tag),
                        _ => {
                            phase.refused_ms.lock().unwrap().push(ms);
                            // A client backing off as Retry-After asks (1 s) would send
                            // far less; 50 ms keeps the pressure on.
                            std::thread::sleep(Duration::from_millis(50));
                        }
                    }
                }
            });
        }
        let (phase, stop) = (phase.clone(), stop.clone());
        s.spawn(move || {
            let agent = ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(30))
                .build();
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let (status, verdict) = ask(&agent, base, known);
                let ms = started.elapsed().as_secs_f64() * 1e3;
                phase.reads.fetch_add(1, Ordering::Relaxed);
                if status == 200 && verdict.as_deref() == Some("yes") {
                    phase.reads_ok.fetch_add(1, Ordering::Relaxed);
                    phase.read_ms.lock().unwrap().push(ms);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
    });
}

fn run_for(base: &str, secs: u64, name: &str, known: &str) -> Arc<Phase> {
    let phase = Arc::new(Phase::default());
    let stop = Arc::new(AtomicBool::new(false));
    let timer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(secs));
            stop.store(true, Ordering::Relaxed);
        })
    };
    load(base, &phase, &stop, name, known);
    timer.join().unwrap();
    phase
}

fn fill_disk(path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 64 << 10];
    while let Ok(n) = f.write(&chunk) {
        if n == 0 {
            break;
        }
    }
    let _ = f.sync_all();
}

fn restarts(base: &str) -> u64 {
    let stats: Value = ureq::get(&format!("{base}/v1/stats"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    stats["restarts"]
        .as_object()
        .map(|m| m.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0)
}

fn main() {
    let soak: u64 = std::env::var("SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let tmp = tempfile::tempdir().unwrap();
    let mount: PathBuf = tmp.path().join("disk");
    std::fs::create_dir_all(&mount).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64m", "tmpfs"])
        .arg(&mount)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("disk_full: cannot mount a tmpfs here (needs root); nothing measured");
        return;
    }
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("cluster.toml");
    let log = tmp.path().join("node.log");
    let (mut child, base) = spawn_node(&config, &mount, &log);
    let agent = ureq::AgentBuilder::new().build();
    for _ in 0..600 {
        if ureq::get(&format!("{base}/ready")).call().is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(learn(&agent, &base, "known"), 200);

    let normal = run_for(&base, 10, "normal", "known");
    fill_disk(&mount.join("ballast"));
    let full = run_for(&base, soak, "full", "known");
    let restarts_full = restarts(&base);

    std::fs::remove_file(mount.join("ballast")).unwrap();
    let freed = Instant::now();
    let mut tries = 0;
    while learn(&agent, &base, &format!("resume{tries}")) != 200 {
        tries += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    let resume_ms = freed.elapsed().as_secs_f64() * 1e3;
    let mut acked: Vec<String> = normal.acked.lock().unwrap().clone();
    acked.extend(full.acked.lock().unwrap().iter().cloned());
    acked.push(format!("resume{tries}"));

    let _ = child.kill();
    let _ = child.wait();
    let (mut child, base) = spawn_node(&config, &mount, &log);
    let lost = acked
        .iter()
        .filter(|tag| ask(&agent, &base, tag).1.as_deref() != Some("yes"))
        .count();
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    let _ = Command::new("umount").arg("-l").arg(&mount).status();

    let mut normal_reads = normal.read_ms.lock().unwrap().clone();
    let mut full_reads = full.read_ms.lock().unwrap().clone();
    let mut refused = full.refused_ms.lock().unwrap().clone();
    let (n50, n99) = (pct(&mut normal_reads, 0.5), pct(&mut normal_reads, 0.99));
    let (f50, f99) = (pct(&mut full_reads, 0.5), pct(&mut full_reads, 0.99));
    println!(
        "## disk_full soak ({WRITERS} writers, batches of 10, {soak} s on a full 64 MiB tmpfs)"
    );
    println!(
        "normal phase statuses: {:?}",
        normal.statuses.lock().unwrap()
    );
    println!("full phase statuses:   {:?}", full.statuses.lock().unwrap());
    println!(
        "refused writes answered in: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pct(&mut refused, 0.5),
        pct(&mut refused, 0.99),
        refused.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "reads: normal {}/{} ok, p50 {n50:.2} ms p99 {n99:.2} ms; full {}/{} ok, p50 {f50:.2} ms p99 {f99:.2} ms (p99 ratio {:.2})",
        normal.reads_ok.load(Ordering::Relaxed),
        normal.reads.load(Ordering::Relaxed),
        full.reads_ok.load(Ordering::Relaxed),
        full.reads.load(Ordering::Relaxed),
        f99 / n99
    );
    println!("actor restarts during the full phase: {restarts_full}");
    println!("writes resumed {resume_ms:.0} ms after space was freed ({tries} refused tries)");
    println!(
        "acknowledged batches read back after kill -9: {} of {}, lost {lost}",
        acked.len() - lost,
        acked.len()
    );
}

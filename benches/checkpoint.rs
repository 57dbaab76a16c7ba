//! Checkpoint decode cost (a bench binary; figures go to BENCHMARKS.md).
//!
//! `cargo bench --bench checkpoint`: one shard snapshot of 250,000 entities, encoded once;
//! median of 5 decodes with the stored stem index, and of 5 decodes of the same payload
//! without it (a checkpoint written before the index existed, which rebuilds it).
//!
//! `cargo bench --bench checkpoint -- real DIR`: the checkpoints of a node's data
//! directory (`DIR/shard-*/checkpoint.bin`, e.g. the foundation bench's cached 1M set):
//! per shard, the read and the decode alone (median of 3, one shard at a time; and of the
//! same snapshot rewritten in format 3 when the files hold an older one), then all
//! shards decoded at once as a restart does, and two at a time (medians of 3, wall and
//! CPU time). Nothing in `DIR` is changed.

use std::path::{Path, PathBuf};
use std::time::Instant;
use sutra::graph::snapshot::GraphSnapshot;
use sutra::graph::{ConceptId, ConceptKind, ConceptUpsert, Op, SemanticType, Source};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

const N: usize = 250_000;

/// A snapshot of `N` concepts of `kind` (only entities are stem-indexed).
fn snapshot(kind: ConceptKind) -> GraphSnapshot {
    let mut s = GraphSnapshot::default();
    for i in 0..N {
        let name = format!("entity number {i} of the bench");
        s.apply(&Op::PutConcept(ConceptUpsert {
            id: ConceptId::derive(kind, &name),
            content: name,
            kind,
            semantic_type: SemanticType::Entity,
            strength: 1.0,
            confidence: 0.5,
            at_ms: 1,
            source: Source::default(),
            vector: None,
        }));
    }
    s
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// CPU time of this process so far (user + system), milliseconds: the work a restart's
/// decode costs whatever else the machine runs.
fn cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the parenthesized command name; utime and stime are the 12th and 13th.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Clock ticks of 10 ms (USER_HZ is 100 on Linux).
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) * 10.0
}

/// Decodes the checkpoints of a real data directory (see the module docs).
fn real(dir: &Path) {
    let mut shards: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("checkpoint.bin").exists())
        .collect();
    shards.sort();
    assert!(
        !shards.is_empty(),
        "no shard-*/checkpoint.bin in {}",
        dir.display()
    );
    let mut payloads = Vec::new();
    for shard in &shards {
        let mut reads = Vec::new();
        let mut payload = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            let (_, bytes) = sutra::store::checkpoint::read(shard).unwrap().unwrap();
            reads.push(ms(t));
            payload = bytes;
        }
        let mut decodes = Vec::new();
        let (mut concepts, mut edges) = (0, 0);
        // SUTRA_BENCH_ROUNDS=0 skips timing the format on disk (for profiles of the
        // format-3 decode alone).
        let rounds: usize = std::env::var("SUTRA_BENCH_ROUNDS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(3);
        for _ in 0..rounds {
            let t = Instant::now();
            let snap = GraphSnapshot::decode_checkpoint(&payload).unwrap();
            decodes.push(ms(t));
            (concepts, edges) = (snap.concepts, snap.edges);
            // Dropping a large snapshot is not part of the decode.
            std::thread::spawn(move || drop(snap)).join().unwrap();
        }
        println!(
            "{}: {} bytes, {concepts} concepts, {edges} outgoing associations: read median {:.0} ms, decode median {:.0} ms ({:?})",
            shard.display(),
            payload.len(),
            median(reads),
            if decodes.is_empty() { 0.0 } else { median(decodes.clone()) },
            decodes.iter().map(|d| d.round()).collect::<Vec<_>>()
        );
        if !payload.starts_with(&sutra::graph::snapshot::FORMAT3) {
            // An older format on disk: what the next checkpoint (format 3) will hold.
            let snap = GraphSnapshot::decode_checkpoint(&payload).unwrap();
            payload = snap.encode_checkpoint();
            std::thread::spawn(move || drop(snap)).join().unwrap();
            let mut decodes = Vec::new();
            for _ in 0..3 {
                let t = Instant::now();
                let snap = GraphSnapshot::decode_checkpoint(&payload).unwrap();
                decodes.push(ms(t));
                std::thread::spawn(move || drop(snap)).join().unwrap();
            }
            println!(
                "  rewritten in format 3: {} bytes, decode median {:.0} ms ({:?})",
                payload.len(),
                median(decodes.clone()),
                decodes.iter().map(|d| d.round()).collect::<Vec<_>>()
            );
        }
        payloads.push(payload);
    }
    // All shards at once (as a restart opens them), then at most two at a time.
    for threads in [payloads.len(), 2] {
        let mut together = Vec::new();
        let mut cpu = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            let c = cpu_ms();
            let mut snaps: Vec<GraphSnapshot> = Vec::new();
            for group in payloads.chunks(threads) {
                snaps.extend(std::thread::scope(|s| {
                    let running: Vec<_> = group
                        .iter()
                        .map(|p| s.spawn(|| GraphSnapshot::decode_checkpoint(p).unwrap()))
                        .collect();
                    running
                        .into_iter()
                        .map(|h| h.join().unwrap())
                        .collect::<Vec<_>>()
                }));
            }
            together.push(ms(t));
            cpu.push(cpu_ms() - c);
            std::thread::spawn(move || drop(snaps)).join().unwrap();
        }
        println!(
            "{} shards decoded {threads} at a time: median {:.0} ms ({:?}), CPU median {:.0} ms ({:?})",
            payloads.len(),
            median(together.clone()),
            together.iter().map(|d| d.round()).collect::<Vec<_>>(),
            median(cpu.clone()),
            cpu
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "real") {
        let dir = args
            .get(i + 1)
            .expect("usage: cargo bench --bench checkpoint -- real DATA_DIR");
        real(Path::new(dir));
        return;
    }
    let s = snapshot(ConceptKind::Entity);
    let full = s.encode_checkpoint();
    let time = |bytes: &[u8], indexed: usize| {
        median(
            (0..5)
                .map(|_| {
                    let t = Instant::now();
                    let back = GraphSnapshot::decode_checkpoint(bytes).unwrap();
                    assert_eq!(back.stems.len(), indexed);
                    ms(t)
                })
                .collect(),
        )
    };
    let with = time(&full, N);
    // The same concepts as sentences: nothing to index.
    let sentences = time(&snapshot(ConceptKind::Sentence).encode_checkpoint(), 0);
    println!(
        "checkpoint of {N} entities: {} bytes; decode: median {with:.0} ms; the same {N} concepts as sentences (not stem-indexed): median {sentences:.0} ms",
        full.len()
    );
}

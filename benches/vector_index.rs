//! Vector index benchmarks (a bench binary; figures go to BENCHMARKS.md).
//!
//! `cargo bench --bench vector_index -- [--sizes 100000,1000000] [--queries 1000]
//! [--threads T] [--ef 64,128] [--gt-queries Q] [--rebuild]`
//!
//! For each size N, on synthetic clustered 384-d unit vectors (see [`Data`]):
//! 1. build: `VectorIndex::bulk_insert` with T threads (default: all cores), insert
//!    throughput in vectors/s (generation excluded), then `save`. The saved index is kept
//!    in `target/bench-data/vector-index-<N>/` and reused by later runs (the data are
//!    deterministic, so it matches regenerated queries); `--rebuild` forces a build;
//! 2. load: `VectorIndex::load_latest` (checksum included), median of 3, page cache warm;
//!    file size, `memory_bytes` and process RSS;
//! 3. search k=10, one thread in-process: p50/p99 over the held-out queries, and
//!    recall@10 against `exact_search` (brute force) over the first Q queries (all of
//!    them up to 200K vectors, 200 above, since exact search at 1M takes ~75 ms each).
//!    With expansion_search 64, then doubled (128, 256, 512) while recall@10 is below
//!    0.95; or the `--ef` list.
//!
//! Progress goes to stderr; results and a markdown summary to stdout.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;
use sutra::index::{normalize, IndexParams, VectorIndex, DIM};

/// Number of cluster centroids.
const CENTROIDS: usize = 2000;
/// Seed of every random stream.
const SEED: u64 = 0x5075_7472_a0c1_d3e5;
/// Vector `i` for `i < N` is key `i` of an N-vector index; query `j` is vector
/// `QUERY_BASE + j`, so never in any index.
const QUERY_BASE: u64 = 1 << 48;
/// Names the generator; change it whenever [`Data`] changes, so cached indexes rebuild.
const GENERATOR: &str = "clustered-v1";
const K: usize = 10;
/// Without `--ef`, expansion_search doubles from 64 while recall@10 < 0.95, up to this.
const MAX_AUTO_EF: usize = 512;

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Fills `out` with independent normal samples of standard deviation `sigma`
    /// (Box-Muller).
    fn gaussians(&mut self, out: &mut [f32], sigma: f64) {
        for pair in out.chunks_mut(2) {
            let r = (-2.0 * self.unit().ln()).sqrt() * sigma;
            let t = std::f64::consts::TAU * self.unit();
            pair[0] = (r * t.cos()) as f32;
            if let Some(second) = pair.get_mut(1) {
                *second = (r * t.sin()) as f32;
            }
        }
    }
}

/// The synthetic distribution: `CENTROIDS` centroids drawn uniformly on the unit sphere
/// (normalized standard normal vectors); vector `i` picks a centroid uniformly at random
/// and is `normalize(centroid + noise)`, noise ~ N(0, I/DIM), whose norm (~1) matches the
/// centroid's. So a vector has cosine ~0.71 with its centroid, ~0.5 with the other
/// vectors of its cluster and ~0 with the rest.
struct Data {
    centroids: Vec<f32>,
}

impl Data {
    fn new() -> Self {
        let mut rng = Rng(SEED ^ 0xC3A5_C85C_97CB_3127);
        let mut centroids = vec![0f32; CENTROIDS * DIM];
        for c in centroids.chunks_mut(DIM) {
            rng.gaussians(c, 1.0);
            normalize(c);
        }
        Data { centroids }
    }

    fn describe() -> String {
        format!(
            "clustered ({GENERATOR}): {CENTROIDS} centroids uniform on the unit sphere; each \
             vector = normalize(centroid + N(0, I/{DIM}) noise), noise norm ~1 = centroid norm, \
             centroid chosen uniformly (~N/{CENTROIDS} vectors per cluster); splitmix64 seed \
             {SEED:#x}"
        )
    }

    /// Vector number `i` into `out` (`DIM` long); returns its centroid.
    fn vector(&self, i: u64, out: &mut [f32]) -> usize {
        let mut rng = Rng(SEED ^ i.wrapping_mul(0xD1B5_4A32_D192_ED03));
        let c = (rng.next() % CENTROIDS as u64) as usize;
        rng.gaussians(out, 1.0 / (DIM as f64).sqrt());
        for (o, x) in out.iter_mut().zip(&self.centroids[c * DIM..(c + 1) * DIM]) {
            *o += x;
        }
        normalize(out);
        c
    }

    /// Vectors `first..first + out.len() / DIM`, generated on `threads` threads.
    fn fill(&self, first: u64, out: &mut [f32], threads: usize) {
        let per = out.len().div_ceil(DIM).div_ceil(threads.max(1)).max(1) * DIM;
        std::thread::scope(|s| {
            for (t, part) in out.chunks_mut(per).enumerate() {
                s.spawn(move || {
                    let base = first + (t * per / DIM) as u64;
                    for (j, v) in part.chunks_mut(DIM).enumerate() {
                        self.vector(base + j as u64, v);
                    }
                });
            }
        });
    }
}

struct Opts {
    sizes: Vec<usize>,
    queries: usize,
    threads: usize,
    ef: Option<Vec<usize>>,
    gt_queries: Option<usize>,
    rebuild: bool,
}

fn number(s: &str) -> usize {
    let s = s.replace('_', "");
    let (digits, scale) = match s.to_ascii_uppercase().chars().last() {
        Some('K') => (&s[..s.len() - 1], 1_000),
        Some('M') => (&s[..s.len() - 1], 1_000_000),
        _ => (&s[..], 1),
    };
    digits
        .parse::<usize>()
        .unwrap_or_else(|_| panic!("not a number: {s}"))
        * scale
}

fn list(s: &str) -> Vec<usize> {
    s.split(',').filter(|x| !x.is_empty()).map(number).collect()
}

const USAGE: &str = "cargo bench --bench vector_index -- [--sizes 100000,1000000] \
                     [--queries 1000] [--threads T] [--ef 64,128] [--gt-queries Q] [--rebuild]";

impl Opts {
    fn parse(args: &[String]) -> Opts {
        let mut o = Opts {
            sizes: vec![100_000, 1_000_000],
            queries: 1000,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            ef: None,
            gt_queries: None,
            rebuild: false,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = || {
                it.next()
                    .unwrap_or_else(|| panic!("{a} needs a value; usage: {USAGE}"))
                    .clone()
            };
            match a.as_str() {
                "--sizes" => o.sizes = list(&value()),
                "--queries" => o.queries = number(&value()).max(1),
                "--threads" => o.threads = number(&value()).max(1),
                "--ef" => o.ef = Some(list(&value())),
                "--gt-queries" => o.gt_queries = Some(number(&value())),
                "--rebuild" => o.rebuild = true,
                "--bench" => {} // passed by `cargo bench`
                other => panic!("unknown argument {other}; usage: {USAGE}"),
            }
        }
        o
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    pct(&v, 0.5)
}

fn mb(bytes: f64) -> f64 {
    bytes / 1e6
}

/// Resident set size of this process, bytes.
fn rss_bytes() -> f64 {
    common::rss_kib().map_or(f64::NAN, |kib| kib * 1024.0)
}

/// The 1-minute load average (other work on the machine skews the timings).
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// CPU time (user + system) used by this process so far, all threads, in seconds
/// (`/proc/self/stat` counts in clock ticks, 100 per second on Linux).
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the command name, which is in parentheses, start at field 3.
            let f: Vec<&str> = s.rsplit_once(')')?.1.split_whitespace().collect();
            let tick = |i: usize| f.get(i - 3)?.parse::<f64>().ok();
            Some((tick(14)? + tick(15)?) / 100.0)
        })
        .unwrap_or(f64::NAN)
}

fn index_file(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir).ok()?.flatten().find_map(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        (name.starts_with("vectors-") && name.ends_with(".usearch")).then(|| e.path())
    })
}

/// Reads `path` once so the timed loads find it in the page cache.
fn warm(path: &Path) {
    let mut f = std::fs::File::open(path).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    while f.read(&mut buf).unwrap() > 0 {}
}

fn meta_key(n: usize, p: IndexParams) -> String {
    format!(
        "generator={GENERATOR} n={n} connectivity={} expansion_add={} scalar=f16",
        p.connectivity, p.expansion_add
    )
}

/// Whether `dir` holds a complete index of the first `n` vectors of `data`: the meta file
/// written after a successful save names the same generator and parameters, the index
/// loads with `n` vectors, and three of them are found exactly. Returns the build line
/// of the meta file, or why the cache is unusable.
fn check_cache(dir: &Path, n: usize, data: &Data, p: IndexParams) -> Result<String, String> {
    let meta = std::fs::read_to_string(dir.join("bench-meta.txt"))
        .map_err(|_| "no cached index".to_string())?;
    let mut lines = meta.lines();
    if lines.next() != Some(meta_key(n, p).as_str()) {
        return Err("cached index made by another generator or parameters".into());
    }
    let ix = match VectorIndex::load_latest(dir, p) {
        Ok(Some((ix, _))) => ix,
        Ok(None) => return Err("cached index file missing".into()),
        Err(e) => return Err(format!("cached index unreadable: {e}")),
    };
    if ix.len() != n {
        return Err(format!("cached index holds {} vectors", ix.len()));
    }
    let mut v = vec![0f32; DIM];
    for i in [0, n / 2, n - 1] {
        data.vector(i as u64, &mut v);
        let hit = ix.exact_search(&v, 1).map_err(|e| e.to_string())?;
        if hit
            .first()
            .is_none_or(|h| h.key != i as u64 || h.similarity < 0.9999)
        {
            return Err(format!(
                "cached index does not hold vector {i} as generated"
            ));
        }
    }
    Ok(lines.next().unwrap_or("").to_string())
}

/// Builds the index of the first `n` vectors into `dir`; returns the insert throughput
/// for the summary (also kept in the cache's meta file).
fn build(dir: &Path, n: usize, data: &Data, p: IndexParams, threads: usize) -> String {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let started = Instant::now();
    let load_before = loadavg();
    let mut ix = VectorIndex::new(p).unwrap();
    let chunk = n.div_ceil(20).max(1);
    let mut buf = vec![0f32; chunk * DIM];
    let (mut insert_s, mut insert_cpu_s, mut gen_s) = (0.0, 0.0, 0.0);
    for start in (0..n).step_by(chunk) {
        let end = (start + chunk).min(n);
        let t = Instant::now();
        let vectors = &mut buf[..(end - start) * DIM];
        data.fill(start as u64, vectors, threads);
        let keys: Vec<u64> = (start as u64..end as u64).collect();
        gen_s += t.elapsed().as_secs_f64();
        let (t, cpu) = (Instant::now(), cpu_seconds());
        ix.bulk_insert(&keys, vectors, threads).unwrap();
        insert_s += t.elapsed().as_secs_f64();
        insert_cpu_s += cpu_seconds() - cpu;
        let elapsed = started.elapsed().as_secs_f64();
        eprintln!(
            "  build N={n}: {end}/{n} ({:.0}%), {:.0} vectors/s inserting ({:.1} cores busy), \
             {elapsed:.0} s elapsed, ETA {:.0} s, load average {}",
            100.0 * end as f64 / n as f64,
            end as f64 / insert_s,
            insert_cpu_s / insert_s,
            elapsed * (n - end) as f64 / end as f64,
            loadavg()
        );
    }
    assert_eq!(ix.len(), n);
    let t = Instant::now();
    let file = ix.save(dir, n as u64).unwrap();
    let save_s = t.elapsed().as_secs_f64();
    let (rate, cpu_rate) = (n as f64 / insert_s, n as f64 / insert_cpu_s);
    println!(
        "  built: {n} vectors inserted in {insert_s:.1} s with {threads} threads = {rate:.0} \
         vectors/s; {insert_cpu_s:.0} CPU-s = {cpu_rate:.0} vectors per CPU-second \
         ({:.2} cores busy; load average {load_before} before, {} after); generation \
         {gen_s:.1} s, not counted; saved {} in {save_s:.1} s",
        insert_cpu_s / insert_s,
        loadavg(),
        file.display()
    );
    let summary = format!("{rate:.0} ({threads} thr; {cpu_rate:.0} per CPU-s)");
    let meta = format!("{}\n{summary}\n", meta_key(n, p));
    std::fs::write(dir.join("bench-meta.txt"), meta).unwrap();
    summary
}

struct Row {
    n: usize,
    build: String,
    ef: usize,
    p50_ms: f64,
    p99_ms: f64,
    recall: f64,
    gt: usize,
    load_ms: f64,
    file_mb: f64,
    memory_mb: f64,
    rss_mb: f64,
}

fn run(n: usize, o: &Opts, data: &Data, queries: &[f32], root: &Path) -> Vec<Row> {
    println!("\n## N = {n}");
    let p = IndexParams::default();
    let dir = root.join(format!("vector-index-{n}"));
    let cached = if o.rebuild {
        Err("--rebuild given".to_string())
    } else {
        check_cache(&dir, n, data, p)
    };
    let build_cell = match cached {
        Ok(built) => {
            println!(
                "  reused the cached index in {} (its build, vectors/s: {built})",
                dir.display()
            );
            format!("reused (was {built})")
        }
        Err(why) => {
            println!("  building: {why}");
            build(&dir, n, data, p, o.threads)
        }
    };

    // Load: median of 3, page cache warm.
    let file = index_file(&dir).expect("saved index file");
    let file_mb = mb(std::fs::metadata(&file).unwrap().len() as f64);
    warm(&file);
    let mut loads = Vec::new();
    let mut loaded = None;
    for _ in 0..3 {
        drop(loaded.take());
        let t = Instant::now();
        let (ix, _) = VectorIndex::load_latest(&dir, p).unwrap().unwrap();
        loads.push(t.elapsed().as_secs_f64() * 1e3);
        loaded = Some(ix);
    }
    let ix = loaded.unwrap();
    assert_eq!(ix.len(), n);
    let load_ms = median(loads.clone());
    let memory_mb = mb(ix.memory_bytes() as f64);
    let rss_mb = mb(rss_bytes());
    println!(
        "  load_latest (checksum + usearch load, page cache warm): median of 3 {load_ms:.0} ms \
         (runs {:?} ms); file {file_mb:.0} MB; memory_bytes {memory_mb:.0} MB; process RSS \
         {rss_mb:.0} MB",
        loads.iter().map(|x| x.round()).collect::<Vec<_>>()
    );

    // Ground truth.
    let nq = queries.len() / DIM;
    let gt_n = o
        .gt_queries
        .unwrap_or(if n > 200_000 { 200 } else { nq })
        .clamp(1, nq);
    let t = Instant::now();
    let truth: Vec<Vec<u64>> = queries
        .chunks(DIM)
        .take(gt_n)
        .map(|q| {
            let hits = ix.exact_search(q, K).unwrap();
            hits.iter().map(|h| h.key).collect()
        })
        .collect();
    let exact_ms = t.elapsed().as_secs_f64() * 1e3 / gt_n as f64;
    let (mut top1, mut top10) = (0.0, 0.0);
    for q in queries.chunks(DIM).take(gt_n.min(50)) {
        let hits = ix.exact_search(q, K).unwrap();
        top1 += hits[0].similarity as f64;
        top10 += hits[K - 1].similarity as f64;
    }
    let sampled = gt_n.min(50) as f64;
    println!(
        "  ground truth: exact_search (brute force) for {gt_n} of {nq} queries, {exact_ms:.1} \
         ms/query; exact neighbours' cosine: 1st {:.3}, 10th {:.3} (mean of {sampled})",
        top1 / sampled,
        top10 / sampled
    );

    let mut efs = o.ef.clone().unwrap_or(vec![p.expansion_search]);
    let mut rows = Vec::new();
    let mut i = 0;
    while let Some(&ef) = efs.get(i) {
        i += 1;
        let reloaded;
        let index = if ef == p.expansion_search {
            &ix
        } else {
            let params = IndexParams {
                expansion_search: ef,
                ..p
            };
            reloaded = VectorIndex::load_latest(&dir, params).unwrap().unwrap().0;
            &reloaded
        };
        for q in queries.chunks(DIM).take(50) {
            index.search(q, K).unwrap();
        }
        let mut lat = Vec::with_capacity(nq);
        let mut found = Vec::with_capacity(gt_n);
        for (j, q) in queries.chunks(DIM).enumerate() {
            let t = Instant::now();
            let hits = index.search(q, K).unwrap();
            lat.push(t.elapsed().as_secs_f64() * 1e3);
            if j < gt_n {
                found.push(hits);
            }
        }
        lat.sort_by(|a, b| a.total_cmp(b));
        let recall = found
            .iter()
            .zip(&truth)
            .map(|(hits, t)| hits.iter().filter(|h| t.contains(&h.key)).count() as f64 / K as f64)
            .sum::<f64>()
            / gt_n as f64;
        let (p50_ms, p99_ms) = (pct(&lat, 0.5), pct(&lat, 0.99));
        println!(
            "  search k={K}, expansion_search {ef}, 1 thread: p50 {p50_ms:.3} ms, p99 \
             {p99_ms:.3} ms over {nq} queries; recall@{K} {recall:.4} over {gt_n} queries"
        );
        if o.ef.is_none() && recall < 0.95 && ef < MAX_AUTO_EF {
            println!(
                "  recall@{K} < 0.95: also measuring expansion_search {}",
                ef * 2
            );
            efs.push(ef * 2);
        }
        rows.push(Row {
            n,
            build: build_cell.clone(),
            ef,
            p50_ms,
            p99_ms,
            recall,
            gt: gt_n,
            load_ms,
            file_mb,
            memory_mb,
            rss_mb,
        });
    }
    rows
}

fn main() {
    let started = Instant::now();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = Opts::parse(&args);
    let given: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| *a != "--bench")
        .collect();
    let mut command = "cargo bench --bench vector_index".to_string();
    if !given.is_empty() {
        command = format!("{command} -- {}", given.join(" "));
    }
    let root = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
            PathBuf::from,
        )
        .join("bench-data");
    println!("# Vector index benchmark\n");
    println!("command: {command}");
    println!(
        "index: usearch {} HNSW, cosine, f32, {DIM}-d, IndexParams::default() {:?}",
        usearch::version(),
        IndexParams::default()
    );
    println!(
        "machine: {} cores, load average {} at start; usearch SIMD available: {}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        loadavg(),
        usearch::hardware_acceleration_available()
    );
    println!("data: {}", Data::describe());
    println!(
        "queries: {} held-out vectors from the same distribution (ids {QUERY_BASE} and up, \
         not in any index); cache: {}",
        o.queries,
        root.display()
    );
    let data = Data::new();
    let mut queries = vec![0f32; o.queries * DIM];
    data.fill(QUERY_BASE, &mut queries, o.threads);

    let mut rows = Vec::new();
    for &n in &o.sizes {
        rows.extend(run(n, &o, &data, &queries, &root));
    }

    let total = started.elapsed().as_secs_f64();
    println!("\n## Summary\n");
    println!(
        "command: `{command}` (total {total:.0} s; load average {} at the end)\n",
        loadavg()
    );
    println!(
        "| N | build vectors/s (wall; per CPU-s) | expansion_search | search p50 ms | search p99 ms | \
         recall@10 (queries) | load ms (median of 3) | file MB | memory_bytes MB | RSS MB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {:.3} | {:.3} | {:.4} ({}) | {:.0} | {:.0} | {:.0} | {:.0} |",
            r.n,
            r.build,
            r.ef,
            r.p50_ms,
            r.p99_ms,
            r.recall,
            r.gt,
            r.load_ms,
            r.file_mb,
            r.memory_mb,
            r.rss_mb
        );
    }
    println!(
        "\nData: {}. Search: single thread, in-process, k=10, {} queries; recall@10 against \
         exact_search (brute force) over the first Q of them (Q in parentheses). Load: \
         VectorIndex::load_latest incl. checksum, page cache warm. Build: insert throughput \
         via bulk_insert (vector generation excluded), per second of wall time and per \
         CPU-second (less sensitive to other load on the machine), or \"reused\" when the \
         cached index was loaded instead (with the figures of its build). MB = 10^6 bytes; RSS = whole process after the last load.",
        Data::describe(),
        o.queries
    );
}

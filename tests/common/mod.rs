//! Test harness: starts a real `sutra-node` process on port 0 with its own data
//! directory and speaks HTTP to it. Every node is killed when its handle drops.
#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub mod cluster;

/// A running node process.
pub struct Node {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Where its stderr goes.
    pub log: PathBuf,
}

/// The model directory prepared by `scripts/setup-model.py` (the README's test command
/// runs it first); `SUTRA_MODEL_DIR` overrides it.
pub fn model_dir() -> PathBuf {
    std::env::var_os("SUTRA_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("models/minilm"))
}

/// The repository's default topology.
pub fn default_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("cluster.toml")
}

/// Starts `sutra-node` and waits for its `http listening on` line; panics with its
/// stderr if it exits first.
pub fn start(data_dir: &Path) -> Node {
    try_start(data_dir, &[]).unwrap_or_else(|log| panic!("node failed to start:\n{log}"))
}

/// Like [`start`], but returns the node's stderr if it fails to start.
pub fn try_start(data_dir: &Path, extra: &[&str]) -> Result<Node, String> {
    try_start_with(&default_config(), data_dir, extra)
}

/// Starts a node from another topology file.
pub fn start_with(config: &Path, data_dir: &Path) -> Node {
    try_start_with(config, data_dir, &[])
        .unwrap_or_else(|log| panic!("node failed to start:\n{log}"))
}

/// Like [`start_with`], but returns the node's stderr if it fails to start.
pub fn try_start_with(config: &Path, data_dir: &Path, extra: &[&str]) -> Result<Node, String> {
    try_start_env(config, data_dir, extra, &[])
}

/// Free local ports (bound and released; the test's nodes take them right after).
pub fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    held.iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// The repository's `cluster.toml` with each `(from, to)` replaced, written to `dir`;
/// panics if the file lacks a `from` (the test would no longer test what it says).
pub fn config_with(dir: &Path, replace: &[(&str, &str)]) -> PathBuf {
    let mut text = std::fs::read_to_string(default_config()).unwrap();
    for (from, to) in replace {
        assert!(text.contains(from), "cluster.toml has no {from:?}");
        text = text.replace(from, to);
    }
    let path = dir.join("cluster.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Like [`try_start_with`], with more environment variables for the node (they win
/// over the harness's `SUTRA_LOG=info`).
pub fn try_start_env(
    config: &Path,
    data_dir: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Result<Node, String> {
    let log = data_dir.with_extension(format!(
        "stderr-{}.log",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let mut child = Command::new(env!("CARGO_BIN_EXE_sutra-node"))
        .arg("--config")
        .arg(config)
        .args([
            "--http",
            "127.0.0.1:0",
            "--enable-fault-injection",
            "--data-dir",
        ])
        .arg(data_dir)
        .args(extra)
        .env("SUTRA_LOG", "info")
        .env("SUTRA_MODEL_DIR", model_dir())
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("spawn sutra-node");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(line) => {
                if let Some(addr) = line.strip_prefix("http listening on ") {
                    return Ok(Node {
                        child: Some(child),
                        base: addr.trim().to_string(),
                        data_dir: data_dir.to_path_buf(),
                        log,
                    });
                }
            }
            Err(_) => {
                if let Ok(Some(_)) = child.try_wait() {
                    return Err(std::fs::read_to_string(&log).unwrap_or_default());
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    return Err(format!(
                        "no listening line within 60 s\n{}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    ));
                }
            }
        }
    }
}

/// A response: status and JSON body (Null if the body is not JSON).
pub type Resp = (u16, Value);

fn finish(r: Result<ureq::Response, ureq::Error>) -> Resp {
    match r {
        Ok(resp) => {
            let status = resp.status();
            (status, resp.into_json().unwrap_or(Value::Null))
        }
        Err(ureq::Error::Status(status, resp)) => (status, resp.into_json().unwrap_or(Value::Null)),
        Err(e) => (0, Value::String(e.to_string())),
    }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build()
}

impl Node {
    /// POST a JSON value.
    pub fn post(&self, path: &str, body: Value) -> Resp {
        finish(
            agent()
                .post(&format!("{}{path}", self.base))
                .send_json(body),
        )
    }
    /// Arms a fault point (`POST /v1/admin/faults`; the node runs with fault injection).
    pub fn fault(&self, fault: Value) {
        let (status, body) = self.post("/v1/admin/faults", fault.clone());
        assert_eq!(status, 200, "arming {fault}: {body}");
    }
    /// POST raw bytes.
    pub fn post_raw(&self, path: &str, body: &[u8]) -> Resp {
        finish(
            agent()
                .post(&format!("{}{path}", self.base))
                .set("content-type", "application/json")
                .send_bytes(body),
        )
    }
    /// GET.
    pub fn get(&self, path: &str) -> Resp {
        finish(agent().get(&format!("{}{path}", self.base)).call())
    }
    /// DELETE.
    pub fn delete(&self, path: &str) -> Resp {
        finish(agent().delete(&format!("{}{path}", self.base)).call())
    }
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }
    /// SIGKILL, and wait for the process to be gone.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
    /// SIGTERM, and wait for a clean exit; returns the exit status success.
    pub fn terminate(&mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return false;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = c.try_wait() {
                return status.success();
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    /// The node's stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
    /// Polls until `GET path` gives `status`, or panics after `secs`.
    pub fn wait_status(&self, path: &str, status: u16, secs: u64) -> Resp {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let r = self.get(path);
            if r.0 == status {
                return r;
            }
            if Instant::now() > deadline {
                panic!(
                    "GET {path} never gave {status}; last: {r:?}\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Node {
    /// Polls `GET /v1/events?{filters}` until a listed event satisfies `ok`; returns it
    /// (as listed: `concept_id`, `at`, `text`, `event`), or panics after `secs` with
    /// the last listing and the node's log.
    pub fn wait_event(&self, filters: &str, secs: u64, ok: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let (status, body) = self.get(&format!("/v1/events?limit=10000&{filters}"));
            if status == 200 {
                if let Some(e) = body["events"]
                    .as_array()
                    .and_then(|a| a.iter().find(|e| ok(e)))
                {
                    return e.clone();
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "no event matching {filters} within {secs} s; last: {status} {body}\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until a line of the node's log satisfies `ok`, or panics after `secs`.
    pub fn wait_log(&self, secs: u64, what: &str, ok: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !self.log_text().lines().any(&ok) {
            if Instant::now() > deadline {
                panic!("no log line {what} within {secs} s:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Node {
    /// Waits until the process exits by itself (an injected process crash); true if it
    /// did within `secs`.
    pub fn wait_exit(&mut self, secs: u64) -> bool {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let Some(child) = self.child.as_mut() else {
            return true;
        };
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                self.child = None;
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Concept names as the evaluation compares them: lower case, articles dropped.
pub fn norm_name(name: &str) -> String {
    let lower = name.to_lowercase();
    let words: Vec<&str> = lower
        .split_whitespace()
        .filter(|w| !matches!(*w, "a" | "an" | "the"))
        .collect();
    words.join(" ")
}

/// Deterministic randomness (splitmix64) for generated test data.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0);
        (self.next() % n as u64) as usize
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
    /// One element of `v`.
    pub fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
    /// Shuffles `v` in place (Fisher-Yates).
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

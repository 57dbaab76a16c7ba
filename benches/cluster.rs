//! Three `sutra-node` processes on loopback (issue 11): the cost of crossing nodes.
//!
//! `cargo bench --bench cluster`. Nodes n1..n3 (6 shards, 2 each; n1 runs the
//! coordinator; no embedders). Measures, through HTTP:
//! - `GET /v1/concepts/{id}` through n1 for concepts on n1's own shards vs on the other
//!   nodes' shards (the difference is the cross-node call);
//! - a two-statement learn through n2 whose shards live on different nodes (a 2PC run
//!   by n1's coordinator, durable on every participant) vs the same through n1;
//! - learn throughput, batches of 500, 4 clients all on n1 vs spread over n1..n3;
//! - `POST /v1/reason` through n1 for 1..6-hop is-a questions whose every hop crosses
//!   to another node (the reasoner fetches the other nodes' parts by message);
//! - rejoin time: n3 killed with SIGKILL and restarted, from the restart to its
//!   `http listening` line and to n1 serving a concept of n3's shards again
//!   (`SUTRA_REJOINS`, default 10, restarts).

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    held.iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

fn spawn(config: &Path, name: &str, log: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sutra-node"))
        .args(["--config"])
        .arg(config)
        .args(["--node", name])
        .env("SUTRA_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().expect("node exited").unwrap();
        if let Some(addr) = line.strip_prefix("http listening on ") {
            break addr.to_string();
        }
    };
    (child, base)
}

fn post(agent: &ureq::Agent, url: &str, body: &Value) -> (u16, Value) {
    match agent.post(url).send_json(body) {
        Ok(r) => (r.status(), r.into_json().unwrap_or(Value::Null)),
        Err(ureq::Error::Status(s, r)) => (s, r.into_json().unwrap_or(Value::Null)),
        Err(e) => panic!("{e}"),
    }
}

fn learn(agent: &ureq::Agent, base: &str, contents: Vec<String>) -> Value {
    let body = json!({"contents": contents, "options": {"generate_embedding": false}});
    let (status, v) = post(agent, &format!("{base}/v1/learn/batch"), &body);
    assert_eq!(status, 200, "{v}");
    v
}

/// [`learn`] the way a client under admission control does: a 503 (the node is full)
/// is retried after a short pause. Returns how many times it was refused.
fn learn_retrying(agent: &ureq::Agent, base: &str, contents: Vec<String>) -> usize {
    let body = json!({"contents": contents, "options": {"generate_embedding": false}});
    let mut refused = 0;
    loop {
        match post(agent, &format!("{base}/v1/learn/batch"), &body) {
            (200, _) => return refused,
            (503, _) => {
                refused += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            (status, v) => panic!("{status} {v}"),
        }
    }
}

fn pcts(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let at = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    (at(0.5), at(0.99))
}

fn shard_of(id: &str, shards: u64) -> u64 {
    // The same placement the engine uses: ConceptId's shard.
    let id = u64::from_str_radix(id, 16).unwrap();
    sutra::graph::ConceptId(id).shard(shards as u32) as u64
}

fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let ports = free_ports(6);
    let mut text = String::from("[cluster]\nname = \"b\"\ncookie = \"c\"\nshards = 6\n");
    for i in 0..3 {
        let roles = if i == 0 {
            "[\"master\", \"storage\", \"ingress\"]"
        } else {
            "[\"storage\", \"ingress\"]"
        };
        text += &format!(
            "\n[[nodes]]\nname = \"n{}\"\ncluster_addr = \"127.0.0.1:{}\"\nhttp_addr = \"127.0.0.1:{}\"\ndata_dir = \"d{}\"\nroles = {roles}\nshards = [{}, {}]\nembedder_replicas = 0\n",
            i + 1, ports[2 * i], ports[2 * i + 1], i + 1, i, i + 3
        );
    }
    let config = tmp.path().join("cluster.toml");
    std::fs::write(&config, text).unwrap();
    let mut nodes: Vec<(Child, String)> = (1..=3)
        .map(|i| {
            spawn(
                &config,
                &format!("n{i}"),
                &tmp.path().join(format!("n{i}.log")),
            )
        })
        .collect();
    let bases: Vec<String> = nodes.iter().map(|n| n.1.clone()).collect();
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(60))
        .build();
    // Wait until the mesh carries a write spanning every node.
    let deadline = Instant::now() + Duration::from_secs(60);
    let seed: Vec<String> = (0..60)
        .map(|i| format!("Valve s{i} is part of Pump s{}.", i % 7))
        .collect();
    let learned = loop {
        let body = json!({"contents": seed, "options": {"generate_embedding": false, "read_your_writes": true}});
        let (status, v) = post(&agent, &format!("{}/v1/learn/batch", bases[1]), &body);
        if status == 200 {
            break v;
        }
        assert!(Instant::now() < deadline, "cluster never formed: {v}");
        std::thread::sleep(Duration::from_millis(100));
    };

    // Reads: local vs remote shards, through n1 (owner of shards 0 and 3).
    let ids: Vec<String> = learned["associations"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| {
            [
                a["source"].as_str().unwrap().to_string(),
                a["target"].as_str().unwrap().to_string(),
            ]
        })
        .collect();
    let (mut local, mut remote) = (Vec::new(), Vec::new());
    for round in 0..20 {
        for id in &ids {
            let started = Instant::now();
            let r = agent
                .get(&format!("{}/v1/concepts/{id}", bases[0]))
                .call()
                .unwrap();
            assert_eq!(r.status(), 200);
            let ms = started.elapsed().as_secs_f64() * 1e3;
            if round > 0 {
                match shard_of(id, 6) % 3 {
                    0 => local.push(ms),
                    _ => remote.push(ms),
                }
            }
        }
    }
    let (l50, l99) = pcts(local);
    let (r50, r99) = pcts(remote);

    // Questions whose paths cross nodes: a chain of is-a links whose every hop moves to
    // the next node (n1 -> n2 -> n3 -> n1 ...), asked through n1 for 1..6 hops.
    let node_of = |name: &str| {
        let key = sutra::learn::normalize::entity_key(name);
        let id = sutra::graph::ConceptId::derive(sutra::graph::ConceptKind::Entity, &key);
        id.shard(6) % 3
    };
    let mut chain: Vec<String> = Vec::new();
    let mut k = 0;
    while chain.len() < 7 {
        let name = format!("Stage {k}");
        if node_of(&name) == (chain.len() % 3) as u32 {
            chain.push(name);
        }
        k += 1;
    }
    for pair in chain.windows(2) {
        let body = json!({"source": pair[0], "target": pair[1], "type": "is_a", "confidence": 0.9});
        let (status, v) = post(&agent, &format!("{}/v1/associations", bases[0]), &body);
        assert_eq!(status, 200, "{v}");
    }
    let mut reason_ms = Vec::new();
    for hops in 1..=6 {
        let body = json!({"query": format!("Is {} a {}?", chain[0], chain[hops])});
        let url = format!("{}/v1/reason", bases[0]);
        let mut v = Vec::new();
        for i in 0..220 {
            let started = Instant::now();
            let (status, answer) = post(&agent, &url, &body);
            let ms = started.elapsed().as_secs_f64() * 1e3;
            assert_eq!(status, 200, "{answer}");
            assert_eq!(answer["verdict"], "yes", "{answer}");
            assert_eq!(
                answer["paths"][0]["edges"].as_array().map(Vec::len),
                Some(hops)
            );
            if i >= 20 {
                v.push(ms);
            }
        }
        reason_ms.push(pcts(v));
    }

    // Two statements on different nodes: a 2PC through n2 (coordinator on n1) vs n1.
    let two_pc = |base: &str, tag: &str| {
        let mut v = Vec::new();
        for i in 0..300 {
            let started = Instant::now();
            learn(
                &agent,
                base,
                vec![
                    format!("Gear {tag}{i} is part of Box {tag}{i}."),
                    format!("Cog {tag}{i} is part of Crate {tag}{i}."),
                ],
            );
            if i >= 20 {
                v.push(started.elapsed().as_secs_f64() * 1e3);
            }
        }
        pcts(v)
    };
    let (n1_50, n1_99) = two_pc(&bases[0], "a");
    let (n2_50, n2_99) = two_pc(&bases[1], "b");

    // Throughput: 4 clients × 6 batches of 500, all through n1 vs spread over 3 nodes.
    let refusals = std::sync::atomic::AtomicUsize::new(0);
    let throughput = |spread: bool, tag: &str| {
        let started = Instant::now();
        let refusals = &refusals;
        std::thread::scope(|s| {
            for c in 0..4 {
                let base = if spread {
                    bases[c % 3].clone()
                } else {
                    bases[0].clone()
                };
                let agent = agent.clone();
                s.spawn(move || {
                    for b in 0..6 {
                        let batch = (0..500)
                            .map(|i| {
                                format!(
                                    "Part {tag}c{c}b{b}n{i} is part of Unit {tag}c{c}b{b}u{}.",
                                    i % 50
                                )
                            })
                            .collect();
                        refusals.fetch_add(
                            learn_retrying(&agent, &base, batch),
                            std::sync::atomic::Ordering::Relaxed,
                        );
                    }
                });
            }
        });
        (4 * 6 * 500) as f64 / started.elapsed().as_secs_f64()
    };
    let one = throughput(false, "one");
    let three = throughput(true, "three");

    // Rejoin: kill -9 n3, restart it, and time until n1 serves its shards again.
    let on_n3 = ids
        .iter()
        .find(|id| shard_of(id, 6) % 3 == 2)
        .expect("a concept on n3")
        .clone();
    let rejoins: usize = std::env::var("SUTRA_REJOINS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10);
    let (mut listening, mut serving) = (Vec::new(), Vec::new());
    let poll = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(5))
        .build();
    let served = |id: &str| {
        poll.get(&format!("{}/v1/concepts/{id}", bases[0]))
            .call()
            .is_ok_and(|r| r.status() == 200)
    };
    for r in 0..rejoins {
        let _ = nodes[2].0.kill();
        let _ = nodes[2].0.wait();
        // Until n1 has noticed (the session closes at once on loopback).
        while served(&on_n3) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let started = Instant::now();
        nodes[2] = spawn(&config, "n3", &tmp.path().join(format!("n3-{r}.log")));
        listening.push(started.elapsed().as_secs_f64() * 1e3);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !served(&on_n3) {
            assert!(Instant::now() < deadline, "n3 never served again");
            std::thread::sleep(Duration::from_millis(2));
        }
        serving.push(started.elapsed().as_secs_f64() * 1e3);
    }
    let (listen50, _) = pcts(listening.clone());
    let (serve50, _) = pcts(serving.clone());
    let serve_max = serving.iter().cloned().fold(0.0, f64::max);
    let listen_max = listening.iter().cloned().fold(0.0, f64::max);

    println!("## cluster bench: 3 nodes on loopback, 6 shards, no embedders");
    println!("GET /v1/concepts through n1, own shards:    p50 {l50:.3} ms, p99 {l99:.3} ms");
    println!("GET /v1/concepts through n1, other nodes':  p50 {r50:.3} ms, p99 {r99:.3} ms (cross-node call adds ~{:.3} ms at p50)", r50 - l50);
    for (i, (p50, p99)) in reason_ms.iter().enumerate() {
        println!(
            "POST /v1/reason through n1, {}-hop path crossing nodes: p50 {p50:.3} ms, p99 {p99:.3} ms",
            i + 1
        );
    }
    println!("2-statement learn (2PC) through n1 (coordinator local): p50 {n1_50:.2} ms, p99 {n1_99:.2} ms");
    println!("2-statement learn (2PC) through n2 (coordinator on n1): p50 {n2_50:.2} ms, p99 {n2_99:.2} ms");
    println!("learn throughput, 4 clients x batches of 500 (a 503 from admission control retried after 100 ms; {} such refusals in all): all on n1 {one:.0} statements/s; spread over 3 nodes {three:.0} statements/s ({:.2}x)", refusals.load(std::sync::atomic::Ordering::Relaxed), three / one);
    println!("rejoin, {rejoins} kill -9/restarts of n3: restart to `http listening` median {listen50:.1} ms (max {listen_max:.1}); restart to n1 serving n3's shard again median {serve50:.1} ms (max {serve_max:.1})");
    for (child, _) in &mut nodes {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
    }
    for (child, _) in &mut nodes {
        let _ = child.wait();
    }
}

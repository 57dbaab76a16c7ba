//! `sutra-shell`: an operator's shell attached to a running Sutra cluster as a cluster
//! peer (like Erlang's remote shell), given any node's cluster address and the cookie.
//!
//! It joins over ractor_cluster with the cookie, finds the node's gateway, and sends
//! every command as a relayed API request through that node, which forwards it to the
//! node that must run it (`kill shard-2` reaches the node that owns shard-2). Nothing
//! goes over HTTP, so the shell works with the cluster port alone.
//!
//! ```text
//! sutra-shell --config cluster.toml [--node NAME]     # attach to NAME (default: first node)
//! sutra-shell --connect HOST:PORT --cookie C           # or SUTRA_CONNECT / SUTRA_COOKIE
//! sutra-shell ... -c "tree"                            # one command, exit 0 or 1
//! echo nodes | sutra-shell ... --json                  # commands from stdin
//! ```

use clap::Parser;
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};
use serde_json::{json, Value};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use sutra::cluster::{WireCall, WireReply, RELAY_TIMEOUT};

/// Attaches to a Sutra cluster.
#[derive(Parser, Debug)]
#[command(name = "sutra-shell", version, about)]
struct Args {
    /// Cluster topology file: gives the cookie and the node's cluster address.
    #[arg(long)]
    config: Option<PathBuf>,
    /// With --config: the node to attach to (default: the first node of the file).
    #[arg(long)]
    node: Option<String>,
    /// A node's cluster address, HOST:PORT (or SUTRA_CONNECT).
    #[arg(long, env = "SUTRA_CONNECT")]
    connect: Option<String>,
    /// The cluster cookie (or SUTRA_COOKIE).
    #[arg(long, env = "SUTRA_COOKIE", hide_env_values = true)]
    cookie: Option<String>,
    /// Run one command and exit: 0 if it succeeded, 1 if not.
    #[arg(short = 'c', long = "command")]
    command: Option<String>,
    /// Print machine-readable JSON instead of tables.
    #[arg(long)]
    json: bool,
}

/// The commands, for `help` and completion.
const COMMANDS: &[(&str, &str)] = &[
    (
        "tree",
        "tree [NODE]          every node's live supervision tree (or one node's)",
    ),
    (
        "nodes",
        "nodes                every node: state, incarnation, addresses, roles, heartbeat age",
    ),
    (
        "shards",
        "shards               every shard: node, state, log position",
    ),
    (
        "stats",
        "stats [ACTOR]        the cluster's stats, or one actor's",
    ),
    (
        "kill",
        "kill [NODE/]ACTOR    kill an actor; its supervisor restarts it (see tree)",
    ),
    (
        "restart",
        "restart shard-N      the grid master orders the shard's node to restart it",
    ),
    (
        "stop",
        "stop shard-N         the grid master orders the shard's node to stop it (held until start)",
    ),
    (
        "start",
        "start shard-N        the grid master orders the shard's node to start a stopped shard",
    ),
    (
        "events",
        "events [--since 10m] [--kind T] [--actor A] [--limit N] [--follow]\n                       self-monitoring events, oldest first (--follow: keep printing new ones)",
    ),
    ("learn", "learn TEXT           learn a statement"),
    (
        "ask",
        "ask QUESTION         answer a question with its paths and sources",
    ),
    (
        "search",
        "search TEXT          similar statements and concepts",
    ),
    ("help", "help                 this list"),
    (
        "exit",
        "exit                 leave the shell (also quit, Ctrl-D)",
    ),
];

/// Percent-encodes a query value (RFC 3339 times carry `+` and `:`).
fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A command failed; the message says why and what to do.
struct Failed(String);

/// The attached shell.
struct Shell {
    runtime: tokio::runtime::Runtime,
    /// The node it attached to.
    node: String,
    json: bool,
    /// Actor names seen in the last tree, for completion.
    actors: Arc<Mutex<Vec<String>>>,
}

impl Shell {
    /// Runs one API request on `node` (through the attached node).
    fn api(
        &self,
        node: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Failed> {
        let http = WireCall::Http {
            method: method.into(),
            path: path.into(),
            body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
        };
        let call = match node {
            Some(n) if n != self.node => WireCall::Relay {
                node: n.into(),
                call: Box::new(http),
            },
            _ => http,
        };
        let reply = self
            .runtime
            .block_on(sutra::cluster::call(
                &self.node,
                &call,
                RELAY_TIMEOUT + Duration::from_secs(5),
            ))
            .map_err(|e| Failed(format!("{e}")))?;
        let WireReply::Http { status, body } = reply else {
            return Err(Failed(format!("unexpected answer {reply:?}")));
        };
        let value: Value =
            serde_json::from_slice(&body).unwrap_or_else(|_| json!(String::from_utf8_lossy(&body)));
        if (200..300).contains(&status) {
            Ok(value)
        } else {
            let message = value["error"]["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| value.to_string());
            Err(Failed(format!("{status}: {message}")))
        }
    }

    fn cluster(&self) -> Result<Value, Failed> {
        let view = self.api(None, "GET", "/v1/cluster", None)?;
        let mut names = Vec::new();
        for n in view["nodes"].as_array().into_iter().flatten() {
            for a in n["actors"].as_array().into_iter().flatten() {
                if let Some(name) = a["name"].as_str() {
                    names.push(name.to_string());
                }
            }
        }
        names.sort();
        names.dedup();
        *self.actors.lock().unwrap_or_else(|e| e.into_inner()) = names;
        Ok(view)
    }

    /// `events [--since D] [--kind T] [--actor A] [--node N] [--limit N] [--follow]`:
    /// lists `GET /v1/events` oldest first; `--follow` keeps polling for new ones.
    fn events(&self, args: &str, out: &mut impl Write) -> Result<(), Failed> {
        let mut params: Vec<(String, String)> = Vec::new();
        let mut follow = false;
        let mut words = args.split_whitespace();
        while let Some(w) = words.next() {
            let key = match w {
                "--follow" | "-f" => {
                    follow = true;
                    continue;
                }
                "--since" => "since",
                "--kind" => "kind",
                "--actor" => "actor",
                "--node" => "node",
                "--limit" => "limit",
                other => {
                    return Err(Failed(format!(
                        "events: unknown option {other:?}; use --since 10m, --kind ActorCrashed, --actor shard-2, --node n1, --limit 50, --follow"
                    )))
                }
            };
            let value = words
                .next()
                .ok_or_else(|| Failed(format!("events: {w} needs a value")))?;
            params.push((key.into(), value.into()));
        }
        let query = |extra: &[(String, String)]| {
            let all: Vec<String> = params
                .iter()
                .filter(|(k, _)| !(k == "since" && extra.iter().any(|(e, _)| e == "since")))
                .chain(extra)
                .map(|(k, v)| format!("{k}={}", encode(v)))
                .collect();
            if all.is_empty() {
                "/v1/events".to_string()
            } else {
                format!("/v1/events?{}", all.join("&"))
            }
        };
        let mut seen = std::collections::HashSet::new();
        let mut since: Option<String> = None;
        loop {
            let extra: Vec<(String, String)> = since
                .iter()
                .map(|s| ("since".to_string(), s.clone()))
                .collect();
            let listed = self.api(None, "GET", &query(&extra), None)?;
            let mut events: Vec<&Value> =
                listed["events"].as_array().into_iter().flatten().collect();
            events.reverse();
            for e in events {
                let id = text(&e["event"]["id"]);
                if !seen.insert(id) {
                    continue;
                }
                if self.json {
                    let _ = writeln!(out, "{e}");
                } else {
                    let _ = writeln!(out, "{}", text(&e["text"]));
                }
                if let Some(at) = e["at"].as_str() {
                    since = Some(at.to_string());
                }
            }
            let _ = out.flush();
            if !follow {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    }

    /// Runs one command line; prints its output.
    fn run(&self, line: &str) -> Result<(), Failed> {
        let line = line.trim();
        let (cmd, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let rest = rest.trim();
        let out = &mut std::io::stdout().lock();
        match cmd {
            "" => Ok(()),
            "help" | "?" => {
                for (_, h) in COMMANDS {
                    let _ = writeln!(out, "{h}");
                }
                Ok(())
            }
            "nodes" => {
                let view = self.cluster()?;
                let nodes: Vec<Value> = view["nodes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|n| {
                        let mut n = n.clone();
                        if let Some(o) = n.as_object_mut() {
                            o.remove("actors");
                        }
                        n
                    })
                    .collect();
                if self.json {
                    let _ = writeln!(out, "{}", json!(nodes));
                } else {
                    let _ = writeln!(
                        out,
                        "{:<12} {:<10} {:<15} {:<22} {:<22} {:<26} {:>9} {:>6}",
                        "NODE",
                        "STATE",
                        "INCARNATION",
                        "CLUSTER",
                        "HTTP",
                        "ROLES",
                        "HB AGE",
                        "SHARDS"
                    );
                    for n in &nodes {
                        let roles: Vec<&str> = n["roles"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str)
                            .collect();
                        let _ = writeln!(
                            out,
                            "{:<12} {:<10} {:<15} {:<22} {:<22} {:<26} {:>9} {:>6}",
                            text(&n["name"]),
                            text(&n["state"]),
                            text(&n["incarnation"]),
                            text(&n["cluster_addr"]),
                            text(&n["http_addr"]),
                            roles.join(","),
                            n["last_heartbeat_age_ms"]
                                .as_u64()
                                .map_or("-".into(), |a| format!("{a} ms")),
                            n["shards"].as_array().map_or(0, Vec::len),
                        );
                    }
                }
                Ok(())
            }
            "shards" => {
                let view = self.cluster()?;
                let mut rows = Vec::new();
                for n in view["nodes"].as_array().into_iter().flatten() {
                    for s in n["shards"].as_array().into_iter().flatten() {
                        rows.push(json!({"node": n["name"], "node_state": n["state"], "shard": s["shard"], "state": s["state"], "log_position": s["log_position"], "detail": s["detail"]}));
                    }
                }
                rows.sort_by_key(|r| r["shard"].as_u64());
                if self.json {
                    let _ = writeln!(out, "{}", json!(rows));
                } else {
                    let _ = writeln!(
                        out,
                        "{:>5} {:<12} {:<12} {:>12}  DETAIL",
                        "SHARD", "NODE", "STATE", "LOG POS"
                    );
                    for r in rows {
                        let _ = writeln!(
                            out,
                            "{:>5} {:<12} {:<12} {:>12}  {}",
                            text(&r["shard"]),
                            text(&r["node"]),
                            text(&r["state"]),
                            text(&r["log_position"]),
                            r["detail"].as_str().unwrap_or("")
                        );
                    }
                }
                Ok(())
            }
            "tree" => {
                let view = self.cluster()?;
                let nodes: Vec<&Value> = view["nodes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|n| rest.is_empty() || n["name"] == rest)
                    .collect();
                if nodes.is_empty() {
                    return Err(Failed(format!("no node named {rest}; `nodes` lists them")));
                }
                if self.json {
                    let trees: Vec<Value> = nodes.iter().map(|n| json!({"node": n["name"], "state": n["state"], "actors": n["actors"], "error": n["actors_error"]})).collect();
                    let _ = writeln!(out, "{}", json!(trees));
                    return Ok(());
                }
                for n in nodes {
                    let _ = writeln!(out, "{} ({})", text(&n["name"]), text(&n["state"]));
                    let Some(actors) = n["actors"].as_array() else {
                        let _ = writeln!(out, "  (no tree: {})", text(&n["actors_error"]));
                        continue;
                    };
                    let _ = writeln!(
                        out,
                        "  {:<34} {:<18} {:<10} {:>7} {:>8} {:>10}",
                        "ACTOR", "KIND", "STATE", "MAILBOX", "RESTARTS", "UPTIME"
                    );
                    for a in actors {
                        let depth = depth_of(actors, a);
                        let label = format!("{}{}", "  ".repeat(depth), text(&a["name"]));
                        let _ = writeln!(
                            out,
                            "  {:<34} {:<18} {:<10} {:>7} {:>8} {:>10}",
                            label,
                            text(&a["kind"]),
                            text(&a["state"]),
                            a["mailbox_len"]
                                .as_u64()
                                .map_or("-".into(), |m| m.to_string()),
                            text(&a["restarts"]),
                            a["uptime_ms"].as_u64().map_or("-".into(), uptime),
                        );
                    }
                }
                Ok(())
            }
            "stats" => {
                if rest.is_empty() {
                    let stats = self.api(None, "GET", "/v1/stats", None)?;
                    let _ = writeln!(out, "{}", pretty(&stats, self.json));
                    return Ok(());
                }
                let view = self.cluster()?;
                let (node, actor) = find_actor(&view, rest, &self.node)?;
                let mut info = actor.clone();
                if let Some(shard) = rest
                    .rsplit('/')
                    .next()
                    .and_then(|a| a.strip_prefix("shard-"))
                    .and_then(|s| s.parse::<usize>().ok())
                {
                    let stats = self.api(None, "GET", "/v1/stats", None)?;
                    if let Some(s) = stats["shards"].get(shard) {
                        info["shard_stats"] = s.clone();
                    }
                }
                info["node"] = json!(node);
                let _ = writeln!(out, "{}", pretty(&info, self.json));
                Ok(())
            }
            "kill" => {
                if rest.is_empty() {
                    return Err(Failed(
                        "kill needs an actor: kill ACTOR or kill NODE/ACTOR (`tree` lists them)"
                            .into(),
                    ));
                }
                let view = self.cluster()?;
                let (node, actor) = find_actor(&view, rest, &self.node)?;
                let name = text(&actor["name"]);
                let answer = self.api(
                    Some(&node),
                    "POST",
                    &format!("/v1/admin/actors/{name}/kill"),
                    Some(json!({})),
                )?;
                if self.json {
                    let _ = writeln!(out, "{}", json!({"node": node, "killed": answer["killed"]}));
                } else {
                    let _ = writeln!(out, "killed {name} on {node}; its supervisor restarts it (`tree {node}` shows the restart)");
                }
                Ok(())
            }
            "restart" | "stop" | "start" => {
                let shard = rest
                    .rsplit('/')
                    .next()
                    .and_then(|a| a.strip_prefix("shard-"))
                    .and_then(|n| n.parse::<u32>().ok())
                    .ok_or_else(|| {
                        Failed(format!("{cmd} needs a shard: {cmd} shard-N (got {rest:?})"))
                    })?;
                let answer = self.api(
                    None,
                    "POST",
                    &format!("/v1/cluster/shards/{shard}/{cmd}"),
                    Some(json!({})),
                )?;
                let done = match cmd {
                    "restart" => "restarted",
                    "stop" => "stopped",
                    _ => "started",
                };
                if self.json {
                    let _ = writeln!(out, "{answer}");
                } else {
                    let _ = writeln!(
                        out,
                        "the grid master ordered {} to {cmd} {}",
                        text(&answer["node"]),
                        text(&answer[done])
                    );
                }
                Ok(())
            }
            "learn" | "ask" | "search" if rest.is_empty() => {
                Err(Failed(format!("{cmd} needs text: {cmd} TEXT")))
            }
            "events" => self.events(rest, out),
            "learn" => {
                let answer = self.api(None, "POST", "/v1/learn", Some(json!({"content": rest})))?;
                let _ = writeln!(out, "{}", pretty(&answer, self.json));
                Ok(())
            }
            "search" => {
                let answer = self.api(None, "POST", "/v1/search", Some(json!({"query": rest})))?;
                if self.json {
                    let _ = writeln!(out, "{answer}");
                } else {
                    for r in answer["results"].as_array().into_iter().flatten() {
                        let score = r["score"]
                            .as_f64()
                            .or(r["similarity"].as_f64())
                            .unwrap_or(0.0);
                        let what = r["content"]
                            .as_str()
                            .or(r["name"].as_str())
                            .unwrap_or_default();
                        let _ = writeln!(out, "{score:.3}  {what}  ({})", text(&r["concept_id"]));
                    }
                }
                Ok(())
            }
            "ask" => {
                let answer = self.api(None, "POST", "/v1/reason", Some(json!({"query": rest})))?;
                if self.json {
                    let _ = writeln!(out, "{answer}");
                    return Ok(());
                }
                let _ = writeln!(
                    out,
                    "{} ({}, confidence {:.2})",
                    text(&answer["answer"]),
                    text(&answer["verdict"]),
                    answer["confidence"].as_f64().unwrap_or(0.0)
                );
                for (i, p) in answer["paths"].as_array().into_iter().flatten().enumerate() {
                    let concepts: Vec<String> = p["concepts"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|c| text(&c["name"]))
                        .collect();
                    let edges: Vec<String> = p["edges"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|e| text(&e["type"]))
                        .collect();
                    let mut hops = String::new();
                    for (j, c) in concepts.iter().enumerate() {
                        if j > 0 {
                            hops +=
                                &format!(" -{}-> ", edges.get(j - 1).cloned().unwrap_or_default());
                        }
                        hops += c;
                    }
                    let _ = writeln!(
                        out,
                        "  path {} ({:.2}): {hops}",
                        i + 1,
                        p["confidence"].as_f64().unwrap_or(0.0)
                    );
                    for e in p["edges"].as_array().into_iter().flatten() {
                        for s in e["sources"].as_array().into_iter().flatten() {
                            let from = s["source"]
                                .as_str()
                                .map_or(String::new(), |f| format!(", from {f}"));
                            let _ = writeln!(
                                out,
                                "    source: {:?} (learned {}{from})",
                                text(&s["text"]),
                                text(&s["learned_at"])
                            );
                        }
                    }
                }
                Ok(())
            }
            other => Err(Failed(format!(
                "unknown command {other:?}; `help` lists the commands"
            ))),
        }
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn pretty(v: &Value, compact: bool) -> String {
    if compact {
        v.to_string()
    } else {
        serde_json::to_string_pretty(v).unwrap_or_default()
    }
}

fn uptime(ms: u64) -> String {
    match ms {
        0..=59_999 => format!("{:.1}s", ms as f64 / 1000.0),
        60_000..=3_599_999 => format!("{}m{}s", ms / 60_000, ms / 1000 % 60),
        _ => format!("{}h{}m", ms / 3_600_000, ms / 60_000 % 60),
    }
}

/// How deep `a` sits in `actors` (parents listed before children).
fn depth_of(actors: &[Value], a: &Value) -> usize {
    let mut depth = 0;
    let mut parent = a["parent"].as_str().map(str::to_string);
    while let Some(p) = parent {
        depth += 1;
        if depth > 32 {
            break;
        }
        parent = actors
            .iter()
            .find(|x| x["name"] == p.as_str())
            .and_then(|x| x["parent"].as_str().map(str::to_string));
    }
    depth
}

/// The node and entry of an actor named `NAME` or `NODE/NAME`. A name on several nodes
/// (every node has a learner) means the attached node's, unless a node is given.
fn find_actor(view: &Value, spec: &str, attached: &str) -> Result<(String, Value), Failed> {
    let (node, name) = match spec.split_once('/') {
        Some((n, a)) => (Some(n), a),
        None => (None, spec),
    };
    let mut found = Vec::new();
    for n in view["nodes"].as_array().into_iter().flatten() {
        let nname = text(&n["name"]);
        if node.is_some_and(|want| want != nname) {
            continue;
        }
        for a in n["actors"].as_array().into_iter().flatten() {
            if a["name"] == name {
                found.push((nname.clone(), a.clone()));
            }
        }
    }
    match found.len() {
        0 => Err(Failed(format!(
            "no actor named {spec} on {}; `tree` lists the actors",
            node.unwrap_or("any reachable node")
        ))),
        1 => Ok(found.remove(0)),
        _ => found
            .iter()
            .position(|(n, _)| n == attached)
            .map(|i| found.remove(i))
            .ok_or_else(|| {
                let nodes: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
                Failed(format!(
                    "{name} runs on {}; say which: {}/{name}",
                    nodes.join(", "),
                    nodes[0]
                ))
            }),
    }
}

/// Completion of commands and actor names.
struct Complete {
    actors: Arc<Mutex<Vec<String>>>,
}

impl Completer for Complete {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let head = &line[..pos];
        let start = head.rfind(char::is_whitespace).map_or(0, |i| i + 1);
        let word = &head[start..];
        let pair = |s: &str| Pair {
            display: s.to_string(),
            replacement: s.to_string(),
        };
        let candidates: Vec<Pair> = if start == 0 {
            COMMANDS
                .iter()
                .map(|(c, _)| *c)
                .filter(|c| c.starts_with(word))
                .map(pair)
                .collect()
        } else {
            let cmd = head.split_whitespace().next().unwrap_or_default();
            if matches!(
                cmd,
                "kill" | "stats" | "tree" | "restart" | "stop" | "start"
            ) {
                self.actors
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .iter()
                    .filter(|a| a.starts_with(word))
                    .map(|a| pair(a))
                    .collect()
            } else {
                Vec::new()
            }
        };
        Ok((start, candidates))
    }
}

impl Hinter for Complete {
    type Hint = String;
}
impl Highlighter for Complete {}
impl Validator for Complete {}
impl Helper for Complete {}

/// Where to attach and with which cookie, from the flags, the environment or the file.
fn target(args: &Args) -> Result<(String, String), String> {
    if let Some(path) = &args.config {
        let cfg = sutra::config::ClusterConfig::load(path).map_err(|e| e.to_string())?;
        let node = match &args.node {
            Some(n) => cfg.node(Some(n)).map_err(|e| e.to_string())?,
            None => &cfg.nodes[0],
        };
        let addr = args
            .connect
            .clone()
            .unwrap_or_else(|| node.cluster_addr.to_string());
        let cookie = args
            .cookie
            .clone()
            .unwrap_or_else(|| cfg.cluster.cookie.clone());
        return Ok((addr, cookie));
    }
    match (&args.connect, &args.cookie) {
        (Some(a), Some(c)) => Ok((a.clone(), c.clone())),
        (None, _) => Err("say where to attach: --config cluster.toml [--node NAME], or --connect HOST:PORT --cookie C (or SUTRA_CONNECT and SUTRA_COOKIE)".into()),
        (Some(_), None) => Err("--connect needs the cluster cookie: --cookie C or SUTRA_COOKIE".into()),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match main_with(args) {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "sutra-shell: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main_with(args: Args) -> Result<ExitCode, String> {
    let (addr, cookie) = target(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let node = runtime.block_on(sutra::cluster::attach(
        &addr,
        &cookie,
        Duration::from_secs(10),
    ))?;
    let shell = Shell {
        runtime,
        node,
        json: args.json,
        actors: Arc::new(Mutex::new(Vec::new())),
    };
    let report = |r: Result<(), Failed>| match r {
        Ok(()) => true,
        Err(Failed(e)) => {
            let _ = writeln!(std::io::stderr(), "error: {e}");
            false
        }
    };
    if let Some(cmd) = &args.command {
        return Ok(if report(shell.run(cmd)) {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    if !std::io::stdin().is_terminal() {
        let mut ok = true;
        for line in std::io::stdin().lock().lines() {
            let line = line.map_err(|e| format!("cannot read stdin: {e}"))?;
            if matches!(line.trim(), "exit" | "quit") {
                break;
            }
            ok &= report(shell.run(&line));
        }
        return Ok(if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    interactive(&shell)?;
    Ok(ExitCode::SUCCESS)
}

fn interactive(shell: &Shell) -> Result<(), String> {
    let mut editor: Editor<Complete, rustyline::history::DefaultHistory> =
        Editor::new().map_err(|e| format!("cannot open the terminal: {e}"))?;
    editor.set_helper(Some(Complete {
        actors: Arc::clone(&shell.actors),
    }));
    let history = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".sutra_shell_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    // Fill the actor names for completion.
    let _ = shell.cluster();
    println!("attached to {} (type help)", shell.node);
    loop {
        match editor.readline(&format!("sutra@{}> ", shell.node)) {
            Ok(line) => {
                let _ = editor.add_history_entry(line.as_str());
                if matches!(line.trim(), "exit" | "quit") {
                    break;
                }
                if let Err(Failed(e)) = shell.run(&line) {
                    eprintln!("error: {e}");
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(format!("terminal: {e}")),
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> Value {
        json!({"nodes": [
            {"name": "n1", "actors": [
                {"name": "node", "parent": null},
                {"name": "learner", "parent": "node"},
                {"name": "shards", "parent": "node"},
                {"name": "shard-0", "parent": "shards"}]},
            {"name": "n2", "actors": [
                {"name": "learner", "parent": "node"},
                {"name": "shard-1", "parent": "shards"}]},
        ]})
    }

    #[test]
    fn actors_are_found_by_name_or_node_and_name() {
        let v = view();
        assert_eq!(find_actor(&v, "shard-1", "n1").ok().unwrap().0, "n2");
        // On several nodes: the attached node's, or say which.
        assert_eq!(find_actor(&v, "learner", "n2").ok().unwrap().0, "n2");
        assert_eq!(find_actor(&v, "n1/learner", "n2").ok().unwrap().0, "n1");
        let Err(Failed(e)) = find_actor(&v, "learner", "n3") else {
            panic!("ambiguous")
        };
        assert!(e.contains("runs on n1, n2; say which: n1/learner"), "{e}");
        let Err(Failed(e)) = find_actor(&v, "n2/shard-0", "n1") else {
            panic!("not on n2")
        };
        assert!(e.contains("no actor named n2/shard-0 on n2"), "{e}");
    }

    #[test]
    fn tree_depth_and_uptime_text() {
        let v = view();
        let actors = v["nodes"][0]["actors"].as_array().unwrap();
        let depths: Vec<usize> = actors.iter().map(|a| depth_of(actors, a)).collect();
        assert_eq!(depths, vec![0, 1, 1, 2]);
        assert_eq!(uptime(1500), "1.5s");
        assert_eq!(uptime(61_000), "1m1s");
        assert_eq!(uptime(3_660_000), "1h1m");
    }
}

//! `cluster.toml`: the cluster's topology and tunables, read once at start-up.
//!
//! One file describes every node, so all nodes agree on shard placement; each process
//! picks its own node with [`ClusterConfig::node`]. Everything is validated up front so a
//! bad file fails at start with a message naming the file, the key and the fix, instead
//! of surfacing later as a confusing runtime fault. The annotated default file at the
//! repository root is the user-facing reference; the doc comments here say the same.

use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Largest allowed `cluster.shards`: each shard is an actor with its own log directory,
/// so far more shards would only cost memory and open files.
pub const MAX_SHARDS: u32 = 4096;
/// Smallest allowed `storage.segment_bytes`: tiny segments would rotate on every write.
pub const MIN_SEGMENT_BYTES: u64 = 1 << 20;

/// The whole `cluster.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// `[cluster]`: identity, shared secret and shard count.
    pub cluster: ClusterSection,
    /// `[[nodes]]`: one entry per node; at least one.
    #[serde(default)]
    pub nodes: Vec<NodeConfig>,
    /// `[storage]`: optional, defaults to [`StorageConfig::default`].
    #[serde(default)]
    pub storage: StorageConfig,
    /// `[limits]`: optional, defaults to [`LimitsConfig::default`].
    #[serde(default)]
    pub limits: LimitsConfig,
    /// `[reasoning]`: optional, defaults to [`ReasoningConfig::default`].
    #[serde(default)]
    pub reasoning: ReasoningConfig,
    /// The embedding model, its replicas' batching, cache and queue.
    #[serde(default)]
    pub embedding: EmbeddingConfig,
    /// `[events]`: self-monitoring events; optional, defaults to [`EventsConfig::default`].
    #[serde(default)]
    pub events: EventsConfig,
    /// `[membership]`: failure detection and grid heartbeats; optional, defaults to
    /// [`MembershipConfig::default`].
    #[serde(default)]
    pub membership: MembershipConfig,
    /// The file this was read from, for messages; not a key of the file.
    #[serde(skip)]
    pub source: PathBuf,
}

/// `[cluster]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSection {
    /// Cluster name, shown in logs and status.
    pub name: String,
    /// Shared secret for node-to-node authentication; must be non-empty and the same on
    /// every node.
    pub cookie: String,
    /// Number of logical shards (1 to 4096); concepts are placed by consistent hashing of
    /// their id, so this is fixed for the life of the data.
    pub shards: u32,
}

/// One `[[nodes]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Unique, non-empty, only `[A-Za-z0-9_-]` (it ends up in actor names and paths).
    pub name: String,
    /// Address other nodes reach this one at; port 0 picks a free port.
    pub cluster_addr: SocketAddr,
    /// Address the HTTP API listens on; port 0 picks a free port.
    pub http_addr: SocketAddr,
    /// Directory for this node's logs and checkpoints; a relative path is resolved
    /// against the directory of the config file.
    pub data_dir: PathBuf,
    /// What the node runs; see [`Role`].
    pub roles: Vec<Role>,
    /// Shards whose primary lives here; needs the `storage` role. Default empty.
    #[serde(default)]
    pub shards: Vec<u32>,
    /// Shards this node can take over if their primary's node dies; never its own
    /// shards, at most one standby node per shard, needs the `storage` role. Default empty.
    #[serde(default)]
    pub standby_shards: Vec<u32>,
    /// Parallel embedding workers on this node. Default 2.
    #[serde(default = "default_embedder_replicas")]
    pub embedder_replicas: u32,
}

fn default_embedder_replicas() -> u32 {
    2
}

impl NodeConfig {
    /// True if the node has `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// What a node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The one node running the transaction coordinator; exactly one per cluster.
    Master,
    /// Hosts shards (primary or standby).
    Storage,
    /// Serves the HTTP API and runs the learner.
    Ingress,
}

/// `[storage]`; every key is optional.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Rotate write-ahead log segments at this size in bytes (at least 1 MiB). Default 64 MiB.
    pub segment_bytes: u64,
    /// Write a checkpoint after this many log records, bounding recovery time. Default 200000.
    pub checkpoint_every_records: u64,
    /// Shortest reconciler interval in ms (at least 1). Default 1.
    pub reconcile_min_ms: u64,
    /// Longest reconciler interval in ms (at least `reconcile_min_ms`). Default 100.
    pub reconcile_max_ms: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            segment_bytes: 64 << 20,
            checkpoint_every_records: 200_000,
            reconcile_min_ms: 1,
            reconcile_max_ms: 100,
        }
    }
}

/// `[limits]`; every key is optional.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// HTTP request body limit in bytes. Default 16 MiB.
    pub max_body_bytes: usize,
    /// Longest text of one statement in bytes (1 to `max_body_bytes`). Default 16384.
    pub max_content_bytes: usize,
    /// Most statements in one `/v1/learn/batch` (at least 1). Default 10000.
    pub max_batch: usize,
    /// A request that takes longer than this many ms gets a 503 (at least 1). Default 10000.
    /// Learns are bounded step by step instead: each embedding chunk and each shard or
    /// transaction call gets this long, and the learn answers with its real outcome.
    pub request_timeout_ms: u64,
    /// How long a graceful stop (a clean shutdown, a stop order) waits for each actor,
    /// a shard's final fold and checkpoint included, before killing it (at least 1).
    /// Default 30000.
    pub stop_timeout_ms: u64,
    /// Most `/v1/` data requests in flight; one more is refused at once with 503 +
    /// Retry-After (at least 1). Default 512.
    pub max_in_flight: usize,
    /// Most statements being learned at once, a batch counting its size; a learn beyond
    /// it is refused at once with 503 + Retry-After (at least 1; a batch larger than
    /// this runs alone). Default 1000 per CPU core, at least 2000.
    pub max_statements_in_flight: usize,
    /// Longest queue delay a learn is admitted into, in ms (0: no such bound). The node
    /// measures how fast it finishes statements and refuses a learn (503 + Retry-After)
    /// when those already in flight would take longer than this, unless they are no more
    /// than the learn's own. Default 20.
    pub queue_target_ms: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 16 << 20,
            max_content_bytes: 16384,
            max_batch: 10_000,
            request_timeout_ms: 10_000,
            stop_timeout_ms: 30_000,
            max_in_flight: 512,
            max_statements_in_flight: std::thread::available_parallelism()
                .map_or(2, |n| n.get())
                .saturating_mul(1000)
                .max(2000),
            queue_target_ms: 20,
        }
    }
}

/// `[events]`: self-monitoring events (SPEC §8); every key is optional.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// Emit and store events. Default true; off, emitting costs one atomic load.
    pub enabled: bool,
    /// Events waiting for the sink; when full, new events are dropped and counted (at
    /// least 1). Default 8192.
    pub buffer: usize,
    /// How often the sink stores what waits, in ms (at least 10). Default 500.
    pub flush_ms: u64,
    /// Stored events older than this many hours are deleted (at least 1). Default 168.
    pub retention_hours: u64,
    /// At most this many events are kept; the oldest go first (at least 100). Default
    /// 100000.
    pub retention_count: usize,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            buffer: 8192,
            flush_ms: 500,
            retention_hours: 168,
            retention_count: 100_000,
        }
    }
}

/// `[reasoning]`; every key is optional.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReasoningConfig {
    /// Quality gate: answers below this confidence are "unknown" (0 to 1). Default 0.1.
    pub quality_gate: f32,
    /// Confidence multiplier per hop after the first, for relations that weaken along a
    /// path (causes, can, has a property), with the product of the edges (0 to 1).
    /// Default 0.95.
    pub decay_per_hop: f32,
    /// Confidence multiplier per hop after the first of a transitive chain (is-a,
    /// part-of, located-in, precedes), whose confidence is its weakest link's (0 to 1).
    /// Default 0.99: a 32-hop chain of 0.81 facts reads 0.59.
    pub chain_decay_per_hop: f32,
    /// Default longest reasoning path in hops (1 to 256). Default 64: deeper than any
    /// chain in practice, so chains are followed as deep as they go (the expansion budget
    /// and the request deadline bound the work).
    pub max_depth: usize,
    /// Default number of paths returned (1 to 20). Default 3.
    pub num_paths: usize,
    /// Relation properties every knowledge base starts with, one English sentence each,
    /// read like taught ones ("Reports to is transitive.", "Married to is symmetric.",
    /// "Assigned to is functional.", "Parent of is the opposite of child of."), on top
    /// of the built-in lexicon. Default none.
    pub relations: Vec<String>,
    /// Knowledge bases answered under the closed-world assumption (what cannot be proved
    /// is `no`), whatever the request says; others only when a request asks
    /// (`closed_world: true`). Default none.
    pub closed_world_kbs: Vec<String>,
    /// The largest knowledge base, in sentences, the logic layer (rules, any relation,
    /// timelines) answers for; larger ones are answered by the path reasoner alone. The
    /// first question to a knowledge base builds its program from every sentence, later
    /// ones read only what changed. Default 1,000,000.
    pub logic_max_sentences: usize,
}

impl Default for ReasoningConfig {
    fn default() -> Self {
        Self {
            quality_gate: 0.1,
            decay_per_hop: 0.95,
            chain_decay_per_hop: 0.99,
            max_depth: crate::reason::MAX_DEPTH,
            num_paths: 3,
            relations: Vec::new(),
            closed_world_kbs: Vec::new(),
            logic_max_sentences: crate::reason::logic_bridge::MAX_SENTENCES,
        }
    }
}

/// `[membership]`: failure detection (SWIM, on its own thread and UDP socket) and the
/// grid's heartbeats; every key is optional.
///
/// A dead node is probed within `2 (nodes - 1) - 1` periods, its probe (direct, then
/// indirect) fails within one more, it is suspected, and it is declared down
/// `suspect_to_down_ms` later: with the defaults at most 2.2 s on a 3-node cluster
/// ([`MembershipConfig::declare_down_bound_ms`]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MembershipConfig {
    /// How often each node probes one other node, in ms (50 to 60000). Default 300.
    pub probe_period_ms: u64,
    /// How long a direct probe waits for its answer before asking others to probe
    /// indirectly, in ms (less than `probe_period_ms`). Default 150.
    pub probe_rtt_ms: u64,
    /// How many other nodes are asked to probe a silent node indirectly (1 to 16). Default 3.
    pub indirect_probes: u32,
    /// How long a node stays suspected before it is declared down, in ms (at least
    /// `probe_period_ms`). Default 1000.
    pub suspect_to_down_ms: u64,
    /// How often each grid agent sends its heartbeat to the master, in ms (50 to 60000).
    /// Default 500.
    pub heartbeat_ms: u64,
    /// A node whose heartbeat is this late is shown degraded by the master (at least
    /// 2 x `heartbeat_ms`). Default 2000.
    pub heartbeat_timeout_ms: u64,
    /// Transitions kept in the master's transition log (1 to 100000). Default 1000.
    pub transition_log: usize,
}

impl Default for MembershipConfig {
    fn default() -> Self {
        Self {
            probe_period_ms: 300,
            probe_rtt_ms: 150,
            indirect_probes: 3,
            suspect_to_down_ms: 1000,
            heartbeat_ms: 500,
            heartbeat_timeout_ms: 2000,
            transition_log: 1000,
        }
    }
}

impl MembershipConfig {
    /// Worst case, in ms, from a node's death to its declaration as down in a cluster of
    /// `nodes` nodes: a node probes each member once per round of `nodes - 1` periods in
    /// a shuffled order, so two probes of one member are at most `2 (nodes - 1) - 1`
    /// periods apart; the failed probe is noticed one period later, then the suspicion
    /// runs out. With the defaults and 3 nodes: 4 x 300 + 1000 = 2200 ms.
    pub fn declare_down_bound_ms(&self, nodes: usize) -> u64 {
        2 * (nodes.max(2) as u64 - 1) * self.probe_period_ms + self.suspect_to_down_ms
    }
}

/// Why a cluster config cannot be used; every message names the file.
/// `[embedding]`: where the model lives and how the embedder pool batches.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddingConfig {
    /// Directory prepared by `scripts/setup-model.py` (relative to this file's
    /// directory); the `SUTRA_MODEL_DIR` environment variable overrides it.
    pub model_dir: PathBuf,
    /// `fp32` (exact, batched) or `int8` (quantized; faster for single texts, but run
    /// one text per inference so its vectors do not depend on the batch).
    pub variant: String,
    /// ONNX Runtime threads per replica.
    pub threads_per_replica: usize,
    /// Texts longer than this many tokens are truncated (counted in stats).
    pub max_tokens: usize,
    /// Most texts in one batch.
    pub max_batch: usize,
    /// Most tokens (texts x padded length) in one batch.
    pub max_batch_tokens: usize,
    /// How long a partial batch may wait for more texts while a replica is idle.
    pub max_wait_ms: u64,
    /// Embeddings kept in the LRU cache (0 disables it).
    pub cache_entries: usize,
    /// Texts waiting for a replica beyond which requests are refused with 503.
    pub queue_limit: usize,
    /// A batch taking longer than this is re-run elsewhere and its replica restarted.
    pub batch_deadline_ms: u64,
    /// With every replica down, how long a caller waits before a 503.
    pub unavailable_wait_ms: u64,
    /// Minimum cosine similarity for a question's mention to resolve to a concept.
    pub resolve_similarity: f32,
}

impl Default for EmbeddingConfig {
    fn default() -> Self {
        Self {
            model_dir: PathBuf::from("models/minilm"),
            variant: "fp32".into(),
            threads_per_replica: 1,
            max_tokens: 256,
            max_batch: 32,
            max_batch_tokens: 8192,
            max_wait_ms: 2,
            cache_entries: 50_000,
            queue_limit: 20_000,
            batch_deadline_ms: 10_000,
            unavailable_wait_ms: 3_000,
            resolve_similarity: 0.86,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read cluster config {}: {}; pass --config PATH or run from the repository root where cluster.toml lives", .path.display(), io_reason(.io))]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        io: std::io::Error,
    },
    /// TOML syntax error, wrong type or unknown key; `message` is toml's own, with line
    /// and column.
    #[error("{}: {}", .path.display(), .message)]
    Parse {
        /// The file.
        path: PathBuf,
        /// toml's message.
        message: String,
    },
    /// The file parsed but describes an unusable cluster.
    #[error("{}: {}", .path.display(), .message)]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// `--node NAME` names no node of the file.
    #[error("{}: no node named \"{}\"; the nodes are: {}", .path.display(), .name, .names.join(", "))]
    UnknownNode {
        /// The file.
        path: PathBuf,
        /// The name asked for.
        name: String,
        /// The names the file has.
        names: Vec<String>,
    },
    /// No `--node NAME` but the file has several nodes.
    #[error("{} describes {} nodes ({}); choose one with --node NAME", .path.display(), .names.len(), .names.join(", "))]
    AmbiguousNode {
        /// The file.
        path: PathBuf,
        /// The names the file has.
        names: Vec<String>,
    },
}

/// The OS message without Rust's " (os error N)" suffix, which only adds noise for users.
fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

impl ClusterConfig {
    /// Reads and validates a file; relative data_dirs are resolved against the file's directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|io| ConfigError::Read {
            path: path.to_path_buf(),
            io,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates text (`origin` is the path used in messages and for resolving relative dirs).
    pub fn parse(text: &str, origin: &Path) -> Result<Self, ConfigError> {
        let mut cfg: ClusterConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        cfg.source = origin.to_path_buf();
        cfg.validate().map_err(|message| ConfigError::Invalid {
            path: origin.to_path_buf(),
            message,
        })?;
        // Absolute so the node's data does not move when it is started from another
        // working directory; `absolute` needs no existing path, unlike canonicalize.
        let base = match origin.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let base = std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf());
        for n in &mut cfg.nodes {
            if n.data_dir.is_relative() {
                n.data_dir = base.join(&n.data_dir);
            }
        }
        if cfg.embedding.model_dir.is_relative() {
            cfg.embedding.model_dir = base.join(&cfg.embedding.model_dir);
        }
        Ok(cfg)
    }

    /// The node this process runs: by name, or the only node when `name` is None; error listing the names if ambiguous/unknown.
    pub fn node(&self, name: Option<&str>) -> Result<&NodeConfig, ConfigError> {
        let names = || self.nodes.iter().map(|n| n.name.clone()).collect();
        match name {
            Some(name) => {
                self.nodes
                    .iter()
                    .find(|n| n.name == name)
                    .ok_or_else(|| ConfigError::UnknownNode {
                        path: self.source.clone(),
                        name: name.to_string(),
                        names: names(),
                    })
            }
            None if self.nodes.len() == 1 => Ok(&self.nodes[0]),
            None => Err(ConfigError::AmbiguousNode {
                path: self.source.clone(),
                names: names(),
            }),
        }
    }

    /// Which node holds shard `s` as primary (validated to exist).
    ///
    /// Panics if `shard` is out of range, which is a caller bug: shard numbers come from
    /// hashing modulo `cluster.shards`.
    pub fn primary_of(&self, shard: u32) -> &NodeConfig {
        self.nodes
            .iter()
            .find(|n| n.shards.contains(&shard))
            .unwrap_or_else(|| {
                panic!(
                    "shard {shard} has no primary (cluster.shards = {})",
                    self.cluster.shards
                )
            })
    }

    /// The node that can take over shard `shard` if its primary dies, if any.
    pub fn standby_of(&self, shard: u32) -> Option<&NodeConfig> {
        self.nodes
            .iter()
            .find(|n| n.standby_shards.contains(&shard))
    }

    /// Checks everything serde cannot; the message omits the file name, the caller adds it.
    fn validate(&self) -> Result<(), String> {
        macro_rules! ensure {
            ($ok:expr, $($msg:tt)+) => {
                if !$ok {
                    return Err(format!($($msg)+));
                }
            };
        }
        let ev = &self.events;
        ensure!(ev.buffer >= 1, "events.buffer must be at least 1 (got 0)");
        ensure!(
            ev.flush_ms >= 10,
            "events.flush_ms must be at least 10 (got {})",
            ev.flush_ms
        );
        ensure!(
            ev.retention_hours >= 1,
            "events.retention_hours must be at least 1 (got 0)"
        );
        ensure!(
            ev.retention_count >= 100,
            "events.retention_count must be at least 100 (got {})",
            ev.retention_count
        );
        let c = &self.cluster;
        ensure!(
            !c.name.trim().is_empty(),
            "cluster.name is empty; give the cluster a name"
        );
        ensure!(
            !c.cookie.is_empty(),
            "cluster.cookie is empty; set it to a shared secret, the same on every node"
        );
        ensure!(
            (1..=MAX_SHARDS).contains(&c.shards),
            "cluster.shards must be between 1 and {MAX_SHARDS} (got {})",
            c.shards
        );
        ensure!(
            !self.nodes.is_empty(),
            "no [[nodes]] are described; add at least one [[nodes]] table"
        );
        let last = c.shards - 1;
        let mut names: HashMap<&str, usize> = HashMap::new();
        let mut addrs: HashMap<SocketAddr, String> = HashMap::new();
        let mut primary: Vec<Option<usize>> = vec![None; c.shards as usize];
        let mut standby: Vec<Option<usize>> = vec![None; c.shards as usize];
        let mut master: Option<usize> = None;
        for (i, n) in self.nodes.iter().enumerate() {
            let at = format!("nodes[{i}]");
            let name = &n.name;
            ensure!(
                !name.is_empty(),
                "{at}.name is empty; give every node a name"
            );
            // The name ends up in actor names and paths, so keep it to a safe alphabet.
            let safe = |ch: char| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_';
            ensure!(
                name.chars().all(safe),
                "{at}.name \"{name}\" may only contain letters, digits, '-' and '_'"
            );
            ensure!(
                names.insert(name, i).is_none(),
                "{at}.name \"{name}\" is used twice; every node needs its own name"
            );
            for (key, addr) in [("cluster_addr", n.cluster_addr), ("http_addr", n.http_addr)] {
                // Port 0 is resolved to a distinct free port at bind time, so it never clashes.
                if addr.port() != 0 {
                    let other = addrs.insert(addr, format!("{at}.{key}"));
                    ensure!(
                        other.is_none(),
                        "{at}.{key} {addr} is also used by {}; give every listener its own address (port 0 picks a free port)",
                        other.unwrap_or_default()
                    );
                }
            }
            ensure!(
                !n.data_dir.as_os_str().is_empty(),
                "{at}.data_dir is empty; set it to a directory such as \"data/{name}\""
            );
            ensure!(
                !n.roles.is_empty(),
                "{at}.roles is empty; list at least one of \"master\", \"storage\", \"ingress\""
            );
            if n.has_role(Role::Master) {
                let m = master.replace(i);
                ensure!(
                    m.is_none(),
                    "nodes[{}] and {at} both have the role master; exactly one node must be master",
                    m.unwrap_or_default()
                );
            }
            for (key, list, table) in [
                ("shards", &n.shards, &mut primary),
                ("standby_shards", &n.standby_shards, &mut standby),
            ] {
                ensure!(
                    list.is_empty() || n.has_role(Role::Storage),
                    "{at}.{key} lists shards but {at}.roles lacks \"storage\"; add the storage role or move the shards to a storage node"
                );
                for &s in list {
                    ensure!(
                        s <= last,
                        "{at}.{key} lists shard {s} but cluster.shards = {}; use shard numbers 0 to {last}",
                        c.shards
                    );
                    let Some(j) = table[s as usize].replace(i) else {
                        continue;
                    };
                    let other = &self.nodes[j].name;
                    ensure!(j != i, "{at}.{key} lists shard {s} twice; list it once");
                    ensure!(
                        key != "shards",
                        "shard {s} is the primary of both {other} and {name}; list it in the shards of exactly one node"
                    );
                    return Err(format!(
                        "shard {s} has standbys on both {other} and {name}; list it in the standby_shards of at most one node"
                    ));
                }
            }
        }
        ensure!(
            master.is_some(),
            "no node has the role master; add \"master\" to the roles of exactly one node"
        );
        for (s, (p, b)) in primary.iter().zip(&standby).enumerate() {
            ensure!(
                p.is_some(),
                "shard {s} has no primary node; list it in the shards of exactly one node"
            );
            ensure!(
                p != b || b.is_none(),
                "nodes[{}].standby_shards lists shard {s}, which is already its primary; a standby must be on another node",
                b.unwrap_or_default()
            );
        }
        let st = &self.storage;
        ensure!(
            st.segment_bytes >= MIN_SEGMENT_BYTES,
            "storage.segment_bytes must be at least {MIN_SEGMENT_BYTES} (1 MiB) (got {})",
            st.segment_bytes
        );
        ensure!(
            st.checkpoint_every_records > 0,
            "storage.checkpoint_every_records must be at least 1 (got 0)"
        );
        ensure!(
            st.reconcile_min_ms > 0 && st.reconcile_min_ms <= st.reconcile_max_ms,
            "storage.reconcile_min_ms must be at least 1 and at most storage.reconcile_max_ms (got {} and {})",
            st.reconcile_min_ms,
            st.reconcile_max_ms
        );
        let l = &self.limits;
        ensure!(
            l.max_batch > 0,
            "limits.max_batch must be at least 1 (got 0)"
        );
        ensure!(
            l.max_content_bytes > 0 && l.max_content_bytes <= l.max_body_bytes,
            "limits.max_content_bytes must be between 1 and limits.max_body_bytes ({}) (got {})",
            l.max_body_bytes,
            l.max_content_bytes
        );
        ensure!(
            l.request_timeout_ms > 0,
            "limits.request_timeout_ms must be at least 1 (got 0)"
        );
        ensure!(
            l.stop_timeout_ms > 0,
            "limits.stop_timeout_ms must be at least 1 (got 0)"
        );
        ensure!(
            l.max_in_flight > 0,
            "limits.max_in_flight must be at least 1 (got 0)"
        );
        ensure!(
            l.max_statements_in_flight > 0,
            "limits.max_statements_in_flight must be at least 1 (got 0)"
        );
        let r = &self.reasoning;
        ensure!(
            (0.0..=1.0).contains(&r.quality_gate),
            "reasoning.quality_gate must be from 0 to 1 (got {})",
            r.quality_gate
        );
        ensure!(
            r.decay_per_hop > 0.0 && r.decay_per_hop <= 1.0,
            "reasoning.decay_per_hop must be greater than 0 and at most 1 (got {})",
            r.decay_per_hop
        );
        ensure!(
            r.chain_decay_per_hop > 0.0 && r.chain_decay_per_hop <= 1.0,
            "reasoning.chain_decay_per_hop must be greater than 0 and at most 1 (got {})",
            r.chain_decay_per_hop
        );
        ensure!(
            (1..=crate::reason::MAX_DEPTH_LIMIT).contains(&r.max_depth),
            "reasoning.max_depth must be from 1 to {} (got {})",
            crate::reason::MAX_DEPTH_LIMIT,
            r.max_depth
        );
        ensure!(
            (1..=20).contains(&r.num_paths),
            "reasoning.num_paths must be from 1 to 20 (got {})",
            r.num_paths
        );
        crate::logic::relations::RelationProps::with_sentences(&r.relations)
            .map_err(|e| format!("reasoning.relations: {e}"))?;
        for kb in &r.closed_world_kbs {
            crate::graph::kb::validate(kb)
                .map_err(|e| format!("reasoning.closed_world_kbs: {kb:?}: {e}"))?;
        }
        let e = &self.embedding;
        ensure!(
            e.variant == "int8" || e.variant == "fp32",
            "embedding.variant must be \"int8\" or \"fp32\" (got \"{}\")",
            e.variant
        );
        ensure!(
            (1..=64).contains(&e.threads_per_replica),
            "embedding.threads_per_replica must be from 1 to 64 (got {})",
            e.threads_per_replica
        );
        ensure!(
            (8..=512).contains(&e.max_tokens),
            "embedding.max_tokens must be from 8 to 512, the model's limit (got {})",
            e.max_tokens
        );
        ensure!(
            (1..=1024).contains(&e.max_batch),
            "embedding.max_batch must be from 1 to 1024 (got {})",
            e.max_batch
        );
        ensure!(
            e.max_batch_tokens >= e.max_tokens,
            "embedding.max_batch_tokens ({}) must be at least embedding.max_tokens ({}) so one long text fits",
            e.max_batch_tokens,
            e.max_tokens
        );
        ensure!(
            e.queue_limit >= e.max_batch,
            "embedding.queue_limit ({}) must be at least embedding.max_batch ({})",
            e.queue_limit,
            e.max_batch
        );
        ensure!(
            e.batch_deadline_ms >= 100 && e.unavailable_wait_ms >= 10,
            "embedding.batch_deadline_ms must be at least 100 and embedding.unavailable_wait_ms at least 10"
        );
        ensure!(
            (0.0..=1.0).contains(&e.resolve_similarity),
            "embedding.resolve_similarity must be from 0 to 1 (got {})",
            e.resolve_similarity
        );
        let m = &self.membership;
        ensure!(
            (50..=60_000).contains(&m.probe_period_ms),
            "membership.probe_period_ms must be from 50 to 60000 (got {})",
            m.probe_period_ms
        );
        ensure!(
            m.probe_rtt_ms >= 1 && m.probe_rtt_ms < m.probe_period_ms,
            "membership.probe_rtt_ms must be at least 1 and less than membership.probe_period_ms ({}) (got {})",
            m.probe_period_ms,
            m.probe_rtt_ms
        );
        ensure!(
            (1..=16).contains(&m.indirect_probes),
            "membership.indirect_probes must be from 1 to 16 (got {})",
            m.indirect_probes
        );
        ensure!(
            m.suspect_to_down_ms >= m.probe_period_ms && m.suspect_to_down_ms <= 600_000,
            "membership.suspect_to_down_ms must be from membership.probe_period_ms ({}) to 600000 (got {}); shorter declares slow nodes down",
            m.probe_period_ms,
            m.suspect_to_down_ms
        );
        ensure!(
            (50..=60_000).contains(&m.heartbeat_ms),
            "membership.heartbeat_ms must be from 50 to 60000 (got {})",
            m.heartbeat_ms
        );
        ensure!(
            m.heartbeat_timeout_ms >= 2 * m.heartbeat_ms,
            "membership.heartbeat_timeout_ms must be at least twice membership.heartbeat_ms ({}) (got {})",
            m.heartbeat_ms,
            m.heartbeat_timeout_ms
        );
        ensure!(
            (1..=100_000).contains(&m.transition_log),
            "membership.transition_log must be from 1 to 100000 (got {})",
            m.transition_log
        );
        Ok(())
    }
}

/// A valid topology of `nodes` nodes `n1`…`nN` on 127.0.0.1, for trying a cluster on one
/// machine (`sutra-node example-config`). Node `i` (from 1) listens for peers on
/// `port_base + 2(i-1)` and for HTTP on the port after it; its data is in
/// `data_dir/n<i>`. Shards (4 per node) are spread round-robin, each with a standby on
/// the next node; `n1` is the master; one embedder replica per node, since all nodes
/// share this machine's cores.
pub fn example_topology(
    nodes: u32,
    port_base: u16,
    data_dir: &Path,
    model_dir: &Path,
) -> Result<String, String> {
    if !(1..=64).contains(&nodes) {
        return Err(format!("--nodes {nodes}: choose 1 to 64 nodes"));
    }
    let last = u32::from(port_base) + 2 * nodes - 1;
    if port_base == 0 || last > u32::from(u16::MAX) {
        return Err(format!(
            "--port-base {port_base}: the ports {port_base}..={last} must be between 1 and 65535"
        ));
    }
    let shards = 4 * nodes;
    let toml_str = |p: &Path| format!("{:?}", p.display().to_string());
    let mut out = format!(
        "# A {nodes}-node Sutra cluster on this machine, made by `sutra-node example-config`.\n\
         # Start each node with: sutra-node --config THIS_FILE --node n<i>\n\n\
         [cluster]\nname = \"sutra-example\"\n\
         # Change this shared secret for anything but a local trial.\n\
         cookie = \"sutra-example-cookie\"\nshards = {shards}\n"
    );
    for i in 0..nodes {
        let name = format!("n{}", i + 1);
        let port = u32::from(port_base) + 2 * i;
        let own: Vec<String> = (0..shards)
            .filter(|s| s % nodes == i)
            .map(|s| s.to_string())
            .collect();
        let standby: Vec<String> = match nodes {
            1 => Vec::new(),
            _ => (0..shards)
                .filter(|s| (s % nodes + 1) % nodes == i)
                .map(|s| s.to_string())
                .collect(),
        };
        let roles = match i {
            0 => "[\"master\", \"storage\", \"ingress\"]",
            _ => "[\"storage\", \"ingress\"]",
        };
        out += &format!(
            "\n[[nodes]]\nname = \"{name}\"\ncluster_addr = \"127.0.0.1:{port}\"\n\
             http_addr = \"127.0.0.1:{}\"\ndata_dir = {}\nroles = {roles}\n\
             shards = [{}]\nstandby_shards = [{}]\nembedder_replicas = 1\n",
            port + 1,
            toml_str(&data_dir.join(&name)),
            own.join(", "),
            standby.join(", "),
        );
    }
    out += &format!("\n[embedding]\nmodel_dir = {}\n", toml_str(model_dir));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
[cluster]
name = "t"
cookie = "c"
shards = 4

[[nodes]]
name = "node-1"
cluster_addr = "127.0.0.1:7401"
http_addr = "127.0.0.1:8081"
data_dir = "d1"
roles = ["master", "storage", "ingress"]
shards = [0, 1]
standby_shards = [2]

[[nodes]]
name = "node-2"
cluster_addr = "127.0.0.1:7402"
http_addr = "127.0.0.1:8082"
data_dir = "/abs/d2"
roles = ["storage"]
shards = [2, 3]
"#;

    fn parse(text: &str) -> Result<ClusterConfig, ConfigError> {
        ClusterConfig::parse(text, Path::new("/etc/sutra/c.toml"))
    }

    fn err(text: &str) -> String {
        parse(text)
            .expect_err("config should be rejected")
            .to_string()
    }

    fn with(from: &str, to: &str) -> String {
        assert!(BASE.contains(from), "{from}");
        BASE.replace(from, to)
    }

    #[test]
    fn example_topologies_are_valid_and_spread_shards() {
        for n in [1, 2, 3, 7] {
            let text = example_topology(n, 7400, Path::new("/var/sutra"), Path::new("/m")).unwrap();
            let cfg = parse(&text).unwrap_or_else(|e| panic!("{n} nodes: {e}\n{text}"));
            assert_eq!(cfg.nodes.len(), n as usize);
            assert_eq!(cfg.cluster.shards, 4 * n);
            for node in &cfg.nodes {
                assert_eq!(node.shards.len(), 4);
                assert_eq!(node.data_dir, Path::new("/var/sutra").join(&node.name));
            }
            if n > 1 {
                for s in 0..cfg.cluster.shards {
                    let standby = cfg.standby_of(s).unwrap();
                    assert_ne!(standby.name, cfg.primary_of(s).name);
                }
            }
        }
        assert!(example_topology(0, 7400, Path::new("/d"), Path::new("/m")).is_err());
        assert!(example_topology(3, 65534, Path::new("/d"), Path::new("/m")).is_err());
    }

    #[test]
    fn repo_file_gives_single_node_defaults() {
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/cluster.toml"));
        let cfg = ClusterConfig::load(path).unwrap();
        assert_eq!(cfg.cluster.shards, 4);
        assert_eq!(cfg.cluster.name, "sutra-local");
        let n = cfg.node(None).unwrap();
        assert_eq!(n.name, "node-1");
        assert_eq!(n.shards, [0, 1, 2, 3]);
        assert!(n.standby_shards.is_empty());
        assert_eq!(n.http_addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(n.cluster_addr, "127.0.0.1:7400".parse().unwrap());
        assert_eq!(n.roles, [Role::Master, Role::Storage, Role::Ingress]);
        assert_eq!(n.embedder_replicas, 2);
        assert!(n.data_dir.is_absolute());
        assert!(n.data_dir.ends_with("data/node-1"));
        assert!(n.data_dir.starts_with(env!("CARGO_MANIFEST_DIR")));
        assert_eq!(cfg.storage, StorageConfig::default());
        assert_eq!(cfg.limits, LimitsConfig::default());
        assert_eq!(cfg.primary_of(3).name, "node-1");
        assert_eq!(cfg.source, path);
    }

    #[test]
    fn three_nodes_with_standbys() {
        let text = format!(
            "{}{}",
            with(
                "roles = [\"storage\"]",
                "roles = [\"storage\"]\nstandby_shards = [0]"
            ),
            r#"
[[nodes]]
name = "node_3"
cluster_addr = "10.0.0.3:7400"
http_addr = "10.0.0.3:8080"
data_dir = "d3"
roles = ["ingress"]
embedder_replicas = 8
"#
        );
        let cfg = parse(&text).unwrap();
        assert_eq!(cfg.nodes.len(), 3);
        assert_eq!(cfg.primary_of(0).name, "node-1");
        assert_eq!(cfg.primary_of(3).name, "node-2");
        assert_eq!(cfg.standby_of(2).unwrap().name, "node-1");
        assert_eq!(cfg.standby_of(0).unwrap().name, "node-2");
        assert!(cfg.standby_of(1).is_none());
        assert_eq!(cfg.node(Some("node_3")).unwrap().embedder_replicas, 8);
        assert_eq!(cfg.nodes[1].embedder_replicas, 2);
        assert_eq!(cfg.nodes[1].data_dir, Path::new("/abs/d2"));
        assert_eq!(cfg.nodes[0].data_dir, Path::new("/etc/sutra/d1"));
    }

    #[test]
    fn invalid_configs_are_explained() {
        let storage = |s: &str| format!("{BASE}\n[storage]\n{s}\n");
        let limits = |s: &str| format!("{BASE}\n[limits]\n{s}\n");
        let membership = |s: &str| format!("{BASE}\n[membership]\n{s}\n");
        let cases: Vec<(String, &str)> = vec![
            (with("shards = 4", "shards = 0"), "cluster.shards must be between 1 and 4096 (got 0)"),
            (with("shards = 4", "shards = 5000"), "cluster.shards must be between 1 and 4096 (got 5000)"),
            (with("cookie = \"c\"", "cookie = \"\""), "cluster.cookie is empty"),
            (with("name = \"node-2\"", "name = \"node-1\""), "nodes[1].name \"node-1\" is used twice; every node needs its own name"),
            (with("name = \"node-2\"", "name = \"node 2\""), "nodes[1].name \"node 2\" may only contain"),
            (with("name = \"node-2\"", "name = \"\""), "nodes[1].name is empty"),
            (with("[0, 1]", "[0, 1, 7]"), "nodes[0].shards lists shard 7 but cluster.shards = 4; use shard numbers 0 to 3"),
            (with("[2, 3]", "[3]"), "shard 2 has no primary node; list it in the shards of exactly one node"),
            (with("[2, 3]", "[1, 2, 3]"), "shard 1 is the primary of both node-1 and node-2; list it in the shards of exactly one node"),
            (with("[0, 1]", "[0, 1, 1]"), "nodes[0].shards lists shard 1 twice"),
            (with("standby_shards = [2]", "standby_shards = [1]"), "nodes[0].standby_shards lists shard 1, which is already its primary"),
            (with("roles = [\"storage\"]", "roles = [\"storage\"]\nstandby_shards = [2]"), "shard 2 has standbys on both node-1 and node-2"),
            (with("127.0.0.1:8082", "127.0.0.1:8081"), "nodes[1].http_addr 127.0.0.1:8081 is also used by nodes[0].http_addr"),
            (with("127.0.0.1:7402", "127.0.0.1:7401"), "nodes[1].cluster_addr 127.0.0.1:7401 is also used by nodes[0].cluster_addr"),
            (with("127.0.0.1:7402", "127.0.0.1:8081"), "nodes[1].cluster_addr 127.0.0.1:8081 is also used by nodes[0].http_addr"),
            (with("\"master\", \"storage\"", "\"storage\""), "no node has the role master"),
            (with("roles = [\"storage\"]", "roles = [\"storage\", \"master\"]"), "nodes[0] and nodes[1] both have the role master; exactly one"),
            (with("roles = [\"storage\"]", "roles = [\"ingress\"]"), "nodes[1].shards lists shards but nodes[1].roles lacks \"storage\""),
            (with("roles = [\"storage\"]", "roles = []"), "nodes[1].roles is empty"),
            (with("\"/abs/d2\"", "\"\""), "nodes[1].data_dir is empty"),
            ("[cluster]\nname = \"t\"\ncookie = \"c\"\nshards = 4\n".into(), "no [[nodes]] are described"),
            (storage("reconcile_min_ms = 50\nreconcile_max_ms = 10"), "storage.reconcile_min_ms must be at least 1 and at most storage.reconcile_max_ms (got 50 and 10)"),
            (storage("reconcile_min_ms = 0"), "storage.reconcile_min_ms must be at least 1"),
            (storage("segment_bytes = 1000"), "storage.segment_bytes must be at least 1048576"),
            (limits("max_batch = 0"), "limits.max_batch must be at least 1"),
            (format!("{BASE}\n[reasoning]\nrelations = [\"Bob likes tea.\"]\n"), "reasoning.relations: \"Bob likes tea.\" is not a relation property"),
            (format!("{BASE}\n[reasoning]\nclosed_world_kbs = [\"a b\"]\n"), "reasoning.closed_world_kbs: \"a b\""),
            (limits("max_content_bytes = 0"), "limits.max_content_bytes must be between 1 and"),
            (limits("max_body_bytes = 100"), "limits.max_content_bytes must be between 1 and limits.max_body_bytes (100) (got 16384)"),
            (membership("probe_period_ms = 10"), "membership.probe_period_ms must be from 50 to 60000 (got 10)"),
            (membership("probe_rtt_ms = 300"), "membership.probe_rtt_ms must be at least 1 and less than membership.probe_period_ms (300) (got 300)"),
            (membership("indirect_probes = 0"), "membership.indirect_probes must be from 1 to 16"),
            (membership("suspect_to_down_ms = 100"), "membership.suspect_to_down_ms must be from membership.probe_period_ms (300)"),
            (membership("heartbeat_ms = 0"), "membership.heartbeat_ms must be from 50"),
            (membership("heartbeat_timeout_ms = 600"), "membership.heartbeat_timeout_ms must be at least twice membership.heartbeat_ms (500) (got 600)"),
            (membership("transition_log = 0"), "membership.transition_log must be from 1"),
            (membership("probe_period = 5"), "unknown field `probe_period`"),
        ];
        for (text, want) in cases {
            let msg = err(&text);
            assert!(msg.starts_with("/etc/sutra/c.toml: "), "{msg}");
            assert!(msg.contains(want), "want {want:?} in {msg:?}");
        }
    }

    #[test]
    fn membership_defaults_declare_a_dead_node_down_within_3_s() {
        let cfg = parse(BASE).unwrap();
        assert_eq!(cfg.membership, MembershipConfig::default());
        assert_eq!(cfg.membership.declare_down_bound_ms(3), 2200);
    }

    #[test]
    fn port_zero_may_repeat() {
        let text = BASE
            .replace("127.0.0.1:8081", "127.0.0.1:0")
            .replace("127.0.0.1:8082", "127.0.0.1:0");
        parse(&text).unwrap();
    }

    #[test]
    fn parse_errors_name_file_and_key() {
        let msg = err(&with(
            "roles = [\"storage\"]",
            "roles = [\"storage\"]\nembeder_replicas = 1",
        ));
        assert!(msg.starts_with("/etc/sutra/c.toml: "), "{msg}");
        assert!(msg.contains("embeder_replicas"), "{msg}");
        let msg = err(&format!("{BASE}\n[limits]\nmax_bach = 3\n"));
        assert!(msg.contains("max_bach"), "{msg}");
        let msg = err(&with("roles = [\"storage\"]", "roles = [\"archive\"]"));
        assert!(msg.contains("archive"), "{msg}");
        let msg = err("[cluster\n");
        assert!(
            msg.starts_with("/etc/sutra/c.toml: ") && msg.contains("line 1"),
            "{msg}"
        );
    }

    #[test]
    fn node_selection() {
        let cfg = parse(BASE).unwrap();
        assert_eq!(cfg.node(Some("node-2")).unwrap().name, "node-2");
        let msg = cfg.node(Some("x")).unwrap_err().to_string();
        assert_eq!(
            msg,
            "/etc/sutra/c.toml: no node named \"x\"; the nodes are: node-1, node-2"
        );
        let msg = cfg.node(None).unwrap_err().to_string();
        assert_eq!(
            msg,
            "/etc/sutra/c.toml describes 2 nodes (node-1, node-2); choose one with --node NAME"
        );
    }

    #[test]
    fn load_resolves_relative_dirs_and_defaults_sections() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        let text = BASE
            .replace("standby_shards = [2]", "")
            .replace("[2, 3]\n", "[2, 3]\nstandby_shards = [0]\n");
        std::fs::write(&path, text).unwrap();
        let cfg = ClusterConfig::load(&path).unwrap();
        assert_eq!(cfg.nodes[0].data_dir, dir.path().join("d1"));
        assert_eq!(cfg.storage, StorageConfig::default());
        assert_eq!(cfg.limits, LimitsConfig::default());
        assert_eq!(cfg.standby_of(0).unwrap().name, "node-2");

        let missing = dir.path().join("nope.toml");
        let msg = ClusterConfig::load(&missing).unwrap_err().to_string();
        assert_eq!(
            msg,
            format!(
                "cannot read cluster config {}: No such file or directory; pass --config PATH or run from the repository root where cluster.toml lives",
                missing.display()
            )
        );
    }
}

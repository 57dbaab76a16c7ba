//! Self-monitoring events (SPEC §8, issue 13): one typed enum, emitted where the thing
//! happens, carried to the node's `event-sink` actor, stored as concepts of the
//! [`EVENTS_KB`] knowledge base, listed by `GET /v1/events` and answered in English
//! ([`question`]).
//!
//! Emission never blocks or slows the emitter: [`emit`] is a `try_send` into a bounded
//! buffer; when the buffer is full the event is dropped and counted. With events off
//! (`[events] enabled = false`) no bus is installed and [`emit`] is one atomic load.
//! The bus is per process because ractor's registry (which the emitters already use to
//! find each other) is too; a node installs it when it starts.

pub mod question;
pub mod stored;

use arc_swap::ArcSwapOption;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};

/// The knowledge base events are stored in.
pub const EVENTS_KB: &str = "events";

/// The `source` label of every stored event.
pub const EVENTS_SOURCE: &str = "sutra-events";

/// What happened. Field names are what `/v1/events` shows; numbers are plain numbers so
/// questions can compare them ("took longer than 100 ms").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum EventKind {
    /// An actor stopped with an error or panic, or was killed.
    ActorCrashed {
        /// The actor's registered name.
        actor: String,
        /// Why.
        error: String,
    },
    /// A supervisor restarted a crashed actor.
    ActorRestarted {
        /// The actor.
        actor: String,
        /// Its restarts so far.
        restarts: u64,
    },
    /// A supervisor gave up restarting (restart intensity exceeded) and escalated.
    ActorGaveUp {
        /// The actor.
        actor: String,
        /// Crashes within the intensity window.
        crashes: u64,
    },
    /// A grid agent registered with the grid master.
    AgentRegistered {
        /// The agent's node.
        agent: String,
    },
    /// A grid agent's heartbeat reached the master (recorded at most once a minute per
    /// agent: every beat would flood the store).
    AgentHeartbeat {
        /// The agent's node.
        agent: String,
        /// Heartbeats since the last recorded one.
        beats: u64,
    },
    /// The master suspects an agent (missed heartbeats, or membership suspects it).
    AgentDegraded {
        /// The agent's node.
        agent: String,
        /// Why.
        reason: String,
    },
    /// The master declared an agent's node offline.
    AgentOffline {
        /// The agent's node.
        agent: String,
        /// Why.
        reason: String,
    },
    /// An offline or degraded agent is healthy again.
    AgentRecovered {
        /// The agent's node.
        agent: String,
    },
    /// An agent left the grid (its node stopped cleanly).
    AgentUnregistered {
        /// The agent's node.
        agent: String,
    },
    /// An actor is about to be started.
    SpawnRequested {
        /// The actor.
        actor: String,
    },
    /// An actor started.
    SpawnSucceeded {
        /// The actor.
        actor: String,
    },
    /// An actor could not be started.
    SpawnFailed {
        /// The actor.
        actor: String,
        /// Why.
        error: String,
    },
    /// An actor was asked to stop (an operator's kill, a clean node stop).
    StopRequested {
        /// The actor.
        actor: String,
        /// Who asked.
        by: String,
    },
    /// An actor stopped as asked.
    StopSucceeded {
        /// The actor.
        actor: String,
    },
    /// An actor did not stop as asked.
    StopFailed {
        /// The actor.
        actor: String,
        /// Why.
        error: String,
    },
    /// A node stopped without a clean shutdown (seen when it starts again, or by the
    /// grid master).
    NodeCrashed {
        /// The node that crashed.
        crashed: String,
        /// How it was noticed.
        seen: String,
    },
    /// A node started (again).
    NodeRestarted {
        /// Milliseconds from process start to ready.
        startup_ms: u64,
        /// Whether its previous run ended without a clean stop.
        after_crash: bool,
    },
    /// Every part of a node is up (`/ready` says ready).
    NodeHealthy {
        /// Milliseconds from process start.
        after_ms: u64,
    },
    /// A shard's storage figures (periodic).
    StorageMetrics {
        /// The shard.
        shard: u32,
        /// Concepts in its snapshot.
        concepts: u64,
        /// Its log position.
        lsn: u64,
        /// Log records since its last checkpoint.
        records_since_checkpoint: u64,
        /// Checkpoints written since start.
        checkpoints: u64,
    },
    /// A shard finished reconciling its state on opening: its checkpoint loaded and
    /// the log after it replayed, so it serves every acknowledged write. (Routine folds
    /// are in `/metrics`: as events, storing them would make more folds to report.)
    ReconciliationComplete {
        /// The shard.
        shard: u32,
        /// Log positions replayed after the checkpoint.
        folded: u64,
        /// How long opening took.
        ms: f64,
    },
    /// A shard's vector index was rebuilt from its log.
    HnswIndexBuilt {
        /// The shard.
        shard: u32,
        /// Vectors in it.
        vectors: u64,
        /// How long it took.
        ms: f64,
    },
    /// A shard's vector index was loaded from its saved file.
    HnswIndexLoaded {
        /// The shard.
        shard: u32,
        /// Vectors in it.
        vectors: u64,
        /// How long it took.
        ms: f64,
    },
    /// An embedding batch's latency.
    EmbeddingLatency {
        /// The replica.
        replica: String,
        /// Texts in the batch.
        texts: u64,
        /// How long it took.
        ms: f64,
    },
    /// An embedder replica serves (again).
    EmbeddingServiceHealthy {
        /// The replica.
        replica: String,
    },
    /// An embedder replica failed a batch or cannot load its model.
    EmbeddingServiceDegraded {
        /// The replica.
        replica: String,
        /// Why.
        error: String,
    },
    /// A question was answered.
    QueryPerformance {
        /// The knowledge base.
        kb: String,
        /// How long it took.
        ms: f64,
        /// The verdict.
        verdict: String,
    },
    /// The path search behind a question.
    PathfindingMetrics {
        /// Paths found.
        paths: u64,
        /// The deepest path's hops.
        depth: u64,
        /// How long the search took.
        ms: f64,
    },
    /// A transaction committed.
    TransactionCommitted {
        /// The transaction.
        tx: String,
        /// Shards it wrote.
        shards: u64,
        /// Prepare to decision, in milliseconds.
        ms: f64,
    },
    /// A transaction aborted.
    TransactionAborted {
        /// The transaction.
        tx: String,
        /// Shards it touched.
        shards: u64,
        /// Why.
        reason: String,
    },
}

impl EventKind {
    /// The type name (`"ActorCrashed"`).
    pub fn name(&self) -> &'static str {
        use EventKind::*;
        match self {
            ActorCrashed { .. } => "ActorCrashed",
            ActorRestarted { .. } => "ActorRestarted",
            ActorGaveUp { .. } => "ActorGaveUp",
            AgentRegistered { .. } => "AgentRegistered",
            AgentHeartbeat { .. } => "AgentHeartbeat",
            AgentDegraded { .. } => "AgentDegraded",
            AgentOffline { .. } => "AgentOffline",
            AgentRecovered { .. } => "AgentRecovered",
            AgentUnregistered { .. } => "AgentUnregistered",
            SpawnRequested { .. } => "SpawnRequested",
            SpawnSucceeded { .. } => "SpawnSucceeded",
            SpawnFailed { .. } => "SpawnFailed",
            StopRequested { .. } => "StopRequested",
            StopSucceeded { .. } => "StopSucceeded",
            StopFailed { .. } => "StopFailed",
            NodeCrashed { .. } => "NodeCrashed",
            NodeRestarted { .. } => "NodeRestarted",
            NodeHealthy { .. } => "NodeHealthy",
            StorageMetrics { .. } => "StorageMetrics",
            ReconciliationComplete { .. } => "ReconciliationComplete",
            HnswIndexBuilt { .. } => "HnswIndexBuilt",
            HnswIndexLoaded { .. } => "HnswIndexLoaded",
            EmbeddingLatency { .. } => "EmbeddingLatency",
            EmbeddingServiceHealthy { .. } => "EmbeddingServiceHealthy",
            EmbeddingServiceDegraded { .. } => "EmbeddingServiceDegraded",
            QueryPerformance { .. } => "QueryPerformance",
            PathfindingMetrics { .. } => "PathfindingMetrics",
            TransactionCommitted { .. } => "TransactionCommitted",
            TransactionAborted { .. } => "TransactionAborted",
        }
    }

    /// Every type name, in declaration order.
    pub const NAMES: &'static [&'static str] = &[
        "ActorCrashed",
        "ActorRestarted",
        "ActorGaveUp",
        "AgentRegistered",
        "AgentHeartbeat",
        "AgentDegraded",
        "AgentOffline",
        "AgentRecovered",
        "AgentUnregistered",
        "SpawnRequested",
        "SpawnSucceeded",
        "SpawnFailed",
        "StopRequested",
        "StopSucceeded",
        "StopFailed",
        "NodeCrashed",
        "NodeRestarted",
        "NodeHealthy",
        "StorageMetrics",
        "ReconciliationComplete",
        "HnswIndexBuilt",
        "HnswIndexLoaded",
        "EmbeddingLatency",
        "EmbeddingServiceHealthy",
        "EmbeddingServiceDegraded",
        "QueryPerformance",
        "PathfindingMetrics",
        "TransactionCommitted",
        "TransactionAborted",
    ];

    /// The actor this event concerns, if any (a shard's events concern `shard-N`).
    pub fn actor(&self) -> Option<String> {
        use EventKind::*;
        match self {
            ActorCrashed { actor, .. }
            | ActorRestarted { actor, .. }
            | ActorGaveUp { actor, .. }
            | SpawnRequested { actor }
            | SpawnSucceeded { actor }
            | SpawnFailed { actor, .. }
            | StopRequested { actor, .. }
            | StopSucceeded { actor }
            | StopFailed { actor, .. } => Some(actor.clone()),
            EmbeddingLatency { replica, .. }
            | EmbeddingServiceHealthy { replica }
            | EmbeddingServiceDegraded { replica, .. } => Some(replica.clone()),
            StorageMetrics { shard, .. }
            | ReconciliationComplete { shard, .. }
            | HnswIndexBuilt { shard, .. }
            | HnswIndexLoaded { shard, .. } => Some(format!("shard-{shard}")),
            _ => None,
        }
    }

    /// The node this event is about when it is another node than the emitter (a grid
    /// agent's, a crashed node's).
    pub fn about_node(&self) -> Option<&str> {
        use EventKind::*;
        match self {
            AgentRegistered { agent }
            | AgentHeartbeat { agent, .. }
            | AgentDegraded { agent, .. }
            | AgentOffline { agent, .. }
            | AgentRecovered { agent }
            | AgentUnregistered { agent } => Some(agent),
            NodeCrashed { crashed, .. } => Some(crashed),
            _ => None,
        }
    }

    /// A number the event measures, in milliseconds, if it measures a duration.
    pub fn millis(&self) -> Option<f64> {
        use EventKind::*;
        match self {
            ReconciliationComplete { ms, .. }
            | HnswIndexBuilt { ms, .. }
            | HnswIndexLoaded { ms, .. }
            | EmbeddingLatency { ms, .. }
            | QueryPerformance { ms, .. }
            | PathfindingMetrics { ms, .. }
            | TransactionCommitted { ms, .. } => Some(*ms),
            NodeRestarted { startup_ms, .. } => Some(*startup_ms as f64),
            NodeHealthy { after_ms } => Some(*after_ms as f64),
            _ => None,
        }
    }

    /// One English sentence saying what happened (without node or time: see
    /// [`Event::sentence`]).
    pub fn describe(&self) -> String {
        use EventKind::*;
        match self {
            ActorCrashed { actor, error } => format!("{actor} crashed: {error}"),
            ActorRestarted { actor, restarts } => {
                format!("{actor} was restarted (restart {restarts})")
            }
            ActorGaveUp { actor, crashes } => format!(
                "{actor}'s supervisor gave up after {crashes} crashes and escalated"
            ),
            AgentRegistered { agent } => format!("the grid agent of node {agent} registered"),
            AgentHeartbeat { agent, beats } => {
                format!("node {agent} sent {beats} heartbeats")
            }
            AgentDegraded { agent, reason } => format!("node {agent} is degraded: {reason}"),
            AgentOffline { agent, reason } => format!("node {agent} went offline: {reason}"),
            AgentRecovered { agent } => format!("node {agent} recovered"),
            AgentUnregistered { agent } => format!("node {agent} left the grid"),
            SpawnRequested { actor } => format!("{actor} was asked to start"),
            SpawnSucceeded { actor } => format!("{actor} started"),
            SpawnFailed { actor, error } => format!("{actor} failed to start: {error}"),
            StopRequested { actor, by } => format!("{actor} was asked to stop by {by}"),
            StopSucceeded { actor } => format!("{actor} stopped"),
            StopFailed { actor, error } => format!("{actor} failed to stop: {error}"),
            NodeCrashed { crashed, seen } => format!("node {crashed} crashed ({seen})"),
            NodeRestarted {
                startup_ms,
                after_crash,
            } => format!(
                "the node started in {startup_ms} ms{}",
                if *after_crash {
                    " after an unclean stop"
                } else {
                    ""
                }
            ),
            NodeHealthy { after_ms } => format!("the node is healthy, {after_ms} ms after start"),
            StorageMetrics {
                shard,
                concepts,
                lsn,
                records_since_checkpoint,
                checkpoints,
            } => format!(
                "shard-{shard} holds {concepts} concepts at log position {lsn} ({records_since_checkpoint} records since its last checkpoint, {checkpoints} checkpoints)"
            ),
            ReconciliationComplete { shard, folded, ms } => format!(
                "shard-{shard} reconciled its state on opening ({folded} log positions replayed) in {ms:.0} ms"
            ),
            HnswIndexBuilt { shard, vectors, ms } => format!(
                "shard-{shard} rebuilt its vector index ({vectors} vectors) in {ms:.1} ms"
            ),
            HnswIndexLoaded { shard, vectors, ms } => format!(
                "shard-{shard} loaded its vector index ({vectors} vectors) in {ms:.1} ms"
            ),
            EmbeddingLatency { replica, texts, ms } => {
                format!("{replica} embedded {texts} texts in {ms:.2} ms")
            }
            EmbeddingServiceHealthy { replica } => format!("{replica} serves embeddings"),
            EmbeddingServiceDegraded { replica, error } => {
                format!("{replica} failed: {error}")
            }
            QueryPerformance { kb, ms, verdict } => {
                format!("a question in knowledge base {kb} took {ms:.2} ms (verdict {verdict})")
            }
            PathfindingMetrics { paths, depth, ms } => format!(
                "a path search found {paths} paths up to {depth} hops in {ms:.2} ms"
            ),
            TransactionCommitted { tx, shards, ms } => format!(
                "transaction {tx} committed on {shards} shards in {ms:.2} ms"
            ),
            TransactionAborted { tx, shards, reason } => format!(
                "transaction {tx} aborted on {shards} shards: {reason}"
            ),
        }
    }
}

/// One event: what happened, where and when.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unique per node and run: (process start in ms, sequence) keeps stored events of
    /// different runs apart.
    pub id: String,
    /// The node that emitted it.
    pub node: String,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The client request it happened for (the `x-request-id` of the request, on
    /// whichever node it happened), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// What.
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    /// How the event reads in answers: "2026-12-07T01:40:00.123Z on node n1: shard-2
    /// crashed: boom".
    pub fn sentence(&self) -> String {
        format!(
            "{} on node {}: {}",
            rfc3339(self.at_ms),
            self.node,
            self.kind.describe()
        )
    }

    /// The stored form: the event's JSON (its fields, time and type) followed by
    /// nothing else, so the concept's text is exact and can be read back.
    pub fn content(&self) -> String {
        serde_json::to_string(self).expect("events serialize")
    }

    /// Reads a stored event back ([`Event::content`]).
    pub fn parse(content: &str) -> Option<Event> {
        serde_json::from_str(content).ok()
    }

    /// The names of the concepts the event is linked to: its node, the node it is
    /// about, and its actor.
    pub fn subjects(&self) -> Vec<String> {
        let mut s = vec![format!("node {}", self.node)];
        if let Some(n) = self.kind.about_node() {
            s.push(format!("node {n}"));
        }
        if let Some(a) = self.kind.actor() {
            s.push(a);
        }
        s.dedup();
        s
    }
}

/// RFC 3339 (UTC, milliseconds).
pub fn rfc3339(at_ms: u64) -> String {
    humantime::format_rfc3339_millis(
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(at_ms),
    )
    .to_string()
}

/// Whether a transaction plan only writes the events knowledge base: the sink's own
/// transactions are not events (storing them would feed itself).
pub fn is_events_plan(plan: &crate::protocol::TxnPlan) -> bool {
    plan.parts
        .values()
        .next()
        .is_some_and(|ops| is_events_ops(ops))
}

/// Whether a shard's part of a transaction writes the events knowledge base (the sink's
/// own writes; one-shot injected faults meant for a client's transaction skip them).
pub fn is_events_ops(ops: &[crate::graph::Op]) -> bool {
    ops.first()
        .is_some_and(|op| matches!(op, crate::graph::Op::InKb { kb, .. } if kb == EVENTS_KB))
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The process's event bus: a bounded buffer the sink drains.
struct Bus {
    node: String,
    run: u64,
    tx: tokio::sync::mpsc::Sender<Event>,
}

static BUS: ArcSwapOption<Bus> = ArcSwapOption::const_empty();
static SEQ: AtomicU64 = AtomicU64::new(0);
static EMITTED: AtomicU64 = AtomicU64::new(0);
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Installs the bus of node `node` with room for `capacity` events; returns the
/// receiving end for the sink. A second node in the same process replaces the first's
/// bus (tests run one node per process).
pub fn install(node: &str, capacity: usize) -> tokio::sync::mpsc::Receiver<Event> {
    let (tx, rx) = tokio::sync::mpsc::channel(capacity.max(1));
    BUS.store(Some(std::sync::Arc::new(Bus {
        node: node.to_string(),
        run: now_ms(),
        tx,
    })));
    rx
}

/// Removes the bus (events off, or the node stopping): later emits cost one load.
pub fn uninstall() {
    BUS.store(None);
}

/// Whether events are being collected.
pub fn enabled() -> bool {
    BUS.load().is_some()
}

/// Emits an event without waiting: when the buffer is full (the sink is behind) the
/// event is dropped and counted. An event emitted while serving a client request
/// carries that request's id.
pub fn emit(kind: EventKind) {
    let guard = BUS.load();
    let Some(bus) = guard.as_ref() else { return };
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let event = Event {
        id: format!("{}-{}-{seq}", bus.node, bus.run),
        node: bus.node.clone(),
        at_ms: now_ms(),
        request_id: crate::logging::current_request_id(),
        kind,
    };
    match bus.tx.try_send(event) {
        Ok(()) => {
            EMITTED.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("sutra_events_emitted_total").increment(1);
        }
        Err(_) => {
            DROPPED.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("sutra_events_dropped_total").increment(1);
        }
    }
}

/// Events emitted and dropped since the process started.
pub fn counts() -> (u64, u64) {
    (
        EMITTED.load(Ordering::Relaxed),
        DROPPED.load(Ordering::Relaxed),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_through_their_stored_form() {
        let e = Event {
            id: "n1-1-7".into(),
            node: "n1".into(),
            at_ms: 1_700_000_000_123,
            request_id: None,
            kind: EventKind::ActorCrashed {
                actor: "shard-2".into(),
                error: "panicked".into(),
            },
        };
        let text = e.content();
        assert!(text.contains("\"type\":\"ActorCrashed\""), "{text}");
        assert_eq!(Event::parse(&text), Some(e.clone()));
        assert_eq!(e.subjects(), vec!["node n1".to_string(), "shard-2".into()]);
        assert_eq!(
            e.sentence(),
            "2023-11-14T22:13:20.123Z on node n1: shard-2 crashed: panicked"
        );
        assert_eq!(Event::parse("Paris is in France."), None);
        assert!(!text.contains("request_id"), "absent, not null: {text}");
        let for_request = Event {
            request_id: Some("client-9".into()),
            ..e
        };
        let text = for_request.content();
        assert!(text.contains("\"request_id\":\"client-9\""), "{text}");
        assert_eq!(Event::parse(&text), Some(for_request));
    }

    #[test]
    fn every_type_has_its_name_listed() {
        let kinds = [
            EventKind::NodeHealthy { after_ms: 1 },
            EventKind::TransactionAborted {
                tx: "1.2".into(),
                shards: 2,
                reason: "x".into(),
            },
        ];
        for k in kinds {
            assert!(EventKind::NAMES.contains(&k.name()));
        }
        assert_eq!(EventKind::NAMES.len(), 29);
    }
}

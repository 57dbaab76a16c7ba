//! A snapshot of this node's live supervision tree, for `GET /v1/admin/actors`,
//! `GET /v1/cluster` and `sutra-shell tree`: every actor with its kind, state, mailbox
//! length, restarts and uptime.
//!
//! ractor exposes neither mailbox lengths nor start times (FACTS.md), so both are kept
//! here: supervised children note their start ([`note_started`], called by every
//! [`super::supervisor::ChildSpec`]), and the callers of the busiest actors count what
//! they enqueue and the actors what they take ([`enqueued`] / [`dequeued`]). An actor
//! nobody counts shows `mailbox_len: null` rather than a made-up 0.

use crate::actors::supervisor;
use crate::router::{COORDINATOR, INGRESS, LEARNER, NODE};
use ractor::{registry, ActorCell, ActorStatus};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// One actor of the tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorInfo {
    /// Registered name (or the id of an unnamed actor).
    pub name: String,
    /// ractor's id, e.g. `0.12`.
    pub id: String,
    /// What it is (`shard`, `reconciler`, `grid-agent`, …).
    pub kind: String,
    /// Its supervisor's name; `None` for the root.
    pub parent: Option<String>,
    /// `running`, `read_only` (a shard whose disk refuses writes), `stopping`, …
    pub state: String,
    /// Why a read-only shard is read-only.
    pub read_only: Option<String>,
    /// Restarts by its supervisor since the node started.
    pub restarts: u64,
    /// Messages waiting, where counted (see the module doc).
    pub mailbox_len: Option<u64>,
    /// Milliseconds since it (re)started, where known.
    pub uptime_ms: Option<u64>,
}

static STARTED: Mutex<Option<HashMap<String, Instant>>> = Mutex::new(None);
static MAILBOXES: Mutex<Option<HashMap<String, Arc<AtomicI64>>>> = Mutex::new(None);

/// Notes that the actor named `name` (re)started now.
pub fn note_started(name: &str) {
    STARTED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(name.to_string(), Instant::now());
}

fn uptime_ms(name: &str) -> Option<u64> {
    STARTED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()?
        .get(name)
        .map(|t| t.elapsed().as_millis() as u64)
}

fn mailbox(name: &str) -> Arc<AtomicI64> {
    let mut guard = MAILBOXES.lock().unwrap_or_else(|e| e.into_inner());
    Arc::clone(
        guard
            .get_or_insert_with(HashMap::new)
            .entry(name.to_string())
            .or_default(),
    )
}

/// A message was sent to the actor named `name`.
pub fn enqueued(name: &str) {
    mailbox(name).fetch_add(1, Ordering::Relaxed);
}

/// The actor named `name` took a message from its mailbox.
pub fn dequeued(name: &str) {
    mailbox(name).fetch_sub(1, Ordering::Relaxed);
}

/// The actor named `name` started with an empty mailbox (what a killed predecessor
/// left queued died with it).
pub fn mailbox_reset(name: &str) {
    mailbox(name).store(0, Ordering::Relaxed);
}

fn mailbox_len(name: &str) -> Option<u64> {
    let guard = MAILBOXES.lock().unwrap_or_else(|e| e.into_inner());
    let n = guard.as_ref()?.get(name)?.load(Ordering::Relaxed);
    Some(n.max(0) as u64)
}

/// The kind of an actor, from its documented name.
pub fn kind_of(name: &str) -> &'static str {
    match name {
        NODE => "node-supervisor",
        crate::router::SHARDS => "shards-supervisor",
        COORDINATOR => "txn-coordinator",
        LEARNER => "learner",
        INGRESS => "ingress",
        crate::router::QUERIES => "query-supervisor",
        crate::router::GATEWAY => "gateway",
        crate::router::GRID_AGENT => "grid-agent",
        crate::router::GRID_MASTER => "grid-master",
        crate::actors::embedder::POOL => "embedder-pool",
        n if n.starts_with("embedder-") => "embedder",
        n if n.starts_with("shard-") => "shard",
        n if n.starts_with("reconciler-") => "reconciler",
        n if n.starts_with("query-") => "query",
        _ => "actor",
    }
}

fn status_text(s: ActorStatus) -> &'static str {
    match s {
        ActorStatus::Unstarted => "unstarted",
        ActorStatus::Starting => "starting",
        ActorStatus::Running => "running",
        ActorStatus::Upgrading => "upgrading",
        ActorStatus::Draining => "draining",
        ActorStatus::Stopping => "stopping",
        ActorStatus::Stopped => "stopped",
    }
}

fn walk(cell: &ActorCell, parent: Option<String>, out: &mut Vec<ActorInfo>) {
    let name = cell.get_name();
    let label = name.clone().unwrap_or_else(|| cell.get_id().to_string());
    // A shard whose disk refuses writes is up but read-only; the tree says so and why.
    let read_only = name
        .as_deref()
        .and_then(|n| n.strip_prefix("shard-")?.parse().ok())
        .and_then(crate::actors::shard::local_core)
        .and_then(|core| core.read_only())
        .map(|f| f.reason);
    let state = match &read_only {
        Some(_) => "read_only",
        None => status_text(cell.get_status()),
    };
    out.push(ActorInfo {
        id: cell.get_id().to_string(),
        kind: name.as_deref().map(kind_of).unwrap_or("actor").to_string(),
        parent,
        state: state.to_string(),
        read_only,
        restarts: name.as_deref().map(supervisor::restarts).unwrap_or(0),
        mailbox_len: name.as_deref().and_then(mailbox_len),
        uptime_ms: name.as_deref().and_then(uptime_ms),
        name: label.clone(),
    });
    let mut children = cell.get_children();
    children.sort_by_key(|c| c.get_name());
    for child in children {
        walk(&child, Some(label.clone()), out);
    }
}

/// The live tree from the node's root supervisor, parents before children; `None`
/// while the root is not running.
pub fn snapshot() -> Option<Vec<ActorInfo>> {
    let root = registry::where_is(NODE)?;
    let mut out = Vec::new();
    walk(&root, None, &mut out);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailboxes_count_what_is_enqueued_and_taken() {
        assert_eq!(mailbox_len("tree-test-a"), None);
        enqueued("tree-test-a");
        enqueued("tree-test-a");
        dequeued("tree-test-a");
        assert_eq!(mailbox_len("tree-test-a"), Some(1));
        mailbox_reset("tree-test-a");
        dequeued("tree-test-a");
        assert_eq!(mailbox_len("tree-test-a"), Some(0), "never negative");
        assert_eq!(uptime_ms("tree-test-a"), None);
        note_started("tree-test-a");
        assert!(uptime_ms("tree-test-a").is_some());
        assert_eq!(kind_of("shard-3"), "shard");
        assert_eq!(kind_of("grid-agent"), "grid-agent");
    }
}

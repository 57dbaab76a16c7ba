//! Fault injection for chaos tests: one-shot crash points armed at run time.
//!
//! Off unless the node was started with `--enable-fault-injection`; then
//! `POST /v1/admin/faults` arms a point and the next pass through it crashes the actor
//! there, so tests can kill a 2PC participant or the coordinator at an exact step.

use serde::{Deserialize, Serialize};
use std::sync::Mutex;

/// Where a fault can be injected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "point")]
pub enum FaultPoint {
    /// The coordinator dies after every participant voted yes, before logging a decision.
    CoordinatorAfterPrepare,
    /// The coordinator dies after logging the commit decision, before phase 2.
    CoordinatorAfterDecision,
    /// The next query session panics while reasoning.
    QueryPanic,
    /// Embedder replica `replica` panics on its next batch.
    EmbedderPanic {
        /// The replica index.
        replica: usize,
    },
    /// Embedder replica `replica` stalls for `ms` milliseconds in its next batch (a hung
    /// model, for the batch deadline).
    EmbedderStall {
        /// The replica index.
        replica: usize,
        /// How long.
        ms: u64,
    },
    /// A participant shard panics on receiving Commit, before logging it.
    ShardBeforeCommit {
        /// The shard.
        shard: u32,
    },
}

static ARMED: Mutex<Vec<FaultPoint>> = Mutex::new(Vec::new());

/// Arms a one-shot fault.
pub fn arm(point: FaultPoint) {
    ARMED.lock().unwrap_or_else(|e| e.into_inner()).push(point);
}

/// True (once) if `point` is armed; disarms it.
pub fn fire(point: FaultPoint) -> bool {
    let mut armed = ARMED.lock().unwrap_or_else(|e| e.into_inner());
    match armed.iter().position(|p| *p == point) {
        Some(i) => {
            armed.remove(i);
            tracing::warn!(?point, "injected fault fires");
            true
        }
        None => false,
    }
}

/// The embedder replica `replica`'s fault points: panics or stalls if one is armed.
pub fn hit_embedder(replica: usize) {
    if fire(FaultPoint::EmbedderPanic { replica }) {
        panic!("injected fault: embedder-{replica} panics");
    }
    let stall = {
        let mut armed = ARMED.lock().unwrap_or_else(|e| e.into_inner());
        let at = armed.iter().position(
            |p| matches!(p, FaultPoint::EmbedderStall { replica: r, .. } if *r == replica),
        );
        at.map(|i| armed.remove(i))
    };
    if let Some(FaultPoint::EmbedderStall { ms, .. }) = stall {
        tracing::warn!(replica, ms, "injected fault: embedder stalls");
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_fire_once() {
        let p = FaultPoint::ShardBeforeCommit { shard: 99 };
        assert!(!fire(p));
        arm(p);
        assert!(fire(p));
        assert!(!fire(p));
    }
}

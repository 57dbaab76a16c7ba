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
    /// Every write, sync and probe of shard `shard`'s log fails with `errno` (28:
    /// ENOSPC, 5: EIO) for `ms` milliseconds: a full or failing disk that then recovers.
    /// `ms` 0 ends the shard's log faults at once (space freed).
    LogError {
        /// The shard.
        shard: u32,
        /// The error number each write gets.
        errno: i32,
        /// How long the fault lasts.
        ms: u64,
    },
    ShardBeforeCommit {
        /// The shard.
        shard: u32,
    },
}

static ARMED: Mutex<Vec<FaultPoint>> = Mutex::new(Vec::new());

/// Log faults in force: shard, errno, until when.
static LOG_ERRORS: Mutex<Vec<(u32, i32, std::time::Instant)>> = Mutex::new(Vec::new());

/// The errno shard `shard`'s log writes get now, if a [`FaultPoint::LogError`] is in
/// force.
pub fn log_error(shard: u32) -> Option<i32> {
    let mut faults = LOG_ERRORS.lock().unwrap_or_else(|e| e.into_inner());
    let now = std::time::Instant::now();
    faults.retain(|f| f.2 > now);
    faults.iter().find(|f| f.0 == shard).map(|f| f.1)
}

/// Arms a one-shot fault.
pub fn arm(point: FaultPoint) {
    if let FaultPoint::LogError { shard, errno, ms } = point {
        let until = std::time::Instant::now() + std::time::Duration::from_millis(ms);
        let mut faults = LOG_ERRORS.lock().unwrap_or_else(|e| e.into_inner());
        faults.retain(|f| f.0 != shard);
        if ms > 0 {
            tracing::warn!(
                shard,
                errno,
                ms,
                "injected fault: the shard's log fails its writes"
            );
            faults.push((shard, errno, until));
        } else {
            tracing::warn!(shard, "injected log fault cleared");
        }
        return;
    }
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

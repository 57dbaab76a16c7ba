//! Fault injection for chaos tests: one-shot crash points armed at run time.
//!
//! Off unless the node was started with `--enable-fault-injection`; then
//! `POST /v1/admin/faults` arms a point and the next pass through it crashes the actor
//! there, so tests can kill a 2PC participant or the coordinator at an exact step.
//! Armed first, [`FaultPoint::ProcessCrash`] turns the next crash into the death of the
//! whole process (a node of a cluster killed at that exact step, as by kill -9).

use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Where a fault can be injected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "point")]
pub enum FaultPoint {
    /// The coordinator dies after every participant voted yes, before its staged record
    /// is logged (armed, the transaction holds the staged record back until the votes
    /// are in, so the crash lands exactly there): the transaction aborts.
    CoordinatorAfterPrepare,
    /// The coordinator dies once the transaction is committed and its commit record is
    /// appended (maybe not yet durable), before any participant hears of it.
    CoordinatorAfterDecision,
    /// The coordinator dies after its staged record is durable and only the first
    /// participant prepared (armed, the transaction sends that one prepare and waits
    /// for it, so the crash lands exactly there): recovery finds a participant without
    /// a prepare and aborts.
    CoordinatorAfterStaged,
    /// The coordinator dies once the transaction is committed (staged record and every
    /// prepare durable), before it logs the commit or tells anyone: recovery finds every
    /// prepare and commits.
    CoordinatorAfterCommitted,
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
    /// Every write (`stage` "write", the default) or every fdatasync after a
    /// successful write (`stage` "sync") of shard `shard`'s log, and every probe, fails
    /// with `errno` (28: ENOSPC, 5: EIO) for `ms` milliseconds: a full or failing disk
    /// that then recovers. `ms` 0 ends the shard's log faults at once (space freed).
    LogError {
        /// The shard.
        shard: u32,
        /// The error number each write gets.
        errno: i32,
        /// How long the fault lasts.
        ms: u64,
        /// Which call fails.
        #[serde(default)]
        stage: LogStage,
    },
    /// The next fdatasync of shard `shard`'s log takes `ms` milliseconds longer (a
    /// stalling disk).
    LogSlowSync {
        /// The shard.
        shard: u32,
        /// The extra time.
        ms: u64,
    },
    /// Shard `shard`'s next checkpoint stalls for `ms` milliseconds after its temp file
    /// is written and synced, before the rename that would make it current (to kill
    /// the process in the middle of a checkpoint).
    CheckpointStall {
        /// The shard.
        shard: u32,
        /// How long.
        ms: u64,
    },
    /// A participant shard panics on hearing that a transaction committed, before
    /// applying or logging it.
    ShardBeforeCommit {
        /// The shard.
        shard: u32,
    },
    /// A participant shard panics right after making a commit visible (and answering
    /// so), before its commit record is even appended, let alone synced.
    ShardAfterVisibleCommit {
        /// The shard.
        shard: u32,
    },
    /// Not a place but a modifier: the next crash point that fires (a panic or the
    /// coordinator's kill) aborts the whole process instead (SIGABRT: no destructor, no
    /// flush, nothing of the process left, as with kill -9), so a cluster test kills a
    /// node at an exact step of a cross-node transaction rather than just an actor that
    /// its supervisor restarts at once.
    ProcessCrash,
}

/// The call in a log's write path that a [`FaultPoint::LogError`] makes fail.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogStage {
    /// The write itself.
    #[default]
    Write,
    /// The fdatasync after a write that succeeded (the data sits in the page cache).
    Sync,
}

static ARMED: Mutex<Vec<FaultPoint>> = Mutex::new(Vec::new());

/// [`FaultPoint::ProcessCrash`] is armed: the next point that fires takes the process.
static PROCESS_CRASH: AtomicBool = AtomicBool::new(false);
/// A point fired under [`FaultPoint::ProcessCrash`]: its crash aborts the process.
static CRASHING: AtomicBool = AtomicBool::new(false);

/// Log faults in force: shard, errno, stage, until when.
type LogFault = (u32, i32, LogStage, std::time::Instant);
static LOG_ERRORS: Mutex<Vec<LogFault>> = Mutex::new(Vec::new());

/// Armed slow syncs: shard, extra milliseconds.
static SLOW_SYNCS: Mutex<Vec<(u32, u64)>> = Mutex::new(Vec::new());

/// The errno a call of shard `shard`'s log at `stage` gets now (any stage when
/// `None`: the probe writes and syncs), if a [`FaultPoint::LogError`] is in force.
pub fn log_error(shard: u32, stage: Option<LogStage>) -> Option<i32> {
    let mut faults = LOG_ERRORS.lock().unwrap_or_else(|e| e.into_inner());
    let now = std::time::Instant::now();
    faults.retain(|f| f.3 > now);
    faults
        .iter()
        .find(|f| f.0 == shard && stage.is_none_or(|s| s == f.2))
        .map(|f| f.1)
}

/// The extra time of an armed [`FaultPoint::LogSlowSync`] for shard `shard`, disarmed.
pub fn take_slow_sync(shard: u32) -> Option<std::time::Duration> {
    let mut slow = SLOW_SYNCS.lock().unwrap_or_else(|e| e.into_inner());
    let i = slow.iter().position(|s| s.0 == shard)?;
    Some(std::time::Duration::from_millis(slow.remove(i).1))
}

/// Armed checkpoint stalls: shard, milliseconds.
static CHECKPOINT_STALLS: Mutex<Vec<(u32, u64)>> = Mutex::new(Vec::new());

/// The stall of an armed [`FaultPoint::CheckpointStall`] for shard `shard`, disarmed.
pub fn take_checkpoint_stall(shard: u32) -> Option<std::time::Duration> {
    let mut stalls = CHECKPOINT_STALLS.lock().unwrap_or_else(|e| e.into_inner());
    let i = stalls.iter().position(|s| s.0 == shard)?;
    Some(std::time::Duration::from_millis(stalls.remove(i).1))
}

/// Arms a one-shot fault.
pub fn arm(point: FaultPoint) {
    if point == FaultPoint::ProcessCrash {
        tracing::warn!("injected fault: the next crash point to fire aborts the process");
        abort_on_injected_panic();
        PROCESS_CRASH.store(true, Ordering::SeqCst);
        return;
    }
    if let FaultPoint::CheckpointStall { shard, ms } = point {
        CHECKPOINT_STALLS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((shard, ms));
        return;
    }
    if let FaultPoint::LogSlowSync { shard, ms } = point {
        tracing::warn!(
            shard,
            ms,
            "injected fault: the shard's next log sync stalls"
        );
        SLOW_SYNCS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((shard, ms));
        return;
    }
    if let FaultPoint::LogError {
        shard,
        errno,
        ms,
        stage,
    } = point
    {
        let until = std::time::Instant::now() + std::time::Duration::from_millis(ms);
        let mut faults = LOG_ERRORS.lock().unwrap_or_else(|e| e.into_inner());
        faults.retain(|f| f.0 != shard);
        if ms > 0 {
            tracing::warn!(
                shard,
                errno,
                ms,
                ?stage,
                "injected fault: the shard's log fails its writes"
            );
            faults.push((shard, errno, stage, until));
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
            let process = PROCESS_CRASH.swap(false, Ordering::SeqCst);
            tracing::warn!(?point, process, "injected fault fires");
            if process {
                CRASHING.store(true, Ordering::SeqCst);
            }
            true
        }
        None => false,
    }
}

/// Aborts the process if the fault that fired last was armed under
/// [`FaultPoint::ProcessCrash`]; otherwise returns (the caller crashes its actor).
pub fn crash_process_if_armed(point: FaultPoint) {
    if CRASHING.load(Ordering::SeqCst) {
        abort(&format!("{point:?}"));
    }
}

/// Straight to stderr (the log's writer thread would not get to it) and abort.
fn abort(what: &str) -> ! {
    eprintln!("injected fault {what}: aborting the whole process (fault point process_crash)");
    std::process::abort();
}

/// Makes the panic of a fault point that fired under [`FaultPoint::ProcessCrash`] abort
/// the process (installed once, when first armed; other panics go on as before).
fn abort_on_injected_panic() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CRASHING.load(Ordering::SeqCst) {
                abort(&info.to_string());
            }
            previous(info);
        }));
    });
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

//! `reconciler-N`: folds shard N's durable writes into a new immutable snapshot and
//! publishes it, on an interval that adapts to load (short while writes arrive, backing
//! off to the maximum when idle), and writes checkpoints in the background.

use crate::events::EventKind;
use crate::protocol::ReconcilerMsg;
use crate::store::shard::ShardCore;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::sync::Arc;
use std::time::Duration;

/// The reconciler actor.
pub struct Reconciler;

/// What a reconciler starts with.
pub struct ReconcilerArgs {
    /// The shard engine it folds.
    pub core: Arc<ShardCore>,
    /// Shortest interval (under load).
    pub min: Duration,
    /// Longest interval (idle).
    pub max: Duration,
    /// Checkpoint after this many records.
    pub checkpoint_every: u64,
}

/// A reconciler's state.
pub struct ReconcilerState {
    args: ReconcilerArgs,
    interval: Duration,
    checkpointing: bool,
    /// After a failed checkpoint (a full disk), none is tried before this, and the
    /// wait doubles on each failure: a full disk is not filled further with doomed
    /// temporary files on every tick.
    retry_at: Option<(tokio::time::Instant, Duration)>,
    /// When the last `StorageMetrics` event was emitted.
    metrics_at: Option<std::time::Instant>,
}

/// How often a shard reports its storage figures as an event.
const METRICS_EVERY: Duration = Duration::from_secs(600);

/// The first wait after a failed checkpoint, and the longest.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(60);

impl ReconcilerState {
    /// Emits the shard's storage figures every [`METRICS_EVERY`] (the first at start).
    fn report(&mut self) {
        if !crate::events::enabled() {
            return;
        }
        let shard = self.args.core.shard();
        if self.metrics_at.is_none_or(|t| t.elapsed() >= METRICS_EVERY) {
            self.metrics_at = Some(std::time::Instant::now());
            let st = self.args.core.stats();
            crate::events::emit(EventKind::StorageMetrics {
                shard,
                concepts: st.concepts,
                lsn: st.durable_lsn,
                records_since_checkpoint: self.args.core.records_since_checkpoint(),
                checkpoints: st.checkpoints,
            });
        }
    }
}

impl Actor for Reconciler {
    type Msg = ReconcilerMsg;
    type State = ReconcilerState;
    type Arguments = ReconcilerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<ReconcilerMsg>,
        args: ReconcilerArgs,
    ) -> Result<ReconcilerState, ActorProcessingErr> {
        myself.cast(ReconcilerMsg::Tick)?;
        Ok(ReconcilerState {
            interval: args.min,
            args,
            checkpointing: false,
            retry_at: None,
            metrics_at: None,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<ReconcilerMsg>,
        msg: ReconcilerMsg,
        state: &mut ReconcilerState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ReconcilerMsg::Tick => {
                // A shard whose disk refused a write checks (bounded by the log's own
                // probe interval) whether it takes writes again.
                state.args.core.probe_log();
                let fold_started = std::time::Instant::now();
                let folded = state.args.core.fold();
                crate::metrics::folded(state.args.core.shard(), folded, fold_started.elapsed());
                state.report();
                state.interval = if folded > 0 {
                    (state.interval / 2).max(state.args.min)
                } else {
                    (state.interval * 2).min(state.args.max)
                };
                let erase = state.args.core.erase_wanted();
                let waiting = state
                    .retry_at
                    .is_some_and(|(at, _)| tokio::time::Instant::now() < at);
                if !state.checkpointing
                    && !waiting
                    && (erase
                        || state.args.core.records_since_checkpoint()
                            >= state.args.checkpoint_every)
                {
                    state.checkpointing = true;
                    let core = state.args.core.clone();
                    let me = myself.clone();
                    tokio::task::spawn_blocking(move || {
                        // Removed data still on disk (a delete whose own erase failed,
                        // or one replayed after a crash) is erased by the next tick.
                        let result = if erase {
                            core.erase()
                        } else {
                            core.checkpoint()
                        }
                        .map_err(|e| e.to_string());
                        let _ = me.cast(ReconcilerMsg::CheckpointDone(result));
                    });
                }
                myself.send_after(state.interval, || ReconcilerMsg::Tick);
            }
            ReconcilerMsg::CheckpointDone(result) => {
                state.checkpointing = false;
                match result {
                    Ok(_) => state.retry_at = None,
                    Err(e) => {
                        // The log still holds everything; a failed checkpoint only
                        // costs replay time, so report it and try again later.
                        let wait = state
                            .retry_at
                            .map_or(RETRY_FIRST, |(_, w)| (w * 2).min(RETRY_MAX));
                        state.retry_at = Some((tokio::time::Instant::now() + wait, wait));
                        tracing::error!(
                            shard = state.args.core.shard(),
                            error = %e,
                            retry_in_ms = wait.as_millis() as u64,
                            "checkpoint failed; the previous checkpoint and the log still hold everything"
                        );
                    }
                }
            }
        }
        Ok(())
    }
}

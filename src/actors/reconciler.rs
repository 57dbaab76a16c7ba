//! `reconciler-N`: folds shard N's durable writes into a new immutable snapshot and
//! publishes it, on an interval that adapts to load (short while writes arrive, backing
//! off to the maximum when idle), and writes checkpoints in the background.

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
                state.interval = if folded > 0 {
                    (state.interval / 2).max(state.args.min)
                } else {
                    (state.interval * 2).min(state.args.max)
                };
                let erase = state.args.core.erase_wanted();
                if !state.checkpointing
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
                if let Err(e) = result {
                    // The log still holds everything; a failed checkpoint only costs
                    // replay time, so report it and try again at the next threshold.
                    tracing::error!(shard = state.args.core.shard(), error = %e, "checkpoint failed");
                }
            }
        }
        Ok(())
    }
}

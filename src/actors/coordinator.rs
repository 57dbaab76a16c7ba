//! `txn-coordinator`: two-phase commit across shards, with presumed abort.
//!
//! Protocol, and the invariant each step keeps:
//! 1. Prepare: every participant makes its part durable (a `Prepare` record) and votes.
//! 2. Decision: only when every vote is yes is `Commit{txid}` appended to the
//!    coordinator's own log and synced. That record IS the commit: a transaction is
//!    committed iff its commit record is durable. No abort record is needed (presumed
//!    abort): a txid of an earlier epoch without a commit record was aborted.
//! 3. Phase 2: `Commit` (or `Abort`) is delivered to every participant, retrying until
//!    the deadline. A participant that missed it asks [`CoordinatorMsg::Status`] later
//!    (after a restart, or when its prepared record grows old) and gets the durable answer.
//!
//! Transactions run as tasks in a `JoinSet` owned by the actor's state, so killing the
//! coordinator really aborts every in-flight transaction (their callers get a retryable
//! error) and the restarted coordinator, with a new epoch, answers for them from its log.

use crate::events::EventKind;
use crate::faults::{self, FaultPoint};
use crate::graph::{ShardId, TxId};
use crate::latency::LatencyWindow;
use crate::protocol::{
    codec, CoordinatorMsg, CoordinatorStats, ShardReply, ShardRequest, SutraError, TxnPlan,
    TxnStatus,
};
use crate::router::Router;
use crate::store::checkpoint;
use crate::store::wal::{OpenError, Wal, WalOptions};
use futures::future::join_all;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// A record of the coordinator's log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum CoordRecord {
    /// A new incarnation started; its txids carry this epoch.
    Epoch(u32),
    /// The commit decision.
    Commit { txid: TxId, shards: Vec<ShardId> },
    /// Every participant has applied the commit; the decision need not be kept.
    Forget(TxId),
}

/// Which transactions are in flight and which committed ones are still owed a
/// delivery. One lock over both, so a status query never sees a txid in neither set
/// while it moves from one to the other.
#[derive(Default)]
struct Table {
    active: HashSet<TxId>,
    committed: HashMap<TxId, Vec<ShardId>>,
    /// Every log record up to here is reflected in `committed` (records are applied in
    /// the log's durability callback, in LSN order), so a checkpoint of `committed` is
    /// exact as of this LSN.
    applied_lsn: u64,
    committed_total: u64,
    aborted_total: u64,
    latencies_us: LatencyWindow,
}

impl Table {
    fn apply(&mut self, record: &CoordRecord) {
        match record {
            CoordRecord::Epoch(_) => {}
            CoordRecord::Commit { txid, shards } => {
                self.committed.insert(*txid, shards.clone());
            }
            CoordRecord::Forget(txid) => {
                self.committed.remove(txid);
            }
        }
    }
}

/// What the coordinator's checkpoint holds: everything a restart needs from the log
/// records it replaces.
#[derive(Serialize, Deserialize)]
struct CoordCheckpoint {
    epoch: u32,
    committed: Vec<(TxId, Vec<ShardId>)>,
}

/// The coordinator actor.
pub struct Coordinator;

/// What the coordinator starts with.
pub struct CoordinatorArgs {
    /// Where its decision log lives.
    pub dir: PathBuf,
    /// How it reaches shards.
    pub router: Router,
    /// Checkpoint after this many transactions (at least 1).
    pub compact_every: u64,
}

/// The coordinator's state.
pub struct CoordinatorState {
    wal: Wal,
    dir: PathBuf,
    compact_every: u64,
    epoch: u32,
    /// Whether `epoch`'s record is durable; no transaction runs before it is.
    epoch_durable: bool,
    next_seq: u32,
    table: Arc<Mutex<Table>>,
    router: Router,
    tasks: JoinSet<()>,
}

impl Actor for Coordinator {
    type Msg = CoordinatorMsg;
    type State = CoordinatorState;
    type Arguments = CoordinatorArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<CoordinatorMsg>,
        args: CoordinatorArgs,
    ) -> Result<CoordinatorState, ActorProcessingErr> {
        let dir = args.dir.clone();
        let (wal, last_epoch, table) = tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir)?;
            let mut table = Table::default();
            let mut last_epoch = 0u32;
            if let Some((lsn, bytes)) = checkpoint::read(&dir)? {
                let cp: CoordCheckpoint = codec::decode(&bytes).map_err(|e| {
                    format!("transaction coordinator checkpoint in {}: {e}; restore the data directory from a backup", dir.display())
                })?;
                last_epoch = cp.epoch;
                table.committed = cp.committed.into_iter().collect();
                table.applied_lsn = lsn;
            }
            let after = table.applied_lsn;
            let wal = Wal::open(&dir, WalOptions::default(), after, |lsn, bytes| {
                let record = codec::decode::<CoordRecord>(bytes).map_err(|e| e.to_string())?;
                if let CoordRecord::Epoch(e) = record {
                    last_epoch = last_epoch.max(e);
                }
                table.apply(&record);
                table.applied_lsn = lsn;
                Ok::<(), String>(())
            })
            .map_err(|e| match e {
                OpenError::Wal(e) => format!("transaction coordinator: {e}"),
                OpenError::Visit(e) => format!(
                    "transaction coordinator log in {} has a record that cannot be decoded ({e}); restore the data directory from a backup",
                    dir.display()
                ),
            })?;
            Ok::<_, ActorProcessingErr>((wal, last_epoch, table))
        })
        .await
        .map_err(|e| e.to_string())??;
        let epoch = last_epoch + 1;
        let undelivered = table.committed.len();
        let table = Arc::new(Mutex::new(table));
        // On a full or failing disk the coordinator still starts (a crash loop would
        // help nobody); it runs no transaction until its epoch is durable, so a txid is
        // never handed out twice.
        let epoch_durable = match durable(&wal, &table, CoordRecord::Epoch(epoch)).await {
            Ok(()) => true,
            Err(e) if wal.failure().is_some() => {
                tracing::warn!(epoch, error = %e, "transaction coordinator started read-only: its log cannot write; transactions are refused until it can");
                false
            }
            Err(e) => return Err(e.into()),
        };
        tracing::info!(epoch, undelivered, "transaction coordinator started");
        Ok(CoordinatorState {
            epoch_durable,
            wal,
            dir: args.dir,
            compact_every: args.compact_every.max(1),
            epoch,
            next_seq: 0,
            table,
            router: args.router,
            tasks: JoinSet::new(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<CoordinatorMsg>,
        msg: CoordinatorMsg,
        state: &mut CoordinatorState,
    ) -> Result<(), ActorProcessingErr> {
        // Reap finished transactions so the set does not grow.
        while state.tasks.try_join_next().is_some() {}
        match msg {
            CoordinatorMsg::Run(plan, reply) => {
                // A decision that cannot be logged must not be reached: refuse before
                // any participant prepares.
                if let Err(e) = state.writable().await {
                    let _ = reply.send(Err(e));
                    return Ok(());
                }
                state.next_seq = state
                    .next_seq
                    .checked_add(1)
                    .ok_or("transaction sequence exhausted for this epoch; restarting the coordinator starts a new epoch")?;
                // Checkpoint the table and drop the log it covers every so often, so a
                // restart replays at most that many transactions.
                if u64::from(state.next_seq) % state.compact_every == 0 {
                    state.compact();
                }
                let txid = TxId::new(state.epoch, state.next_seq);
                lock(&state.table).active.insert(txid);
                let quiet = crate::events::is_events_plan(&plan);
                let touched = plan.parts.len() as u64;
                let run = Txn {
                    txid,
                    plan,
                    router: state.router.clone(),
                    wal: state.wal.clone(),
                    table: state.table.clone(),
                    myself,
                };
                crate::logging::spawn_in_span(&mut state.tasks, async move {
                    let started = Instant::now();
                    let result = run.run().await;
                    let mut t = lock(&run.table);
                    t.active.remove(&txid);
                    match &result {
                        Ok(_) => {
                            t.committed_total += 1;
                            t.latencies_us.push(started.elapsed().as_micros() as u64);
                        }
                        Err(_) => t.aborted_total += 1,
                    }
                    drop(t);
                    tracing::debug!(txid = ?txid, committed = result.is_ok(), "transaction ended");
                    if !quiet {
                        crate::events::emit(match &result {
                            Ok(_) => EventKind::TransactionCommitted {
                                tx: txid.to_string(),
                                shards: touched,
                                ms: started.elapsed().as_secs_f64() * 1000.0,
                            },
                            Err(e) => EventKind::TransactionAborted {
                                tx: txid.to_string(),
                                shards: touched,
                                reason: e.to_string(),
                            },
                        });
                    }
                    let _ = reply.send(result);
                });
            }
            CoordinatorMsg::Status(txid, reply) => {
                let t = lock(&state.table);
                let status = if t.committed.contains_key(&txid) {
                    TxnStatus::Committed
                } else if t.active.contains(&txid) {
                    TxnStatus::Pending
                } else {
                    // Presumed abort: no durable commit record and not in flight. A
                    // forgotten commit is never asked about: every participant had
                    // logged it before we forgot it.
                    TxnStatus::Aborted
                };
                let _ = reply.send(status);
            }
            CoordinatorMsg::Stats(reply) => {
                let t = lock(&state.table);
                let (p50_us, p99_us) = t.latencies_us.p50_p99();
                let _ = reply.send(CoordinatorStats {
                    epoch: state.epoch,
                    committed: t.committed_total,
                    aborted: t.aborted_total,
                    active: t.active.len() as u64,
                    undelivered: t.committed.len() as u64,
                    p50_us,
                    p99_us,
                });
            }
        }
        Ok(())
    }
}

/// How long an abort is retried: one attempt. An abort is an optimisation under
/// presumed abort (a participant that misses it asks, hears "aborted", and drops its
/// part), so a refused write is answered at once even when a participant's disk is
/// full and cannot log the abort.
const ABORT_WITHIN: Duration = Duration::ZERO;

/// One transaction in flight.
struct Txn {
    txid: TxId,
    plan: TxnPlan,
    router: Router,
    wal: Wal,
    table: Arc<Mutex<Table>>,
    myself: ActorRef<CoordinatorMsg>,
}

impl Txn {
    async fn run(&self) -> Result<TxId, SutraError> {
        let txid = self.txid;
        let shards: Vec<ShardId> = self.plan.parts.keys().copied().collect();
        // Phase 1.
        let votes = join_all(self.plan.parts.iter().map(|(s, ops)| {
            self.router.call(
                *s,
                ShardRequest::Prepare {
                    txid,
                    ops: ops.clone(),
                },
            )
        }))
        .await;
        let prepared: Vec<ShardId> = shards
            .iter()
            .zip(&votes)
            .filter(|(_, v)| v.is_ok())
            .map(|(s, _)| *s)
            .collect();
        if let Some(err) = votes.into_iter().find_map(Result::err) {
            // Some participant did not make its part durable: abort where the part is
            // prepared (those that miss this ask later and hear "aborted" because no
            // commit record exists). A shard that refused has nothing to abort, and
            // waiting on one whose disk is full would only delay the refusal.
            self.deliver(&prepared, |txid| ShardRequest::Abort { txid }, ABORT_WITHIN)
                .await;
            return Err(match err {
                SutraError::Unavailable { message, .. } => SutraError::unavailable(format!(
                    "transaction {txid} aborted, nothing was stored: {message}"
                )),
                SutraError::InsufficientStorage {
                    message,
                    retry_after_s,
                } => SutraError::InsufficientStorage {
                    message: format!("transaction {txid} aborted: {message}"),
                    retry_after_s,
                },
                other => other,
            });
        }
        self.crash_if(FaultPoint::CoordinatorAfterPrepare).await;
        // Decision: durable before anyone hears of it. The durability callback puts
        // txid in `committed` while it is still `active`, so a status query never finds
        // it in neither.
        let decided = durable(
            &self.wal,
            &self.table,
            CoordRecord::Commit {
                txid,
                shards: shards.clone(),
            },
        )
        .await;
        if let Err(e) = decided {
            // Not committed: abort everywhere rather than leave the participants to
            // find out by asking.
            self.deliver(&shards, |txid| ShardRequest::Abort { txid }, ABORT_WITHIN)
                .await;
            return Err(match self.wal.failure() {
                Some(f) => SutraError::storage(&f, &format!("transaction {txid}")),
                None => SutraError::Internal(format!("cannot log the commit of {txid}: {e}")),
            });
        }
        lock(&self.table).active.remove(&txid);
        self.crash_if(FaultPoint::CoordinatorAfterDecision).await;
        // Phase 2. The transaction is committed whatever happens now; participants that
        // miss the message resolve it from our log.
        let delivered = self
            .deliver(
                &shards,
                |txid| ShardRequest::Commit { txid },
                self.router.timeout,
            )
            .await;
        if delivered {
            // Not waited for: losing it only means a later restart keeps the decision.
            let _ = append(&self.wal, &self.table, CoordRecord::Forget(txid), |_| {});
        }
        Ok(txid)
    }

    /// Sends a phase-2 message to every shard, retrying each until `within` passes.
    /// True if every shard acknowledged it.
    async fn deliver(
        &self,
        shards: &[ShardId],
        make: impl Fn(TxId) -> ShardRequest,
        within: Duration,
    ) -> bool {
        let deadline = Instant::now() + within;
        let results = join_all(shards.iter().map(|s| {
            let req = make(self.txid);
            async move {
                loop {
                    match self.router.call(*s, req.clone()).await {
                        Ok(ShardReply::Durable { .. }) => return true,
                        _ if Instant::now() >= deadline => return false,
                        _ => tokio::time::sleep(Duration::from_millis(20)).await,
                    }
                }
            }
        }))
        .await;
        results.into_iter().all(|ok| ok)
    }

    async fn crash_if(&self, point: FaultPoint) {
        // The event sink's background transactions never take a fault armed for a
        // client's transaction.
        if crate::events::is_events_plan(&self.plan) {
            return;
        }
        if faults::fire(point) {
            tracing::error!(txid = %self.txid, ?point, "injected fault: killing the coordinator");
            self.myself.kill();
            std::future::pending::<()>().await;
        }
    }
}

/// Appends one record; once it is durable, applies it to the table (on the log's
/// flusher thread, in LSN order) and then calls `done`.
fn append(
    wal: &Wal,
    table: &Arc<Mutex<Table>>,
    record: CoordRecord,
    done: impl FnOnce(Result<(), String>) + Send + 'static,
) -> Result<(), String> {
    let table = table.clone();
    let bytes = codec::encode(&record);
    wal.append(
        vec![bytes],
        Box::new(move |r| {
            done(r.map(|range| {
                let mut t = lock(&table);
                t.apply(&record);
                t.applied_lsn = *range.end();
            }))
        }),
    )
    .map_err(|e| e.to_string())
}

/// Appends one record and waits until it is durable and applied.
async fn durable(wal: &Wal, table: &Arc<Mutex<Table>>, record: CoordRecord) -> Result<(), String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    append(wal, table, record, move |r| {
        let _ = tx.send(r);
    })?;
    rx.await
        .map_err(|_| "the coordinator log closed".to_string())?
}

impl CoordinatorState {
    /// Whether transactions can run: the log takes writes and this epoch is logged.
    /// While the log refuses writes, asks it to probe the disk (bounded by its own
    /// interval) and answers with the storage error.
    async fn writable(&mut self) -> Result<(), SutraError> {
        if let Some(f) = self.wal.failure() {
            self.wal.probe();
            return Err(SutraError::storage(&f, "the write"));
        }
        if !self.epoch_durable {
            match durable(&self.wal, &self.table, CoordRecord::Epoch(self.epoch)).await {
                Ok(()) => self.epoch_durable = true,
                Err(e) => {
                    return Err(match self.wal.failure() {
                        Some(f) => SutraError::storage(&f, "the write"),
                        None => SutraError::Internal(format!(
                            "the transaction coordinator cannot log its epoch: {e}"
                        )),
                    })
                }
            }
        }
        Ok(())
    }

    /// Checkpoints the table as of `applied_lsn` and drops the log segments it covers,
    /// in the background.
    fn compact(&mut self) {
        let (lsn, cp) = {
            let t = lock(&self.table);
            let cp = CoordCheckpoint {
                epoch: self.epoch,
                committed: t.committed.iter().map(|(k, v)| (*k, v.clone())).collect(),
            };
            (t.applied_lsn, cp)
        };
        let (dir, wal) = (self.dir.clone(), self.wal.clone());
        self.tasks.spawn_blocking(move || {
            match checkpoint::write(&dir, lsn, &codec::encode(&cp)) {
                // Only once the checkpoint is durable may the records it covers go.
                Ok(()) => wal.truncate_through(lsn),
                Err(e) => tracing::error!(error = %e, "coordinator checkpoint failed; the log keeps everything"),
            }
        });
    }
}

fn lock(t: &Mutex<Table>) -> std::sync::MutexGuard<'_, Table> {
    t.lock().unwrap_or_else(|e| e.into_inner())
}

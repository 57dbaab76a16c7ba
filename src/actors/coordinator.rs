//! `txn-coordinator`: atomic commit across shards without a durable round of its own
//! (parallel commit, after CockroachDB), with presumed abort.
//!
//! Protocol, and the invariant each step keeps:
//! 1. Stage and prepare, in parallel: the coordinator appends `Staged{txid, shards}` to
//!    its own log while every participant makes its part durable (a `Prepare` record).
//!    A transaction is committed iff its staged record AND every participant's prepare
//!    are durable; both are waited for at once, so the client waits for one round of
//!    fsyncs (one per touched log, in parallel), not three in a row.
//! 2. Once committed: the coordinator appends `Commit{txid}` to its log (not waited for)
//!    and sends `Publish` to every participant, which applies its prepared part to a
//!    new snapshot at once and appends its commit record without waiting (see
//!    `ShardCore::commit_ahead` for why that replays the same), then `Commit`, which
//!    each answers once its commit record is durable (that fsync started at `Publish`).
//!    The client is answered then: two rounds of parallel fsyncs in all, none of them
//!    the coordinator's decision. Answering after the first round alone would be
//!    committed but not *visible* after a crash until the restarted shard's in-doubt
//!    resolution had asked the coordinator (a read right after the restart would miss
//!    an acknowledged write); reads would have to wait for that resolution first.
//!    A participant on a node that is down (no session to it) is not waited for: the
//!    client hears at once that the transaction is committed but not shown there (a
//!    503 saying so, not an acknowledgement: the participant's log holds only the
//!    prepare, so right after its restart a read would miss the write until it has
//!    asked). Holding the client until the deadlines run out would only make that
//!    answer 20 s late. The participant applies the commit when its node rejoins (its
//!    shard finds the prepare in doubt and asks; the transaction is kept, not
//!    forgotten, until it is delivered).
//! 3. In the background: once the coordinator's commit record is durable (and every
//!    participant's, re-asked if the answer went out without them), `Forget{txid}` drops
//!    the transaction from the table. Only then: a participant whose commit record was
//!    lost in a crash still has its prepare, asks, and must hear "committed".
//!
//! Status and recovery. A txid is `Committed` once the coordinator's commit record is
//! durable, `Pending` while it runs (or is being resolved), and otherwise `Aborted`
//! unless a restarted coordinator finds its staged record with no outcome: then it
//! asks every participant whether it holds the transaction (a durable prepare, or a
//! commit the coordinator may not have recorded, which the shard keeps until told).
//! All yes: it was committed (every prepare was durable with the staged record), the
//! commit record is logged. Any no: that participant never made its prepare durable, so
//! the transaction was never committed nor answered; `Forget` is logged (durably, before
//! anyone hears "aborted") and the shard refuses a late prepare of it. A transaction
//! that aborts while its coordinator lives also logs `Forget` before its client hears
//! of it, so no later recovery can commit what a client was told failed. No staged
//! record means aborted: presumed abort, the client was never answered.
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
use futures::future::{join, join_all};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// A record of the coordinator's log. New variants go at the end (the log is
/// bincode: variant indexes are the format).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum CoordRecord {
    /// A new incarnation started; its txids carry this epoch.
    Epoch(u32),
    /// The transaction committed (recorded after the fact: see the module docs).
    Commit { txid: TxId, shards: Vec<ShardId> },
    /// Every participant's commit record is durable, or the transaction aborted: the
    /// transaction need not be kept.
    Forget(TxId),
    /// The transaction is staged: committed iff every participant's prepare is durable.
    Staged { txid: TxId, shards: Vec<ShardId> },
}

/// Which transactions are in flight and which committed ones are still owed a
/// delivery. One lock over both, so a status query never sees a txid in neither set
/// while it moves from one to the other.
#[derive(Default)]
struct Table {
    /// Running, or committed with the commit record not yet durable.
    active: HashSet<TxId>,
    /// Committed with a durable commit record, not yet forgotten.
    committed: HashMap<TxId, Vec<ShardId>>,
    /// Staged, not yet forgotten (with their participants).
    staged: HashMap<TxId, Vec<ShardId>>,
    /// Staged transactions of an earlier incarnation being resolved.
    resolving: HashSet<TxId>,
    /// Every log record up to here is reflected in `committed` (records are applied in
    /// the log's durability callback, in LSN order), so a checkpoint of `committed` is
    /// exact as of this LSN.
    applied_lsn: u64,
    committed_total: u64,
    aborted_total: u64,
    sync_rounds: u64,
    commits_ahead: u64,
    commits_waited: u64,
    resolved_committed: u64,
    resolved_aborted: u64,
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
                self.staged.remove(txid);
            }
            CoordRecord::Staged { txid, shards } => {
                self.staged.insert(*txid, shards.clone());
            }
        }
    }

    /// What a participant hears about `txid` now, asked by a coordinator of `epoch`.
    fn status(&self, txid: TxId, epoch: u32) -> TxnStatus {
        if self.committed.contains_key(&txid) {
            TxnStatus::Committed
        } else if self.active.contains(&txid) || self.resolving.contains(&txid) {
            TxnStatus::Pending
        } else if self.staged.contains_key(&txid) && txid.epoch() < epoch {
            // Staged by an incarnation that died before recording an outcome: the
            // caller starts resolving it.
            TxnStatus::Pending
        } else {
            // Presumed abort: never staged, or aborted (this incarnation decided it), or
            // forgotten (every participant's commit record was durable first, so no
            // participant asks about it).
            TxnStatus::Aborted
        }
    }
}

/// What the coordinator's checkpoint holds: everything a restart needs from the log
/// records it replaces. The staged table follows it as its own value, so checkpoints
/// written before parallel commit still decode.
#[derive(Serialize, Deserialize)]
struct CoordCheckpoint {
    epoch: u32,
    committed: Vec<(TxId, Vec<ShardId>)>,
}

/// The staged table, after a [`CoordCheckpoint`].
type StagedCheckpoint = Vec<(TxId, Vec<ShardId>)>;

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
                let damaged = |e: codec::CodecError| {
                    format!("transaction coordinator checkpoint in {}: {e}; restore the data directory from a backup", dir.display())
                };
                let (cp, used): (CoordCheckpoint, usize) =
                    codec::decode_prefix(&bytes).map_err(damaged)?;
                if used < bytes.len() {
                    let staged: StagedCheckpoint =
                        codec::decode(&bytes[used..]).map_err(damaged)?;
                    table.staged = staged.into_iter().collect();
                }
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
        let staged = table.staged.len();
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
        tracing::info!(
            epoch,
            undelivered,
            staged,
            "transaction coordinator started"
        );
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
                    {
                        let mut t = lock(&run.table);
                        match &result {
                            Ok(_) => {
                                t.committed_total += 1;
                                t.latencies_us.push(started.elapsed().as_micros() as u64);
                            }
                            Err(_) => {
                                t.active.remove(&txid);
                                t.aborted_total += 1;
                            }
                        }
                    }
                    tracing::debug!(txid = ?txid, committed = result.is_ok(), "transaction answered");
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
                    match result {
                        Ok((recorded, everywhere, unshown)) => {
                            let answer = if unshown.is_empty() {
                                Ok(txid)
                            } else {
                                Err(run.unshown(&unshown))
                            };
                            let _ = reply.send(answer);
                            run.settle(recorded, everywhere).await;
                        }
                        Err(e) => {
                            let _ = reply.send(Err(e));
                        }
                    }
                });
            }
            CoordinatorMsg::Status(txids, reply) => {
                let mut t = lock(&state.table);
                let answers: Vec<TxnStatus> =
                    txids.iter().map(|x| t.status(*x, state.epoch)).collect();
                // Staged by a dead incarnation and not yet resolved: resolve each once.
                let resolve: Vec<(TxId, Vec<ShardId>)> = txids
                    .iter()
                    .filter(|x| {
                        x.epoch() < state.epoch
                            && !t.committed.contains_key(x)
                            && !t.resolving.contains(x)
                    })
                    .filter_map(|x| t.staged.get(x).map(|s| (*x, s.clone())))
                    .collect();
                for (txid, shards) in resolve {
                    t.resolving.insert(txid);
                    let (router, wal, table) =
                        (state.router.clone(), state.wal.clone(), state.table.clone());
                    crate::logging::spawn_in_span(
                        &mut state.tasks,
                        resolve_staged(txid, shards, router, wal, table),
                    );
                }
                drop(t);
                let _ = reply.send(answers);
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
                    sync_rounds: t.sync_rounds,
                    commits_ahead: t.commits_ahead,
                    commits_waited: t.commits_waited,
                    resolved_committed: t.resolved_committed,
                    resolved_aborted: t.resolved_aborted,
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

/// The coordinator's commit record of a committed transaction: its durability, when
/// known.
type Recorded = tokio::sync::oneshot::Receiver<Result<(), String>>;

impl Txn {
    /// Runs the transaction until it is committed and visible on every participant (or
    /// aborted). Committed, it returns the pending durability of the coordinator's
    /// commit record, for [`Txn::settle`].
    async fn run(&self) -> Result<(Recorded, bool, Vec<ShardId>), SutraError> {
        let txid = self.txid;
        let shards: Vec<ShardId> = self.plan.parts.keys().copied().collect();
        // Injected crashes that must land between two steps that otherwise overlap
        // hold the later step back (see their docs).
        if self.armed(FaultPoint::CoordinatorAfterPrepare) {
            let _ = self.prepare_all().await;
            self.crash(FaultPoint::CoordinatorAfterPrepare).await;
        }
        if self.armed(FaultPoint::CoordinatorAfterStaged) {
            let _ = self.stage(&shards).await;
            if let Some((first, ops)) = self.plan.parts.iter().next() {
                let prepare = ShardRequest::Prepare {
                    txid,
                    ops: ops.clone(),
                };
                let _ = self.router.call(*first, prepare).await;
            }
            self.crash(FaultPoint::CoordinatorAfterStaged).await;
        }
        // One durable round: the staged record and every prepare, in parallel.
        let (staged, votes) = join(self.stage(&shards), self.prepare_all()).await;
        let prepared: Vec<ShardId> = shards
            .iter()
            .zip(&votes)
            .filter(|(_, v)| v.is_ok())
            .map(|(s, _)| *s)
            .collect();
        let failed = votes.into_iter().find_map(Result::err);
        if failed.is_some() || staged.is_err() {
            // Not committed. Log that before anyone hears it (a restarted coordinator
            // must not find the staged record and every prepare, and commit what the
            // client was told failed), and abort where the part is prepared (those
            // that miss it ask later and hear "aborted"). A shard that refused has
            // nothing to abort, and waiting on one whose disk is full would only delay
            // the refusal.
            let (forgotten, _) = join(
                durable(&self.wal, &self.table, CoordRecord::Forget(txid)),
                self.deliver(&prepared, |txid| ShardRequest::Abort { txid }, ABORT_WITHIN),
            )
            .await;
            if let Err(e) = forgotten {
                tracing::warn!(%txid, error = %e, "could not log an abort; a restarted coordinator resolves it from the participants");
            }
            return Err(match failed {
                Some(SutraError::Unavailable { message, .. }) => SutraError::unavailable(format!(
                    "transaction {txid} aborted, nothing was stored: {message}"
                )),
                Some(SutraError::InsufficientStorage {
                    message,
                    retry_after_s,
                }) => SutraError::InsufficientStorage {
                    message: format!("transaction {txid} aborted: {message}"),
                    retry_after_s,
                },
                Some(other) => other,
                None => match self.wal.failure() {
                    Some(f) => SutraError::storage(&f, &format!("transaction {txid}")),
                    None => SutraError::Internal(format!(
                        "cannot stage {txid}: {}",
                        staged.err().unwrap_or_default()
                    )),
                },
            });
        }
        // Committed: the staged record and every prepare are durable.
        self.crash_if(FaultPoint::CoordinatorAfterCommitted).await;
        // Recorded after the fact, not waited for; until it is durable the txid stays
        // active, so a participant asking hears "pending", never "aborted".
        let (tx, recorded) = tokio::sync::oneshot::channel();
        let record = CoordRecord::Commit {
            txid,
            shards: shards.clone(),
        };
        if let Err(e) = append(&self.wal, &self.table, record, move |r| {
            let _ = tx.send(r);
        }) {
            // The log closed under us: still committed; the participants' in-doubt
            // resolution finds the staged record and every prepare.
            tracing::warn!(%txid, error = %e, "could not append the commit record");
        }
        self.crash_if(FaultPoint::CoordinatorAfterDecision).await;
        // Visible everywhere, without another fsync (unless a participant had data
        // writes in flight ahead of the commit: then it waits for its commit record).
        let deadline = Instant::now() + self.router.timeout;
        let published = join_all(shards.iter().map(|s| async move {
            loop {
                match self.router.call(*s, ShardRequest::Publish { txid }).await {
                    Ok(ShardReply::Visible { waited }) => return Some(waited),
                    Ok(_) => return Some(true),
                    // Its node is down: it applies the commit when it rejoins.
                    Err(_) if !self.router.reachable(*s) => return None,
                    Err(_) if Instant::now() >= deadline => return None,
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        }))
        .await;
        {
            let mut t = lock(&self.table);
            let waited = published.iter().filter(|p| **p == Some(true)).count() as u64;
            t.commits_waited += waited;
            t.commits_ahead += published.iter().filter(|p| **p == Some(false)).count() as u64;
            t.sync_rounds += 1 + u64::from(waited > 0);
        }
        // Participants that cannot show the commit because their node is down.
        let unshown: Vec<ShardId> = shards
            .iter()
            .zip(&published)
            .filter(|(s, p)| p.is_none() && !self.router.reachable(**s))
            .map(|(s, _)| *s)
            .collect();
        if published.iter().any(Option::is_none) {
            // Committed all the same: the participant applies it when it is back (it
            // asks, or hears it from `settle`).
            tracing::warn!(%txid, "a participant did not show the commit in time; it applies it when it is back");
        }
        // Answered only once every participant's own commit record is durable too (its
        // fsync started when `Publish` queued it): a crash after the answer then finds
        // the commit in each participant's log, so an acknowledged write is visible as
        // soon as its shard is open again, not only once the shard's in-doubt resolution
        // has asked the coordinator. A second round, but never the coordinator's.
        let everywhere = self
            .deliver(
                &shards,
                |txid| ShardRequest::Commit { txid },
                self.router.timeout,
            )
            .await;
        lock(&self.table).sync_rounds += 1;
        if !everywhere {
            tracing::warn!(%txid, "a participant did not make its commit record durable in time; it resolves the commit when it is back");
        }
        Ok((recorded, everywhere, unshown))
    }

    /// The client's answer to a committed transaction that participants `unshown` (on
    /// nodes that are down) cannot show yet: not an acknowledgement, since an
    /// acknowledged write must be in every participant's own log as committed, visible
    /// as soon as its shard is open again; but the error says it is committed.
    fn unshown(&self, unshown: &[ShardId]) -> SutraError {
        let names: Vec<String> = unshown
            .iter()
            .map(|s| match self.router.remote_owner(*s) {
                Some(node) => format!("{} (on node {node})", crate::router::shard_name(*s)),
                None => crate::router::shard_name(*s),
            })
            .collect();
        SutraError::unavailable(format!(
            "transaction {} is committed (durable on every participant), but {} cannot show it yet: node not connected; the write shows there when the node rejoins. Not acknowledged: read before retrying (a retry learns it again)",
            self.txid,
            names.join(", ")
        ))
    }

    /// After the client is answered: once the coordinator's commit record is durable,
    /// has every participant make its commit record durable, then forgets the
    /// transaction. Bounded by the call deadline; what is left undone is finished by
    /// the participants' in-doubt resolution (the transaction stays in the table).
    async fn settle(&self, recorded: Recorded, everywhere: bool) {
        let txid = self.txid;
        if !matches!(recorded.await, Ok(Ok(()))) {
            // Still committed (staged, every prepare durable), but not recorded: it stays
            // active (participants asking hear "pending") until a restarted coordinator
            // resolves it from the participants.
            return;
        }
        lock(&self.table).active.remove(&txid);
        let shards: Vec<ShardId> = self.plan.parts.keys().copied().collect();
        // Usually every commit record was durable before the client was answered.
        let delivered = everywhere
            || self
                .deliver(
                    &shards,
                    |txid| ShardRequest::Commit { txid },
                    self.router.timeout,
                )
                .await;
        if delivered {
            // Not waited for: losing it only means a later restart keeps the record.
            let _ = append(&self.wal, &self.table, CoordRecord::Forget(txid), |_| {});
        }
    }

    /// Appends the staged record and waits until it is durable.
    async fn stage(&self, shards: &[ShardId]) -> Result<(), String> {
        let record = CoordRecord::Staged {
            txid: self.txid,
            shards: shards.to_vec(),
        };
        durable(&self.wal, &self.table, record).await
    }

    /// Sends every participant its prepare; one vote per shard, in plan order.
    async fn prepare_all(&self) -> Vec<Result<ShardReply, SutraError>> {
        join_all(self.plan.parts.iter().map(|(s, ops)| {
            self.router.call(
                *s,
                ShardRequest::Prepare {
                    txid: self.txid,
                    ops: ops.clone(),
                },
            )
        }))
        .await
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
                        // Its node is down: retrying cannot succeed before it rejoins.
                        _ if !self.router.reachable(*s) => return false,
                        _ if Instant::now() >= deadline => return false,
                        _ => tokio::time::sleep(Duration::from_millis(20)).await,
                    }
                }
            }
        }))
        .await;
        results.into_iter().all(|ok| ok)
    }

    /// Whether `point` is armed for this transaction (disarms it). The event sink's
    /// background transactions never take a fault armed for a client's transaction.
    fn armed(&self, point: FaultPoint) -> bool {
        !crate::events::is_events_plan(&self.plan) && faults::fire(point)
    }

    async fn crash_if(&self, point: FaultPoint) {
        if self.armed(point) {
            self.crash(point).await;
        }
    }

    async fn crash(&self, point: FaultPoint) {
        // Armed under `process_crash`: the whole node dies here, not just this actor.
        faults::crash_process_if_armed(point);
        tracing::error!(txid = %self.txid, ?point, "injected fault: killing the coordinator");
        self.myself.kill();
        std::future::pending::<()>().await;
    }
}

/// Resolves a transaction staged by an earlier incarnation that recorded no outcome:
/// committed iff every participant holds it (see the module docs). The outcome is
/// durable before anyone hears it; if a participant cannot be reached, nothing is
/// decided and the next status query tries again.
async fn resolve_staged(
    txid: TxId,
    shards: Vec<ShardId>,
    router: Router,
    wal: Wal,
    table: Arc<Mutex<Table>>,
) {
    let answers = join_all(
        shards
            .iter()
            .map(|s| router.call(*s, ShardRequest::Holds { txid })),
    )
    .await;
    let mut holds = Vec::with_capacity(answers.len());
    for answer in answers {
        match answer {
            Ok(ShardReply::Holds(h)) => holds.push(h),
            other => {
                tracing::info!(%txid, ?other, "a participant of a staged transaction did not answer; resolving later");
                lock(&table).resolving.remove(&txid);
                return;
            }
        }
    }
    let committed = holds.iter().all(|h| *h);
    let record = if committed {
        CoordRecord::Commit { txid, shards }
    } else {
        CoordRecord::Forget(txid)
    };
    let logged = durable(&wal, &table, record).await;
    {
        let mut t = lock(&table);
        t.resolving.remove(&txid);
        match logged {
            Ok(()) if committed => t.resolved_committed += 1,
            Ok(()) => t.resolved_aborted += 1,
            Err(e) => {
                tracing::warn!(%txid, error = %e, "could not log the outcome of a staged transaction; resolving later");
                return;
            }
        }
    }
    tracing::info!(%txid, committed, "staged transaction of an earlier incarnation resolved");
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
            let staged: StagedCheckpoint = t.staged.iter().map(|(k, v)| (*k, v.clone())).collect();
            (t.applied_lsn, (cp, staged))
        };
        let (dir, wal) = (self.dir.clone(), self.wal.clone());
        self.tasks.spawn_blocking(move || {
            let mut bytes = codec::encode(&cp.0);
            bytes.extend(codec::encode(&cp.1));
            match checkpoint::write(&dir, lsn, &bytes) {
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

//! `shard-N`: owns one shard's storage engine ([`ShardCore`]) and answers reads, writes
//! and two-phase-commit votes. Its reconciler `reconciler-N` is its linked child, so a
//! shard restart restarts both, and the new pair recovers from the durable log.
//!
//! Writes never block the mailbox: the reply port travels with the record to the log's
//! flusher thread, which replies after the fdatasync covering it. So many writers share
//! one flush (group commit) even though the actor handles one message at a time.
//!
//! In a cross-shard transaction (see `actors::coordinator`) it prepares, applies a
//! committed transaction ahead of its commit record (`Publish`), makes that record
//! durable when the coordinator has recorded the commit (`Commit`), and answers a
//! recovering coordinator whether it holds a staged transaction (`Holds`).

use crate::actors::reconciler::{Reconciler, ReconcilerArgs};
use crate::config::StorageConfig;
use crate::faults::{self, FaultPoint};
use crate::graph::{EvidenceFrom, GraphSnapshot, KbTag, Record, ShardId, SourceKey, TxId};
use crate::protocol::{
    ConceptView, CoordinatorMsg, KbStats, SearchHit, ShardMsg, ShardReply, ShardRequest,
    SutraError, Taught, TxnStatus,
};
use crate::router::{reconciler_name, COORDINATOR};
use crate::store::shard::{Ahead, ShardCore};
use crate::store::wal::WalOptions;
use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

/// A transaction prepared here is asked about after this long without a decision.
const RESOLVE_AFTER: Duration = Duration::from_secs(2);

/// How many refused txids a shard remembers (see [`Refused`]).
const REFUSED_KEPT: usize = 4096;

/// Transactions this shard said it did not hold when a recovering coordinator asked
/// ([`ShardRequest::Holds`]): a prepare of one that arrives late is refused.
///
/// In memory only, which is enough. The late prepare can only come from the
/// coordinator incarnation that died (recovery asks only about an earlier epoch's
/// transactions), so no vote of it is awaited, and the recovering coordinator logs its
/// abort durably before anyone hears "aborted". A prepare that slips past (a restarted
/// shard never sees mail sent to its previous incarnation, but a cross-node request
/// forwarded late could reach the new one) is therefore only a stray prepared part: it
/// is in doubt, its shard asks, finds no staged record and drops it. The tombstone just
/// keeps that from happening in the common case. Bounded: the oldest are forgotten.
#[derive(Default)]
struct Refused {
    set: HashSet<TxId>,
    order: VecDeque<TxId>,
}

impl Refused {
    fn insert(&mut self, txid: TxId) {
        if self.set.insert(txid) {
            self.order.push_back(txid);
            if self.order.len() > REFUSED_KEPT {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }
}

/// Local shard engines by index, for in-process readers (stats, benchmarks, and the
/// reasoner's snapshot reads). Weak, because a killed shard's state must drop (and
/// release its log lock) without any cleanup code running.
static LOCAL: RwLock<Vec<Weak<ShardCore>>> = RwLock::new(Vec::new());

/// The engine of local shard `s`, if it is running on this node.
pub fn local_core(s: ShardId) -> Option<Arc<ShardCore>> {
    LOCAL
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(s as usize)
        .and_then(Weak::upgrade)
}

fn register(s: ShardId, core: Weak<ShardCore>) {
    let mut local = LOCAL.write().unwrap_or_else(|e| e.into_inner());
    if local.len() <= s as usize {
        local.resize(s as usize + 1, Weak::new());
    }
    local[s as usize] = core;
}

/// The shard actor.
pub struct Shard;

/// What a shard starts with.
#[derive(Clone)]
pub struct ShardArgs {
    /// Index.
    pub shard: ShardId,
    /// Its directory (log segments, checkpoint).
    pub dir: PathBuf,
    /// Storage tunables.
    pub storage: StorageConfig,
    /// The node running the transaction coordinator when it is another node (asked
    /// through its gateway about in-doubt transactions); `None` when it runs here.
    pub coordinator_node: Option<String>,
}

/// A shard's state.
pub struct ShardState {
    core: Arc<ShardCore>,
    /// Transactions prepared here and not yet decided, with when we learned of them.
    in_doubt: HashMap<TxId, Instant>,
    /// See [`ShardArgs::coordinator_node`].
    coordinator_node: Option<String>,
    /// Prepared transactions of the event sink (injected faults skip them).
    quiet: HashSet<TxId>,
    /// See [`Refused`].
    refused: Refused,
}

impl Actor for Shard {
    type Msg = ShardMsg;
    type State = ShardState;
    type Arguments = ShardArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<ShardMsg>,
        args: ShardArgs,
    ) -> Result<ShardState, ActorProcessingErr> {
        let opts = WalOptions {
            segment_bytes: args.storage.segment_bytes,
            shard: Some(args.shard),
            ..WalOptions::default()
        };
        let (shard, dir) = (args.shard, args.dir.clone());
        crate::actors::tree::mailbox_reset(&crate::router::shard_name(shard));
        // A killed predecessor's engine may still be alive in a background checkpoint or
        // its flusher's queue; opening before it is gone would race on its files.
        let deadline = Instant::now() + Duration::from_secs(10);
        while local_core(shard).is_some() {
            if Instant::now() > deadline {
                return Err(format!(
                    "shard {shard}: the previous instance did not release its files within 10 s"
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let core = tokio::task::spawn_blocking(move || ShardCore::open(shard, &dir, opts))
            .await
            .map_err(|e| format!("opening shard {shard} panicked: {e}"))??;
        let core = Arc::new(core);
        // Recovered in-doubt transactions are asked about at once: their coordinator
        // may have decided long ago.
        let long_ago = Instant::now() - RESOLVE_AFTER;
        let in_doubt = core
            .snapshot()
            .prepared
            .keys()
            .map(|t| (*t, long_ago))
            .collect();
        Actor::spawn_linked(
            Some(reconciler_name(shard)),
            Reconciler,
            ReconcilerArgs {
                core: core.clone(),
                min: Duration::from_millis(args.storage.reconcile_min_ms),
                max: Duration::from_millis(args.storage.reconcile_max_ms),
                checkpoint_every: args.storage.checkpoint_every_records,
            },
            myself.get_cell(),
        )
        .await?;
        register(shard, Arc::downgrade(&core));
        myself.send_interval(Duration::from_millis(500), || ShardMsg::ResolveInDoubt);
        Ok(ShardState {
            core,
            in_doubt,
            coordinator_node: args.coordinator_node.clone(),
            quiet: Default::default(),
            refused: Refused::default(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<ShardMsg>,
        msg: ShardMsg,
        state: &mut ShardState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ShardMsg::Request(req, reply) => {
                if let Some(name) = myself.get_name() {
                    crate::actors::tree::dequeued(&name);
                }
                self.request(&myself, state, req, reply)
            }
            ShardMsg::ResolveInDoubt => {
                let now = Instant::now();
                // In doubt: prepared long ago and still undecided. Unconfirmed:
                // committed here, and the coordinator has not said it recorded that.
                let mut ask: Vec<TxId> = state
                    .in_doubt
                    .iter()
                    .filter(|(_, since)| now.duration_since(**since) >= RESOLVE_AFTER)
                    .map(|(t, _)| *t)
                    .collect();
                ask.extend(state.core.unconfirmed_older_than(RESOLVE_AFTER));
                if !ask.is_empty() {
                    ask_coordinator(myself.clone(), ask, state.coordinator_node.clone());
                }
                Ok(())
            }
            ShardMsg::Resolved(txid, status) => {
                let record = match status {
                    TxnStatus::Pending => return Ok(()),
                    TxnStatus::Committed => Record::Commit(txid),
                    TxnStatus::Aborted => Record::Abort(txid),
                };
                // Either answer means the coordinator will never ask about it: it holds
                // the commit durably, or has no staged record of it.
                state.core.confirm(txid);
                if state.in_doubt.remove(&txid).is_some() {
                    tracing::info!(shard = state.core.shard(), %txid, ?status, "in-doubt transaction resolved");
                    state.core.submit(vec![record], |_| {})?;
                }
                Ok(())
            }
        }
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<ShardMsg>,
        state: &mut ShardState,
    ) -> Result<(), ActorProcessingErr> {
        // Only on a graceful stop (ractor skips post_stop after a crash or kill), so
        // nothing durable depends on it: it just makes the next start faster.
        // It stays registered until the checkpoint ends (the state drops the last
        // reference then): if the stop times out and the actor is killed, a successor
        // waits for this checkpoint in `pre_start` instead of racing on its files.
        let core = state.core.clone();
        tokio::task::spawn_blocking(move || {
            core.fold();
            core.checkpoint()
        })
        .await
        .map_err(|e| e.to_string())??;
        Ok(())
    }
}

impl Shard {
    fn request(
        &self,
        myself: &ActorRef<ShardMsg>,
        state: &mut ShardState,
        req: ShardRequest,
        reply: RpcReplyPort<ShardReply>,
    ) -> Result<(), ActorProcessingErr> {
        let publish = matches!(req, ShardRequest::Publish { .. });
        let records = match req {
            ShardRequest::Get { id, fresh } => {
                if fresh {
                    state.core.fold();
                }
                let snap = state.core.snapshot();
                let view = snap.nodes.get(&id).and_then(|n| {
                    n.concept.as_ref().map(|c| {
                        Box::new(ConceptView {
                            concept: (**c).clone(),
                            outgoing: n.out().to_vec(),
                            incoming: n.inc().to_vec(),
                            kb: snap.kb_tag_of(id),
                        })
                    })
                });
                let _ = reply.send(ShardReply::Concept(view));
                return Ok(());
            }
            ShardRequest::Fold => {
                state.core.fold();
                let lsn = state.core.snapshot().lsn;
                let _ = reply.send(ShardReply::Durable { lsn });
                return Ok(());
            }
            ShardRequest::Stats => {
                let mut stats = state.core.stats();
                // A decision is only applied once its record is durable and folded, so
                // the published snapshot's prepared set counts too (the actor's own set
                // forgets a transaction as soon as its decision is submitted).
                stats.in_doubt = stats.in_doubt.max(state.in_doubt.len() as u64);
                let _ = reply.send(ShardReply::Stats(stats));
                return Ok(());
            }
            ShardRequest::Search {
                vector,
                k,
                kind,
                kb,
            } => {
                // With a kind filter, over-fetch so filtering still leaves k.
                let fetch = if kind.is_some() { (k * 8).min(2048) } else { k };
                let snap = state.core.snapshot();
                let reply_with = match state.core.search_in(&vector, fetch, KbTag::named(&kb)) {
                    Ok(hits) => ShardReply::Hits(
                        hits.into_iter()
                            .filter_map(|(id, similarity)| {
                                let c = snap.concept(id)?;
                                (kind.is_none() || kind == Some(c.kind)).then(|| SearchHit {
                                    concept_id: id,
                                    content: c.content.clone(),
                                    kind: c.kind,
                                    similarity,
                                })
                            })
                            .take(k)
                            .collect(),
                    ),
                    Err(e) => ShardReply::Failed(SutraError::bad("invalid_vector", e.to_string())),
                };
                let _ = reply.send(reply_with);
                return Ok(());
            }
            ShardRequest::FindSource { key, kb } => {
                // A scan of the knowledge base: off the async workers and the mailbox.
                let core = state.core.clone();
                tokio::task::spawn_blocking(move || {
                    core.fold();
                    let taught = find_source(&core.snapshot(), &key, KbTag::named(&kb));
                    let _ = reply.send(ShardReply::Taught(taught));
                });
                return Ok(());
            }
            ShardRequest::Kbs { only } => {
                state.core.fold();
                let snap = state.core.snapshot();
                let kbs = match only {
                    Some(kb) => vec![KbStats::from(&snap.kb_counts(&kb))],
                    None => snap.kb_list().iter().map(KbStats::from).collect(),
                };
                let _ = reply.send(ShardReply::Kbs(kbs));
                return Ok(());
            }
            ShardRequest::Expand { ids } => {
                let (nodes, answered) = crate::reason::remote::expand(&state.core.snapshot(), &ids);
                let _ = reply.send(ShardReply::Nodes { nodes, answered });
                return Ok(());
            }
            ShardRequest::Resolve { names, kb } => {
                state.core.fold();
                let (nodes, stems, rest) =
                    crate::reason::remote::resolve(&state.core.snapshot(), &names, &kb);
                let _ = reply.send(ShardReply::Resolved { nodes, stems, rest });
                return Ok(());
            }
            ShardRequest::Occurrences {
                kb,
                since,
                limit,
                after,
                from,
            } => {
                // Listing a knowledge base (the default one scans the shard): off the
                // async workers and the mailbox.
                let core = state.core.clone();
                tokio::task::spawn_blocking(move || {
                    core.fold();
                    let list = crate::reason::remote::sentences(
                        &core.snapshot(),
                        &kb,
                        since,
                        limit,
                        after,
                        from,
                    );
                    let _ = reply.send(ShardReply::Sentences(list));
                });
                return Ok(());
            }
            ShardRequest::Erase => {
                let core = state.core.clone();
                tokio::task::spawn_blocking(move || {
                    let _ = reply.send(match core.erase() {
                        Ok(lsn) => ShardReply::Durable { lsn },
                        Err(e) => ShardReply::Failed(SutraError::unavailable(format!(
                            "the deletion is durable but not yet erased from disk ({e}); the shard retries at its next checkpoint"
                        ))),
                    });
                });
                return Ok(());
            }
            ShardRequest::Apply { ops } => vec![Record::Apply(ops)],
            ShardRequest::Prepare { txid, ops } => {
                // Refused at once on a read-only disk, before it counts as in doubt.
                if let Some(failure) = state.core.read_only() {
                    let what = format!("a write to shard {}", state.core.shard());
                    let _ = reply.send(ShardReply::Failed(SutraError::storage(&failure, &what)));
                    return Ok(());
                }
                if state.refused.set.contains(&txid) {
                    let _ = reply.send(ShardReply::Failed(SutraError::unavailable(format!(
                        "transaction {txid} was resolved as aborted on shard {}; nothing was stored, retry the write",
                        state.core.shard()
                    ))));
                    return Ok(());
                }
                state.in_doubt.insert(txid, Instant::now());
                if crate::events::is_events_ops(&ops) {
                    state.quiet.insert(txid);
                }
                vec![Record::Prepare { txid, ops }]
            }
            ShardRequest::Publish { txid } => {
                // The event sink's transactions never take a fault armed for a client's.
                let quiet = state.quiet.remove(&txid);
                let shard = state.core.shard();
                if !quiet && faults::fire(FaultPoint::ShardBeforeCommit { shard }) {
                    panic!(
                        "injected fault: shard-{shard} crashed before applying the commit of {txid}"
                    );
                }
                state.in_doubt.remove(&txid);
                match state.core.commit_ahead(txid) {
                    Ahead::Applied => {
                        let _ = reply.send(ShardReply::Visible { waited: false });
                        if !quiet && faults::fire(FaultPoint::ShardAfterVisibleCommit { shard }) {
                            panic!(
                                "injected fault: shard-{shard} crashed after making the commit of {txid} visible, before logging it"
                            );
                        }
                        // Next, before any other record (see ShardCore::commit_ahead). If it
                        // cannot be made durable, memory is ahead of the log in a way a later
                        // resolution would replay in another order: restart from the log
                        // (which still has the prepare, so the commit is asked for again).
                        let me = myself.clone();
                        return state
                            .core
                            .log_commit(txid, move |r| {
                                if let Err(e) = r {
                                    tracing::error!(shard, %txid, error = %e, "the commit record of a commit applied ahead failed; restarting the shard from its log");
                                    me.kill();
                                }
                            })
                            .map_err(|e| format!("shard {shard}: {e}").into());
                    }
                    Ahead::NotPrepared => {
                        let _ = reply.send(ShardReply::Visible { waited: false });
                        return Ok(());
                    }
                    Ahead::Busy => {
                        // The coordinator may not have recorded the commit yet either.
                        state.core.unconfirmed_insert(txid);
                        vec![Record::Commit(txid)]
                    }
                }
            }
            ShardRequest::Commit { txid } => {
                state.quiet.remove(&txid);
                state.in_doubt.remove(&txid);
                // Sent once the coordinator's commit record is durable: it never asks
                // about this transaction again.
                state.core.confirm(txid);
                state.core.fold();
                if state.core.snapshot().prepared.contains_key(&txid) {
                    // Not applied here yet (this shard restarted since, or missed the
                    // publication): commit the usual way.
                    vec![Record::Commit(txid)]
                } else {
                    // Applied ahead: its commit record is durable once all before this
                    // point is.
                    Vec::new()
                }
            }
            ShardRequest::Holds { txid } => {
                let holds = state.core.holds(txid);
                if !holds {
                    state.refused.insert(txid);
                }
                tracing::info!(shard = state.core.shard(), %txid, holds, "a recovering coordinator asked about a staged transaction");
                let _ = reply.send(ShardReply::Holds(holds));
                return Ok(());
            }
            ShardRequest::Abort { txid } => {
                state.in_doubt.remove(&txid);
                state.quiet.remove(&txid);
                vec![Record::Abort(txid)]
            }
        };
        let what = format!("a write to shard {}", state.core.shard());
        let core = state.core.clone();
        let submitted = state.core.submit(records, move |result| {
            let _ = reply.send(match result {
                // A published commit that waited for its record: durable, so the next
                // fold (the learner asks for one) shows it.
                Ok(_) if publish => ShardReply::Visible { waited: true },
                Ok(lsn) => ShardReply::Durable { lsn },
                Err(e) => ShardReply::Failed(match core.read_only() {
                    Some(failure) => SutraError::storage(&failure, &what),
                    None => SutraError::Internal(format!(
                        "the write-ahead log failed ({e}); the write was not acknowledged"
                    )),
                }),
            });
        });
        // A disk that does not take writes only fails the write (through the callback:
        // 507 or 503); reads go on and the reconciler's probe finds when the disk is
        // back, with no restart and no replay. A closed log cannot be fixed in place:
        // crash, and let the supervisor restart the shard, which reopens the log.
        submitted.map_err(|e| format!("shard {}: {e}", state.core.shard()).into())
    }
}

/// Everything knowledge base `kb` (`None`: `default`) of `snap` holds from the teacher
/// `key`: the concepts it taught (and whether it was their only teacher) and the
/// associations it stated directly.
pub fn find_source(snap: &GraphSnapshot, key: &SourceKey, kb: Option<KbTag>) -> Taught {
    let mut taught = Taught::default();
    for id in snap.kb_ids_of(kb) {
        let Some(node) = snap.nodes.get(&id) else {
            continue;
        };
        if let Some(c) = &node.concept {
            let matching = c.sources.iter().filter(|s| s.matches(key)).count();
            if matching > 0 {
                taught.concepts.push((id, matching == c.sources.len()));
            }
        }
        for a in node.out() {
            if a.provenance.iter().any(|e| match &e.from {
                EvidenceFrom::Direct(s) => s.matches(key),
                EvidenceFrom::Sentence(_) => false,
            }) {
                taught.direct.push(a.clone());
            }
        }
    }
    taught
}

/// Asks the coordinator about `txids` in one call, off the mailbox (through its node's
/// gateway when it runs on `remote`), and reports each answer back as `Resolved`.
fn ask_coordinator(myself: ActorRef<ShardMsg>, txids: Vec<TxId>, remote: Option<String>) {
    tokio::spawn(async move {
        let statuses = match remote {
            Some(node) => {
                let call = crate::cluster::WireCall::TxnStatus(txids.clone());
                match crate::cluster::call(&node, &call, Duration::from_secs(2)).await {
                    Ok(crate::cluster::WireReply::TxnStatus(statuses)) => statuses,
                    _ => return,
                }
            }
            None => {
                let Some(coord) = ActorRef::<CoordinatorMsg>::where_is(COORDINATOR) else {
                    return;
                };
                let asked = txids.clone();
                match coord
                    .call(
                        |tx| CoordinatorMsg::Status(asked, tx),
                        Some(Duration::from_secs(2)),
                    )
                    .await
                {
                    Ok(CallResult::Success(statuses)) => statuses,
                    _ => return,
                }
            }
        };
        for (txid, status) in txids.into_iter().zip(statuses) {
            let _ = myself.cast(ShardMsg::Resolved(txid, status));
        }
    });
}

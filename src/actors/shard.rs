//! `shard-N`: owns one shard's storage engine ([`ShardCore`]) and answers reads, writes
//! and two-phase-commit votes. Its reconciler `reconciler-N` is its linked child, so a
//! shard restart restarts both, and the new pair recovers from the durable log.
//!
//! Writes never block the mailbox: the reply port travels with the record to the log's
//! flusher thread, which replies after the fdatasync covering it. So many writers share
//! one flush (group commit) even though the actor handles one message at a time.

use crate::actors::reconciler::{Reconciler, ReconcilerArgs};
use crate::config::StorageConfig;
use crate::faults::{self, FaultPoint};
use crate::graph::{EvidenceFrom, GraphSnapshot, KbTag, Record, ShardId, SourceKey, TxId};
use crate::protocol::{
    ConceptView, CoordinatorMsg, KbStats, SearchHit, ShardMsg, ShardReply, ShardRequest,
    SutraError, Taught, TxnStatus,
};
use crate::router::{reconciler_name, COORDINATOR};
use crate::store::shard::ShardCore;
use crate::store::wal::WalOptions;
use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

/// A transaction prepared here is asked about after this long without a decision.
const RESOLVE_AFTER: Duration = Duration::from_secs(2);

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

/// One snapshot of every shard `0..shards`, all local; `Err(s)` names the first shard
/// not running on this node (restarting, or on another node).
pub fn local_snapshots(shards: u32) -> Result<Vec<Arc<crate::graph::GraphSnapshot>>, ShardId> {
    (0..shards)
        .map(|s| local_core(s).map(|c| c.snapshot()).ok_or(s))
        .collect()
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
    quiet: std::collections::HashSet<TxId>,
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
                self.request(state, req, reply)
            }
            ShardMsg::ResolveInDoubt => {
                let now = Instant::now();
                for (txid, since) in &state.in_doubt {
                    if now.duration_since(*since) >= RESOLVE_AFTER {
                        ask_coordinator(myself.clone(), *txid, state.coordinator_node.clone());
                    }
                }
                Ok(())
            }
            ShardMsg::Resolved(txid, status) => {
                let record = match status {
                    TxnStatus::Pending => return Ok(()),
                    TxnStatus::Committed => Record::Commit(txid),
                    TxnStatus::Aborted => Record::Abort(txid),
                };
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
        let core = state.core.clone();
        register(core.shard(), Weak::new());
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
        state: &mut ShardState,
        req: ShardRequest,
        reply: RpcReplyPort<ShardReply>,
    ) -> Result<(), ActorProcessingErr> {
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
                state.in_doubt.insert(txid, Instant::now());
                if crate::events::is_events_ops(&ops) {
                    state.quiet.insert(txid);
                }
                vec![Record::Prepare { txid, ops }]
            }
            ShardRequest::Commit { txid } => {
                // The event sink's transactions never take a fault armed for a client's.
                let quiet = state.quiet.remove(&txid);
                if !quiet
                    && faults::fire(FaultPoint::ShardBeforeCommit {
                        shard: state.core.shard(),
                    })
                {
                    panic!(
                        "injected fault: shard-{} crashed before logging the commit of {txid}",
                        state.core.shard()
                    );
                }
                state.in_doubt.remove(&txid);
                vec![Record::Commit(txid)]
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

/// Asks the coordinator about `txid` off the mailbox (through its node's gateway when
/// it runs on `remote`) and reports back as `Resolved`.
fn ask_coordinator(myself: ActorRef<ShardMsg>, txid: TxId, remote: Option<String>) {
    tokio::spawn(async move {
        let status = match remote {
            Some(node) => {
                let call = crate::cluster::WireCall::TxnStatus(txid);
                match crate::cluster::call(&node, &call, Duration::from_secs(2)).await {
                    Ok(crate::cluster::WireReply::TxnStatus(status)) => status,
                    _ => return,
                }
            }
            None => {
                let Some(coord) = ActorRef::<CoordinatorMsg>::where_is(COORDINATOR) else {
                    return;
                };
                match coord
                    .call(
                        |tx| CoordinatorMsg::Status(txid, tx),
                        Some(Duration::from_secs(2)),
                    )
                    .await
                {
                    Ok(CallResult::Success(status)) => status,
                    _ => return,
                }
            }
        };
        let _ = myself.cast(ShardMsg::Resolved(txid, status));
    });
}

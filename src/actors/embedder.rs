//! `embedders`: the embedding pool. It supervises the replicas `embedder-0` ..
//! `embedder-{N-1}` (each owns one ONNX Runtime session), gathers texts from many callers
//! into batches (bounded by texts, tokens and a short wait), sends each batch to an idle
//! healthy replica, and answers each caller when all its texts are embedded.
//!
//! Failover is supervision: the pool is the replicas' supervisor, so it learns of a crash
//! from the supervision event itself, puts the crashed replica's in-flight batch back at
//! the head of the queue for the next idle replica, and restarts the replica with
//! backoff. A batch past its deadline is treated the same way (the replica is killed).
//! With no replica up for `unavailable_wait_ms`, waiting callers get a 503; a full queue
//! refuses new texts with a 503 at once (backpressure), so memory stays bounded. Texts
//! whose caller stopped waiting are dropped when they reach the head of the queue.
//!
//! Invariant: every queued text belongs to exactly one known request, and every request
//! is answered exactly once (vectors, overload, or unavailable) unless its caller has
//! stopped waiting, in which case it is dropped with its queued texts. (A text in flight
//! may outlive its request; its vector then only goes to the cache.)

use crate::actors::supervisor::{count_restart, CrashHistory, RestartPolicy};
use crate::config::EmbeddingConfig;
use crate::embed::cache::{cache_key, EmbeddingCache};
use crate::embed::model::{EmbedError, Embedded, Embedder, ModelFiles};
use crate::events::EventKind;
use crate::latency::LatencyWindow;
use crate::protocol::SutraError;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use ractor_cluster_derive::RactorMessage;
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The pool's registered name.
pub const POOL: &str = "embedders";

/// A replica's registered name.
pub fn replica_name(i: usize) -> String {
    format!("embedder-{i}")
}

/// One embedding, shared between the cache and callers.
pub type Vector = Arc<[f32]>;

/// Messages of the pool.
#[derive(RactorMessage)]
pub enum PoolMsg {
    /// Embed these texts; the reply has one unit vector per text, in order.
    Embed(Vec<String>, RpcReplyPort<Result<Vec<Vector>, SutraError>>),
    /// A replica finished a batch.
    Done {
        /// Replica index.
        replica: usize,
        /// Batch id.
        batch: u64,
        /// Vectors or the model's error.
        result: Result<Embedded, EmbedError>,
    },
    /// A replica (re)started, or failed to.
    Started(usize, Result<ActorRef<ReplicaMsg>, String>),
    /// Backoff elapsed: start replica `i` again.
    Restart(usize),
    /// Timer: flush partial batches, enforce deadlines and the all-down wait.
    Tick,
    /// Counters for `/v1/stats`.
    Stats(RpcReplyPort<PoolStats>),
}

/// Messages of a replica.
#[derive(RactorMessage)]
pub enum ReplicaMsg {
    /// Embed this batch and report to the pool.
    Run {
        /// Batch id.
        batch: u64,
        /// Texts.
        texts: Vec<String>,
    },
}

/// One replica: owns an ONNX Runtime session.
pub struct Replica;

/// What a replica starts with.
pub struct ReplicaArgs {
    /// Its index.
    pub index: usize,
    /// Model files.
    pub files: Arc<ModelFiles>,
    /// Intra-op threads.
    pub threads: usize,
    /// Token limit per text.
    pub max_tokens: usize,
    /// The pool to report to.
    pub pool: ActorRef<PoolMsg>,
}

/// A replica's state.
pub struct ReplicaState {
    index: usize,
    model: Embedder,
    pool: ActorRef<PoolMsg>,
}

impl Actor for Replica {
    type Msg = ReplicaMsg;
    type State = ReplicaState;
    type Arguments = ReplicaArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<ReplicaMsg>,
        args: ReplicaArgs,
    ) -> Result<ReplicaState, ActorProcessingErr> {
        let ReplicaArgs {
            index,
            files,
            threads,
            max_tokens,
            pool,
        } = args;
        let model =
            tokio::task::spawn_blocking(move || Embedder::load(&files, threads, max_tokens))
                .await??;
        Ok(ReplicaState { index, model, pool })
    }

    async fn handle(
        &self,
        _myself: ActorRef<ReplicaMsg>,
        msg: ReplicaMsg,
        state: &mut ReplicaState,
    ) -> Result<(), ActorProcessingErr> {
        let ReplicaMsg::Run { batch, texts } = msg;
        crate::faults::hit_embedder(state.index);
        // Inference is CPU-bound for tens of milliseconds: take this worker thread out of
        // the async scheduler while it runs.
        let result = tokio::task::block_in_place(|| state.model.embed(&texts));
        let _ = state.pool.cast(PoolMsg::Done {
            replica: state.index,
            batch,
            result,
        });
        Ok(())
    }
}

/// Health of one replica, as shown in stats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplicaHealth {
    /// Loading its model.
    Starting,
    /// Serving batches.
    Healthy,
    /// Crashed; restarting after backoff.
    Restarting,
}

/// Per-replica counters.
#[derive(Clone, Debug, Serialize)]
pub struct ReplicaStats {
    /// Registered name.
    pub name: String,
    /// Health.
    pub state: ReplicaHealth,
    /// Whether it is running a batch now.
    pub busy: bool,
    /// Batches completed.
    pub batches: u64,
    /// Texts embedded.
    pub texts: u64,
    /// Restarts so far.
    pub restarts: u64,
}

/// The pool's counters.
#[derive(Clone, Debug, Serialize)]
pub struct PoolStats {
    /// `healthy` when every replica serves, `degraded` when some do, `down` when none.
    pub state: &'static str,
    /// Replicas.
    pub replicas: Vec<ReplicaStats>,
    /// Texts waiting for a replica.
    pub queue_depth: usize,
    /// Queue limit (beyond it: 503).
    pub queue_limit: usize,
    /// Batches run.
    pub batches: u64,
    /// Mean texts per batch.
    pub mean_batch_size: f64,
    /// Largest batch.
    pub max_batch_size: usize,
    /// Latency of a caller's request (all its texts), milliseconds.
    pub request_p50_ms: f64,
    /// 99th percentile of the same.
    pub request_p99_ms: f64,
    /// Batch run time on a replica, milliseconds.
    pub batch_p50_ms: f64,
    /// Cache hits.
    pub cache_hits: u64,
    /// Cache misses.
    pub cache_misses: u64,
    /// Hit rate in [0, 1].
    pub cache_hit_rate: f64,
    /// Embeddings cached.
    pub cache_entries: usize,
    /// Texts truncated to `max_tokens`.
    pub truncated: u64,
    /// Requests refused because the queue was full.
    pub rejected_overload: u64,
    /// Requests failed because no replica was up.
    pub failed_unavailable: u64,
    /// Queued texts dropped unembedded because their caller had stopped waiting (its
    /// deadline passed): an overloaded pool spends no time on answers nobody reads.
    pub abandoned_texts: u64,
    /// Batches re-run on another replica after a crash or deadline.
    pub rerouted_batches: u64,
    /// Longest time from a replica's crash to its batch running elsewhere, milliseconds.
    pub max_crash_to_reroute_ms: f64,
    /// The most recent such time, milliseconds.
    pub last_crash_to_reroute_ms: f64,
    /// Median of recent such times, milliseconds.
    pub crash_to_reroute_p50_ms: f64,
}

struct Item {
    request: u64,
    slot: usize,
    text: String,
    key: String,
    tokens: usize,
    enqueued: Instant,
}

struct Request {
    reply: RpcReplyPort<Result<Vec<Vector>, SutraError>>,
    vectors: Vec<Option<Vector>>,
    remaining: usize,
    started: Instant,
}

struct InFlight {
    batch: u64,
    items: Vec<Item>,
    started: Instant,
}

struct Slot {
    actor: Option<ActorRef<ReplicaMsg>>,
    health: ReplicaHealth,
    in_flight: Option<InFlight>,
    crashes: CrashHistory,
    /// Whether the running replica has finished a batch since it (re)started.
    productive: bool,
    batches: u64,
    texts: u64,
}

/// What the pool starts with.
pub struct PoolArgs {
    /// Replica count.
    pub replicas: usize,
    /// Model files (located and checked before start).
    pub files: Arc<ModelFiles>,
    /// Batching, cache and queue settings.
    pub config: EmbeddingConfig,
}

/// The pool actor.
pub struct Pool;

/// The pool's state.
pub struct PoolState {
    slots: Vec<Slot>,
    files: Arc<ModelFiles>,
    config: EmbeddingConfig,
    policy: RestartPolicy,
    queue: VecDeque<Item>,
    requests: HashMap<u64, Request>,
    next_request: u64,
    next_batch: u64,
    cache: EmbeddingCache,
    tick_at: Option<Instant>,
    batches: u64,
    batched_texts: u64,
    max_batch_size: usize,
    truncated: u64,
    rejected_overload: u64,
    failed_unavailable: u64,
    abandoned: u64,
    rerouted: u64,
    max_reroute_ms: f64,
    last_reroute_ms: f64,
    request_latency: LatencyWindow,
    batch_latency: LatencyWindow,
    reroute_latency: LatencyWindow,
    /// Crash times of texts now back in the queue, by (request, slot).
    requeued: HashMap<(u64, usize), Instant>,
}

impl Pool {
    fn spawn_replica(myself: &ActorRef<PoolMsg>, state: &PoolState, i: usize) {
        let args = ReplicaArgs {
            index: i,
            files: Arc::clone(&state.files),
            threads: state.config.threads_per_replica,
            max_tokens: state.config.max_tokens,
            pool: myself.clone(),
        };
        let pool = myself.clone();
        // Off the pool's mailbox: loading a model takes a few hundred milliseconds, and
        // the pool keeps routing to the other replicas meanwhile.
        tokio::spawn(async move {
            let result = Actor::spawn_linked(Some(replica_name(i)), Replica, args, pool.get_cell())
                .await
                .map(|(actor, _)| actor)
                .map_err(|e| e.to_string());
            let _ = pool.cast(PoolMsg::Started(i, result));
        });
    }

    /// Answers request `id` if all its texts are embedded.
    fn finish_if_complete(state: &mut PoolState, id: u64) {
        if state.requests.get(&id).is_some_and(|r| r.remaining == 0) {
            let r = state.requests.remove(&id).expect("present");
            state
                .request_latency
                .push(r.started.elapsed().as_micros() as u64);
            let vectors = r
                .vectors
                .into_iter()
                .map(|v| v.expect("complete"))
                .collect();
            let _ = r.reply.send(Ok(vectors));
        }
    }

    /// Fails request `id` (dropping its queued texts).
    fn fail(state: &mut PoolState, id: u64, err: SutraError) {
        if let Some(r) = Self::forget(state, id) {
            let _ = r.reply.send(Err(err));
        }
    }

    /// Drops request `id` and every text of it still queued.
    fn forget(state: &mut PoolState, id: u64) -> Option<Request> {
        state.queue.retain(|it| it.request != id);
        state.requeued.retain(|(request, _), _| *request != id);
        state.requests.remove(&id)
    }

    /// Sends batches to idle healthy replicas while there is work.
    fn pump(myself: &ActorRef<PoolMsg>, state: &mut PoolState) {
        loop {
            if state.queue.is_empty() {
                break;
            }
            let Some(i) = state
                .slots
                .iter()
                .enumerate()
                .filter(|(_, s)| s.health == ReplicaHealth::Healthy && s.in_flight.is_none())
                .min_by_key(|(_, s)| s.texts)
                .map(|(i, _)| i)
            else {
                break;
            };
            let max_wait = Duration::from_millis(state.config.max_wait_ms);
            let oldest = state.queue.front().expect("non-empty").enqueued;
            let healthy = state
                .slots
                .iter()
                .filter(|s| s.health == ReplicaHealth::Healthy)
                .count();
            let idle = state
                .slots
                .iter()
                .filter(|s| s.health == ReplicaHealth::Healthy && s.in_flight.is_none())
                .count();
            // Under load (some replica busy) a partial batch waits briefly for company;
            // on an idle pool it goes at once, and requeued work (from a crashed replica)
            // never waits.
            if idle < healthy
                && state.queue.len() < state.config.max_batch
                && oldest.elapsed() < max_wait
                && state.requeued.is_empty()
            {
                Self::schedule_tick(myself, state, oldest + max_wait);
                break;
            }
            // Share the queue among the idle replicas so all of them work.
            let share = state
                .queue
                .len()
                .div_ceil(idle.max(1))
                .clamp(1, state.config.max_batch);
            let mut items = Vec::new();
            let mut longest = 0;
            while let Some(next) = state.queue.front() {
                if state
                    .requests
                    .get(&next.request)
                    .is_none_or(|r| r.reply.is_closed())
                {
                    // The caller stopped waiting (its deadline passed).
                    let id = next.request;
                    let before = state.queue.len();
                    Self::forget(state, id);
                    state.abandoned += (before - state.queue.len()) as u64;
                    continue;
                }
                let longest_with = longest.max(next.tokens);
                if !items.is_empty()
                    && (items.len() >= share
                        || longest_with * (items.len() + 1) > state.config.max_batch_tokens)
                {
                    break;
                }
                longest = longest_with;
                items.push(state.queue.pop_front().expect("non-empty"));
            }
            if items.is_empty() {
                // Everything left was abandoned.
                continue;
            }
            let batch = state.next_batch;
            state.next_batch += 1;
            let texts = items.iter().map(|it| it.text.clone()).collect();
            let slot = &mut state.slots[i];
            let actor = slot.actor.clone().expect("healthy replica has an actor");
            let now = Instant::now();
            // A batch that crashed out of another replica is now rerouted: record how long
            // that took.
            let mut crashed_at = None;
            for it in &items {
                if let Some(t) = state.requeued.remove(&(it.request, it.slot)) {
                    crashed_at = Some(crashed_at.map_or(t, |c: Instant| c.min(t)));
                }
            }
            if let Some(t) = crashed_at {
                let ms = now.duration_since(t).as_secs_f64() * 1000.0;
                state.last_reroute_ms = ms;
                state.max_reroute_ms = state.max_reroute_ms.max(ms);
                state
                    .reroute_latency
                    .push(now.duration_since(t).as_micros() as u64);
                state.rerouted += 1;
            }
            slot.in_flight = Some(InFlight {
                batch,
                items,
                started: now,
            });
            if actor.cast(ReplicaMsg::Run { batch, texts }).is_err() {
                // The replica just died; its supervision event will requeue the batch.
                continue;
            }
        }
        Self::schedule_deadlines(myself, state);
    }

    /// Makes sure a tick arrives by `at`.
    fn schedule_tick(myself: &ActorRef<PoolMsg>, state: &mut PoolState, at: Instant) {
        if state.tick_at.is_some_and(|t| t <= at) {
            return;
        }
        state.tick_at = Some(at);
        myself.send_after(at.saturating_duration_since(Instant::now()), || {
            PoolMsg::Tick
        });
    }

    /// Ticks for batch deadlines and for callers waiting with no replica up.
    fn schedule_deadlines(myself: &ActorRef<PoolMsg>, state: &mut PoolState) {
        let deadline = Duration::from_millis(state.config.batch_deadline_ms);
        let next_deadline = state
            .slots
            .iter()
            .filter_map(|s| s.in_flight.as_ref().map(|f| f.started + deadline))
            .min();
        let next_expiry = (!state.queue.is_empty()
            && !Self::any_up(state)
            && !Self::first_load(state))
        .then(|| Instant::now() + Duration::from_millis(state.config.unavailable_wait_ms.min(100)));
        if let Some(at) = next_deadline.into_iter().chain(next_expiry).min() {
            Self::schedule_tick(myself, state, at);
        }
    }

    /// Whether a replica is still loading its model for the first time.
    fn first_load(state: &PoolState) -> bool {
        state
            .slots
            .iter()
            .any(|s| s.health == ReplicaHealth::Starting)
    }

    fn any_up(state: &PoolState) -> bool {
        state
            .slots
            .iter()
            .any(|s| s.health == ReplicaHealth::Healthy)
    }

    /// Replica `i` is gone (crash, kill or deadline): requeue its batch, restart it.
    fn replica_down(myself: &ActorRef<PoolMsg>, state: &mut PoolState, i: usize, why: &str) {
        let now = Instant::now();
        let slot = &mut state.slots[i];
        if let Some(actor) = slot.actor.take() {
            actor.kill();
        }
        if let Some(f) = slot.in_flight.take() {
            tracing::warn!(replica = i, batch = f.batch, texts = f.items.len(), %why, "embedder replica down; re-running its batch on another replica");
            for it in f.items.into_iter().rev() {
                state.requeued.insert((it.request, it.slot), now);
                state.queue.push_front(it);
            }
        } else {
            tracing::warn!(replica = i, %why, "embedder replica down");
        }
        if slot.health != ReplicaHealth::Restarting {
            slot.health = ReplicaHealth::Restarting;
            crate::events::emit(EventKind::ActorCrashed {
                actor: replica_name(i),
                error: why.to_string(),
            });
            crate::events::emit(EventKind::EmbeddingServiceDegraded {
                replica: replica_name(i),
                error: why.to_string(),
            });
            // Backoff is for replicas that cannot get work done (a model that fails to
            // load, a text that crashes every replica it reaches). One that finished a
            // batch since its start and then died was killed or hit a one-off fault:
            // it comes back at once, or a pool whose replicas are killed now and then
            // would drift into long outages with every replica waiting out a backoff.
            if std::mem::take(&mut slot.productive) {
                slot.crashes = CrashHistory::default();
            }
            let backoff = match slot.crashes.crashed(&state.policy, now) {
                Ok(b) => b,
                Err(n) => {
                    tracing::error!(
                        replica = i,
                        crashes = n,
                        "embedder replica keeps crashing; retrying at the slowest pace"
                    );
                    state.policy.backoff_max
                }
            };
            myself.send_after(backoff, move || PoolMsg::Restart(i));
        }
        Self::pump(myself, state);
    }

    fn stats(state: &PoolState) -> PoolStats {
        let up = state
            .slots
            .iter()
            .filter(|s| s.health == ReplicaHealth::Healthy)
            .count();
        let lookups = state.cache.hits + state.cache.misses;
        PoolStats {
            state: if up == state.slots.len() {
                "healthy"
            } else if up > 0 {
                "degraded"
            } else {
                "down"
            },
            replicas: state
                .slots
                .iter()
                .enumerate()
                .map(|(i, s)| ReplicaStats {
                    name: replica_name(i),
                    state: s.health,
                    busy: s.in_flight.is_some(),
                    batches: s.batches,
                    texts: s.texts,
                    restarts: crate::actors::supervisor::restarts(&replica_name(i)),
                })
                .collect(),
            queue_depth: state.queue.len(),
            queue_limit: state.config.queue_limit,
            batches: state.batches,
            mean_batch_size: if state.batches == 0 {
                0.0
            } else {
                state.batched_texts as f64 / state.batches as f64
            },
            max_batch_size: state.max_batch_size,
            request_p50_ms: state.request_latency.p50_p99().0 as f64 / 1000.0,
            request_p99_ms: state.request_latency.p50_p99().1 as f64 / 1000.0,
            batch_p50_ms: state.batch_latency.p50_p99().0 as f64 / 1000.0,
            cache_hits: state.cache.hits,
            cache_misses: state.cache.misses,
            cache_hit_rate: if lookups == 0 {
                0.0
            } else {
                state.cache.hits as f64 / lookups as f64
            },
            cache_entries: state.cache.len(),
            truncated: state.truncated,
            rejected_overload: state.rejected_overload,
            failed_unavailable: state.failed_unavailable,
            abandoned_texts: state.abandoned,
            rerouted_batches: state.rerouted,
            max_crash_to_reroute_ms: state.max_reroute_ms,
            last_crash_to_reroute_ms: state.last_reroute_ms,
            crash_to_reroute_p50_ms: state.reroute_latency.p50_p99().0 as f64 / 1000.0,
        }
    }
}

/// Rough token count of a text before tokenizing (for batch budgeting only; the
/// tokenizer truncates precisely).
fn estimate_tokens(text: &str, max_tokens: usize) -> usize {
    (text.len() / 4 + 3).min(max_tokens)
}

impl Actor for Pool {
    type Msg = PoolMsg;
    type State = PoolState;
    type Arguments = PoolArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<PoolMsg>,
        args: PoolArgs,
    ) -> Result<PoolState, ActorProcessingErr> {
        let state = PoolState {
            slots: (0..args.replicas)
                .map(|_| Slot {
                    actor: None,
                    health: ReplicaHealth::Starting,
                    in_flight: None,
                    crashes: CrashHistory::default(),
                    productive: false,
                    batches: 0,
                    texts: 0,
                })
                .collect(),
            files: args.files,
            cache: EmbeddingCache::new(args.config.cache_entries),
            config: args.config,
            policy: RestartPolicy {
                backoff_min: Duration::from_millis(10),
                backoff_max: Duration::from_secs(2),
                ..RestartPolicy::default()
            },
            queue: VecDeque::new(),
            requests: HashMap::new(),
            next_request: 0,
            next_batch: 0,
            tick_at: None,
            batches: 0,
            batched_texts: 0,
            max_batch_size: 0,
            truncated: 0,
            rejected_overload: 0,
            failed_unavailable: 0,
            abandoned: 0,
            rerouted: 0,
            max_reroute_ms: 0.0,
            last_reroute_ms: 0.0,
            request_latency: LatencyWindow::default(),
            batch_latency: LatencyWindow::default(),
            reroute_latency: LatencyWindow::default(),
            requeued: HashMap::new(),
        };
        // Every replica loads its model in the background: the node answers questions
        // (which need no vectors for names it knows) while the model loads, and `/ready`
        // says when it is up ([`model_loading`]). Texts sent meanwhile wait in the queue
        // for the first replica (see `Tick`). The model files were located and checked
        // before the node started, so missing files still stop the start; a model that
        // fails to load is logged, retried with backoff, and keeps `/ready` at 503.
        for i in 0..state.slots.len() {
            Self::spawn_replica(&myself, &state, i);
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<PoolMsg>,
        msg: PoolMsg,
        state: &mut PoolState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            PoolMsg::Embed(texts, reply) => {
                let started = Instant::now();
                let keys: Vec<String> = texts.iter().map(|t| cache_key(t)).collect();
                let vectors: Vec<Option<Vector>> =
                    keys.iter().map(|k| state.cache.get(k)).collect();
                let missing = vectors.iter().filter(|v| v.is_none()).count();
                if missing == 0 {
                    state
                        .request_latency
                        .push(started.elapsed().as_micros() as u64);
                    let _ = reply.send(Ok(vectors.into_iter().flatten().collect()));
                    return Ok(());
                }
                // A request larger than the whole limit is still admitted into an empty
                // queue, so no request size can starve.
                if !state.queue.is_empty() && state.queue.len() + missing > state.config.queue_limit
                {
                    state.rejected_overload += 1;
                    let _ = reply.send(Err(SutraError::unavailable(format!(
                        "the embedder queue is full ({} texts waiting, limit {}); retry shortly or send smaller batches",
                        state.queue.len(),
                        state.config.queue_limit
                    ))));
                    return Ok(());
                }
                let id = state.next_request;
                state.next_request += 1;
                for (slot, ((text, key), v)) in
                    texts.into_iter().zip(keys).zip(&vectors).enumerate()
                {
                    if v.is_none() {
                        state.queue.push_back(Item {
                            request: id,
                            slot,
                            tokens: estimate_tokens(&text, state.config.max_tokens),
                            text,
                            key,
                            enqueued: started,
                        });
                    }
                }
                state.requests.insert(
                    id,
                    Request {
                        reply,
                        vectors,
                        remaining: missing,
                        started,
                    },
                );
                Self::pump(&myself, state);
            }
            PoolMsg::Done {
                replica,
                batch,
                result,
            } => {
                let slot = &mut state.slots[replica];
                // A late answer from a replica already declared down is dropped: its
                // batch was requeued and will be answered by the replica that reruns it.
                if slot.in_flight.as_ref().map(|f| f.batch) != Some(batch) {
                    return Ok(());
                }
                let f = slot.in_flight.take().expect("checked");
                match result {
                    Ok(done) => {
                        slot.batches += 1;
                        slot.texts += f.items.len() as u64;
                        slot.productive = true;
                        state.batches += 1;
                        state.batched_texts += f.items.len() as u64;
                        state.max_batch_size = state.max_batch_size.max(f.items.len());
                        crate::metrics::embed_batch(f.items.len());
                        crate::events::emit(EventKind::EmbeddingLatency {
                            replica: replica_name(replica),
                            texts: f.items.len() as u64,
                            ms: f.started.elapsed().as_secs_f64() * 1000.0,
                        });
                        state.truncated += done.truncated as u64;
                        state
                            .batch_latency
                            .push(f.started.elapsed().as_micros() as u64);
                        for (it, v) in f.items.into_iter().zip(done.vectors) {
                            let v: Vector = Arc::from(v);
                            state.cache.put(it.key, Arc::clone(&v));
                            if let Some(r) = state.requests.get_mut(&it.request) {
                                if r.vectors[it.slot].is_none() {
                                    r.vectors[it.slot] = Some(v);
                                    r.remaining -= 1;
                                }
                            }
                            Self::finish_if_complete(state, it.request);
                        }
                    }
                    Err(e) => {
                        // The model rejected this input (not a replica fault): fail the
                        // requests in the batch rather than retrying forever.
                        tracing::error!(replica, error = %e, "embedding batch failed");
                        crate::events::emit(EventKind::EmbeddingServiceDegraded {
                            replica: replica_name(replica),
                            error: format!("a batch failed: {e}"),
                        });
                        let ids: Vec<u64> = f.items.iter().map(|it| it.request).collect();
                        for id in ids {
                            Self::fail(state, id, SutraError::Internal(e.to_string()));
                        }
                    }
                }
                Self::pump(&myself, state);
            }
            PoolMsg::Started(i, result) => match result {
                Ok(actor) => {
                    let slot = &mut state.slots[i];
                    if slot.actor.is_some() {
                        actor.kill();
                    } else {
                        if slot.health == ReplicaHealth::Restarting {
                            count_restart(&replica_name(i));
                            crate::events::emit(EventKind::ActorRestarted {
                                actor: replica_name(i),
                                restarts: crate::actors::supervisor::restarts(&replica_name(i)),
                            });
                        }
                        crate::events::emit(EventKind::EmbeddingServiceHealthy {
                            replica: replica_name(i),
                        });
                        slot.actor = Some(actor);
                        slot.productive = false;
                        slot.health = ReplicaHealth::Healthy;
                        tracing::info!(replica = i, "embedder replica ready");
                        Self::pump(&myself, state);
                    }
                }
                Err(why) => {
                    state.slots[i].health = ReplicaHealth::Starting;
                    Self::replica_down(&myself, state, i, &format!("start failed: {why}"));
                }
            },
            PoolMsg::Restart(i) => {
                if state.slots[i].actor.is_none() {
                    Self::spawn_replica(&myself, state, i);
                }
            }
            PoolMsg::Tick => {
                state.tick_at = None;
                let now = Instant::now();
                let deadline = Duration::from_millis(state.config.batch_deadline_ms);
                let late: Vec<usize> = state
                    .slots
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| {
                        s.in_flight
                            .as_ref()
                            .is_some_and(|f| now.duration_since(f.started) > deadline)
                    })
                    .map(|(i, _)| i)
                    .collect();
                for i in late {
                    Self::replica_down(&myself, state, i, "batch deadline exceeded");
                }
                // While the model first loads (some replica still `Starting`), callers
                // wait for it: the start of a node is not an outage. Their own call
                // timeout still bounds the wait.
                if !Self::any_up(state) && !Self::first_load(state) {
                    let wait = Duration::from_millis(state.config.unavailable_wait_ms);
                    let expired: Vec<u64> = state
                        .requests
                        .iter()
                        .filter(|(_, r)| now.duration_since(r.started) >= wait)
                        .map(|(id, _)| *id)
                        .collect();
                    for id in expired {
                        state.failed_unavailable += 1;
                        Self::fail(
                            state,
                            id,
                            SutraError::unavailable(format!(
                                "no embedder replica is running (all {} are restarting); retry shortly",
                                state.slots.len()
                            )),
                        );
                    }
                }
                Self::pump(&myself, state);
            }
            PoolMsg::Stats(reply) => {
                let _ = reply.send(Self::stats(state));
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<PoolMsg>,
        evt: SupervisionEvent,
        state: &mut PoolState,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, why) = match evt {
            SupervisionEvent::ActorFailed(cell, err) => (cell, format!("failed: {err}")),
            SupervisionEvent::ActorTerminated(cell, _, reason) => (
                cell,
                format!("terminated: {}", reason.unwrap_or_else(|| "killed".into())),
            ),
            _ => return Ok(()),
        };
        let found = state.slots.iter().position(|s| {
            s.actor
                .as_ref()
                .is_some_and(|a| a.get_id() == cell.get_id())
        });
        if let Some(i) = found {
            Self::replica_down(&myself, state, i, &why);
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<PoolMsg>,
        state: &mut PoolState,
    ) -> Result<(), ActorProcessingErr> {
        for slot in &mut state.slots {
            if let Some(a) = slot.actor.take() {
                a.stop(None);
            }
        }
        for (_, r) in state.requests.drain() {
            let _ = r.reply.send(Err(SutraError::unavailable(
                "the embedder pool is stopping; retry shortly",
            )));
        }
        Ok(())
    }
}

/// Client side: embeds `texts` through the pool registered as [`POOL`], waiting at most
/// `timeout`.
pub async fn embed(texts: Vec<String>, timeout: Duration) -> Result<Vec<Vector>, SutraError> {
    if texts.is_empty() {
        return Ok(Vec::new());
    }
    let Some(cell) = ractor::registry::where_is(POOL) else {
        return Err(SutraError::unavailable(
            "the embedder pool is not running (it is restarting); retry shortly",
        ));
    };
    let pool: ActorRef<PoolMsg> = cell.into();
    match pool
        .call(|reply| PoolMsg::Embed(texts, reply), Some(timeout))
        .await
    {
        Ok(ractor::rpc::CallResult::Success(r)) => r,
        Ok(ractor::rpc::CallResult::Timeout) => Err(SutraError::unavailable(format!(
            "embedding did not finish within {} ms; the embedder pool is overloaded, retry shortly",
            timeout.as_millis()
        ))),
        _ => Err(SutraError::unavailable(
            "the embedder pool stopped while embedding; retry shortly",
        )),
    }
}

/// What `/ready` still waits for in the pool: `None` once no replica is loading its
/// model for the first time and at least one serves (a replica restarting later leaves
/// the node ready: degraded, not down), else a phrase saying what is loading.
pub async fn model_loading() -> Option<String> {
    let Some(st) = stats().await else {
        return Some("the embedder pool (not answering)".into());
    };
    let loading = st
        .replicas
        .iter()
        .filter(|r| r.state == ReplicaHealth::Starting)
        .count();
    let up = st
        .replicas
        .iter()
        .filter(|r| r.state == ReplicaHealth::Healthy)
        .count();
    if loading > 0 {
        Some(format!(
            "the embedding model ({loading} of {} replicas still loading it)",
            st.replicas.len()
        ))
    } else if up == 0 {
        Some("the embedding model (no replica has loaded it; the log says why)".into())
    } else {
        None
    }
}

/// Client side: the pool's counters, if it runs.
pub async fn stats() -> Option<PoolStats> {
    let cell = ractor::registry::where_is(POOL)?;
    let pool: ActorRef<PoolMsg> = cell.into();
    match pool
        .call(PoolMsg::Stats, Some(Duration::from_secs(2)))
        .await
    {
        Ok(ractor::rpc::CallResult::Success(s)) => Some(s),
        _ => None,
    }
}

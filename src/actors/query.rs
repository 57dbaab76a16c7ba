//! `queries` and `query-<n>`: every reasoning request runs in its own short-lived
//! session actor under the `queries` supervisor. The session reads every shard through
//! the router ([`crate::reason::remote::Reader`]: local shards' snapshots in place, the
//! parts of other nodes' shards the question can reach by message), reasons over that
//! view, replies and stops. A session that
//! panics fails only its own request (its reply port drops, the client gets a clear
//! error) and is counted; sessions are never restarted.

use crate::faults::{self, FaultPoint};
use crate::graph::ConceptKind;
use crate::latency::LatencyWindow;
use crate::protocol::{
    Progress, QueriesMsg, QueryMsg, QueryStats, ReasonRequest, ShardReply, ShardRequest, SutraError,
};
use crate::reason::logic_bridge::{self, LogicCache};
use crate::reason::remote::{self, Reader, SentenceCache, Want};
use crate::reason::{self, Answer, GraphView, ReasonConfig};
use crate::router::Router;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Matches the question's mentions that no name matches to entities by embedding
/// similarity (SPEC §4: exact name first, vector similarity next), searching every
/// shard through the router. Without embedders, or if they are busy, resolution simply
/// stays by name. Returns (mention, entity) pairs for [`GraphView::add_similar`].
async fn resolve_by_similarity(
    view: &GraphView,
    router: &Router,
    question: &str,
    config: &ReasonConfig,
    progress: &(dyn Fn(&'static str, String) + Sync),
) -> Vec<(String, crate::graph::ConceptId)> {
    let unresolved: Vec<String> = reason::mentions(question)
        .into_iter()
        .filter(|m| view.resolve_by_name(m).is_none())
        .collect();
    if unresolved.is_empty() || ractor::registry::where_is(crate::actors::embedder::POOL).is_none()
    {
        return Vec::new();
    }
    let vectors =
        match crate::actors::embedder::embed(unresolved.clone(), Duration::from_secs(2)).await {
            Ok(v) => v,
            Err(e) => {
                progress(
                    "resolve",
                    format!("embeddings unavailable ({e}); resolving by name only"),
                );
                return Vec::new();
            }
        };
    let mut matched = Vec::new();
    for (mention, vector) in unresolved.iter().zip(vectors) {
        let searches = (0..router.shards).map(|s| {
            router.call(
                s,
                ShardRequest::Search {
                    vector: vector.to_vec(),
                    k: 16,
                    kind: Some(ConceptKind::Entity),
                    kb: view.kb().to_string(),
                },
            )
        });
        // A shard that cannot search only narrows the match, like a busy embedder.
        let best = futures::future::join_all(searches)
            .await
            .into_iter()
            .filter_map(|r| match r {
                Ok(ShardReply::Hits(h)) => Some(h),
                _ => None,
            })
            .flatten()
            .filter(|h| h.kind == ConceptKind::Entity && same_numbers(mention, &h.content))
            .max_by(|a, b| a.similarity.total_cmp(&b.similarity));
        if let Some(hit) = best.filter(|b| b.similarity >= config.resolve_similarity) {
            progress(
                "resolve",
                format!(
                    "'{mention}' matches '{}' by similarity {:.3}",
                    hit.content, hit.similarity
                ),
            );
            matched.push((mention.clone(), hit.concept_id));
        }
    }
    matched
}

/// Whether two names carry the same numbers ("Gizmo17" and "Gizmo7" do not). Numbers
/// in names are identifiers (part numbers, dosages, years): embeddings place such names
/// close together, and a match across them would answer about the wrong thing.
fn same_numbers(a: &str, b: &str) -> bool {
    let numbers = |s: &str| -> Vec<String> {
        s.split(|c: char| !c.is_ascii_digit())
            .filter(|n| !n.is_empty())
            .map(|n| n.trim_start_matches('0').to_string())
            .collect()
    };
    numbers(a) == numbers(b)
}

/// Shared counters of the sessions.
#[derive(Default)]
struct Counters {
    completed: AtomicU64,
    latencies_us: Mutex<LatencyWindow>,
}

/// The `queries` supervisor.
pub struct Queries;

/// What `queries` starts with.
#[derive(Clone)]
pub struct QueriesArgs {
    /// Reasoning defaults and the gate.
    pub config: ReasonConfig,
    /// The only way to the shards, wherever they live.
    pub router: Router,
    /// What the topology says about the logic layer (relations, closed-world kbs).
    pub logic: logic_bridge::LogicSettings,
    /// A session's reasoning deadline (below the request timeout, so the client gets
    /// an answer rather than a timeout).
    pub deadline: std::time::Duration,
}

/// State of `queries`.
pub struct QueriesState {
    args: QueriesArgs,
    next: u64,
    running: u64,
    failed: u64,
    counters: Arc<Counters>,
    /// The knowledge bases' logic programs, shared by the sessions.
    logic: Arc<LogicCache>,
    /// Sentences of shards on other nodes, shared by the sessions.
    sentences: Arc<SentenceCache>,
}

impl Actor for Queries {
    type Msg = QueriesMsg;
    type State = QueriesState;
    type Arguments = QueriesArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<QueriesMsg>,
        args: QueriesArgs,
    ) -> Result<QueriesState, ActorProcessingErr> {
        let logic = Arc::new(LogicCache::with_settings(
            logic_bridge::CACHE_KBS,
            args.logic.clone(),
        ));
        Ok(QueriesState {
            args,
            next: 0,
            running: 0,
            failed: 0,
            counters: Arc::default(),
            logic,
            sentences: Arc::default(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<QueriesMsg>,
        msg: QueriesMsg,
        state: &mut QueriesState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            QueriesMsg::Ask(request, reply) => {
                state.next += 1;
                let session = Session {
                    request: Some((request, reply)),
                    deadline: state.args.deadline,
                    config: state.args.config.clone(),
                    router: state.args.router.clone(),
                    counters: state.counters.clone(),
                    logic: state.logic.clone(),
                    sentences: state.sentences.clone(),
                };
                // Unnamed would be fine for ractor, but a name makes it visible in the
                // admin tree while it runs.
                let name = format!("query-{}", state.next);
                match Actor::spawn_linked(Some(name), Query, session, myself.get_cell()).await {
                    Ok(_) => state.running += 1,
                    Err(e) => tracing::error!(error = %e, "could not start a query session"),
                }
            }
            QueriesMsg::Stats(reply) => {
                let (p50_us, p99_us) = state
                    .counters
                    .latencies_us
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .p50_p99();
                let _ = reply.send(QueryStats {
                    completed: state.counters.completed.load(Ordering::Relaxed),
                    failed: state.failed,
                    running: state.running,
                    p50_us,
                    p99_us,
                });
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<QueriesMsg>,
        evt: SupervisionEvent,
        state: &mut QueriesState,
    ) -> Result<(), ActorProcessingErr> {
        // Sessions are temporary: count their ends, never restart them.
        match evt {
            SupervisionEvent::ActorTerminated(..) => {
                state.running = state.running.saturating_sub(1)
            }
            SupervisionEvent::ActorFailed(cell, err) => {
                state.running = state.running.saturating_sub(1);
                state.failed += 1;
                tracing::error!(session = ?cell.get_name(), error = %err, "query session crashed; only its own request failed");
            }
            _ => {}
        }
        Ok(())
    }
}

/// One query session.
pub struct Query;

/// A session's work.
pub struct Session {
    request: Option<(ReasonRequest, RpcReplyPort<Result<Answer, SutraError>>)>,
    /// How long reasoning may take before answering from what was found.
    deadline: std::time::Duration,
    config: ReasonConfig,
    router: Router,
    counters: Arc<Counters>,
    logic: Arc<LogicCache>,
    sentences: Arc<SentenceCache>,
}

impl Actor for Query {
    type Msg = QueryMsg;
    type State = Session;
    type Arguments = Session;

    async fn pre_start(
        &self,
        myself: ActorRef<QueryMsg>,
        session: Session,
    ) -> Result<Session, ActorProcessingErr> {
        myself.cast(QueryMsg::Run)?;
        Ok(session)
    }

    async fn handle(
        &self,
        myself: ActorRef<QueryMsg>,
        QueryMsg::Run: QueryMsg,
        session: &mut Session,
    ) -> Result<(), ActorProcessingErr> {
        let Some((request, reply)) = session.request.take() else {
            return Ok(());
        };
        let started = Instant::now();
        let progress = |stage: &'static str, detail: String| {
            if let Some(tx) = &request.progress {
                let _ = tx.send(Progress {
                    stage,
                    detail,
                    elapsed_us: started.elapsed().as_micros() as u64,
                });
            }
        };
        match answer(session, &request, started, &progress).await? {
            Ok(answer) => finish(session, &request, answer, started, &progress, reply),
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
        myself.stop(None);
        Ok(())
    }
}

/// Reads the shards the question needs (local snapshots; remote shards by message) and
/// reasons over them.
async fn answer(
    session: &Session,
    request: &ReasonRequest,
    started: Instant,
    progress: &(dyn Fn(&'static str, String) + Sync),
) -> Result<Result<Answer, SutraError>, ActorProcessingErr> {
    let router = &session.router;
    // A question only the logic layer reads names no concepts for the path reasoner
    // to resolve: looking its "mentions" up (or embedding them) would only cost time.
    let only_logic = logic_bridge::only_logic_reads(&request.question);
    let names = if only_logic {
        Vec::new()
    } else {
        reason::mentions(&request.question)
    };
    // Folding first makes every learn acknowledged before the question visible to it
    // (a story's question right after its last line), without waiting for the
    // reconciler's next tick; with nothing pending it costs a lock.
    fn want<'a>(names: &'a [String], limit: usize, cache: &'a SentenceCache) -> Want<'a> {
        Want {
            names,
            sentences: Some(limit),
            fresh: true,
            cache: Some(cache),
        }
    }
    let mut reader = match Reader::open(
        router,
        &request.kb,
        want(&names, session.logic.max_sentences(), &session.sentences),
    )
    .await
    {
        Ok(r) => r,
        Err(e) => return Ok(Err(e)),
    };
    progress(
        "snapshot",
        if reader.all_local() {
            format!("reading {} local shard snapshots", router.shards)
        } else {
            format!(
                "reading {} shards, those on other nodes by message",
                router.shards
            )
        },
    );
    if faults::fire(FaultPoint::QueryPanic) {
        panic!("injected fault: query session panicked while reasoning");
    }
    let system = crate::events::question::parse(&request.question, crate::events::now_ms());
    let events_view = match &system {
        None => None,
        Some(_) => {
            let events = match Reader::open(
                router,
                crate::events::EVENTS_KB,
                want(&[], usize::MAX, &session.sentences),
            )
            .await
            {
                Ok(r) => r,
                Err(e) => return Ok(Err(e)),
            };
            if let Some(e) = events.unavailable_error() {
                return Ok(Err(e));
            }
            Some(events.view())
        }
    };
    let similar = if only_logic {
        Vec::new()
    } else {
        resolve_by_similarity(
            &reader.view(),
            router,
            &request.question,
            &session.config,
            progress,
        )
        .await
    };
    let deadline = started + session.deadline;
    if !reader.all_local() {
        // Everything within reach of what the names may resolve to.
        let view = reader.view();
        let mut seeds: Vec<_> = names
            .iter()
            .flat_map(|n| [view.exact(n), view.by_stems(n)])
            .flatten()
            .chain(similar.iter().map(|s| s.1))
            .collect();
        seeds.sort();
        seeds.dedup();
        let relations = remote::relations_for(&request.question);
        reader
            .expand(
                &seeds,
                relations.as_deref(),
                request.max_depth,
                Some(deadline),
            )
            .await;
    }
    let mut view = reader.view();
    for (mention, id) in &similar {
        view.add_similar(mention, *id);
    }
    let config = ReasonConfig {
        num_paths: request.num_paths,
        max_depth: request.max_depth,
        deadline: Some(deadline),
        ..session.config.clone()
    };
    progress("reasoning", format!("question: {}", request.question));
    // Questions about the system itself ("Show all crashes in the last hour") are
    // answered from the events knowledge base: always when asked there, and in the
    // default one when the knowledge in it has no answer.
    let mut answer = match (&system, &events_view) {
        (Some(q), Some(events)) if request.kb == crate::events::EVENTS_KB => {
            crate::events::stored::answer(events, q, request.num_paths)
        }
        _ => {
            let options = crate::logic::AskOptions {
                closed_world: request.closed_world,
                ..Default::default()
            };
            let logic = session.logic.clone();
            let question = request.question.clone();
            // The logic layer reads every sentence of the knowledge base: with a shard
            // missing, a closed-world "no" could be wrong, so it stays out.
            let complete = reader.unavailable.is_empty();
            // Both reasoners are CPU work: off the async workers.
            let work = tokio::task::spawn_blocking(move || {
                let from_logic = complete
                    .then(|| logic.ask(&view, &question, &options))
                    .flatten();
                let from_paths = reason::reason(&view, &config, &question);
                logic_bridge::combine(&question, from_paths, from_logic)
            });
            match work.await {
                // Questions about the system itself: see above.
                Ok(a) => match (&system, &events_view) {
                    (Some(q), Some(events))
                        if q.explicit
                            && a.verdict == reason::Verdict::Unknown
                            && request.kb == crate::graph::DEFAULT_KB =>
                    {
                        crate::events::stored::answer(events, q, request.num_paths)
                    }
                    _ => a,
                },
                Err(e) => {
                    // A panic in either reasoner fails this session (and so only its own
                    // request), counted by `queries` like any session crash.
                    return Err(format!("reasoning failed: {e}").into());
                }
            }
        }
    };
    // Without an answer, a shard that could not be read may hold it: say which one
    // (503, retryable) rather than "I don't know".
    if answer.verdict == reason::Verdict::Unknown {
        if let Some(e) = reader.unavailable_error() {
            return Ok(Err(e));
        }
    }
    reader
        .fill_evidence(remote::answer_paths(&mut answer))
        .await;
    Ok(Ok(answer))
}

/// Records and sends an answer.
fn finish(
    session: &Session,
    request: &ReasonRequest,
    answer: Answer,
    started: Instant,
    progress: &(dyn Fn(&'static str, String) + Sync),
    reply: RpcReplyPort<Result<Answer, SutraError>>,
) {
    if let Some(p) = &answer.proof {
        progress(
            "logic",
            format!(
                "proof of {} steps{}",
                p.steps.len(),
                if p.budget_exhausted {
                    " (budget exhausted)"
                } else {
                    ""
                }
            ),
        );
    }
    let us = started.elapsed().as_micros() as u64;
    if request.kb != crate::events::EVENTS_KB {
        let ms = us as f64 / 1000.0;
        crate::events::emit(crate::events::EventKind::PathfindingMetrics {
            paths: answer.paths.len() as u64,
            depth: answer
                .paths
                .iter()
                .map(|p| p.edges.len() as u64)
                .max()
                .unwrap_or(0),
            ms,
        });
        crate::events::emit(crate::events::EventKind::QueryPerformance {
            kb: request.kb.clone(),
            ms,
            verdict: format!("{:?}", answer.verdict).to_lowercase(),
        });
    }
    tracing::debug!(us, verdict = ?answer.verdict, "question answered");
    progress("done", format!("verdict {:?} in {us} us", answer.verdict));
    session.counters.completed.fetch_add(1, Ordering::Relaxed);
    session
        .counters
        .latencies_us
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(us);
    let _ = reply.send(Ok(answer));
}

#[cfg(test)]
mod number_tests {
    #[test]
    fn names_with_other_numbers_never_match() {
        use super::same_numbers;
        assert!(!same_numbers("Gizmo17", "Gizmo7"));
        assert!(!same_numbers("metformin 500 mg", "metformin 850 mg"));
        assert!(same_numbers("grey wolf", "gray wolf"));
        assert!(same_numbers("Route 66", "route 066"));
    }
}

//! `queries` and `query-<n>`: every reasoning request runs in its own short-lived
//! session actor under the `queries` supervisor. The session takes one consistent view
//! of every shard's snapshot, reasons over it, replies and stops. A session that
//! panics fails only its own request (its reply port drops, the client gets a clear
//! error) and is counted; sessions are never restarted.

use crate::actors::shard::local_core;
use crate::faults::{self, FaultPoint};
use crate::latency::LatencyWindow;
use crate::protocol::{Progress, QueriesMsg, QueryMsg, QueryStats, ReasonRequest, SutraError};
use crate::reason::logic_bridge::{self, LogicCache};
use crate::reason::{self, Answer, GraphView, ReasonConfig};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Matches the question's mentions that no name matches to entities by embedding
/// similarity (SPEC §4: exact name first, vector similarity next). Without embedders, or
/// if they are busy, resolution simply stays by name.
async fn resolve_by_similarity(
    view: &mut GraphView,
    question: &str,
    config: &ReasonConfig,
    progress: &(dyn Fn(&'static str, String) + Sync),
) {
    let unresolved: Vec<String> = reason::mentions(question)
        .into_iter()
        .filter(|m| view.resolve_by_name(m).is_none())
        .collect();
    if unresolved.is_empty() || ractor::registry::where_is(crate::actors::embedder::POOL).is_none()
    {
        return;
    }
    let vectors =
        match crate::actors::embedder::embed(unresolved.clone(), Duration::from_secs(2)).await {
            Ok(v) => v,
            Err(e) => {
                progress(
                    "resolve",
                    format!("embeddings unavailable ({e}); resolving by name only"),
                );
                return;
            }
        };
    let cores: Vec<_> = (0..view.shard_count()).filter_map(local_core).collect();
    let tag = crate::graph::KbTag::named(view.kb());
    for (mention, vector) in unresolved.iter().zip(vectors) {
        let best = cores
            .iter()
            .filter_map(|core| core.search_in(&vector, 16, tag).ok())
            .flatten()
            .filter(|(id, _)| {
                view.concept(*id).is_some_and(|c| {
                    c.kind == crate::graph::ConceptKind::Entity && same_numbers(mention, &c.content)
                })
            })
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((id, similarity)) = best.filter(|b| b.1 >= config.resolve_similarity) {
            progress(
                "resolve",
                format!(
                    "'{mention}' matches '{}' by similarity {similarity:.3}",
                    view.name(id)
                ),
            );
            view.add_similar(mention, id);
        }
    }
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
    /// Number of logical shards.
    pub shards: u32,
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
                    shards: state.args.shards,
                    counters: state.counters.clone(),
                    logic: state.logic.clone(),
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
    shards: u32,
    counters: Arc<Counters>,
    logic: Arc<LogicCache>,
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
        // One consistent view: each shard's snapshot is immutable once taken. Folding
        // first makes every learn acknowledged before the question visible to it (a
        // story's question right after its last line), without waiting for the
        // reconciler's next tick; with nothing pending it costs a lock.
        let mut snaps = Vec::with_capacity(session.shards as usize);
        for s in 0..session.shards {
            match local_core(s) {
                Some(core) => {
                    core.fold();
                    snaps.push(core.snapshot())
                }
                None => {
                    let _ = reply.send(Err(SutraError::unavailable(format!(
                        "shard-{s} is not running on this node: it is restarting (retry shortly), or it lives on another node, and this version answers questions only on a node that holds every shard"
                    ))));
                    myself.stop(None);
                    return Ok(());
                }
            }
        }
        let lsns: Vec<u64> = snaps.iter().map(|s| s.lsn).collect();
        progress(
            "snapshot",
            format!("reading shard snapshots at log positions {lsns:?}"),
        );
        if faults::fire(FaultPoint::QueryPanic) {
            panic!("injected fault: query session panicked while reasoning");
        }
        let system = crate::events::question::parse(&request.question, crate::events::now_ms());
        let events_view = system
            .is_some()
            .then(|| GraphView::in_kb(snaps.clone(), crate::events::EVENTS_KB));
        let mut view = GraphView::in_kb(snaps, &request.kb);
        // A question only the logic layer reads names no concepts for the path reasoner
        // to resolve: embedding its "mentions" would only cost time.
        if !logic_bridge::only_logic_reads(&request.question) {
            resolve_by_similarity(&mut view, &request.question, &session.config, &progress).await;
        }
        let config = ReasonConfig {
            num_paths: request.num_paths,
            max_depth: request.max_depth,
            deadline: Some(started + session.deadline),
            ..session.config.clone()
        };
        progress("reasoning", format!("question: {}", request.question));
        // Questions about the system itself ("Show all crashes in the last hour") are
        // answered from the events knowledge base: always when asked there, and in the
        // default one when the knowledge in it has no answer.
        let answer = match (&system, &events_view) {
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
                // Both reasoners are CPU work: off the async workers.
                let work = tokio::task::spawn_blocking(move || {
                    let from_logic = logic.ask(&view, &question, &options);
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
        myself.stop(None);
        Ok(())
    }
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

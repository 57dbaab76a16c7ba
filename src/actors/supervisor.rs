//! A supervisor with OTP's one-for-one restart policy, which ractor does not provide.
//!
//! Each child is described by a [`ChildSpec`] (a name and a spawn function) so it can
//! be re-spawned under the same registered name. A crash, panic or kill of a child is
//! followed by a restart after an exponential backoff; more than `max_restarts` crashes
//! within `window` escalates: this supervisor fails, and its own supervisor decides.
//! A graceful stop of the supervisor stops its children in reverse start order and
//! waits for each, so their `post_stop` (final fold, checkpoint) runs.

use crate::events::EventKind;
use futures::future::join_all;
use ractor::{
    Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SpawnErr, SupervisionEvent,
};
use ractor_cluster_derive::RactorMessage;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Spawns one child linked to the given supervisor cell.
pub type SpawnFn = Arc<
    dyn Fn(ActorCell) -> Pin<Box<dyn Future<Output = Result<ActorCell, SpawnErr>> + Send>>
        + Send
        + Sync,
>;

/// A child: its registered name and how to (re)start it.
#[derive(Clone)]
pub struct ChildSpec {
    /// Registered name (stable; documented in the README).
    pub name: String,
    /// Starts the child linked to the supervisor.
    pub spawn: SpawnFn,
}

impl ChildSpec {
    /// A child spawned by `f(supervisor)`.
    pub fn new<F, Fut>(name: impl Into<String>, f: F) -> Self
    where
        F: Fn(ActorCell) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<ActorCell, SpawnErr>> + Send + 'static,
    {
        let name: String = name.into();
        let noted = name.clone();
        ChildSpec {
            name,
            spawn: Arc::new(move |sup| {
                let (started, name) = (f(sup), noted.clone());
                Box::pin(async move {
                    let cell = started.await?;
                    // For the actor tree's uptime (ractor keeps no start time).
                    crate::actors::tree::note_started(&name);
                    Ok(cell)
                })
            }),
        }
    }
}

/// Restart intensity and backoff.
#[derive(Clone, Debug)]
pub struct RestartPolicy {
    /// More crashes than this within `window` escalate to the parent.
    pub max_restarts: usize,
    /// The intensity window.
    pub window: Duration,
    /// First backoff.
    pub backoff_min: Duration,
    /// Backoff ceiling.
    pub backoff_max: Duration,
    /// How long a graceful stop waits for each child.
    pub stop_timeout: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            max_restarts: 10,
            window: Duration::from_secs(30),
            backoff_min: Duration::from_millis(10),
            backoff_max: Duration::from_secs(2),
            stop_timeout: Duration::from_secs(30),
        }
    }
}

/// Restart counts by actor name, for the admin view and stats. Names are unique per
/// process (ractor's registry is process-wide), so one table serves the node.
static RESTARTS: Mutex<Option<HashMap<String, u64>>> = Mutex::new(None);

/// How many times the actor registered as `name` has been restarted.
pub fn restarts(name: &str) -> u64 {
    RESTARTS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .and_then(|m| m.get(name).copied())
        .unwrap_or(0)
}

/// Every restart count, by actor name.
pub fn restart_counts() -> HashMap<String, u64> {
    RESTARTS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_default()
}

/// Counts one restart of `name` (for supervisors other than [`Supervisor`] that restart
/// their own children, like the embedder pool).
pub fn count_restart(name: &str) {
    let mut guard = RESTARTS.lock().unwrap_or_else(|e| e.into_inner());
    *guard
        .get_or_insert_with(HashMap::new)
        .entry(name.to_string())
        .or_default() += 1;
}

/// Messages of a supervisor.
#[derive(RactorMessage)]
pub enum SupervisorMsg {
    /// Backoff elapsed: start this child again.
    Restart(String),
    /// Stop this child on purpose (gracefully: it runs its `post_stop`) and keep it
    /// stopped until [`SupervisorMsg::Start`]; `by` says who ordered it (for the events).
    Stop {
        /// The child's name.
        name: String,
        /// Who ordered the stop.
        by: String,
        /// Ok once stopped; an error naming what went wrong.
        reply: RpcReplyPort<Result<(), String>>,
    },
    /// Start a child that was stopped on purpose.
    Start {
        /// The child's name.
        name: String,
        /// Ok once started; the start error otherwise (the child stays stopped).
        reply: RpcReplyPort<Result<(), String>>,
    },
}

/// The supervisor actor.
pub struct Supervisor;

/// What a supervisor starts with.
pub struct SupervisorArgs {
    /// Children in start order.
    pub children: Vec<ChildSpec>,
    /// Restart policy.
    pub policy: RestartPolicy,
    /// Start the children concurrently (they do not depend on each other) instead of
    /// in order.
    pub parallel_start: bool,
}

struct Child {
    spec: ChildSpec,
    cell: Option<ActorCell>,
    crashes: CrashHistory,
    /// Stopped on purpose ([`SupervisorMsg::Stop`]): not restarted until started.
    held: bool,
}

/// One child's recent crashes: decides the backoff before its restart, or that the
/// restart intensity is exceeded.
#[derive(Debug, Default)]
pub struct CrashHistory {
    crashes: VecDeque<Instant>,
}

impl CrashHistory {
    /// Records a crash at `now`: `Ok(backoff)` to wait before restarting, or
    /// `Err(crashes)` when more than `policy.max_restarts` fell within `policy.window`.
    pub fn crashed(&mut self, policy: &RestartPolicy, now: Instant) -> Result<Duration, usize> {
        self.crashes.push_back(now);
        while self
            .crashes
            .front()
            .is_some_and(|t| now.duration_since(*t) > policy.window)
        {
            self.crashes.pop_front();
        }
        if self.crashes.len() > policy.max_restarts {
            return Err(self.crashes.len());
        }
        let exp = (self.crashes.len() as u32).saturating_sub(1).min(16);
        Ok((policy.backoff_min * 2u32.pow(exp)).min(policy.backoff_max))
    }
}

/// A supervisor's state.
pub struct SupervisorState {
    children: Vec<Child>,
    policy: RestartPolicy,
}

impl Supervisor {
    /// Stops child `name` on purpose and holds it stopped. Its exit is not a crash: the
    /// cell is taken from the child first, so the supervision event finds no child.
    async fn stop_child(state: &mut SupervisorState, name: &str, by: String) -> Result<(), String> {
        let timeout = state.policy.stop_timeout;
        let child = state
            .children
            .iter_mut()
            .find(|c| c.spec.name == name)
            .ok_or_else(|| format!("no child named {name}"))?;
        child.held = true;
        let Some(cell) = child.cell.take() else {
            // Already down (stopped before, or waiting out a restart backoff): it stays
            // down.
            return Ok(());
        };
        crate::events::emit(EventKind::StopRequested {
            actor: name.to_string(),
            by,
        });
        match cell
            .stop_and_wait(Some("stopped on order".into()), Some(timeout))
            .await
        {
            Ok(()) => {
                tracing::warn!(child = %name, "stopped on order; held until started");
                crate::events::emit(EventKind::StopSucceeded {
                    actor: name.to_string(),
                });
                Ok(())
            }
            Err(e) => {
                // It did not stop in time: kill it, so the order still holds, and wait
                // until it is gone, so a start order right after finds its name free.
                let _ = cell.kill_and_wait(Some(timeout)).await;
                let error = format!("{name} did not stop within {timeout:?} ({e}); it was killed");
                tracing::warn!(child = %name, %error, "stop order");
                crate::events::emit(EventKind::StopFailed {
                    actor: name.to_string(),
                    error: error.clone(),
                });
                Err(error)
            }
        }
    }

    /// Starts child `name` again after a stop order.
    async fn start_child(
        myself: &ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
        name: &str,
    ) -> Result<(), String> {
        let child = state
            .children
            .iter_mut()
            .find(|c| c.spec.name == name)
            .ok_or_else(|| format!("no child named {name}"))?;
        if child.cell.is_some() {
            return Ok(());
        }
        match spawn_child(&child.spec, myself.get_cell()).await {
            Ok(cell) => {
                tracing::info!(child = %name, "started on order");
                child.cell = Some(cell);
                child.held = false;
                Ok(())
            }
            Err(e) => Err(format!("{name} did not start: {}", spawn_err_text(&e))),
        }
    }

    fn child_of(state: &mut SupervisorState, cell: &ActorCell) -> Option<usize> {
        state
            .children
            .iter()
            .position(|c| c.cell.as_ref().map(|x| x.get_id()) == Some(cell.get_id()))
    }

    /// Records a crash of child `i` and schedules its restart, or escalates.
    fn crashed(
        myself: &ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
        i: usize,
        why: String,
    ) -> Result<(), ActorProcessingErr> {
        let policy = state.policy.clone();
        let child = &mut state.children[i];
        child.cell = None;
        let name = child.spec.name.clone();
        let backoff = match child.crashes.crashed(&policy, Instant::now()) {
            Ok(backoff) => backoff,
            Err(crashes) => {
                tracing::error!(child = %name, %why, "restart intensity exceeded; escalating");
                crate::events::emit(EventKind::ActorCrashed {
                    actor: name.clone(),
                    error: why.clone(),
                });
                crate::events::emit(EventKind::ActorGaveUp {
                    actor: name.clone(),
                    crashes: crashes as u64,
                });
                return Err(format!(
                    "{name} crashed {crashes} times within {:?} (last: {why}); giving up and escalating",
                    policy.window
                )
                .into());
            }
        };
        tracing::warn!(child = %name, %why, ?backoff, "child stopped unexpectedly; restarting");
        crate::events::emit(EventKind::ActorCrashed {
            actor: name.clone(),
            error: why,
        });
        myself.send_after(backoff, move || SupervisorMsg::Restart(name));
        Ok(())
    }
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: SupervisorArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut children = Vec::with_capacity(args.children.len());
        if args.parallel_start {
            let cells = join_all(
                args.children
                    .iter()
                    .map(|s| spawn_child(s, myself.get_cell())),
            )
            .await;
            let mut failure = None;
            for (spec, cell) in args.children.into_iter().zip(cells) {
                match cell {
                    Ok(cell) => children.push(Child {
                        spec,
                        cell: Some(cell),
                        crashes: CrashHistory::default(),
                        held: false,
                    }),
                    Err(e) => {
                        failure.get_or_insert(format!(
                            "cannot start {}: {}",
                            spec.name,
                            spawn_err_text(&e)
                        ));
                    }
                }
            }
            if let Some(why) = failure {
                // Do not leave the siblings that did start running unsupervised.
                for child in &children {
                    if let Some(cell) = &child.cell {
                        cell.kill();
                    }
                }
                return Err(why.into());
            }
        } else {
            for spec in args.children {
                let cell = spawn_child(&spec, myself.get_cell())
                    .await
                    .map_err(|e| format!("cannot start {}: {}", spec.name, spawn_err_text(&e)))?;
                children.push(Child {
                    spec,
                    cell: Some(cell),
                    crashes: CrashHistory::default(),
                    held: false,
                });
            }
        }
        Ok(SupervisorState {
            children,
            policy: args.policy,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let name = match msg {
            SupervisorMsg::Restart(name) => name,
            SupervisorMsg::Stop { name, by, reply } => {
                let _ = reply.send(Self::stop_child(state, &name, by).await);
                return Ok(());
            }
            SupervisorMsg::Start { name, reply } => {
                let _ = reply.send(Self::start_child(&myself, state, &name).await);
                return Ok(());
            }
        };
        let Some(i) = state.children.iter().position(|c| c.spec.name == name) else {
            return Ok(());
        };
        if state.children[i].cell.is_some() || state.children[i].held {
            return Ok(());
        }
        let spec = state.children[i].spec.clone();
        match spawn_child(&spec, myself.get_cell()).await {
            Ok(cell) => {
                count_restart(&name);
                tracing::info!(child = %name, "child restarted");
                crate::events::emit(EventKind::ActorRestarted {
                    actor: name.clone(),
                    restarts: restarts(&name),
                });
                state.children[i].cell = Some(cell);
                Ok(())
            }
            Err(e) => Self::crashed(
                &myself,
                state,
                i,
                format!("restart failed: {}", spawn_err_text(&e)),
            ),
        }
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        evt: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // Any exit of a child is a crash: children only stop on purpose in post_stop,
        // after this handler no longer runs.
        let (cell, why) = match evt {
            SupervisionEvent::ActorFailed(cell, err) => (cell, format!("failed: {err}")),
            SupervisionEvent::ActorTerminated(cell, _, reason) => (
                cell,
                format!(
                    "terminated: {}",
                    reason.unwrap_or_else(|| "no reason".into())
                ),
            ),
            _ => return Ok(()),
        };
        match Self::child_of(state, &cell) {
            Some(i) => Self::crashed(&myself, state, i, why),
            None => Ok(()),
        }
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        for child in state.children.iter().rev() {
            if let Some(cell) = &child.cell {
                let actor = child.spec.name.clone();
                crate::events::emit(EventKind::StopRequested {
                    actor: actor.clone(),
                    by: "its supervisor (shutdown)".into(),
                });
                match cell
                    .stop_and_wait(Some("shutdown".into()), Some(state.policy.stop_timeout))
                    .await
                {
                    Ok(()) => crate::events::emit(EventKind::StopSucceeded { actor }),
                    Err(e) => {
                        tracing::warn!(child = %child.spec.name, error = %e, "child did not stop in time");
                        crate::events::emit(EventKind::StopFailed {
                            actor,
                            error: e.to_string(),
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

/// Starts a child, saying so in events (requested, then succeeded or failed).
async fn spawn_child(spec: &ChildSpec, supervisor: ActorCell) -> Result<ActorCell, SpawnErr> {
    crate::events::emit(EventKind::SpawnRequested {
        actor: spec.name.clone(),
    });
    let result = (spec.spawn)(supervisor).await;
    crate::events::emit(match &result {
        Ok(_) => EventKind::SpawnSucceeded {
            actor: spec.name.clone(),
        },
        Err(e) => EventKind::SpawnFailed {
            actor: spec.name.clone(),
            error: spawn_err_text(e),
        },
    });
    result
}

fn spawn_err_text(e: &SpawnErr) -> String {
    match e {
        SpawnErr::StartupFailed(inner) => inner.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Worker;

    #[derive(RactorMessage)]
    enum WorkerMsg {
        Panic,
    }

    impl Actor for Worker {
        type Msg = WorkerMsg;
        type State = ();
        type Arguments = Arc<std::sync::atomic::AtomicUsize>;
        async fn pre_start(
            &self,
            _: ActorRef<Self::Msg>,
            starts: Self::Arguments,
        ) -> Result<(), ActorProcessingErr> {
            starts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        }
        async fn handle(
            &self,
            _: ActorRef<Self::Msg>,
            msg: Self::Msg,
            _: &mut (),
        ) -> Result<(), ActorProcessingErr> {
            match msg {
                WorkerMsg::Panic => panic!("boom"),
            }
        }
    }

    fn spec(name: &'static str, starts: Arc<std::sync::atomic::AtomicUsize>) -> ChildSpec {
        ChildSpec::new(name, move |sup| {
            let starts = starts.clone();
            async move {
                Actor::spawn_linked(Some(name.to_string()), Worker, starts, sup)
                    .await
                    .map(|(r, _)| r.get_cell())
            }
        })
    }

    async fn wait_for(name: &str) -> ActorRef<WorkerMsg> {
        for _ in 0..500 {
            if let Some(r) = ActorRef::<WorkerMsg>::where_is(name) {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        panic!("{name} never came back");
    }

    #[tokio::test]
    async fn restarts_panicked_and_killed_children_under_the_same_name() {
        let starts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (sup, handle) = Actor::spawn(
            Some("sup-test-1".into()),
            Supervisor,
            SupervisorArgs {
                children: vec![spec("worker-test-1", starts.clone())],
                policy: RestartPolicy::default(),
                parallel_start: false,
            },
        )
        .await
        .unwrap();
        let w = wait_for("worker-test-1").await;
        w.cast(WorkerMsg::Panic).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let w2 = wait_for("worker-test-1").await;
        assert_ne!(w.get_id(), w2.get_id());
        w2.kill();
        tokio::time::sleep(Duration::from_millis(80)).await;
        wait_for("worker-test-1").await;
        assert_eq!(starts.load(std::sync::atomic::Ordering::SeqCst), 3);
        assert_eq!(restarts("worker-test-1"), 2);
        sup.stop(None);
        handle.await.unwrap();
        assert!(ActorRef::<WorkerMsg>::where_is("worker-test-1").is_none());
    }

    #[tokio::test]
    async fn escalates_past_the_restart_intensity() {
        let starts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (sup, handle) = Actor::spawn(
            Some("sup-test-2".into()),
            Supervisor,
            SupervisorArgs {
                children: vec![spec("worker-test-2", starts.clone())],
                policy: RestartPolicy {
                    max_restarts: 2,
                    backoff_min: Duration::from_millis(1),
                    ..Default::default()
                },
                parallel_start: false,
            },
        )
        .await
        .unwrap();
        for _ in 0..3 {
            wait_for("worker-test-2")
                .await
                .cast(WorkerMsg::Panic)
                .unwrap();
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        // The third crash within the window exceeds max_restarts = 2: the supervisor fails.
        tokio::time::timeout(Duration::from_secs(2), handle)
            .await
            .expect("supervisor should have escalated")
            .unwrap();
        assert_eq!(sup.get_status(), ractor::ActorStatus::Stopped);
        assert_eq!(starts.load(std::sync::atomic::Ordering::SeqCst), 3);
    }
}

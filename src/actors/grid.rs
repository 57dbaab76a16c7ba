//! `grid-agent` (every node) and `grid-master` (the master node): thin actors around
//! the pure registry in [`crate::grid`].
//!
//! The agent heartbeats to the master every `membership.heartbeat_ms` with its shards
//! (state and durable log position), remembers the newest master epoch it has seen and
//! carries out the master's orders unless they carry an older epoch. The master keeps
//! the registry: heartbeats register and refresh nodes, its own membership detector's
//! observations (suspect, down) degrade them or declare them offline, and a periodic
//! tick marks late heartbeaters degraded. Standby takeover (the replication work) will
//! be decided here, on the offline transition.

use crate::actors::supervisor::SupervisorMsg;
use crate::grid::{Agent, Heartbeat, Observed, Order, Registry, ShardReport};
use crate::membership::{Membership, PeerState};
use crate::protocol::{ShardReply, ShardRequest};
use crate::router::{shard_name, Router, GRID_AGENT, GRID_MASTER, SHARDS};
use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use ractor_cluster_derive::RactorMessage;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long a local call to the grid actors may take.
const LOCAL_CALL: Duration = Duration::from_secs(2);

/// How long an order may take: a stop order waits for the shard's graceful stop (it
/// folds and checkpoints).
const ORDER_CALL: Duration = Duration::from_secs(60);

/// Messages of the grid agent.
#[derive(RactorMessage)]
pub enum GridAgentMsg {
    /// Time to heartbeat.
    Tick,
    /// The master answered a heartbeat with its epoch.
    Epoch(u64),
    /// An order from the master.
    Order(u64, Order, RpcReplyPort<Result<(), String>>),
}

/// The grid agent.
pub struct GridAgent;

/// What the agent needs (cloned for every restart).
#[derive(Clone)]
pub struct GridAgentArgs {
    /// This node's name.
    pub node: String,
    /// This process's incarnation.
    pub incarnation: u64,
    /// Shards whose primary is here.
    pub shards: Vec<u32>,
    /// The master node's name.
    pub master: String,
    /// Whether this node is the master.
    pub is_master: bool,
    /// Heartbeat period.
    pub every: Duration,
    /// For the shards' stats.
    pub router: Router,
}

/// The agent's state.
pub struct GridAgentState {
    args: GridAgentArgs,
    agent: Agent,
    /// A heartbeat is on its way; a slow master must not pile them up.
    in_flight: Arc<AtomicBool>,
}

impl Actor for GridAgent {
    type Msg = GridAgentMsg;
    type State = GridAgentState;
    type Arguments = GridAgentArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<GridAgentMsg>,
        args: GridAgentArgs,
    ) -> Result<GridAgentState, ActorProcessingErr> {
        myself.send_interval(args.every, || GridAgentMsg::Tick);
        let _ = myself.cast(GridAgentMsg::Tick);
        Ok(GridAgentState {
            args,
            agent: Agent::default(),
            in_flight: Arc::new(AtomicBool::new(false)),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<GridAgentMsg>,
        msg: GridAgentMsg,
        state: &mut GridAgentState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            GridAgentMsg::Tick => {
                if state.in_flight.swap(true, Ordering::AcqRel) {
                    return Ok(());
                }
                let (args, flag) = (state.args.clone(), Arc::clone(&state.in_flight));
                // Off the mailbox: orders are answered while a heartbeat waits.
                tokio::spawn(async move {
                    let hb = Heartbeat {
                        node: args.node.clone(),
                        incarnation: args.incarnation,
                        shards: shard_reports(&args).await,
                    };
                    match send_heartbeat(&args, hb).await {
                        Ok(epoch) => {
                            beat_delivered(&args.node);
                            let _ = myself.cast(GridAgentMsg::Epoch(epoch));
                        }
                        Err(e) => {
                            tracing::debug!(master = %args.master, error = %e, "heartbeat not delivered")
                        }
                    }
                    flag.store(false, Ordering::Release);
                });
            }
            GridAgentMsg::Epoch(epoch) => state.agent.saw_epoch(epoch),
            GridAgentMsg::Order(epoch, order, reply) => {
                if let Err(e) = state.agent.accept_order(epoch) {
                    tracing::warn!(error = %e, "grid order refused");
                    let _ = reply.send(Err(e));
                    return Ok(());
                }
                // Off the mailbox: a graceful stop may take a while (the shard folds and
                // checkpoints), and heartbeats go on meanwhile.
                tokio::spawn(async move {
                    let outcome = run(order).await;
                    if let Err(e) = &outcome {
                        tracing::warn!(error = %e, "grid order not carried out");
                    }
                    let _ = reply.send(outcome);
                });
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<GridAgentMsg>,
        state: &mut GridAgentState,
    ) -> Result<(), ActorProcessingErr> {
        Self::leave(state).await;
        Ok(())
    }
}

impl GridAgent {
    /// Tells the master this node leaves (a clean stop: `post_stop` does not run after a
    /// crash or kill), once a heartbeat on its way has arrived, so the master records an
    /// unregistration rather than waiting for membership to declare a crash.
    async fn leave(state: &GridAgentState) {
        let waited = tokio::time::Instant::now();
        while state.in_flight.load(Ordering::Acquire) && waited.elapsed() < LOCAL_CALL {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let args = &state.args;
        let outcome = if args.is_master {
            master_leave(args.node.clone(), args.incarnation).await
        } else {
            let call = crate::cluster::WireCall::Leave {
                node: args.node.clone(),
                incarnation: args.incarnation,
            };
            match crate::cluster::call(&args.master, &call, LOCAL_CALL).await {
                Ok(crate::cluster::WireReply::Order(r)) => r,
                Ok(other) => Err(format!("the master answered a leave with {other:?}")),
                Err(e) => Err(e.to_string()),
            }
        };
        match outcome {
            Ok(()) => tracing::info!(master = %args.master, "left the grid"),
            // The master's membership will see this node go down instead.
            Err(e) => {
                tracing::warn!(master = %args.master, error = %e, "could not tell the grid master this node leaves")
            }
        }
    }
}

/// Carries out an accepted order.
async fn run(order: Order) -> Result<(), String> {
    let name = shard_name(order.shard());
    match order {
        Order::RestartShard(_) => {
            let cell = ractor::registry::where_is(name.clone())
                .ok_or_else(|| format!("{name} is not running on this node"))?;
            tracing::warn!(actor = %name, "restarted on the grid master's order");
            crate::events::emit(crate::events::EventKind::StopRequested {
                actor: name.clone(),
                by: "the grid master (restart order)".into(),
            });
            cell.kill();
            Ok(())
        }
        Order::StopShard(_) | Order::StartShard(_) => {
            let shards = ractor::registry::where_is(SHARDS)
                .map(ActorRef::<SupervisorMsg>::from)
                .ok_or("the shards supervisor is not running on this node (it is restarting)")?;
            let stop = matches!(order, Order::StopShard(_));
            let result = shards
                .call(
                    |reply| {
                        if stop {
                            SupervisorMsg::Stop {
                                name: name.clone(),
                                by: "the grid master (stop order)".into(),
                                reply,
                            }
                        } else {
                            SupervisorMsg::Start {
                                name: name.clone(),
                                reply,
                            }
                        }
                    },
                    Some(ORDER_CALL),
                )
                .await;
            match result {
                Ok(CallResult::Success(r)) => r,
                Ok(CallResult::Timeout) => Err(format!(
                    "the shards supervisor did not answer about {name} in time"
                )),
                Ok(CallResult::SenderError) | Err(_) => {
                    Err("the shards supervisor stopped while carrying out the order".into())
                }
            }
        }
    }
}

/// Every local shard's state and durable log position.
async fn shard_reports(args: &GridAgentArgs) -> Vec<ShardReport> {
    let mut out = Vec::with_capacity(args.shards.len());
    for &s in &args.shards {
        let read_only = crate::actors::shard::local_core(s)
            .and_then(|core| core.read_only())
            .map(|f| f.reason);
        let stats = args
            .router
            .call_local(s, ShardRequest::Stats, args.every)
            .await;
        out.push(match stats {
            Ok(ShardReply::Stats(st)) => ShardReport {
                shard: s,
                state: if read_only.is_some() {
                    "read_only"
                } else {
                    "running"
                }
                .into(),
                log_position: st.durable_lsn,
                detail: read_only,
            },
            Ok(other) => ShardReport {
                shard: s,
                state: "unavailable".into(),
                log_position: 0,
                detail: Some(format!("unexpected answer {other:?}")),
            },
            Err(e) => ShardReport {
                shard: s,
                state: "unavailable".into(),
                log_position: 0,
                detail: Some(e.to_string()),
            },
        });
    }
    out
}

async fn send_heartbeat(args: &GridAgentArgs, hb: Heartbeat) -> Result<u64, String> {
    if args.is_master {
        return master_heartbeat(hb).await;
    }
    match crate::cluster::call(
        &args.master,
        &crate::cluster::WireCall::Heartbeat(hb),
        args.every.max(Duration::from_millis(500)),
    )
    .await
    {
        Ok(crate::cluster::WireReply::Heartbeat(r)) => r,
        Ok(other) => Err(format!("the master answered a heartbeat with {other:?}")),
        Err(e) => Err(e.to_string()),
    }
}

/// Messages of the grid master.
#[derive(RactorMessage)]
pub enum GridMasterMsg {
    /// An agent's heartbeat; answered with the epoch or a refusal.
    Heartbeat(Heartbeat, RpcReplyPort<Result<u64, String>>),
    /// The registry, for `/v1/cluster`.
    View(RpcReplyPort<Registry>),
    /// What this node's membership detector saw.
    Observed(crate::membership::PeerEvent),
    /// Time to look for late heartbeats.
    Tick,
    /// A node says it leaves (it stops cleanly): node, incarnation.
    Leave(String, u64, RpcReplyPort<Result<(), String>>),
}

/// The grid master.
pub struct GridMaster;

/// What the master needs (cloned for every restart).
#[derive(Clone)]
pub struct GridMasterArgs {
    /// Every node of the topology.
    pub nodes: Vec<String>,
    /// This process's incarnation.
    pub incarnation: u64,
    /// The membership detector (multi-node topologies).
    pub membership: Option<Arc<Membership>>,
    /// Timings and the transition log's size.
    pub config: crate::config::MembershipConfig,
}

fn observed(s: PeerState) -> Observed {
    match s {
        PeerState::Alive => Observed::Alive,
        PeerState::Suspect => Observed::Suspect,
        PeerState::Down => Observed::Down,
    }
}

impl Actor for GridMaster {
    type Msg = GridMasterMsg;
    type State = Registry;
    type Arguments = GridMasterArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<GridMasterMsg>,
        args: GridMasterArgs,
    ) -> Result<Registry, ActorProcessingErr> {
        let now = crate::graph::now_ms();
        let mut registry = Registry::new(
            args.nodes.iter().cloned(),
            // A restarted master actor starts a new epoch range above its predecessor's.
            now.max(args.incarnation),
            args.config.transition_log,
            args.config.heartbeat_timeout_ms,
            now,
        );
        if let Some(m) = &args.membership {
            // Subscribe before reading the current view, so no change falls in between.
            let mut events = m.subscribe();
            for (name, peer) in m.peers() {
                registry.observed(&name, peer.incarnation, observed(peer.state), now);
            }
            let (me, membership) = (myself.clone(), Arc::clone(m));
            tokio::spawn(async move {
                use tokio::sync::broadcast::error::RecvError;
                loop {
                    match events.recv().await {
                        Ok(ev) => {
                            if me.cast(GridMasterMsg::Observed(ev)).is_err() {
                                return;
                            }
                        }
                        Err(RecvError::Lagged(_)) => {
                            // Missed some: replay the current view instead.
                            for (name, p) in membership.peers() {
                                let ev = crate::membership::PeerEvent {
                                    name,
                                    incarnation: p.incarnation,
                                    state: p.state,
                                };
                                if me.cast(GridMasterMsg::Observed(ev)).is_err() {
                                    return;
                                }
                            }
                        }
                        Err(RecvError::Closed) => return,
                    }
                }
            });
        }
        myself.send_interval(Duration::from_millis(args.config.heartbeat_ms), || {
            GridMasterMsg::Tick
        });
        Ok(registry)
    }

    async fn handle(
        &self,
        _myself: ActorRef<GridMasterMsg>,
        msg: GridMasterMsg,
        registry: &mut Registry,
    ) -> Result<(), ActorProcessingErr> {
        let now = crate::graph::now_ms();
        let before = registry.log.len();
        let last = registry.log.back().cloned();
        match msg {
            GridMasterMsg::Heartbeat(hb, reply) => {
                let outcome = registry.heartbeat(hb, now).map_err(|e| e.to_string());
                if let Err(e) = &outcome {
                    tracing::warn!(error = %e, "heartbeat refused");
                }
                let _ = reply.send(outcome);
            }
            GridMasterMsg::View(reply) => {
                let _ = reply.send(registry.clone());
            }
            GridMasterMsg::Observed(ev) => {
                registry.observed(&ev.name, ev.incarnation, observed(ev.state), now)
            }
            GridMasterMsg::Tick => registry.tick(now),
            GridMasterMsg::Leave(node, incarnation, reply) => {
                let _ = reply.send(
                    registry
                        .left(&node, incarnation, now)
                        .map_err(|e| e.to_string()),
                );
            }
        }
        if registry.log.len() != before || registry.log.back() != last.as_ref() {
            // Every transition since the last message, as events (the log is bounded,
            // so find where the previous last entry is rather than counting).
            let fresh: Vec<&crate::grid::Transition> = match &last {
                Some(l) => {
                    let mut v: Vec<_> = registry.log.iter().rev().take_while(|t| *t != l).collect();
                    v.reverse();
                    v
                }
                None => registry.log.iter().collect(),
            };
            for t in fresh {
                transition_event(t);
            }
            if let Some(t) = registry.log.back() {
                use crate::grid::AgentState::{Degraded, Offline};
                // A clean leave is no trouble.
                if matches!(t.to, Degraded | Offline) && t.reason != crate::grid::LEFT {
                    tracing::warn!(node = %t.node, from = t.from.as_str(), to = t.to.as_str(), reason = %t.reason, epoch = registry.epoch, "grid transition");
                } else {
                    tracing::info!(node = %t.node, from = t.from.as_str(), to = t.to.as_str(), reason = %t.reason, epoch = registry.epoch, "grid transition");
                }
            }
        }
        Ok(())
    }
}

/// The events a grid transition is: registered, degraded, offline (a crash seen by
/// the master), recovered, or unregistered (a node that left).
fn transition_event(t: &crate::grid::Transition) {
    use crate::events::EventKind;
    use crate::grid::AgentState::*;
    let agent = t.node.clone();
    match (t.from, t.to) {
        (Unknown, Healthy) => crate::events::emit(EventKind::AgentRegistered { agent }),
        (_, Degraded) => crate::events::emit(EventKind::AgentDegraded {
            agent,
            reason: t.reason.clone(),
        }),
        (_, Offline) if t.reason == crate::grid::LEFT => {
            crate::events::emit(EventKind::AgentUnregistered { agent })
        }
        (_, Offline) => {
            crate::events::emit(EventKind::AgentOffline {
                agent: agent.clone(),
                reason: t.reason.clone(),
            });
            crate::events::emit(EventKind::NodeCrashed {
                crashed: agent,
                seen: format!("by the grid master: {}", t.reason),
            });
        }
        (Degraded | Offline, Healthy | Recovered) | (_, Recovered) => {
            crate::events::emit(EventKind::AgentRecovered { agent })
        }
        _ => {}
    }
}

/// Heartbeats delivered since the last `AgentHeartbeat` event, and when that was: one
/// event a minute per node, not one per beat (which would flood the store).
static BEATS: std::sync::Mutex<(u64, Option<std::time::Instant>)> =
    std::sync::Mutex::new((0, None));

fn beat_delivered(node: &str) {
    let mut b = BEATS.lock().unwrap_or_else(|e| e.into_inner());
    b.0 += 1;
    if b.1.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
        crate::events::emit(crate::events::EventKind::AgentHeartbeat {
            agent: node.to_string(),
            beats: b.0,
        });
        *b = (0, Some(std::time::Instant::now()));
    }
}

/// Hands a heartbeat to this node's grid master.
pub async fn master_heartbeat(hb: Heartbeat) -> Result<u64, String> {
    let master = ActorRef::<GridMasterMsg>::where_is(GRID_MASTER).ok_or(
        "this node runs no grid master (it is not the master, or the master is restarting)",
    )?;
    match master
        .call(|tx| GridMasterMsg::Heartbeat(hb, tx), Some(LOCAL_CALL))
        .await
    {
        Ok(CallResult::Success(r)) => r,
        _ => Err("the grid master did not answer".into()),
    }
}

/// Tells this node's grid master that node `node` (incarnation `incarnation`) leaves.
pub async fn master_leave(node: String, incarnation: u64) -> Result<(), String> {
    let master = ActorRef::<GridMasterMsg>::where_is(GRID_MASTER).ok_or(
        "this node runs no grid master (it is not the master, or the master is restarting)",
    )?;
    match master
        .call(
            |tx| GridMasterMsg::Leave(node, incarnation, tx),
            Some(LOCAL_CALL),
        )
        .await
    {
        Ok(CallResult::Success(r)) => r,
        _ => Err("the grid master did not answer".into()),
    }
}

/// This node's grid master's registry.
pub async fn master_view() -> Result<Registry, String> {
    let master = ActorRef::<GridMasterMsg>::where_is(GRID_MASTER).ok_or(
        "this node runs no grid master (it is not the master, or the master is restarting)",
    )?;
    match master.call(GridMasterMsg::View, Some(LOCAL_CALL)).await {
        Ok(CallResult::Success(r)) => Ok(r),
        _ => Err("the grid master did not answer".into()),
    }
}

/// Hands an order to this node's grid agent.
pub async fn agent_order(epoch: u64, order: Order) -> Result<(), String> {
    let agent = ActorRef::<GridAgentMsg>::where_is(GRID_AGENT)
        .ok_or("the grid agent is restarting; retry shortly")?;
    match agent
        .call(|tx| GridAgentMsg::Order(epoch, order, tx), Some(ORDER_CALL))
        .await
    {
        Ok(CallResult::Success(r)) => r,
        _ => Err("the grid agent did not answer".into()),
    }
}

/// On the master node: gives `order` to `node`'s agent under the master's current epoch
/// (`me` is this node's name). The agent refuses it if it has seen a newer epoch.
pub async fn master_order(me: &str, node: &str, order: Order) -> Result<(), String> {
    let epoch = master_view().await?.epoch;
    if node == me {
        return agent_order(epoch, order).await;
    }
    match crate::cluster::call(
        node,
        &crate::cluster::WireCall::Order { epoch, order },
        ORDER_CALL,
    )
    .await
    {
        Ok(crate::cluster::WireReply::Order(r)) => r,
        Ok(other) => Err(format!("node {node} answered an order with {other:?}")),
        Err(e) => Err(e.to_string()),
    }
}

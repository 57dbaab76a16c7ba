//! The grid master's registry of agents, as a pure state machine (the actor in
//! [`crate::actors::grid`] feeds it events and a clock).
//!
//! States: `unknown` (never registered) → `healthy` → `degraded` (suspected by
//! membership, or heartbeats late) → `offline` (declared by the master alone, when its
//! membership view says the node is down) → `recovered` (the node came back, as a new
//! incarnation or after a false down; it behaves as healthy from then on). Observation is
//! not decision: other nodes' views never change a state here. Every transition is kept
//! in a bounded log with its time and reason.
//!
//! Epochs: the master's epoch changes with every offline or recovered decision and
//! every restart of the master, so an agent can refuse an order given under an older
//! view of the cluster ([`Agent::accept_order`]).

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// The reason of the transition to `offline` of a node that left on its own (a clean
/// stop): an unregistration, not a crash.
pub const LEFT: &str = "left the grid: its node stopped cleanly";

/// A node's state in the master's registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentState {
    /// Never registered since the master started.
    Unknown,
    /// Registered, heartbeating, not suspected.
    Healthy,
    /// Suspected by membership or heartbeats late; still counted as a member.
    Degraded,
    /// Declared offline by the master.
    Offline,
    /// Back after being offline (or restarted); behaves as healthy.
    Recovered,
}

impl AgentState {
    /// The lower-case name used in JSON and the shell.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Unknown => "unknown",
            AgentState::Healthy => "healthy",
            AgentState::Degraded => "degraded",
            AgentState::Offline => "offline",
            AgentState::Recovered => "recovered",
        }
    }
}

/// What membership reports about a node (mirrors [`crate::membership::PeerState`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Observed {
    /// Answering probes.
    Alive,
    /// Suspected.
    Suspect,
    /// Down.
    Down,
}

/// One shard as its agent reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardReport {
    /// The shard.
    pub shard: u32,
    /// `running`, `read_only` or `unavailable`.
    pub state: String,
    /// Last durable log position (0 when the shard did not answer).
    pub log_position: u64,
    /// Why it is read-only or unavailable.
    pub detail: Option<String>,
}

/// An agent's heartbeat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The node.
    pub node: String,
    /// Its incarnation (start time in ms).
    pub incarnation: u64,
    /// Its shards now.
    pub shards: Vec<ShardReport>,
}

/// One recorded transition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// When, in ms since the epoch.
    pub at_ms: u64,
    /// The node.
    pub node: String,
    /// Its incarnation at the time.
    pub incarnation: u64,
    /// From.
    pub from: AgentState,
    /// To.
    pub to: AgentState,
    /// Why.
    pub reason: String,
}

/// One node in the registry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentEntry {
    /// Its state.
    pub state: AgentState,
    /// Its newest incarnation (0: never registered).
    pub incarnation: u64,
    /// When its last heartbeat arrived, in ms since the epoch.
    pub last_heartbeat_ms: Option<u64>,
    /// Its shards as last reported.
    pub shards: Vec<ShardReport>,
    /// When it entered its state, in ms since the epoch.
    pub since_ms: u64,
    /// What the master's membership detector last said of it.
    pub membership: Observed,
    /// Its current incarnation said it leaves (a clean stop): its late heartbeats are
    /// refused, and only a new incarnation registers again.
    #[serde(default)]
    pub left: bool,
}

/// Why a heartbeat or registration was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Refusal {
    /// Not a node of the topology.
    #[error("node {0} is not in the cluster topology")]
    UnknownNode(String),
    /// From an older incarnation than the registered one.
    #[error("node {node} incarnation {got} is older than the registered incarnation {newest}; a stale process must stop")]
    StaleIncarnation {
        /// The node.
        node: String,
        /// The incarnation in the message.
        got: u64,
        /// The registered one.
        newest: u64,
    },
    /// From an incarnation that left the grid.
    #[error("node {0} left the grid (it stopped cleanly); it rejoins when it starts again")]
    Left(String),
}

/// The master's registry.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Registry {
    /// The master's epoch (see the module doc).
    pub epoch: u64,
    /// Every node of the topology.
    pub agents: BTreeMap<String, AgentEntry>,
    /// Recent transitions, oldest first.
    pub log: VecDeque<Transition>,
    /// Most transitions kept.
    pub log_capacity: usize,
    /// A heartbeat older than this marks a healthy node degraded.
    pub heartbeat_timeout_ms: u64,
}

impl Registry {
    /// A registry of `nodes`, all unknown; the epoch starts at the master's incarnation
    /// shifted left, so a restarted master's epochs are above its predecessor's.
    pub fn new(
        nodes: impl IntoIterator<Item = String>,
        master_incarnation: u64,
        log_capacity: usize,
        heartbeat_timeout_ms: u64,
        now_ms: u64,
    ) -> Self {
        Registry {
            epoch: master_incarnation << 16,
            agents: nodes
                .into_iter()
                .map(|n| {
                    (
                        n,
                        AgentEntry {
                            state: AgentState::Unknown,
                            incarnation: 0,
                            last_heartbeat_ms: None,
                            shards: Vec::new(),
                            since_ms: now_ms,
                            membership: Observed::Alive,
                            left: false,
                        },
                    )
                })
                .collect(),
            log: VecDeque::new(),
            log_capacity: log_capacity.max(1),
            heartbeat_timeout_ms,
        }
    }

    fn set(&mut self, node: &str, to: AgentState, reason: String, now_ms: u64) {
        let Some(a) = self.agents.get_mut(node) else {
            return;
        };
        if a.state == to {
            return;
        }
        let from = a.state;
        a.state = to;
        a.since_ms = now_ms;
        if matches!(to, AgentState::Offline | AgentState::Recovered) {
            self.epoch += 1;
        }
        if self.log.len() == self.log_capacity {
            self.log.pop_front();
        }
        self.log.push_back(Transition {
            at_ms: now_ms,
            node: node.to_string(),
            incarnation: a.incarnation,
            from,
            to,
            reason,
        });
    }

    /// A heartbeat (the first one registers the node). Returns the epoch to send back.
    pub fn heartbeat(&mut self, hb: Heartbeat, now_ms: u64) -> Result<u64, Refusal> {
        let Some(a) = self.agents.get_mut(&hb.node) else {
            return Err(Refusal::UnknownNode(hb.node));
        };
        if hb.incarnation < a.incarnation {
            return Err(Refusal::StaleIncarnation {
                node: hb.node,
                got: hb.incarnation,
                newest: a.incarnation,
            });
        }
        let restarted = a.incarnation != 0 && hb.incarnation > a.incarnation;
        if a.left && !restarted {
            // A beat sent before the node said it leaves, arriving after.
            return Err(Refusal::Left(hb.node));
        }
        a.left = false;
        a.incarnation = hb.incarnation;
        a.last_heartbeat_ms = Some(now_ms);
        a.shards = hb.shards;
        let state = a.state;
        match state {
            AgentState::Unknown => {
                self.set(&hb.node, AgentState::Healthy, "registered".into(), now_ms)
            }
            AgentState::Offline => self.set(
                &hb.node,
                AgentState::Recovered,
                if restarted {
                    format!("rejoined as a new incarnation {}", hb.incarnation)
                } else {
                    "heartbeating again after being declared offline".into()
                },
                now_ms,
            ),
            AgentState::Healthy | AgentState::Recovered | AgentState::Degraded if restarted => self
                .set(
                    &hb.node,
                    AgentState::Recovered,
                    format!(
                        "restarted (new incarnation {}) before it was declared offline",
                        hb.incarnation
                    ),
                    now_ms,
                ),
            AgentState::Degraded => {
                // Late heartbeats resumed; a membership suspicion clears on its own event.
                if self.agents[&hb.node].membership != Observed::Suspect {
                    self.set(
                        &hb.node,
                        AgentState::Healthy,
                        "heartbeats resumed".into(),
                        now_ms,
                    );
                }
            }
            AgentState::Healthy | AgentState::Recovered => {}
        }
        Ok(self.epoch)
    }

    /// Node `node` (incarnation `incarnation`) says it leaves: it stops cleanly, so it
    /// goes offline as unregistered ([`LEFT`]), not as a crash. A message of an older
    /// incarnation is ignored.
    pub fn left(&mut self, node: &str, incarnation: u64, now_ms: u64) -> Result<(), Refusal> {
        let Some(a) = self.agents.get_mut(node) else {
            return Err(Refusal::UnknownNode(node.to_string()));
        };
        if incarnation < a.incarnation {
            return Ok(());
        }
        a.incarnation = incarnation;
        a.left = true;
        self.set(node, AgentState::Offline, LEFT.into(), now_ms);
        Ok(())
    }

    /// What the master's own membership detector reports about `node`.
    pub fn observed(&mut self, node: &str, incarnation: u64, seen: Observed, now_ms: u64) {
        let Some(a) = self.agents.get_mut(node) else {
            return;
        };
        // A report about an older incarnation says nothing about the current one.
        if incarnation < a.incarnation {
            return;
        }
        a.membership = seen;
        let a = a.clone();
        match (seen, a.state) {
            (Observed::Suspect, AgentState::Healthy | AgentState::Recovered) => self.set(
                node,
                AgentState::Degraded,
                "suspected by membership (a probe went unanswered)".into(),
                now_ms,
            ),
            (
                Observed::Down,
                AgentState::Healthy | AgentState::Recovered | AgentState::Degraded,
            ) => self.set(
                node,
                AgentState::Offline,
                "declared down by membership (suspicion not refuted in time)".into(),
                now_ms,
            ),
            (Observed::Down, AgentState::Unknown) if incarnation > 0 => {
                // Membership saw this process alive and then dead before its first
                // heartbeat registered it (a node killed within a heartbeat period of
                // its start, while others already used its shards): it is offline all
                // the same, and its next incarnation is a recovery.
                if let Some(a) = self.agents.get_mut(node) {
                    a.incarnation = incarnation;
                }
                self.set(
                    node,
                    AgentState::Offline,
                    "declared down by membership before its first heartbeat registered it".into(),
                    now_ms,
                );
            }
            (Observed::Alive, AgentState::Degraded) => {
                let late = a
                    .last_heartbeat_ms
                    .is_none_or(|t| now_ms.saturating_sub(t) > self.heartbeat_timeout_ms);
                if !late {
                    self.set(
                        node,
                        AgentState::Healthy,
                        "suspicion refuted".into(),
                        now_ms,
                    );
                }
            }
            (Observed::Alive, AgentState::Offline) if incarnation > a.incarnation => {
                // A new incarnation answers probes; it is recovered once it heartbeats.
            }
            _ => {}
        }
    }

    /// Marks nodes whose heartbeats are late as degraded (call periodically).
    pub fn tick(&mut self, now_ms: u64) {
        let late: Vec<(String, u64)> = self
            .agents
            .iter()
            .filter(|(_, a)| matches!(a.state, AgentState::Healthy | AgentState::Recovered))
            .filter_map(|(n, a)| {
                let age = now_ms.saturating_sub(a.last_heartbeat_ms?);
                (age > self.heartbeat_timeout_ms).then(|| (n.clone(), age))
            })
            .collect();
        for (node, age) in late {
            self.set(
                &node,
                AgentState::Degraded,
                format!("no heartbeat for {age} ms"),
                now_ms,
            );
        }
    }
}

/// An order from the master to an agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Order {
    /// Restart the shard actor (its supervisor re-spawns it; it recovers from its log).
    RestartShard(u32),
    /// Stop the shard actor gracefully (it folds and checkpoints) and keep it stopped:
    /// requests for it fail fast until it is started (moving a shard, maintenance).
    StopShard(u32),
    /// Start a shard actor stopped by [`Order::StopShard`] (it recovers from its log).
    StartShard(u32),
}

impl Order {
    /// The shard the order is about.
    pub fn shard(&self) -> u32 {
        match self {
            Order::RestartShard(s) | Order::StopShard(s) | Order::StartShard(s) => *s,
        }
    }

    /// What the order does, as a past participle ("restarted", "stopped", "started").
    pub fn done(&self) -> &'static str {
        match self {
            Order::RestartShard(_) => "restarted",
            Order::StopShard(_) => "stopped",
            Order::StartShard(_) => "started",
        }
    }
}

/// The agent's side: the newest master epoch it has seen.
#[derive(Clone, Debug, Default)]
pub struct Agent {
    /// Newest epoch seen in a heartbeat answer or an accepted order.
    pub epoch: u64,
}

impl Agent {
    /// Notes the epoch a heartbeat answer carried.
    pub fn saw_epoch(&mut self, epoch: u64) {
        self.epoch = self.epoch.max(epoch);
    }

    /// Accepts an order given under `epoch` unless a newer epoch was already seen.
    pub fn accept_order(&mut self, epoch: u64) -> Result<(), String> {
        if epoch < self.epoch {
            return Err(format!(
                "order refused: it was given under epoch {epoch}, but this agent has seen epoch {}; the master's view changed since",
                self.epoch
            ));
        }
        self.epoch = epoch;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg() -> Registry {
        Registry::new(["n1".into(), "n2".into()], 7, 4, 1000, 0)
    }

    fn hb(node: &str, incarnation: u64) -> Heartbeat {
        Heartbeat {
            node: node.into(),
            incarnation,
            shards: vec![ShardReport {
                shard: 0,
                state: "running".into(),
                log_position: 3,
                detail: None,
            }],
        }
    }

    fn state(r: &Registry, n: &str) -> AgentState {
        r.agents[n].state
    }

    #[test]
    fn healthy_degraded_offline_recovered() {
        let mut r = reg();
        assert_eq!(state(&r, "n2"), AgentState::Unknown);
        let e0 = r.heartbeat(hb("n2", 100), 10).unwrap();
        assert_eq!(state(&r, "n2"), AgentState::Healthy);
        assert_eq!(r.agents["n2"].shards[0].log_position, 3);
        r.observed("n2", 100, Observed::Suspect, 20);
        assert_eq!(state(&r, "n2"), AgentState::Degraded);
        r.observed("n2", 100, Observed::Alive, 30);
        assert_eq!(state(&r, "n2"), AgentState::Healthy);
        r.observed("n2", 100, Observed::Suspect, 40);
        r.observed("n2", 100, Observed::Down, 50);
        assert_eq!(state(&r, "n2"), AgentState::Offline);
        assert!(r.epoch > e0, "offline changes the epoch");
        // The restarted node (new incarnation) heartbeats: recovered.
        let e1 = r.epoch;
        r.heartbeat(hb("n2", 200), 60).unwrap();
        assert_eq!(state(&r, "n2"), AgentState::Recovered);
        assert!(r.epoch > e1);
        let log: Vec<_> = r.log.iter().map(|t| (t.from, t.to)).collect();
        assert_eq!(log.len(), 4, "bounded at 4: {log:?}");
        assert_eq!(
            log.last(),
            Some(&(AgentState::Offline, AgentState::Recovered))
        );
        assert!(r.log.back().unwrap().reason.contains("new incarnation 200"));
    }

    #[test]
    fn a_node_that_leaves_is_offline_as_left_until_a_new_incarnation() {
        let mut r = reg();
        r.heartbeat(hb("n2", 100), 10).unwrap();
        r.left("n2", 100, 20).unwrap();
        assert_eq!(state(&r, "n2"), AgentState::Offline);
        assert_eq!(r.log.back().unwrap().reason, LEFT);
        // A beat of the same process that was still on its way is refused.
        assert!(matches!(
            r.heartbeat(hb("n2", 100), 30),
            Err(Refusal::Left(_))
        ));
        // Membership then sees it down: no second transition.
        r.observed("n2", 100, Observed::Down, 40);
        assert_eq!(r.log.len(), 2);
        r.heartbeat(hb("n2", 200), 50).unwrap();
        assert_eq!(state(&r, "n2"), AgentState::Recovered);
        assert!(matches!(r.left("nx", 1, 60), Err(Refusal::UnknownNode(_))));
    }

    #[test]
    fn old_incarnations_are_refused_and_ignored() {
        let mut r = reg();
        r.heartbeat(hb("n2", 200), 10).unwrap();
        let err = r.heartbeat(hb("n2", 100), 20).unwrap_err();
        assert!(err
            .to_string()
            .contains("older than the registered incarnation 200"));
        r.observed("n2", 100, Observed::Down, 30);
        assert_eq!(
            state(&r, "n2"),
            AgentState::Healthy,
            "a report on the old process"
        );
        assert!(matches!(
            r.heartbeat(hb("nx", 1), 40),
            Err(Refusal::UnknownNode(_))
        ));
    }

    #[test]
    fn a_node_down_before_its_first_heartbeat_is_offline_then_recovered() {
        let mut r = reg();
        r.observed("n2", 100, Observed::Alive, 10);
        assert_eq!(state(&r, "n2"), AgentState::Unknown);
        r.observed("n2", 100, Observed::Down, 20);
        assert_eq!(state(&r, "n2"), AgentState::Offline);
        assert!(r
            .log
            .back()
            .unwrap()
            .reason
            .contains("before its first heartbeat"));
        // Its old process's late beat is not a recovery; its next incarnation is.
        assert!(r.heartbeat(hb("n2", 90), 30).is_err());
        r.heartbeat(hb("n2", 200), 40).unwrap();
        assert_eq!(state(&r, "n2"), AgentState::Recovered);
        assert!(r.log.back().unwrap().reason.contains("new incarnation 200"));
    }

    #[test]
    fn late_heartbeats_degrade_and_resumed_ones_heal() {
        let mut r = reg();
        r.heartbeat(hb("n1", 1), 0).unwrap();
        r.tick(900);
        assert_eq!(state(&r, "n1"), AgentState::Healthy);
        r.tick(1500);
        assert_eq!(state(&r, "n1"), AgentState::Degraded);
        assert!(r
            .log
            .back()
            .unwrap()
            .reason
            .contains("no heartbeat for 1500 ms"));
        r.heartbeat(hb("n1", 1), 1600).unwrap();
        assert_eq!(state(&r, "n1"), AgentState::Healthy);
        // A node restarted faster than the detector noticed is recovered, not healthy.
        r.heartbeat(hb("n1", 2), 1700).unwrap();
        assert_eq!(state(&r, "n1"), AgentState::Recovered);
    }

    #[test]
    fn agents_refuse_orders_of_a_stale_epoch() {
        let mut a = Agent::default();
        a.saw_epoch(10);
        assert!(a.accept_order(9).unwrap_err().contains("epoch 9"));
        a.accept_order(10).unwrap();
        a.accept_order(12).unwrap();
        assert!(a.accept_order(11).is_err());
        // A restarted master's epochs are above its predecessor's.
        assert!(Registry::new([], 2, 1, 1, 0).epoch > Registry::new([], 1, 1, 1, 0).epoch + 1000);
    }
}

//! The one routing layer: callers address shards by index and the coordinator by role,
//! never by holding an actor handle, so a restarted (or, later, remote) actor is found
//! again on the next call.

use crate::graph::{ConceptId, ShardId, TxId};
use crate::protocol::{CoordinatorMsg, ShardMsg, ShardReply, ShardRequest, SutraError, TxnPlan};
use ractor::rpc::CallResult;
use ractor::ActorRef;
use std::time::Duration;

/// Registered name of shard `s`.
pub fn shard_name(s: ShardId) -> String {
    format!("shard-{s}")
}

/// Registered name of the reconciler of shard `s`.
pub fn reconciler_name(s: ShardId) -> String {
    format!("reconciler-{s}")
}

/// Registered name of the transaction coordinator.
pub const COORDINATOR: &str = "txn-coordinator";
/// Registered name of the learner.
pub const LEARNER: &str = "learner";
/// Registered name of the query-session supervisor.
pub const QUERIES: &str = "queries";
/// Registered name of the HTTP ingress.
pub const INGRESS: &str = "ingress";
/// Registered name of the shards supervisor.
pub const SHARDS: &str = "shards";
/// Registered name of the node's gateway for calls from other nodes.
pub const GATEWAY: &str = "gateway";
/// Registered name of the node's grid agent.
pub const GRID_AGENT: &str = "grid-agent";
/// Registered name of the grid master (on the master node only).
pub const GRID_MASTER: &str = "grid-master";
/// Registered name of the node's root supervisor.
pub const NODE: &str = "node";

/// Where shards and the coordinator live in a multi-node topology.
#[derive(Clone, Debug)]
pub struct Placement {
    /// This node's name.
    pub me: String,
    /// The node owning each shard, indexed by shard.
    pub owners: Vec<String>,
    /// The node running the transaction coordinator.
    pub master: String,
}

impl Placement {
    /// The placement `config` describes, seen from node `me`.
    pub fn from_config(config: &crate::config::ClusterConfig, me: &str) -> Self {
        Placement {
            me: me.to_string(),
            owners: (0..config.cluster.shards)
                .map(|s| config.primary_of(s).name.clone())
                .collect(),
            master: config
                .nodes
                .iter()
                .find(|n| n.has_role(crate::config::Role::Master))
                .map_or_else(|| me.to_string(), |n| n.name.clone()),
        }
    }

    /// The node of shard `s` when it is not this one.
    fn remote_owner(&self, s: ShardId) -> Option<&str> {
        let owner = self.owners.get(s as usize)?;
        (*owner != self.me).then_some(owner.as_str())
    }
}

/// Finds shards and the coordinator by name and calls them with a deadline.
#[derive(Clone, Debug)]
pub struct Router {
    /// Number of logical shards.
    pub shards: u32,
    /// Deadline of one call.
    pub timeout: Duration,
    /// Where shards live; `None` on a single node (everything is local).
    pub placement: Option<std::sync::Arc<Placement>>,
}

/// Extra time a cross-node call gets over the deadline its receiver works to, so the
/// receiver's own timeout error arrives before the caller gives up.
const WIRE_MARGIN: Duration = Duration::from_millis(500);

impl Router {
    /// A router over `shards` shards whose calls time out after `timeout`.
    pub fn new(shards: u32, timeout: Duration) -> Self {
        Router {
            shards,
            timeout,
            placement: None,
        }
    }

    /// The same router for a multi-node topology.
    pub fn with_placement(mut self, placement: Placement) -> Self {
        self.placement = Some(std::sync::Arc::new(placement));
        self
    }

    /// The node of shard `s` when it lives on another node (`None`: on this one).
    pub fn remote_owner(&self, s: ShardId) -> Option<&str> {
        self.placement.as_ref().and_then(|p| p.remote_owner(s))
    }

    /// Whether shard `s` can be reached now, as far as the transport knows: always when
    /// it lives on this node (a restarting shard is back shortly), and on another node
    /// only while a session to that node is up.
    pub fn reachable(&self, s: ShardId) -> bool {
        self.remote_owner(s).is_none_or(crate::cluster::connected)
    }

    /// Whether this node runs the transaction coordinator (and node-wide duties such as
    /// the events retention sweep): always on a single node.
    pub fn is_master(&self) -> bool {
        self.placement.as_ref().is_none_or(|p| p.master == p.me)
    }

    /// The published snapshot of shard `s` when it lives on this node and runs (the
    /// readers' fast path: no message, no copy); `fold` first folds every durable write
    /// into it (read-your-writes; with nothing pending it costs a lock). `None` for a
    /// shard on another node or being restarted.
    pub fn local_snapshot(
        &self,
        s: ShardId,
        fold: bool,
    ) -> Option<std::sync::Arc<crate::graph::GraphSnapshot>> {
        if self.remote_owner(s).is_some() {
            return None;
        }
        let core = crate::actors::shard::local_core(s)?;
        if fold {
            core.fold();
        }
        Some(core.snapshot())
    }

    /// The shard that owns a concept.
    pub fn shard_of(&self, id: ConceptId) -> ShardId {
        id.shard(self.shards)
    }

    /// Calls shard `s`. A missing, dying or silent shard is a retryable 503, never a hang.
    pub async fn call(&self, s: ShardId, req: ShardRequest) -> Result<ShardReply, SutraError> {
        self.call_within(s, req, self.timeout).await
    }

    /// [`Router::call`] with an explicit deadline.
    pub async fn call_within(
        &self,
        s: ShardId,
        req: ShardRequest,
        timeout: Duration,
    ) -> Result<ShardReply, SutraError> {
        if let Some(owner) = self.placement.as_ref().and_then(|p| p.remote_owner(s)) {
            let call = crate::cluster::WireCall::Shard {
                shard: s,
                req,
                timeout_ms: timeout.as_millis() as u64,
            };
            return match crate::cluster::call(owner, &call, timeout + WIRE_MARGIN).await {
                Ok(crate::cluster::WireReply::Shard(reply)) => reply,
                Ok(other) => Err(SutraError::Internal(format!(
                    "node {owner} answered a shard call with {other:?}"
                ))),
                // The transport's error names the node only; the caller (and a client's
                // 503) needs the shard too, to know which data is out of reach.
                Err(SutraError::Unavailable {
                    message,
                    retry_after_s,
                }) => Err(SutraError::Unavailable {
                    message: format!("{} (on node {owner}): {message}", shard_name(s)),
                    retry_after_s,
                }),
                Err(e) => Err(e),
            };
        }
        self.call_local(s, req, timeout).await
    }

    /// Calls shard `s` on this node.
    pub async fn call_local(
        &self,
        s: ShardId,
        req: ShardRequest,
        timeout: Duration,
    ) -> Result<ShardReply, SutraError> {
        let name = shard_name(s);
        let Some(shard) = ActorRef::<ShardMsg>::where_is(name.clone()) else {
            return Err(SutraError::unavailable(format!(
                "{name} is not running (it is being restarted by its supervisor); retry shortly"
            )));
        };
        // Counted for the actor tree: ractor does not expose mailbox lengths.
        crate::actors::tree::enqueued(&name);
        match shard
            .call(|tx| ShardMsg::Request(req, tx), Some(timeout))
            .await
        {
            Ok(CallResult::Success(ShardReply::Failed(e))) => Err(e),
            Ok(CallResult::Success(reply)) => Ok(reply),
            Ok(CallResult::Timeout) => Err(SutraError::unavailable(format!(
                "{name} did not answer within {} ms; retry shortly",
                timeout.as_millis()
            ))),
            Ok(CallResult::SenderError) | Err(_) => Err(SutraError::unavailable(format!(
                "{name} stopped while handling the request (its supervisor restarts it); the request was not acknowledged, retry it"
            ))),
        }
    }

    /// Makes `plan` durable all-or-nothing: directly when it touches one shard, through
    /// the coordinator's two-phase commit otherwise.
    pub async fn commit(&self, plan: TxnPlan) -> Result<Option<TxId>, SutraError> {
        if plan.parts.len() <= 1 {
            let Some((shard, ops)) = plan.parts.into_iter().next() else {
                return Ok(None);
            };
            self.call(shard, ShardRequest::Apply { ops }).await?;
            return Ok(None);
        }
        if let Some(p) = self.placement.as_ref().filter(|p| p.master != p.me) {
            let call = crate::cluster::WireCall::Commit(plan);
            return match crate::cluster::call(&p.master, &call, self.timeout * 2 + WIRE_MARGIN)
                .await?
            {
                crate::cluster::WireReply::Commit(outcome) => outcome,
                other => Err(SutraError::Internal(format!(
                    "node {} answered a commit with {other:?}",
                    p.master
                ))),
            };
        }
        let Some(coordinator) = ActorRef::<CoordinatorMsg>::where_is(COORDINATOR) else {
            return Err(SutraError::unavailable(
                "the transaction coordinator is restarting; retry shortly",
            ));
        };
        // The coordinator retries phase 2 within its own deadline, so allow it twice ours.
        match coordinator
            .call(|tx| CoordinatorMsg::Run(plan, tx), Some(self.timeout * 2))
            .await
        {
            Ok(CallResult::Success(result)) => result.map(Some),
            Ok(CallResult::Timeout) => Err(SutraError::unavailable(
                "the transaction did not finish in time; its outcome is decided by the coordinator's log: read before retrying",
            )),
            Ok(CallResult::SenderError) | Err(_) => Err(SutraError::unavailable(
                "the transaction coordinator stopped mid-transaction; the write was not acknowledged and is resolved all-or-nothing: retry it",
            )),
        }
    }
}

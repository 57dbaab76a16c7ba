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
/// Registered name of the node's root supervisor.
pub const NODE: &str = "node";

/// Finds shards and the coordinator by name and calls them with a deadline.
#[derive(Clone, Debug)]
pub struct Router {
    /// Number of logical shards.
    pub shards: u32,
    /// Deadline of one call.
    pub timeout: Duration,
}

impl Router {
    /// A router over `shards` shards whose calls time out after `timeout`.
    pub fn new(shards: u32, timeout: Duration) -> Self {
        Router { shards, timeout }
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
        let name = shard_name(s);
        let Some(shard) = ActorRef::<ShardMsg>::where_is(name.clone()) else {
            return Err(SutraError::unavailable(format!(
                "{name} is not running (it is being restarted by its supervisor); retry shortly"
            )));
        };
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

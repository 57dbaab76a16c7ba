//! `GET /v1/cluster`: every node of the topology as the grid master sees it (state,
//! incarnation, addresses, roles, heartbeat age, shards with their log positions), with
//! each node's live actor tree fetched from the node itself, and the master's recent
//! transitions. Served by any node: the registry comes from the master (locally or
//! through its gateway), the trees from each node's gateway in parallel.

use super::{ApiResult, Shared};
use crate::cluster::{WireCall, WireReply};
use crate::config::ClusterConfig;
use crate::grid::Registry;
use crate::protocol::SutraError;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};
use std::time::Duration;

/// The topology and this node's place in it.
pub struct ClusterInfo {
    /// The whole topology.
    pub config: ClusterConfig,
    /// This node's name.
    pub me: String,
    /// This process's incarnation.
    pub incarnation: u64,
}

impl ClusterInfo {
    /// The master node's name.
    pub fn master(&self) -> &str {
        self.config
            .nodes
            .iter()
            .find(|n| n.has_role(crate::config::Role::Master))
            .map_or(self.me.as_str(), |n| n.name.as_str())
    }
}

/// How long one node may take to send its tree.
const TREE_TIMEOUT: Duration = Duration::from_secs(2);

/// The master's registry, wherever the master runs.
pub async fn registry(info: &ClusterInfo) -> Result<Registry, SutraError> {
    let master = info.master();
    if master == info.me {
        return crate::actors::grid::master_view()
            .await
            .map_err(SutraError::unavailable);
    }
    match crate::cluster::call(master, &WireCall::ClusterView, TREE_TIMEOUT).await {
        Ok(WireReply::ClusterView(r)) => Ok(*r),
        Ok(other) => Err(SutraError::Internal(format!(
            "the master {master} answered with {other:?}"
        ))),
        Err(e) => Err(SutraError::unavailable(format!(
            "the grid master on {master} cannot be reached ({e}); its registry is the cluster view"
        ))),
    }
}

/// One node's actor tree, or why it could not be had.
async fn tree(info: &ClusterInfo, node: &str, skip: bool) -> Result<Value, String> {
    if skip {
        return Err(format!("node {node} is offline"));
    }
    if node == info.me {
        return crate::actors::tree::snapshot()
            .map(|t| json!(t))
            .ok_or_else(|| "the node supervisor is not running".to_string());
    }
    match crate::cluster::call(node, &WireCall::Tree, TREE_TIMEOUT).await {
        Ok(WireReply::Tree(t)) => t
            .actors
            .map(|a| json!(a))
            .ok_or_else(|| format!("node {node}'s supervisor is not running")),
        Ok(other) => Err(format!("node {node} answered with {other:?}")),
        Err(e) => Err(e.to_string()),
    }
}

/// The whole view as JSON (also what `sutra-shell nodes`/`tree`/`shards` print).
pub async fn view(info: &ClusterInfo) -> Result<Value, SutraError> {
    let registry = registry(info).await?;
    let now = crate::graph::now_ms();
    let trees = futures::future::join_all(info.config.nodes.iter().map(|n| {
        let offline = registry
            .agents
            .get(&n.name)
            .is_some_and(|a| a.state == crate::grid::AgentState::Offline);
        tree(info, &n.name, offline)
    }))
    .await;
    let nodes: Vec<Value> = info
        .config
        .nodes
        .iter()
        .zip(trees)
        .map(|(n, tree)| {
            let entry = registry.agents.get(&n.name);
            let roles: Vec<String> = n
                .roles
                .iter()
                .map(|r| format!("{r:?}").to_lowercase())
                .collect();
            let (actors, actors_error) = match tree {
                Ok(t) => (t, Value::Null),
                Err(e) => (Value::Null, json!(e)),
            };
            json!({
                "name": n.name,
                "state": entry.map_or("unknown", |a| a.state.as_str()),
                "state_since_ms_ago": entry.map(|a| now.saturating_sub(a.since_ms)),
                "incarnation": entry.map_or(0, |a| a.incarnation),
                "membership": entry.map(|a| format!("{:?}", a.membership).to_lowercase()),
                "cluster_addr": n.cluster_addr.to_string(),
                "http_addr": n.http_addr.to_string(),
                "roles": roles,
                "last_heartbeat_age_ms": entry.and_then(|a| a.last_heartbeat_ms).map(|t| now.saturating_sub(t)),
                "shards": entry.map(|a| json!(a.shards)).unwrap_or(json!([])),
                "actors": actors,
                "actors_error": actors_error,
            })
        })
        .collect();
    Ok(json!({
        "cluster": info.config.cluster.name,
        "master": info.master(),
        "answered_by": info.me,
        "epoch": registry.epoch,
        "nodes": nodes,
        "transitions": registry.log,
    }))
}

/// `GET /v1/cluster`: every node with its state, shards and actor tree.
#[utoipa::path(get, path = "/v1/cluster", tag = "operate",
    responses((status = 200, description = "Every node of the topology: state (unknown, healthy, degraded, offline, recovered), incarnation, addresses, roles, last heartbeat age, shards with state and log position, live actor tree; and the grid master's recent transitions", body = Object), super::openapi::Errors))]
pub async fn cluster(State(state): State<Shared>) -> ApiResult<Json<Value>> {
    let info = state
        .cluster
        .clone()
        .ok_or_else(|| SutraError::unavailable("this node was started without its topology"))?;
    Ok(Json(view(&info).await?))
}

/// `POST /v1/cluster/shards/{shard}/restart`: the grid master orders the agent of the
/// shard's node to restart it (under the master's epoch); the shard recovers from its log.
#[utoipa::path(post, path = "/v1/cluster/shards/{shard}/restart", tag = "operate",
    params(("shard" = u32, Path, description = "Shard number (0 to cluster.shards - 1)")),
    responses((status = 202, description = "The shard's agent restarted it on the master's order", body = Object), super::openapi::Errors))]
pub async fn restart_shard(
    State(state): State<Shared>,
    axum::extract::Path(shard): axum::extract::Path<String>,
) -> ApiResult<(axum::http::StatusCode, Json<Value>)> {
    order_shard(&state, &shard, crate::grid::Order::RestartShard).await
}

/// `POST /v1/cluster/shards/{shard}/stop`: the grid master orders the agent of the shard's
/// node to stop it gracefully (it folds and checkpoints) and keep it stopped; requests
/// that need it fail fast with 503 until it is started again.
#[utoipa::path(post, path = "/v1/cluster/shards/{shard}/stop", tag = "operate",
    params(("shard" = u32, Path, description = "Shard number (0 to cluster.shards - 1)")),
    responses((status = 202, description = "The shard's agent stopped it on the master's order", body = Object), super::openapi::Errors))]
pub async fn stop_shard(
    State(state): State<Shared>,
    axum::extract::Path(shard): axum::extract::Path<String>,
) -> ApiResult<(axum::http::StatusCode, Json<Value>)> {
    order_shard(&state, &shard, crate::grid::Order::StopShard).await
}

/// `POST /v1/cluster/shards/{shard}/start`: the grid master orders the agent of the
/// shard's node to start a shard stopped by a stop order; it recovers from its log.
#[utoipa::path(post, path = "/v1/cluster/shards/{shard}/start", tag = "operate",
    params(("shard" = u32, Path, description = "Shard number (0 to cluster.shards - 1)")),
    responses((status = 202, description = "The shard's agent started it on the master's order", body = Object), super::openapi::Errors))]
pub async fn start_shard(
    State(state): State<Shared>,
    axum::extract::Path(shard): axum::extract::Path<String>,
) -> ApiResult<(axum::http::StatusCode, Json<Value>)> {
    order_shard(&state, &shard, crate::grid::Order::StartShard).await
}

/// Has the grid master give `make(shard)` to the shard's node, from whichever node this is.
async fn order_shard(
    state: &Shared,
    shard: &str,
    make: fn(u32) -> crate::grid::Order,
) -> ApiResult<(axum::http::StatusCode, Json<Value>)> {
    let info = state
        .cluster
        .clone()
        .ok_or_else(|| SutraError::unavailable("this node was started without its topology"))?;
    let shards = info.config.cluster.shards;
    let shard: u32 = shard.parse().ok().filter(|s| *s < shards).ok_or_else(|| {
        SutraError::bad(
            "invalid_shard",
            format!(
                "shard must be a number from 0 to {} (got {shard})",
                shards - 1
            ),
        )
    })?;
    let node = info.config.primary_of(shard).name.clone();
    let order = make(shard);
    let done = order.done();
    let master = info.master();
    let outcome = if master == info.me {
        crate::actors::grid::master_order(&info.me, &node, order).await
    } else {
        match crate::cluster::call(
            master,
            &WireCall::MasterOrder {
                node: node.clone(),
                order,
            },
            // A stop order waits for the shard's graceful stop.
            TREE_TIMEOUT * 2 + std::time::Duration::from_secs(60),
        )
        .await
        {
            Ok(WireReply::Order(r)) => r,
            Ok(other) => Err(format!("the master answered with {other:?}")),
            Err(e) => Err(e.to_string()),
        }
    };
    outcome.map_err(|e| {
        SutraError::unavailable(format!("shard {shard} on {node} was not {done}: {e}"))
    })?;
    Ok((
        axum::http::StatusCode::ACCEPTED,
        Json(Value::Object(
            [
                (done.to_string(), json!(crate::router::shard_name(shard))),
                ("node".to_string(), json!(node)),
            ]
            .into_iter()
            .collect(),
        )),
    ))
}

//! Nodes talking to nodes: the `ractor_cluster` transport, one gateway actor per node,
//! and the versioned wire envelope every cross-node call travels in.
//!
//! Why one gateway per node instead of making every shard remotable: ractor_cluster
//! mirrors every remotable actor on every peer, and a message it cannot decode is
//! dropped silently (the caller just times out). A single gateway keeps the mirrored
//! set tiny, and its one message carries bytes that *we* decode, so a node that gets a
//! call it does not understand (another wire version, a damaged frame) answers with an
//! error the caller sees instead of a timeout. The router ([`crate::router`]) stays the
//! only way to reach a shard: it calls locally when the shard lives here and through
//! the owner's gateway otherwise.
//!
//! Connections: every node listens on its `cluster_addr`; for each pair of nodes the one
//! whose name sorts later dials the other, and keeps re-dialling with backoff while the
//! session is down, so a restarted node rejoins by itself. The cookie is checked by
//! ractor_cluster's challenge-response handshake; a peer with a wrong cookie never gets
//! a ready session (both sides log the refusal).

use crate::graph::{ShardId, TxId};
use crate::protocol::{codec, ShardReply, ShardRequest, SutraError, TxnPlan};
use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use ractor_cluster::node::NodeServerSessionInformation;
use ractor_cluster::{NodeEventSubscription, NodeServer, NodeServerMessage};
use ractor_cluster_derive::RactorClusterMessage;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;
use tracing::Instrument;

/// Version of the wire envelope. A node refuses calls of any other version with an
/// error naming both versions. 2: grid heartbeats, cluster view, actor trees, orders
/// and relayed HTTP requests (sutra-shell). 3: shard reads for reasoning on other nodes
/// (`Expand`, `Resolve`, `Occurrences`). 4: parallel commit (shard requests `Publish` and
/// `Holds`, batched transaction status, more coordinator counters) on top of 3. 5: every
/// call travels in an [`Envelope`] with the request id it serves (the remote node logs
/// and emits events under it), and a grid agent's `Leave` at a clean stop. 6: the logic
/// layer's sentences travel with their log positions and a cursor, so a reader asks only
/// for what changed (`Occurrences { from }`).
pub const WIRE_VERSION: u16 = 6;

/// The pg group of node `name`'s gateway.
pub fn gateway_group(node: &str) -> String {
    format!("sutra-gateway-{node}")
}

/// A call from one node to another.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum WireCall {
    /// A request to a shard that lives on the receiving node.
    Shard {
        /// The shard.
        shard: ShardId,
        /// The request.
        req: ShardRequest,
        /// How long the receiving node may take.
        timeout_ms: u64,
    },
    /// A cross-shard write for the transaction coordinator (on the master node).
    Commit(TxnPlan),
    /// What the coordinator decided about transactions (a participant in doubt asks).
    TxnStatus(Vec<TxId>),
    /// A grid agent's heartbeat, for the grid master (on the master node).
    Heartbeat(crate::grid::Heartbeat),
    /// The grid master's registry (on the master node).
    ClusterView,
    /// The receiving node's live actor tree.
    Tree,
    /// An order from the grid master to the receiving node's agent.
    Order {
        /// The master's epoch when it gave the order.
        epoch: u64,
        /// What to do.
        order: crate::grid::Order,
    },
    /// For the grid master: give `order` to node `node`'s agent under the current epoch.
    MasterOrder {
        /// The node whose agent carries it out.
        node: String,
        /// What to do.
        order: crate::grid::Order,
    },
    /// An HTTP request run against the receiving node's own API (sutra-shell's
    /// commands); answered with the status and body the API gave.
    Http {
        /// `GET`, `POST`, …
        method: String,
        /// Path and query, e.g. `/v1/stats`.
        path: String,
        /// JSON body (empty for none).
        body: Vec<u8>,
    },
    /// A call for another node, forwarded by the receiving node: sutra-shell reaches the
    /// whole cluster through the one node it attached to.
    Relay {
        /// The node that runs `call`.
        node: String,
        /// The call.
        call: Box<WireCall>,
    },
    /// For the grid master: node `node`'s agent leaves the grid (its node stops
    /// cleanly); answered with `WireReply::Order`.
    Leave {
        /// The node.
        node: String,
        /// Its incarnation.
        incarnation: u64,
    },
}

/// What travels between nodes: a call and the id of the client request it serves
/// (chosen on the HTTP edge of the node the client reached), so the remote node's log
/// lines and events for that request carry the same id.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Envelope {
    /// The request id, when the call serves a client request.
    pub request_id: Option<String>,
    /// The call.
    pub call: WireCall,
}

impl WireCall {
    /// The call's kind, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            WireCall::Shard { .. } => "shard",
            WireCall::Commit(_) => "commit",
            WireCall::TxnStatus(_) => "txn_status",
            WireCall::Heartbeat(_) => "heartbeat",
            WireCall::ClusterView => "cluster_view",
            WireCall::Tree => "tree",
            WireCall::Order { .. } => "order",
            WireCall::MasterOrder { .. } => "master_order",
            WireCall::Http { .. } => "http",
            WireCall::Relay { .. } => "relay",
            WireCall::Leave { .. } => "leave",
        }
    }
}

/// How long a relayed call may take (a relayed learn or question runs to the API's own
/// request timeout).
pub const RELAY_TIMEOUT: Duration = Duration::from_secs(60);

/// The answer to a [`WireCall`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum WireReply {
    /// A shard's answer or error.
    Shard(Result<ShardReply, SutraError>),
    /// The transaction's outcome.
    Commit(Result<Option<TxId>, SutraError>),
    /// The coordinator's answers, one per txid asked about.
    TxnStatus(Vec<crate::protocol::TxnStatus>),
    /// The master's answer to a heartbeat: its epoch, or why it refused.
    Heartbeat(Result<u64, String>),
    /// The master's registry.
    ClusterView(Box<crate::grid::Registry>),
    /// A node's actor tree.
    Tree(NodeTree),
    /// Whether the agent carried out the order.
    Order(Result<(), String>),
    /// The API's answer.
    Http {
        /// HTTP status.
        status: u16,
        /// Response body (JSON).
        body: Vec<u8>,
    },
}

/// One node's live actor tree, as `WireCall::Tree` answers it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeTree {
    /// The node.
    pub node: String,
    /// Its incarnation.
    pub incarnation: u64,
    /// Its actors, parents first (`None` while its root supervisor is not running).
    pub actors: Option<Vec<crate::actors::tree::ActorInfo>>,
}

/// Encodes `body` behind the 2-byte wire version.
pub fn seal<T: Serialize>(body: &T) -> Vec<u8> {
    let mut out = WIRE_VERSION.to_le_bytes().to_vec();
    out.extend_from_slice(&codec::encode(body));
    out
}

/// Decodes what [`seal`] made, refusing another version or damaged bytes.
pub fn open<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let (Some(v), Some(body)) = (bytes.get(..2), bytes.get(2..)) else {
        return Err("empty cross-node message".into());
    };
    let version = u16::from_le_bytes([v[0], v[1]]);
    if version != WIRE_VERSION {
        return Err(format!(
            "cross-node message of wire version {version}, but this node speaks version {WIRE_VERSION}; run the same Sutra version on every node"
        ));
    }
    codec::decode(body).map_err(|e| format!("undecodable cross-node message: {e}"))
}

/// The gateway's one message: sealed [`WireCall`] in, sealed `Result<WireReply, String>`
/// out.
#[derive(RactorClusterMessage)]
pub enum GatewayMsg {
    /// A call from another node.
    #[rpc]
    Call(Vec<u8>, RpcReplyPort<Vec<u8>>),
}

/// The node's gateway actor: serves calls from other nodes through the local router.
pub struct Gateway;

/// What the gateway needs.
#[derive(Clone)]
pub struct GatewayArgs {
    /// This node's name (its pg group).
    pub node: String,
    /// This process's incarnation (start time in ms).
    pub incarnation: u64,
    /// The router, for the local shards and coordinator.
    pub router: crate::router::Router,
    /// The node's HTTP routes, for relayed requests (sutra-shell).
    pub http: Option<axum::Router>,
}

impl Actor for Gateway {
    type Msg = GatewayMsg;
    type State = GatewayArgs;
    type Arguments = GatewayArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<GatewayMsg>,
        args: GatewayArgs,
    ) -> Result<GatewayArgs, ActorProcessingErr> {
        ractor::pg::join(gateway_group(&args.node), vec![myself.get_cell()]);
        Ok(args)
    }

    async fn handle(
        &self,
        _myself: ActorRef<GatewayMsg>,
        msg: GatewayMsg,
        state: &mut GatewayArgs,
    ) -> Result<(), ActorProcessingErr> {
        let GatewayMsg::Call(bytes, reply) = msg;
        let args = state.clone();
        let envelope = open::<Envelope>(&bytes);
        // The caller's request span goes on here: whatever this call reaches on this
        // node (shards, the coordinator) logs and emits events under its request id.
        let span = match &envelope {
            Ok(Envelope {
                request_id: Some(id),
                call,
            }) => tracing::info_span!("request", request_id = %id, call = call.name()),
            _ => tracing::Span::none(),
        };
        // Off the mailbox: a slow shard must not hold up calls to the others.
        tokio::spawn(
            async move {
                let answer = match envelope {
                    Err(e) => Err(e),
                    Ok(Envelope { request_id, call }) => {
                        tracing::debug!(call = call.name(), "serving a call from another node");
                        match call {
                            WireCall::Relay { node, call } if node == args.node => {
                                serve(&args, *call).await
                            }
                            WireCall::Relay { node, call } => {
                                call_as(&node, request_id, &call, RELAY_TIMEOUT)
                                    .await
                                    .map_err(|e| e.to_string())
                            }
                            call => serve(&args, call).await,
                        }
                    }
                };
                let _ = reply.send(seal(&answer));
            }
            .instrument(span),
        );
        Ok(())
    }
}

/// Runs one call from another node (or a shell) on this node.
async fn serve(args: &GatewayArgs, call: WireCall) -> Result<WireReply, String> {
    use crate::actors::grid;
    let router = &args.router;
    Ok(match call {
        WireCall::Shard {
            shard,
            req,
            timeout_ms,
        } => WireReply::Shard(
            router
                .call_local(shard, req, Duration::from_millis(timeout_ms))
                .await,
        ),
        WireCall::Commit(plan) => WireReply::Commit(router.commit(plan).await),
        WireCall::TxnStatus(txids) => WireReply::TxnStatus(txn_status(txids).await?),
        WireCall::Heartbeat(hb) => WireReply::Heartbeat(grid::master_heartbeat(hb).await),
        WireCall::ClusterView => WireReply::ClusterView(Box::new(grid::master_view().await?)),
        WireCall::Tree => WireReply::Tree(NodeTree {
            node: args.node.clone(),
            incarnation: args.incarnation,
            actors: crate::actors::tree::snapshot(),
        }),
        WireCall::MasterOrder { node, order } => {
            WireReply::Order(grid::master_order(&args.node, &node, order).await)
        }
        WireCall::Order { epoch, order } => WireReply::Order(grid::agent_order(epoch, order).await),
        WireCall::Relay { .. } => return Err("a relayed call cannot be relayed again".into()),
        WireCall::Leave { node, incarnation } => {
            WireReply::Order(grid::master_leave(node, incarnation).await)
        }
        WireCall::Http { method, path, body } => {
            let http = args.http.clone().ok_or("this node serves no HTTP API")?;
            let (status, body) = relay_http(http, &method, &path, body).await?;
            WireReply::Http { status, body }
        }
    })
}

/// Runs a request against this node's own routes, as if it had come over HTTP.
async fn relay_http(
    http: axum::Router,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> Result<(u16, Vec<u8>), String> {
    use tower::ServiceExt;
    let mut request = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    // The relayed request keeps the id of the request it serves.
    if let Some(id) = crate::logging::current_request_id() {
        request = request.header(crate::http::observe::REQUEST_ID, id);
    }
    let request = request
        .body(axum::body::Body::from(body))
        .map_err(|e| format!("bad relayed request {method} {path}: {e}"))?;
    let response = http
        .oneshot(request)
        .await
        .map_err(|e| format!("relayed request failed: {e}"))?;
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), 64 << 20)
        .await
        .map_err(|e| format!("relayed response unreadable: {e}"))?;
    Ok((status, bytes.to_vec()))
}

/// Asks this node's coordinator about `txids`.
async fn txn_status(txids: Vec<TxId>) -> Result<Vec<crate::protocol::TxnStatus>, String> {
    use crate::protocol::CoordinatorMsg;
    let coord = ActorRef::<CoordinatorMsg>::where_is(crate::router::COORDINATOR)
        .ok_or("the transaction coordinator is restarting")?;
    match coord
        .call(
            |tx| CoordinatorMsg::Status(txids, tx),
            Some(Duration::from_secs(2)),
        )
        .await
    {
        Ok(CallResult::Success(status)) => Ok(status),
        _ => Err("the transaction coordinator did not answer".into()),
    }
}

/// Calls node `node`'s gateway; every failure is a retryable 503 naming the node. The
/// id of the request being served (from the current span) goes with the call.
pub async fn call(node: &str, call: &WireCall, timeout: Duration) -> Result<WireReply, SutraError> {
    call_as(node, crate::logging::current_request_id(), call, timeout).await
}

/// [`call`] on behalf of request `request_id`.
async fn call_as(
    node: &str,
    request_id: Option<String>,
    call: &WireCall,
    timeout: Duration,
) -> Result<WireReply, SutraError> {
    let members = ractor::pg::get_members(&gateway_group(node));
    let Some(cell) = members.into_iter().find(|c| !c.get_id().is_local()) else {
        return Err(SutraError::unavailable(format!(
            "node {node} is not connected (down, restarting or unreachable); retry shortly"
        )));
    };
    let gateway: ActorRef<GatewayMsg> = cell.into();
    let bytes = seal(&Envelope {
        request_id,
        call: call.clone(),
    });
    match gateway
        .call(|tx| GatewayMsg::Call(bytes, tx), Some(timeout))
        .await
    {
        Ok(CallResult::Success(reply)) => match open::<Result<WireReply, String>>(&reply) {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(refused)) => Err(SutraError::unavailable(format!(
                "node {node} refused the call: {refused}"
            ))),
            Err(e) => Err(SutraError::unavailable(format!(
                "node {node} answered with {e}"
            ))),
        },
        Ok(CallResult::Timeout) => Err(SutraError::unavailable(format!(
            "node {node} did not answer within {} ms; retry shortly",
            timeout.as_millis()
        ))),
        Ok(CallResult::SenderError) | Err(_) => Err(SutraError::unavailable(format!(
            "the connection to node {node} dropped during the call; the request may not have been applied, retry it"
        ))),
    }
}

/// Whether a session to node `node` is up (its gateway can be called now).
pub fn connected(node: &str) -> bool {
    ractor::pg::get_members(&gateway_group(node))
        .iter()
        .any(|c| !c.get_id().is_local())
}

/// Node names sutra-shell attaches under (`sutra-shell-<pid>`).
pub const SHELL_PREFIX: &str = "sutra-shell-";

/// Names of the nodes whose gateways this process can call now (for sutra-shell, which
/// learns the name of the node it attached to this way).
pub fn reachable_nodes() -> Vec<String> {
    let mut nodes: Vec<String> = ractor::pg::which_groups()
        .into_iter()
        .filter_map(|g| {
            let node = g.strip_prefix("sutra-gateway-")?.to_string();
            ractor::pg::get_members(&g)
                .iter()
                .any(|c| !c.get_id().is_local())
                .then_some(node)
        })
        .collect();
    nodes.sort();
    nodes
}

/// Tracks whether the shell's one session authenticated (.0) or closed (.1).
#[derive(Clone, Default)]
struct AttachWatch(std::sync::Arc<std::sync::Mutex<(bool, bool)>>);

impl NodeEventSubscription for AttachWatch {
    fn node_session_opened(&self, _ses: NodeServerSessionInformation) {}
    fn node_session_disconnected(&self, _ses: NodeServerSessionInformation) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).1 = true;
    }
    fn node_session_authenticated(&self, _ses: NodeServerSessionInformation) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).0 = true;
    }
}

/// Attaches this process to the node at `addr` as a cluster peer named
/// `sutra-shell-<pid>` (sutra-shell), and returns the node's name once its gateway can
/// be called. Errors say whether the node is unreachable or refused the cookie.
pub async fn attach(addr: &str, cookie: &str, timeout: Duration) -> Result<String, String> {
    let me = format!("{SHELL_PREFIX}{}", std::process::id());
    let local = std::net::IpAddr::from([127, 0, 0, 1]);
    let server = NodeServer::new(
        0,
        cookie.to_string(),
        me,
        local.to_string(),
        None,
        Some(ractor_cluster::node::NodeConnectionMode::Isolated),
    )
    .with_listen_addr(local);
    let (server, _) = Actor::spawn(None, server, ())
        .await
        .map_err(|e| format!("cannot start the shell's cluster endpoint: {e}"))?;
    let watch = AttachWatch::default();
    server
        .cast(NodeServerMessage::SubscribeToEvents {
            id: "sutra-shell".into(),
            subscription: Box::new(watch.clone()),
        })
        .map_err(|e| e.to_string())?;
    let target = tokio::net::lookup_host(addr)
        .await
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("cannot resolve {addr}; give HOST:PORT of a node's cluster_addr"))?;
    ractor_cluster::client_connect(&server, target)
        .await
        .map_err(|e| {
            let why = match e {
                ractor_cluster::ClientConnectErr::Socket(io) => io.to_string(),
                other => other.to_string(),
            };
            format!("cannot reach a Sutra node at {addr}: {why}; check the address (a node's cluster_addr) and that the node runs")
        })?;
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(node) = reachable_nodes().into_iter().next() {
            return Ok(node);
        }
        let (authenticated, closed) = *watch.0.lock().unwrap_or_else(|e| e.into_inner());
        if closed && !authenticated {
            return Err(format!(
                "the node at {addr} refused the connection: wrong cookie (use the cluster.cookie of its cluster.toml)"
            ));
        }
        if closed {
            return Err(format!("the node at {addr} closed the connection"));
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!(
                "the node at {addr} accepted the connection but did not finish the handshake within {} ms; is it a Sutra node's cluster_addr?",
                timeout.as_millis()
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Logs session changes; a session that closes without ever authenticating is most
/// often a peer with another cookie.
#[derive(Default)]
struct SessionLog {
    authenticated: std::sync::Mutex<std::collections::HashSet<ractor::ActorId>>,
}

impl NodeEventSubscription for SessionLog {
    fn node_session_opened(&self, ses: NodeServerSessionInformation) {
        tracing::debug!(peer = %ses.peer_addr, "cluster session opened");
    }
    fn node_session_disconnected(&self, ses: NodeServerSessionInformation) {
        let was_authenticated = self
            .authenticated
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&ses.actor.get_id());
        let peer = ses.peer_name.map(|n| n.name).unwrap_or_default();
        if was_authenticated && peer.starts_with(SHELL_PREFIX) {
            tracing::info!(%peer, "sutra-shell detached");
        } else if was_authenticated {
            tracing::warn!(%peer, addr = %ses.peer_addr, "cluster peer disconnected");
        } else {
            tracing::warn!(
                %peer,
                addr = %ses.peer_addr,
                "a cluster connection closed before authenticating: check that every node uses the same cluster.cookie"
            );
        }
    }
    fn node_session_authenticated(&self, ses: NodeServerSessionInformation) {
        self.authenticated
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(ses.actor.get_id());
        tracing::info!(peer = ?ses.peer_name.map(|n| n.name), addr = %ses.peer_addr, "cluster peer authenticated");
    }
}

/// Starts this node's cluster server on `addr` and keeps dialling `peers` (name,
/// address) whose names sort before `me`. Returns the server.
pub async fn start(
    me: &str,
    addr: std::net::SocketAddr,
    cookie: &str,
    peers: Vec<(String, std::net::SocketAddr)>,
) -> Result<ActorRef<NodeServerMessage>, String> {
    let server = NodeServer::new(
        addr.port(),
        cookie.to_string(),
        me.to_string(),
        addr.ip().to_string(),
        None,
        Some(ractor_cluster::node::NodeConnectionMode::Isolated),
    )
    .with_listen_addr(addr.ip());
    let (server, _) = Actor::spawn(Some("cluster-server".into()), server, ())
        .await
        .map_err(|e| format!("cannot listen for cluster peers on {addr}: {e}"))?;
    server
        .cast(NodeServerMessage::SubscribeToEvents {
            id: "sutra".into(),
            subscription: Box::new(SessionLog::default()),
        })
        .map_err(|e| e.to_string())?;
    let dial: Vec<_> = peers.into_iter().filter(|(n, _)| n.as_str() < me).collect();
    if !dial.is_empty() {
        tokio::spawn(redial(server.clone(), dial));
    }
    Ok(server)
}

/// Keeps a session to every peer in `dial`, re-dialling a missing one with backoff
/// (0.1 s doubling to 2 s; back to 0.1 s once it is connected).
async fn redial(server: ActorRef<NodeServerMessage>, dial: Vec<(String, std::net::SocketAddr)>) {
    use tokio::time::Instant;
    let first = Duration::from_millis(100);
    let mut next: HashMap<String, (Instant, Duration)> = HashMap::new();
    loop {
        let Ok(sessions) = ractor::call_t!(server, NodeServerMessage::GetSessions, 2_000) else {
            return; // the server stopped: the node is shutting down
        };
        let connected: Vec<String> = sessions
            .values()
            .filter_map(|s| s.peer_name.as_ref())
            .map(|n| n.name.split('@').next().unwrap_or_default().to_string())
            .collect();
        let now = Instant::now();
        for (name, addr) in &dial {
            if connected.contains(name) {
                next.remove(name);
                continue;
            }
            let (at, wait) = next.entry(name.clone()).or_insert((now, first));
            if now < *at {
                continue;
            }
            match ractor_cluster::client_connect(&server, addr).await {
                Ok(()) => tracing::debug!(peer = %name, %addr, "dialled cluster peer"),
                Err(e) => {
                    tracing::debug!(peer = %name, %addr, error = %e, "cluster peer not reachable yet")
                }
            }
            *at = now + *wait;
            *wait = (*wait * 2).min(Duration::from_secs(2));
        }
        tokio::time::sleep(first).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_calls_round_trip_and_other_versions_are_refused() {
        let call = Envelope {
            request_id: Some("client-1".into()),
            call: WireCall::Commit(TxnPlan::default()),
        };
        let bytes = seal(&call);
        let back = open::<Envelope>(&bytes).unwrap();
        assert_eq!(back.request_id.as_deref(), Some("client-1"));
        assert!(matches!(back.call, WireCall::Commit(_)));
        let mut other = bytes.clone();
        other[0] = 9;
        let err = open::<Envelope>(&other).unwrap_err();
        assert!(err.contains("wire version 9"), "{err}");
        assert!(open::<Envelope>(&[]).unwrap_err().contains("empty"));
        assert!(open::<Envelope>(&bytes[..3]).is_err());
    }
}

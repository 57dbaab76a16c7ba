//! Assembles one node's supervision tree from its configuration:
//!
//! ```text
//! node (root supervisor)
//! ├── shards (supervisor)
//! │   ├── shard-0 ── reconciler-0
//! │   └── ...
//! ├── txn-coordinator   (master node only)
//! ├── grid-master       (master node only)
//! ├── gateway           (calls from other nodes and sutra-shell)
//! ├── event-sink        (stores self-monitoring events; stopped after everything above it)
//! ├── grid-agent
//! ├── embedders (pool; supervises its replicas itself)
//! │   ├── embedder-0
//! │   └── ...
//! ├── learner
//! ├── queries ── query-<n> (one per question, temporary)
//! └── ingress
//! ```
//! Children start in that order and stop in reverse, so the ingress stops taking
//! requests before the shards take their final checkpoint.

use crate::actors::coordinator::{Coordinator, CoordinatorArgs};
use crate::actors::embedder::{Pool, PoolArgs, POOL};
use crate::actors::ingress::{Ingress, IngressArgs};
use crate::actors::learner::Learner;
use crate::actors::query::{Queries, QueriesArgs};
use crate::actors::shard::{Shard, ShardArgs};
use crate::actors::supervisor::{
    ChildSpec, RestartPolicy, Supervisor, SupervisorArgs, SupervisorMsg,
};
use crate::config::{ClusterConfig, NodeConfig, ReasoningConfig};
use crate::http::AppState;
use crate::reason::ReasonConfig;
use crate::router::{
    shard_name, Router, COORDINATOR, GRID_AGENT, GRID_MASTER, INGRESS, LEARNER, NODE, QUERIES,
    SHARDS,
};
use ractor::{Actor, ActorRef};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

/// How to run this node.
#[derive(Clone, Debug)]
pub struct NodeOptions {
    /// The whole cluster's configuration.
    pub config: ClusterConfig,
    /// This node's entry (with command-line overrides applied).
    pub node: NodeConfig,
    /// Whether `POST /v1/admin/faults` is served.
    pub fault_injection: bool,
}

/// A started node.
pub struct RunningNode {
    /// The root supervisor.
    pub root: ActorRef<SupervisorMsg>,
    /// Finishes when the root stops.
    pub handle: JoinHandle<()>,
    /// Where HTTP is served.
    pub http_addr: SocketAddr,
    /// Where cluster peers connect (multi-node topologies only).
    pub cluster_addr: Option<SocketAddr>,
    /// The cluster server, stopped after the tree.
    cluster: Option<ActorRef<ractor_cluster::NodeServerMessage>>,
    /// Present while the node runs; removed by a clean stop (see `start`).
    marker: PathBuf,
    /// The failure detector (multi-node topologies); stopped last, telling the others
    /// this node leaves.
    membership: Option<Arc<crate::membership::Membership>>,
}

impl RunningNode {
    /// Stops the tree gracefully: ingress first, shards last (each folds and checkpoints).
    pub async fn shutdown(self) {
        let _ = self
            .root
            .stop_and_wait(Some("shutdown".into()), Some(Duration::from_secs(120)))
            .await;
        let _ = self.handle.await;
        if let Some(server) = self.cluster {
            server.stop(None);
        }
        crate::events::uninstall();
        if let Err(e) = std::fs::remove_file(&self.marker) {
            tracing::warn!(file = %self.marker.display(), error = %e, "cannot remove the run marker; the next start will report a crash");
        }
        drop(self.membership);
    }
}

/// The reasoner's settings from `[reasoning]` (and `[embedding]`'s similarity floor).
pub fn reason_config(r: &ReasoningConfig, resolve_similarity: f32) -> ReasonConfig {
    ReasonConfig {
        resolve_similarity,
        gate: r.quality_gate,
        decay: r.decay_per_hop,
        chain_decay: r.chain_decay_per_hop,
        max_depth: r.max_depth,
        num_paths: r.num_paths,
        ..ReasonConfig::default()
    }
}

/// Starts the supervision tree and waits until HTTP is served.
pub async fn start(opts: NodeOptions) -> Result<RunningNode, String> {
    let cfg = &opts.config;
    let data_dir: PathBuf = opts.node.data_dir.clone();
    std::fs::create_dir_all(&data_dir).map_err(|e| {
        format!(
            "cannot create data directory {}: {e}; pass --data-dir DIR with a writable directory",
            data_dir.display()
        )
    })?;
    let mut router = Router::new(
        cfg.cluster.shards,
        Duration::from_millis(cfg.limits.request_timeout_ms),
    );
    // This process's incarnation: a restarted node is a new identity to the others.
    let incarnation = crate::graph::now_ms();
    // Several nodes: listen for peers, dial them, and route through the gateways.
    let multi = cfg.nodes.len() > 1;
    let mut cluster = None;
    let mut membership = None;
    let peers: Vec<(String, SocketAddr)> = cfg
        .nodes
        .iter()
        .filter(|n| n.name != opts.node.name)
        .map(|n| (n.name.clone(), n.cluster_addr))
        .collect();
    if multi {
        router = router.with_placement(crate::router::Placement::from_config(cfg, &opts.node.name));
        // Started before the actors, on its own thread: detection must not wait on them.
        membership = Some(Arc::new(crate::membership::Membership::start(
            crate::membership::MembershipArgs {
                name: opts.node.name.clone(),
                addr: opts.node.cluster_addr,
                incarnation,
                cookie: cfg.cluster.cookie.clone(),
                peers: peers.clone(),
                config: cfg.membership.clone(),
            },
        )?));
    }
    // A single node listens too, for sutra-shell; a taken port only costs the shell.
    match crate::cluster::start(
        &opts.node.name,
        opts.node.cluster_addr,
        &cfg.cluster.cookie,
        peers,
    )
    .await
    {
        Ok(server) => cluster = Some(server),
        Err(e) if multi => return Err(e),
        Err(e) => {
            tracing::warn!("{e}; sutra-shell cannot attach to this node, everything else runs")
        }
    }
    // Events: the bus first, so what the shards say while opening is kept; a marker
    // file that only a clean stop removes tells the next start it follows a crash.
    let started = std::time::Instant::now();
    let marker = data_dir.join("RUNNING");
    let after_crash = marker.exists();
    if let Err(e) = std::fs::write(&marker, std::process::id().to_string()) {
        tracing::warn!(file = %marker.display(), error = %e, "cannot write the run marker; the next start cannot tell a crash from a clean stop");
    }
    let event_sink = if cfg.events.enabled {
        let rx = crate::events::install(&opts.node.name, cfg.events.buffer);
        if after_crash {
            crate::events::emit(crate::events::EventKind::NodeCrashed {
                crashed: opts.node.name.clone(),
                seen: "on restart: the previous run did not stop cleanly".into(),
            });
        }
        let args = crate::actors::event_sink::SinkArgs {
            router: router.clone(),
            rx: Arc::new(tokio::sync::Mutex::new(rx)),
            config: cfg.events.clone(),
            embedders: opts.node.embedder_replicas > 0,
            started,
        };
        Some(ChildSpec::new(
            crate::actors::event_sink::EVENT_SINK,
            move |sup| {
                let args = args.clone();
                async move {
                    Actor::spawn_linked(
                        Some(crate::actors::event_sink::EVENT_SINK.into()),
                        crate::actors::event_sink::EventSink,
                        args,
                        sup,
                    )
                    .await
                    .map(|(r, _)| r.get_cell())
                }
            },
        ))
    } else {
        crate::events::uninstall();
        None
    };
    let is_master = opts.node.has_role(crate::config::Role::Master);
    let policy = RestartPolicy {
        stop_timeout: Duration::from_millis(cfg.limits.stop_timeout_ms),
        ..RestartPolicy::default()
    };

    let shard_children = opts
        .node
        .shards
        .iter()
        .map(|&s| {
            let args = ShardArgs {
                shard: s,
                dir: data_dir.join(format!("shard-{s}")),
                storage: cfg.storage.clone(),
                coordinator_node: router
                    .placement
                    .as_ref()
                    .filter(|p| p.master != p.me)
                    .map(|p| p.master.clone()),
            };
            ChildSpec::new(shard_name(s), move |sup| {
                let args = args.clone();
                async move {
                    Actor::spawn_linked(Some(shard_name(args.shard)), Shard, args, sup)
                        .await
                        .map(|(r, _)| r.get_cell())
                }
            })
        })
        .collect();
    let shards = {
        let policy = policy.clone();
        ChildSpec::new(SHARDS, move |sup| {
            let args = SupervisorArgs {
                children: Vec::clone(&shard_children),
                policy: policy.clone(),
                parallel_start: true,
            };
            async move {
                Actor::spawn_linked(Some(SHARDS.into()), Supervisor, args, sup)
                    .await
                    .map(|(r, _)| r.get_cell())
            }
        })
    };
    let coordinator = {
        let (dir, router) = (data_dir.join("txn"), router.clone());
        let compact_every = cfg.storage.checkpoint_every_records;
        ChildSpec::new(COORDINATOR, move |sup| {
            let args = CoordinatorArgs {
                dir: dir.clone(),
                router: router.clone(),
                compact_every,
            };
            async move {
                Actor::spawn_linked(Some(COORDINATOR.into()), Coordinator, args, sup)
                    .await
                    .map(|(r, _)| r.get_cell())
            }
        })
    };
    // The English analysis behind extraction (src/nlp) lives beside the embedding model;
    // loaded once here so no learn pays for it. Without it extraction keeps to its fixed
    // wordings: said loudly, with the set-up command, rather than refusing to start.
    let nlp_dir = crate::nlp::dir_beside(&cfg.embedding.model_dir);
    if let Err(e) = crate::nlp::Nlp::init_shared(&nlp_dir) {
        tracing::error!("{e}; until then extraction reads only its fixed wordings");
    }
    let replicas = opts.node.embedder_replicas as usize;
    let embedders = if replicas > 0 {
        // Located here so a missing model stops the start with the set-up command,
        // before any actor runs.
        let files = Arc::new(
            crate::embed::ModelFiles::locate(&cfg.embedding.model_dir, &cfg.embedding.variant)
                .map_err(|e| e.to_string())?,
        );
        let config = cfg.embedding.clone();
        Some(ChildSpec::new(POOL, move |sup| {
            let args = PoolArgs {
                replicas,
                files: Arc::clone(&files),
                config: config.clone(),
            };
            async move {
                Actor::spawn_linked(Some(POOL.into()), Pool, args, sup)
                    .await
                    .map(|(r, _)| r.get_cell())
            }
        }))
    } else {
        None
    };
    let learner = {
        let router = router.clone();
        // The node's learn clock outlives learner restarts, so learn times never repeat.
        let clock = Arc::new(crate::graph::LearnClock::default());
        ChildSpec::new(LEARNER, move |sup| {
            let args = (router.clone(), clock.clone());
            async move {
                Actor::spawn_linked(Some(LEARNER.into()), Learner, args, sup)
                    .await
                    .map(|(r, _)| r.get_cell())
            }
        })
    };
    let queries = {
        let args = QueriesArgs {
            config: reason_config(&cfg.reasoning, cfg.embedding.resolve_similarity),
            logic: crate::reason::logic_bridge::LogicSettings {
                // Validated when the topology was loaded.
                relations: crate::logic::relations::RelationProps::with_sentences(
                    &cfg.reasoning.relations,
                )
                .unwrap_or_default(),
                closed_world_kbs: cfg.reasoning.closed_world_kbs.iter().cloned().collect(),
                max_sentences: cfg.reasoning.logic_max_sentences,
            },
            router: router.clone(),
            deadline: Duration::from_millis(cfg.limits.request_timeout_ms / 2),
        };
        ChildSpec::new(QUERIES, move |sup| {
            let args = args.clone();
            async move {
                Actor::spawn_linked(Some(QUERIES.into()), Queries, args, sup)
                    .await
                    .map(|(r, _)| r.get_cell())
            }
        })
    };
    let mut app = AppState::new(
        router.clone(),
        cfg.limits.clone(),
        opts.node.name.clone(),
        opts.fault_injection,
        reason_config(&cfg.reasoning, cfg.embedding.resolve_similarity),
        replicas,
    );
    app.cluster = Some(Arc::new(crate::http::cluster::ClusterInfo {
        config: cfg.clone(),
        me: opts.node.name.clone(),
        incarnation,
    }));
    let app = Arc::new(app);
    let gateway = cluster.is_some().then(|| {
        let args = crate::cluster::GatewayArgs {
            node: opts.node.name.clone(),
            incarnation,
            router: router.clone(),
            http: Some(crate::http::routes(app.clone())),
        };
        ChildSpec::new(crate::router::GATEWAY, move |sup| {
            let args = args.clone();
            async move {
                Actor::spawn_linked(
                    Some(crate::router::GATEWAY.into()),
                    crate::cluster::Gateway,
                    args,
                    sup,
                )
                .await
                .map(|(r, _)| r.get_cell())
            }
        })
    });
    let (ready_tx, mut ready_rx) = tokio::sync::watch::channel(None);
    let master_name = crate::router::Placement::from_config(cfg, &opts.node.name).master;
    let grid_agent = {
        let args = crate::actors::grid::GridAgentArgs {
            node: opts.node.name.clone(),
            incarnation,
            shards: opts.node.shards.clone(),
            is_master: master_name == opts.node.name,
            master: master_name,
            every: Duration::from_millis(cfg.membership.heartbeat_ms),
            router: router.clone(),
        };
        ChildSpec::new(GRID_AGENT, move |sup| {
            let args = args.clone();
            async move {
                Actor::spawn_linked(
                    Some(GRID_AGENT.into()),
                    crate::actors::grid::GridAgent,
                    args,
                    sup,
                )
                .await
                .map(|(r, _)| r.get_cell())
            }
        })
    };
    let grid_master = is_master.then(|| {
        let args = crate::actors::grid::GridMasterArgs {
            nodes: cfg.nodes.iter().map(|n| n.name.clone()).collect(),
            incarnation,
            membership: membership.clone(),
            config: cfg.membership.clone(),
        };
        ChildSpec::new(GRID_MASTER, move |sup| {
            let args = args.clone();
            async move {
                Actor::spawn_linked(
                    Some(GRID_MASTER.into()),
                    crate::actors::grid::GridMaster,
                    args,
                    sup,
                )
                .await
                .map(|(r, _)| r.get_cell())
            }
        })
    });
    let ingress_args = IngressArgs {
        app,
        addr: Arc::new(Mutex::new(opts.node.http_addr)),
        ready: ready_tx,
    };
    let ingress = ChildSpec::new(INGRESS, move |sup| {
        let args = ingress_args.clone();
        async move {
            Actor::spawn_linked(Some(INGRESS.into()), Ingress, args, sup)
                .await
                .map(|(r, _)| r.get_cell())
        }
    });

    let (root, handle) = Actor::spawn(
        Some(NODE.into()),
        Supervisor,
        SupervisorArgs {
            children: [shards]
                .into_iter()
                .chain(is_master.then_some(coordinator))
                .chain(grid_master)
                .chain(gateway)
                .chain(event_sink)
                .chain([grid_agent])
                .chain(embedders)
                .chain([learner, queries, ingress])
                .collect(),
            policy,
            parallel_start: false,
        },
    )
    .await
    .map_err(|e| match e {
        ractor::SpawnErr::StartupFailed(inner) => inner.to_string(),
        other => other.to_string(),
    })?;
    crate::actors::tree::note_started(NODE);
    let http_addr = ready_rx
        .wait_for(Option::is_some)
        .await
        .map_err(|_| "the ingress stopped before serving".to_string())?
        .expect("waited for Some");
    crate::events::emit(crate::events::EventKind::NodeRestarted {
        startup_ms: started.elapsed().as_millis() as u64,
        after_crash,
    });
    Ok(RunningNode {
        marker,
        root,
        handle: tokio::spawn(async move {
            let _ = handle.await;
        }),
        http_addr,
        cluster_addr: cluster.is_some().then_some(opts.node.cluster_addr),
        cluster,
        membership,
    })
}

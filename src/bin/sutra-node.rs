//! `sutra-node`: runs one Sutra node from `cluster.toml`.
//!
//! With no flags it runs the single node of the default `cluster.toml` in the current
//! directory. Once serving it prints exactly one line on stdout,
//! `http listening on http://ADDR`, so scripts and tests can start it on port 0; logs go
//! to stderr. SIGINT/SIGTERM stop it cleanly: the ingress stops taking requests, then
//! every shard folds and checkpoints.

use clap::Parser;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use sutra::actors::node::{self, NodeOptions};
use sutra::config::ClusterConfig;

/// Runs one Sutra node.
#[derive(Parser, Debug)]
#[command(name = "sutra-node", version, about)]
struct Args {
    /// Cluster topology file.
    #[arg(long, default_value = "cluster.toml")]
    config: PathBuf,
    /// Which node of the topology to run (needed when it describes several).
    #[arg(long)]
    node: Option<String>,
    /// Override the node's HTTP address (port 0 picks a free port).
    #[arg(long)]
    http: Option<SocketAddr>,
    /// Override the node's data directory.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Override the node's embedder replica count (0 runs no embedding model: no
    /// vectors, no /v1/search).
    #[arg(long)]
    embedders: Option<u32>,
    /// Serve POST /v1/admin/faults, which arms crash points for chaos tests.
    /// Never use it in production.
    #[arg(long)]
    enable_fault_injection: bool,
    #[command(subcommand)]
    command: Option<Cmd>,
}

/// Other things sutra-node does instead of running a node.
#[derive(clap::Subcommand, Debug)]
enum Cmd {
    /// Print a valid N-node topology on 127.0.0.1 (nodes n1..nN) to try a cluster on one
    /// machine; start each node with `sutra-node --config FILE --node n<i>`.
    ExampleConfig {
        /// Number of nodes.
        #[arg(long, default_value_t = 3)]
        nodes: u32,
        /// Node i listens for peers on PORT_BASE + 2(i-1) and for HTTP on the port after.
        #[arg(long, default_value_t = 7400)]
        port_base: u16,
        /// Each node keeps its data in DATA_DIR/n<i>.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Cmd::ExampleConfig {
        nodes,
        port_base,
        data_dir,
    }) = &args.command
    {
        // Absolute paths, so the file works wherever it is saved.
        let cwd = std::env::current_dir().unwrap_or_default();
        let model_dir = std::env::var_os("SUTRA_MODEL_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| cwd.join("models/minilm"));
        return match sutra::config::example_topology(
            *nodes,
            *port_base,
            &cwd.join(data_dir),
            &model_dir,
        ) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("sutra-node example-config: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Err(e) = sutra::logging::init() {
        // Not eprintln!: it panics when stderr itself is failing.
        let _ = writeln!(std::io::stderr(), "sutra-node: {e}");
        return ExitCode::FAILURE;
    }
    let outcome = run(args);
    if let Err(e) = &outcome {
        tracing::error!("{e}");
    }
    // The last lines (the reason for a failure, "stopped cleanly") reach stderr unless it
    // is stuck; never wait longer than this.
    sutra::logging::flush(Duration::from_secs(2));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "sutra-node: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let config = ClusterConfig::load(&args.config).map_err(|e| e.to_string())?;
    let mut node = config
        .node(args.node.as_deref())
        .map_err(|e| e.to_string())?
        .clone();
    if let Some(http) = args.http {
        node.http_addr = http;
    }
    if let Some(dir) = args.data_dir {
        node.data_dir = dir;
    }
    if let Some(n) = args.embedders {
        if n > 64 {
            return Err(format!("--embedders {n}: at most 64 replicas per node"));
        }
        node.embedder_replicas = n;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("sutra")
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async move {
        let mut running = node::start(NodeOptions {
            config,
            node,
            fault_injection: args.enable_fault_injection,
        })
        .await?;
        {
            let mut out = std::io::stdout().lock();
            if let Some(addr) = running.cluster_addr {
                let _ = writeln!(out, "cluster listening on {addr}");
            }
            let _ = writeln!(out, "http listening on http://{}", running.http_addr);
            let _ = out.flush();
        }
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| format!("cannot install the SIGTERM handler: {e}"))?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = &mut running.handle => {
                return Err("the node's root supervisor stopped (a child exceeded its restart intensity; see the log above)".to_string());
            }
        }
        running.shutdown().await;
        tracing::info!("stopped cleanly");
        Ok(())
    })
}

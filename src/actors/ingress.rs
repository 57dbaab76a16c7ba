//! `ingress`: owns the HTTP server. The server task lives in the actor's state, so a
//! killed ingress really stops serving and its restart serves again on the same address
//! (even when the node was started on port 0).

use crate::http::{routes, Shared};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use ractor_cluster_derive::RactorMessage;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// The ingress has no messages of its own: requests arrive over HTTP.
#[derive(RactorMessage)]
pub enum IngressMsg {}

/// The ingress actor.
pub struct Ingress;

/// What the ingress starts with (cloned for every restart).
#[derive(Clone)]
pub struct IngressArgs {
    /// Handler state.
    pub app: Shared,
    /// Where to listen; replaced by the bound address after the first bind.
    pub addr: Arc<Mutex<SocketAddr>>,
    /// Told the bound address once serving.
    pub ready: watch::Sender<Option<SocketAddr>>,
}

/// Aborts the server task when dropped (on kill, the state is dropped without post_stop).
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The ingress's state.
pub struct IngressState {
    server: Option<AbortOnDrop>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Actor for Ingress {
    type Msg = IngressMsg;
    type State = IngressState;
    type Arguments = IngressArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<IngressMsg>,
        args: IngressArgs,
    ) -> Result<IngressState, ActorProcessingErr> {
        let addr = *args.addr.lock().unwrap_or_else(|e| e.into_inner());
        // A restart rebinds the address its predecessor held; that socket closes when
        // the aborted task is dropped, which can lag the kill by a moment.
        let deadline = Instant::now() + Duration::from_secs(3);
        let listener = loop {
            match tokio::net::TcpListener::bind(addr).await {
                Ok(l) => break l,
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < deadline && args.ready.borrow().is_some() => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => {
                    return Err(format!(
                        "cannot listen for HTTP on {addr}: {e}; stop the process using it, or pass --http ADDR (port 0 picks a free port)"
                    )
                    .into())
                }
            }
        };
        let bound = listener.local_addr()?;
        *args.addr.lock().unwrap_or_else(|e| e.into_inner()) = bound;
        let (tx, rx) = oneshot::channel::<()>();
        let app = routes(args.app.clone());
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "HTTP server failed");
            }
        });
        tracing::info!(%bound, "ingress serving");
        args.ready.send_replace(Some(bound));
        Ok(IngressState {
            server: Some(AbortOnDrop(server)),
            shutdown: Some(tx),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<IngressMsg>,
        msg: IngressMsg,
        _state: &mut IngressState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {}
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<IngressMsg>,
        state: &mut IngressState,
    ) -> Result<(), ActorProcessingErr> {
        // Graceful stop: finish in-flight requests, then close.
        if let Some(tx) = state.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(mut server) = state.server.take() {
            if tokio::time::timeout(Duration::from_secs(10), &mut server.0)
                .await
                .is_err()
            {
                tracing::warn!("HTTP requests still running after 10 s; closing anyway");
            }
        }
        Ok(())
    }
}

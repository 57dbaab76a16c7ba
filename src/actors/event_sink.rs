//! `event-sink`: drains the node's bounded event buffer (see [`crate::events`]) and
//! stores what it holds in the `events` knowledge base, one transaction per flush; and
//! deletes events past their retention (age or count). Restarting it loses nothing
//! that waits in the buffer: the buffer outlives the actor.
//!
//! The sink is started after the shards and the coordinator and stopped before them, so
//! its final flush at a clean stop still has somewhere to go.

use crate::config::EventsConfig;
use crate::events::{self, Event, EventKind};
use crate::reason::remote::{Reader, Want};
use crate::router::Router;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use ractor_cluster_derive::RactorMessage;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::Receiver;

/// The sink's registered name.
pub const EVENT_SINK: &str = "event-sink";

/// Most events stored in one transaction.
const MAX_PER_FLUSH: usize = 2048;

/// How often retention is enforced.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Most expired events deleted per sweep (one transaction); the rest go next time.
const MAX_PER_SWEEP: usize = 4096;

/// Events stored, and lost because storing kept failing, since the process started.
static STORED: AtomicU64 = AtomicU64::new(0);
static LOST: AtomicU64 = AtomicU64::new(0);

/// (stored, lost because storing kept failing) since the process started.
pub fn stored_counts() -> (u64, u64) {
    (STORED.load(Ordering::Relaxed), LOST.load(Ordering::Relaxed))
}

/// The sink's messages.
#[derive(RactorMessage)]
pub enum SinkMsg {
    /// Store what waits in the buffer.
    Flush,
    /// Delete expired events.
    Sweep,
}

/// What the sink starts with.
#[derive(Clone)]
pub struct SinkArgs {
    /// How events reach the shards.
    pub router: Router,
    /// The buffer's receiving end, shared across restarts of the sink.
    pub rx: Arc<tokio::sync::Mutex<Receiver<Event>>>,
    /// `[events]`.
    pub config: EventsConfig,
    /// Embedder replicas this node runs (for "healthy").
    pub embedders: bool,
    /// When the process started, for `NodeHealthy`.
    pub started: Instant,
}

/// The sink's state.
pub struct SinkState {
    args: SinkArgs,
    healthy_said: bool,
    /// Events taken from the buffer and not stored yet (a store failed).
    pending: Vec<Event>,
}

/// The event sink actor.
pub struct EventSink;

impl Actor for EventSink {
    type Msg = SinkMsg;
    type State = SinkState;
    type Arguments = SinkArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<SinkMsg>,
        args: SinkArgs,
    ) -> Result<SinkState, ActorProcessingErr> {
        myself.send_after(Duration::from_millis(args.config.flush_ms), || {
            SinkMsg::Flush
        });
        myself.send_interval(SWEEP_EVERY, || SinkMsg::Sweep);
        Ok(SinkState {
            args,
            healthy_said: false,
            pending: Vec::new(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<SinkMsg>,
        msg: SinkMsg,
        state: &mut SinkState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SinkMsg::Flush => {
                state.say_healthy();
                flush(&state.args, &mut state.pending).await;
                // The next flush is scheduled after this one ends, so a slow store
                // never piles flushes up in the mailbox.
                myself.send_after(Duration::from_millis(state.args.config.flush_ms), || {
                    SinkMsg::Flush
                });
            }
            SinkMsg::Sweep => sweep(&state.args).await,
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<SinkMsg>,
        state: &mut SinkState,
    ) -> Result<(), ActorProcessingErr> {
        flush(&state.args, &mut state.pending).await;
        Ok(())
    }
}

impl SinkState {
    /// Emits `NodeHealthy` once every part of the node runs.
    fn say_healthy(&mut self) {
        if self.healthy_said {
            return;
        }
        if crate::http::admin::missing_actors(self.args.router.shards, self.args.embedders)
            .is_empty()
        {
            self.healthy_said = true;
            events::emit(EventKind::NodeHealthy {
                after_ms: self.args.started.elapsed().as_millis() as u64,
            });
        }
    }
}

/// Stores what waits in the buffer (at most [`MAX_PER_FLUSH`] per transaction, until it
/// is empty). A failed store (a full disk, a shard restarting) keeps its events for the
/// next flush; beyond `buffer` kept events the oldest are dropped and counted as lost.
async fn flush(args: &SinkArgs, pending: &mut Vec<Event>) {
    loop {
        if let Ok(mut rx) = args.rx.try_lock() {
            while pending.len() < MAX_PER_FLUSH {
                match rx.try_recv() {
                    Ok(e) => pending.push(e),
                    Err(_) => break,
                }
            }
        }
        if pending.is_empty() {
            return;
        }
        let n = pending.len() as u64;
        match crate::actors::learner::store_events(&args.router, pending.as_slice()).await {
            Ok(_) => {
                pending.clear();
                STORED.fetch_add(n, Ordering::Relaxed);
                metrics::counter!("sutra_events_stored_total").increment(n);
            }
            Err(e) => {
                let over = pending.len().saturating_sub(args.config.buffer);
                if over > 0 {
                    pending.drain(..over);
                    LOST.fetch_add(over as u64, Ordering::Relaxed);
                    metrics::counter!("sutra_events_lost_total").increment(over as u64);
                }
                tracing::warn!(events = n, error = %e, "could not store events; retrying at the next flush");
                return;
            }
        }
        if n < MAX_PER_FLUSH as u64 {
            return;
        }
    }
}

/// Which stored events are past retention: older than the age limit, or beyond the
/// count limit (oldest first). At most [`MAX_PER_SWEEP`].
pub fn expired(
    mut stored: Vec<(u64, crate::graph::ConceptId)>,
    now_ms: u64,
    config: &EventsConfig,
) -> Vec<crate::graph::ConceptId> {
    stored.sort_unstable();
    let cutoff = now_ms.saturating_sub(config.retention_hours * 3_600_000);
    let over = stored.len().saturating_sub(config.retention_count);
    stored
        .iter()
        .enumerate()
        .take_while(|(i, (at, _))| *i < over || *at < cutoff)
        .take(MAX_PER_SWEEP)
        .map(|(_, (_, id))| *id)
        .collect()
}

/// Deletes expired events of every shard. In a cluster only the master node sweeps (the
/// others' sinks would delete the same events), reading the other nodes' shards by
/// message; a sweep that cannot read every shard waits for the next one, since the
/// retention count needs them all.
async fn sweep(args: &SinkArgs) {
    if !args.router.is_master() {
        return;
    }
    let want = Want {
        names: &[],
        sentences: Some(usize::MAX),
        fresh: false,
        cache: None,
    };
    let Ok(reader) = Reader::open(&args.router, events::EVENTS_KB, want).await else {
        return;
    };
    if reader.unavailable_error().is_some() {
        return;
    }
    let view = reader.view();
    let stored: Vec<_> = events::stored::read(&view)
        .into_iter()
        .map(|s| (s.event.at_ms, s.id))
        .collect();
    let doomed = expired(stored, events::now_ms(), &args.config);
    if doomed.is_empty() {
        return;
    }
    let n = doomed.len();
    match crate::actors::learner::delete_many(&args.router, doomed.into_iter().collect()).await {
        Ok(_) => tracing::info!(events = n, "expired events deleted"),
        Err(e) => {
            tracing::warn!(events = n, error = %e, "could not delete expired events; retrying at the next sweep")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::ConceptId;

    #[test]
    fn retention_takes_the_oldest_by_age_and_count() {
        let config = EventsConfig {
            retention_hours: 1,
            retention_count: 100,
            ..EventsConfig::default()
        };
        let now = 10 * 3_600_000;
        // 150 events, one a minute, the oldest 3 hours ago.
        let stored: Vec<(u64, ConceptId)> = (0..150u64)
            .map(|i| (now - 3 * 3_600_000 + i * 60_000, ConceptId(i)))
            .collect();
        let doomed = expired(stored.clone(), now, &config);
        // Every event older than an hour goes (more than the 50 beyond the count).
        let old = stored
            .iter()
            .filter(|(at, _)| *at < now - 3_600_000)
            .count();
        assert_eq!(doomed.len(), old.max(50));
        assert_eq!(doomed[0], ConceptId(0));
        // Count only: 150 young events, keep 100.
        let young: Vec<(u64, ConceptId)> = (0..150u64).map(|i| (now - i, ConceptId(i))).collect();
        let doomed = expired(young, now, &config);
        assert_eq!(doomed.len(), 50);
        assert!(doomed.contains(&ConceptId(149)) && !doomed.contains(&ConceptId(0)));
    }
}

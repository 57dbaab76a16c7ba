//! The node's log sink: logs never kill or stall the node (issue 15, part 4).
//!
//! Invariants:
//! - Emitting a log line never blocks and never fails upward. Lines go into a bounded
//!   queue ([`QUEUE_LINES`]); when it is full the line is dropped and counted.
//! - One dedicated thread writes the queue to stderr. A write that fails (ENOSPC on a
//!   full disk or `/dev/full`, EPIPE on a pipe whose reader went away, EIO) drops that
//!   line and counts it; a stderr that blocks (a pipe nobody reads) only stalls this
//!   thread, and the queue then drops and counts instead of stalling the emitters.
//! - A stderr closed before start-up is never handed to a data file: Rust's runtime
//!   opens `/dev/null` on closed fds 0-2 before `main`, so lines then go nowhere
//!   (successfully) and never into a log segment or a checkpoint.
//!
//! Why not `tracing_subscriber::fmt().with_writer(std::io::stderr)`: its layer reports a
//! failed write with `eprintln!`, which panics when stderr itself is failing ("failed
//! printing to stderr") — in whatever actor or request happened to log. Why not
//! `tracing-appender`'s lossy `non_blocking`: it does the queue, but ignores write
//! errors without counting them (and pulls in the `time` crate for its file rolling,
//! which we do not use); the queue here is std's bounded `sync_channel`, no dependency.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::OnceLock;
use std::time::Duration;

/// How many formatted lines may wait for the writer thread by default (at ~200 bytes a
/// line, about 3 MiB at most); `SUTRA_LOG_QUEUE` sets another bound.
pub const QUEUE_LINES: usize = 16_384;

static DROPPED: AtomicU64 = AtomicU64::new(0);
static WRITTEN: AtomicU64 = AtomicU64::new(0);
static SINK: OnceLock<SyncSender<Msg>> = OnceLock::new();

enum Msg {
    Line(Vec<u8>),
    /// Answered once every line queued before it has been written (or dropped).
    Flush(SyncSender<()>),
}

/// Log lines dropped since start (queue full, stderr failing or closed).
pub fn dropped_lines() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// Log lines written to stderr since start.
pub fn written_lines() -> u64 {
    WRITTEN.load(Ordering::Relaxed)
}

/// Starts the writer thread (once) and returns a [`MakeWriter`] for
/// `tracing_subscriber::fmt`.
///
/// [`MakeWriter`]: tracing_subscriber::fmt::MakeWriter
pub fn stderr_sink(queue_lines: usize) -> SinkWriter {
    SINK.get_or_init(|| {
        let (tx, rx) = mpsc::sync_channel(queue_lines.max(1));
        let out: Box<dyn Write + Send> = Box::new(std::io::stderr());
        // If the thread cannot start, the queue fills and every line is counted.
        let _ = std::thread::Builder::new()
            .name("sutra-log".into())
            .spawn(move || drain(rx, out));
        tx
    });
    SinkWriter
}

fn drain(rx: Receiver<Msg>, mut out: Box<dyn Write + Send>) {
    for msg in rx {
        match msg {
            Msg::Line(line) => {
                if out.write_all(&line).is_ok() {
                    WRITTEN.fetch_add(1, Ordering::Relaxed);
                } else {
                    DROPPED.fetch_add(1, Ordering::Relaxed);
                }
            }
            Msg::Flush(done) => {
                let _ = out.flush();
                let _ = done.try_send(());
            }
        }
    }
}

/// Waits up to `within` for the lines queued so far to be written (at shutdown, so the
/// last lines are not lost to a quick exit). Never waits longer, even if stderr blocks.
pub fn flush(within: Duration) {
    let Some(tx) = SINK.get() else { return };
    let (done_tx, done_rx) = mpsc::sync_channel(1);
    if tx.try_send(Msg::Flush(done_tx)).is_ok() {
        let _ = done_rx.recv_timeout(within);
    }
}

/// The writer `tracing_subscriber` formats each event into: one `write` per event,
/// queued whole. It never fails and never blocks.
#[derive(Clone, Copy, Debug, Default)]
pub struct SinkWriter;

/// One event being formatted.
pub struct LineWriter {
    buf: Vec<u8>,
}

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let line = std::mem::take(&mut self.buf);
        let sent = match SINK.get() {
            Some(tx) => match tx.try_send(Msg::Line(line)) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => false,
            },
            None => false,
        };
        if !sent {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for SinkWriter {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            buf: Vec::with_capacity(256),
        }
    }
}

/// Log output format, from `SUTRA_LOG_FORMAT` (`text`, the default, or `json`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Human-readable lines.
    Text,
    /// One JSON object a line, with the current span's fields (the request id).
    Json,
}

impl Format {
    /// Reads `SUTRA_LOG_FORMAT`; anything but `text` or `json` is an error naming both.
    pub fn from_env() -> Result<Format, String> {
        match std::env::var("SUTRA_LOG_FORMAT").as_deref() {
            Err(_) | Ok("") | Ok("text") => Ok(Format::Text),
            Ok("json") => Ok(Format::Json),
            Ok(other) => Err(format!(
                "SUTRA_LOG_FORMAT={other:?}: use \"text\" (the default) or \"json\""
            )),
        }
    }
}

/// Reads `SUTRA_LOG_QUEUE`: how many lines may wait for stderr (1 to 1,000,000).
fn queue_from_env() -> Result<usize, String> {
    match std::env::var("SUTRA_LOG_QUEUE").as_deref() {
        Err(_) | Ok("") => Ok(QUEUE_LINES),
        Ok(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1_000_000).contains(n))
            .ok_or_else(|| {
                format!("SUTRA_LOG_QUEUE={v:?}: give a number of lines from 1 to 1000000")
            }),
    }
}

/// Installs the global subscriber: filter from `SUTRA_LOG` (default `info`), the format
/// from `SUTRA_LOG_FORMAT`, every line through [`stderr_sink`] (its queue bound from
/// `SUTRA_LOG_QUEUE`); and [`RequestIds`], so events know the request they serve.
///
/// The filter is the log lines' own (a per-layer filter), not the whole subscriber's:
/// `request` spans exist whatever `SUTRA_LOG` says, because events read their request
/// id from them.
pub fn init() -> Result<(), String> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    let format = Format::from_env()?;
    let queue = queue_from_env()?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("SUTRA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let lines = tracing_subscriber::fmt::layer()
        .with_writer(stderr_sink(queue))
        // The sink never returns an error, so the layer's own error report (an
        // `eprintln!` that panics on a failing stderr) can never run; off all the same.
        .log_internal_errors(false);
    let lines = match format {
        Format::Text => lines
            // Colour only on a terminal: log files and collectors get plain text.
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_filter(filter)
            .boxed(),
        Format::Json => lines
            .json()
            // The innermost span and the whole chain: a request's id is on its
            // `request` span, whatever spans an actor opens inside it.
            .with_current_span(true)
            .with_span_list(true)
            .with_filter(filter)
            .boxed(),
    };
    // Decided once per call site (the filter reads only metadata), and no finer than
    // `info`, so it never makes a `debug!` that the log lines filter out cost more.
    let ids = RequestIds.with_filter(
        tracing_subscriber::filter::filter_fn(|m| m.is_span() && m.name() == REQUEST_SPAN)
            .with_max_level_hint(tracing::Level::INFO),
    );
    tracing_subscriber::registry()
        .with(lines)
        .with(ids)
        .try_init()
        .map_err(|e| format!("cannot install the logger: {e}"))
}

/// The name of the span that carries a request id (opened by the HTTP edge for each
/// request, and by the gateway for a call that serves one on another node).
pub const REQUEST_SPAN: &str = "request";

/// A `request` span's id, kept in the span's extensions by [`RequestIds`].
struct RequestId(String);

/// Keeps the `request_id` field of every `request` span where
/// [`current_request_id`] finds it.
pub struct RequestIds;

impl<S> tracing_subscriber::Layer<S> for RequestIds
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        struct Visit(Option<String>);
        impl tracing::field::Visit for Visit {
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                if field.name() == "request_id" {
                    self.0 = Some(value.to_string());
                }
            }
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "request_id" {
                    self.0 = Some(format!("{value:?}"));
                }
            }
        }
        let mut visit = Visit(None);
        attrs.record(&mut visit);
        if let (Some(request_id), Some(span)) = (visit.0, ctx.span(id)) {
            span.extensions_mut().insert(RequestId(request_id));
        }
    }
}

/// The id of the request the current code serves: the innermost `request` span's (the
/// HTTP edge's, carried into actors by ractor's span propagation and across nodes by
/// the wire envelope). `None` outside any request, or without [`init`]'s subscriber.
pub fn current_request_id() -> Option<String> {
    use tracing_subscriber::registry::LookupSpan;
    let current = tracing::Span::current();
    let id = current.id()?;
    tracing::dispatcher::get_default(|d| {
        let registry = d.downcast_ref::<tracing_subscriber::Registry>()?;
        let span = registry.span(&id)?;
        span.scope()
            .find_map(|s| s.extensions().get::<RequestId>().map(|r| r.0.clone()))
    })
}

/// Spawns an actor's task in the span it was started from (the request's, when a
/// request sent the message), so the task's log lines carry the request id; tokio tasks
/// do not inherit spans on their own.
pub fn spawn_in_span<F>(tasks: &mut tokio::task::JoinSet<()>, task: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    use tracing::Instrument;
    tasks.spawn(task.in_current_span());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that fails like a full disk.
    struct Full;
    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from_raw_os_error(28))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::Error::from_raw_os_error(28))
        }
    }

    #[test]
    fn the_request_id_is_found_from_inside_nested_spans() {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(RequestIds);
        tracing::subscriber::with_default(subscriber, || {
            assert_eq!(current_request_id(), None);
            let request = tracing::info_span!("request", request_id = %"client-7");
            let _in = request.enter();
            let inner = tracing::info_span!("fold", shard = 2);
            let _inner = inner.enter();
            assert_eq!(current_request_id().as_deref(), Some("client-7"));
        });
    }

    #[test]
    fn failing_writes_are_counted_not_raised() {
        let (tx, rx) = mpsc::sync_channel(4);
        for i in 0..3 {
            tx.send(Msg::Line(format!("line {i}\n").into_bytes()))
                .unwrap();
        }
        drop(tx);
        let before = dropped_lines();
        drain(rx, Box::new(Full));
        // Other tests in this binary may drop lines too, never fewer.
        assert!(dropped_lines() >= before + 3);
    }
}

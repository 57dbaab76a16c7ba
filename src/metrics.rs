//! Prometheus metrics (SPEC §8): what `GET /metrics` serves.
//!
//! Two kinds of figures:
//! - recorded where they happen through the `metrics` facade: HTTP requests (by method,
//!   matched route and status, with a latency histogram), learned statements, fold
//!   times, embedder batch sizes;
//! - read at scrape time from what `GET /v1/stats` gathers (shard, log, checkpoint,
//!   coordinator, query and embedder counters, restarts per actor, log lines dropped) and
//!   set as absolute values just before rendering, so there is one source of truth.
//!
//! Why `metrics` + `metrics-exporter-prometheus` (default features off) rather than
//! `prometheus-client`: the latter writes OpenMetrics only, whose counters (`# TYPE x
//! counter` followed by `x_total` samples) Debian's `promtool check metrics` (2.42)
//! reports as "no help text" on every counter; the exporter writes the classic text
//! format (0.0.4) that every Prometheus version and promtool read as is.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The content type of `GET /metrics`.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// HTTP latency buckets, seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Embedder batch-size buckets, texts.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
/// When each shard's snapshot was last brought up to date by its reconciler.
static LAST_FOLD: Mutex<Option<HashMap<u32, Instant>>> = Mutex::new(None);

/// The process's Prometheus recorder, installed on first use. `None` when another
/// recorder was installed first (then `/metrics` says so with a 503).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("sutra_http_request_duration_seconds".into()),
                    LATENCY_BUCKETS,
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("sutra_fold_duration_seconds".into()),
                        LATENCY_BUCKETS,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("sutra_embedder_batch_size".into()),
                        BATCH_BUCKETS,
                    )
                })
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    use metrics::{describe_counter, describe_histogram, Unit};
    describe_counter!(
        "sutra_http_requests_total",
        "HTTP requests answered, by method, matched route and status."
    );
    describe_histogram!(
        "sutra_http_request_duration_seconds",
        Unit::Seconds,
        "Time from request to response headers, by method, matched route and status."
    );
    describe_counter!(
        "sutra_admission_refused_total",
        "Requests refused at once with 503 because the node was full, by the bound that was reached (requests, statements)."
    );
    describe_counter!(
        "sutra_events_emitted_total",
        "Self-monitoring events put in the node's event buffer."
    );
    describe_counter!(
        "sutra_events_dropped_total",
        "Self-monitoring events dropped because the event buffer was full (the emitter never waits)."
    );
    describe_counter!(
        "sutra_events_stored_total",
        "Self-monitoring events stored in the events knowledge base."
    );
    describe_counter!(
        "sutra_events_lost_total",
        "Self-monitoring events lost because storing them kept failing."
    );
    describe_counter!(
        "sutra_learned_statements_total",
        "Statements acknowledged by POST /v1/learn and /v1/learn/batch."
    );
    describe_histogram!(
        "sutra_fold_duration_seconds",
        Unit::Seconds,
        "Time a reconciler took to fold a shard's write log into a new snapshot (folds that moved it)."
    );
    describe_counter!(
        "sutra_fold_records_total",
        "Log records folded into published snapshots, by shard."
    );
    describe_histogram!(
        "sutra_embedder_batch_size",
        "Texts per batch run by an embedder replica."
    );
}

/// Counts one answered HTTP request.
pub fn http_request(method: &'static str, route: String, status: u16, took: Duration) {
    let labels = [
        ("method", method.to_string()),
        ("route", route),
        ("status", status.to_string()),
    ];
    metrics::counter!("sutra_http_requests_total", &labels).increment(1);
    metrics::histogram!("sutra_http_request_duration_seconds", &labels).record(took.as_secs_f64());
}

/// Counts a request refused by admission control because `bound` was reached.
pub fn refused(bound: &'static str) {
    metrics::counter!("sutra_admission_refused_total", "bound" => bound).increment(1);
}

/// Counts acknowledged learned statements.
pub fn learned(statements: usize) {
    metrics::counter!("sutra_learned_statements_total").increment(statements as u64);
}

/// A reconciler tick: the shard's snapshot now holds every durable record as of `at`.
pub fn folded(shard: u32, records: usize, took: Duration) {
    LAST_FOLD
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(shard, Instant::now());
    if records > 0 {
        let shard = shard.to_string();
        metrics::histogram!("sutra_fold_duration_seconds", "shard" => shard.clone())
            .record(took.as_secs_f64());
        metrics::counter!("sutra_fold_records_total", "shard" => shard).increment(records as u64);
    }
}

/// Seconds since the shard's snapshot was last brought up to date (`None` before its
/// reconciler's first tick).
pub fn snapshot_age(shard: u32) -> Option<f64> {
    LAST_FOLD
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()?
        .get(&shard)
        .map(|t| t.elapsed().as_secs_f64())
}

/// Records the size of one embedder batch.
pub fn embed_batch(texts: usize) {
    metrics::histogram!("sutra_embedder_batch_size").record(texts as f64);
}

/// Sets a gauge read at scrape time.
pub fn gauge(name: &'static str, labels: &[(&'static str, String)], value: f64) {
    metrics::gauge!(name, labels).set(value);
}

/// Sets a counter read at scrape time (a running total kept elsewhere).
pub fn total(name: &'static str, labels: &[(&'static str, String)], value: u64) {
    metrics::counter!(name, labels).absolute(value);
}

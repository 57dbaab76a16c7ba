//! Observability of the HTTP API: one span and one request id per request, request
//! metrics, and `GET /metrics`.
//!
//! The request id is chosen once, here: the client's `x-request-id` when it is a valid
//! one, else a new `{node}-{start_ms:x}-{n}`. It is written back into the request's
//! header (so the learn handlers store that same id as the teacher of what they learn),
//! put on the `request` span every line logged for the request carries, and returned as
//! the response's `x-request-id`. ractor's `message_span_propogation` feature carries the
//! span into every local actor a message reaches (learner, coordinator, shards, query
//! session), so their log lines carry the id too.

use super::{ApiError, Shared};
use crate::protocol::SutraError;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Instant;
use tracing::Instrument;

/// The request-id header, read and returned.
pub const REQUEST_ID: &str = "x-request-id";

/// Longest client-supplied request id kept.
pub const MAX_REQUEST_ID: usize = 128;

/// Whether a client's request id is kept: 1 to 128 characters from `A-Z a-z 0-9 . _ : -`
/// (it is stored as provenance and named in `DELETE /v1/requests/{request_id}`).
pub fn valid_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// The middleware around every route.
pub async fn observe(State(state): State<Shared>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let supplied = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| valid_request_id(v))
        .map(str::to_string);
    let id = supplied.unwrap_or_else(|| state.new_request_id());
    // Valid by construction (checked above, or made of the node name, hex and digits).
    let value = HeaderValue::from_str(&id).ok();
    match &value {
        Some(v) => {
            req.headers_mut().insert(REQUEST_ID, v.clone());
        }
        None => {
            req.headers_mut().remove(REQUEST_ID);
        }
    }
    // Bounded label values: the route pattern, never the raw path.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = method_label(req.method());
    let span = tracing::info_span!("request", request_id = %id, method, route = %route);
    let mut resp = next.run(req).instrument(span.clone()).await;
    let took = started.elapsed();
    let status = resp.status().as_u16();
    span.in_scope(|| tracing::debug!(status, ms = took.as_secs_f64() * 1000.0, "request answered"));
    crate::metrics::http_request(method, route, status, took);
    if let Some(v) = value {
        resp.headers_mut().insert(REQUEST_ID, v);
    }
    resp
}

/// Scrape-time figures: name, help, whether it is a running total (else a gauge).
const SCRAPED: &[(&str, &str, bool)] = &[
    ("sutra_up_seconds", "Seconds since the node started.", false),
    (
        "sutra_shard_up",
        "1 while the shard answers, 0 while it is unavailable (restarting).",
        false,
    ),
    (
        "sutra_shard_read_only",
        "1 while the shard's disk refuses writes (reads go on).",
        false,
    ),
    (
        "sutra_shard_concepts",
        "Concepts in the shard's published snapshot.",
        false,
    ),
    (
        "sutra_shard_associations",
        "Association copies leaving concepts of the shard.",
        false,
    ),
    (
        "sutra_shard_vectors",
        "Vectors in the shard's index.",
        false,
    ),
    (
        "sutra_shard_vector_index_bytes",
        "Memory held by the shard's vector index.",
        false,
    ),
    (
        "sutra_shard_unfolded_records",
        "Durable log records not yet folded into the snapshot.",
        false,
    ),
    (
        "sutra_shard_in_doubt_transactions",
        "Transactions prepared on the shard and not yet decided.",
        false,
    ),
    (
        "sutra_shard_snapshot_age_seconds",
        "Seconds since the shard's reconciler last brought its snapshot up to date.",
        false,
    ),
    (
        "sutra_shard_durable_lsn",
        "Last durable log position of the shard.",
        false,
    ),
    (
        "sutra_shard_checkpoint_lsn",
        "Log position covered by the shard's last checkpoint.",
        false,
    ),
    (
        "sutra_shard_recovery_seconds",
        "How long opening the shard took (checkpoint load and log replay).",
        false,
    ),
    (
        "sutra_shard_log_records_total",
        "Log records written by the shard since it opened.",
        true,
    ),
    (
        "sutra_shard_log_flushes_total",
        "Log syncs (fdatasync) by the shard since it opened.",
        true,
    ),
    (
        "sutra_shard_log_bytes_total",
        "Bytes appended to the shard's log since it opened.",
        true,
    ),
    (
        "sutra_shard_folds_total",
        "Snapshots published by the shard since it opened.",
        true,
    ),
    (
        "sutra_shard_checkpoints_total",
        "Checkpoints written by the shard since it opened.",
        true,
    ),
    (
        "sutra_transactions_committed_total",
        "Transactions committed by the coordinator since it started.",
        true,
    ),
    (
        "sutra_transactions_aborted_total",
        "Transactions aborted by the coordinator since it started.",
        true,
    ),
    (
        "sutra_transactions_active",
        "Transactions in flight.",
        false,
    ),
    (
        "sutra_transactions_undelivered",
        "Committed transactions whose commit has not reached every participant.",
        false,
    ),
    (
        "sutra_queries_completed_total",
        "Questions answered by query sessions.",
        true,
    ),
    (
        "sutra_queries_failed_total",
        "Query sessions that crashed (each failed only its own request).",
        true,
    ),
    (
        "sutra_queries_running",
        "Query sessions running now.",
        false,
    ),
    (
        "sutra_embedder_up",
        "1 when the embedder pool answers, 0 otherwise (absent when the node runs no embedders).",
        false,
    ),
    (
        "sutra_embedder_replicas_healthy",
        "Embedder replicas serving.",
        false,
    ),
    (
        "sutra_embedder_queue_depth",
        "Texts waiting for an embedder replica.",
        false,
    ),
    (
        "sutra_embedder_queue_limit",
        "Embedder queue limit (beyond it: 503).",
        false,
    ),
    (
        "sutra_embedder_batches_total",
        "Batches run by the embedder pool.",
        true,
    ),
    (
        "sutra_embedder_max_batch_size",
        "Largest embedder batch so far.",
        false,
    ),
    (
        "sutra_embedder_cache_hits_total",
        "Embedding cache hits.",
        true,
    ),
    (
        "sutra_embedder_cache_misses_total",
        "Embedding cache misses.",
        true,
    ),
    (
        "sutra_actor_restarts_total",
        "Restarts of each actor by its supervisor.",
        true,
    ),
    (
        "sutra_log_lines_written_total",
        "Log lines written to stderr.",
        true,
    ),
    (
        "sutra_log_lines_dropped_total",
        "Log lines dropped because stderr failed, was closed or could not keep up.",
        true,
    ),
];

/// Gathers the scrape-time figures (the same calls as `GET /v1/stats`).
async fn gather(state: &Shared) {
    use crate::metrics::{gauge, total};
    use crate::protocol::{ShardReply, ShardRequest};
    let one = |k: &'static str, v: String| [(k, v)];
    gauge(
        "sutra_up_seconds",
        &[],
        state.started.elapsed().as_secs_f64(),
    );
    for s in 0..state.router.shards {
        let l = one("shard", s.to_string());
        if let Some(age) = crate::metrics::snapshot_age(s) {
            gauge("sutra_shard_snapshot_age_seconds", &l, age);
        }
        let Ok(ShardReply::Stats(st)) = state.router.call(s, ShardRequest::Stats).await else {
            gauge("sutra_shard_up", &l, 0.0);
            continue;
        };
        gauge("sutra_shard_up", &l, 1.0);
        let ro = if st.read_only.is_some() { 1.0 } else { 0.0 };
        gauge("sutra_shard_read_only", &l, ro);
        for (name, v) in [
            ("sutra_shard_concepts", st.concepts),
            ("sutra_shard_associations", st.associations),
            ("sutra_shard_vectors", st.vectors),
            ("sutra_shard_vector_index_bytes", st.vector_index_bytes),
            ("sutra_shard_unfolded_records", st.unfolded_records),
            ("sutra_shard_in_doubt_transactions", st.in_doubt),
            ("sutra_shard_durable_lsn", st.durable_lsn),
            ("sutra_shard_checkpoint_lsn", st.checkpoint_lsn),
        ] {
            gauge(name, &l, v as f64);
        }
        gauge(
            "sutra_shard_recovery_seconds",
            &l,
            st.recovery_ms as f64 / 1000.0,
        );
        for (name, v) in [
            ("sutra_shard_log_records_total", st.log_records),
            ("sutra_shard_log_flushes_total", st.log_flushes),
            ("sutra_shard_log_bytes_total", st.log_bytes),
            ("sutra_shard_folds_total", st.folds),
            ("sutra_shard_checkpoints_total", st.checkpoints),
        ] {
            total(name, &l, v);
        }
    }
    if let Ok(c) = super::coordinator_stats(state).await {
        total("sutra_transactions_committed_total", &[], c.committed);
        total("sutra_transactions_aborted_total", &[], c.aborted);
        gauge("sutra_transactions_active", &[], c.active as f64);
        gauge("sutra_transactions_undelivered", &[], c.undelivered as f64);
    }
    if let Ok(q) = super::query_stats(state).await {
        total("sutra_queries_completed_total", &[], q.completed);
        total("sutra_queries_failed_total", &[], q.failed);
        gauge("sutra_queries_running", &[], q.running as f64);
    }
    if state.embedders > 0 {
        match crate::actors::embedder::stats().await {
            Some(e) => {
                gauge("sutra_embedder_up", &[], 1.0);
                let healthy = e
                    .replicas
                    .iter()
                    .filter(|r| matches!(r.state, crate::actors::embedder::ReplicaHealth::Healthy))
                    .count();
                gauge("sutra_embedder_replicas_healthy", &[], healthy as f64);
                gauge("sutra_embedder_queue_depth", &[], e.queue_depth as f64);
                gauge("sutra_embedder_queue_limit", &[], e.queue_limit as f64);
                gauge(
                    "sutra_embedder_max_batch_size",
                    &[],
                    e.max_batch_size as f64,
                );
                total("sutra_embedder_batches_total", &[], e.batches);
                total("sutra_embedder_cache_hits_total", &[], e.cache_hits);
                total("sutra_embedder_cache_misses_total", &[], e.cache_misses);
            }
            None => gauge("sutra_embedder_up", &[], 0.0),
        }
    }
    for (actor, n) in crate::actors::supervisor::restart_counts() {
        total("sutra_actor_restarts_total", &one("actor", actor), n);
    }
    total(
        "sutra_log_lines_written_total",
        &[],
        crate::logging::written_lines(),
    );
    total(
        "sutra_log_lines_dropped_total",
        &[],
        crate::logging::dropped_lines(),
    );
}

/// Serialises scrapes: two at once would interleave their absolute values.
static SCRAPE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `GET /metrics`: Prometheus text format (0.0.4).
#[utoipa::path(get, path = "/metrics", tag = "operate",
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain; version=0.0.4; charset=utf-8", body = String), super::openapi::Errors))]
pub async fn metrics(State(state): State<Shared>) -> Response {
    let Some(handle) = crate::metrics::handle() else {
        return ApiError(SutraError::unavailable(
            "another metrics recorder is installed in this process; /metrics cannot serve",
        ))
        .into_response();
    };
    let _one = SCRAPE.lock().await;
    static DESCRIBED: std::sync::Once = std::sync::Once::new();
    DESCRIBED.call_once(|| {
        for &(name, help, _) in SCRAPED {
            if name.ends_with("_total") {
                ::metrics::describe_counter!(name, help);
            } else {
                ::metrics::describe_gauge!(name, help);
            }
        }
    });
    gather(&state).await;
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        handle.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_checked() {
        assert!(valid_request_id("node-1-19a3f0c2b11-0"));
        assert!(valid_request_id("a.b_c:d-E9"));
        assert!(!valid_request_id(""));
        assert!(!valid_request_id("has space"));
        assert!(!valid_request_id("slash/inside"));
        assert!(!valid_request_id("é"));
        assert!(!valid_request_id(&"x".repeat(MAX_REQUEST_ID + 1)));
        assert!(valid_request_id(&"x".repeat(MAX_REQUEST_ID)));
    }

    #[test]
    fn every_scraped_figure_is_named_for_its_kind() {
        for &(name, help, is_total) in SCRAPED {
            assert!(name.starts_with("sutra_"), "{name}");
            assert_eq!(name.ends_with("_total"), is_total, "{name}");
            assert!(!help.is_empty(), "{name}");
        }
    }
}

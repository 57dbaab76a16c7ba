//! `POST /v1/reason` (JSON, or Server-Sent Events with `Accept: text/event-stream`) and
//! the raw path API `POST /v1/path`.

use super::kb::Kb;
use super::{parse_body, ApiError, ApiResult, Shared};
use crate::graph::ConceptId;
use crate::protocol::{Progress, QueriesMsg, ReasonRequest, SutraError};
use crate::reason::remote::{Reader, Want};
use crate::reason::{paths_between, Answer, MAX_DEPTH_LIMIT};
use crate::router::QUERIES;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ractor::rpc::CallResult;
use ractor::ActorRef;
use serde::Deserialize;
use serde_json::{json, Value};
use std::convert::Infallible;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ReasonIn {
    #[schema(pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$")]
    query: String,
    #[schema(minimum = 1, maximum = 20)]
    #[serde(default, deserialize_with = "super::int::opt")]
    num_paths: Option<u64>,
    #[schema(minimum = 1, maximum = 256)]
    #[serde(default, deserialize_with = "super::int::opt")]
    max_depth: Option<u64>,
    /// Absence of proof answers `no` instead of `unknown` (closed world; default false).
    #[serde(default)]
    closed_world: bool,
}

fn bounded(name: &str, v: Option<u64>, default: usize, max: usize) -> Result<usize, SutraError> {
    let v = v.unwrap_or(default as u64);
    if v == 0 || v > max as u64 {
        return Err(SutraError::bad(
            "invalid_option",
            format!("{name} must be from 1 to {max} (got {v})"),
        ));
    }
    Ok(v as usize)
}

async fn ask(state: &Shared, request: ReasonRequest) -> Result<Answer, SutraError> {
    let Some(queries) = ActorRef::<QueriesMsg>::where_is(QUERIES) else {
        return Err(SutraError::unavailable(
            "the query supervisor is restarting; retry shortly",
        ));
    };
    match queries
        .call(|tx| QueriesMsg::Ask(request, tx), Some(state.timeout()))
        .await
    {
        Ok(CallResult::Success(r)) => r,
        Ok(CallResult::Timeout) => Err(SutraError::unavailable(format!(
            "the question was not answered within limits.request_timeout_ms ({} ms); retry, or lower max_depth",
            state.limits.request_timeout_ms
        ))),
        Ok(CallResult::SenderError) | Err(_) => Err(SutraError::Internal(
            "the query session crashed while reasoning (counted in /v1/stats as queries.failed); the node is unaffected: retry, and report the question if it keeps failing".into(),
        )),
    }
}

/// `POST /v1/reason {"query", "num_paths"?, "max_depth"?, "closed_world"?}`.
///
/// Two reasoners answer: the logic layer reads the knowledge base's learned sentences
/// (facts with any relation, rules with variables and negation, facts that change over
/// time, induction) and, when it decides the question (`yes`, `no`, an answer, or a
/// conflict it reports), its answer is the reply, with a `proof`: `{"steps":
/// [{"conclusion", "used" (fact | rule | property | timeline | analogy | closed_world),
/// "rule"? (the rule's sentence), "inference" (deduction | induction), "premises" (indexes
/// of earlier steps), "sources" (the sentence occurrences the step rests on: kind, id,
/// text, learned_at, source, request_id)}], "proofs"? (every proof when there are several:
/// a conflict's two sides), "conflict", "budget_exhausted"}`. Otherwise the path reasoner
/// answers over the graph's associations (`paths`, `alternatives`), as it does for every
/// question the logic layer does not read. Open world: `no` needs negative evidence unless
/// `closed_world` is true.
#[utoipa::path(post, path = "/v1/reason", tag = "ask", request_body = ReasonIn, params(super::kb::KbParam),
    responses((status = 200, description = "The answer with its paths, sources, proof and alternatives (or, with Accept: text/event-stream, progress events ending with it)", content((Object = "application/json"), (String = "text/event-stream"))), super::openapi::Errors))]
pub async fn reason(
    State(state): State<Shared>,
    Kb(kb): Kb,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let req: ReasonIn = parse_body(body)?;
    if req.query.trim().is_empty() {
        return Err(SutraError::bad("invalid_query", "query is empty; send a question").into());
    }
    if req.query.len() > state.limits.max_content_bytes {
        return Err(SutraError::bad(
            "invalid_query",
            format!(
                "query is longer than limits.max_content_bytes ({})",
                state.limits.max_content_bytes
            ),
        )
        .into());
    }
    let num_paths = bounded("num_paths", req.num_paths, state.reasoning.num_paths, 20)?;
    let max_depth = bounded(
        "max_depth",
        req.max_depth,
        state.reasoning.max_depth,
        MAX_DEPTH_LIMIT,
    )?;
    let streaming = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    if !streaming {
        let answer = ask(
            &state,
            ReasonRequest {
                question: req.query,
                kb,
                num_paths,
                max_depth,
                closed_world: req.closed_world,
                progress: None,
            },
        )
        .await?;
        return Ok(Json(answer).into_response());
    }
    // Streaming: progress events, then one `result` (or `error`) event with the answer.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Progress>();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let request = ReasonRequest {
        question: req.query,
        kb,
        num_paths,
        max_depth,
        closed_world: req.closed_world,
        progress: Some(tx),
    };
    let st = state.clone();
    tokio::spawn(async move {
        let _ = done_tx.send(ask(&st, request).await);
    });
    let stream = async_stream(move |emit| async move {
        while let Some(p) = rx.recv().await {
            emit(
                Event::default()
                    .event("progress")
                    .json_data(&p)
                    .unwrap_or_default(),
            );
        }
        let last = match done_rx.await {
            Ok(Ok(answer)) => Event::default().event("result").json_data(&answer),
            Ok(Err(e)) => Event::default()
                .event("error")
                .json_data(json!({"error": {"code": "query_failed", "message": e.to_string()}})),
            Err(_) => Event::default().event("error").json_data(
                json!({"error": {"code": "query_failed", "message": "the query was dropped"}}),
            ),
        };
        emit(last.unwrap_or_default());
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// A stream fed by an async producer through a channel.
fn async_stream<F, Fut>(produce: F) -> impl futures::Stream<Item = Result<Event, Infallible>>
where
    F: FnOnce(Box<dyn Fn(Event) + Send>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
    tokio::spawn(produce(Box::new(move |e| {
        let _ = tx.send(e);
    })));
    futures::stream::unfold(
        rx,
        |mut rx| async move { rx.recv().await.map(|e| (Ok(e), rx)) },
    )
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PathIn {
    #[schema(pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$")]
    from: String,
    #[schema(pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$")]
    to: String,
    #[schema(minimum = 1, maximum = 256)]
    #[serde(default, deserialize_with = "super::int::opt")]
    max_depth: Option<u64>,
    #[schema(minimum = 1, maximum = 20)]
    #[serde(default, deserialize_with = "super::int::opt")]
    num_paths: Option<u64>,
}

/// `POST /v1/path {"from", "to", "max_depth"?, "num_paths"?}`: paths between two
/// concepts (names or ids) over any associations.
#[utoipa::path(post, path = "/v1/path", tag = "ask", request_body = PathIn, params(super::kb::KbParam),
    responses((status = 200, description = "Paths between the two concepts", body = Object), super::openapi::Errors))]
pub async fn path(
    State(state): State<Shared>,
    Kb(kb): Kb,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let req: PathIn = parse_body(body)?;
    for (field, v) in [("from", &req.from), ("to", &req.to)] {
        if v.trim().is_empty() || v.len() > state.limits.max_content_bytes {
            return Err(SutraError::bad(
                "invalid_name",
                format!("{field} must name a concept (a name or an id)"),
            )
            .into());
        }
    }
    let config = crate::reason::ReasonConfig {
        max_depth: bounded(
            "max_depth",
            req.max_depth,
            state.reasoning.max_depth,
            MAX_DEPTH_LIMIT,
        )?,
        num_paths: bounded("num_paths", req.num_paths, state.reasoning.num_paths, 20)?,
        ..state.reasoning.clone()
    };
    let names = [req.from.clone(), req.to.clone()];
    let want = Want {
        names: &names,
        sentences: None,
        fresh: false,
        cache: None,
    };
    // Local shards are read in place; those on other nodes by message, as far as the
    // search can reach from the two ends.
    let mut reader = Reader::open(&state.router, &kb, want).await?;
    if !reader.all_local() {
        let view = reader.view();
        let seeds: Vec<ConceptId> = names
            .iter()
            .flat_map(|n| [n.parse().ok(), view.exact(n), view.by_stems(n)])
            .flatten()
            .collect();
        let deadline = std::time::Instant::now() + state.timeout();
        reader
            .expand(&seeds, None, config.max_depth, Some(deadline))
            .await;
    }
    let view = reader.view();
    let found =
        tokio::task::spawn_blocking(move || paths_between(&view, &config, &req.from, &req.to))
            .await
            .map_err(|e| SutraError::Internal(format!("path search failed: {e}")))?;
    // Nothing found while a shard could not be read: the paths may run through it.
    let mut paths = match (found, reader.unavailable_error()) {
        (Ok(p), Some(e)) if p.is_empty() => return Err(e.into()),
        (Err(_), Some(e)) => return Err(e.into()),
        (Ok(p), _) => p,
        (Err(e), None) => return Err(ApiError(SutraError::NotFound(e))),
    };
    reader.fill_evidence(paths.iter_mut()).await;
    Ok(Json(json!({ "paths": paths })))
}

//! `POST /v1/search`: embeds the query through the embedder pool, asks every shard for
//! its nearest vectors in parallel, and merges the answers by similarity.

use super::{parse_body, ApiResult, Shared};
use crate::config::LimitsConfig;
use crate::graph::ConceptKind;
use crate::protocol::{SearchHit, ShardReply, ShardRequest, SutraError};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::Json;
use futures::future::join_all;
use serde::Deserialize;

/// Largest `k` a search may ask for.
pub const MAX_K: u64 = 1000;
/// `k` when the request does not say.
pub const DEFAULT_K: u64 = 10;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SearchIn {
    #[schema(pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$")]
    query: String,
    #[schema(minimum = 1, maximum = 1000)]
    #[serde(default, deserialize_with = "super::int::opt")]
    k: Option<i64>,
    #[schema(schema_with = super::openapi::search_kinds)]
    kind: Option<String>,
}

/// Checks a search request; returns (query, k, kind filter).
fn validate(
    req: SearchIn,
    limits: &LimitsConfig,
) -> Result<(String, usize, Option<ConceptKind>), SutraError> {
    super::validate_content(limits, "query", &req.query)?;
    let k = req.k.unwrap_or(DEFAULT_K as i64);
    if !(1..=MAX_K as i64).contains(&k) {
        return Err(SutraError::bad(
            "invalid_k",
            format!("k must be an integer from 1 to {MAX_K} (got {k})"),
        ));
    }
    let kind = match req.kind.as_deref() {
        None | Some("any") => None,
        Some("sentence") => Some(ConceptKind::Sentence),
        Some("entity") => Some(ConceptKind::Entity),
        Some(other) => {
            return Err(SutraError::bad(
                "invalid_kind",
                format!("kind must be \"sentence\", \"entity\" or \"any\" (got \"{other}\")"),
            ))
        }
    };
    Ok((req.query, k as usize, kind))
}

/// `POST /v1/search {"query", "k"?, "kind"?}` -> `{"results": [{"concept_id", "content",
/// "kind", "similarity"}]}`, most similar first.
#[utoipa::path(post, path = "/v1/search", tag = "ask", request_body = SearchIn, params(super::kb::KbParam),
    responses((status = 200, description = "Nearest concepts of the knowledge base, best first", body = super::openapi::SearchOut), super::openapi::Errors))]
pub async fn search(
    State(state): State<Shared>,
    super::kb::Kb(kb): super::kb::Kb,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<super::openapi::SearchOut>> {
    let req: SearchIn = parse_body(body)?;
    let (query, k, kind) = validate(req, &state.limits)?;
    if state.embedders == 0 {
        return Err(SutraError::bad(
            "search_unavailable",
            "this node runs no embedder replicas (embedder_replicas = 0 or --embedders 0), so it cannot embed a query; start it with embedders",
        )
        .into());
    }
    let vector = crate::actors::embedder::embed(vec![query], state.timeout())
        .await?
        .pop()
        .ok_or_else(|| SutraError::Internal("the embedder returned no vector".into()))?;
    let calls = (0..state.router.shards).map(|s| {
        state.router.call(
            s,
            ShardRequest::Search {
                vector: vector.to_vec(),
                k,
                kind,
                kb: kb.clone(),
            },
        )
    });
    let mut hits: Vec<SearchHit> = Vec::new();
    for reply in join_all(calls).await {
        match reply? {
            ShardReply::Hits(h) => hits.extend(h),
            ShardReply::Failed(e) => return Err(e.into()),
            other => {
                return Err(
                    SutraError::Internal(format!("unexpected shard reply {other:?}")).into(),
                )
            }
        }
    }
    hits.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
    hits.truncate(k);
    let results = hits
        .into_iter()
        .map(|h| super::openapi::SearchResult {
            concept_id: h.concept_id.to_string(),
            content: h.content,
            kind: h.kind.into(),
            similarity: h.similarity,
        })
        .collect();
    Ok(Json(super::openapi::SearchOut { results }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct EmbedIn {
    #[schema(schema_with = super::openapi::statements)]
    texts: Vec<String>,
}

/// `POST /v1/embed {"texts": [str]}` -> `{"dim", "vectors": [[f32]]}`: the model's unit
/// vectors through the same pool, batching and cache as learning and search.
#[utoipa::path(post, path = "/v1/embed", tag = "ask", request_body = EmbedIn,
    responses((status = 200, description = "One vector per text", body = super::openapi::EmbedOut), super::openapi::Errors))]
pub async fn embed(
    State(state): State<Shared>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<super::openapi::EmbedOut>> {
    let req: EmbedIn = parse_body(body)?;
    if req.texts.is_empty() || req.texts.len() > state.limits.max_batch {
        return Err(SutraError::bad(
            "invalid_texts",
            format!(
                "texts must hold from 1 to {} strings (limits.max_batch); got {}",
                state.limits.max_batch,
                req.texts.len()
            ),
        )
        .into());
    }
    for (i, t) in req.texts.iter().enumerate() {
        super::validate_content(&state.limits, &format!("texts[{i}]"), t)?;
    }
    if state.embedders == 0 {
        return Err(SutraError::bad(
            "embeddings_unavailable",
            "this node runs no embedder replicas (embedder_replicas = 0 or --embedders 0); start it with embedders",
        )
        .into());
    }
    let vectors = crate::actors::embedder::embed(req.texts, state.timeout()).await?;
    Ok(Json(super::openapi::EmbedOut {
        dim: crate::index::DIM,
        vectors: vectors.iter().map(|v| v.to_vec()).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(query: &str, k: Option<i64>, kind: Option<&str>) -> SearchIn {
        SearchIn {
            query: query.into(),
            k,
            kind: kind.map(str::to_string),
        }
    }

    #[test]
    fn requests_are_validated() {
        let limits = LimitsConfig {
            max_content_bytes: 100,
            ..LimitsConfig::default()
        };
        assert_eq!(validate(req("x", None, None), &limits).unwrap().1, 10);
        assert_eq!(
            validate(req("x", Some(3), Some("sentence")), &limits)
                .map(|v| v.2)
                .ok(),
            Some(Some(ConceptKind::Sentence))
        );
        for (r, needle) in [
            (req("x", Some(0), None), "k must"),
            (req("x", Some(-1), None), "k must"),
            (req("x", Some(1001), None), "k must"),
            (req("  ", None, None), "empty"),
            (req("x", None, Some("robot")), "kind must"),
        ] {
            let e = validate(r, &limits).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        }
        assert!(validate(req(&"a".repeat(101), None, None), &limits)
            .unwrap_err()
            .to_string()
            .contains("max_content_bytes"));
    }
}

//! `GET /v1/events`: the node's self-monitoring events (see [`crate::events`]), exactly
//! as stored in the `events` knowledge base, filtered and newest first.

use super::{int, ApiResult, Shared};
use crate::events::{self, EventKind};
use crate::protocol::SutraError;
use crate::reason::remote::{Reader, Want};
use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
/// Filters of `GET /v1/events`.
pub struct EventsQuery {
    /// Only events at or after this: a duration back from now (`10m`, `2h`, `1day`) or
    /// an RFC 3339 time.
    #[param(nullable = false)]
    since: Option<String>,
    /// Only events of these types (comma-separated, e.g. `ActorCrashed,ActorRestarted`).
    #[param(nullable = false)]
    kind: Option<String>,
    /// Only events emitted by this node, or about it.
    #[param(nullable = false)]
    node: Option<String>,
    /// Only events concerning this actor (`shard-2`; a prefix such as `embedder`
    /// matches `embedder-0`, `embedder-1`, ...).
    #[param(nullable = false)]
    actor: Option<String>,
    /// Only events that happened for this client request (its `x-request-id`), on any
    /// node.
    #[param(nullable = false)]
    request_id: Option<String>,
    /// Most events returned, newest first (1 to 10000, default 100).
    #[param(minimum = 1, maximum = 10000, nullable = false)]
    #[serde(default, deserialize_with = "int::query_opt")]
    limit: Option<usize>,
}

/// One event as listed.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EventOut {
    /// The event concept's id in the `events` knowledge base.
    pub concept_id: String,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// What happened, in English.
    pub text: String,
    /// The event itself: `id`, `node`, `at_ms`, `type` and the type's fields.
    #[schema(value_type = Object)]
    pub event: Value,
}

/// `GET /v1/events`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EventsOut {
    /// Matching events, newest first (at most `limit`).
    pub events: Vec<EventOut>,
    /// How many stored events match (before `limit`).
    pub matching: usize,
    /// Every event type.
    pub types: Vec<&'static str>,
}

/// Parses `since`: a duration back from `now_ms` or an RFC 3339 time.
fn parse_since(s: &str, now_ms: u64) -> Result<u64, SutraError> {
    if let Ok(d) = humantime::parse_duration(s) {
        return Ok(now_ms.saturating_sub(d.as_millis() as u64));
    }
    if let Ok(t) = humantime::parse_rfc3339_weak(s) {
        return Ok(t
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0));
    }
    Err(SutraError::bad(
        "invalid_query",
        format!("since must be a duration such as 10m or 2h, or an RFC 3339 time such as 2026-12-07T09:00:00Z (got {s:?})"),
    ))
}

/// The self-monitoring events stored on this node's shards (crashes, restarts,
/// transactions, query times, ...; see the README's list of types), newest first.
#[utoipa::path(get, path = "/v1/events", tag = "operate", params(EventsQuery),
    responses((status = 200, description = "Matching events, newest first", body = EventsOut), super::openapi::Errors))]
pub async fn list(
    State(state): State<Shared>,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<EventsOut>> {
    let q = query
        .map_err(|e| SutraError::bad("invalid_query", e.body_text()))?
        .0;
    let limit = q.limit.unwrap_or(100);
    if !(1..=10_000).contains(&limit) {
        return Err(SutraError::bad("invalid_query", "limit must be between 1 and 10000").into());
    }
    let since = q
        .since
        .as_deref()
        .map(|s| parse_since(s, events::now_ms()))
        .transpose()?;
    let kinds: Option<Vec<String>> = match &q.kind {
        Some(k) => {
            let kinds: Vec<String> = k.split(',').map(|x| x.trim().to_string()).collect();
            if let Some(bad) = kinds
                .iter()
                .find(|k| !EventKind::NAMES.contains(&k.as_str()))
            {
                return Err(SutraError::bad(
                    "invalid_query",
                    format!(
                        "unknown event type {bad:?}; the types are {}",
                        EventKind::NAMES.join(", ")
                    ),
                )
                .into());
            }
            Some(kinds)
        }
        None => None,
    };
    // Every shard's events: local ones read in place, the others' by message. A listing
    // missing a shard's events would look complete: refuse it instead (503 naming the
    // shard and its node).
    let want = Want {
        names: &[],
        sentences: Some(usize::MAX),
        fresh: false,
        cache: None,
    };
    let reader = Reader::open(&state.router, events::EVENTS_KB, want).await?;
    if let Some(e) = reader.unavailable_error() {
        return Err(e.into());
    }
    let view = reader.view();
    let mut hits: Vec<events::stored::StoredEvent> = events::stored::read(&view)
        .into_iter()
        .filter(|s| {
            let e = &s.event;
            since.is_none_or(|t| e.at_ms >= t)
                && kinds
                    .as_ref()
                    .is_none_or(|k| k.iter().any(|k| k == e.kind.name()))
                && q.node
                    .as_ref()
                    .is_none_or(|n| e.node == *n || e.kind.about_node() == Some(n.as_str()))
                && q.request_id
                    .as_ref()
                    .is_none_or(|r| e.request_id.as_ref() == Some(r))
                && q.actor.as_ref().is_none_or(|a| {
                    e.kind
                        .actor()
                        .is_some_and(|x| x == *a || x.starts_with(&format!("{a}-")))
                })
        })
        .collect();
    hits.sort_by(|a, b| (b.event.at_ms, &b.event.id).cmp(&(a.event.at_ms, &a.event.id)));
    let matching = hits.len();
    let events = hits
        .into_iter()
        .take(limit)
        .map(|s| EventOut {
            concept_id: s.id.to_string(),
            at: events::rfc3339(s.event.at_ms),
            text: s.event.sentence(),
            event: serde_json::to_value(&s.event).unwrap_or(Value::Null),
        })
        .collect();
    Ok(Json(EventsOut {
        events,
        matching,
        types: EventKind::NAMES.to_vec(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_durations_and_times() {
        let now = 1_796_637_600_000;
        assert_eq!(parse_since("10m", now).unwrap(), now - 600_000);
        assert_eq!(
            parse_since("2026-12-07T09:00:00Z", now).unwrap(),
            now - 3_600_000
        );
        assert!(parse_since("yesterday-ish", now).is_err());
    }
}

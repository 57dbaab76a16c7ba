//! Operator endpoints: the live actor tree, killing an actor to watch supervision heal
//! it, readiness, and (when enabled) fault injection for chaos tests.

use super::{parse_body, ApiError, ApiResult, Shared};
use crate::actors::supervisor;
use crate::faults::{self, FaultPoint};
use crate::protocol::SutraError;
use crate::router::{reconciler_name, shard_name, COORDINATOR, INGRESS, LEARNER, NODE};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use ractor::{registry, ActorStatus};
use serde_json::{json, Value};
use std::time::Duration;

/// Restart counts by actor name.
pub fn restart_table() -> Value {
    json!(supervisor::restart_counts())
}

/// Names of the actors a ready node must have that are not running now.
pub fn missing_actors(shards: u32, embedders: bool) -> Vec<String> {
    let mut need: Vec<String> = (0..shards)
        .flat_map(|s| [shard_name(s), reconciler_name(s)])
        .collect();
    need.extend([COORDINATOR, LEARNER, INGRESS].map(String::from));
    if embedders {
        need.push(crate::actors::embedder::POOL.to_string());
    }
    need.into_iter()
        .filter(|n| {
            registry::where_is(n.clone()).is_none_or(|c| c.get_status() != ActorStatus::Running)
        })
        .collect()
}

/// `GET /v1/admin/actors`: the live supervision tree, parents before children.
#[utoipa::path(get, path = "/v1/admin/actors", tag = "operate",
    responses((status = 200, description = "The supervision tree, parents first", body = Object), super::openapi::Errors))]
pub async fn actors() -> ApiResult<Json<Value>> {
    let out = crate::actors::tree::snapshot()
        .ok_or_else(|| SutraError::unavailable("the node supervisor is not running"))?;
    Ok(Json(json!({ "actors": out })))
}

/// `POST /v1/admin/actors/{name}/kill`: kills an actor; its supervisor restarts it.
#[utoipa::path(post, path = "/v1/admin/actors/{name}/kill", tag = "operate",
    params(("name" = String, Path, description = "Actor name (GET /v1/admin/actors lists them)")),
    responses((status = 202, description = "Killed; its supervisor restarts it", body = super::openapi::KilledOut), super::openapi::Errors))]
pub async fn kill(
    Path(name): Path<String>,
) -> ApiResult<(StatusCode, Json<super::openapi::KilledOut>)> {
    if name == NODE {
        return Err(SutraError::bad(
            "refused",
            "killing the root supervisor would stop the node; send SIGTERM to stop it",
        )
        .into());
    }
    let cell = registry::where_is(name.clone()).ok_or_else(|| {
        SutraError::NotFound(format!(
            "no running actor is named '{name}'; GET /v1/admin/actors lists them"
        ))
    })?;
    tracing::warn!(actor = %name, "killed by operator request");
    crate::events::emit(crate::events::EventKind::StopRequested {
        actor: name.clone(),
        by: "an operator (kill)".into(),
    });
    if name == INGRESS {
        // Answer first: killing the ingress stops the server handling this request.
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            cell.kill();
        });
    } else {
        cell.kill();
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(super::openapi::KilledOut { killed: name }),
    ))
}

/// `POST /v1/admin/faults`: arms a one-shot fault (only with `--enable-fault-injection`).
pub async fn arm_fault(
    State(_state): State<Shared>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let point: FaultPoint = parse_body(body).map_err(ApiError)?;
    faults::arm(point);
    Ok(Json(json!({ "armed": point })))
}

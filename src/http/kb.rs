//! Knowledge bases over HTTP: the `?kb=NAME` parameter every data endpoint takes
//! ([`Kb`]), `GET /v1/kbs` and `DELETE /v1/kbs/{name}`.
//!
//! Reading a knowledge base nothing was learned into answers as an empty one (a
//! question gets "I don't know ...", a search no results, stats zeros): a knowledge
//! base is created by its first learn, and reading never creates one. A concept of
//! another knowledge base is 404 in this one.

use super::{call_learner, ApiError, ApiResult, Shared};
use crate::graph::kb::{validate, DEFAULT_KB};
use crate::protocol::{KbDropped, KbStats, LearnerMsg, SutraError};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::Uri;
use axum::Json;
use serde::{Deserialize, Serialize};

/// The knowledge base a request names with `?kb=NAME` (`default` when it names none),
/// validated: a bad name is a 400 `invalid_kb` that states the rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kb(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Kb {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        kb_of_uri(&parts.uri).map(Kb).map_err(ApiError)
    }
}

/// The `kb` query parameter of `uri` (see [`Kb`]).
pub fn kb_of_uri(uri: &Uri) -> Result<String, SutraError> {
    let pairs: Vec<(String, String)> = Query::try_from_uri(uri)
        .map_err(|e| SutraError::bad("invalid_query", e.body_text()))?
        .0;
    let mut named = pairs.into_iter().filter(|(k, _)| k == "kb").map(|(_, v)| v);
    let kb = named.next().unwrap_or_else(|| DEFAULT_KB.to_string());
    if named.next().is_some() {
        return Err(SutraError::bad(
            "invalid_kb",
            "kb is given more than once; name one knowledge base (?kb=NAME)",
        ));
    }
    validate(&kb).map_err(|m| SutraError::bad("invalid_kb", m))?;
    Ok(kb)
}

/// The `kb` query parameter, for the OpenAPI document.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Describes the parameter; the value is read by `Kb`.
pub struct KbParam {
    /// The knowledge base (1 to 64 of A-Z a-z 0-9 _ . -); `default` when absent. A
    /// knowledge base is created by its first learn; reading one that holds nothing
    /// answers as an empty one.
    #[param(pattern = r"^[A-Za-z0-9_.\-]{1,64}$", nullable = false)]
    kb: Option<String>,
}

/// `GET /v1/kbs`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct KbsOut {
    /// Every knowledge base that holds something, by name, with its sizes.
    pub kbs: Vec<KbStats>,
}

/// Every knowledge base that holds something, with its sizes (concepts, sentences,
/// associations, vectors), by name.
#[utoipa::path(get, path = "/v1/kbs", tag = "knowledge bases",
    responses((status = 200, description = "The knowledge bases", body = KbsOut), super::openapi::Errors))]
pub async fn list(State(state): State<Shared>) -> ApiResult<Json<KbsOut>> {
    let kbs = crate::actors::learner::list_kbs(&state.router).await?;
    Ok(Json(KbsOut { kbs }))
}

/// Drops a knowledge base durably: its concepts, associations, vectors and index
/// entries on every shard, in one transaction; then its text leaves the disk like any
/// deletion's (log rolled, vector index compacted, checkpoint rewritten).
#[utoipa::path(delete, path = "/v1/kbs/{name}", tag = "knowledge bases",
    params(("name" = String, Path, pattern = r"^[A-Za-z0-9_.\-]{1,64}$", description = "The knowledge base")),
    responses((status = 200, description = "Dropped", body = KbDropped), super::openapi::Errors))]
pub async fn drop(
    State(state): State<Shared>,
    Path(name): Path<String>,
) -> ApiResult<Json<KbDropped>> {
    validate(&name).map_err(|m| SutraError::bad("invalid_kb", m))?;
    let dropped = call_learner(&state, |reply| LearnerMsg::DropKb(name, reply)).await?;
    Ok(Json(dropped))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kb(uri: &str) -> Result<String, SutraError> {
        kb_of_uri(&uri.parse().unwrap())
    }

    #[test]
    fn the_kb_parameter_defaults_and_is_validated() {
        assert_eq!(kb("/v1/stats").unwrap(), "default");
        assert_eq!(kb("/v1/stats?kb=client-42").unwrap(), "client-42");
        assert_eq!(kb("/v1/stats?fresh=true&kb=a.b_c").unwrap(), "a.b_c");
        for bad in [
            "/v1/stats?kb=",
            "/v1/stats?kb=a%20b",
            "/v1/stats?kb=a/b",
            "/v1/stats?kb=a&kb=b",
        ] {
            match kb(bad) {
                Err(SutraError::BadRequest { code, .. }) => assert_eq!(code, "invalid_kb", "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }
}

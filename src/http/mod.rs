//! The HTTP API (SPEC §9): axum routes, request validation and JSON types. Handlers
//! validate everything before any message is sent, so a rejected request changes
//! nothing; every error is `{"error": {"code", "message"}}` with a 4xx (or a 503 with
//! Retry-After when an actor is restarting), never a hang.

pub mod admin;
pub mod admission;
pub mod cluster;
pub mod events;
pub mod kb;
pub mod observe;
pub mod openapi;
pub mod reason;
pub mod search;

use crate::config::LimitsConfig;
use crate::graph::{Association, ConceptId, SourceKey};
use crate::learn::normalize::entity_key;
use crate::protocol::{
    AssociateRequest, ConceptView, CoordinatorMsg, LearnOptions, Learned, LearnerMsg, ShardReply,
    ShardRequest, SutraError,
};
use crate::router::{Router, COORDINATOR, LEARNER};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use kb::{Kb, KbParam};
use ractor::rpc::CallResult;
use ractor::{ActorRef, RpcReplyPort};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What every handler shares.
pub struct AppState {
    /// Reaches shards and the coordinator.
    pub router: Router,
    /// Request limits.
    pub limits: LimitsConfig,
    /// This node's name.
    pub node: String,
    /// Whether `POST /v1/admin/faults` exists.
    pub faults_enabled: bool,
    /// When the node started.
    pub started: Instant,
    /// Reasoning defaults.
    pub reasoning: crate::reason::ReasonConfig,
    /// Embedder replicas on this node (0: no embeddings, no search).
    pub embedders: usize,
    /// Ingress bounds: a full node refuses at once with 503 + Retry-After.
    pub admission: admission::Admission,
    /// The topology and this node's place in it, for `GET /v1/cluster`.
    pub cluster: Option<Arc<cluster::ClusterInfo>>,
    requests: AtomicU64,
    /// Start time in ms, part of generated request ids so they never repeat across
    /// restarts (a request id names what to forget).
    incarnation: u64,
}

impl AppState {
    /// Shared state for the routes.
    pub fn new(
        router: Router,
        limits: LimitsConfig,
        node: String,
        faults_enabled: bool,
        reasoning: crate::reason::ReasonConfig,
        embedders: usize,
    ) -> Self {
        AppState {
            admission: admission::Admission::new(
                limits.max_in_flight,
                limits.max_statements_in_flight,
                std::time::Duration::from_millis(limits.queue_target_ms),
            ),
            router,
            limits,
            node,
            faults_enabled,
            reasoning,
            embedders,
            started: Instant::now(),
            cluster: None,
            requests: AtomicU64::new(0),
            incarnation: crate::graph::now_ms(),
        }
    }

    /// The request's id: the one [`observe::observe`] chose and wrote into the header.
    fn request_id(&self, headers: &HeaderMap) -> String {
        headers
            .get(observe::REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|v| observe::valid_request_id(v))
            .map(str::to_string)
            .unwrap_or_else(|| self.new_request_id())
    }

    /// A request id never used before: `{node}-{start_ms:x}-{n}`.
    fn new_request_id(&self) -> String {
        format!(
            "{}-{:x}-{}",
            self.node,
            self.incarnation,
            self.requests.fetch_add(1, Ordering::Relaxed)
        )
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.limits.request_timeout_ms)
    }
}

/// Integers as JSON Schema counts them: `5` and `5.0` alike (a float with no fraction);
/// text only in query strings; anything else is a clear error.
pub(crate) mod int {
    use serde::de::{self, Deserializer, Visitor};
    use std::fmt;

    /// Whether text is read as a number (query strings hold only text).
    struct Int {
        text: bool,
    }

    fn integral<E: de::Error>(v: f64) -> Result<Option<i128>, E> {
        if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e30 {
            Ok(Some(v as i128))
        } else {
            Err(E::invalid_value(de::Unexpected::Float(v), &"an integer"))
        }
    }

    impl<'de> Visitor<'de> for Int {
        type Value = Option<i128>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an integer")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v.into()))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v.into()))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            integral(v)
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
            if !self.text {
                return Err(E::invalid_type(de::Unexpected::Str(s), &self));
            }
            match s.parse::<i128>() {
                Ok(n) => Ok(Some(n)),
                Err(_) => match s.parse::<f64>() {
                    Ok(v) => integral(v),
                    Err(_) => Err(E::invalid_value(de::Unexpected::Str(s), &"an integer")),
                },
            }
        }
    }

    /// An optional integer of type `T` in a JSON body; out of `T`'s range is an error.
    pub fn opt<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: TryFrom<i128>,
    {
        read(d, Int { text: false })
    }

    /// The same in a query string, where every value is text.
    pub fn query_opt<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: TryFrom<i128>,
    {
        read(d, Int { text: true })
    }

    fn read<'de, D, T>(d: D, int: Int) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: TryFrom<i128>,
    {
        match d.deserialize_option(int)? {
            None => Ok(None),
            Some(n) => T::try_from(n)
                .map(Some)
                .map_err(|_| de::Error::custom(format!("{n} is out of range"))),
        }
    }
}

/// Shared state handle.
pub type Shared = Arc<AppState>;

/// An API error as an HTTP response.
pub struct ApiError(pub SutraError);

impl From<SutraError> for ApiError {
    fn from(e: SutraError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message, retry) = match self.0 {
            SutraError::BadRequest { code, message } => {
                let status = if code == "payload_too_large" {
                    StatusCode::PAYLOAD_TOO_LARGE
                } else {
                    StatusCode::BAD_REQUEST
                };
                (status, code, message, None)
            }
            SutraError::NotFound(m) => (StatusCode::NOT_FOUND, "not_found".into(), m, None),
            SutraError::Unavailable {
                message,
                retry_after_s,
            } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable".into(),
                message,
                Some(retry_after_s),
            ),
            SutraError::InsufficientStorage {
                message,
                retry_after_s,
            } => (
                StatusCode::INSUFFICIENT_STORAGE,
                "insufficient_storage".into(),
                message,
                Some(retry_after_s),
            ),
            SutraError::Internal(m) => {
                tracing::error!(error = %m, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal".into(),
                    m,
                    None,
                )
            }
        };
        let body = Json(openapi::ErrorBody {
            error: openapi::ErrorDetail { code, message },
        });
        match retry {
            Some(s) => (status, [(header::RETRY_AFTER, s.to_string())], body).into_response(),
            None => (status, body).into_response(),
        }
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

/// Parses a JSON body into `T`, mapping every failure to a clear 4xx.
pub(crate) fn parse_body<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, SutraError> {
    let bytes = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            SutraError::bad(
                "payload_too_large",
                "request body is larger than limits.max_body_bytes; split it into smaller requests",
            )
        } else {
            SutraError::bad("invalid_body", format!("cannot read the request body: {e}"))
        }
    })?;
    if bytes.is_empty() {
        return Err(SutraError::bad(
            "invalid_json",
            "the request body is empty; send a JSON object",
        ));
    }
    if std::str::from_utf8(&bytes).is_err() {
        return Err(SutraError::bad(
            "invalid_json",
            "the request body is not valid UTF-8; send UTF-8 encoded JSON",
        ));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| SutraError::bad("invalid_json", format!("invalid request body: {e}")))
}

/// Calls the learner with the request deadline (`limits.request_timeout_ms`).
async fn call_learner<T: Send + 'static>(
    state: &AppState,
    msg: impl FnOnce(RpcReplyPort<Result<T, SutraError>>) -> LearnerMsg,
) -> Result<T, SutraError> {
    call_learner_within(state, Some(state.timeout()), msg).await
}

/// Calls the learner for a learn, waiting for its outcome however long the batch takes.
///
/// A learn is a write: answering 503 while it goes on to commit would leave the client
/// unsure whether it was stored. Every stage of a learn is bounded on its own (each
/// chunk of texts sent to the embedder pool and each shard or coordinator call within
/// `limits.request_timeout_ms`, and the pool always answers within its batch deadline
/// and unavailable wait), so the learner always replies: with the learn's real result,
/// or with the error of the stage that failed, before anything was committed.
async fn call_learner_for_learn<T: Send + 'static>(
    state: &AppState,
    msg: impl FnOnce(RpcReplyPort<Result<T, SutraError>>) -> LearnerMsg,
) -> Result<T, SutraError> {
    call_learner_within(state, None, msg).await
}

async fn call_learner_within<T: Send + 'static>(
    state: &AppState,
    deadline: Option<Duration>,
    msg: impl FnOnce(RpcReplyPort<Result<T, SutraError>>) -> LearnerMsg,
) -> Result<T, SutraError> {
    let Some(learner) = ActorRef::<LearnerMsg>::where_is(LEARNER) else {
        return Err(SutraError::unavailable(
            "the learner is restarting; retry shortly",
        ));
    };
    match learner.call(msg, deadline).await {
        Ok(CallResult::Success(r)) => r,
        Ok(CallResult::Timeout) => Err(SutraError::unavailable(format!(
            "the request did not finish within limits.request_timeout_ms ({} ms); check the node's load and retry",
            state.limits.request_timeout_ms
        ))),
        Ok(CallResult::SenderError) | Err(_) => Err(SutraError::unavailable(
            "the learner stopped while handling the request (its supervisor restarts it); the request was not acknowledged, retry it",
        )),
    }
}

/// `options` of a learn request, as sent.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct OptionsIn {
    generate_embedding: Option<bool>,
    extract_associations: Option<bool>,
    #[schema(minimum = 0.0, maximum = 1.0)]
    min_association_confidence: Option<f64>,
    #[schema(minimum = 1, maximum = 1000)]
    #[serde(default, deserialize_with = "int::opt")]
    max_associations_per_concept: Option<u32>,
    #[schema(minimum = 0.000001, maximum = 1000.0)]
    strength: Option<f64>,
    #[schema(minimum = 0.000001, maximum = 1.0)]
    confidence: Option<f64>,
    read_your_writes: Option<bool>,
}

/// The smallest confidence or strength a request may give: below it an `f32` no longer
/// tells the value from 0 (and 0 teaches nothing).
const MIN_BELIEF: f64 = 0.000001;

/// Numbers arrive as `f64` and are checked before narrowing to `f32`, so the bounds are
/// exactly those the OpenAPI document states.
fn unit_interval(name: &str, v: f64) -> Result<f32, SutraError> {
    if v.is_finite() && (0.0..=1.0).contains(&v) {
        Ok(v as f32)
    } else {
        Err(SutraError::bad(
            "invalid_option",
            format!("{name} must be a number from 0 to 1 (got {v})"),
        ))
    }
}

/// Validates learn options; `embeddings` says whether this node runs embedders (the
/// default of `generate_embedding`).
fn validate_options(o: Option<OptionsIn>, embeddings: bool) -> Result<LearnOptions, SutraError> {
    let o = o.unwrap_or_default();
    let d = LearnOptions::default();
    if o.generate_embedding == Some(true) && !embeddings {
        return Err(SutraError::bad(
            "invalid_option",
            "generate_embedding is true but this node runs no embedder replicas (embedder_replicas = 0 or --embedders 0); omit the option, set it to false, or start the node with embedders",
        ));
    }
    let max_assoc = o
        .max_associations_per_concept
        .unwrap_or(d.max_associations_per_concept);
    if !(1..=1000).contains(&max_assoc) {
        return Err(SutraError::bad(
            "invalid_option",
            format!("max_associations_per_concept must be from 1 to 1000 (got {max_assoc})"),
        ));
    }
    let strength = o.strength.unwrap_or(d.strength as f64);
    if !(strength.is_finite() && (MIN_BELIEF..=1000.0).contains(&strength)) {
        return Err(SutraError::bad(
            "invalid_option",
            format!("strength must be from {MIN_BELIEF} to 1000 (got {strength})"),
        ));
    }
    let strength = strength as f32;
    let asked = o.confidence.unwrap_or(d.confidence as f64);
    let confidence = unit_interval("confidence", asked)?;
    if asked < MIN_BELIEF {
        return Err(SutraError::bad(
            "invalid_option",
            format!("confidence must be at least {MIN_BELIEF}: a statement with no belief teaches nothing"),
        ));
    }
    Ok(LearnOptions {
        generate_embedding: o.generate_embedding.unwrap_or(embeddings),
        extract_associations: o.extract_associations.unwrap_or(d.extract_associations),
        min_association_confidence: unit_interval(
            "min_association_confidence",
            o.min_association_confidence
                .unwrap_or(d.min_association_confidence as f64),
        )?,
        max_associations_per_concept: max_assoc,
        strength,
        confidence,
        read_your_writes: o.read_your_writes.unwrap_or(d.read_your_writes),
    })
}

pub(crate) fn validate_content(
    limits: &LimitsConfig,
    field: &str,
    s: &str,
) -> Result<(), SutraError> {
    if s.trim().is_empty() {
        return Err(SutraError::bad(
            "invalid_content",
            format!("{field} is empty; send the statement to learn as text"),
        ));
    }
    if s.len() > limits.max_content_bytes {
        return Err(SutraError::bad(
            "invalid_content",
            format!(
                "{field} is {} bytes, more than limits.max_content_bytes ({}); split it into shorter statements",
                s.len(),
                limits.max_content_bytes
            ),
        ));
    }
    if s.contains('\0') {
        return Err(SutraError::bad(
            "invalid_content",
            format!("{field} contains a NUL character"),
        ));
    }
    Ok(())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct LearnIn {
    /// The statement (at most limits.max_content_bytes bytes).
    #[schema(pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$")]
    content: String,
    /// Who or what taught it (a file and line, a document): 1-1024 bytes, no control characters.
    #[schema(
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    source: Option<String>,
    options: Option<OptionsIn>,
}

/// Longest `source` label accepted.
const MAX_LABEL_BYTES: usize = 1024;

/// Checks a client's `source` label: 1 to 1,024 bytes, no control characters.
fn validate_label(field: &str, label: Option<String>) -> Result<Option<String>, SutraError> {
    let Some(label) = label else { return Ok(None) };
    if label.trim().is_empty() || label.len() > MAX_LABEL_BYTES {
        return Err(SutraError::bad(
            "invalid_source",
            format!("{field} must be 1 to {MAX_LABEL_BYTES} bytes of text (a document name, a file and line, any label), or left out"),
        ));
    }
    if label.chars().any(char::is_control) {
        return Err(SutraError::bad(
            "invalid_source",
            format!("{field} contains a control character"),
        ));
    }
    Ok(Some(label))
}

/// Learns one statement: its concept, the entities it names and the associations read
/// from it, durably, in one transaction.
#[utoipa::path(post, path = "/v1/learn", tag = "learn", request_body = LearnIn,
    params(("x-request-id" = Option<String>, Header, description = "Your request id (1-128 of A-Z a-z 0-9 . _ : -); else one is made"), KbParam),
    responses((status = 200, description = "Learned and durable", body = openapi::LearnOut), openapi::Errors))]
async fn learn(
    State(state): State<Shared>,
    Kb(kb): Kb,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<openapi::LearnOut>> {
    let req: LearnIn = parse_body(body)?;
    validate_content(&state.limits, "content", &req.content)?;
    let label = validate_label("source", req.source)?;
    let options = validate_options(req.options, state.embedders > 0)?;
    let request_id = state.request_id(&headers);
    let _admitted = state.admission.statements(1)?;
    let learned: Learned = call_learner_for_learn(&state, |reply| LearnerMsg::Learn {
        contents: vec![req.content],
        options,
        request_id: request_id.clone(),
        label,
        kb,
        reply,
    })
    .await?;
    crate::metrics::learned(1);
    Ok(Json(openapi::LearnOut {
        concept_id: learned.concept_ids[0].to_string(),
        associations: learned.associations,
        request_id,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct BatchIn {
    /// The statements (1 to limits.max_batch, each at most limits.max_content_bytes bytes).
    #[schema(schema_with = openapi::statements)]
    contents: Vec<String>,
    #[schema(
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    source: Option<String>,
    options: Option<OptionsIn>,
}

/// Learns several statements in one transaction (embedded in batches).
#[utoipa::path(post, path = "/v1/learn/batch", tag = "learn", request_body = BatchIn,
    params(("x-request-id" = Option<String>, Header, description = "Your request id; else one is made"), KbParam),
    responses((status = 200, description = "Learned and durable", body = openapi::BatchOut), openapi::Errors))]
async fn learn_batch(
    State(state): State<Shared>,
    Kb(kb): Kb,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<openapi::BatchOut>> {
    let req: BatchIn = parse_body(body)?;
    if req.contents.is_empty() {
        return Err(SutraError::bad(
            "invalid_content",
            "contents is empty; send at least one statement",
        )
        .into());
    }
    if req.contents.len() > state.limits.max_batch {
        return Err(SutraError::bad(
            "batch_too_large",
            format!(
                "contents has {} statements, more than limits.max_batch ({}); split the batch",
                req.contents.len(),
                state.limits.max_batch
            ),
        )
        .into());
    }
    for (i, c) in req.contents.iter().enumerate() {
        validate_content(&state.limits, &format!("contents[{i}]"), c)?;
    }
    let label = validate_label("source", req.source)?;
    let options = validate_options(req.options, state.embedders > 0)?;
    let request_id = state.request_id(&headers);
    let _admitted = state.admission.statements(req.contents.len())?;
    let learned = call_learner_for_learn(&state, |reply| LearnerMsg::Learn {
        contents: req.contents,
        options,
        request_id: request_id.clone(),
        label,
        kb,
        reply,
    })
    .await?;
    crate::metrics::learned(learned.concept_ids.len());
    Ok(Json(openapi::BatchOut {
        concept_ids: learned.concept_ids.iter().map(|i| i.to_string()).collect(),
        associations: learned.associations,
        request_id,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AssociateIn {
    /// An entity name (with letters or digits) or a concept id.
    #[schema(pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$")]
    source: String,
    /// An entity name (with letters or digits) or a concept id.
    #[schema(pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$")]
    target: String,
    #[serde(rename = "type")]
    /// The relation (GET /openapi.json lists the built-in ones).
    #[schema(schema_with = openapi::assoc_types)]
    kind: String,
    #[schema(minimum = 0.0, maximum = 1.0)]
    confidence: Option<f64>,
    #[schema(
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    label: Option<String>,
}

/// Stores one typed association between two entities (names or concept ids).
#[utoipa::path(post, path = "/v1/associations", tag = "learn", request_body = AssociateIn,
    params(("x-request-id" = Option<String>, Header, description = "Your request id; else one is made"), KbParam),
    responses((status = 200, description = "Stored and durable", body = openapi::AssociateOut), openapi::Errors))]
async fn associations(
    State(state): State<Shared>,
    Kb(kb): Kb,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<openapi::AssociateOut>> {
    let req: AssociateIn = parse_body(body)?;
    let kind = crate::actors::learner::client_assoc_type(&req.kind)?;
    for (field, v) in [("source", &req.source), ("target", &req.target)] {
        if v.len() > state.limits.max_content_bytes {
            return Err(SutraError::bad(
                "invalid_name",
                format!("{field} is longer than limits.max_content_bytes"),
            )
            .into());
        }
        if v.parse::<ConceptId>().is_err() && entity_key(v).is_empty() {
            return Err(SutraError::bad(
                "invalid_name",
                format!("{field} must be an entity name (with letters or digits) or a concept id"),
            )
            .into());
        }
    }
    let confidence = unit_interval("confidence", req.confidence.unwrap_or(0.9))?;
    let label = validate_label("label", req.label)?;
    let request_id = state.request_id(&headers);
    let learned = call_learner(&state, |reply| {
        LearnerMsg::Associate(
            AssociateRequest {
                source: req.source,
                target: req.target,
                kind,
                confidence,
                request_id: request_id.clone(),
                label,
                kb,
            },
            reply,
        )
    })
    .await?;
    Ok(Json(openapi::AssociateOut {
        source: learned.concept_ids[0].to_string(),
        target: learned.concept_ids[1].to_string(),
        associations: learned.associations,
        request_id,
    }))
}

fn parse_id(s: &str) -> Result<ConceptId, SutraError> {
    s.parse()
        .map_err(|e: String| SutraError::bad("invalid_id", e))
}

/// A teacher as clients see it.
fn source_json(s: &crate::graph::Source) -> Value {
    json!({
        "request_id": s.request_id,
        "source": s.label,
        "learned_at": crate::graph::rfc3339(s.at_ms),
    })
}

/// One piece of evidence without looking anything up: a sentence by its concept id
/// (its text and teachers are on that concept, or in full from `GET /v1/evidence`).
fn evidence_json(e: &crate::graph::Evidence) -> Value {
    let out = crate::reason::EvidenceOut::new(e, |_| None);
    json!({
        "kind": out.kind,
        "id": out.id,
        "learned_at": out.learned_at,
        "source": out.source,
        "request_id": out.request_id,
        "confidence": out.confidence,
        "times": out.times,
    })
}

fn assoc_json(a: &Association) -> Value {
    json!({
        "type": a.kind.as_str(),
        "negated": a.negated,
        "source": a.source.to_string(),
        "target": a.target.to_string(),
        "confidence": a.confidence,
        "strength": a.strength,
        "evidence": a.evidence,
        "sources": a.provenance.iter().map(evidence_json).collect::<Vec<_>>(),
        "source_count": a.provenance.len(),
        "evidence_url": crate::reason::evidence_url(a),
    })
}

/// The JSON form of a concept and its associations.
pub fn concept_json(v: &ConceptView) -> Value {
    let c = &v.concept;
    json!({
        "id": c.id.to_string(),
        "content": c.content,
        "kind": c.kind,
        "semantic_type": c.semantic_type,
        "strength": c.strength,
        "confidence": c.confidence,
        "evidence": c.evidence,
        "created_ms": c.created_ms,
        "updated_ms": c.updated_ms,
        "sources": c.sources.iter().map(source_json).collect::<Vec<_>>(),
        "associations": v.outgoing.iter().chain(&v.incoming).map(assoc_json).collect::<Vec<_>>(),
    })
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct GetQuery {
    /// Fold every durable write first (read-your-writes).
    #[param(nullable = false)]
    fresh: Option<bool>,
}

/// A concept with its associations (both directions) and its teachers.
#[utoipa::path(get, path = "/v1/concepts/{id}", tag = "concepts",
    params(("id" = String, Path, pattern = r"^[0-9a-fA-F]{16}$", description = "Concept id (16 hex digits)"), GetQuery, KbParam),
    responses((status = 200, description = "The concept", body = Object), openapi::Errors))]
async fn get_concept(
    State(state): State<Shared>,
    Kb(kb): Kb,
    Path(id): Path<String>,
    query: Result<Query<GetQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let id = parse_id(&id)?;
    let fresh = query
        .map_err(|e| SutraError::bad("invalid_query", e.body_text()))?
        .fresh
        .unwrap_or(false);
    let shard = state.router.shard_of(id);
    match state
        .router
        .call(shard, ShardRequest::Get { id, fresh })
        .await?
    {
        ShardReply::Concept(Some(view)) if view.kb == crate::graph::KbTag::named(&kb) => {
            let mut body = concept_json(&view);
            body["kb"] = json!(kb);
            Ok(Json(body))
        }
        ShardReply::Concept(_) => Err(SutraError::NotFound(format!(
            "no concept has id {id} in knowledge base '{kb}'"
        ))
        .into()),
        other => Err(SutraError::Internal(format!("unexpected shard reply {other:?}")).into()),
    }
}

/// Deletes a concept, its associations and vector, and what was derived only from it.
#[utoipa::path(delete, path = "/v1/concepts/{id}", tag = "concepts",
    params(("id" = String, Path, pattern = r"^[0-9a-fA-F]{16}$", description = "Concept id (16 hex digits)"), KbParam),
    responses((status = 200, description = "Deleted", body = openapi::DeletedOut), openapi::Errors))]
async fn delete_concept(
    State(state): State<Shared>,
    Kb(kb): Kb,
    Path(id): Path<String>,
) -> ApiResult<Json<openapi::DeletedOut>> {
    let id = parse_id(&id)?;
    let removed = call_learner(&state, |reply| LearnerMsg::Delete(kb, id, reply)).await?;
    Ok(Json(openapi::DeletedOut {
        deleted: id.to_string(),
        removed,
    }))
}

/// `DELETE /v1/sources/{source}`: forgets everything learned only from that label.
#[utoipa::path(delete, path = "/v1/sources/{source}", tag = "concepts",
    params(("source" = String, Path, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$", description = "A source label given when learning (1-1024 bytes, no control characters)"), KbParam),
    responses((status = 200, description = "Forgotten", body = openapi::ForgottenOut), openapi::Errors))]
async fn forget_source(
    State(state): State<Shared>,
    Kb(kb): Kb,
    Path(label): Path<String>,
) -> ApiResult<Json<openapi::ForgottenOut>> {
    forget(&state, kb, "source", label, SourceKey::Label).await
}

/// `DELETE /v1/requests/{request_id}`: forgets everything one request taught that
/// nothing else did (for learns sent without a `source` label).
#[utoipa::path(delete, path = "/v1/requests/{request_id}", tag = "concepts",
    params(("request_id" = String, Path, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$", description = "A learn's request id"), KbParam),
    responses((status = 200, description = "Forgotten", body = openapi::ForgottenOut), openapi::Errors))]
async fn forget_request(
    State(state): State<Shared>,
    Kb(kb): Kb,
    Path(request_id): Path<String>,
) -> ApiResult<Json<openapi::ForgottenOut>> {
    forget(&state, kb, "request_id", request_id, SourceKey::Request).await
}

async fn forget(
    state: &Shared,
    kb: String,
    field: &str,
    name: String,
    key: fn(String) -> SourceKey,
) -> ApiResult<Json<openapi::ForgottenOut>> {
    let name = validate_label(field, Some(name))?.expect("given");
    let k = key(name.clone());
    let removed = call_learner(state, |reply| LearnerMsg::Forget(kb, k, reply)).await?;
    Ok(Json(openapi::ForgottenOut {
        forgotten: [(field.to_string(), name)].into(),
        removed,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct EvidenceQuery {
    #[param(pattern = r"^[0-9a-fA-F]{16}$")]
    source: String,
    #[param(pattern = r"^[0-9a-fA-F]{16}$")]
    target: String,
    #[serde(rename = "type")]
    #[param(schema_with = openapi::all_assoc_types, required = true)]
    kind: String,
    #[param(nullable = false)]
    negated: Option<bool>,
    #[param(nullable = false)]
    #[serde(default, deserialize_with = "int::query_opt")]
    offset: Option<usize>,
    #[param(minimum = 1, maximum = 1000, nullable = false)]
    #[serde(default, deserialize_with = "int::query_opt")]
    limit: Option<usize>,
    /// The knowledge base (read by [`Kb`]; 1 to 64 of A-Z a-z 0-9 _ . -, default
    /// `default`).
    #[param(pattern = r"^[A-Za-z0-9_.\-]{1,64}$", nullable = false)]
    #[allow(dead_code)]
    kb: Option<String>,
}

/// `GET /v1/evidence?source=ID&target=ID&type=T[&negated=true][&offset=N][&limit=N]`:
/// one association's whole evidence list, strongest first, paged (limit 1-1000,
/// default 100), each sentence with its text and teacher.
#[utoipa::path(get, path = "/v1/evidence", tag = "concepts", params(EvidenceQuery),
    responses((status = 200, description = "A page of the association's evidence", body = Object), openapi::Errors))]
async fn evidence(
    State(state): State<Shared>,
    Kb(kb): Kb,
    query: Result<Query<EvidenceQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let q = query
        .map_err(|e| SutraError::bad("invalid_query", e.body_text()))?
        .0;
    let (source, target) = (parse_id(&q.source)?, parse_id(&q.target)?);
    let kind: crate::graph::AssocType = q
        .kind
        .parse()
        .map_err(|e: String| SutraError::bad("unknown_association_type", e))?;
    let negated = q.negated.unwrap_or(false);
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(SutraError::bad("invalid_query", "limit must be between 1 and 1000").into());
    }
    let offset = q.offset.unwrap_or(0);
    let view = match state
        .router
        .call(
            state.router.shard_of(source),
            ShardRequest::Get {
                id: source,
                fresh: false,
            },
        )
        .await?
    {
        ShardReply::Concept(view) => view.filter(|v| v.kb == crate::graph::KbTag::named(&kb)),
        other => {
            return Err(SutraError::Internal(format!("unexpected shard reply {other:?}")).into())
        }
    };
    let assoc = view
        .and_then(|v| {
            v.outgoing
                .into_iter()
                .find(|a| a.target == target && a.kind == kind && a.negated == negated)
        })
        .ok_or_else(|| {
            SutraError::NotFound(format!(
                "no {}{} association from {source} to {target} in knowledge base '{kb}'",
                if negated { "negated " } else { "" },
                kind.as_str()
            ))
        })?;
    let page: Vec<&crate::graph::Evidence> = assoc
        .strongest_evidence()
        .into_iter()
        .skip(offset)
        .take(limit)
        .collect();
    // The page's sentences, read from their shards in parallel.
    let ids: Vec<ConceptId> = page
        .iter()
        .filter_map(|e| match e.from {
            crate::graph::EvidenceFrom::Sentence(id) => Some(id),
            crate::graph::EvidenceFrom::Direct(_) => None,
        })
        .collect();
    let replies = futures::future::join_all(ids.iter().map(|&id| {
        state.router.call(
            state.router.shard_of(id),
            ShardRequest::Get { id, fresh: false },
        )
    }))
    .await;
    let mut sentences = std::collections::HashMap::new();
    for (id, reply) in ids.into_iter().zip(replies) {
        if let ShardReply::Concept(Some(v)) = reply? {
            sentences.insert(id, v.concept);
        }
    }
    let items: Vec<crate::reason::EvidenceOut> = page
        .into_iter()
        .map(|e| crate::reason::EvidenceOut::new(e, |id| sentences.get(&id)))
        .collect();
    Ok(Json(json!({
        "source": source.to_string(),
        "target": target.to_string(),
        "type": kind.as_str(),
        "negated": negated,
        "source_count": assoc.provenance.len(),
        "offset": offset,
        "sources": items,
    })))
}

/// Per-shard, coordinator, query, embedder, restart and log counters, and (`kb`) the
/// sizes of the knowledge base asked for (`default` when none is named; zeros for one
/// that holds nothing).
#[utoipa::path(get, path = "/v1/stats", tag = "operate", params(KbParam),
    responses((status = 200, description = "Counters", body = Object), openapi::Errors))]
async fn stats(State(state): State<Shared>, Kb(kb): Kb) -> ApiResult<Json<Value>> {
    let kb = match crate::actors::learner::kb_stats(&state.router, &kb).await {
        Ok(k) => json!(k),
        Err(e) => json!({"name": kb, "state": e.to_string()}),
    };
    let mut shards = Vec::new();
    let (mut concepts, mut assocs) = (0, 0);
    for s in 0..state.router.shards {
        match state.router.call(s, ShardRequest::Stats).await {
            Ok(ShardReply::Stats(st)) => {
                concepts += st.concepts;
                assocs += st.associations;
                shards.push(json!({"state": "running", "stats": st}));
            }
            Ok(_) | Err(_) => shards.push(json!({"shard": s, "state": "unavailable"})),
        }
    }
    let coordinator = match coordinator_stats(&state).await {
        Ok(st) => json!(st),
        Err(why) => json!({ "state": why }),
    };
    let queries = match query_stats(&state).await {
        Ok(st) => json!(st),
        Err(why) => json!({ "state": why }),
    };
    let embedders = if state.embedders == 0 {
        json!({"state": "off", "replicas": []})
    } else {
        match crate::actors::embedder::stats().await {
            Some(st) => json!(st),
            None => json!({"state": "restarting"}),
        }
    };
    Ok(Json(json!({
        "node": state.node,
        "queries": queries,
        "embedders": embedders,
        "uptime_s": state.started.elapsed().as_secs(),
        "concepts": concepts,
        "associations": assocs,
        "kb": kb,
        "shards": shards,
        "coordinator": coordinator,
        "restarts": admin::restart_table(),
        "ingress": state.admission.stats(),
        "events": events_stats(),
        "logs": {
            "written_lines": crate::logging::written_lines(),
            "dropped_lines": crate::logging::dropped_lines(),
        },
    })))
}

/// The coordinator's counters, or why they are not available (`restarting`,
/// `unavailable`).
pub(crate) async fn coordinator_stats(
    state: &AppState,
) -> Result<crate::protocol::CoordinatorStats, &'static str> {
    let c = ActorRef::<CoordinatorMsg>::where_is(COORDINATOR).ok_or("restarting")?;
    match c.call(CoordinatorMsg::Stats, Some(state.timeout())).await {
        Ok(CallResult::Success(st)) => Ok(st),
        _ => Err("unavailable"),
    }
}

/// The query sessions' counters, or why they are not available.
pub(crate) async fn query_stats(
    state: &AppState,
) -> Result<crate::protocol::QueryStats, &'static str> {
    let q = ActorRef::<crate::protocol::QueriesMsg>::where_is(crate::router::QUERIES)
        .ok_or("restarting")?;
    match q
        .call(crate::protocol::QueriesMsg::Stats, Some(state.timeout()))
        .await
    {
        Ok(CallResult::Success(st)) => Ok(st),
        _ => Err("unavailable"),
    }
}

/// Liveness.
#[utoipa::path(get, path = "/health", tag = "operate",
    responses((status = 200, description = "The process serves", body = openapi::HealthOut), openapi::Errors))]
async fn health() -> Json<openapi::HealthOut> {
    Json(openapi::HealthOut {
        status: "ok".into(),
    })
}

/// Readiness: 200 once every actor runs and every embedder replica has loaded its
/// model at start (`read_only` while a shard's disk refuses writes), else 503 naming what
/// is missing. The node answers questions before the model is loaded; `/ready` waits
/// for it.
#[utoipa::path(get, path = "/ready", tag = "operate",
    responses((status = 200, description = "Ready", body = openapi::ReadyOut), openapi::Errors))]
async fn ready(State(state): State<Shared>) -> Response {
    let mut missing = admin::missing_actors(state.router.shards, state.embedders > 0);
    if state.embedders > 0 && missing.is_empty() {
        if let Some(waiting) = crate::actors::embedder::model_loading().await {
            missing.push(waiting);
        }
    }
    // A shard whose disk refuses writes still serves reads: ready, but say so.
    let read_only: Vec<openapi::ReadOnlyShard> = (0..state.router.shards)
        .filter_map(|s| {
            let failure = crate::actors::shard::local_core(s)?.read_only()?;
            Some(openapi::ReadOnlyShard {
                shard: s,
                reason: failure.reason,
                no_space: failure.no_space,
            })
        })
        .collect();
    if missing.is_empty() && !read_only.is_empty() {
        Json(openapi::ReadyOut {
            status: "read_only".into(),
            read_only_shards: Some(read_only),
        })
        .into_response()
    } else if missing.is_empty() {
        Json(openapi::ReadyOut {
            status: "ready".into(),
            read_only_shards: None,
        })
        .into_response()
    } else {
        ApiError(SutraError::unavailable(format!(
            "not ready: waiting for {}",
            missing.join(", ")
        )))
        .into_response()
    }
}

/// The `events` section of `/v1/stats`.
fn events_stats() -> serde_json::Value {
    let (emitted, dropped) = crate::events::counts();
    let (stored, lost) = crate::actors::event_sink::stored_counts();
    serde_json::json!({
        "enabled": crate::events::enabled(),
        "emitted": emitted,
        "dropped": dropped,
        "stored": stored,
        "lost": lost,
    })
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError(SutraError::NotFound(format!(
        "no endpoint {method} {}; the README lists the API",
        uri.path()
    )))
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(openapi::ErrorBody {
            error: openapi::ErrorDetail {
                code: "method_not_allowed".into(),
                message: format!(
                    "{method} is not allowed on {}; GET /openapi.json describes the API",
                    uri.path()
                ),
            },
        }),
    )
        .into_response()
}

/// Admission control (see [`admission`]): a data request beyond `limits.max_in_flight`
/// is answered 503 + Retry-After at once, before its body is read. Installed inside the
/// observing layer so refusals are counted and logged like any response.
async fn admit(
    State(state): State<Shared>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if !admission::Admission::applies_to(req.uri().path()) {
        return next.run(req).await;
    }
    match state.admission.request() {
        Ok(_admitted) => next.run(req).await,
        Err(e) => ApiError(e).into_response(),
    }
}

/// All routes of the API.
pub fn routes(state: Shared) -> axum::Router {
    let body_limit = state.limits.max_body_bytes;
    let mut app = axum::Router::new()
        .route("/v1/learn", post(learn))
        .route("/v1/learn/batch", post(learn_batch))
        .route("/v1/associations", post(associations))
        .route("/v1/concepts/{id}", get(get_concept).delete(delete_concept))
        .route("/v1/sources/{source}", axum::routing::delete(forget_source))
        .route(
            "/v1/requests/{request_id}",
            axum::routing::delete(forget_request),
        )
        .route("/v1/evidence", get(evidence))
        .route("/v1/kbs", get(kb::list))
        .route("/v1/events", get(events::list))
        .route("/v1/kbs/{name}", axum::routing::delete(kb::drop))
        .route("/v1/stats", get(stats))
        .route("/v1/search", post(search::search))
        .route("/v1/embed", post(search::embed))
        .route("/v1/reason", post(reason::reason))
        .route("/v1/path", post(reason::path))
        .route("/v1/admin/actors", get(admin::actors))
        .route("/v1/cluster", get(cluster::cluster))
        .route(
            "/v1/cluster/shards/{shard}/restart",
            post(cluster::restart_shard),
        )
        .route("/v1/cluster/shards/{shard}/stop", post(cluster::stop_shard))
        .route(
            "/v1/cluster/shards/{shard}/start",
            post(cluster::start_shard),
        )
        .route("/v1/admin/actors/{name}/kill", post(admin::kill))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(observe::metrics))
        .route("/openapi.json", get(openapi::openapi_json));
    if state.faults_enabled {
        app = app.route("/v1/admin/faults", post(admin::arm_fault));
    }
    // Installed before the first request, so every request is counted.
    crate::metrics::handle();
    app.fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), admit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            observe::observe,
        ))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_validated() {
        assert!(validate_options(None, false).is_ok());
        assert!(validate_options(None, true).unwrap().generate_embedding);
        assert!(!validate_options(None, false).unwrap().generate_embedding);
        let bad = |o: OptionsIn| validate_options(Some(o), false).unwrap_err().to_string();
        assert!(bad(OptionsIn {
            confidence: Some(1.5),
            ..Default::default()
        })
        .contains("confidence"));
        assert!(bad(OptionsIn {
            strength: Some(0.0),
            ..Default::default()
        })
        .contains("strength"));
        assert!(bad(OptionsIn {
            max_associations_per_concept: Some(0),
            ..Default::default()
        })
        .contains("max_associations"));
        assert!(bad(OptionsIn {
            min_association_confidence: Some(f64::NAN),
            ..Default::default()
        })
        .contains("min_association"));
        assert!(bad(OptionsIn {
            generate_embedding: Some(true),
            ..Default::default()
        })
        .contains("embedding"));
    }

    #[test]
    fn integers_are_read_as_json_schema_counts_them() {
        #[derive(Deserialize)]
        struct T {
            #[serde(default, deserialize_with = "int::opt")]
            n: Option<u8>,
        }
        let n = |j: &str| {
            serde_json::from_str::<T>(j)
                .map(|t| t.n)
                .map_err(|e| e.to_string())
        };
        assert_eq!(n(r#"{}"#), Ok(None));
        assert_eq!(n(r#"{"n": null}"#), Ok(None));
        assert_eq!(n(r#"{"n": 5}"#), Ok(Some(5)));
        assert_eq!(n(r#"{"n": 5.0}"#), Ok(Some(5)));
        assert!(n(r#"{"n": 5.5}"#).unwrap_err().contains("integer"));
        assert!(n(r#"{"n": 256}"#).unwrap_err().contains("out of range"));
        assert!(n(r#"{"n": -1}"#).unwrap_err().contains("out of range"));
        assert!(n(r#"{"n": "5"}"#).unwrap_err().contains("invalid type"));
        assert!(n(r#"{"n": 1e300}"#).is_err());
    }

    #[test]
    fn bodies_are_parsed_with_clear_errors() {
        let ok: LearnIn = parse_body(Ok(Bytes::from_static(br#"{"content":"x"}"#))).unwrap();
        assert_eq!(ok.content, "x");
        let err = |b: &'static [u8]| {
            parse_body::<LearnIn>(Ok(Bytes::from_static(b)))
                .err()
                .unwrap()
                .to_string()
        };
        assert!(err(b"").contains("empty"));
        assert!(err(b"\xff\xfe").contains("UTF-8"));
        assert!(err(b"{").contains("invalid request body"));
        assert!(err(br#"{"content": 5}"#).contains("invalid type"));
        assert!(err(br#"{"contents": "x"}"#).contains("unknown field"));
    }
}

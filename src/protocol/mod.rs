//! Messages between actors, and the wire types they carry.
//!
//! Shard and coordinator requests are plain serde types so the same request can later
//! cross nodes unchanged through [`codec`]; the ractor message enums wrap them together
//! with a typed reply port.

pub mod codec;

use crate::graph::{
    Association, Concept, ConceptId, ConceptKind, KbTag, Op, SentenceCursor, ShardId, SourceKey,
    TxId,
};
use ractor::RpcReplyPort;
use ractor_cluster_derive::RactorMessage;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An error the HTTP layer turns into a status code and a JSON body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum SutraError {
    /// The request is malformed or invalid (400).
    #[error("{message}")]
    BadRequest {
        /// Machine-readable code.
        code: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A referenced thing does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// Temporarily unable to serve (503 with Retry-After): an actor is restarting or busy.
    #[error("{message}")]
    Unavailable {
        /// What is unavailable and why.
        message: String,
        /// Seconds after which a retry is likely to succeed.
        retry_after_s: u32,
    },
    /// The disk is full: the write was refused and nothing of it stored (507 with
    /// Retry-After); reads go on.
    #[error("{message}")]
    InsufficientStorage {
        /// Which file, which error, and what to do.
        message: String,
        /// Seconds after which a retry may succeed.
        retry_after_s: u32,
    },
    /// A bug or an unrecoverable storage failure (500).
    #[error("{0}")]
    Internal(String),
}

impl SutraError {
    /// A 400 with a code.
    pub fn bad(code: &str, message: impl Into<String>) -> Self {
        SutraError::BadRequest {
            code: code.to_string(),
            message: message.into(),
        }
    }
    /// The refusal of a write by a shard whose log cannot write: 507 when the disk is
    /// full, 503 for an I/O error.
    pub fn storage(failure: &crate::store::wal::Failure, what: &str) -> Self {
        let message = format!(
            "{what} refused, nothing of it was stored: the disk under {} does not accept writes ({}); {}; reads still work",
            failure.dir.display(),
            failure.reason,
            if failure.no_space {
                "free space on that disk, then retry"
            } else {
                "check the disk and the kernel log, then retry"
            }
        );
        if failure.no_space {
            SutraError::InsufficientStorage {
                message,
                retry_after_s: 1,
            }
        } else {
            SutraError::Unavailable {
                message,
                retry_after_s: 1,
            }
        }
    }

    /// A retryable 503.
    pub fn unavailable(message: impl Into<String>) -> Self {
        SutraError::Unavailable {
            message: message.into(),
            retry_after_s: 1,
        }
    }
}

/// A concept with the association copies its shard holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConceptView {
    /// The concept.
    pub concept: Concept,
    /// Associations leaving it.
    pub outgoing: Vec<Association>,
    /// Associations arriving at it.
    pub incoming: Vec<Association>,
    /// Its knowledge base (`None`: `default`).
    pub kb: Option<KbTag>,
}

/// The sizes of one knowledge base (on one shard, or summed over all).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KbStats {
    /// Its name.
    pub name: String,
    /// Concepts (sentences and entities).
    pub concepts: u64,
    /// Sentence concepts.
    pub sentences: u64,
    /// Associations (counting the sentence-mentions-entity provenance links).
    pub associations: u64,
    /// Concepts with a vector.
    pub vectors: u64,
}

impl KbStats {
    /// Adds another shard's sizes of the same knowledge base.
    pub fn add(&mut self, o: &KbStats) {
        self.concepts += o.concepts;
        self.sentences += o.sentences;
        self.associations += o.associations;
        self.vectors += o.vectors;
    }
}

impl From<&crate::graph::KbCounts> for KbStats {
    fn from(c: &crate::graph::KbCounts) -> Self {
        KbStats {
            name: c.name.to_string(),
            concepts: c.concepts as u64,
            sentences: c.sentences as u64,
            associations: c.associations as u64,
            vectors: c.vectors as u64,
        }
    }
}

/// Counters of one shard.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ShardStats {
    /// Shard index.
    pub shard: ShardId,
    /// Concepts in the published snapshot, not counting self-monitoring events.
    pub concepts: u64,
    /// Association copies leaving concepts of this shard, not counting events'.
    pub associations: u64,
    /// Concepts of the `events` knowledge base (events and the nodes and actors they
    /// name).
    pub event_concepts: u64,
    /// Association copies of the `events` knowledge base.
    pub event_associations: u64,
    /// Log position of the published snapshot.
    pub snapshot_lsn: u64,
    /// Last durable log position.
    pub durable_lsn: u64,
    /// Durable records not yet folded into the snapshot.
    pub unfolded_records: u64,
    /// Transactions prepared here and not yet decided.
    pub in_doubt: u64,
    /// Log records written since start.
    pub log_records: u64,
    /// fdatasync calls since start (records / flushes = group-commit factor).
    pub log_flushes: u64,
    /// Bytes appended to the log since start.
    pub log_bytes: u64,
    /// Snapshots published since start.
    pub folds: u64,
    /// Checkpoints written since start.
    pub checkpoints: u64,
    /// Log position covered by the last checkpoint.
    pub checkpoint_lsn: u64,
    /// How long opening the shard took (checkpoint load + log replay), in ms.
    pub recovery_ms: u64,
    /// Vectors in the shard's index.
    pub vectors: u64,
    /// Memory held by the vector index.
    pub vector_index_bytes: u64,
    /// Milliseconds the vector index took to load at start.
    pub index_load_ms: u64,
    /// Why the shard refuses writes, while its disk does not take them (reads go on).
    pub read_only: Option<String>,
}

/// A request to one shard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ShardRequest {
    /// Read a concept; `fresh` folds every durable write first (read-your-writes).
    Get {
        /// The concept.
        id: ConceptId,
        /// Fold pending writes before reading.
        fresh: bool,
    },
    /// A write confined to this shard; replies once durable.
    Apply {
        /// The ops.
        ops: Vec<Op>,
    },
    /// 2PC phase 1: make this shard's part durable and vote.
    Prepare {
        /// Transaction.
        txid: TxId,
        /// This shard's ops.
        ops: Vec<Op>,
    },
    /// Make the commit of `txid` durable: sent once the coordinator's own record of the
    /// commit is durable (so this shard may forget it), and to a participant that missed
    /// [`ShardRequest::Publish`]. Replies `Durable` once this shard's commit record is.
    Commit {
        /// Transaction.
        txid: TxId,
    },
    /// 2PC phase 2: discard.
    Abort {
        /// Transaction.
        txid: TxId,
    },
    /// Fold every durable write into the published snapshot now (read-your-writes).
    Fold,
    /// Counters.
    Stats,
    /// Everything this shard holds from one teacher (after folding every durable write).
    FindSource {
        /// The teacher.
        key: SourceKey,
        /// Only in this knowledge base.
        kb: String,
    },
    /// Parallel commit: `txid` is committed (its staged record and every participant's
    /// prepare are durable); make it visible now and log the commit without waiting.
    /// Replies `Visible` once a read sees it.
    Publish {
        /// Transaction.
        txid: TxId,
    },
    /// Recovery of a staged transaction: does this shard hold a durable prepare of
    /// `txid`, or a commit of it the coordinator may not have durably recorded? A shard
    /// answering no refuses any later prepare of `txid`. Replies `Holds`.
    Holds {
        /// Transaction.
        txid: TxId,
    },
    /// Make sure nothing deleted by a durable write is left on disk: fold, start a new
    /// log segment, rewrite the vector index without removed vectors, write a checkpoint
    /// and drop every log segment it covers. Replies `Durable` with the checkpoint's
    /// position. Concurrent erases share one checkpoint.
    Erase,
    /// The `k` concepts (of `kind`, if given) whose vectors are nearest to `vector`.
    Search {
        /// Unit-length query embedding.
        vector: Vec<f32>,
        /// How many.
        k: usize,
        /// Only concepts of this kind.
        kind: Option<ConceptKind>,
        /// Only concepts of this knowledge base.
        kb: String,
    },
    /// The sizes of every knowledge base with something on this shard (after folding
    /// every durable write), or of the one named.
    Kbs {
        /// Only this knowledge base.
        only: Option<String>,
    },
    /// The nodes (concept with both association lists) of `ids` this shard holds, for a
    /// reasoner on another node: one message per shard per hop of its search frontier.
    /// Reads the published snapshot.
    Expand {
        /// The nodes wanted (ids held elsewhere are skipped).
        ids: Vec<ConceptId>,
    },
    /// The entities of knowledge base `kb` on this shard that `names` may resolve to:
    /// exact name matches and every entity sharing a name's word stems, with their
    /// nodes (after folding every durable write: read-your-writes for questions).
    Resolve {
        /// Names as a question mentions them.
        names: Vec<String>,
        /// The knowledge base.
        kb: String,
    },
    /// The sentence concepts of knowledge base `kb` on this shard (the logic layer's
    /// occurrences, the events listing), after folding every durable write. Unchanged
    /// since version `since`, or more than `limit` of them: only the version and count.
    /// When the caller holds them up to cursor `from` and nothing was removed since,
    /// only those with an occurrence after it. Listed in pages by id (a page stays far
    /// below the transport's frame limit).
    Occurrences {
        /// The knowledge base.
        kb: String,
        /// The version the caller already holds.
        since: Option<u64>,
        /// Send no list when the knowledge base has more sentences here.
        limit: usize,
        /// The page after this id (`None`: the first page).
        after: Option<ConceptId>,
        /// Where the caller's copy stands (`None`: it has none).
        from: Option<SentenceCursor>,
    },
}

/// A node of one shard, as [`ShardRequest::Expand`] and [`ShardRequest::Resolve`]
/// return it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeView {
    /// Its id.
    pub id: ConceptId,
    /// The concept, if it lives here (an edge copy can outlive a deleted concept).
    pub concept: Option<Concept>,
    /// Associations leaving it, in list order.
    pub outgoing: Vec<Association>,
    /// Associations arriving at it, in list order.
    pub incoming: Vec<Association>,
    /// Its knowledge base (`None`: `default`).
    pub kb: Option<KbTag>,
}

/// A shard's sentences of one knowledge base ([`ShardRequest::Occurrences`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KbSentences {
    /// The knowledge base's version on this shard.
    pub version: u64,
    /// How many sentence concepts it has here.
    pub count: u64,
    /// Them (one page, by id) with the log position of their last occurrence, unless
    /// unchanged since the caller's version or more than its limit.
    pub sentences: Option<Vec<(u64, Concept)>>,
    /// More pages follow (ask again after the last id of this one).
    pub more: bool,
    /// Where the sentences stand on this shard.
    pub cursor: SentenceCursor,
    /// `sentences` holds only those changed after the caller's cursor (add them to its
    /// copy); otherwise all of them.
    pub changes: bool,
}

/// What one shard holds from one teacher ([`ShardRequest::FindSource`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Taught {
    /// Concepts this teacher taught, each with whether it was their only teacher.
    pub concepts: Vec<(ConceptId, bool)>,
    /// Outgoing association copies holding direct statements by this teacher.
    pub direct: Vec<Association>,
}

/// One vector search result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    /// The concept.
    pub concept_id: ConceptId,
    /// Its content.
    pub content: String,
    /// Sentence or entity.
    pub kind: ConceptKind,
    /// Cosine similarity to the query.
    pub similarity: f32,
}

/// A shard's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ShardReply {
    /// The concept, if present.
    Concept(Option<Box<ConceptView>>),
    /// The write (or vote, or decision) is durable at this log position.
    Durable {
        /// Log position.
        lsn: u64,
    },
    /// Counters.
    Stats(ShardStats),
    /// Search results, best first.
    Hits(Vec<SearchHit>),
    /// What this shard holds from one teacher.
    Taught(Taught),
    /// Knowledge base sizes.
    Kbs(Vec<KbStats>),
    /// Nodes ([`ShardRequest::Expand`]).
    Nodes {
        /// The nodes held here among the first `answered` ids asked for.
        nodes: Vec<NodeView>,
        /// How many of the ids (from the first) this reply answers; the rest did not
        /// fit in one reply: ask again.
        answered: usize,
    },
    /// Name candidates ([`ShardRequest::Resolve`]): their nodes, and the entity ids
    /// under each stem key asked about.
    Resolved {
        /// The candidates' nodes (as many as fit in one reply).
        nodes: Vec<NodeView>,
        /// (stem key, entity ids under it here).
        stems: Vec<(u64, Vec<ConceptId>)>,
        /// Candidates whose nodes did not fit: fetch them with `Expand`.
        rest: Vec<ConceptId>,
    },
    /// A knowledge base's sentences ([`ShardRequest::Occurrences`]).
    Sentences(KbSentences),
    /// The request failed.
    Failed(SutraError),
    /// A published commit is visible; `waited` if that took a sync of this shard's log
    /// (data writes were in flight ahead of it, so it could not be applied ahead).
    Visible {
        /// Whether a sync was waited for.
        waited: bool,
    },
    /// The answer to [`ShardRequest::Holds`].
    Holds(bool),
}

/// Messages of a shard actor.
#[derive(RactorMessage)]
pub enum ShardMsg {
    /// A request with its reply port.
    Request(ShardRequest, RpcReplyPort<ShardReply>),
    /// Timer: ask the coordinator about transactions prepared here long ago.
    ResolveInDoubt,
    /// The coordinator's answer about an in-doubt transaction.
    Resolved(TxId, TxnStatus),
}

/// Messages of a reconciler actor.
#[derive(RactorMessage)]
pub enum ReconcilerMsg {
    /// Timer: fold, adapt the interval, maybe checkpoint.
    Tick,
    /// A background checkpoint finished.
    CheckpointDone(Result<u64, String>),
}

/// A cross-shard write: each shard's ops.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TxnPlan {
    /// Ops per shard.
    pub parts: BTreeMap<ShardId, Vec<Op>>,
}

impl TxnPlan {
    /// Adds an op to shard `shard` (an op for every shard, such as [`Op::DropKb`]).
    pub fn push_to(&mut self, shard: ShardId, op: Op) {
        self.parts.entry(shard).or_default().push(op);
    }
    /// Adds an op to the shard that stores it.
    pub fn push(&mut self, shards: u32, op: Op) {
        self.parts
            .entry(op.home().shard(shards))
            .or_default()
            .push(op);
    }
    /// Number of ops.
    pub fn len(&self) -> usize {
        self.parts.values().map(Vec::len).sum()
    }
    /// No ops at all.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }
}

/// What became of a transaction, as the coordinator knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnStatus {
    /// The commit is durably recorded by the coordinator.
    Committed,
    /// Aborted, or unknown to a coordinator that never logged a commit (presumed abort).
    Aborted,
    /// Still running, its commit not yet durably recorded, or being resolved: ask again.
    Pending,
}

/// Counters of the transaction coordinator.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CoordinatorStats {
    /// This incarnation's epoch.
    pub epoch: u32,
    /// Transactions committed since start.
    pub committed: u64,
    /// Transactions aborted since start.
    pub aborted: u64,
    /// Transactions in flight.
    pub active: u64,
    /// Committed transactions whose commit has not reached every participant yet.
    pub undelivered: u64,
    /// Median commit latency in microseconds (last 1024 transactions).
    pub p50_us: u64,
    /// 99th percentile commit latency in microseconds (last 1024 transactions).
    pub p99_us: u64,
    /// Durable rounds committed transactions waited for before their client was
    /// answered, summed: two per transaction (the staged record and every prepare,
    /// synced in parallel; then every participant's commit record, in parallel), plus
    /// one when a participant had to sync its commit record before it became visible.
    /// Divided by `committed`, the rounds per transaction.
    pub sync_rounds: u64,
    /// Participant commits made visible at once, ahead of their commit record's sync.
    pub commits_ahead: u64,
    /// Participant commits that waited for their commit record's sync (data writes
    /// were in flight ahead of them).
    pub commits_waited: u64,
    /// Staged transactions of an earlier incarnation resolved by asking their
    /// participants: committed, aborted.
    pub resolved_committed: u64,
    /// See `resolved_committed`.
    pub resolved_aborted: u64,
}

/// Messages of the transaction coordinator.
#[derive(RactorMessage)]
pub enum CoordinatorMsg {
    /// Run a transaction to its end; replies with its txid or why it aborted.
    Run(TxnPlan, RpcReplyPort<Result<TxId, SutraError>>),
    /// A participant asks about transactions in doubt (or committed ahead); one answer
    /// per txid, in order.
    Status(Vec<TxId>, RpcReplyPort<Vec<TxnStatus>>),
    /// Counters.
    Stats(RpcReplyPort<CoordinatorStats>),
}

/// How a statement should be learned (SPEC §3 options).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LearnOptions {
    /// Embed the statement and its entities' names (default: on when the node runs
    /// embedder replicas).
    pub generate_embedding: bool,
    /// Extract associations from the text.
    pub extract_associations: bool,
    /// Drop extracted associations below this confidence.
    pub min_association_confidence: f32,
    /// At most this many associations per concept.
    pub max_associations_per_concept: u32,
    /// Strength this evidence adds.
    pub strength: f32,
    /// Confidence of this evidence.
    pub confidence: f32,
    /// Reply only once the write is visible to readers (not just durable).
    pub read_your_writes: bool,
}

impl Default for LearnOptions {
    fn default() -> Self {
        LearnOptions {
            generate_embedding: false,
            extract_associations: true,
            min_association_confidence: 0.0,
            max_associations_per_concept: 64,
            strength: 1.0,
            confidence: 0.9,
            read_your_writes: false,
        }
    }
}

/// One association as reported to clients.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AssociationOut {
    /// Relation.
    #[serde(rename = "type")]
    pub kind: String,
    /// Source concept id.
    pub source: String,
    /// Target concept id.
    pub target: String,
    /// Confidence.
    pub confidence: f32,
}

/// Result of learning statements.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Learned {
    /// The statements' concept ids, in request order.
    pub concept_ids: Vec<ConceptId>,
    /// Associations made.
    pub associations: Vec<AssociationOut>,
}

/// A typed association to store between two entities given by name or id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AssociateRequest {
    /// Source: a name, or an existing concept's id.
    pub source: String,
    /// Target: a name, or an existing concept's id.
    pub target: String,
    /// Relation.
    pub kind: crate::graph::AssocType,
    /// Confidence in [0, 1].
    pub confidence: f32,
    /// Who asked.
    pub request_id: String,
    /// The client's `source` label, if any.
    pub label: Option<String>,
    /// The knowledge base.
    pub kb: String,
}

/// What a deletion or a forget removed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Removed {
    /// Sentence concepts deleted.
    pub sentences: u64,
    /// Entity concepts deleted (the one asked for, and those left with nothing).
    pub entities: u64,
    /// Associations deleted (no evidence left, or an end deleted).
    pub associations: u64,
    /// Pieces of evidence removed from associations that remain.
    pub evidence: u64,
    /// Concepts that keep other teachers and lost only this one.
    pub sources_forgotten: u64,
    /// Whether the removed text is gone from the data directory (checkpoints
    /// rewritten, old log segments and vector files dropped) when this reply was sent.
    pub erased_from_disk: bool,
}

/// What dropping a knowledge base removed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KbDropped {
    /// Its sizes just before the drop.
    pub dropped: KbStats,
    /// Whether its text is gone from the data directory (checkpoints rewritten, old
    /// log segments and vector files dropped) when this reply was sent.
    pub erased_from_disk: bool,
}

/// Messages of the learner actor.
#[derive(RactorMessage)]
pub enum LearnerMsg {
    /// Learn statements (one transaction).
    Learn {
        /// The statements.
        contents: Vec<String>,
        /// Options.
        options: LearnOptions,
        /// Who asked.
        request_id: String,
        /// The client's `source` label, if any.
        label: Option<String>,
        /// The knowledge base (created by its first learn).
        kb: String,
        /// Reply.
        reply: RpcReplyPort<Result<Learned, SutraError>>,
    },
    /// Store an association between entities.
    Associate(AssociateRequest, RpcReplyPort<Result<Learned, SutraError>>),
    /// Delete a concept of a knowledge base, every association touching it, and what was
    /// derived only from it.
    Delete(String, ConceptId, RpcReplyPort<Result<Removed, SutraError>>),
    /// Forget everything a teacher taught in a knowledge base and nobody else did.
    Forget(String, SourceKey, RpcReplyPort<Result<Removed, SutraError>>),
    /// Drop a whole knowledge base, durably.
    DropKb(String, RpcReplyPort<Result<KbDropped, SutraError>>),
}

/// A progress event of a reasoning query (streamed as SSE when asked for).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Progress {
    /// What the query is doing.
    pub stage: &'static str,
    /// Details for people.
    pub detail: String,
    /// Microseconds since the query started.
    pub elapsed_us: u64,
}

/// A reasoning request.
pub struct ReasonRequest {
    /// The question.
    pub question: String,
    /// The knowledge base to reason over (only its concepts are ever seen).
    pub kb: String,
    /// Paths to return.
    pub num_paths: usize,
    /// Longest path in hops.
    pub max_depth: usize,
    /// Absence of proof is `no` for the logic layer (default: open world, `unknown`).
    pub closed_world: bool,
    /// Where progress events go, if the client streams them.
    pub progress: Option<tokio::sync::mpsc::UnboundedSender<Progress>>,
}

/// Counters of the query sessions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QueryStats {
    /// Questions answered.
    pub completed: u64,
    /// Query sessions that crashed (each failed only its own request).
    pub failed: u64,
    /// Sessions running now.
    pub running: u64,
    /// Median time to answer in microseconds (last 1024).
    pub p50_us: u64,
    /// 99th percentile in microseconds (last 1024).
    pub p99_us: u64,
}

/// Messages of the `queries` supervisor.
#[derive(RactorMessage)]
pub enum QueriesMsg {
    /// Answer a question in a new query-session actor.
    Ask(
        ReasonRequest,
        RpcReplyPort<Result<crate::reason::Answer, SutraError>>,
    ),
    /// Counters.
    Stats(RpcReplyPort<QueryStats>),
}

/// Messages of one query-session actor.
#[derive(RactorMessage)]
pub enum QueryMsg {
    /// Start working (sent by the session to itself once started).
    Run,
}

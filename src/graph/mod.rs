//! The knowledge graph's data model: concepts, typed associations, deterministic ids,
//! shard placement, and the operations a shard's log records.
//!
//! Pure: no actors, no I/O. Everything here is serialized through
//! [`crate::protocol::codec`] into log records, checkpoints and messages.

pub mod assoc_list;
pub mod kb;
pub mod snapshot;

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

pub use kb::{KbTag, DEFAULT_KB};
pub use snapshot::{GraphSnapshot, KbCounts, Node, Record, SentenceCursor, TxId};

/// Index of a logical shard (0-based, `< cluster.shards`).
pub type ShardId = u32;

/// Milliseconds since the Unix epoch; assigned by the writer so replay is deterministic.
pub type Millis = u64;

/// `ms` as an RFC 3339 UTC time with milliseconds ("2026-11-29T22:50:37.120Z").
pub fn rfc3339(ms: Millis) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_millis(t).to_string()
}

/// Current wall-clock time in [`Millis`].
pub fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A node's learn clock: hands out strictly increasing learn times, so every learned
/// occurrence of a sentence has its own time and the order of learning is the order of
/// times (the reasoner orders facts by it: the same sentence learned twice in a story
/// is two moments). Reads the wall clock and runs ahead of it by at most as many
/// milliseconds as occurrences were learned within one millisecond.
#[derive(Debug, Default)]
pub struct LearnClock {
    last: std::sync::atomic::AtomicU64,
}

impl LearnClock {
    /// Reserves `n` consecutive times after every time handed out before, none earlier
    /// than now; returns the first.
    pub fn reserve(&self, n: u64) -> Millis {
        self.reserve_at(now_ms(), n)
    }

    /// [`LearnClock::reserve`] with the wall clock reading `now`.
    pub fn reserve_at(&self, now: Millis, n: u64) -> Millis {
        use std::sync::atomic::Ordering;
        let n = n.max(1);
        let mut last = self.last.load(Ordering::Relaxed);
        loop {
            let first = now.max(last + 1);
            match self.last.compare_exchange_weak(
                last,
                first + n - 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return first,
                Err(seen) => last = seen,
            }
        }
    }
}

/// A concept's id: a 64-bit hash of its kind and normalized content.
///
/// Invariant: the same (kind, normalized content) always yields the same id, on every
/// node and across versions, because xxh3 is a fixed algorithm (unlike std's hasher).
/// Learning the same content twice therefore lands on the same concept and reinforces it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ConceptId(pub u64);

impl ConceptId {
    /// The id of a concept of `kind` whose normalized content is `normalized`.
    pub fn derive(kind: ConceptKind, normalized: &str) -> Self {
        let tag: &[u8] = match kind {
            ConceptKind::Sentence => b"s\0",
            ConceptKind::Entity => b"e\0",
        };
        let mut buf = Vec::with_capacity(tag.len() + normalized.len());
        buf.extend_from_slice(tag);
        buf.extend_from_slice(normalized.as_bytes());
        ConceptId(xxhash_rust::xxh3::xxh3_64(&buf))
    }

    /// The id of a concept of `kind` whose normalized content is `normalized`, in the
    /// knowledge base `kb`.
    ///
    /// Invariant: the `default` knowledge base keeps exactly the ids of
    /// [`ConceptId::derive`] (data written before knowledge bases existed is the
    /// `default` one, unchanged); every other knowledge base hashes its name in with a
    /// different tag byte, so the same content in two knowledge bases is two concepts.
    pub fn derive_in(kb: &str, kind: ConceptKind, normalized: &str) -> Self {
        if kb == DEFAULT_KB {
            return Self::derive(kind, normalized);
        }
        let tag: &[u8] = match kind {
            ConceptKind::Sentence => b"s\x01",
            ConceptKind::Entity => b"e\x01",
        };
        let mut buf = Vec::with_capacity(tag.len() + kb.len() + 1 + normalized.len());
        buf.extend_from_slice(tag);
        buf.extend_from_slice(kb.as_bytes());
        // Names never hold NUL (see kb::validate), so "a" + "\0b c" and "a\0b" + " c"
        // cannot meet.
        buf.push(0);
        buf.extend_from_slice(normalized.as_bytes());
        ConceptId(xxhash_rust::xxh3::xxh3_64(&buf))
    }

    /// The logical shard that owns this concept.
    pub fn shard(self, shards: u32) -> ShardId {
        jump_consistent_hash(self.0, shards)
    }
}

impl fmt::Display for ConceptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for ConceptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConceptId({self})")
    }
}

impl FromStr for ConceptId {
    type Err = String;
    /// Parses the 16-hex-digit form produced by `Display`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "'{s}' is not a concept id: ids are 16 hexadecimal digits, as returned by /v1/learn"
            ));
        }
        u64::from_str_radix(s, 16)
            .map(ConceptId)
            .map_err(|e| e.to_string())
    }
}

/// Jump consistent hash (Lamping & Veach 2014): maps a key to one of `buckets` so that
/// growing the bucket count moves only ~1/n of the keys.
pub fn jump_consistent_hash(mut key: u64, buckets: u32) -> u32 {
    assert!(buckets > 0, "a cluster has at least one shard");
    let (mut b, mut j): (i64, i64) = (-1, 0);
    while j < buckets as i64 {
        b = j;
        key = key.wrapping_mul(2862933555777941757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b as u32
}

/// Whether a concept is a whole statement or a thing named in statements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConceptKind {
    /// A learned statement ("The Eiffel Tower is in Paris.").
    Sentence,
    /// A named thing ("Eiffel Tower").
    Entity,
}

/// What a statement is about, as found by semantic analysis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SemanticType {
    /// A thing (the type of entity concepts).
    Entity,
    /// Something that happened.
    Event,
    /// A general rule ("all X are Y").
    Rule,
    /// Time and ordering.
    Temporal,
    /// Cause and effect.
    Causal,
    /// Numbers and amounts.
    Quantitative,
    /// What something is.
    Definitional,
    /// A denial ("X is not Y").
    Negation,
    /// Where something is.
    Spatial,
    /// What something can do.
    Capability,
    /// A property of something.
    Property,
    /// Not analysed (yet).
    #[default]
    Unclassified,
}

/// Who taught something: the request that carried it and the client's `source` label
/// (a document name, a file and line, any string), and when.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct Source {
    /// The id of the request that taught it.
    pub request_id: Option<String>,
    /// The client's label for where it came from (`"source"` of a learn).
    pub label: Option<String>,
    /// When it was taught.
    pub at_ms: Millis,
}

impl Source {
    /// Whether this teacher is the one `key` names.
    pub fn matches(&self, key: &SourceKey) -> bool {
        match key {
            SourceKey::Label(l) => self.label.as_deref() == Some(l.as_str()),
            SourceKey::Request(r) => self.request_id.as_deref() == Some(r.as_str()),
        }
    }

    /// Whether `other` is the same teacher: the same label, or (both unlabelled) the
    /// same request. Repeated teaching by the same teacher is kept once.
    pub fn same_teacher(&self, other: &Source) -> bool {
        match (&self.label, &other.label) {
            (Some(a), Some(b)) => a == b,
            (None, None) => self.request_id == other.request_id,
            _ => false,
        }
    }
}

/// Names a teacher to forget: every learn with this `source` label, or the one request
/// with this id (for learns that carried no label).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SourceKey {
    /// The client's `source` label.
    Label(String),
    /// A request id.
    Request(String),
}

impl fmt::Display for SourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceKey::Label(l) => write!(f, "source '{l}'"),
            SourceKey::Request(r) => write!(f, "request '{r}'"),
        }
    }
}

/// A node of the graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Concept {
    /// Deterministic id (see [`ConceptId`]).
    pub id: ConceptId,
    /// The content as first written (display form).
    pub content: String,
    /// Sentence or entity.
    pub kind: ConceptKind,
    /// Semantic type.
    pub semantic_type: SemanticType,
    /// Accumulated weight of evidence; repeated learning raises it.
    pub strength: f32,
    /// Belief in [0, 1]; repeated evidence raises it (noisy-or).
    pub confidence: f32,
    /// How many times it was learned.
    pub evidence: u32,
    /// Whether the concept has an embedding in its shard's vector index (the vector
    /// itself lives only there and in the log, not in the snapshot).
    pub has_vector: bool,
    /// When it was first learned.
    pub created_ms: Millis,
    /// When it was last reinforced.
    pub updated_ms: Millis,
    /// Every teacher of a sentence concept, oldest first (one entry per label, or per
    /// request for unlabelled learns). Entities have none of their own: they exist
    /// because associations and sentences name them.
    pub sources: Vec<Source>,
}

/// The relation an association expresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssocType {
    /// "A poodle is a kind of dog."
    IsA,
    /// "The wheel is part of the car."
    PartOf,
    /// "Paris is in France."
    LocatedIn,
    /// "Smoking causes cancer."
    Causes,
    /// "The Renaissance happened before the Industrial Revolution."
    Precedes,
    /// "Snow is white."
    HasProperty,
    /// "Birds can fly."
    CapableOf,
    /// Any other link.
    RelatedTo,
    /// A sentence concept mentions an entity (provenance link).
    Mentions,
}

impl AssocType {
    /// Every type, for validation messages.
    pub const ALL: [AssocType; 9] = [
        AssocType::IsA,
        AssocType::PartOf,
        AssocType::LocatedIn,
        AssocType::Causes,
        AssocType::Precedes,
        AssocType::HasProperty,
        AssocType::CapableOf,
        AssocType::RelatedTo,
        AssocType::Mentions,
    ];

    /// The wire name (`is_a`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            AssocType::IsA => "is_a",
            AssocType::PartOf => "part_of",
            AssocType::LocatedIn => "located_in",
            AssocType::Causes => "causes",
            AssocType::Precedes => "precedes",
            AssocType::HasProperty => "has_property",
            AssocType::CapableOf => "capable_of",
            AssocType::RelatedTo => "related_to",
            AssocType::Mentions => "mentions",
        }
    }
}

impl FromStr for AssocType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AssocType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = AssocType::ALL.iter().map(|t| t.as_str()).collect();
                format!(
                    "unknown association type '{s}'; use one of: {}",
                    names.join(", ")
                )
            })
    }
}

/// A typed, directed edge `source --kind--> target`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Association {
    /// Where the edge starts.
    pub source: ConceptId,
    /// Where it ends.
    pub target: ConceptId,
    /// The relation.
    pub kind: AssocType,
    /// Negative evidence ("Paris is not in Germany"): never chained as a positive edge.
    pub negated: bool,
    /// Belief in [0, 1] (noisy-or over evidence).
    pub confidence: f32,
    /// Accumulated weight of evidence.
    pub strength: f32,
    /// How many times it was asserted.
    pub evidence: u32,
    /// Everything it rests on, oldest first: each sentence it was read from and each
    /// direct statement of it. `confidence`, `strength` and `evidence` are recomputed
    /// from this list whenever an entry goes (deletion, forgetting).
    pub provenance: Vec<Evidence>,
    /// When first asserted.
    pub created_ms: Millis,
    /// When last reinforced.
    pub updated_ms: Millis,
}

/// Where one piece of an association's evidence comes from.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EvidenceFrom {
    /// Read from this sentence concept (its text and teachers are on the concept).
    Sentence(ConceptId),
    /// Stated directly through `/v1/associations` by this teacher.
    Direct(Source),
}

impl EvidenceFrom {
    /// Whether this is the same origin as `other` (same sentence, or the same teacher
    /// of a direct statement), so repeated evidence reinforces one entry.
    pub fn same_origin(&self, other: &EvidenceFrom) -> bool {
        match (self, other) {
            (EvidenceFrom::Sentence(a), EvidenceFrom::Sentence(b)) => a == b,
            (EvidenceFrom::Direct(a), EvidenceFrom::Direct(b)) => a.same_teacher(b),
            _ => false,
        }
    }
}

/// One piece of evidence for an association.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// Where it comes from.
    pub from: EvidenceFrom,
    /// The confidence it contributes (noisy-or over its repetitions).
    pub confidence: f32,
    /// The strength it contributes (sum over its repetitions).
    pub strength: f32,
    /// How many times it was asserted.
    pub times: u32,
    /// When it was first asserted.
    pub at_ms: Millis,
}

/// Which evidence to remove from an association.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum EvidenceMatch {
    /// The evidence read from this sentence.
    Sentence(ConceptId),
    /// Direct statements by this teacher.
    Direct(SourceKey),
}

impl EvidenceMatch {
    /// Whether `e` is the evidence this names.
    pub fn matches(&self, e: &Evidence) -> bool {
        match (self, &e.from) {
            (EvidenceMatch::Sentence(a), EvidenceFrom::Sentence(b)) => a == b,
            (EvidenceMatch::Direct(k), EvidenceFrom::Direct(s)) => s.matches(k),
            _ => false,
        }
    }
}

impl Association {
    /// Its evidence strongest first (ties: oldest first), the order answers show it in.
    pub fn strongest_evidence(&self) -> Vec<&Evidence> {
        let mut order: Vec<&Evidence> = self.provenance.iter().collect();
        order.sort_by(|x, y| y.confidence.total_cmp(&x.confidence));
        order
    }

    /// Recomputes confidence, strength and the evidence count from `provenance`.
    pub fn recompute(&mut self) {
        self.confidence = self
            .provenance
            .iter()
            .fold(0.0, |c, e| combine_confidence(c, e.confidence));
        self.strength = self.provenance.iter().map(|e| e.strength).sum();
        self.evidence = self.provenance.iter().map(|e| e.times).sum();
    }
}

/// Which copy of an association a shard keeps: the source's shard keeps the outgoing
/// copy, the target's shard the incoming one, so either end can be walked locally.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Side {
    /// Stored under the source concept.
    Out,
    /// Stored under the target concept.
    In,
}

/// Create-or-reinforce a concept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConceptUpsert {
    /// Id (derived from kind + normalized content).
    pub id: ConceptId,
    /// Display content.
    pub content: String,
    /// Sentence or entity.
    pub kind: ConceptKind,
    /// Semantic type.
    pub semantic_type: SemanticType,
    /// Strength this evidence adds.
    pub strength: f32,
    /// Confidence of this evidence.
    pub confidence: f32,
    /// When.
    pub at_ms: Millis,
    /// Who taught it.
    pub source: Source,
    /// Its embedding (unit length), when learned with one.
    pub vector: Option<Vec<f32>>,
}

/// Create-or-reinforce one copy of an association.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EdgeUpsert {
    /// Which copy this is.
    pub side: Side,
    /// Source concept.
    pub source: ConceptId,
    /// Target concept.
    pub target: ConceptId,
    /// Relation.
    pub kind: AssocType,
    /// Negative evidence.
    pub negated: bool,
    /// Confidence of this evidence.
    pub confidence: f32,
    /// Strength this evidence adds.
    pub strength: f32,
    /// Where this evidence comes from.
    pub provenance: EvidenceFrom,
    /// When.
    pub at_ms: Millis,
}

/// One change to a shard's graph. Ops are the body of log records, so each must be
/// deterministic to replay: every time and value is carried in the op itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Op {
    /// Create or reinforce a concept.
    PutConcept(ConceptUpsert),
    /// Create or reinforce one copy of an association.
    PutEdge(EdgeUpsert),
    /// Remove a concept and every association copy stored under it on this shard.
    DeleteConcept(ConceptId),
    /// Remove one copy of an association (the other end's copy of a deleted concept's edge).
    DeleteEdge {
        /// Which copy.
        side: Side,
        /// Source concept.
        source: ConceptId,
        /// Target concept.
        target: ConceptId,
        /// Relation.
        kind: AssocType,
        /// Whether it is the negative-evidence edge.
        negated: bool,
    },
    /// Remove some evidence from one copy of an association; the copy goes when no
    /// evidence is left (deletion and forgetting reach derived knowledge).
    RemoveEvidence {
        /// Which copy.
        side: Side,
        /// Source concept.
        source: ConceptId,
        /// Target concept.
        target: ConceptId,
        /// Relation.
        kind: AssocType,
        /// Whether it is the negative-evidence edge.
        negated: bool,
        /// The evidence to remove.
        evidence: EvidenceMatch,
    },
    /// Remove a teacher from a concept's sources (forgetting a source that taught a
    /// sentence others taught too).
    ForgetSource {
        /// The concept.
        id: ConceptId,
        /// The teacher.
        key: SourceKey,
    },
    /// `op` (a [`Op::PutConcept`] or [`Op::PutEdge`]) in the named knowledge base `kb`:
    /// its home concept belongs to `kb`. Ops of the `default` knowledge base are never
    /// wrapped, so their records are byte for byte what they were before knowledge
    /// bases existed.
    ///
    /// Appended after the older variants: the encoding of those is unchanged.
    InKb {
        /// The knowledge base (a valid name, not `default`).
        kb: String,
        /// The op.
        op: Box<Op>,
    },
    /// Remove everything of one knowledge base this shard holds: concepts, association
    /// copies, vectors, index entries. Sent to every shard (see [`Op::home`]).
    DropKb(String),
}

impl Op {
    /// The concept under which this op's data is stored (decides the shard).
    pub fn home(&self) -> ConceptId {
        match self {
            Op::PutConcept(c) => c.id,
            Op::PutEdge(e) => match e.side {
                Side::Out => e.source,
                Side::In => e.target,
            },
            Op::DeleteConcept(id) => *id,
            Op::DeleteEdge {
                side,
                source,
                target,
                ..
            }
            | Op::RemoveEvidence {
                side,
                source,
                target,
                ..
            } => match side {
                Side::Out => *source,
                Side::In => *target,
            },
            Op::ForgetSource { id, .. } => *id,
            Op::InKb { op, .. } => op.home(),
            // A drop concerns every shard and is addressed to each one explicitly
            // (`TxnPlan::push_to`); this id only makes `home` total.
            Op::DropKb(kb) => ConceptId(KbTag::of(kb).0),
        }
    }

    /// Whether applying this op removes something (whose text must then leave the
    /// disk: see `ShardCore::erase`).
    pub fn removes(&self) -> bool {
        match self {
            Op::DeleteConcept(_)
            | Op::DeleteEdge { .. }
            | Op::RemoveEvidence { .. }
            | Op::ForgetSource { .. }
            | Op::DropKb(_) => true,
            Op::InKb { op, .. } => op.removes(),
            Op::PutConcept(_) | Op::PutEdge(_) => false,
        }
    }

    /// This op in knowledge base `kb`: unchanged for `default`, wrapped in
    /// [`Op::InKb`] otherwise.
    pub fn in_kb(self, kb: &str) -> Op {
        if kb == DEFAULT_KB {
            self
        } else {
            Op::InKb {
                kb: kb.to_string(),
                op: Box::new(self),
            }
        }
    }
}

/// Noisy-or: two independent pieces of evidence with beliefs `a` and `b`.
/// Capped below 1 so no amount of repetition makes a learned fact certain.
pub fn combine_confidence(a: f32, b: f32) -> f32 {
    (1.0 - (1.0 - a) * (1.0 - b)).min(0.999)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_and_kind_scoped() {
        let a = ConceptId::derive(ConceptKind::Entity, "paris");
        assert_eq!(a, ConceptId::derive(ConceptKind::Entity, "paris"));
        assert_ne!(a, ConceptId::derive(ConceptKind::Sentence, "paris"));
        assert_ne!(a, ConceptId::derive(ConceptKind::Entity, "pari"));
        // Fixed algorithm: this value must never change, or stored data loses its ids.
        assert_eq!(a.to_string().len(), 16);
        assert_eq!(a.to_string().parse::<ConceptId>().unwrap(), a);
    }

    #[test]
    fn ids_are_scoped_by_knowledge_base_and_default_keeps_old_ids() {
        let old = ConceptId::derive(ConceptKind::Sentence, "paris is in france");
        assert_eq!(
            ConceptId::derive_in(DEFAULT_KB, ConceptKind::Sentence, "paris is in france"),
            old
        );
        // The id of stored data must never change: this is the value every existing
        // data directory holds for this sentence.
        let mut buf = b"s\0".to_vec();
        buf.extend_from_slice(b"paris is in france");
        assert_eq!(old.0, xxhash_rust::xxh3::xxh3_64(&buf));
        let a = ConceptId::derive_in("story-1", ConceptKind::Sentence, "paris is in france");
        let b = ConceptId::derive_in("story-2", ConceptKind::Sentence, "paris is in france");
        assert_ne!(a, old);
        assert_ne!(a, b);
        assert_eq!(
            a,
            ConceptId::derive_in("story-1", ConceptKind::Sentence, "paris is in france")
        );
        assert_ne!(
            ConceptId::derive_in("a", ConceptKind::Entity, "b c"),
            ConceptId::derive_in("a b", ConceptKind::Entity, "c")
        );
    }

    #[test]
    fn ops_in_a_named_kb_are_wrapped_and_default_ops_are_not() {
        let op = Op::DeleteConcept(ConceptId(5));
        assert_eq!(op.clone().in_kb(DEFAULT_KB), op);
        let wrapped = op.clone().in_kb("k1");
        assert!(matches!(&wrapped, Op::InKb { kb, .. } if kb == "k1"));
        assert_eq!(wrapped.home(), ConceptId(5));
        assert!(wrapped.removes());
        // Old variants keep their encoding: the first variant's tag is still 0.
        let bytes = crate::protocol::codec::encode(&Op::DeleteConcept(ConceptId(1)));
        assert_eq!(bytes[0], 2, "DeleteConcept is the third variant, as before");
    }

    #[test]
    fn the_learn_clock_never_repeats_or_goes_back() {
        let clock = LearnClock::default();
        assert_eq!(clock.reserve_at(100, 3), 100); // 100, 101, 102
        assert_eq!(
            clock.reserve_at(100, 1),
            103,
            "same millisecond: after the last"
        );
        assert_eq!(
            clock.reserve_at(50, 2),
            104,
            "a clock step back changes nothing"
        );
        assert_eq!(
            clock.reserve_at(500, 1),
            500,
            "the wall clock leads when ahead"
        );
        assert_eq!(
            clock.reserve_at(500, 0),
            501,
            "an empty learn still moves it"
        );
    }

    #[test]
    fn id_parse_rejects_bad_input() {
        assert!("xyz".parse::<ConceptId>().is_err());
        assert!("00000000000000000".parse::<ConceptId>().is_err());
        assert!("000000000000000g".parse::<ConceptId>().is_err());
        assert_eq!(
            "00000000000000ff".parse::<ConceptId>().unwrap(),
            ConceptId(255)
        );
    }

    #[test]
    fn jump_hash_is_balanced_and_stable_under_growth() {
        let n = 40_000u64;
        let mut counts = [0u32; 4];
        let mut moved = 0;
        for k in 0..n {
            let key = xxhash_rust::xxh3::xxh3_64(&k.to_le_bytes());
            let s4 = jump_consistent_hash(key, 4);
            counts[s4 as usize] += 1;
            let s5 = jump_consistent_hash(key, 5);
            if s5 != s4 {
                assert_eq!(s5, 4, "growing only moves keys to the new shard");
                moved += 1;
            }
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "unbalanced: {counts:?}");
        }
        // ~1/5 of keys move when going from 4 to 5 shards.
        assert!((6_000..10_000).contains(&moved), "moved {moved}");
        assert_eq!(jump_consistent_hash(12345, 1), 0);
    }

    #[test]
    fn assoc_type_names_round_trip() {
        for t in AssocType::ALL {
            assert_eq!(t.as_str().parse::<AssocType>().unwrap(), t);
        }
        let err = "kind_of".parse::<AssocType>().unwrap_err();
        assert!(err.contains("is_a"), "{err}");
    }

    #[test]
    fn confidence_combines_and_stays_below_one() {
        let c = combine_confidence(0.5, 0.5);
        assert!((c - 0.75).abs() < 1e-6);
        let mut c = 0.9;
        for _ in 0..100 {
            c = combine_confidence(c, 0.9);
        }
        assert!(c < 1.0);
    }
}

//! Explainable reasoning over the graph (pure: no actors).
//!
//! `reason(view, question)`: parse the question ([`question`]), resolve the concepts it
//! names (exact normalized name first, then word-stem matching), search reasoning
//! paths best-first with per-hop confidence decay, cycle avoidance and a depth limit,
//! aggregate them by answer (multi-path aggregation, MPPA), apply the quality gate,
//! and build the answer text only from the paths.
//!
//! Chaining rules (what a path may be made of), per question:
//! - is-a: `is_a`+;   located/part-of: (`located_in` | `part_of`)+;
//!   causes: `causes`+;   precedes: `precedes`+;
//! - can / has-property: `is_a`* then exactly one `capable_of` / `has_property`
//!   (properties inherit down the is-a hierarchy, never up, never through part-of).
//!
//! Open-world: "no" only when learned negative evidence (a negated association)
//! contradicts the question; no path is "unknown", and the answer says what was found.

pub mod logic_bridge;
pub mod question;
pub mod remote;

use crate::graph::assoc_list::{AssocList, EMPTY};
use crate::graph::{
    AssocType, Association, Concept, ConceptId, ConceptKind, GraphSnapshot, KbTag, SentenceCursor,
    DEFAULT_KB,
};
pub use crate::learn::normalize::stems;
use crate::learn::normalize::{entity_key, stem_hash};
use question::Question;
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

/// The default longest path, in hops (also the default of `reasoning.max_depth`).
pub const MAX_DEPTH: usize = 64;

/// The largest `max_depth` a request or the configuration may ask for.
pub const MAX_DEPTH_LIMIT: usize = 256;

/// Tunables.
#[derive(Clone, Debug)]
pub struct ReasonConfig {
    /// Below this confidence the verdict is `unknown` (quality gate FAILED).
    pub gate: f32,
    /// Confidence multiplier per hop after the first, with the product of the edges, for
    /// relations that weaken along a path (causes, capable of, has property).
    pub decay: f32,
    /// Confidence multiplier per hop after the first of a transitive chain (is-a,
    /// part-of, located-in, precedes), whose confidence is its weakest link's.
    pub chain_decay: f32,
    /// Longest path, in hops: an optional limit. The default, [`MAX_DEPTH`], is deeper
    /// than any chain a question needs in practice, so a transitive chain is followed as
    /// deep as it goes; `max_expansions` and `deadline` bound the work.
    pub max_depth: usize,
    /// Paths to return.
    pub num_paths: usize,
    /// Partial paths explored at most (bounds the work of one question).
    pub max_expansions: usize,
    /// When searching must stop; paths found by then are still used.
    pub deadline: Option<std::time::Instant>,
    /// A mention no name matches resolves to the entity whose name embedding is at
    /// least this similar (cosine).
    pub resolve_similarity: f32,
}

impl Default for ReasonConfig {
    fn default() -> Self {
        ReasonConfig {
            gate: 0.1,
            decay: 0.95,
            chain_decay: 0.99,
            max_depth: MAX_DEPTH,
            num_paths: 3,
            max_expansions: 50_000,
            deadline: None,
            resolve_similarity: 0.86,
        }
    }
}

/// One shard as a [`GraphView`] reads it.
#[derive(Clone)]
pub enum ShardPart {
    /// The shard lives on this node: its whole published snapshot (the single-node
    /// fast path: no copying, no messages).
    Local(Arc<GraphSnapshot>),
    /// The shard lives on another node: the part of it the reasoner needs, fetched by
    /// message ([`remote::Reader`]).
    Remote(Arc<remote::RemotePart>),
}

impl ShardPart {
    /// The snapshot (for a remote shard, the nodes fetched so far).
    fn snap(&self) -> &GraphSnapshot {
        match self {
            ShardPart::Local(s) => s,
            ShardPart::Remote(r) => &r.snap,
        }
    }
}

/// A consistent read view over every shard's snapshot, taken once per question, of one
/// knowledge base: names resolve only to its concepts (and associations never leave a
/// knowledge base), so reasoning sees nothing of the others.
pub struct GraphView {
    shards: Vec<ShardPart>,
    /// The knowledge base's name.
    kb: String,
    /// Its tag (`None`: `default`).
    tag: Option<KbTag>,
    /// Entities matched to mentions by embedding similarity, by the mention's
    /// normalized key (computed by the query session, which can reach the embedders).
    similar: std::collections::HashMap<String, ConceptId>,
}

impl GraphView {
    /// A view of the `default` knowledge base over these snapshots (index = shard).
    pub fn new(shards: Vec<Arc<GraphSnapshot>>) -> Self {
        Self::in_kb(shards, DEFAULT_KB)
    }

    /// A view of knowledge base `kb` over these snapshots (index = shard).
    pub fn in_kb(shards: Vec<Arc<GraphSnapshot>>, kb: &str) -> Self {
        Self::from_parts(shards.into_iter().map(ShardPart::Local).collect(), kb)
    }

    /// A view of knowledge base `kb` over local and remote shards (index = shard).
    pub fn from_parts(shards: Vec<ShardPart>, kb: &str) -> Self {
        assert!(!shards.is_empty(), "a view needs at least one shard");
        GraphView {
            shards,
            kb: kb.to_string(),
            tag: KbTag::named(kb),
            similar: Default::default(),
        }
    }

    /// The knowledge base this view reads.
    pub fn kb(&self) -> &str {
        &self.kb
    }

    fn part(&self, id: ConceptId) -> &ShardPart {
        &self.shards[id.shard(self.shards.len() as u32) as usize]
    }

    /// Whether concept `id` belongs to this view's knowledge base.
    pub fn owns(&self, id: ConceptId) -> bool {
        match self.part(id) {
            ShardPart::Local(s) => s.in_kb(id, self.tag),
            // A remote sentence fetched for the logic layer is in the view's knowledge
            // base by construction.
            ShardPart::Remote(r) => {
                r.snap.in_kb(id, self.tag) || r.sentences.by_id.contains_key(&id)
            }
        }
    }

    /// Every sentence concept of this view's knowledge base, shard by shard. Costs what
    /// the knowledge base holds for a named one (each shard keeps its members as a
    /// range); `default` scans the shards.
    pub fn sentences(&self) -> impl Iterator<Item = &Arc<Concept>> + '_ {
        self.shards
            .iter()
            .flat_map(move |s| -> Box<dyn Iterator<Item = &Arc<Concept>> + '_> {
                match s {
                    ShardPart::Local(s) => Box::new(s.kb_sentences(&self.kb)),
                    ShardPart::Remote(r) => Box::new(r.sentences.by_id.values()),
                }
            })
    }

    /// Where the knowledge base's sentences on shard `shard` stand (see
    /// [`SentenceCursor`]).
    pub fn sentence_cursor(&self, shard: u32) -> SentenceCursor {
        match &self.shards[shard as usize] {
            ShardPart::Local(s) => s.sentence_cursor(self.tag),
            ShardPart::Remote(r) => r.sentences.cursor,
        }
    }

    /// The sentence concepts of this view's knowledge base on shard `shard` with an
    /// occurrence after log position `pos` (see [`GraphSnapshot::sentences_since`]).
    pub fn sentences_since(
        &self,
        shard: u32,
        pos: u64,
    ) -> Box<dyn Iterator<Item = &Arc<Concept>> + '_> {
        match &self.shards[shard as usize] {
            ShardPart::Local(s) => Box::new(s.sentences_since(self.tag, pos).map(|(_, c)| c)),
            ShardPart::Remote(r) => Box::new(r.sentences.since(pos)),
        }
    }

    /// Sentence concepts of this view's knowledge base (from each shard's counts: no
    /// scan).
    pub fn sentence_count(&self) -> usize {
        self.shards
            .iter()
            .map(|s| match s {
                ShardPart::Local(s) => s.kb_counts(&self.kb).sentences,
                ShardPart::Remote(r) => r.sentence_count,
            })
            .sum()
    }

    /// The knowledge base's version in this view: one number per shard (see
    /// [`crate::graph::KbCounts::version`]). Two views with equal versions see the
    /// same knowledge base, so a structure derived from it can be cached under
    /// (knowledge base, version).
    pub fn version(&self) -> Vec<u64> {
        self.shards
            .iter()
            .map(|s| match s {
                ShardPart::Local(s) => s.kb_version(&self.kb),
                ShardPart::Remote(r) => r.version,
            })
            .collect()
    }

    /// Adds a mention's match by embedding similarity (the last resort of
    /// [`GraphView::resolve`]).
    pub fn add_similar(&mut self, mention: &str, id: ConceptId) {
        self.similar.insert(entity_key(mention), id);
    }

    /// The entity matched to `text` by embedding similarity, if any.
    pub fn by_vector(&self, text: &str) -> Option<ConceptId> {
        self.similar
            .get(&entity_key(text))
            .copied()
            .filter(|id| self.concept(*id).is_some() && self.owns(*id))
    }

    /// Exact or stem match, without embeddings.
    pub fn resolve_by_name(&self, text: &str) -> Option<ConceptId> {
        self.exact(text).or_else(|| self.by_stems(text))
    }

    fn node(&self, id: ConceptId) -> Option<&crate::graph::Node> {
        self.part(id).snap().nodes.get(&id)
    }

    /// Number of shards in the view.
    pub fn shard_count(&self) -> u32 {
        self.shards.len() as u32
    }

    /// A concept by id.
    pub fn concept(&self, id: ConceptId) -> Option<&Arc<Concept>> {
        match self.part(id) {
            ShardPart::Local(s) => s.concept(id),
            ShardPart::Remote(r) => r.snap.concept(id).or_else(|| r.sentences.by_id.get(&id)),
        }
    }

    /// Outgoing associations of a concept.
    pub fn out(&self, id: ConceptId) -> &AssocList {
        self.node(id).map(|n| n.out()).unwrap_or(&EMPTY)
    }

    /// Incoming associations of a concept.
    pub fn inc(&self, id: ConceptId) -> &AssocList {
        self.node(id).map(|n| n.inc()).unwrap_or(&EMPTY)
    }

    /// Display name of a concept.
    pub fn name(&self, id: ConceptId) -> String {
        self.concept(id)
            .map(|c| c.content.clone())
            .unwrap_or_else(|| id.to_string())
    }

    /// The entity whose normalized name equals that of `text`.
    pub fn exact(&self, text: &str) -> Option<ConceptId> {
        let key = entity_key(text);
        if key.is_empty() {
            return None;
        }
        let id = ConceptId::derive_in(&self.kb, ConceptKind::Entity, &key);
        self.concept(id).filter(|_| self.owns(id)).map(|_| id)
    }

    /// The entity whose words have the same stems as `text` ("roads closed" ->
    /// "road closures"); `None` unless exactly one entity matches best. Looks the stems
    /// up in each shard's stem index, so the cost does not grow with the graph.
    pub fn by_stems(&self, text: &str) -> Option<ConceptId> {
        let want = stems(text);
        let hash = KbTag::stem_key(self.tag, stem_hash(&want)?);
        let mut best: Option<(ConceptId, usize)> = None;
        let mut tie = false;
        for shard in self.shards.iter().map(ShardPart::snap) {
            for id in shard
                .stems
                .get(&hash)
                .into_iter()
                .flat_map(|ids| ids.iter())
            {
                let Some(c) = shard.concept(*id) else {
                    continue;
                };
                // Equal hashes can still be different stems (or, however unlikely,
                // another knowledge base's key).
                if c.kind != ConceptKind::Entity
                    || stems(&c.content) != want
                    || !shard.in_kb(*id, self.tag)
                {
                    continue;
                }
                let score = c.content.len();
                match best {
                    Some((_, s)) if s == score => tie = true,
                    Some((_, s)) if s < score => {}
                    _ => {
                        best = Some((*id, score));
                        tie = false;
                    }
                }
            }
        }
        if tie {
            None
        } else {
            best.map(|b| b.0)
        }
    }

    /// Exact, then stem matching, then embedding similarity.
    pub fn resolve(&self, text: &str) -> Option<ConceptId> {
        self.resolve_by_name(text).or_else(|| self.by_vector(text))
    }

    /// The evidence of an association as auditors read it: at most `shown` entries
    /// (strongest first), each sentence with its text and teacher.
    pub fn evidence(&self, a: &Association, shown: usize) -> Vec<EvidenceOut> {
        a.strongest_evidence()
            .into_iter()
            .take(shown)
            .map(|e| EvidenceOut::new(e, |id| self.concept(id).map(|c| &**c)))
            .collect()
    }
}

/// Evidence entries shown per edge in an answer; the rest are paged through
/// `GET /v1/evidence` (the edge's `source_count` says how many there are).
pub const EVIDENCE_SHOWN: usize = 16;

/// One piece of an edge's evidence, as shown to clients (SPEC §9 edge `sources`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvidenceOut {
    /// `sentence` (read from a learned sentence) or `direct` (stated through
    /// `/v1/associations`).
    pub kind: &'static str,
    /// The sentence concept's id (`null` for a direct statement).
    pub id: Option<String>,
    /// The sentence's text (`null` for a direct statement).
    pub text: Option<String>,
    /// When it was first learned (RFC 3339, UTC).
    pub learned_at: String,
    /// The client's `source` label of its first teacher, if it gave one.
    pub source: Option<String>,
    /// The request that first taught it.
    pub request_id: Option<String>,
    /// The confidence it contributes to the edge.
    pub confidence: f32,
    /// How many times it was asserted.
    pub times: u32,
}

impl EvidenceOut {
    /// Describes `e`, looking sentence concepts up through `concept`.
    pub fn new<'a>(
        e: &crate::graph::Evidence,
        concept: impl Fn(ConceptId) -> Option<&'a Concept>,
    ) -> Self {
        match &e.from {
            crate::graph::EvidenceFrom::Sentence(id) => {
                let c = concept(*id);
                let teacher = c.and_then(|c| c.sources.first());
                EvidenceOut {
                    kind: "sentence",
                    id: Some(id.to_string()),
                    text: c.map(|c| c.content.clone()),
                    learned_at: crate::graph::rfc3339(c.map_or(e.at_ms, |c| c.created_ms)),
                    source: teacher.and_then(|t| t.label.clone()),
                    request_id: teacher.and_then(|t| t.request_id.clone()),
                    confidence: e.confidence,
                    times: e.times,
                }
            }
            crate::graph::EvidenceFrom::Direct(t) => EvidenceOut {
                kind: "direct",
                id: None,
                text: None,
                learned_at: crate::graph::rfc3339(e.at_ms),
                source: t.label.clone(),
                request_id: t.request_id.clone(),
                confidence: e.confidence,
                times: e.times,
            },
        }
    }
}

/// One step of a path.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PathEdge {
    /// Relation.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Negative evidence ("is not").
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub negated: bool,
    /// This edge's confidence.
    pub confidence: f32,
    /// Its evidence, strongest first (at most [`EVIDENCE_SHOWN`]).
    pub sources: Vec<EvidenceOut>,
    /// How many pieces of evidence it has in all.
    pub source_count: usize,
    /// Where the full list is paged (`GET /v1/evidence?...`).
    pub evidence_url: String,
}

/// A concept on a path.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PathConcept {
    /// Concept id.
    pub id: String,
    /// Display name.
    pub name: String,
}

/// A reasoning path: concepts joined by edges.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReasonPath {
    /// Concepts in order.
    pub concepts: Vec<PathConcept>,
    /// Edges between them (one fewer than concepts).
    pub edges: Vec<PathEdge>,
    /// The path's confidence: its weakest link's with a mild decay per hop for
    /// transitive chains, the product with decay for relations that weaken (see
    /// `hop_conf`).
    pub confidence: f32,
}

/// A ranked answer other than the consensus.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Alternative {
    /// The answer.
    pub answer: String,
    /// Its aggregated confidence.
    pub confidence: f32,
    /// Its best path, so the alternative can be audited like the answer.
    pub path: Option<ReasonPath>,
}

/// The verdict of a question.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Supported by a path.
    Yes,
    /// Contradicted by learned negative evidence.
    No,
    /// Not enough evidence.
    Unknown,
    /// An open question was answered.
    Answer,
}

/// A reasoned answer (SPEC §9 `/v1/reason`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Answer {
    /// Text built only from the paths.
    pub answer: String,
    /// Verdict.
    pub verdict: Verdict,
    /// Confidence of the verdict.
    pub confidence: f32,
    /// "PASSED" or "FAILED".
    pub quality_gate: &'static str,
    /// Supporting paths, best first.
    pub paths: Vec<ReasonPath>,
    /// Other answers, ranked.
    pub alternatives: Vec<Alternative>,
    /// The logic layer's proof tree, when it answered (see [`logic_bridge`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proof: Option<logic_bridge::ProofOut>,
}

/// A path under construction: concept ids and the edges between them.
#[derive(Clone)]
struct Walk {
    nodes: Vec<ConceptId>,
    edges: Vec<Association>,
    /// The confidence reported and gated (see `hop_conf`).
    conf: f32,
    /// What the search orders by: the product of the edges with decay per hop, so a
    /// direct fact ranks above a longer chain of stronger ones.
    rank: f32,
}

impl PartialEq for Walk {
    fn eq(&self, o: &Self) -> bool {
        self.rank == o.rank
    }
}
impl Eq for Walk {}
impl PartialOrd for Walk {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Walk {
    fn cmp(&self, o: &Self) -> Ordering {
        // Best rank first; among equals, shorter first.
        self.rank
            .total_cmp(&o.rank)
            .then_with(|| o.nodes.len().cmp(&self.nodes.len()))
    }
}

/// Which edges a path for `relation` may use next, given the kinds used so far
/// (`None`: any association except provenance links).
fn may_step(relation: Option<AssocType>, used: &[AssocType], next: AssocType) -> bool {
    use AssocType::*;
    let Some(relation) = relation else {
        return next != Mentions;
    };
    match relation {
        LocatedIn | PartOf => matches!(next, LocatedIn | PartOf),
        CapableOf | HasProperty => !used.contains(&relation) && (next == IsA || next == relation),
        r => next == r,
    }
}

/// Whether a path with these kinds answers `relation`.
fn complete(relation: Option<AssocType>, used: &[AssocType]) -> bool {
    match relation {
        Some(r @ (AssocType::CapableOf | AssocType::HasProperty)) => used.last() == Some(&r),
        _ => !used.is_empty(),
    }
}

/// A path's confidence after one more edge of `kind` with confidence `edge`.
///
/// A chain of a transitive relation (is-a, part-of, located-in, precedes) is as strong as
/// its weakest link, with a mild decay per hop so shorter chains rank first: each link is
/// a stated fact, and a deduction from stated facts does not grow less true with every
/// step (under a product, a 32-hop chain of 0.81 facts would read 0.0012 and answer
/// "I don't know" although every step was learned). Other relations (causes, can, has a
/// property) weaken along the path: their product with [`ReasonConfig::decay`] per hop.
fn hop_conf(cfg: &ReasonConfig, conf: f32, hops: usize, edge: f32, kind: AssocType) -> f32 {
    if hops == 0 {
        edge
    } else if matches!(
        kind,
        AssocType::IsA | AssocType::PartOf | AssocType::LocatedIn | AssocType::Precedes
    ) {
        conf.min(edge) * cfg.chain_decay
    } else {
        conf * edge * cfg.decay
    }
}

/// A path's rank after one more edge: the product of the edges with decay per hop.
fn hop_rank(cfg: &ReasonConfig, rank: f32, hops: usize, edge: f32) -> f32 {
    if hops == 0 {
        edge
    } else {
        rank * edge * cfg.decay
    }
}

/// Best-first search for up to `k` positive paths from `from` for `relation`, ending at
/// `to` (or anywhere complete when `to` is None), at most `depth` hops.
fn search(
    view: &GraphView,
    cfg: &ReasonConfig,
    relation: Option<AssocType>,
    from: ConceptId,
    to: Option<ConceptId>,
    depth: usize,
    k: usize,
) -> Vec<Walk> {
    let mut heap = BinaryHeap::new();
    heap.push(Walk {
        nodes: vec![from],
        edges: vec![],
        conf: 1.0,
        rank: 1.0,
    });
    let mut found = Vec::new();
    // How often each concept has been expanded: k diverse paths need at most k each.
    let mut expanded: HashMap<ConceptId, usize> = HashMap::new();
    let mut budget = cfg.max_expansions;
    while let Some(walk) = heap.pop() {
        let at = *walk.nodes.last().expect("walks are never empty");
        let used: Vec<AssocType> = walk.edges.iter().map(|e| e.kind).collect();
        if complete(relation, &used) && to.is_none_or(|t| t == at) {
            found.push(walk.clone());
            if found.len() >= k {
                break;
            }
            if to.is_some() {
                continue;
            }
        }
        if walk.edges.len() >= depth || budget == 0 {
            continue;
        }
        // Checked every 256 expansions: Instant::now() is cheap but not free.
        if budget.is_multiple_of(256)
            && cfg.deadline.is_some_and(|d| std::time::Instant::now() >= d)
        {
            tracing::warn!(
                expanded = cfg.max_expansions - budget,
                "reasoning deadline reached; answering from the paths found so far"
            );
            break;
        }
        let n = expanded.entry(at).or_default();
        if *n >= k {
            continue;
        }
        *n += 1;
        budget -= 1;
        for e in view.out(at) {
            if e.negated || !may_step(relation, &used, e.kind) || walk.nodes.contains(&e.target) {
                continue;
            }
            let mut next = walk.clone();
            next.conf = hop_conf(cfg, walk.conf, walk.edges.len(), e.confidence, e.kind);
            next.rank = hop_rank(cfg, walk.rank, walk.edges.len(), e.confidence);
            next.nodes.push(e.target);
            next.edges.push(e.clone());
            heap.push(next);
        }
    }
    found
}

/// Negative evidence that `from --relation--> to` does not hold: a negated edge from
/// `from` (or, for inherited relations, from one of its is-a ancestors) to `to`.
fn negative(
    view: &GraphView,
    cfg: &ReasonConfig,
    relation: AssocType,
    from: ConceptId,
    to: ConceptId,
) -> Option<Walk> {
    let kinds: &[AssocType] = match relation {
        AssocType::LocatedIn | AssocType::PartOf => &[AssocType::LocatedIn, AssocType::PartOf],
        _ => std::slice::from_ref(&relation),
    };
    let direct = |at: ConceptId| {
        view.out(at)
            .iter()
            .find(|e| e.negated && e.target == to && kinds.contains(&e.kind))
            .cloned()
    };
    let mut starts = vec![Walk {
        nodes: vec![from],
        edges: vec![],
        conf: 1.0,
        rank: 1.0,
    }];
    if matches!(relation, AssocType::CapableOf | AssocType::HasProperty) {
        // Inherited: the ancestors' negatives apply (most specific first).
        starts.extend(search(
            view,
            cfg,
            Some(AssocType::IsA),
            from,
            None,
            cfg.max_depth,
            8,
        ));
    }
    starts
        .into_iter()
        .filter_map(|w| {
            let at = *w.nodes.last()?;
            let e = direct(at)?;
            let mut w = w.clone();
            w.conf = hop_conf(cfg, w.conf, w.edges.len(), e.confidence, e.kind);
            w.rank = hop_rank(cfg, w.rank, w.edges.len(), e.confidence);
            w.nodes.push(to);
            w.edges.push(e);
            Some(w)
        })
        .max()
}

fn phrase(kind: AssocType, negated: bool) -> &'static str {
    use AssocType::*;
    match (kind, negated) {
        (IsA, false) => "is a kind of",
        (IsA, true) => "is not a kind of",
        (LocatedIn, false) => "is in",
        (LocatedIn, true) => "is not in",
        (PartOf, false) => "is part of",
        (PartOf, true) => "is not part of",
        (Causes, false) => "causes",
        (Causes, true) => "does not cause",
        (Precedes, false) => "comes before",
        (Precedes, true) => "does not come before",
        (CapableOf, false) => "can",
        (CapableOf, true) => "cannot",
        (HasProperty, false) => "is",
        (HasProperty, true) => "is not",
        (RelatedTo, false) | (Mentions, false) => "is related to",
        (RelatedTo, true) | (Mentions, true) => "is not related to",
    }
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// "Poodle is a kind of dog, which is a kind of mammal."
fn sentence(view: &GraphView, w: &Walk) -> String {
    let mut s = capitalized(&view.name(w.nodes[0]));
    for (i, e) in w.edges.iter().enumerate() {
        if i > 0 {
            s.push_str(", which");
        }
        s.push(' ');
        s.push_str(phrase(e.kind, e.negated));
        s.push(' ');
        s.push_str(&view.name(w.nodes[i + 1]));
    }
    s.push('.');
    s
}

/// "Road closures are caused by flooding, which is caused by heavy rain."
fn backward_sentence(view: &GraphView, nodes: &[ConceptId]) -> String {
    let mut s = capitalized(&view.name(nodes[0]));
    for (i, n) in nodes[1..].iter().enumerate() {
        s.push_str(if i == 0 {
            " is caused by "
        } else {
            ", which is caused by "
        });
        s.push_str(&view.name(*n));
    }
    s.push('.');
    s
}

/// The `GET /v1/evidence` query that pages `a`'s whole evidence list.
pub fn evidence_url(a: &Association) -> String {
    format!(
        "/v1/evidence?source={}&target={}&type={}{}",
        a.source,
        a.target,
        a.kind.as_str(),
        if a.negated { "&negated=true" } else { "" }
    )
}

fn to_path(view: &GraphView, w: &Walk) -> ReasonPath {
    ReasonPath {
        concepts: w
            .nodes
            .iter()
            .map(|id| PathConcept {
                id: id.to_string(),
                name: view.name(*id),
            })
            .collect(),
        edges: w
            .edges
            .iter()
            .map(|e| PathEdge {
                kind: e.kind.as_str(),
                negated: e.negated,
                confidence: e.confidence,
                sources: view.evidence(e, EVIDENCE_SHOWN),
                source_count: e.provenance.len(),
                evidence_url: evidence_url(e),
            })
            .collect(),
        confidence: w.conf,
    }
}

fn unknown(answer: String) -> Answer {
    Answer {
        answer,
        verdict: Verdict::Unknown,
        confidence: 0.0,
        quality_gate: "FAILED",
        proof: None,
        paths: vec![],
        alternatives: vec![],
    }
}

/// The names a question mentions (every candidate split), for resolving them by
/// embedding similarity before reasoning; empty if it does not parse.
pub fn mentions(text: &str) -> Vec<String> {
    match question::parse(text) {
        Ok(Question::Check { splits, .. }) => {
            let mut names: Vec<String> = splits.into_iter().flat_map(|(s, o)| [s, o]).collect();
            names.dedup();
            names
        }
        Ok(Question::Open { subject, .. }) | Ok(Question::About { subject }) => vec![subject],
        Err(_) => Vec::new(),
    }
}

/// Answers a question from a graph view.
pub fn reason(view: &GraphView, cfg: &ReasonConfig, text: &str) -> Answer {
    match question::parse(text) {
        Err(e) => unknown(format!("I don't know: {e}.")),
        Ok(Question::Check { relation, splits }) => check(view, cfg, relation, &splits),
        Ok(Question::Open {
            relation,
            inverse,
            subject,
        }) => open(view, cfg, relation, inverse, &subject),
        Ok(Question::About { subject }) => about(view, &subject),
    }
}

fn check(
    view: &GraphView,
    cfg: &ReasonConfig,
    relation: AssocType,
    splits: &[(String, String)],
) -> Answer {
    // The first split whose both names resolve; exact matches are preferred to stems.
    let pick = |resolve: &dyn Fn(&str) -> Option<ConceptId>| {
        splits
            .iter()
            .find_map(|(s, o)| Some((resolve(s)?, resolve(o)?)))
    };
    let Some((from, to)) = pick(&|t| view.exact(t))
        .or_else(|| pick(&|t| view.resolve_by_name(t)))
        .or_else(|| pick(&|t| view.resolve(t)))
    else {
        let (s, o) = &splits[0];
        let missing: Vec<&str> = [s.as_str(), o.as_str()]
            .into_iter()
            .filter(|t| view.resolve(t).is_none())
            .collect();
        return unknown(if missing.is_empty() {
            format!(
                "I don't know: I could not match the question to what I know about {s} and {o}."
            )
        } else {
            format!("I don't know anything about {}.", missing.join(" or "))
        });
    };
    // An is-a question may also be a property question ("Are dogs friendly?").
    let relations: Vec<AssocType> = match relation {
        AssocType::IsA if splits.len() == 1 => vec![AssocType::IsA, AssocType::HasProperty],
        r => vec![r],
    };
    let mut walks: Vec<Walk> = relations
        .iter()
        .flat_map(|r| {
            search(
                view,
                cfg,
                Some(*r),
                from,
                Some(to),
                cfg.max_depth,
                cfg.num_paths,
            )
        })
        .collect();
    walks.sort_by(|a, b| b.cmp(a));
    walks.truncate(cfg.num_paths);
    let neg = relations
        .iter()
        .filter_map(|r| negative(view, cfg, *r, from, to))
        .max();
    let best = walks.first().map(|w| w.conf).unwrap_or(0.0);
    match (walks.first(), neg) {
        (_, Some(n)) if n.conf >= best && n.conf >= cfg.gate => Answer {
            answer: format!("No. {}", sentence(view, &n)),
            verdict: Verdict::No,
            confidence: n.conf,
            quality_gate: "PASSED",
            proof: None,
            alternatives: walks
                .first()
                .map(|w| Alternative {
                    answer: format!("Yes. {}", sentence(view, w)),
                    confidence: w.conf,
                    path: Some(to_path(view, w)),
                })
                .into_iter()
                .collect(),
            paths: std::iter::once(&n)
                .chain(&walks)
                .map(|w| to_path(view, w))
                .collect(),
        },
        (Some(w), neg) if w.conf >= cfg.gate => Answer {
            answer: format!("Yes. {}", sentence(view, w)),
            verdict: Verdict::Yes,
            confidence: w.conf,
            quality_gate: "PASSED",
            proof: None,
            alternatives: neg
                .iter()
                .map(|n| Alternative {
                    answer: format!("No. {}", sentence(view, n)),
                    confidence: n.conf,
                    path: Some(to_path(view, n)),
                })
                .collect(),
            paths: walks.iter().map(|w| to_path(view, w)).collect(),
        },
        (Some(w), _) => Answer {
            answer: format!(
                "I don't know: the only evidence is weak ({:.2}, below the quality gate): {}",
                w.conf,
                sentence(view, w)
            ),
            paths: walks.iter().map(|w| to_path(view, w)).collect(),
            ..unknown(String::new())
        },
        (None, _) => {
            // Say what was found nearest: the subject's own links of that kind.
            let near = search(view, cfg, Some(relation), from, None, 1, 1);
            let what = near
                .first()
                .map(|w| format!(" What I know: {}", sentence(view, w)))
                .unwrap_or_default();
            unknown(format!(
                "I don't know whether {} {} {}.{what}",
                view.name(from),
                phrase(relation, false),
                view.name(to)
            ))
        }
    }
}

fn open(
    view: &GraphView,
    cfg: &ReasonConfig,
    relation: AssocType,
    inverse: bool,
    subject: &str,
) -> Answer {
    let Some(from) = view.resolve(subject) else {
        return unknown(format!("I don't know anything about {subject}."));
    };
    // Candidate answers: one-hop neighbours by the relation (inherited for can/is).
    let kinds: &[AssocType] = match relation {
        AssocType::LocatedIn => &[AssocType::LocatedIn, AssocType::PartOf],
        _ => std::slice::from_ref(&relation),
    };
    let edges: Vec<Walk> = if inverse {
        view.inc(from)
            .iter()
            .filter(|e| !e.negated && kinds.contains(&e.kind))
            .map(|e| Walk {
                nodes: vec![from, e.source],
                edges: vec![e.clone()],
                conf: e.confidence,
                rank: e.confidence,
            })
            .collect()
    } else if relation == AssocType::CapableOf {
        search(view, cfg, Some(relation), from, None, cfg.max_depth, 16)
    } else {
        view.out(from)
            .iter()
            .filter(|e| !e.negated && kinds.contains(&e.kind))
            .map(|e| Walk {
                nodes: vec![from, e.target],
                edges: vec![e.clone()],
                conf: e.confidence,
                rank: e.confidence,
            })
            .collect()
    };
    // MPPA: cluster by answer concept, vote by confidence weighted by evidence.
    let mut votes: HashMap<ConceptId, (f32, Walk)> = HashMap::new();
    for w in edges {
        let answer = *w.nodes.last().expect("non-empty");
        let weight = w.conf
            * (1.0
                + w.edges
                    .last()
                    .map(|e| e.evidence as f32)
                    .unwrap_or(1.0)
                    .ln());
        let entry = votes.entry(answer).or_insert((0.0, w.clone()));
        entry.0 += weight;
        if w.rank > entry.1.rank {
            entry.1 = w;
        }
    }
    let mut ranked: Vec<(ConceptId, f32, Walk)> =
        votes.into_iter().map(|(a, (v, w))| (a, v, w)).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let Some((_, _, best)) = ranked.first().cloned() else {
        if relation == AssocType::IsA {
            return about(view, subject);
        }
        return unknown(format!(
            "I don't know: I know of {} but nothing about {}.",
            view.name(from),
            match (relation, inverse) {
                (AssocType::LocatedIn, _) => "where it is",
                (AssocType::Causes, true) => "what causes it",
                (AssocType::CapableOf, _) => "what it can do",
                _ => "that",
            }
        ));
    };
    if best.conf < cfg.gate {
        return Answer {
            paths: vec![to_path(view, &best)],
            ..unknown(format!(
                "I don't know: the only evidence is weak ({:.2}).",
                best.conf
            ))
        };
    }
    // Extend the consensus along the same relation for the full chain.
    let text = if inverse {
        let mut nodes = vec![from, *best.nodes.last().expect("non-empty")];
        while nodes.len() <= cfg.max_depth {
            let at = *nodes.last().expect("non-empty");
            let next = view
                .inc(at)
                .iter()
                .filter(|e| !e.negated && kinds.contains(&e.kind) && !nodes.contains(&e.source))
                .max_by(|a, b| a.confidence.total_cmp(&b.confidence));
            match next {
                Some(e) => nodes.push(e.source),
                None => break,
            }
        }
        backward_sentence(view, &nodes)
    } else if matches!(
        relation,
        AssocType::IsA | AssocType::LocatedIn | AssocType::PartOf
    ) {
        let chain = search(view, cfg, Some(relation), from, None, cfg.max_depth, 64)
            .into_iter()
            .filter(|w| w.nodes.get(1) == best.nodes.get(1))
            .max_by_key(|w| w.nodes.len())
            .unwrap_or_else(|| best.clone());
        sentence(view, &chain)
    } else {
        sentence(view, &best)
    };
    let total: f32 = ranked.iter().map(|r| r.1).sum();
    Answer {
        answer: text,
        verdict: Verdict::Answer,
        confidence: best.conf * (ranked[0].1 / total).max(0.5),
        quality_gate: "PASSED",
        proof: None,
        paths: ranked
            .iter()
            .take(cfg.num_paths.max(1))
            .map(|r| to_path(view, &r.2))
            .collect(),
        alternatives: ranked[1..]
            .iter()
            .map(|(a, v, w)| Alternative {
                answer: view.name(*a),
                confidence: w.conf * (v / total),
                path: Some(to_path(view, w)),
            })
            .collect(),
    }
}

/// The raw path API: up to `cfg.num_paths` paths from `from` to `to` over any
/// positive associations, best first. Errors name a concept that does not exist.
pub fn paths_between(
    view: &GraphView,
    cfg: &ReasonConfig,
    from: &str,
    to: &str,
) -> Result<Vec<ReasonPath>, String> {
    let resolve = |t: &str| {
        t.parse::<ConceptId>()
            .ok()
            .filter(|id| view.concept(*id).is_some() && view.owns(*id))
            .or_else(|| view.resolve(t))
            .ok_or_else(|| format!("no concept is named or has the id '{t}'"))
    };
    let (from, to) = (resolve(from)?, resolve(to)?);
    Ok(search(
        view,
        cfg,
        None,
        from,
        Some(to),
        cfg.max_depth,
        cfg.num_paths,
    )
    .iter()
    .map(|w| to_path(view, w))
    .collect())
}

fn about(view: &GraphView, subject: &str) -> Answer {
    let Some(id) = view.resolve(subject) else {
        return unknown(format!("I don't know anything about {subject}."));
    };
    let mut walks: Vec<Walk> = view
        .out(id)
        .iter()
        .filter(|e| e.kind != AssocType::Mentions)
        .map(|e| Walk {
            nodes: vec![id, e.target],
            edges: vec![e.clone()],
            conf: e.confidence,
            rank: e.confidence,
        })
        .chain(
            view.inc(id)
                .iter()
                .filter(|e| e.kind != AssocType::Mentions)
                .map(|e| Walk {
                    nodes: vec![e.source, id],
                    edges: vec![e.clone()],
                    conf: e.confidence,
                    rank: e.confidence,
                }),
        )
        .collect();
    walks.sort_by(|a, b| b.cmp(a));
    if walks.is_empty() {
        return unknown(format!(
            "I know of {} but nothing about it yet.",
            view.name(id)
        ));
    }
    Answer {
        answer: walks
            .iter()
            .take(12)
            .map(|w| sentence(view, w))
            .collect::<Vec<_>>()
            .join(" "),
        verdict: Verdict::Answer,
        confidence: walks[0].conf,
        quality_gate: "PASSED",
        proof: None,
        paths: walks.iter().take(12).map(|w| to_path(view, w)).collect(),
        alternatives: vec![],
    }
}

#[cfg(test)]
mod tests;

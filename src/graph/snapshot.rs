//! A shard's immutable graph snapshot and the fold that produces the next one.
//!
//! Readers hold an `Arc<GraphSnapshot>` and never block writers: the reconciler clones
//! the current snapshot (O(1): `imbl` maps share structure), applies the records that
//! became durable since, and publishes the result as a whole.

use super::assoc_list::AssocList;
use super::kb::{KbTag, DEFAULT_KB};
use super::{
    combine_confidence, Association, Concept, ConceptId, ConceptKind, EdgeUpsert, Evidence, Op,
    Side,
};
use crate::learn::normalize::{stem_hash, stems};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A two-phase-commit transaction id: the coordinator's epoch (incarnation) in the high
/// 32 bits and a sequence number in the low 32, so ids never repeat across restarts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TxId(pub u64);

impl TxId {
    /// Builds an id from a coordinator epoch and a sequence number.
    pub fn new(epoch: u32, seq: u32) -> Self {
        TxId(((epoch as u64) << 32) | seq as u64)
    }
    /// The coordinator epoch that issued it.
    pub fn epoch(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

impl std::fmt::Display for TxId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tx-{}-{}", self.epoch(), self.0 as u32)
    }
}

/// One record of a shard's write-ahead log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Record {
    /// A write confined to this shard: applied as soon as it is durable.
    Apply(Vec<Op>),
    /// Phase 1 of a cross-shard transaction: durable, but held back until the decision.
    Prepare {
        /// The transaction.
        txid: TxId,
        /// This shard's part of it.
        ops: Vec<Op>,
    },
    /// Phase 2: apply the prepared ops of this transaction.
    Commit(TxId),
    /// Phase 2: drop the prepared ops of this transaction.
    Abort(TxId),
}

/// A change to a shard's vector index, reported while ops are applied.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum VectorChange<'a> {
    /// The concept has this embedding.
    Put(ConceptId, &'a [f32]),
    /// The concept is gone.
    Remove(ConceptId),
}

/// Everything one shard stores under one concept id. Association lists are kept sorted
/// by (kind, negated, other end) so upserts are a search ([`AssocList`]); empty lists
/// are `AssocList::Empty`, so the millions of leaf concepts cost no allocation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Node {
    /// The concept, if it lives here (an edge copy can outlive a deleted concept).
    pub concept: Option<Arc<Concept>>,
    /// Associations whose source is this concept.
    pub out: AssocList,
    /// Associations whose target is this concept.
    pub inc: AssocList,
}

impl Node {
    /// Outgoing associations.
    pub fn out(&self) -> &AssocList {
        &self.out
    }
    /// Incoming associations.
    pub fn inc(&self) -> &AssocList {
        &self.inc
    }
    fn is_empty(&self) -> bool {
        self.concept.is_none() && self.out.is_empty() && self.inc.is_empty()
    }
}

/// An immutable, consistent view of one shard's graph as of log position `lsn`.
#[derive(Clone, Debug, Default)]
pub struct GraphSnapshot {
    /// The last log record folded into this snapshot.
    pub lsn: u64,
    /// Concepts and their association copies.
    pub nodes: imbl::HashMap<ConceptId, Node>,
    /// Prepared, undecided transactions (in doubt until their Commit/Abort record).
    pub prepared: imbl::OrdMap<TxId, Arc<Vec<Op>>>,
    /// Number of concepts.
    pub concepts: usize,
    /// Number of outgoing association copies (one per association cluster-wide).
    pub edges: usize,
    /// Entity ids by the hash of their name's word stems
    /// ([`crate::learn::normalize::stem_hash`]), so a question can find "road closures"
    /// from "roads closed" without scanning every entity.
    ///
    /// Invariant: holds exactly the entity concepts of `nodes`, each under the hash of
    /// its current content (kept by every op that creates, renames or deletes one).
    pub stems: imbl::HashMap<u64, Arc<Vec<ConceptId>>>,
    /// The knowledge base of every node of a named knowledge base; a node not here is
    /// in `default`.
    ///
    /// Invariant: holds exactly the nodes (concept or edge copies) of named knowledge
    /// bases, as does `kb_members`; both follow every op.
    pub kb_of: imbl::HashMap<ConceptId, KbTag>,
    /// The same nodes ordered by knowledge base, so one knowledge base's nodes on this
    /// shard are a range (listing and dropping it never scan the shard).
    pub kb_members: imbl::OrdSet<(KbTag, ConceptId)>,
    /// Sizes and version of every named knowledge base with a node on this shard.
    pub kbs: imbl::HashMap<KbTag, KbCounts>,
    /// The sum of `kbs` (so the `default` knowledge base's sizes are a subtraction).
    pub named_total: KbCounts,
    /// The `default` knowledge base's version (see [`KbCounts::version`]).
    pub default_version: u64,
    /// Sentence concepts, all knowledge bases.
    pub sentences: usize,
    /// Concepts with a vector, all knowledge bases.
    pub vectors: usize,
    /// The sentence concepts of every knowledge base (`None`: `default`) by the log
    /// position of their last new occurrence (created, or taught by another teacher), so
    /// a reader can list what changed since it last looked without listing everything
    /// ([`GraphSnapshot::sentences_since`]).
    ///
    /// Invariant: holds exactly the sentence concepts of `nodes`, each once, at the
    /// position `sentence_pos` gives it.
    pub sentence_log: imbl::OrdSet<(Option<KbTag>, u64, ConceptId)>,
    /// The position of each sentence concept in `sentence_log`.
    sentence_pos: imbl::HashMap<ConceptId, u64>,
    /// The log position of the last removal of a sentence occurrence (a sentence
    /// deleted or a teacher forgotten) per knowledge base: a reader that learned
    /// occurrences before it must start again.
    sentences_removed: imbl::HashMap<Option<KbTag>, u64>,
    /// The position `sentence_log` starts from: a snapshot read from a checkpoint knows
    /// nothing of what happened before it, so every knowledge base counts as changed
    /// there.
    sentences_floor: u64,
    /// The log position of the record being folded (versions take it).
    fold_lsn: u64,
}

/// Where a reader of one knowledge base's sentences on one shard stands
/// ([`GraphSnapshot::sentence_cursor`]): the newest occurrence position it has seen and
/// the last removal it knows of.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentenceCursor {
    /// Sentences at positions up to this are known.
    pub pos: u64,
    /// The last removal accounted for.
    pub removed: u64,
}

impl SentenceCursor {
    /// Whether a reader at `self` can catch up with `now` by reading only what changed
    /// after `self.pos` (nothing it knows was removed since).
    pub fn extends_to(&self, now: &SentenceCursor) -> bool {
        now.removed <= self.removed && now.pos >= self.pos
    }
}

/// The sizes of one knowledge base on one shard.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KbCounts {
    /// Its name.
    pub name: Arc<str>,
    /// Nodes (concepts, and edge copies whose concept is gone).
    pub nodes: usize,
    /// Concepts.
    pub concepts: usize,
    /// Sentence concepts.
    pub sentences: usize,
    /// Outgoing association copies (one per association cluster-wide, counting the
    /// sentence-mentions-entity provenance links).
    pub associations: usize,
    /// Concepts with a vector.
    pub vectors: usize,
    /// The log position of the last record that changed this knowledge base on this
    /// shard. It changes whenever the knowledge base changes here and never takes a
    /// value it had for other contents (log positions only grow, a dropped knowledge
    /// base restarts from the drop's position, a reopened shard reports its
    /// checkpoint's position), so a cache keyed by (knowledge base, every shard's
    /// version) stays valid while the key is equal.
    pub version: u64,
}

impl KbCounts {
    fn add(&mut self, d: &Footprint, sign: isize) {
        let f = |x: &mut usize, v: usize| *x = (*x as isize + sign * v as isize).max(0) as usize;
        f(&mut self.nodes, d.present as usize);
        f(&mut self.concepts, d.concept as usize);
        f(&mut self.sentences, d.sentence as usize);
        f(&mut self.vectors, d.vector as usize);
        f(&mut self.associations, d.out);
    }
}

/// What one node contributes to the counters.
#[derive(Clone, Copy, Debug, Default)]
struct Footprint {
    present: bool,
    concept: bool,
    sentence: bool,
    vector: bool,
    out: usize,
}

impl GraphSnapshot {
    /// The concept with this id, if this shard holds it.
    pub fn concept(&self, id: ConceptId) -> Option<&Arc<Concept>> {
        self.nodes.get(&id).and_then(|n| n.concept.as_ref())
    }

    /// The knowledge base of a node (`None`: `default`).
    pub fn kb_tag_of(&self, id: ConceptId) -> Option<KbTag> {
        self.kb_of.get(&id).copied()
    }

    /// Whether node `id` belongs to knowledge base `kb` (`None`: `default`).
    pub fn in_kb(&self, id: ConceptId, kb: Option<KbTag>) -> bool {
        self.kb_tag_of(id) == kb
    }

    /// The ids of every node of knowledge base `kb` on this shard (`None`: `default`).
    /// A named knowledge base's are a range of its index, so this costs what the
    /// knowledge base holds here; `default`'s scan the shard (it is everything else).
    pub fn kb_ids_of(&self, kb: Option<KbTag>) -> Box<dyn Iterator<Item = ConceptId> + '_> {
        match kb {
            Some(t) => Box::new(
                self.kb_members
                    .range((t, ConceptId(0))..=(t, ConceptId(u64::MAX)))
                    .map(|(_, id)| *id),
            ),
            None => Box::new(
                self.nodes
                    .keys()
                    .filter(|id| !self.kb_of.contains_key(*id))
                    .copied(),
            ),
        }
    }

    /// The sentence concepts of knowledge base `kb` (by name) on this shard: what a
    /// query session lists to build a per-knowledge-base structure (with
    /// [`GraphSnapshot::kb_version`] as its cache key). Oldest occurrence position first;
    /// costs what the knowledge base holds here, `default` included.
    pub fn kb_sentences<'a>(&'a self, kb: &str) -> impl Iterator<Item = &'a Arc<Concept>> + 'a {
        self.sentences_from(KbTag::named(kb), 0).map(|(_, c)| c)
    }

    /// The sentence concepts of knowledge base `kb` whose last new occurrence is at log
    /// position `from` or later, oldest first, with their positions.
    pub fn sentences_from(
        &self,
        kb: Option<KbTag>,
        from: u64,
    ) -> impl Iterator<Item = (u64, &Arc<Concept>)> + '_ {
        self.sentence_log
            .range((kb, from, ConceptId(0))..=(kb, u64::MAX, ConceptId(u64::MAX)))
            .filter_map(move |(_, p, id)| Some((*p, self.concept(*id)?)))
    }

    /// The sentence concepts of knowledge base `kb` (`None`: `default`) whose last new
    /// occurrence is after log position `pos`, oldest first, with their positions.
    pub fn sentences_since(
        &self,
        kb: Option<KbTag>,
        pos: u64,
    ) -> impl Iterator<Item = (u64, &Arc<Concept>)> + '_ {
        self.sentences_from(kb, pos.saturating_add(1))
    }

    /// Where knowledge base `kb`'s sentences on this shard stand (see
    /// [`SentenceCursor`]).
    pub fn sentence_cursor(&self, kb: Option<KbTag>) -> SentenceCursor {
        let pos = self
            .sentence_log
            .range((kb, 0, ConceptId(0))..=(kb, u64::MAX, ConceptId(u64::MAX)))
            .next_back()
            .map_or(0, |(_, p, _)| *p);
        let removed = self
            .sentences_removed
            .get(&kb)
            .copied()
            .unwrap_or(0)
            .max(self.sentences_floor);
        SentenceCursor { pos, removed }
    }

    /// Records a new occurrence of sentence `id` (of knowledge base `kb`) at the position
    /// being folded.
    fn log_sentence(&mut self, id: ConceptId, kb: Option<KbTag>) {
        let pos = self.fold_lsn;
        if let Some(old) = self.sentence_pos.insert(id, pos) {
            self.sentence_log.remove(&(kb, old, id));
        }
        self.sentence_log.insert((kb, pos, id));
    }

    /// Records that an occurrence of knowledge base `kb` was removed (sentence `gone`
    /// deleted, when given).
    fn sentence_removed(&mut self, kb: Option<KbTag>, gone: Option<ConceptId>) {
        if let Some(id) = gone {
            if let Some(old) = self.sentence_pos.remove(&id) {
                self.sentence_log.remove(&(kb, old, id));
            }
        }
        let pos = self.fold_lsn;
        let mark = self.sentences_removed.entry(kb).or_insert(0);
        *mark = (*mark).max(pos);
    }

    /// The version of knowledge base `kb` on this shard (see [`KbCounts::version`]);
    /// 0 when it has nothing here.
    pub fn kb_version(&self, kb: &str) -> u64 {
        match KbTag::named(kb) {
            Some(t) => self.kbs.get(&t).map_or(0, |c| c.version),
            None => self.default_version,
        }
    }

    /// The sizes of knowledge base `kb` on this shard (all zero when it has nothing
    /// here).
    pub fn kb_counts(&self, kb: &str) -> KbCounts {
        match KbTag::named(kb) {
            Some(t) => self.kbs.get(&t).cloned().unwrap_or_else(|| KbCounts {
                name: Arc::from(kb),
                ..Default::default()
            }),
            None => {
                let n = &self.named_total;
                KbCounts {
                    name: Arc::from(DEFAULT_KB),
                    nodes: self.nodes.len().saturating_sub(n.nodes),
                    concepts: self.concepts.saturating_sub(n.concepts),
                    sentences: self.sentences.saturating_sub(n.sentences),
                    associations: self.edges.saturating_sub(n.associations),
                    vectors: self.vectors.saturating_sub(n.vectors),
                    version: self.default_version,
                }
            }
        }
    }

    /// The sizes of every knowledge base with something on this shard, `default`
    /// first (when it holds anything).
    pub fn kb_list(&self) -> Vec<KbCounts> {
        let default = self.kb_counts(DEFAULT_KB);
        let mut all: Vec<KbCounts> = (default.nodes > 0).then_some(default).into_iter().collect();
        all.extend(self.kbs.values().cloned());
        all
    }

    /// Whether folding `record` into this snapshot removes anything (whose text must
    /// then leave the disk: see `ShardCore::erase`): an apply with removals, or the
    /// commit of a prepared transaction with removals.
    pub fn record_removes(&self, record: &Record) -> bool {
        let removal = |op: &Op| op.removes();
        match record {
            Record::Apply(ops) => ops.iter().any(removal),
            Record::Commit(txid) => self
                .prepared
                .get(txid)
                .is_some_and(|ops| ops.iter().any(removal)),
            Record::Prepare { .. } | Record::Abort(_) => false,
        }
    }

    /// Folds one durable log record in. Records must arrive in LSN order; replaying the
    /// same sequence always gives the same snapshot.
    pub fn apply_record(&mut self, lsn: u64, record: &Record) {
        self.apply_record_with(lsn, record, &mut |_| {});
    }

    /// [`GraphSnapshot::apply_record`], telling `vectors` about every vector the applied
    /// ops add or remove (in order), so the shard's vector index follows the graph.
    pub fn apply_record_with(
        &mut self,
        lsn: u64,
        record: &Record,
        vectors: &mut dyn FnMut(VectorChange<'_>),
    ) {
        debug_assert!(lsn > self.lsn || lsn == 0, "records fold in log order");
        self.fold_lsn = lsn;
        match record {
            Record::Apply(ops) => ops.iter().for_each(|op| self.apply_with(op, vectors)),
            Record::Prepare { txid, ops } => {
                self.prepared.insert(*txid, Arc::new(ops.clone()));
            }
            Record::Commit(txid) => {
                // A commit of an unknown txid is a duplicate delivery: already applied.
                if let Some(ops) = self.prepared.remove(txid) {
                    ops.iter().for_each(|op| self.apply_with(op, vectors));
                }
            }
            Record::Abort(txid) => {
                self.prepared.remove(txid);
            }
        }
        self.lsn = self.lsn.max(lsn);
    }

    /// Applies the prepared ops of `txid` ahead of its commit record (parallel commit:
    /// see `ShardCore::commit_ahead`), stamping what they change with `version` and
    /// leaving `lsn` alone: the commit record, folded later, finds nothing prepared and
    /// is a no-op. False if `txid` is not prepared here.
    pub fn commit_ahead(
        &mut self,
        txid: TxId,
        version: u64,
        vectors: &mut dyn FnMut(VectorChange<'_>),
    ) -> bool {
        let Some(ops) = self.prepared.remove(&txid) else {
            return false;
        };
        let folded = std::mem::replace(&mut self.fold_lsn, version);
        ops.iter().for_each(|op| self.apply_with(op, vectors));
        self.fold_lsn = folded;
        true
    }

    /// Applies one op.
    pub fn apply(&mut self, op: &Op) {
        self.apply_with(op, &mut |_| {});
    }

    /// Applies one op, reporting its vector change.
    pub fn apply_with(&mut self, op: &Op, vectors: &mut dyn FnMut(VectorChange<'_>)) {
        match op {
            Op::InKb { kb, op } => self.apply_in(Some(KbTag::of(kb)), Some(kb), op, vectors),
            Op::DropKb(kb) => self.drop_kb(kb, vectors),
            _ => {
                let tag = self.kb_of.get(&op.home()).copied();
                self.apply_in(tag, None, op, vectors);
            }
        }
    }

    /// Applies `op` to a node of knowledge base `tag` (`None`: `default`; `name` when
    /// the op names it), keeping the knowledge base index and counters.
    fn apply_in(
        &mut self,
        tag: Option<KbTag>,
        name: Option<&str>,
        op: &Op,
        vectors: &mut dyn FnMut(VectorChange<'_>),
    ) {
        // In `default` (no per-knowledge-base counters) only concept ops can change the
        // sentence and vector counts: an association op (most of a learn) skips the two
        // footprint lookups.
        let counts_unchanged = matches!(
            op,
            Op::PutEdge(_)
                | Op::DeleteEdge { .. }
                | Op::RemoveEvidence { .. }
                | Op::ForgetSource { .. }
        );
        if tag.is_none() && counts_unchanged {
            self.apply_plain(op, tag, vectors);
            self.default_version = self.fold_lsn.max(self.default_version);
            return;
        }
        let home = op.home();
        let before = self.footprint(home);
        self.apply_plain(op, tag, vectors);
        let after = self.footprint(home);
        self.sentences =
            (self.sentences + after.sentence as usize).saturating_sub(before.sentence as usize);
        self.vectors =
            (self.vectors + after.vector as usize).saturating_sub(before.vector as usize);
        let Some(tag) = tag else {
            self.default_version = self.fold_lsn.max(self.default_version);
            return;
        };
        let version = self.fold_lsn;
        let counts = self.kbs.entry(tag).or_insert_with(|| KbCounts {
            name: Arc::from(name.map_or_else(|| format!("{:016x}", tag.0), str::to_string)),
            ..Default::default()
        });
        counts.add(&before, -1);
        counts.add(&after, 1);
        counts.version = counts.version.max(version);
        let empty = counts.nodes == 0;
        self.named_total.add(&before, -1);
        self.named_total.add(&after, 1);
        // Only membership changes touch the index (most ops reinforce a member).
        if after.present && self.kb_of.get(&home) != Some(&tag) {
            self.kb_of.insert(home, tag);
            self.kb_members.insert((tag, home));
        } else if !after.present && before.present {
            self.kb_of.remove(&home);
            self.kb_members.remove(&(tag, home));
        }
        if empty {
            self.kbs.remove(&tag);
        }
    }

    /// Removes every node of knowledge base `kb` from this shard.
    fn drop_kb(&mut self, kb: &str, vectors: &mut dyn FnMut(VectorChange<'_>)) {
        let tag = KbTag::named(kb);
        let ids: Vec<ConceptId> = match tag {
            Some(t) => self.kb_ids_of(Some(t)).collect(),
            None => self.kb_ids_of(None).collect(),
        };
        for id in ids {
            self.apply_in(tag, Some(kb), &Op::DeleteConcept(id), vectors);
        }
        match tag {
            Some(t) => {
                self.kbs.remove(&t);
            }
            None => self.default_version = self.fold_lsn.max(self.default_version),
        }
    }

    fn footprint(&self, id: ConceptId) -> Footprint {
        let Some(node) = self.nodes.get(&id) else {
            return Footprint::default();
        };
        let c = node.concept.as_deref();
        Footprint {
            present: true,
            concept: c.is_some(),
            sentence: c.is_some_and(|c| c.kind == ConceptKind::Sentence),
            vector: c.is_some_and(|c| c.has_vector),
            out: node.out().len(),
        }
    }

    fn apply_plain(
        &mut self,
        op: &Op,
        tag: Option<KbTag>,
        vectors: &mut dyn FnMut(VectorChange<'_>),
    ) {
        match op {
            Op::InKb { .. } | Op::DropKb(_) => self.apply_with(op, vectors),
            Op::PutConcept(u) => {
                if let Some(v) = &u.vector {
                    vectors(VectorChange::Put(u.id, v));
                }
                let mut created = false;
                let mut occurred = false;
                let mut renamed = None;
                let node = self.node_mut(u.id);
                match &mut node.concept {
                    Some(c) => {
                        let c = Arc::make_mut(c);
                        // An entity keeps its first written name unless that was a
                        // non-canonical form ("Dogs") and this one is canonical ("dog").
                        if c.kind == ConceptKind::Entity
                            && !is_canonical(&c.content)
                            && is_canonical(&u.content)
                        {
                            renamed = Some(std::mem::replace(&mut c.content, u.content.clone()));
                        }
                        c.evidence = c.evidence.saturating_add(1);
                        c.strength += u.strength;
                        c.confidence = combine_confidence(c.confidence, u.confidence);
                        c.updated_ms = c.updated_ms.max(u.at_ms);
                        c.has_vector |= u.vector.is_some();
                        if c.kind == ConceptKind::Sentence
                            && !c.sources.iter().any(|s| s.same_teacher(&u.source))
                        {
                            c.sources.push(u.source.clone());
                            occurred = true;
                        }
                    }
                    None => {
                        created = true;
                        occurred = u.kind == ConceptKind::Sentence;
                        node.concept = Some(Arc::new(Concept {
                            id: u.id,
                            content: u.content.clone(),
                            kind: u.kind,
                            semantic_type: u.semantic_type,
                            strength: u.strength,
                            confidence: u.confidence,
                            evidence: 1,
                            has_vector: u.vector.is_some(),
                            created_ms: u.at_ms,
                            updated_ms: u.at_ms,
                            sources: if u.kind == ConceptKind::Sentence {
                                vec![u.source.clone()]
                            } else {
                                Vec::new()
                            },
                        }));
                    }
                }
                self.concepts += usize::from(created);
                if occurred {
                    self.log_sentence(u.id, tag);
                }
                if u.kind == ConceptKind::Entity {
                    if let Some(old) = renamed {
                        self.unindex_stems(u.id, &old, tag);
                        self.index_stems(u.id, &u.content, tag);
                    } else if created {
                        self.index_stems(u.id, &u.content, tag);
                    }
                }
            }
            Op::PutEdge(e) => self.put_edge(e),
            Op::DeleteConcept(id) => {
                vectors(VectorChange::Remove(*id));
                if let Some(node) = self.nodes.remove(id) {
                    if let Some(c) = &node.concept {
                        self.concepts -= 1;
                        match c.kind {
                            ConceptKind::Entity => self.unindex_stems(*id, &c.content, tag),
                            ConceptKind::Sentence => self.sentence_removed(tag, Some(*id)),
                        }
                    }
                    self.edges -= node.out().len();
                }
            }
            Op::DeleteEdge {
                side,
                source,
                target,
                kind,
                negated,
            } => self.edit_edge(*side, *source, *target, *kind, *negated, |_| true),
            Op::RemoveEvidence {
                side,
                source,
                target,
                kind,
                negated,
                evidence,
            } => self.edit_edge(*side, *source, *target, *kind, *negated, |a| {
                a.provenance.retain(|e| !evidence.matches(e));
                a.recompute();
                a.provenance.is_empty()
            }),
            Op::ForgetSource { id, key } => {
                let mut forgot = false;
                if let Some(c) = self.nodes.get_mut(id).and_then(|n| n.concept.as_mut()) {
                    if c.sources.iter().any(|s| s.matches(key)) {
                        Arc::make_mut(c).sources.retain(|s| !s.matches(key));
                        forgot = true;
                    }
                }
                if forgot {
                    self.sentence_removed(tag, None);
                }
            }
        }
    }

    /// Runs `edit` on one copy of an association; removes the copy when `edit` says
    /// so, and the node when nothing is left under it.
    fn edit_edge(
        &mut self,
        side: Side,
        source: ConceptId,
        target: ConceptId,
        kind: super::AssocType,
        negated: bool,
        edit: impl FnOnce(&mut Association) -> bool,
    ) {
        let (home, other) = match side {
            Side::Out => (source, target),
            Side::In => (target, source),
        };
        let Some(node) = self.nodes.get_mut(&home) else {
            return;
        };
        let list = match side {
            Side::Out => &mut node.out,
            Side::In => &mut node.inc,
        };
        let removed = list.edit((kind, negated, other), side, edit);
        let empty = node.is_empty();
        if removed && side == Side::Out {
            self.edges -= 1;
        }
        if empty {
            self.nodes.remove(&home);
        }
    }

    fn put_edge(&mut self, e: &EdgeUpsert) {
        let (home, other) = match e.side {
            Side::Out => (e.source, e.target),
            Side::In => (e.target, e.source),
        };
        let node = self.node_mut(home);
        let list = match e.side {
            Side::Out => &mut node.out,
            Side::In => &mut node.inc,
        };
        let added = list.upsert(
            (e.kind, e.negated, other),
            e.side,
            |a| {
                a.updated_ms = a.updated_ms.max(e.at_ms);
                match a
                    .provenance
                    .iter_mut()
                    .find(|p| p.from.same_origin(&e.provenance))
                {
                    Some(p) => {
                        p.times = p.times.saturating_add(1);
                        p.strength += e.strength;
                        p.confidence = combine_confidence(p.confidence, e.confidence);
                    }
                    None => a.provenance.push(Evidence {
                        from: e.provenance.clone(),
                        confidence: e.confidence,
                        strength: e.strength,
                        times: 1,
                        at_ms: e.at_ms,
                    }),
                }
                // Same noisy-or as folding the new evidence in, but kept equal to what
                // `recompute` gives after a removal.
                a.evidence = a.evidence.saturating_add(1);
                a.strength += e.strength;
                a.confidence = combine_confidence(a.confidence, e.confidence);
            },
            || Association {
                source: e.source,
                target: e.target,
                kind: e.kind,
                negated: e.negated,
                confidence: e.confidence,
                strength: e.strength,
                evidence: 1,
                provenance: vec![Evidence {
                    from: e.provenance.clone(),
                    confidence: e.confidence,
                    strength: e.strength,
                    times: 1,
                    at_ms: e.at_ms,
                }],
                created_ms: e.at_ms,
                updated_ms: e.at_ms,
            },
        );
        if added && e.side == Side::Out {
            self.edges += 1;
        }
    }

    fn index_stems(&mut self, id: ConceptId, name: &str, tag: Option<KbTag>) {
        if let Some(h) = stem_hash(&stems(name)).map(|h| KbTag::stem_key(tag, h)) {
            let ids = Arc::make_mut(self.stems.entry(h).or_default());
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }

    fn unindex_stems(&mut self, id: ConceptId, name: &str, tag: Option<KbTag>) {
        let Some(h) = stem_hash(&stems(name)).map(|h| KbTag::stem_key(tag, h)) else {
            return;
        };
        if let Some(ids) = self.stems.get_mut(&h) {
            Arc::make_mut(ids).retain(|x| *x != id);
            if ids.is_empty() {
                self.stems.remove(&h);
            }
        }
    }

    /// The stem index of `nodes`, computed from scratch (checkpoints written before the
    /// index existed).
    fn rebuild_stems(&mut self) {
        let entities: Vec<(ConceptId, Arc<Concept>)> = self
            .nodes
            .iter()
            .filter_map(|(id, n)| n.concept.clone().map(|c| (*id, c)))
            .filter(|(_, c)| c.kind == ConceptKind::Entity)
            .collect();
        for (id, c) in entities {
            let tag = self.kb_of.get(&id).copied();
            self.index_stems(id, &c.content, tag);
        }
    }

    /// Rebuilds the knowledge base index and counters from the nodes' tags (read from a
    /// checkpoint). Versions restart at the checkpoint's position (see
    /// [`KbCounts::version`]).
    fn restore_kbs(&mut self, kb_of: Vec<(ConceptId, KbTag)>, names: Vec<(KbTag, String)>) {
        let names: std::collections::HashMap<KbTag, String> = names.into_iter().collect();
        self.default_version = self.lsn;
        for (id, tag) in kb_of {
            let f = self.footprint(id);
            if !f.present {
                continue;
            }
            let counts = self.kbs.entry(tag).or_insert_with(|| KbCounts {
                name: Arc::from(
                    names
                        .get(&tag)
                        .cloned()
                        .unwrap_or_else(|| format!("{:016x}", tag.0)),
                ),
                version: self.lsn,
                ..Default::default()
            });
            counts.add(&f, 1);
            self.named_total.add(&f, 1);
            self.kb_of.insert(id, tag);
            self.kb_members.insert((tag, id));
        }
    }

    /// The node stored under `id`, created empty if absent, for in-place change.
    ///
    /// Invariant (performance): mutate in place, never clone a node out and insert it
    /// back. A clone holds a second reference to its association list, so
    /// `Arc::make_mut` would copy the whole list on every op — quadratic for a hub.
    /// In place, only the first change per fold copies (the previous snapshot still
    /// shares it); later ops in the same fold find the list unshared.
    fn node_mut(&mut self, id: ConceptId) -> &mut Node {
        if !self.nodes.contains_key(&id) {
            self.nodes.insert(id, Node::default());
        }
        self.nodes.get_mut(&id).expect("just inserted")
    }

    /// Serializes the whole snapshot for a checkpoint (format 3, see [`FORMAT3`]).
    /// Association lists still undecoded since the last restart are copied as they are.
    pub fn encode_checkpoint(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&FORMAT3);
        let head = HeadRef {
            lsn: self.lsn,
            prepared: self
                .prepared
                .iter()
                .map(|(t, ops)| (*t, ops.as_slice()))
                .collect(),
            nodes: self.nodes.len() as u64,
            kb_of: self.kb_of.iter().map(|(i, t)| (*i, *t)).collect(),
            kb_names: self.kbs.iter().map(|(t, c)| (*t, &*c.name)).collect(),
            stems: self
                .stems
                .iter()
                .map(|(h, ids)| (*h, ids.as_slice()))
                .collect(),
        };
        crate::protocol::codec::encode_into(&head, &mut out);
        // One scratch buffer for every node's lists: their byte lengths go in the node's
        // header, ahead of them, so a reader can skip them without decoding.
        let mut lists = Vec::new();
        for (id, n) in self.nodes.iter() {
            lists.clear();
            if !n.out.is_empty() {
                n.out.encode_into(&mut lists);
            }
            let out_bytes = lists.len();
            if !n.inc.is_empty() {
                n.inc.encode_into(&mut lists);
            }
            let node = NodeHeadRef {
                id: *id,
                concept: n.concept.as_deref(),
                out: (n.out.len() as u64, out_bytes as u64),
                inc: (n.inc.len() as u64, (lists.len() - out_bytes) as u64),
            };
            crate::protocol::codec::encode_into(&node, &mut out);
            out.extend_from_slice(&lists);
        }
        out
    }

    /// Rebuilds a snapshot from [`GraphSnapshot::encode_checkpoint`] output (or a
    /// format-2 payload, which earlier versions wrote). Copies `bytes`; a restart uses
    /// [`GraphSnapshot::decode_checkpoint_shared`], which does not.
    pub fn decode_checkpoint(bytes: &[u8]) -> Result<Self, crate::protocol::codec::CodecError> {
        Self::decode_checkpoint_owned(bytes.to_vec())
    }

    /// [`GraphSnapshot::decode_checkpoint`] of a payload the snapshot may keep: in format
    /// 3, association lists stay encoded inside it until first used
    /// ([`AssocList::Lazy`]), so a restart decodes concepts but not the millions of
    /// association copies. Format 2 is decoded whole; the next checkpoint writes 3.
    pub fn decode_checkpoint_owned(
        payload: Vec<u8>,
    ) -> Result<Self, crate::protocol::codec::CodecError> {
        if payload.starts_with(&FORMAT3) {
            Self::decode_format3(payload)
        } else {
            Self::decode_format2(&payload)
        }
    }

    fn decode_format3(payload: Vec<u8>) -> Result<Self, crate::protocol::codec::CodecError> {
        use crate::protocol::codec::{decode_prefix, CodecError};
        let mut pos = FORMAT3.len();
        let (head, used): (HeadOwned, usize) = decode_prefix(&payload[pos..])?;
        pos += used;
        let mut snap = GraphSnapshot {
            lsn: head.lsn,
            ..Default::default()
        };
        // Usually empty (everything in `default`); read before the nodes so the
        // sentence index is built in the same pass.
        let tags: std::collections::HashMap<ConceptId, KbTag> =
            head.kb_of.iter().copied().collect();
        let mut sentences = Vec::new();
        // Nodes are staged until the payload can be handed to the lists that point
        // into it.
        let mut lists = crate::graph::assoc_list::EncodedListsBuilder::default();
        let mut staged = Vec::with_capacity((head.nodes as usize).min(payload.len() / 4));
        let take = |pos: &mut usize, bytes: u64| {
            let end = usize::try_from(bytes)
                .ok()
                .and_then(|b| pos.checked_add(b))
                .filter(|end| *end <= payload.len())
                .ok_or_else(|| {
                    CodecError::framing(format!(
                        "an association list of {bytes} bytes at offset {pos} runs past the end ({} bytes)",
                        payload.len()
                    ))
                })?;
            let range = *pos..end;
            *pos = end;
            Ok::<_, CodecError>(range)
        };
        for _ in 0..head.nodes {
            let (n, used): (NodeHeadOwned, usize) = decode_prefix(&payload[pos..])?;
            pos += used;
            let out = take(&mut pos, n.out.1)?;
            let inc = take(&mut pos, n.inc.1)?;
            if let Some(c) = &n.concept {
                snap.concepts += 1;
                if c.kind == ConceptKind::Sentence {
                    snap.sentences += 1;
                    sentences.push((tags.get(&n.id).copied(), n.id));
                }
                snap.vectors += c.has_vector as usize;
            }
            snap.edges += n.out.0 as usize;
            staged.push((
                n.id,
                n.concept.map(Arc::new),
                lists.add(out, n.out.0 as usize, Side::Out),
                lists.add(inc, n.inc.0 as usize, Side::In),
            ));
        }
        if pos != payload.len() {
            return Err(CodecError::framing(format!(
                "{} trailing bytes after the last node",
                payload.len() - pos
            )));
        }
        let lists = lists.finish(payload);
        let mut nodes = imbl::HashMap::new();
        for (id, concept, out, inc) in staged {
            nodes.insert(
                id,
                Node {
                    concept,
                    out: lists.list(out),
                    inc: lists.list(inc),
                },
            );
        }
        snap.nodes = nodes;
        snap.prepared = head
            .prepared
            .into_iter()
            .map(|(t, ops)| (t, Arc::new(ops)))
            .collect();
        snap.stems = head
            .stems
            .into_iter()
            .map(|(h, ids)| (h, Arc::new(ids)))
            .collect();
        snap.restore_kbs(head.kb_of, head.kb_names);
        snap.restore_sentence_log(sentences);
        Ok(snap)
    }

    /// Format 2: one value with every node and its lists, then the stem index and the
    /// knowledge base index as values of their own (absent from older payloads).
    fn decode_format2(bytes: &[u8]) -> Result<Self, crate::protocol::codec::CodecError> {
        let (cp, used): (CheckpointOwned, usize) = crate::protocol::codec::decode_prefix(bytes)?;
        let mut snap = GraphSnapshot {
            lsn: cp.lsn,
            ..Default::default()
        };
        snap.nodes = cp
            .nodes
            .into_iter()
            .map(|n| {
                snap.concepts += n.concept.is_some() as usize;
                if let Some(c) = &n.concept {
                    snap.sentences += (c.kind == ConceptKind::Sentence) as usize;
                    snap.vectors += c.has_vector as usize;
                }
                snap.edges += n.out.len();
                (
                    n.id,
                    Node {
                        concept: n.concept.map(Arc::new),
                        out: AssocList::from_sorted(n.out, Side::Out),
                        inc: AssocList::from_sorted(n.inc, Side::In),
                    },
                )
            })
            .collect();
        snap.prepared = cp
            .prepared
            .into_iter()
            .map(|(t, ops)| (t, Arc::new(ops)))
            .collect();
        let rest = &bytes[used..];
        if rest.is_empty() {
            let started = std::time::Instant::now();
            snap.rebuild_stems();
            tracing::info!(
                stems = snap.stems.len(),
                ms = started.elapsed().as_millis() as u64,
                "checkpoint predates the stem index; rebuilt it (the next checkpoint stores it)"
            );
        } else {
            let (stems, used): (Vec<(u64, Vec<ConceptId>)>, usize) =
                crate::protocol::codec::decode_prefix(rest)?;
            snap.stems = stems
                .into_iter()
                .map(|(h, ids)| (h, Arc::new(ids)))
                .collect();
            let rest = &rest[used..];
            if !rest.is_empty() {
                type KbIndex = (Vec<(ConceptId, KbTag)>, Vec<(KbTag, String)>);
                let (kb_of, names): KbIndex = crate::protocol::codec::decode(rest)?;
                snap.restore_kbs(kb_of, names);
            }
        }
        let sentences = snap
            .nodes
            .iter()
            .filter(|(_, n)| {
                n.concept
                    .as_ref()
                    .is_some_and(|c| c.kind == ConceptKind::Sentence)
            })
            .map(|(id, _)| (snap.kb_of.get(id).copied(), *id))
            .collect();
        snap.restore_sentence_log(sentences);
        tracing::info!(
            lsn = snap.lsn,
            "checkpoint in format 2 read whole; the next checkpoint writes format 3"
        );
        Ok(snap)
    }

    /// Indexes `sentences` (every sentence concept, with its knowledge base) at the
    /// snapshot's position (read from a checkpoint: when each occurrence came is not
    /// kept), which becomes the floor a reader from before it must start again from.
    fn restore_sentence_log(&mut self, mut sentences: Vec<(Option<KbTag>, ConceptId)>) {
        let lsn = self.lsn;
        // In index order, so each insert lands at the end of the tree.
        sentences.sort_unstable();
        for (kb, id) in sentences {
            self.sentence_pos.insert(id, lsn);
            self.sentence_log.insert((kb, lsn, id));
        }
        self.sentences_floor = lsn;
    }

    /// The format-2 encoding (what earlier versions wrote), for tests that read old
    /// checkpoints.
    #[cfg(test)]
    pub(crate) fn encode_checkpoint_format2(&self) -> Vec<u8> {
        let nodes: Vec<NodeRef<'_>> = self
            .nodes
            .iter()
            .map(|(id, n)| NodeRef {
                id: *id,
                concept: n.concept.as_deref(),
                out: n.out(),
                inc: n.inc(),
            })
            .collect();
        let prepared: Vec<(TxId, &[Op])> = self
            .prepared
            .iter()
            .map(|(t, ops)| (*t, ops.as_slice()))
            .collect();
        let mut bytes = crate::protocol::codec::encode(&CheckpointRef {
            lsn: self.lsn,
            nodes,
            prepared,
        });
        let stems: Vec<(u64, &[ConceptId])> = self
            .stems
            .iter()
            .map(|(h, ids)| (*h, ids.as_slice()))
            .collect();
        bytes.extend(crate::protocol::codec::encode(&stems));
        let kb_of: Vec<(ConceptId, KbTag)> = self.kb_of.iter().map(|(i, t)| (*i, *t)).collect();
        let names: Vec<(KbTag, &str)> = self.kbs.iter().map(|(t, c)| (*t, &*c.name)).collect();
        bytes.extend(crate::protocol::codec::encode(&(kb_of, names)));
        bytes
    }
}

/// The first bytes of a checkpoint payload in format 3: a header value (LSN, prepared
/// transactions, node count, knowledge base and stem indexes), then per node a header
/// (id, concept, and the count and byte length of each association list) followed by
/// the two lists' encodings. A reader skips the lists by their lengths and decodes them
/// on first use. Format 2 (one value holding everything) cannot start with 0xFF: its
/// first field, the LSN, is a varint, and no varint's first byte is 0xFF.
pub const FORMAT3: [u8; 4] = [0xFF, b'S', b'G', 3];

#[derive(Serialize)]
struct HeadRef<'a> {
    lsn: u64,
    prepared: Vec<(TxId, &'a [Op])>,
    nodes: u64,
    kb_of: Vec<(ConceptId, KbTag)>,
    kb_names: Vec<(KbTag, &'a str)>,
    stems: Vec<(u64, &'a [ConceptId])>,
}

#[derive(Deserialize)]
struct HeadOwned {
    lsn: u64,
    prepared: Vec<(TxId, Vec<Op>)>,
    nodes: u64,
    kb_of: Vec<(ConceptId, KbTag)>,
    kb_names: Vec<(KbTag, String)>,
    stems: Vec<(u64, Vec<ConceptId>)>,
}

/// A node's header in format 3: `out` and `inc` are (associations, bytes).
#[derive(Serialize)]
struct NodeHeadRef<'a> {
    id: ConceptId,
    concept: Option<&'a Concept>,
    out: (u64, u64),
    inc: (u64, u64),
}

#[derive(Deserialize)]
struct NodeHeadOwned {
    id: ConceptId,
    concept: Option<Concept>,
    out: (u64, u64),
    inc: (u64, u64),
}

/// Whether a name reads as its own normalization key (singular, no article), ignoring
/// case and hyphens.
fn is_canonical(name: &str) -> bool {
    let key = crate::learn::normalize::entity_key(name);
    key == name.to_lowercase().replace('-', " ")
}

#[cfg(test)]
#[derive(Serialize)]
struct NodeRef<'a> {
    id: ConceptId,
    concept: Option<&'a Concept>,
    out: &'a AssocList,
    inc: &'a AssocList,
}

#[cfg(test)]
#[derive(Serialize)]
struct CheckpointRef<'a> {
    lsn: u64,
    nodes: Vec<NodeRef<'a>>,
    prepared: Vec<(TxId, &'a [Op])>,
}

#[derive(Deserialize)]
struct NodeOwned {
    id: ConceptId,
    concept: Option<Concept>,
    out: Vec<Association>,
    inc: Vec<Association>,
}

#[derive(Deserialize)]
struct CheckpointOwned {
    lsn: u64,
    nodes: Vec<NodeOwned>,
    prepared: Vec<(TxId, Vec<Op>)>,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::graph::{AssocType, ConceptKind, ConceptUpsert, SemanticType, Source};

    /// An entity upsert of `name` learned at `at` (shared by other modules' tests).
    pub(crate) fn put(name: &str, at: u64) -> Op {
        Op::PutConcept(ConceptUpsert {
            id: ConceptId::derive(ConceptKind::Entity, name),
            content: name.to_string(),
            kind: ConceptKind::Entity,
            semantic_type: SemanticType::Entity,
            strength: 1.0,
            confidence: 0.5,
            at_ms: at,
            source: Source::default(),
            vector: None,
        })
    }

    fn id(name: &str) -> ConceptId {
        ConceptId::derive(ConceptKind::Entity, name)
    }

    fn edge(side: Side, s: &str, t: &str) -> Op {
        edge_from(
            side,
            s,
            t,
            crate::graph::EvidenceFrom::Sentence(ConceptId(7)),
            0.8,
        )
    }

    fn edge_from(side: Side, s: &str, t: &str, from: crate::graph::EvidenceFrom, c: f32) -> Op {
        Op::PutEdge(EdgeUpsert {
            side,
            source: id(s),
            target: id(t),
            kind: AssocType::LocatedIn,
            negated: false,
            confidence: c,
            strength: 1.0,
            provenance: from,
            at_ms: 5,
        })
    }

    fn remove_from(side: Side, s: &str, t: &str, m: crate::graph::EvidenceMatch) -> Op {
        Op::RemoveEvidence {
            side,
            source: id(s),
            target: id(t),
            kind: AssocType::LocatedIn,
            negated: false,
            evidence: m,
        }
    }

    #[test]
    fn removing_evidence_recomputes_and_the_last_removal_drops_the_edge() {
        use crate::graph::{EvidenceFrom, EvidenceMatch, SourceKey};
        let direct = Source {
            request_id: Some("r1".into()),
            label: Some("manual.pdf".into()),
            at_ms: 3,
        };
        let mut s = GraphSnapshot::default();
        let evidence = [
            (EvidenceFrom::Sentence(ConceptId(1)), 0.5),
            (EvidenceFrom::Sentence(ConceptId(2)), 0.5),
            (EvidenceFrom::Sentence(ConceptId(2)), 0.5),
            (EvidenceFrom::Direct(direct.clone()), 0.8),
        ];
        for side in [Side::Out, Side::In] {
            for (from, c) in &evidence {
                s.apply(&edge_from(side, "a", "b", from.clone(), *c));
            }
        }
        let a = s.nodes[&id("a")].out().to_vec()[0].clone();
        assert_eq!(a.provenance.len(), 3, "one entry per sentence and teacher");
        assert_eq!(a.evidence, 4);
        assert!((a.confidence - (1.0 - 0.5 * 0.5 * 0.5 * 0.2)).abs() < 1e-6);
        // The sentence learned twice loses both repetitions at once.
        for side in [Side::Out, Side::In] {
            s.apply(&remove_from(
                side,
                "a",
                "b",
                EvidenceMatch::Sentence(ConceptId(2)),
            ));
        }
        let a = s.nodes[&id("a")].out().to_vec()[0].clone();
        assert_eq!((a.provenance.len(), a.evidence, a.strength), (2, 2, 2.0));
        assert!((a.confidence - 0.9).abs() < 1e-6, "{}", a.confidence);
        assert_eq!(s.nodes[&id("b")].inc().to_vec()[0], a, "both copies agree");
        // A direct statement is forgotten by its label, not by another label.
        for side in [Side::Out, Side::In] {
            let other = EvidenceMatch::Direct(SourceKey::Label("other".into()));
            s.apply(&remove_from(side, "a", "b", other));
        }
        assert_eq!(s.nodes[&id("a")].out().to_vec()[0].provenance.len(), 2);
        for side in [Side::Out, Side::In] {
            let label = EvidenceMatch::Direct(SourceKey::Label("manual.pdf".into()));
            s.apply(&remove_from(side, "a", "b", label));
            s.apply(&remove_from(
                side,
                "a",
                "b",
                EvidenceMatch::Sentence(ConceptId(1)),
            ));
        }
        assert_eq!(s.edges, 0);
        assert!(
            s.nodes.is_empty(),
            "edge-only nodes go with their last edge"
        );
    }

    #[test]
    fn sentences_keep_every_teacher_once_and_forget_one() {
        use crate::graph::SourceKey;
        let sentence = |label: Option<&str>, req: &str| {
            Op::PutConcept(ConceptUpsert {
                id: ConceptId(9),
                content: "Paris is in France.".into(),
                kind: ConceptKind::Sentence,
                semantic_type: SemanticType::Spatial,
                strength: 1.0,
                confidence: 0.9,
                at_ms: 1,
                source: Source {
                    request_id: Some(req.into()),
                    label: label.map(str::to_string),
                    at_ms: 1,
                },
                vector: None,
            })
        };
        let mut s = GraphSnapshot::default();
        s.apply(&sentence(Some("a.txt"), "r1"));
        s.apply(&sentence(Some("a.txt"), "r2"));
        s.apply(&sentence(None, "r3"));
        s.apply(&sentence(Some("b.txt"), "r4"));
        let teachers = |s: &GraphSnapshot| -> Vec<Option<String>> {
            s.concept(ConceptId(9))
                .unwrap()
                .sources
                .iter()
                .map(|x| x.request_id.clone())
                .collect()
        };
        assert_eq!(
            teachers(&s),
            vec![Some("r1".into()), Some("r3".into()), Some("r4".into())]
        );
        s.apply(&Op::ForgetSource {
            id: ConceptId(9),
            key: SourceKey::Label("a.txt".into()),
        });
        assert_eq!(teachers(&s), vec![Some("r3".into()), Some("r4".into())]);
        s.apply(&Op::ForgetSource {
            id: ConceptId(9),
            key: SourceKey::Request("r3".into()),
        });
        assert_eq!(teachers(&s), vec![Some("r4".into())]);
        assert!(s.concept(id("x")).is_none());
        // Entities keep no teachers of their own.
        s.apply(&put("paris", 1));
        assert!(s.concept(id("paris")).unwrap().sources.is_empty());
    }

    /// A sentence `text` of knowledge base `kb` taught by request `req`.
    fn said(kb: &str, text: &str, req: &str) -> Op {
        Op::PutConcept(ConceptUpsert {
            id: ConceptId::derive_in(kb, ConceptKind::Sentence, text),
            content: text.into(),
            kind: ConceptKind::Sentence,
            semantic_type: SemanticType::Spatial,
            strength: 1.0,
            confidence: 0.9,
            at_ms: 1,
            source: Source {
                request_id: Some(req.into()),
                label: None,
                at_ms: 1,
            },
            vector: None,
        })
        .in_kb(kb)
    }

    #[test]
    fn sentence_log_lists_what_changed_since_a_cursor_and_marks_removals() {
        use crate::graph::SourceKey;
        let mut s = GraphSnapshot::default();
        let tag = KbTag::named("k");
        let since = |s: &GraphSnapshot, kb: Option<KbTag>, pos: u64| -> Vec<(u64, String)> {
            s.sentences_since(kb, pos)
                .map(|(p, c)| (p, c.content.clone()))
                .collect()
        };
        s.apply_record(1, &Record::Apply(vec![said("k", "a", "r1")]));
        s.apply_record(2, &Record::Apply(vec![said("default", "d", "r2")]));
        s.apply_record(3, &Record::Apply(vec![said("k", "b", "r3")]));
        let c3 = s.sentence_cursor(tag);
        assert_eq!(c3, SentenceCursor { pos: 3, removed: 0 });
        assert_eq!(since(&s, tag, 0), vec![(1, "a".into()), (3, "b".into())]);
        assert_eq!(since(&s, None, 0), vec![(2, "d".into())]);
        // Reinforced by the same teacher: no new occurrence, nothing moves.
        s.apply_record(4, &Record::Apply(vec![said("k", "a", "r1")]));
        assert_eq!(s.sentence_cursor(tag), c3);
        // Taught again by someone else: a new occurrence, listed after the cursor once.
        s.apply_record(5, &Record::Apply(vec![said("k", "a", "r5")]));
        assert_eq!(since(&s, tag, c3.pos), vec![(5, "a".into())]);
        let c5 = s.sentence_cursor(tag);
        assert!(c3.extends_to(&c5));
        // Forgetting a teacher is a removal: readers before it start again.
        let a = ConceptId::derive_in("k", ConceptKind::Sentence, "a");
        let forget = |key: &str| Op::ForgetSource {
            id: a,
            key: SourceKey::Request(key.into()),
        };
        s.apply_record(6, &Record::Apply(vec![forget("nobody").in_kb("k")]));
        assert_eq!(
            s.sentence_cursor(tag),
            c5,
            "forgetting nothing removes nothing"
        );
        s.apply_record(7, &Record::Apply(vec![forget("r1").in_kb("k")]));
        let c7 = s.sentence_cursor(tag);
        assert_eq!(c7.removed, 7);
        assert!(!c5.extends_to(&c7));
        assert_eq!(
            s.sentence_cursor(None).removed,
            0,
            "other knowledge bases keep theirs"
        );
        // Deleting a sentence takes it out of the log.
        s.apply_record(8, &Record::Apply(vec![Op::DeleteConcept(a).in_kb("k")]));
        assert_eq!(since(&s, tag, 0), vec![(3, "b".into())]);
        assert_eq!(
            s.sentence_cursor(tag),
            SentenceCursor { pos: 3, removed: 8 }
        );
        // Dropping the knowledge base removes the rest.
        s.apply_record(9, &Record::Apply(vec![Op::DropKb("k".into())]));
        assert!(since(&s, tag, 0).is_empty());
        assert_eq!(s.sentence_cursor(tag).removed, 9);
        assert_eq!(s.kb_sentences("default").count(), 1);
        // Read back from a checkpoint, everything sits at its position, which is also
        // a removal for every reader from before.
        s.apply_record(10, &Record::Apply(vec![said("k", "c", "r10")]));
        let back = GraphSnapshot::decode_checkpoint(&s.encode_checkpoint()).unwrap();
        assert_eq!(since(&back, tag, 0), vec![(10, "c".into())]);
        assert_eq!(since(&back, None, 0), vec![(10, "d".into())]);
        assert_eq!(
            back.sentence_cursor(None),
            SentenceCursor {
                pos: 10,
                removed: 10
            }
        );
        assert_eq!(back.sentence_log.len(), s.sentence_log.len());
    }

    #[test]
    fn reinforcement_raises_strength_and_confidence_keeps_first_content() {
        let mut s = GraphSnapshot::default();
        s.apply(&put("paris", 1));
        s.apply(&put("paris", 2));
        let c = s.concept(id("paris")).unwrap();
        assert_eq!(c.evidence, 2);
        assert_eq!(c.strength, 2.0);
        assert!((c.confidence - 0.75).abs() < 1e-6);
        assert_eq!((c.created_ms, c.updated_ms), (1, 2));
        assert_eq!(s.concepts, 1);
    }

    #[test]
    fn old_snapshots_are_unchanged_by_later_folds() {
        let mut s = GraphSnapshot::default();
        s.apply_record(
            1,
            &Record::Apply(vec![put("paris", 1), edge(Side::Out, "paris", "france")]),
        );
        let before = s.clone();
        s.apply_record(
            2,
            &Record::Apply(vec![put("paris", 2), edge(Side::Out, "paris", "france")]),
        );
        assert_eq!(before.concept(id("paris")).unwrap().evidence, 1);
        assert_eq!(before.nodes[&id("paris")].out().to_vec()[0].evidence, 1);
        assert_eq!(s.nodes[&id("paris")].out().to_vec()[0].evidence, 2);
        assert_eq!((before.lsn, s.lsn), (1, 2));
    }

    #[test]
    fn edges_upsert_sorted_and_delete() {
        let mut s = GraphSnapshot::default();
        for t in ["spain", "france", "italy", "france"] {
            s.apply(&edge(Side::Out, "europe-city", t));
        }
        let out = s.nodes[&id("europe-city")].out().to_vec();
        assert_eq!(out.len(), 3);
        assert!(out.windows(2).all(
            |w| (w[0].kind, w[0].negated, w[0].target) < (w[1].kind, w[1].negated, w[1].target)
        ));
        assert_eq!(s.edges, 3);
        s.apply(&Op::DeleteEdge {
            side: Side::Out,
            source: id("europe-city"),
            target: id("france"),
            kind: AssocType::LocatedIn,
            negated: false,
        });
        assert_eq!(s.nodes[&id("europe-city")].out().len(), 2);
        assert_eq!(s.edges, 2);
        s.apply(&Op::DeleteConcept(id("europe-city")));
        assert!(s.nodes.get(&id("europe-city")).is_none());
        assert_eq!(s.edges, 0);
    }

    #[test]
    fn prepared_ops_apply_only_on_commit() {
        let mut s = GraphSnapshot::default();
        let (t1, t2) = (TxId::new(1, 1), TxId::new(1, 2));
        s.apply_record(
            1,
            &Record::Prepare {
                txid: t1,
                ops: vec![put("a", 1)],
            },
        );
        s.apply_record(
            2,
            &Record::Prepare {
                txid: t2,
                ops: vec![put("b", 1)],
            },
        );
        assert_eq!(s.concepts, 0);
        assert_eq!(s.prepared.len(), 2);
        s.apply_record(3, &Record::Commit(t1));
        s.apply_record(4, &Record::Abort(t2));
        s.apply_record(5, &Record::Commit(t1)); // duplicate delivery is harmless
        assert!(s.concept(id("a")).is_some());
        assert!(s.concept(id("b")).is_none());
        assert!(s.prepared.is_empty());
        assert_eq!(s.concept(id("a")).unwrap().evidence, 1);
    }

    #[test]
    fn checkpoint_round_trip() {
        let mut s = GraphSnapshot::default();
        s.apply_record(
            1,
            &Record::Apply(vec![
                put("paris", 1),
                edge(Side::Out, "paris", "france"),
                edge(Side::In, "lyon", "paris"),
            ]),
        );
        s.apply_record(
            2,
            &Record::Prepare {
                txid: TxId::new(3, 9),
                ops: vec![put("x", 1)],
            },
        );
        let back = GraphSnapshot::decode_checkpoint(&s.encode_checkpoint()).unwrap();
        assert_eq!(back.lsn, 2);
        assert_eq!(back.nodes, s.nodes);
        assert_eq!(back.prepared, s.prepared);
        assert_eq!((back.concepts, back.edges), (s.concepts, s.edges));
        assert!(GraphSnapshot::decode_checkpoint(&[1, 2, 3]).is_err());
        assert_eq!(stem_sets(&back), stem_sets(&s));
        assert!(!s.stems.is_empty());
    }

    /// The stem index as comparable sets.
    fn stem_sets(
        s: &GraphSnapshot,
    ) -> std::collections::BTreeMap<u64, std::collections::BTreeSet<ConceptId>> {
        s.stems
            .iter()
            .map(|(h, ids)| (*h, ids.iter().copied().collect()))
            .collect()
    }

    /// Checks the stem index invariant: exactly the entities, under their names' hashes.
    fn assert_stem_index(s: &GraphSnapshot) {
        let mut fresh = s.clone();
        fresh.stems = Default::default();
        fresh.rebuild_stems();
        assert_eq!(stem_sets(s), stem_sets(&fresh));
        assert!(s.stems.values().all(|ids| !ids.is_empty()));
    }

    fn put_named(key: &str, content: &str) -> Op {
        let Op::PutConcept(mut u) = put(key, 1) else {
            unreachable!()
        };
        u.content = content.to_string();
        Op::PutConcept(u)
    }

    #[test]
    fn stem_index_follows_creation_renaming_and_deletion() {
        let mut s = GraphSnapshot::default();
        // Edges first, then the concept; a non-canonical name, then the canonical one.
        s.apply(&edge(Side::Out, "road closure", "city"));
        s.apply(&put_named("road closure", "Road-Closures"));
        assert_stem_index(&s);
        s.apply(&put_named("road closure", "road closure"));
        assert_eq!(
            s.concept(id("road closure")).unwrap().content,
            "road closure"
        );
        assert_stem_index(&s);
        // Two entities with the same stems share one entry.
        s.apply(&put_named("roads closed", "roads closed"));
        let h = stem_hash(&stems("road closure")).unwrap();
        assert_eq!(s.stems[&h].len(), 2);
        // Sentences are not indexed.
        let Op::PutConcept(mut sentence) = put("the road is closed", 1) else {
            unreachable!()
        };
        sentence.kind = ConceptKind::Sentence;
        s.apply(&Op::PutConcept(sentence));
        assert_stem_index(&s);
        let before = s.clone();
        s.apply(&Op::DeleteConcept(id("road closure")));
        s.apply(&Op::DeleteConcept(id("roads closed")));
        assert!(!s.stems.contains_key(&h), "empty entries go");
        assert_stem_index(&s);
        assert_eq!(before.stems[&h].len(), 2, "older snapshots keep theirs");
    }

    /// A snapshot with a hub past the list threshold, small lists, a sentence in a
    /// named knowledge base and a prepared transaction.
    fn varied() -> GraphSnapshot {
        let mut s = GraphSnapshot::default();
        let n = crate::graph::assoc_list::LARGE + 10;
        let mut ops: Vec<Op> = (0..n)
            .map(|i| edge(Side::In, &format!("member {i}"), "hub"))
            .collect();
        ops.extend([
            put("paris", 1),
            edge(Side::Out, "paris", "france"),
            edge(Side::In, "lyon", "paris"),
        ]);
        s.apply_record(1, &Record::Apply(ops));
        s.apply_record(2, &Record::Apply(kb_fact("story-1", "mary", "garden")));
        let Op::PutConcept(mut sentence) = put("mary went to the garden", 3) else {
            unreachable!()
        };
        sentence.kind = ConceptKind::Sentence;
        s.apply_record(
            3,
            &Record::Apply(vec![Op::PutConcept(sentence).in_kb("story-1")]),
        );
        s.apply_record(
            4,
            &Record::Prepare {
                txid: TxId::new(3, 9),
                ops: vec![put("x", 1)],
            },
        );
        s
    }

    /// Everything a checkpoint restores, compared field by field.
    fn assert_restored(back: &GraphSnapshot, s: &GraphSnapshot) {
        assert_eq!(back.lsn, s.lsn);
        assert_eq!(back.nodes, s.nodes);
        assert_eq!(back.prepared, s.prepared);
        assert_eq!(
            (back.concepts, back.edges, back.sentences, back.vectors),
            (s.concepts, s.edges, s.sentences, s.vectors)
        );
        assert_eq!(stem_sets(back), stem_sets(s));
        assert_eq!(back.kb_of, s.kb_of);
        assert_eq!(back.kb_members, s.kb_members);
        assert_eq!(back.kb_list().len(), s.kb_list().len());
        let sentences = |x: &GraphSnapshot| -> Vec<ConceptId> {
            let mut v: Vec<ConceptId> = x.sentence_log.iter().map(|(_, _, id)| *id).collect();
            v.sort();
            v
        };
        assert_eq!(sentences(back), sentences(s));
        assert_eq!(back.kb_sentences("story-1").count(), 1);
    }

    #[test]
    fn format3_keeps_lists_encoded_until_used_and_round_trips() {
        let s = varied();
        let bytes = s.encode_checkpoint();
        assert!(bytes.starts_with(&FORMAT3));
        let back = GraphSnapshot::decode_checkpoint(&bytes).unwrap();
        let hub = &back.nodes[&id("hub")];
        assert!(hub.inc.is_encoded() && back.nodes[&id("paris")].out.is_encoded());
        // Lengths need no decoding; re-encoding an untouched snapshot copies the bytes
        // (in the map's order, which differs between maps: same length, same content).
        assert_eq!(hub.inc().len(), crate::graph::assoc_list::LARGE + 10);
        let again = back.encode_checkpoint();
        assert_eq!(again.len(), bytes.len());
        assert!(hub.inc.is_encoded());
        assert_restored(&GraphSnapshot::decode_checkpoint(&again).unwrap(), &s);
        assert_restored(&back, &s);
        // Reading decoded them, once, for every snapshot sharing them.
        assert!(!hub.inc.is_encoded());
        assert!(matches!(
            hub.inc.iter().next(),
            Some(a) if a.target == id("hub")
        ));
        // Damage in the framing is an error, never a panic.
        assert!(GraphSnapshot::decode_checkpoint(&bytes[..bytes.len() - 1]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(GraphSnapshot::decode_checkpoint(&longer).is_err());
    }

    #[test]
    fn folds_on_a_restored_snapshot_change_only_their_copy() {
        let s = varied();
        let back = GraphSnapshot::decode_checkpoint(&s.encode_checkpoint()).unwrap();
        let published = back.clone();
        let mut next = back;
        // Change the hub (large) and paris (small) while the published snapshot shares
        // their encoded lists.
        let change = Record::Apply(vec![
            edge(Side::In, "late", "hub"),
            edge(Side::Out, "paris", "europe"),
            Op::DeleteEdge {
                side: Side::In,
                source: id("member 3"),
                target: id("hub"),
                kind: AssocType::LocatedIn,
                negated: false,
            },
        ]);
        next.apply_record(5, &change);
        let mut want = s.clone();
        want.apply_record(5, &change);
        assert_eq!(next.nodes, want.nodes);
        assert_eq!(next.edges, want.edges);
        assert_restored(&published, &s);
        // And the changed snapshot checkpoints like one that never restarted.
        let again = GraphSnapshot::decode_checkpoint(&next.encode_checkpoint()).unwrap();
        assert_eq!(again.nodes, want.nodes);
    }

    #[test]
    fn format2_checkpoints_still_open_and_are_rewritten_in_format3() {
        let s = varied();
        let old = s.encode_checkpoint_format2();
        assert!(!old.starts_with(&FORMAT3));
        let back = GraphSnapshot::decode_checkpoint(&old).unwrap();
        assert_restored(&back, &s);
        let new = back.encode_checkpoint();
        assert!(new.starts_with(&FORMAT3));
        assert_restored(&GraphSnapshot::decode_checkpoint(&new).unwrap(), &s);
    }

    #[test]
    fn checkpoints_from_before_the_stem_index_rebuild_it() {
        let mut s = GraphSnapshot::default();
        for name in ["paris", "lyon", "road closure"] {
            s.apply(&put(name, 1));
        }
        let full = s.encode_checkpoint_format2();
        // An old checkpoint is the same payload without the trailing index.
        let (_, used): (CheckpointOwned, usize) =
            crate::protocol::codec::decode_prefix(&full).unwrap();
        assert!(used < full.len());
        let back = GraphSnapshot::decode_checkpoint(&full[..used]).unwrap();
        assert_eq!(stem_sets(&back), stem_sets(&s));
        assert_eq!(back.stems.len(), 3);
        let mut damaged = full.clone();
        damaged.push(0);
        assert!(GraphSnapshot::decode_checkpoint(&damaged).is_err());
    }

    #[test]
    fn ops_within_a_fold_mutate_lists_in_place() {
        // A hub's list is copied at most once per fold (when the previous snapshot
        // shares it), never once per op: that would make hubs quadratic.
        let mut s = GraphSnapshot::default();
        s.apply(&edge(Side::In, "a", "hub"));
        let published = s.clone();
        s.apply(&edge(Side::In, "b", "hub"));
        let ptr = |s: &GraphSnapshot| match &s.nodes[&id("hub")].inc {
            AssocList::Small(v) => Arc::as_ptr(v),
            other => panic!("expected a small list, got {other:?}"),
        };
        let first = ptr(&s);
        assert_ne!(first, ptr(&published));
        for n in ["c", "d", "e", "f"] {
            s.apply(&edge(Side::In, n, "hub"));
            assert_eq!(ptr(&s), first, "copied at {n}");
        }
        assert_eq!(s.nodes[&id("hub")].inc().len(), 6);
        assert_eq!(
            published.nodes[&id("hub")].inc().len(),
            1,
            "the published snapshot is untouched"
        );
    }

    #[test]
    fn a_hub_past_the_list_threshold_folds_and_checkpoints() {
        let mut s = GraphSnapshot::default();
        let n = crate::graph::assoc_list::LARGE * 2;
        let names: Vec<String> = (0..n).map(|i| format!("member {i}")).collect();
        for (i, name) in names.iter().enumerate() {
            s.apply(&edge(Side::In, name, "hub"));
            if i == n / 2 {
                let published = s.clone();
                s.apply(&edge(Side::In, "late", "hub"));
                assert_eq!(published.nodes[&id("hub")].inc().len(), i + 1);
            }
        }
        let hub = &s.nodes[&id("hub")];
        assert!(matches!(hub.inc, AssocList::Large(_)));
        assert_eq!(hub.inc().len(), n + 1);
        // Reinforcing and deleting work on the large form too.
        s.apply(&edge(Side::In, "member 3", "hub"));
        s.apply(&Op::DeleteEdge {
            side: Side::In,
            source: id("member 4"),
            target: id("hub"),
            kind: AssocType::LocatedIn,
            negated: false,
        });
        let list = s.nodes[&id("hub")].inc().to_vec();
        assert_eq!(list.len(), n);
        assert_eq!(
            list.iter()
                .find(|a| a.source == id("member 3"))
                .unwrap()
                .evidence,
            2
        );
        assert!(list.windows(2).all(|w| w[0].source < w[1].source));
        let back = GraphSnapshot::decode_checkpoint(&s.encode_checkpoint()).unwrap();
        assert_eq!(back.nodes, s.nodes);
    }

    fn in_kb(kb: &str, op: Op) -> Op {
        op.in_kb(kb)
    }

    fn kb_id(kb: &str, name: &str) -> ConceptId {
        ConceptId::derive_in(kb, ConceptKind::Entity, name)
    }

    /// An entity `name` of knowledge base `kb` with a vector, and an edge to `other`.
    fn kb_fact(kb: &str, name: &str, other: &str) -> Vec<Op> {
        let Op::PutConcept(mut u) = put(name, 1) else {
            unreachable!()
        };
        u.id = kb_id(kb, name);
        u.vector = Some(vec![1.0, 0.0]);
        let Op::PutConcept(mut o) = put(other, 1) else {
            unreachable!()
        };
        o.id = kb_id(kb, other);
        let mut ops = vec![Op::PutConcept(u), Op::PutConcept(o)];
        for side in [Side::Out, Side::In] {
            let Op::PutEdge(mut e) = edge(side, name, other) else {
                unreachable!()
            };
            e.source = kb_id(kb, name);
            e.target = kb_id(kb, other);
            ops.push(Op::PutEdge(e));
        }
        ops.into_iter().map(|op| in_kb(kb, op)).collect()
    }

    /// Checks the knowledge base invariants against a recount from the nodes.
    fn assert_kb_index(s: &GraphSnapshot) {
        let mut fresh = GraphSnapshot {
            nodes: s.nodes.clone(),
            concepts: s.concepts,
            edges: s.edges,
            lsn: s.lsn,
            ..Default::default()
        };
        for n in s.nodes.values() {
            if let Some(c) = &n.concept {
                fresh.sentences += (c.kind == ConceptKind::Sentence) as usize;
                fresh.vectors += c.has_vector as usize;
            }
        }
        let names = s
            .kbs
            .iter()
            .map(|(t, c)| (*t, c.name.to_string()))
            .collect();
        fresh.restore_kbs(s.kb_of.iter().map(|(i, t)| (*i, *t)).collect(), names);
        assert_eq!(fresh.kb_members, s.kb_members);
        assert_eq!((fresh.sentences, fresh.vectors), (s.sentences, s.vectors));
        let sizes = |s: &GraphSnapshot| -> Vec<(String, usize, usize, usize, usize, usize)> {
            let mut v: Vec<_> = s
                .kb_list()
                .into_iter()
                .map(|c| {
                    let n = c.name.to_string();
                    (
                        n,
                        c.nodes,
                        c.concepts,
                        c.sentences,
                        c.associations,
                        c.vectors,
                    )
                })
                .collect();
            v.sort();
            v
        };
        assert_eq!(sizes(&fresh), sizes(s));
        assert!(s.kb_of.keys().all(|id| s.nodes.contains_key(id)));
        assert_eq!(s.kb_of.len(), s.kb_members.len());
    }

    #[test]
    fn knowledge_bases_index_their_nodes_and_count_their_sizes() {
        let mut s = GraphSnapshot::default();
        s.apply_record(1, &Record::Apply(vec![put("paris", 1)]));
        s.apply_record(2, &Record::Apply(kb_fact("story-1", "mary", "garden")));
        s.apply_record(3, &Record::Apply(kb_fact("story-2", "mary", "kitchen")));
        assert_kb_index(&s);
        let one = s.kb_counts("story-1");
        assert_eq!(
            (one.concepts, one.associations, one.vectors, one.version),
            (2, 1, 1, 2)
        );
        assert_eq!(s.kb_counts("story-2").version, 3);
        let default = s.kb_counts(DEFAULT_KB);
        assert_eq!((default.concepts, default.associations), (1, 0));
        assert_eq!(s.kb_version(DEFAULT_KB), 1);
        assert_eq!(s.kb_version("nothing-here"), 0);
        // Same name, two knowledge bases, two concepts; each lists only its own.
        assert_ne!(kb_id("story-1", "mary"), kb_id("story-2", "mary"));
        let ids: Vec<ConceptId> = s.kb_ids_of(KbTag::named("story-1")).collect();
        assert_eq!(ids.len(), 2);
        assert!(ids.contains(&kb_id("story-1", "mary")));
        let defaults: Vec<ConceptId> = s.kb_ids_of(None).collect();
        assert_eq!(defaults, vec![id("paris")]);
        // The stem index keeps knowledge bases apart.
        let h = stem_hash(&stems("mary")).unwrap();
        assert!(!s.stems.contains_key(&h), "default has no mary");
        let k1 = KbTag::stem_key(KbTag::named("story-1"), h);
        assert_eq!(*s.stems[&k1], vec![kb_id("story-1", "mary")]);
        // Deleting through the ordinary ops keeps the index (no kb named in them).
        s.apply_record(
            4,
            &Record::Apply(vec![
                Op::DeleteConcept(kb_id("story-1", "mary")),
                Op::DeleteEdge {
                    side: Side::In,
                    source: kb_id("story-1", "mary"),
                    target: kb_id("story-1", "garden"),
                    kind: AssocType::LocatedIn,
                    negated: false,
                },
            ]),
        );
        assert_kb_index(&s);
        assert!(!s.stems.contains_key(&k1));
        assert_eq!(s.kb_counts("story-1").concepts, 1);
        assert_eq!(s.kb_version("story-1"), 4);
        assert_eq!(s.kb_version("story-2"), 3, "the other one did not change");
    }

    #[test]
    fn dropping_a_knowledge_base_removes_exactly_its_nodes_and_vectors() {
        let mut s = GraphSnapshot::default();
        s.apply_record(1, &Record::Apply(vec![put("paris", 1)]));
        s.apply_record(2, &Record::Apply(kb_fact("a", "mary", "garden")));
        s.apply_record(3, &Record::Apply(kb_fact("b", "mary", "garden")));
        let before = s.clone();
        let mut removed = Vec::new();
        s.apply_record_with(4, &Record::Apply(vec![Op::DropKb("a".into())]), &mut |c| {
            if let VectorChange::Remove(id) = c {
                removed.push(id);
            }
        });
        assert!(s.record_removes(&Record::Apply(vec![Op::DropKb("a".into())])));
        assert!(removed.contains(&kb_id("a", "mary")));
        assert!(!removed.contains(&kb_id("b", "mary")));
        assert!(s.concept(kb_id("a", "mary")).is_none());
        assert!(s.concept(kb_id("a", "garden")).is_none());
        assert!(s.concept(kb_id("b", "mary")).is_some());
        assert!(s.concept(id("paris")).is_some());
        assert!(!s.kbs.contains_key(&KbTag::of("a")));
        assert_eq!(s.kb_version("a"), 0);
        assert_kb_index(&s);
        assert_eq!((s.concepts, s.edges), (3, 1));
        assert_eq!(before.kb_counts("a").concepts, 2, "older snapshots keep it");
        // Dropping `default` leaves the named ones.
        s.apply_record(5, &Record::Apply(vec![Op::DropKb(DEFAULT_KB.into())]));
        assert!(s.concept(id("paris")).is_none());
        assert_eq!(s.kb_counts("b").concepts, 2);
        assert_kb_index(&s);
    }

    #[test]
    fn checkpoints_keep_knowledge_bases_and_older_ones_read_as_default() {
        let mut s = GraphSnapshot::default();
        s.apply_record(1, &Record::Apply(vec![put("paris", 1)]));
        s.apply_record(2, &Record::Apply(kb_fact("story-1", "mary", "garden")));
        let full = s.encode_checkpoint();
        let back = GraphSnapshot::decode_checkpoint(&full).unwrap();
        assert_eq!(back.nodes, s.nodes);
        assert_eq!(back.kb_of, s.kb_of);
        assert_eq!(back.kb_members, s.kb_members);
        assert_eq!(stem_sets(&back), stem_sets(&s));
        assert_eq!(&*back.kb_counts("story-1").name, "story-1");
        assert_eq!(back.kb_counts("story-1").concepts, 2);
        assert_eq!(
            back.kb_version("story-1"),
            2,
            "versions restart at the checkpoint"
        );
        assert_kb_index(&back);
        // A checkpoint written before knowledge bases existed: checkpoint and stems
        // only. It reads as all `default`, unchanged.
        let mut old = GraphSnapshot::default();
        old.apply_record(1, &Record::Apply(vec![put("paris", 1), put("lyon", 1)]));
        let bytes = old.encode_checkpoint_format2();
        let (_, used): (CheckpointOwned, usize) =
            crate::protocol::codec::decode_prefix(&bytes).unwrap();
        let (_, stems_used): (Vec<(u64, Vec<ConceptId>)>, usize) =
            crate::protocol::codec::decode_prefix(&bytes[used..]).unwrap();
        let before_kbs = &bytes[..used + stems_used];
        assert!(before_kbs.len() < bytes.len());
        let back = GraphSnapshot::decode_checkpoint(before_kbs).unwrap();
        assert_eq!(back.nodes, old.nodes);
        assert!(back.kb_of.is_empty() && back.kbs.is_empty());
        assert_eq!(back.kb_counts(DEFAULT_KB).concepts, 2);
        assert_eq!(stem_sets(&back), stem_sets(&old));
    }

    #[test]
    fn a_sentence_learned_again_by_another_teacher_keeps_each_time() {
        let sentence = |req: &str, at: u64| {
            Op::PutConcept(ConceptUpsert {
                id: ConceptId(9),
                content: "Mary went to the garden.".into(),
                kind: ConceptKind::Sentence,
                semantic_type: SemanticType::Spatial,
                strength: 1.0,
                confidence: 0.9,
                at_ms: at,
                source: Source {
                    request_id: Some(req.into()),
                    label: None,
                    at_ms: at,
                },
                vector: None,
            })
            .in_kb("story-3")
        };
        let mut s = GraphSnapshot::default();
        s.apply_record(1, &Record::Apply(vec![sentence("r1", 10)]));
        s.apply_record(2, &Record::Apply(vec![sentence("r2", 11)]));
        let c = s.concept(ConceptId(9)).unwrap();
        let times: Vec<u64> = c.sources.iter().map(|x| x.at_ms).collect();
        assert_eq!(times, vec![10, 11], "each occurrence keeps its own time");
        assert_eq!(s.kb_sentences("story-3").count(), 1);
        assert_eq!(s.kb_sentences(DEFAULT_KB).count(), 0);
    }

    #[test]
    fn txid_packs_epoch_and_seq() {
        let t = TxId::new(7, 42);
        assert_eq!(t.epoch(), 7);
        assert_eq!(t.to_string(), "tx-7-42");
        assert!(TxId::new(8, 0) > TxId::new(7, u32::MAX));
    }
}

//! Reasoning over shards that live on other nodes.
//!
//! A [`GraphView`] reads each shard either whole (a local snapshot: the single-node
//! fast path, no copying and no messages) or in part: a [`RemotePart`] holding only the
//! nodes the reasoner can reach from the question's names, fetched through the router
//! ([`Reader`]). The fetch follows the search frontier hop by hop, asking each remote
//! shard once per hop for every node of the frontier it holds
//! ([`ShardRequest::Expand`]), so a 6-hop question crossing three nodes costs about six
//! rounds of parallel messages, not one message per node. Name lookups
//! ([`ShardRequest::Resolve`]) and the logic layer's sentences
//! ([`ShardRequest::Occurrences`], cached per shard and version) go out together in the
//! first round.
//!
//! The reasoning algorithms stay unchanged and synchronous: they run over the view
//! once it holds everything within reach (`max_depth` hops of the question's names, in
//! the directions and relations the question can use), so they cannot tell a fetched
//! part from a local snapshot.
//!
//! A shard that cannot be read (its node is down, or did not answer within the
//! router's timeout) is recorded in [`Reader::unavailable`]; the caller answers from
//! the rest when that gives an answer and otherwise fails with the recorded 503, which
//! names the shard and its node.

use super::{Answer, GraphView, ReasonPath, ShardPart};
use crate::graph::assoc_list::AssocList;
use crate::graph::{
    AssocType, Concept, ConceptId, ConceptKind, GraphSnapshot, KbTag, Node, SentenceCursor,
    ShardId, Side,
};
use crate::learn::normalize::{entity_key, stem_hash, stems};
use crate::protocol::{KbSentences, NodeView, ShardReply, ShardRequest, SutraError};
use crate::router::Router;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The most ids one [`ShardRequest::Expand`] asks for.
const BATCH: usize = 1024;

/// What one reply carries at most (estimated encoded bytes), far below the transport's
/// 16 MiB frame limit, whose breach would drop the whole session between two nodes.
const REPLY_BYTES: usize = 4 << 20;

/// What one association list of a node carries at most (estimated bytes): a hub's list
/// beyond it is cut (and logged), since it could never travel whole.
const LIST_BYTES: usize = 2 << 20;

/// A knowledge base's sentences on one shard, as a reader holds them.
pub type SentenceSet = Arc<RemoteSentences>;

/// A copy of a knowledge base's sentences on one shard of another node, kept up to date
/// by reading only what changed (persistent maps: an update shares the rest).
#[derive(Clone, Debug, Default)]
pub struct RemoteSentences {
    /// Them, by id.
    pub by_id: imbl::HashMap<ConceptId, Arc<Concept>>,
    /// Their ids by the log position of their last occurrence.
    log: imbl::OrdSet<(u64, ConceptId)>,
    /// The position of each in `log`.
    pos_of: imbl::HashMap<ConceptId, u64>,
    /// Where the copy stands on that shard.
    pub cursor: SentenceCursor,
}

impl RemoteSentences {
    /// A copy made of a full listing.
    pub fn listed(list: Vec<(u64, Concept)>, cursor: SentenceCursor) -> RemoteSentences {
        RemoteSentences::default().with(list, cursor)
    }

    /// This copy with `changes` (sentences with their latest occurrence position) added
    /// or replaced, standing at `cursor`.
    pub fn with(&self, changes: Vec<(u64, Concept)>, cursor: SentenceCursor) -> RemoteSentences {
        let mut next = self.clone();
        for (pos, c) in changes {
            if let Some(old) = next.pos_of.insert(c.id, pos) {
                next.log.remove(&(old, c.id));
            }
            next.log.insert((pos, c.id));
            next.by_id.insert(c.id, Arc::new(c));
        }
        next.cursor = cursor;
        next
    }

    /// The sentences with an occurrence after log position `pos`, oldest first.
    pub fn since(&self, pos: u64) -> impl Iterator<Item = &Arc<Concept>> + '_ {
        self.log
            .range((pos.saturating_add(1), ConceptId(0))..)
            .filter_map(|(_, id)| self.by_id.get(id))
    }
}

/// The most remote nodes one view fetches (bounds the work and memory of one question,
/// like the reasoner's own expansion budget).
pub const MAX_FETCHED: usize = 50_000;

/// What a view holds of a shard on another node.
#[derive(Clone, Debug, Default)]
pub struct RemotePart {
    /// The nodes fetched so far (with their knowledge base in `kb_of`) and the stem
    /// index entries of the names looked up.
    pub snap: GraphSnapshot,
    /// The knowledge base's version on that shard.
    pub version: u64,
    /// Its sentence concepts there.
    pub sentence_count: usize,
    /// Them, when the logic layer or the events listing needs them.
    pub sentences: SentenceSet,
}

// ---- the shard's side: pure functions over its snapshot --------------------------------

/// Estimated encoded size of an association.
fn assoc_bytes(a: &crate::graph::Association) -> usize {
    64 + 48 * a.provenance.len()
}

/// Estimated encoded size of a concept.
fn concept_bytes(c: &Concept) -> usize {
    96 + c.content.len()
        + c.sources
            .iter()
            .map(|s| {
                24 + s.label.as_ref().map_or(0, String::len)
                    + s.request_id.as_ref().map_or(0, String::len)
            })
            .sum::<usize>()
}

/// One association list, cut at [`LIST_BYTES`]; returns it and its estimated size.
fn capped(list: &AssocList, id: ConceptId) -> (Vec<crate::graph::Association>, usize) {
    let (mut out, mut bytes) = (Vec::new(), 0);
    for a in list {
        let b = assoc_bytes(a);
        if bytes + b > LIST_BYTES {
            tracing::warn!(
                concept = %id,
                sent = out.len(),
                total = list.len(),
                "association list too large to send whole to another node; sending its first part"
            );
            break;
        }
        bytes += b;
        out.push(a.clone());
    }
    (out, bytes)
}

/// Node `id` of `snap` as it travels, with its estimated size.
fn sized_view(snap: &GraphSnapshot, id: ConceptId) -> Option<(NodeView, usize)> {
    let n = snap.nodes.get(&id)?;
    let (outgoing, o) = capped(n.out(), id);
    let (incoming, i) = capped(n.inc(), id);
    let c = n.concept.as_ref().map_or(0, |c| concept_bytes(c));
    Some((
        NodeView {
            id,
            concept: n.concept.as_deref().cloned(),
            outgoing,
            incoming,
            kb: snap.kb_tag_of(id),
        },
        16 + o + i + c,
    ))
}

/// Node `id` of `snap` as it travels.
pub fn node_view(snap: &GraphSnapshot, id: ConceptId) -> Option<NodeView> {
    sized_view(snap, id).map(|v| v.0)
}

/// The nodes of `ids` that `snap` holds ([`ShardRequest::Expand`]), as many of the ids
/// (from the first) as fit in one reply; returns them and how many ids they answer.
pub fn expand(snap: &GraphSnapshot, ids: &[ConceptId]) -> (Vec<NodeView>, usize) {
    let (mut nodes, mut bytes) = (Vec::new(), 0);
    for (i, id) in ids.iter().enumerate() {
        let Some((v, b)) = sized_view(snap, *id) else {
            continue;
        };
        if i > 0 && bytes + b > REPLY_BYTES {
            return (nodes, i);
        }
        bytes += b;
        nodes.push(v);
    }
    (nodes, ids.len())
}

/// The entities of knowledge base `kb` in `snap` that `names` may resolve to
/// ([`ShardRequest::Resolve`]): the exact match of each name and everything under its
/// stem key, with the stem keys' entries. Candidates whose nodes do not fit in one
/// reply come back as ids (third), for [`ShardRequest::Expand`].
#[allow(clippy::type_complexity)]
pub fn resolve(
    snap: &GraphSnapshot,
    names: &[String],
    kb: &str,
) -> (Vec<NodeView>, Vec<(u64, Vec<ConceptId>)>, Vec<ConceptId>) {
    let tag = KbTag::named(kb);
    let mut ids = BTreeSet::new();
    let mut keys = BTreeMap::new();
    for name in names {
        let key = entity_key(name);
        if !key.is_empty() {
            let id = ConceptId::derive_in(kb, ConceptKind::Entity, &key);
            if snap.nodes.contains_key(&id) {
                ids.insert(id);
            }
        }
        if let Some(hash) = stem_hash(&stems(name)) {
            let key = KbTag::stem_key(tag, hash);
            if let Some(list) = snap.stems.get(&key) {
                ids.extend(list.iter().copied());
                keys.insert(key, list.to_vec());
            }
        }
    }
    let ids: Vec<ConceptId> = ids.into_iter().collect();
    let (nodes, answered) = expand(snap, &ids);
    (nodes, keys.into_iter().collect(), ids[answered..].to_vec())
}

/// The sentences of knowledge base `kb` in `snap` ([`ShardRequest::Occurrences`]):
/// no list when unchanged since version `since` or more than `limit`; otherwise the page
/// of those with ids after `after`, by id, as many as fit in one reply: only those
/// changed after cursor `from` when the caller's copy can catch up from it, else all.
pub fn sentences(
    snap: &GraphSnapshot,
    kb: &str,
    since: Option<u64>,
    limit: usize,
    after: Option<ConceptId>,
    from: Option<SentenceCursor>,
) -> KbSentences {
    let tag = KbTag::named(kb);
    let version = snap.kb_version(kb);
    let count = snap.kb_counts(kb).sentences;
    let cursor = snap.sentence_cursor(tag);
    let changes = from.filter(|f| f.extends_to(&cursor));
    let mut page = KbSentences {
        version,
        count: count as u64,
        sentences: None,
        more: false,
        cursor,
        changes: changes.is_some(),
    };
    if since == Some(version) || count > limit {
        return page;
    }
    let from = changes.map_or(0, |f| f.pos.saturating_add(1));
    let mut all: Vec<(u64, &Arc<Concept>)> = snap
        .sentences_from(tag, from)
        .filter(|(_, c)| after.is_none_or(|a| c.id > a))
        .collect();
    all.sort_unstable_by_key(|(_, c)| c.id);
    let (mut list, mut bytes) = (Vec::new(), 0);
    for (pos, c) in all {
        let b = concept_bytes(c);
        if !list.is_empty() && bytes + b > REPLY_BYTES {
            page.more = true;
            break;
        }
        bytes += b;
        list.push((pos, (**c).clone()));
    }
    page.sentences = Some(list);
    page
}

/// Adds a fetched node to a part's snapshot.
fn insert(snap: &mut GraphSnapshot, v: NodeView) {
    if let Some(t) = v.kb {
        snap.kb_of.insert(v.id, t);
    }
    snap.nodes.insert(
        v.id,
        Node {
            concept: v.concept.map(Arc::new),
            out: AssocList::from_sorted(v.outgoing, Side::Out),
            inc: AssocList::from_sorted(v.incoming, Side::In),
        },
    );
}

/// The relations a question's paths can use (`None`: any), so the fetch does not follow
/// edges the reasoner never steps on. Mirrors the chaining rules of [`super::reason`].
pub fn relations_for(question: &str) -> Option<Vec<AssocType>> {
    use AssocType::*;
    match super::question::parse(question) {
        Ok(super::question::Question::Check { relation, .. }) => Some(match relation {
            // An is-a question may also be a property question.
            IsA | HasProperty => vec![IsA, HasProperty],
            CapableOf => vec![IsA, CapableOf],
            LocatedIn | PartOf => vec![LocatedIn, PartOf],
            r => vec![r],
        }),
        _ => None,
    }
}

// ---- the reader's side -----------------------------------------------------------------

/// Remote sentence sets by (shard, knowledge base), with their version: the logic layer
/// asks for them with every question, and they change only when learning does.
#[derive(Default)]
pub struct SentenceCache {
    entries: Mutex<HashMap<(ShardId, String), (u64, SentenceSet)>>,
}

/// Knowledge bases x shards cached at most (a full cache is emptied: simple and bounded).
const CACHE_ENTRIES: usize = 256;

impl SentenceCache {
    fn get(&self, s: ShardId, kb: &str) -> Option<(u64, SentenceSet)> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(&(s, kb.to_string())).cloned()
    }

    fn put(&self, s: ShardId, kb: &str, version: u64, set: SentenceSet) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CACHE_ENTRIES {
            entries.clear();
        }
        entries.insert((s, kb.to_string()), (version, set));
    }
}

/// What a [`Reader`] fetches up front.
pub struct Want<'a> {
    /// Names to resolve (the question's mentions).
    pub names: &'a [String],
    /// The knowledge base's sentences, if at most this many per shard.
    pub sentences: Option<usize>,
    /// Fold local shards' durable writes first (read-your-writes; remote shards fold
    /// on `Resolve` and `Occurrences`).
    pub fresh: bool,
    /// Where remote sentence sets are kept between questions.
    pub cache: Option<&'a SentenceCache>,
}

enum Slot {
    Local(Arc<GraphSnapshot>),
    Remote {
        node: String,
        part: Box<RemotePart>,
        /// Ids asked for (held or not).
        asked: HashSet<ConceptId>,
    },
}

/// Asks shard `s` for its sentences of `kb`, page by page; the pages are joined into
/// one reply (its version is the first page's: a later change is seen by the next
/// question).
async fn list_sentences(
    router: &Router,
    s: ShardId,
    kb: &str,
    since: Option<u64>,
    limit: usize,
    from: Option<SentenceCursor>,
) -> Result<ShardReply, SutraError> {
    let mut joined: Option<KbSentences> = None;
    let mut after = None;
    loop {
        let req = ShardRequest::Occurrences {
            kb: kb.to_string(),
            since,
            limit,
            after,
            from,
        };
        let page = match router.call(s, req).await? {
            ShardReply::Sentences(page) => page,
            other => return Ok(other),
        };
        let more = page.more;
        after = page
            .sentences
            .as_ref()
            .and_then(|l| l.last())
            .map(|c| c.1.id);
        match &mut joined {
            None => joined = Some(page),
            Some(j) => {
                if let (Some(all), Some(more)) = (&mut j.sentences, page.sentences) {
                    all.extend(more);
                }
            }
        }
        if !more || after.is_none() {
            let mut j = joined.expect("set by the first page");
            j.more = false;
            return Ok(ShardReply::Sentences(j));
        }
    }
}

/// Builds a [`GraphView`] of one knowledge base over local and remote shards.
pub struct Reader {
    router: Router,
    kb: String,
    slots: Vec<Slot>,
    /// Shards that could not be read, with the error to give when the answer needed
    /// them.
    pub unavailable: BTreeMap<ShardId, SutraError>,
    fetched: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Dir {
    Forward,
    Backward,
}

impl Reader {
    /// Takes the local shards' snapshots and asks the remote ones for `want`'s names
    /// and sentences (one round of parallel messages). A local shard that is not
    /// running is a 503 at once (its supervisor is restarting it); a remote one that
    /// cannot be read is recorded in [`Reader::unavailable`].
    pub async fn open(router: &Router, kb: &str, want: Want<'_>) -> Result<Reader, SutraError> {
        let mut slots = Vec::with_capacity(router.shards as usize);
        let mut remote = Vec::new();
        for s in 0..router.shards {
            match router.remote_owner(s) {
                Some(node) => {
                    remote.push(s);
                    slots.push(Slot::Remote {
                        node: node.to_string(),
                        part: Box::default(),
                        asked: HashSet::new(),
                    });
                }
                None => {
                    let snap = router.local_snapshot(s, want.fresh).ok_or_else(|| {
                        SutraError::unavailable(format!(
                            "shard-{s} is not running (it is being restarted by its supervisor); retry shortly"
                        ))
                    })?;
                    slots.push(Slot::Local(snap));
                }
            }
        }
        let mut reader = Reader {
            router: router.clone(),
            kb: kb.to_string(),
            slots,
            unavailable: BTreeMap::new(),
            fetched: 0,
        };
        if remote.is_empty() {
            return Ok(reader);
        }
        let cached: HashMap<ShardId, _> = remote
            .iter()
            .filter_map(|&s| Some((s, want.cache?.get(s, kb)?)))
            .collect();
        let replies = futures::future::join_all(remote.iter().map(|&s| {
            let since = cached.get(&s).map(|c| c.0);
            let from = cached.get(&s).map(|c| c.1.cursor);
            async move {
                let resolve = async {
                    if want.names.is_empty() {
                        return None;
                    }
                    let req = ShardRequest::Resolve {
                        names: want.names.to_vec(),
                        kb: kb.to_string(),
                    };
                    Some(router.call(s, req).await)
                };
                let occurrences = async {
                    let limit = want.sentences?;
                    Some(list_sentences(router, s, kb, since, limit, from).await)
                };
                (s, futures::join!(resolve, occurrences))
            }
        }))
        .await;
        // Candidates that did not fit in a Resolve reply: fetched next, before the
        // caller looks names up.
        let mut rest_of: BTreeMap<ShardId, BTreeSet<ConceptId>> = BTreeMap::new();
        for (s, (resolved, occurrences)) in replies {
            match resolved {
                None => {}
                Some(Ok(ShardReply::Resolved { nodes, stems, rest })) => {
                    let Slot::Remote { part, asked, .. } = &mut reader.slots[s as usize] else {
                        continue;
                    };
                    if !rest.is_empty() {
                        rest_of.insert(s, rest.into_iter().collect());
                    }
                    for (key, ids) in stems {
                        part.snap.stems.insert(key, Arc::new(ids));
                    }
                    for v in nodes {
                        asked.insert(v.id);
                        insert(&mut part.snap, v);
                    }
                }
                Some(reply) => reader.failed(s, reply),
            }
            match occurrences {
                None => {}
                Some(Ok(ShardReply::Sentences(got))) => {
                    let Slot::Remote { part, .. } = &mut reader.slots[s as usize] else {
                        continue;
                    };
                    part.version = got.version;
                    part.sentence_count = got.count as usize;
                    part.sentences = match (got.sentences, cached.get(&s)) {
                        (Some(list), cached) => {
                            let set = Arc::new(match cached {
                                // Only what changed since the cached copy's cursor.
                                Some((_, old)) if got.changes => old.with(list, got.cursor),
                                _ => RemoteSentences::listed(list, got.cursor),
                            });
                            if let Some(cache) = want.cache {
                                cache.put(s, kb, got.version, set.clone());
                            }
                            set
                        }
                        (None, Some((v, set))) if *v == got.version => set.clone(),
                        // More than the limit: counted, not listed.
                        (None, _) => Arc::default(),
                    };
                }
                Some(reply) => reader.failed(s, reply),
            }
        }
        while !rest_of.is_empty() {
            reader.fetch(rest_of.clone()).await;
            // Ids an Expand reply could not hold are asked again (a failed shard is
            // recorded and left out).
            for (s, ids) in rest_of.iter_mut() {
                match &reader.slots[*s as usize] {
                    Slot::Remote { asked, .. } if !reader.unavailable.contains_key(s) => {
                        ids.retain(|id| !asked.contains(id))
                    }
                    _ => ids.clear(),
                }
            }
            rest_of.retain(|_, ids| !ids.is_empty());
        }
        Ok(reader)
    }

    /// Records why shard `s` could not be read.
    fn failed(&mut self, s: ShardId, reply: Result<ShardReply, SutraError>) {
        let node = match &self.slots[s as usize] {
            Slot::Remote { node, .. } => node.as_str(),
            Slot::Local(_) => "this node",
        };
        let why = match reply {
            Err(e) => e.to_string(),
            Ok(other) => format!("it answered {other:?}"),
        };
        self.unavailable.entry(s).or_insert_with(|| {
            SutraError::unavailable(format!(
                "shard-{s} on node {node} could not be read and the answer needs it: {why}"
            ))
        });
    }

    /// Whether every shard is on this node (nothing to fetch).
    pub fn all_local(&self) -> bool {
        self.slots.iter().all(|s| matches!(s, Slot::Local(_)))
    }

    /// The error to answer with when the view could not give an answer: the first
    /// unreadable shard's, if any.
    pub fn unavailable_error(&self) -> Option<SutraError> {
        self.unavailable.values().next().cloned()
    }

    /// The view over what is held now.
    pub fn view(&self) -> GraphView {
        GraphView::from_parts(
            self.slots
                .iter()
                .map(|s| match s {
                    Slot::Local(snap) => ShardPart::Local(snap.clone()),
                    Slot::Remote { part, .. } => ShardPart::Remote(Arc::new((**part).clone())),
                })
                .collect(),
            &self.kb,
        )
    }

    /// Fetches every remote node within `max_depth` hops of `seeds`: forward along
    /// outgoing associations (paths), backward along incoming ones (inverse questions),
    /// only through `relations` when given, never through sentence provenance links.
    /// One message per remote shard per hop; stops at [`MAX_FETCHED`] nodes or
    /// `deadline`.
    pub async fn expand(
        &mut self,
        seeds: &[ConceptId],
        relations: Option<&[AssocType]>,
        max_depth: usize,
        deadline: Option<Instant>,
    ) {
        if self.all_local() {
            return;
        }
        let n = self.slots.len() as u32;
        // The shallowest depth each (node, direction) was expanded at.
        let mut done: HashMap<(ConceptId, Dir), usize> = HashMap::new();
        let mut pending: Vec<(ConceptId, Dir, usize)> = seeds
            .iter()
            .flat_map(|&id| [(id, Dir::Forward, 0), (id, Dir::Backward, 0)])
            .collect();
        loop {
            let mut wanted: BTreeMap<ShardId, BTreeSet<ConceptId>> = BTreeMap::new();
            let mut waiting = Vec::new();
            while let Some((id, dir, depth)) = pending.pop() {
                if done.get(&(id, dir)).is_some_and(|&d| d <= depth) {
                    continue;
                }
                let s = id.shard(n);
                let node = match &self.slots[s as usize] {
                    Slot::Local(snap) => snap.nodes.get(&id),
                    Slot::Remote { .. } if self.unavailable.contains_key(&s) => continue,
                    Slot::Remote { part, asked, .. } => {
                        if !asked.contains(&id) {
                            wanted.entry(s).or_default().insert(id);
                            waiting.push((id, dir, depth));
                            continue;
                        }
                        part.snap.nodes.get(&id)
                    }
                };
                done.insert((id, dir), depth);
                let Some(node) = node else {
                    continue;
                };
                if depth >= max_depth {
                    continue;
                }
                let list = match dir {
                    Dir::Forward => node.out(),
                    Dir::Backward => node.inc(),
                };
                for e in list {
                    if e.kind == AssocType::Mentions
                        || relations.is_some_and(|r| !r.contains(&e.kind))
                    {
                        continue;
                    }
                    let next = match dir {
                        Dir::Forward => e.target,
                        Dir::Backward => e.source,
                    };
                    pending.push((next, dir, depth + 1));
                }
            }
            if wanted.is_empty()
                || self.fetched >= MAX_FETCHED
                || deadline.is_some_and(|d| Instant::now() >= d)
            {
                return;
            }
            self.fetch(wanted).await;
            pending = waiting;
        }
    }

    /// Asks each remote shard for its `wanted` nodes, in parallel.
    async fn fetch(&mut self, wanted: BTreeMap<ShardId, BTreeSet<ConceptId>>) {
        let router = self.router.clone();
        let batches: Vec<(ShardId, Vec<ConceptId>)> = wanted
            .into_iter()
            .flat_map(|(s, ids)| {
                let ids: Vec<ConceptId> = ids.into_iter().collect();
                ids.chunks(BATCH)
                    .map(|c| (s, c.to_vec()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let replies = futures::future::join_all(batches.into_iter().map(|(s, ids)| {
            let router = &router;
            async move {
                let reply = router
                    .call(s, ShardRequest::Expand { ids: ids.clone() })
                    .await;
                (s, ids, reply)
            }
        }))
        .await;
        for (s, ids, reply) in replies {
            match reply {
                Ok(ShardReply::Nodes { nodes, answered }) => {
                    let Slot::Remote { part, asked, .. } = &mut self.slots[s as usize] else {
                        continue;
                    };
                    // Ids past `answered` did not fit: the next round asks again.
                    let answered = answered.min(ids.len());
                    self.fetched += answered;
                    asked.extend(ids.into_iter().take(answered));
                    for v in nodes {
                        insert(&mut part.snap, v);
                    }
                }
                other => self.failed(s, other),
            }
        }
    }

    /// Fills in the text, time and teacher of evidence sentences on `paths` that live
    /// on remote shards (the reasoner saw only their ids): one message per shard.
    pub async fn fill_evidence<'p>(&mut self, paths: impl IntoIterator<Item = &'p mut ReasonPath>) {
        let mut paths: Vec<&mut ReasonPath> = paths.into_iter().collect();
        if self.all_local() || paths.is_empty() {
            return;
        }
        let n = self.slots.len() as u32;
        let missing = |slots: &[Slot], id: ConceptId| match &slots[id.shard(n) as usize] {
            Slot::Remote { part, .. } => {
                part.snap.concept(id).is_none() && !part.sentences.by_id.contains_key(&id)
            }
            Slot::Local(_) => false,
        };
        let mut wanted: BTreeMap<ShardId, BTreeSet<ConceptId>> = BTreeMap::new();
        for p in paths.iter() {
            for e in &p.edges {
                for src in &e.sources {
                    if let Some(id) = src.id.as_deref().and_then(|i| i.parse::<ConceptId>().ok()) {
                        if src.text.is_none() && missing(&self.slots, id) {
                            wanted.entry(id.shard(n)).or_default().insert(id);
                        }
                    }
                }
            }
        }
        if wanted.is_empty() {
            return;
        }
        self.fetch(wanted).await;
        let view = self.view();
        for p in paths.iter_mut() {
            for e in p.edges.iter_mut() {
                for src in e.sources.iter_mut().filter(|s| s.text.is_none()) {
                    let Some(c) = src
                        .id
                        .as_deref()
                        .and_then(|i| i.parse::<ConceptId>().ok())
                        .and_then(|id| view.concept(id))
                    else {
                        continue;
                    };
                    let teacher = c.sources.first();
                    src.text = Some(c.content.clone());
                    src.learned_at = crate::graph::rfc3339(c.created_ms);
                    src.source = teacher.and_then(|t| t.label.clone());
                    src.request_id = teacher.and_then(|t| t.request_id.clone());
                }
            }
        }
    }
}

/// Every path of an answer, for [`Reader::fill_evidence`].
pub fn answer_paths(answer: &mut Answer) -> impl Iterator<Item = &mut ReasonPath> {
    answer.paths.iter_mut().chain(
        answer
            .alternatives
            .iter_mut()
            .filter_map(|a| a.path.as_mut()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{ConceptUpsert, EdgeUpsert, EvidenceFrom, Op, SemanticType, Source};

    fn entity(kb: &str, name: &str) -> (ConceptId, Op) {
        let id = ConceptId::derive_in(kb, ConceptKind::Entity, &entity_key(name));
        let op = Op::PutConcept(ConceptUpsert {
            id,
            content: name.to_string(),
            kind: ConceptKind::Entity,
            semantic_type: SemanticType::Entity,
            strength: 1.0,
            confidence: 0.9,
            at_ms: 1,
            source: Source::default(),
            vector: None,
        });
        (id, op.in_kb(kb))
    }

    fn edge(kb: &str, a: ConceptId, b: ConceptId, side: Side) -> Op {
        Op::PutEdge(EdgeUpsert {
            side,
            source: a,
            target: b,
            kind: AssocType::IsA,
            negated: false,
            confidence: 0.9,
            strength: 1.0,
            provenance: EvidenceFrom::Direct(Source::default()),
            at_ms: 1,
        })
        .in_kb(kb)
    }

    #[test]
    fn a_shard_answers_names_and_nodes_and_the_part_reads_like_the_snapshot() {
        let kb = "zoo";
        let mut snap = GraphSnapshot::default();
        let (dog, op) = entity(kb, "Dogs");
        snap.apply(&op);
        let (animal, op) = entity(kb, "animal");
        snap.apply(&op);
        snap.apply(&edge(kb, dog, animal, Side::Out));
        snap.apply(&edge(kb, dog, animal, Side::In));

        let (nodes, stems, rest) = resolve(&snap, &["dog".to_string()], kb);
        assert!(rest.is_empty());
        assert_eq!(nodes.len(), 1, "found by stems: {nodes:?}");
        assert_eq!(nodes[0].id, dog);
        assert_eq!(stems.len(), 1);
        // Another knowledge base's names are not found.
        assert!(resolve(&snap, &["dogs".to_string()], "other").0.is_empty());

        let mut part = RemotePart::default();
        for (k, ids) in stems {
            part.snap.stems.insert(k, Arc::new(ids));
        }
        let (more, answered) = expand(&snap, &[animal, ConceptId(7)]);
        assert_eq!(answered, 2);
        for v in nodes.into_iter().chain(more) {
            insert(&mut part.snap, v);
        }
        let remote = GraphView::from_parts(vec![ShardPart::Remote(Arc::new(part))], kb);
        let local = GraphView::in_kb(vec![Arc::new(snap.clone())], kb);
        for view in [&remote, &local] {
            assert_eq!(view.resolve_by_name("dog"), Some(dog));
            assert_eq!(view.exact("animal"), Some(animal));
            assert_eq!(view.out(dog).len(), 1);
            assert_eq!(view.inc(animal).len(), 1);
            assert!(view.owns(dog));
        }

        let all = sentences(&snap, kb, None, 10, None, None);
        assert_eq!((all.count, all.sentences.map(|s| s.len())), (0, Some(0)));
        let unchanged = sentences(&snap, kb, Some(all.version), 10, None, None);
        assert!(unchanged.sentences.is_none());
    }

    #[test]
    fn sentences_travel_in_pages_below_the_frame_limit() {
        let kb = "t";
        let mut snap = GraphSnapshot::default();
        for i in 0..3u64 {
            let op = Op::PutConcept(ConceptUpsert {
                id: ConceptId::derive_in(kb, ConceptKind::Sentence, &format!("s{i}")),
                content: format!("{i}").repeat(1_500_000),
                kind: ConceptKind::Sentence,
                semantic_type: SemanticType::Entity,
                strength: 1.0,
                confidence: 0.9,
                at_ms: 1,
                source: Source::default(),
                vector: None,
            });
            snap.apply(&op.in_kb(kb));
        }
        let first = sentences(&snap, kb, None, 10, None, None);
        assert!(first.more);
        let got = first.sentences.unwrap();
        assert_eq!((first.count, got.len()), (3, 2));
        let rest = sentences(&snap, kb, None, 10, got.last().map(|c| c.1.id), None);
        assert!(!rest.more);
        let rest = rest.sentences.unwrap();
        assert_eq!(rest.len(), 1);
        assert!(rest[0].1.id > got[1].1.id);
        // Over the limit: counted, not listed.
        assert!(sentences(&snap, kb, None, 2, None, None)
            .sentences
            .is_none());
    }

    #[test]
    fn check_questions_fetch_only_their_relations() {
        assert_eq!(
            relations_for("Is a dog an animal?"),
            Some(vec![AssocType::IsA, AssocType::HasProperty])
        );
        assert_eq!(relations_for("What is a dog?"), None);
    }
}

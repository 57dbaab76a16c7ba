//! `learner`: turns learn, associate and delete requests into per-shard ops and commits
//! them all-or-nothing through the [`Router`] (directly for one shard, 2PC otherwise).
//!
//! Each request runs as a task owned by the actor's state, so the mailbox never waits on
//! a flush and many requests share the shards' group commits.

use crate::graph::{
    AssocType, Association, ConceptId, ConceptKind, ConceptUpsert, EdgeUpsert, EvidenceFrom,
    EvidenceMatch, KbTag, LearnClock, Op, SemanticType, Side, Source, SourceKey,
};
use crate::learn::extract::{extract, Extraction};
use crate::learn::normalize::{display_name, entity_key, generic_singular, sentence_key};
use crate::protocol::{
    AssociateRequest, AssociationOut, ConceptView, KbDropped, KbStats, LearnOptions, Learned,
    LearnerMsg, Removed, ShardReply, ShardRequest, SutraError, TxnPlan,
};
use crate::router::Router;
use futures::future::join_all;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use tokio::task::JoinSet;

/// The learner actor.
pub struct Learner;

/// The learner's state.
pub struct LearnerState {
    router: Router,
    clock: Arc<LearnClock>,
    tasks: JoinSet<()>,
}

impl Actor for Learner {
    type Msg = LearnerMsg;
    type State = LearnerState;
    /// The router, and the node's learn clock.
    type Arguments = (Router, Arc<LearnClock>);

    async fn pre_start(
        &self,
        _myself: ActorRef<LearnerMsg>,
        (router, clock): (Router, Arc<LearnClock>),
    ) -> Result<LearnerState, ActorProcessingErr> {
        Ok(LearnerState {
            router,
            clock,
            tasks: JoinSet::new(),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<LearnerMsg>,
        msg: LearnerMsg,
        state: &mut LearnerState,
    ) -> Result<(), ActorProcessingErr> {
        while state.tasks.try_join_next().is_some() {}
        let router = state.router.clone();
        match msg {
            LearnerMsg::Learn {
                contents,
                options,
                request_id,
                label,
                kb,
                reply,
            } => {
                // Times are reserved here, in mailbox order, so requests are ordered as
                // they arrived even though they then run concurrently.
                let first = state.clock.reserve(contents.len() as u64);
                crate::logging::spawn_in_span(&mut state.tasks, async move {
                    let source = Source {
                        request_id: Some(request_id),
                        label,
                        at_ms: first,
                    };
                    let _ = reply.send(learn(&router, &kb, contents, &options, source).await);
                });
            }
            LearnerMsg::Associate(req, reply) => {
                let at_ms = state.clock.reserve(1);
                crate::logging::spawn_in_span(&mut state.tasks, async move {
                    let _ = reply.send(associate(&router, req, at_ms).await);
                });
            }
            LearnerMsg::Delete(kb, id, reply) => {
                crate::logging::spawn_in_span(&mut state.tasks, async move {
                    let _ = reply.send(delete(&router, &kb, id).await);
                });
            }
            LearnerMsg::Forget(kb, key, reply) => {
                crate::logging::spawn_in_span(&mut state.tasks, async move {
                    let _ = reply.send(forget(&router, &kb, key).await);
                });
            }
            LearnerMsg::DropKb(kb, reply) => {
                crate::logging::spawn_in_span(&mut state.tasks, async move {
                    let _ = reply.send(drop_kb(&router, &kb).await);
                });
            }
        }
        Ok(())
    }
}

/// Stores statements as sentence concepts of knowledge base `kb` with the entities and
/// associations read from them (each association keeps its sentence as provenance), in
/// one transaction. `source` is the teacher: the request and the client's label; the
/// i-th statement is learned at `source.at_ms + i` (times reserved from the node's
/// [`LearnClock`]), so each occurrence has its own time.
pub async fn learn(
    router: &Router,
    kb: &str,
    contents: Vec<String>,
    options: &LearnOptions,
    source: Source,
) -> Result<Learned, SutraError> {
    tracing::debug!(statements = contents.len(), kb, "learning");
    let first_ms = source.at_ms;
    let mut plan = KbPlan {
        plan: TxnPlan::default(),
        kb,
        shards: router.shards,
    };
    let mut ids = Vec::with_capacity(contents.len());
    let mut made = Vec::new();
    for (i, content) in contents.into_iter().enumerate() {
        let at_ms = first_ms + i as u64;
        let source = Source {
            at_ms,
            ..source.clone()
        };
        let id = ConceptId::derive_in(kb, ConceptKind::Sentence, &sentence_key(&content));
        ids.push(id);
        let extraction = if options.extract_associations {
            extract(&content)
        } else {
            Extraction {
                semantic_type: SemanticType::Unclassified,
                associations: Vec::new(),
            }
        };
        plan.push(Op::PutConcept(ConceptUpsert {
            id,
            content: content.trim().to_string(),
            kind: ConceptKind::Sentence,
            semantic_type: extraction.semantic_type,
            strength: options.strength,
            confidence: options.confidence,
            at_ms,
            source: source.clone(),
            vector: None,
        }));
        let mut kept = 0u32;
        for a in extraction.associations {
            let confidence = a.confidence * options.confidence;
            if confidence < options.min_association_confidence
                || kept >= options.max_associations_per_concept
            {
                continue;
            }
            // In "Dogs are mammals" / "Dogs can bark" the plural is grammar, not part of
            // the name: show such classes in the singular. Every other name is shown as
            // written ("A scissors is a tool" -> "scissors").
            let generic = |n: &str, applies: bool| {
                if applies {
                    generic_singular(n)
                } else {
                    display_name(n)
                }
            };
            let source_name = generic(&a.source, a.source_generic);
            let target_name = generic(&a.target, a.target_generic);
            let (Some(s), Some(t)) = (
                entity(&mut plan, &source_name, options, at_ms, &source),
                entity(&mut plan, &target_name, options, at_ms, &source),
            ) else {
                continue;
            };
            if s == t {
                continue;
            }
            kept += 1;
            for (from, to, kind, negated, conf) in [
                (s, t, a.kind, a.negated, confidence),
                (id, s, AssocType::Mentions, false, 1.0),
                (id, t, AssocType::Mentions, false, 1.0),
            ] {
                for side in [Side::Out, Side::In] {
                    plan.push(Op::PutEdge(EdgeUpsert {
                        side,
                        source: from,
                        target: to,
                        kind,
                        negated,
                        confidence: conf,
                        strength: options.strength,
                        provenance: EvidenceFrom::Sentence(id),
                        at_ms,
                    }));
                }
            }
            made.push(AssociationOut {
                kind: if a.negated {
                    format!("not_{}", a.kind.as_str())
                } else {
                    a.kind.as_str().to_string()
                },
                source: s.to_string(),
                target: t.to_string(),
                confidence,
            });
        }
    }
    let mut plan = plan.plan;
    if options.generate_embedding {
        attach_vectors(&mut plan, router.timeout).await?;
    }
    commit(router, plan, options.read_your_writes).await?;
    Ok(Learned {
        concept_ids: ids,
        associations: made,
    })
}

/// Stores self-monitoring events in the [`crate::events::EVENTS_KB`] knowledge base, in
/// one transaction: each event a sentence concept holding its fields (its JSON, see
/// [`crate::events::Event::content`]) taught at the event's own time, linked by
/// `mentions` to the entities of the node(s) and actor it concerns, so the same engine
/// answers questions about them. Returns the events' concept ids.
pub async fn store_events(
    router: &Router,
    events: &[crate::events::Event],
) -> Result<Vec<ConceptId>, SutraError> {
    let kb = crate::events::EVENTS_KB;
    let options = LearnOptions {
        extract_associations: false,
        confidence: 1.0,
        ..LearnOptions::default()
    };
    let mut plan = KbPlan {
        plan: TxnPlan::default(),
        kb,
        shards: router.shards,
    };
    let mut ids = Vec::with_capacity(events.len());
    for e in events {
        let content = e.content();
        let source = Source {
            request_id: None,
            label: Some(crate::events::EVENTS_SOURCE.to_string()),
            at_ms: e.at_ms,
        };
        let id = ConceptId::derive_in(kb, ConceptKind::Sentence, &sentence_key(&content));
        ids.push(id);
        plan.push(Op::PutConcept(ConceptUpsert {
            id,
            content,
            kind: ConceptKind::Sentence,
            semantic_type: SemanticType::Unclassified,
            strength: options.strength,
            confidence: options.confidence,
            at_ms: e.at_ms,
            source: source.clone(),
            vector: None,
        }));
        for subject in e.subjects() {
            let Some(t) = entity(&mut plan, &subject, &options, e.at_ms, &source) else {
                continue;
            };
            for side in [Side::Out, Side::In] {
                plan.push(Op::PutEdge(EdgeUpsert {
                    side,
                    source: id,
                    target: t,
                    kind: AssocType::Mentions,
                    negated: false,
                    confidence: 1.0,
                    strength: options.strength,
                    provenance: EvidenceFrom::Sentence(id),
                    at_ms: e.at_ms,
                }));
            }
        }
    }
    commit(router, plan.plan, false).await?;
    Ok(ids)
}

/// Deletes many concepts of one knowledge base (and what was derived only from them)
/// in one transaction, then erases them from disk: how expired events go.
pub async fn delete_many(router: &Router, ids: BTreeSet<ConceptId>) -> Result<Removed, SutraError> {
    if ids.is_empty() {
        return Ok(Removed::default());
    }
    remove(router, ids, None, Vec::new(), Vec::new()).await
}

/// Texts per call to the embedder pool: a large batch is embedded in chunks so one
/// request never holds more than this many places in the pool's bounded queue.
const EMBED_CHUNK: usize = 512;

/// Embeds the content of every concept the plan writes (sentences, and entity names so
/// questions can resolve concepts by similarity) and puts the vectors on the ops.
async fn attach_vectors(
    plan: &mut TxnPlan,
    timeout: std::time::Duration,
) -> Result<(), SutraError> {
    let mut texts: Vec<String> = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for op in plan.parts.values().flatten() {
        if let Some(u) = concept_upsert(op) {
            seen.entry(u.content.clone()).or_insert_with(|| {
                texts.push(u.content.clone());
                texts.len() - 1
            });
        }
    }
    let mut vectors = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(EMBED_CHUNK) {
        vectors.extend(crate::actors::embedder::embed(chunk.to_vec(), timeout).await?);
    }
    for op in plan.parts.values_mut().flatten() {
        if let Some(u) = concept_upsert_mut(op) {
            u.vector = Some(vectors[seen[&u.content]].to_vec());
        }
    }
    Ok(())
}

/// The concept upsert an op carries (in any knowledge base).
fn concept_upsert(op: &Op) -> Option<&ConceptUpsert> {
    match op {
        Op::PutConcept(u) => Some(u),
        Op::InKb { op, .. } => concept_upsert(op),
        _ => None,
    }
}

fn concept_upsert_mut(op: &mut Op) -> Option<&mut ConceptUpsert> {
    match op {
        Op::PutConcept(u) => Some(u),
        Op::InKb { op, .. } => concept_upsert_mut(op),
        _ => None,
    }
}

/// A transaction plan whose ops all go to one knowledge base.
struct KbPlan<'a> {
    plan: TxnPlan,
    kb: &'a str,
    shards: u32,
}

impl KbPlan<'_> {
    /// Adds `op`, in the plan's knowledge base, to the shard that stores it.
    fn push(&mut self, op: Op) {
        self.plan.push(self.shards, op.in_kb(self.kb));
    }
}

/// Adds (or reinforces) the entity named `name` in the plan's knowledge base; `None` if
/// the name has no words.
fn entity(
    plan: &mut KbPlan<'_>,
    name: &str,
    options: &LearnOptions,
    at_ms: u64,
    source: &Source,
) -> Option<ConceptId> {
    let key = entity_key(name);
    if key.is_empty() {
        return None;
    }
    let id = ConceptId::derive_in(plan.kb, ConceptKind::Entity, &key);
    plan.push(Op::PutConcept(ConceptUpsert {
        id,
        content: display_name(name),
        kind: ConceptKind::Entity,
        semantic_type: SemanticType::Entity,
        strength: options.strength,
        confidence: options.confidence,
        at_ms,
        source: source.clone(),
        vector: None,
    }));
    Some(id)
}

/// Commits a plan; with `visible`, also folds the touched shards before returning.
async fn commit(router: &Router, plan: TxnPlan, visible: bool) -> Result<(), SutraError> {
    let shards: Vec<_> = plan.parts.keys().copied().collect();
    router.commit(plan).await?;
    if visible {
        for r in join_all(
            shards
                .into_iter()
                .map(|s| router.call(s, ShardRequest::Fold)),
        )
        .await
        {
            r?;
        }
    }
    Ok(())
}

/// Reads a concept with every durable write to it applied.
pub async fn read_fresh(
    router: &Router,
    id: ConceptId,
) -> Result<Option<Box<ConceptView>>, SutraError> {
    match router
        .call(router.shard_of(id), ShardRequest::Get { id, fresh: true })
        .await?
    {
        ShardReply::Concept(view) => Ok(view),
        other => Err(SutraError::Internal(format!(
            "unexpected shard reply {other:?}"
        ))),
    }
}

/// Reads a concept of knowledge base `kb` with every durable write to it applied; a
/// concept of another knowledge base is not there.
pub async fn read_in(
    router: &Router,
    kb: &str,
    id: ConceptId,
) -> Result<Option<Box<ConceptView>>, SutraError> {
    Ok(read_fresh(router, id)
        .await?
        .filter(|v| v.kb == KbTag::named(kb)))
}

/// An association endpoint: an existing concept's id, or an entity name to create.
async fn endpoint(
    router: &Router,
    text: &str,
    confidence: f32,
    at_ms: u64,
    plan: &mut KbPlan<'_>,
) -> Result<ConceptId, SutraError> {
    if let Ok(id) = text.parse::<ConceptId>() {
        return match read_in(router, plan.kb, id).await? {
            Some(_) => Ok(id),
            None => Err(SutraError::NotFound(format!(
                "no concept has id {id} in knowledge base '{}'; to name an entity, use its name instead of an id",
                plan.kb
            ))),
        };
    }
    let key = entity_key(text);
    if key.is_empty() {
        return Err(SutraError::bad(
            "invalid_name",
            format!("'{text}' has no letters or digits to name an entity"),
        ));
    }
    let id = ConceptId::derive_in(plan.kb, ConceptKind::Entity, &key);
    plan.push(Op::PutConcept(ConceptUpsert {
        id,
        content: display_name(text),
        kind: ConceptKind::Entity,
        semantic_type: SemanticType::Entity,
        strength: 1.0,
        confidence,
        at_ms,
        source: Source::default(),
        vector: None,
    }));
    Ok(id)
}

/// Stores `source --type--> target`, creating named entities as needed, in one
/// transaction (both ends' copies and the entities, wherever they live).
pub async fn associate(
    router: &Router,
    req: AssociateRequest,
    at_ms: u64,
) -> Result<Learned, SutraError> {
    let mut plan = KbPlan {
        plan: TxnPlan::default(),
        kb: &req.kb,
        shards: router.shards,
    };
    let source = endpoint(router, &req.source, req.confidence, at_ms, &mut plan).await?;
    let target = endpoint(router, &req.target, req.confidence, at_ms, &mut plan).await?;
    let teacher = Source {
        request_id: Some(req.request_id.clone()),
        label: req.label.clone(),
        at_ms,
    };
    if source == target {
        return Err(SutraError::bad(
            "self_association",
            "source and target name the same concept; an association links two different concepts",
        ));
    }
    for side in [Side::Out, Side::In] {
        plan.push(Op::PutEdge(EdgeUpsert {
            side,
            source,
            target,
            kind: req.kind,
            negated: false,
            confidence: req.confidence,
            strength: 1.0,
            provenance: EvidenceFrom::Direct(teacher.clone()),
            at_ms,
        }));
    }
    commit(router, plan.plan, false).await?;
    Ok(Learned {
        concept_ids: vec![source, target],
        associations: vec![AssociationOut {
            kind: req.kind.as_str().to_string(),
            source: source.to_string(),
            target: target.to_string(),
            confidence: req.confidence,
        }],
    })
}

/// Deletes a concept, its vector and index entries with it, both copies of every
/// association touching it, and what was derived only from it (see [`remove`]), in one
/// transaction; then erases it from disk.
pub async fn delete(router: &Router, kb: &str, id: ConceptId) -> Result<Removed, SutraError> {
    if read_in(router, kb, id).await?.is_none() {
        return Err(SutraError::NotFound(format!(
            "no concept has id {id} in knowledge base '{kb}'"
        )));
    }
    remove(router, [id].into(), None, Vec::new(), Vec::new()).await
}

/// Forgets everything `key` taught and nobody else did: sentences it alone taught are
/// deleted (with what was derived only from them), sentences others taught too lose it
/// from their sources, and its direct statements leave the associations' evidence.
pub async fn forget(router: &Router, kb: &str, key: SourceKey) -> Result<Removed, SutraError> {
    let replies = join_all((0..router.shards).map(|s| {
        router.call(
            s,
            ShardRequest::FindSource {
                key: key.clone(),
                kb: kb.to_string(),
            },
        )
    }))
    .await;
    let (mut doomed, mut kept, mut direct) = (BTreeSet::new(), Vec::new(), Vec::new());
    for reply in replies {
        match reply? {
            ShardReply::Taught(t) => {
                for (id, only) in t.concepts {
                    if only {
                        doomed.insert(id);
                    } else {
                        kept.push(id);
                    }
                }
                direct.extend(t.direct);
            }
            other => {
                return Err(SutraError::Internal(format!(
                    "unexpected shard reply {other:?}"
                )))
            }
        }
    }
    if doomed.is_empty() && kept.is_empty() && direct.is_empty() {
        return Err(SutraError::NotFound(format!(
            "nothing learned from {key} is stored in knowledge base '{kb}'; list sources with GET /v1/concepts/{{id}}?kb={kb}"
        )));
    }
    remove(router, doomed, Some(key), kept, direct).await
}

/// Reads many concepts fresh, a bounded number at a time.
async fn read_many(
    router: &Router,
    ids: impl IntoIterator<Item = ConceptId>,
    into: &mut HashMap<ConceptId, Option<Box<ConceptView>>>,
) -> Result<(), SutraError> {
    use futures::stream::{self, StreamExt, TryStreamExt};
    let ids: Vec<ConceptId> = ids.into_iter().filter(|i| !into.contains_key(i)).collect();
    let views: Vec<(ConceptId, Option<Box<ConceptView>>)> = stream::iter(ids)
        .map(|id| async move { read_fresh(router, id).await.map(|v| (id, v)) })
        .buffer_unordered(32)
        .try_collect()
        .await?;
    into.extend(views);
    Ok(())
}

/// The identity of one association (both copies share it).
type AssocId = (ConceptId, ConceptId, AssocType, bool);

fn assoc_id(a: &Association) -> AssocId {
    (a.source, a.target, a.kind, a.negated)
}

/// Removes the `doomed` concepts and everything derived only from them, and the
/// evidence `key` gave directly (`direct`, outgoing copies) or as a teacher of the
/// `kept` sentences, in one transaction; then erases the removed text from disk.
///
/// Derived knowledge: an association loses the evidence of every doomed sentence and of
/// `key`'s direct statements; one left with no evidence goes; an entity left with no
/// association and named by no remaining sentence goes too. A concurrent learn that
/// links such an entity between the reads and the commit may lose that link's copy
/// under the deleted entity (deletes are rare, and the learn can be repeated).
async fn remove(
    router: &Router,
    mut doomed: BTreeSet<ConceptId>,
    key: Option<SourceKey>,
    kept: Vec<ConceptId>,
    direct: Vec<Association>,
) -> Result<Removed, SutraError> {
    let mut views = HashMap::new();
    read_many(router, doomed.iter().copied(), &mut views).await?;
    let mut report = Removed::default();
    // Entities whose evidence or existence the removal may change.
    let mut candidates = BTreeSet::new();
    for (id, view) in &views {
        let Some(v) = view else { continue };
        for a in v.outgoing.iter().chain(&v.incoming) {
            candidates.insert(if a.source == *id { a.target } else { a.source });
        }
    }
    for a in &direct {
        candidates.extend([a.source, a.target]);
    }
    candidates.retain(|c| !doomed.contains(c));
    read_many(router, candidates.iter().copied(), &mut views).await?;

    let mut plan = TxnPlan::default();
    let gone_sentences: Vec<ConceptId> = doomed.iter().copied().collect();
    let matches = |a: &Association| -> Vec<EvidenceMatch> {
        let mut m: Vec<EvidenceMatch> = a
            .provenance
            .iter()
            .filter_map(|e| match &e.from {
                EvidenceFrom::Sentence(s) if gone_sentences.contains(s) => {
                    Some(EvidenceMatch::Sentence(*s))
                }
                EvidenceFrom::Direct(t) if key.as_ref().is_some_and(|k| t.matches(k)) => {
                    Some(EvidenceMatch::Direct(key.clone().expect("matched")))
                }
                _ => None,
            })
            .collect();
        m.dedup();
        m
    };
    // Evidence removal, once per association (it shows up under both of its ends).
    let mut emptied: BTreeSet<AssocId> = BTreeSet::new();
    let mut visited: BTreeSet<AssocId> = BTreeSet::new();
    for c in &candidates {
        let Some(Some(v)) = views.get(c) else {
            continue;
        };
        for a in v.outgoing.iter().chain(&v.incoming) {
            if a.kind == AssocType::Mentions
                || doomed.contains(&a.source)
                || doomed.contains(&a.target)
                || !visited.insert(assoc_id(a))
            {
                continue;
            }
            let m = matches(a);
            if m.is_empty() {
                continue;
            }
            let left = a
                .provenance
                .iter()
                .filter(|e| !m.iter().any(|x| x.matches(e)))
                .count();
            if left == 0 {
                emptied.insert(assoc_id(a));
                report.associations += 1;
            } else {
                report.evidence += m.len() as u64;
            }
            for evidence in m {
                for side in [Side::Out, Side::In] {
                    plan.push(
                        router.shards,
                        Op::RemoveEvidence {
                            side,
                            source: a.source,
                            target: a.target,
                            kind: a.kind,
                            negated: a.negated,
                            evidence: evidence.clone(),
                        },
                    );
                }
            }
        }
    }
    // Entities left with nothing: no association that survives, no remaining sentence
    // naming them.
    for c in &candidates {
        let Some(Some(v)) = views.get(c) else {
            continue;
        };
        if v.concept.kind != ConceptKind::Entity {
            continue;
        }
        let survives = |a: &&Association| {
            !doomed.contains(&a.source)
                && !doomed.contains(&a.target)
                && !emptied.contains(&assoc_id(a))
        };
        if !v.outgoing.iter().chain(&v.incoming).any(|a| survives(&a)) {
            doomed.insert(*c);
        }
    }
    // The doomed concepts and every copy of their associations.
    for id in &doomed {
        let Some(Some(v)) = views.get(id) else {
            continue;
        };
        match v.concept.kind {
            ConceptKind::Sentence => report.sentences += 1,
            ConceptKind::Entity => report.entities += 1,
        }
        plan.push(router.shards, Op::DeleteConcept(*id));
        let remove = |side, a: &Association| Op::DeleteEdge {
            side,
            source: a.source,
            target: a.target,
            kind: a.kind,
            negated: a.negated,
        };
        for a in &v.outgoing {
            plan.push(router.shards, remove(Side::In, a));
            if a.kind != AssocType::Mentions && emptied.insert(assoc_id(a)) {
                report.associations += 1;
            }
        }
        for a in &v.incoming {
            plan.push(router.shards, remove(Side::Out, a));
            if a.kind != AssocType::Mentions && emptied.insert(assoc_id(a)) {
                report.associations += 1;
            }
        }
    }
    if let Some(key) = &key {
        for id in kept.iter().filter(|k| !doomed.contains(k)) {
            report.sources_forgotten += 1;
            plan.push(
                router.shards,
                Op::ForgetSource {
                    id: *id,
                    key: key.clone(),
                },
            );
        }
    }
    if plan.is_empty() {
        return Ok(report);
    }
    let touched: Vec<_> = plan.parts.keys().copied().collect();
    commit(router, plan, true).await?;
    report.erased_from_disk = erase(router, &touched).await;
    Ok(report)
}

/// The sizes of knowledge base `kb`, summed over every shard (after folding every
/// durable write); all zero when it holds nothing.
pub async fn kb_stats(router: &Router, kb: &str) -> Result<KbStats, SutraError> {
    let mut total = KbStats {
        name: kb.to_string(),
        ..Default::default()
    };
    let only = Some(kb.to_string());
    let replies = join_all(
        (0..router.shards).map(|s| router.call(s, ShardRequest::Kbs { only: only.clone() })),
    )
    .await;
    for reply in replies {
        match reply? {
            ShardReply::Kbs(kbs) => kbs.iter().for_each(|k| total.add(k)),
            other => {
                return Err(SutraError::Internal(format!(
                    "unexpected shard reply {other:?}"
                )))
            }
        }
    }
    Ok(total)
}

/// Every knowledge base with something stored, with its sizes summed over the shards,
/// by name.
pub async fn list_kbs(router: &Router) -> Result<Vec<KbStats>, SutraError> {
    let replies =
        join_all((0..router.shards).map(|s| router.call(s, ShardRequest::Kbs { only: None })))
            .await;
    let mut all: std::collections::BTreeMap<String, KbStats> = Default::default();
    for reply in replies {
        match reply? {
            ShardReply::Kbs(kbs) => {
                for k in kbs {
                    all.entry(k.name.clone())
                        .or_insert_with(|| KbStats {
                            name: k.name.clone(),
                            ..Default::default()
                        })
                        .add(&k);
                }
            }
            other => {
                return Err(SutraError::Internal(format!(
                    "unexpected shard reply {other:?}"
                )))
            }
        }
    }
    Ok(all.into_values().collect())
}

/// Drops knowledge base `kb` on every shard in one transaction (concepts, associations,
/// vectors, index entries), then erases its text from disk like any deletion.
pub async fn drop_kb(router: &Router, kb: &str) -> Result<KbDropped, SutraError> {
    let dropped = kb_stats(router, kb).await?;
    if dropped.concepts == 0 && dropped.associations == 0 {
        return Err(SutraError::NotFound(format!(
            "no knowledge base named '{kb}' holds anything; list them with GET /v1/kbs"
        )));
    }
    let mut plan = TxnPlan::default();
    for s in 0..router.shards {
        plan.push_to(s, Op::DropKb(kb.to_string()));
    }
    let shards: Vec<_> = (0..router.shards).collect();
    commit(router, plan, true).await?;
    let erased_from_disk = erase(router, &shards).await;
    tracing::info!(
        kb,
        concepts = dropped.concepts,
        erased_from_disk,
        "knowledge base dropped"
    );
    Ok(KbDropped {
        dropped,
        erased_from_disk,
    })
}

/// Asks every touched shard to drop the removed text from disk; false (and a warning)
/// if one could not, in which case its next checkpoint will.
async fn erase(router: &Router, shards: &[crate::graph::ShardId]) -> bool {
    let mut ok = true;
    for (s, r) in shards
        .iter()
        .zip(join_all(shards.iter().map(|s| router.call(*s, ShardRequest::Erase))).await)
    {
        if let Err(e) = r {
            tracing::warn!(shard = s, error = %e, "deleted data not yet erased from disk; the next checkpoint will");
            ok = false;
        }
    }
    ok
}

/// The association types a client may create (provenance links are internal).
pub fn client_assoc_type(name: &str) -> Result<AssocType, SutraError> {
    match name.parse::<AssocType>() {
        Ok(AssocType::Mentions) | Err(_) => {
            let names: Vec<_> = AssocType::ALL
                .iter()
                .filter(|t| **t != AssocType::Mentions)
                .map(|t| t.as_str())
                .collect();
            Err(SutraError::bad(
                "unknown_association_type",
                format!(
                    "unknown association type '{name}'; use one of: {}",
                    names.join(", ")
                ),
            ))
        }
        Ok(t) => Ok(t),
    }
}

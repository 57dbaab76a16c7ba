//! `learner`: turns learn, associate and delete requests into per-shard ops and commits
//! them all-or-nothing through the [`Router`] (directly for one shard, 2PC otherwise).
//!
//! Each request runs as a task owned by the actor's state, so the mailbox never waits on
//! a flush and many requests share the shards' group commits.

use crate::graph::{
    now_ms, AssocType, ConceptId, ConceptKind, ConceptUpsert, EdgeUpsert, Op, SemanticType, Side,
    Source,
};
use crate::learn::extract::{extract, Extraction};
use crate::learn::normalize::{display_name, entity_key, generic_singular, sentence_key};
use crate::protocol::{
    AssociateRequest, AssociationOut, ConceptView, LearnOptions, Learned, LearnerMsg, ShardReply,
    ShardRequest, SutraError, TxnPlan,
};
use crate::router::Router;
use futures::future::join_all;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::task::JoinSet;

/// The learner actor.
pub struct Learner;

/// The learner's state.
pub struct LearnerState {
    router: Router,
    tasks: JoinSet<()>,
}

impl Actor for Learner {
    type Msg = LearnerMsg;
    type State = LearnerState;
    type Arguments = Router;

    async fn pre_start(
        &self,
        _myself: ActorRef<LearnerMsg>,
        router: Router,
    ) -> Result<LearnerState, ActorProcessingErr> {
        Ok(LearnerState {
            router,
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
                reply,
            } => {
                state.tasks.spawn(async move {
                    let _ = reply.send(learn(&router, contents, &options, request_id).await);
                });
            }
            LearnerMsg::Associate(req, reply) => {
                state.tasks.spawn(async move {
                    let _ = reply.send(associate(&router, req).await);
                });
            }
            LearnerMsg::Delete(id, reply) => {
                state.tasks.spawn(async move {
                    let _ = reply.send(delete(&router, id).await);
                });
            }
        }
        Ok(())
    }
}

/// Stores statements as sentence concepts with the entities and associations read
/// from them (each association keeps its sentence as provenance), in one transaction.
pub async fn learn(
    router: &Router,
    contents: Vec<String>,
    options: &LearnOptions,
    request_id: String,
) -> Result<Learned, SutraError> {
    let at_ms = now_ms();
    let mut plan = TxnPlan::default();
    let mut ids = Vec::with_capacity(contents.len());
    let mut made = Vec::new();
    let source = Source {
        request_id: Some(request_id),
        ..Default::default()
    };
    for content in contents {
        let id = ConceptId::derive(ConceptKind::Sentence, &sentence_key(&content));
        ids.push(id);
        let extraction = if options.extract_associations {
            extract(&content)
        } else {
            Extraction {
                semantic_type: SemanticType::Unclassified,
                associations: Vec::new(),
            }
        };
        plan.push(
            router.shards,
            Op::PutConcept(ConceptUpsert {
                id,
                content: content.trim().to_string(),
                kind: ConceptKind::Sentence,
                semantic_type: extraction.semantic_type,
                strength: options.strength,
                confidence: options.confidence,
                at_ms,
                source: source.clone(),
                vector: None,
            }),
        );
        let mut kept = 0u32;
        for a in extraction.associations {
            let confidence = a.confidence * options.confidence;
            if confidence < options.min_association_confidence
                || kept >= options.max_associations_per_concept
            {
                continue;
            }
            // In "Dogs are mammals" / "Dogs can bark" the plural is grammar, not part of
            // the name: show such classes in the singular.
            let generic = |n: &str, applies: bool| {
                if applies {
                    generic_singular(n)
                } else {
                    display_name(n)
                }
            };
            let source_name = generic(
                &a.source,
                matches!(
                    a.kind,
                    AssocType::IsA | AssocType::CapableOf | AssocType::HasProperty
                ),
            );
            let target_name = generic(&a.target, a.kind == AssocType::IsA);
            let (Some(s), Some(t)) = (
                entity(router, &mut plan, &source_name, options, at_ms, &source),
                entity(router, &mut plan, &target_name, options, at_ms, &source),
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
                    plan.push(
                        router.shards,
                        Op::PutEdge(EdgeUpsert {
                            side,
                            source: from,
                            target: to,
                            kind,
                            negated,
                            confidence: conf,
                            strength: options.strength,
                            provenance: Some(id),
                            at_ms,
                        }),
                    );
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
    if options.generate_embedding {
        attach_vectors(&mut plan, router.timeout).await?;
    }
    commit(router, plan, options.read_your_writes).await?;
    Ok(Learned {
        concept_ids: ids,
        associations: made,
    })
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
        if let Op::PutConcept(u) = op {
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
        if let Op::PutConcept(u) = op {
            u.vector = Some(vectors[seen[&u.content]].to_vec());
        }
    }
    Ok(())
}

/// Adds (or reinforces) the entity named `name`; `None` if the name has no words.
fn entity(
    router: &Router,
    plan: &mut TxnPlan,
    name: &str,
    options: &LearnOptions,
    at_ms: u64,
    source: &Source,
) -> Option<ConceptId> {
    let key = entity_key(name);
    if key.is_empty() {
        return None;
    }
    let id = ConceptId::derive(ConceptKind::Entity, &key);
    plan.push(
        router.shards,
        Op::PutConcept(ConceptUpsert {
            id,
            content: display_name(name),
            kind: ConceptKind::Entity,
            semantic_type: SemanticType::Entity,
            strength: options.strength,
            confidence: options.confidence,
            at_ms,
            source: source.clone(),
            vector: None,
        }),
    );
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

/// An association endpoint: an existing concept's id, or an entity name to create.
async fn endpoint(
    router: &Router,
    text: &str,
    confidence: f32,
    at_ms: u64,
    request_id: &str,
    plan: &mut TxnPlan,
) -> Result<ConceptId, SutraError> {
    if let Ok(id) = text.parse::<ConceptId>() {
        return match read_fresh(router, id).await? {
            Some(_) => Ok(id),
            None => Err(SutraError::NotFound(format!(
                "no concept has id {id}; to name an entity, use its name instead of an id"
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
    let id = ConceptId::derive(ConceptKind::Entity, &key);
    plan.push(
        router.shards,
        Op::PutConcept(ConceptUpsert {
            id,
            content: display_name(text),
            kind: ConceptKind::Entity,
            semantic_type: SemanticType::Entity,
            strength: 1.0,
            confidence,
            at_ms,
            source: Source {
                request_id: Some(request_id.to_string()),
                ..Default::default()
            },
            vector: None,
        }),
    );
    Ok(id)
}

/// Stores `source --type--> target`, creating named entities as needed, in one
/// transaction (both ends' copies and the entities, wherever they live).
pub async fn associate(router: &Router, req: AssociateRequest) -> Result<Learned, SutraError> {
    let at_ms = now_ms();
    let mut plan = TxnPlan::default();
    let source = endpoint(
        router,
        &req.source,
        req.confidence,
        at_ms,
        &req.request_id,
        &mut plan,
    )
    .await?;
    let target = endpoint(
        router,
        &req.target,
        req.confidence,
        at_ms,
        &req.request_id,
        &mut plan,
    )
    .await?;
    if source == target {
        return Err(SutraError::bad(
            "self_association",
            "source and target name the same concept; an association links two different concepts",
        ));
    }
    for side in [Side::Out, Side::In] {
        plan.push(
            router.shards,
            Op::PutEdge(EdgeUpsert {
                side,
                source,
                target,
                kind: req.kind,
                negated: false,
                confidence: req.confidence,
                strength: 1.0,
                provenance: None,
                at_ms,
            }),
        );
    }
    commit(router, plan, false).await?;
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

/// Deletes a concept, its vector and index entries with it, and both copies of every
/// association touching it, in one transaction.
pub async fn delete(router: &Router, id: ConceptId) -> Result<(), SutraError> {
    let Some(view) = read_fresh(router, id).await? else {
        return Err(SutraError::NotFound(format!("no concept has id {id}")));
    };
    let mut plan = TxnPlan::default();
    plan.push(router.shards, Op::DeleteConcept(id));
    let remove = |side, a: &crate::graph::Association| Op::DeleteEdge {
        side,
        source: a.source,
        target: a.target,
        kind: a.kind,
        negated: a.negated,
    };
    for a in &view.outgoing {
        plan.push(router.shards, remove(Side::In, a));
    }
    for a in &view.incoming {
        plan.push(router.shards, remove(Side::Out, a));
    }
    commit(router, plan, true).await
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

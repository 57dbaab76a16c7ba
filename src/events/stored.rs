//! Stored events read back from the [`super::EVENTS_KB`] knowledge base, for
//! `GET /v1/events` and for English questions about the system (answered as a
//! [`crate::reason::Answer`] whose paths lead from the actor or node to each event
//! concept, so the events are the explanation).

use super::question::EventQuery;
use super::{rfc3339, Event, EVENTS_KB, EVENTS_SOURCE};
use crate::graph::{ConceptId, ConceptKind};
use crate::reason::{Answer, EvidenceOut, GraphView, PathConcept, PathEdge, ReasonPath, Verdict};

/// One stored event with its concept.
#[derive(Clone, Debug)]
pub struct StoredEvent {
    /// The event concept's id.
    pub id: ConceptId,
    /// The event.
    pub event: Event,
}

/// Every event stored in the view's shards (any order).
pub fn read(view: &GraphView) -> Vec<StoredEvent> {
    debug_assert_eq!(view.kb(), EVENTS_KB);
    view.sentences()
        .filter_map(|c| Event::parse(&c.content).map(|event| StoredEvent { id: c.id, event }))
        .collect()
}

/// Answers `q` from the events in `view` (a view of [`EVENTS_KB`]); at most `max_paths`
/// events are shown as paths (the answer text counts them all).
pub fn answer(view: &GraphView, q: &EventQuery, max_paths: usize) -> Answer {
    let stored = read(view);
    let events: Vec<Event> = stored.iter().map(|s| s.event.clone()).collect();
    let (text, hits) = q.answer(&events);
    let mut paths = Vec::new();
    // The most recent first: that is what an operator looks at.
    for hit in hits.iter().rev().take(max_paths) {
        let Some(s) = stored.iter().find(|s| s.event.id == hit.id) else {
            continue;
        };
        paths.push(path_to(view, s));
    }
    let found = !hits.is_empty();
    Answer {
        answer: text,
        verdict: Verdict::Answer,
        confidence: if found { 1.0 } else { 0.0 },
        quality_gate: if found { "PASSED" } else { "FAILED" },
        paths,
        alternatives: Vec::new(),
        proof: None,
    }
}

/// The path from the event's subject (its actor, else its node) to the event concept.
fn path_to(view: &GraphView, s: &StoredEvent) -> ReasonPath {
    let subject = s
        .event
        .subjects()
        .pop()
        .unwrap_or_else(|| format!("node {}", s.event.node));
    let subject_id = ConceptId::derive_in(
        EVENTS_KB,
        ConceptKind::Entity,
        &crate::learn::normalize::entity_key(&subject),
    );
    let content = view
        .concept(s.id)
        .map(|c| c.content.clone())
        .unwrap_or_else(|| s.event.content());
    ReasonPath {
        concepts: vec![
            PathConcept {
                id: subject_id.to_string(),
                name: subject,
            },
            PathConcept {
                id: s.id.to_string(),
                name: s.event.sentence(),
            },
        ],
        edges: vec![PathEdge {
            kind: "mentions",
            negated: false,
            confidence: 1.0,
            sources: vec![EvidenceOut {
                kind: "sentence",
                id: Some(s.id.to_string()),
                text: Some(content),
                learned_at: rfc3339(s.event.at_ms),
                source: Some(EVENTS_SOURCE.to_string()),
                request_id: None,
                confidence: 1.0,
                times: 1,
            }],
            source_count: 1,
            evidence_url: format!(
                "/v1/evidence?source={}&target={}&type=mentions&kb={EVENTS_KB}",
                s.id, subject_id
            ),
        }],
        confidence: 1.0,
    }
}

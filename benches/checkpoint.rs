//! Checkpoint cost of the stem index (a bench binary; figures go to BENCHMARKS.md).
//!
//! `cargo bench --bench checkpoint`: one shard snapshot of 250,000 entities, encoded once;
//! median of 5 decodes with the stored stem index, and of 5 decodes of the same payload
//! without it (a checkpoint written before the index existed, which rebuilds it).

use std::time::Instant;
use sutra::graph::snapshot::GraphSnapshot;
use sutra::graph::{ConceptId, ConceptKind, ConceptUpsert, Op, SemanticType, Source};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

const N: usize = 250_000;

/// A snapshot of `N` concepts of `kind` (only entities are stem-indexed).
fn snapshot(kind: ConceptKind) -> GraphSnapshot {
    let mut s = GraphSnapshot::default();
    for i in 0..N {
        let name = format!("entity number {i} of the bench");
        s.apply(&Op::PutConcept(ConceptUpsert {
            id: ConceptId::derive(kind, &name),
            content: name,
            kind,
            semantic_type: SemanticType::Entity,
            strength: 1.0,
            confidence: 0.5,
            at_ms: 1,
            source: Source::default(),
            vector: None,
        }));
    }
    s
}

fn main() {
    let s = snapshot(ConceptKind::Entity);
    let full = s.encode_checkpoint();
    // The index is the trailing value: a list of (hash, ids).
    let index: Vec<(u64, Vec<ConceptId>)> =
        s.stems.iter().map(|(h, ids)| (*h, ids.to_vec())).collect();
    let index_bytes = sutra::protocol::codec::encode(&index).len();
    let legacy = &full[..full.len() - index_bytes];
    let time = |bytes: &[u8], indexed: usize| {
        median(
            (0..5)
                .map(|_| {
                    let t = Instant::now();
                    let back = GraphSnapshot::decode_checkpoint(bytes).unwrap();
                    assert_eq!(back.stems.len(), indexed);
                    t.elapsed().as_secs_f64() * 1000.0
                })
                .collect(),
        )
    };
    let with = time(&full, N);
    let without = time(legacy, N);
    // The same concepts as sentences: nothing to index, the decode as it was before.
    let sentences = time(&snapshot(ConceptKind::Sentence).encode_checkpoint(), 0);
    println!(
        "checkpoint of {N} entities: {} bytes of graph + {index_bytes} bytes of stem index; decode with the stored index: median {with:.0} ms; decode of a pre-index checkpoint (index rebuilt from names): median {without:.0} ms; the same {N} concepts as sentences (not indexed): median {sentences:.0} ms",
        legacy.len()
    );
}

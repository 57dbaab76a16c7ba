use super::*;
use crate::graph::{ConceptUpsert, EdgeUpsert, Op, SemanticType, Side, Source};
use crate::learn::normalize::display_name;

const SHARDS: u32 = 4;

#[derive(Default)]
struct G {
    snaps: Vec<GraphSnapshot>,
}

impl G {
    fn new() -> Self {
        G {
            snaps: (0..SHARDS).map(|_| GraphSnapshot::default()).collect(),
        }
    }
    fn apply(&mut self, op: Op) {
        let s = op.home().shard(SHARDS) as usize;
        self.snaps[s].apply(&op);
    }
    fn ent(&mut self, name: &str) -> ConceptId {
        let id = ConceptId::derive(ConceptKind::Entity, &entity_key(name));
        self.apply(Op::PutConcept(ConceptUpsert {
            id,
            content: display_name(name),
            kind: ConceptKind::Entity,
            semantic_type: SemanticType::Entity,
            strength: 1.0,
            confidence: 0.9,
            at_ms: 0,
            source: Source::default(),
            vector: None,
        }));
        id
    }
    fn link(&mut self, s: &str, kind: AssocType, t: &str, conf: f32, negated: bool) {
        let (s, t) = (self.ent(s), self.ent(t));
        for side in [Side::Out, Side::In] {
            self.apply(Op::PutEdge(EdgeUpsert {
                side,
                source: s,
                target: t,
                kind,
                negated,
                confidence: conf,
                strength: 1.0,
                provenance: crate::graph::EvidenceFrom::Direct(Source::default()),
                at_ms: 0,
            }));
        }
    }
    fn rel(&mut self, s: &str, kind: AssocType, t: &str) {
        self.link(s, kind, t, 0.9, false);
    }
    fn view(&self) -> GraphView {
        GraphView::new(self.snaps.iter().cloned().map(Arc::new).collect())
    }
}

fn ask(g: &G, q: &str) -> Answer {
    reason(&g.view(), &ReasonConfig::default(), q)
}

fn names(p: &ReasonPath) -> Vec<String> {
    p.concepts.iter().map(|c| c.name.to_lowercase()).collect()
}

use AssocType::*;

#[test]
fn chains_with_decay_and_exact_path() {
    let mut g = G::new();
    g.rel("Eiffel Tower", LocatedIn, "Paris");
    g.rel("Paris", LocatedIn, "France");
    g.rel("France", LocatedIn, "Europe");
    let a = ask(&g, "Is the Eiffel Tower in Europe?");
    assert_eq!(a.verdict, Verdict::Yes, "{a:?}");
    assert_eq!(
        names(&a.paths[0]),
        ["eiffel tower", "paris", "france", "europe"]
    );
    // A transitive chain is as strong as its weakest link, with 0.99 per hop after the
    // first.
    let expected = 0.9f32 * 0.99 * 0.99;
    assert!((a.confidence - expected).abs() < 1e-4, "{}", a.confidence);
    assert!(
        a.answer
            .starts_with("Yes. Eiffel Tower is in Paris, which is in France"),
        "{}",
        a.answer
    );
    let one = ask(&g, "Is the Eiffel Tower in Paris?");
    assert!(one.confidence > a.confidence, "each hop decays");
}

#[test]
fn causal_chains_weaken_with_the_product_and_transitive_chains_do_not() {
    let mut g = G::new();
    g.rel("smoking", Causes, "tar");
    g.rel("tar", Causes, "cancer");
    let a = ask(&g, "Does smoking cause cancer?");
    assert_eq!(a.verdict, Verdict::Yes, "{a:?}");
    assert!(
        (a.confidence - 0.9 * 0.9 * 0.95).abs() < 1e-4,
        "{}",
        a.confidence
    );
    // 32 hops of 0.9 is-a facts: still well above the gate.
    let mut g = G::new();
    for i in 0..32 {
        g.rel(&format!("kind{i}"), IsA, &format!("kind{}", i + 1));
    }
    let a = ask(&g, "Is a kind0 a kind of kind32?");
    assert_eq!(a.verdict, Verdict::Yes, "{a:?}");
    assert!(
        (a.confidence - 0.9 * 0.99f32.powi(31)).abs() < 1e-3,
        "{}",
        a.confidence
    );
}

#[test]
fn no_path_is_unknown_never_no() {
    let mut g = G::new();
    g.rel("Tokyo", LocatedIn, "Japan");
    g.rel("Japan", LocatedIn, "Asia");
    g.rel("France", LocatedIn, "Europe");
    let a = ask(&g, "Is Tokyo in Europe?");
    assert_eq!(a.verdict, Verdict::Unknown);
    assert_eq!(a.quality_gate, "FAILED");
    assert!(
        a.answer.contains("Tokyo is in Japan"),
        "says what it found: {}",
        a.answer
    );
    let a = ask(&g, "Is Atlantis in Europe?");
    assert_eq!(a.verdict, Verdict::Unknown);
    assert!(a.answer.contains("Atlantis"), "{}", a.answer);
}

#[test]
fn negative_evidence_gives_no_and_is_never_chained() {
    let mut g = G::new();
    g.link("Paris", LocatedIn, "Germany", 0.9, true);
    g.rel("Paris", LocatedIn, "France");
    g.rel("Eiffel Tower", LocatedIn, "Paris");
    let a = ask(&g, "Is Paris in Germany?");
    assert_eq!(a.verdict, Verdict::No, "{a:?}");
    assert!(a.answer.contains("is not in Germany"), "{}", a.answer);
    // The negative edge never carries a positive chain.
    let a = ask(&g, "Is the Eiffel Tower in Germany?");
    assert_ne!(a.verdict, Verdict::Yes);
}

#[test]
fn cycles_are_avoided_and_depth_is_limited() {
    let mut g = G::new();
    g.rel("A", IsA, "B");
    g.rel("B", IsA, "C");
    g.rel("C", IsA, "A"); // a cycle
    g.rel("C", IsA, "D");
    let a = ask(&g, "Is A a kind of D?");
    assert_eq!(a.verdict, Verdict::Yes);
    for p in &a.paths {
        let mut seen = names(p);
        let n = seen.len();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), n, "a path revisits a concept: {p:?}");
    }
    // Depth: by default a chain is followed as deep as it goes; `max_depth` is an
    // optional limit.
    let mut g = G::new();
    for i in 0..8 {
        g.rel(&format!("n{i}"), IsA, &format!("n{}", i + 1));
    }
    assert_eq!(ask(&g, "Is n0 a kind of n6?").verdict, Verdict::Yes);
    assert_eq!(ask(&g, "Is n0 a kind of n8?").verdict, Verdict::Yes);
    let shallow = ReasonConfig {
        max_depth: 6,
        ..Default::default()
    };
    assert_eq!(
        reason(&g.view(), &shallow, "Is n0 a kind of n8?").verdict,
        Verdict::Unknown
    );
}

#[test]
fn a_forty_hop_chain_is_answered_by_default() {
    // Certain edges (confidence 1), so only the depth and the search decide: 40 hops keep
    // 0.95^39 = 0.135, above the quality gate.
    let mut g = G::new();
    for i in 0..40 {
        g.link(
            &format!("level {i}"),
            IsA,
            &format!("level {}", i + 1),
            1.0,
            false,
        );
        // Side branches the search must not wander into for long.
        g.link(
            &format!("level {i}"),
            IsA,
            &format!("branch {i}"),
            1.0,
            false,
        );
    }
    let a = ask(&g, "Is a level 0 a kind of level 40?");
    assert_eq!(a.verdict, Verdict::Yes, "{}", a.answer);
    assert_eq!(a.paths[0].concepts.len(), 41);
    assert_eq!(a.paths[0].edges.len(), 40);
    let limited = ReasonConfig {
        max_depth: 39,
        ..Default::default()
    };
    let a = reason(&g.view(), &limited, "Is a level 0 a kind of level 40?");
    assert_eq!(a.verdict, Verdict::Unknown, "{}", a.answer);
}

#[test]
fn multiple_inheritance_and_diverse_paths() {
    let mut g = G::new();
    g.rel("bat", IsA, "mammal");
    g.rel("bat", IsA, "flyer");
    g.rel("mammal", IsA, "animal");
    g.rel("flyer", IsA, "animal");
    let a = ask(&g, "Is a bat a kind of animal?");
    assert_eq!(a.verdict, Verdict::Yes);
    assert_eq!(a.paths.len(), 2, "both parents give a path: {:?}", a.paths);
    assert_ne!(names(&a.paths[0])[1], names(&a.paths[1])[1]);
}

#[test]
fn abilities_and_properties_inherit_down_not_up_nor_through_part_of() {
    let mut g = G::new();
    g.rel("poodle", IsA, "dog");
    g.rel("dog", CapableOf, "bark");
    g.rel("dog", IsA, "mammal");
    g.rel("sun", HasProperty, "hot");
    g.rel("wheel", PartOf, "car");
    g.rel("car", CapableOf, "drive");
    let a = ask(&g, "Can a poodle bark?");
    assert_eq!(a.verdict, Verdict::Yes);
    assert_eq!(ask(&g, "Do poodles bark?").verdict, Verdict::Yes);
    assert_eq!(ask(&g, "Do poodles fly?").verdict, Verdict::Unknown);
    assert_eq!(names(&a.paths[0]), ["poodle", "dog", "bark"]);
    assert_eq!(
        ask(&g, "Can a mammal bark?").verdict,
        Verdict::Unknown,
        "not upward"
    );
    assert_eq!(
        ask(&g, "Can a wheel drive?").verdict,
        Verdict::Unknown,
        "not through part-of"
    );
    let a = ask(&g, "Is the sun hot?");
    assert_eq!(a.verdict, Verdict::Yes);
    assert_eq!(names(&a.paths[0]), ["sun", "hot"]);
    // Inherited negative: penguins are birds that cannot fly.
    g.rel("penguin", IsA, "bird");
    g.rel("bird", CapableOf, "fly");
    g.link("penguin", CapableOf, "fly", 0.95, true);
    let a = ask(&g, "Can a penguin fly?");
    assert_eq!(a.verdict, Verdict::No, "{a:?}");
    assert_eq!(
        a.alternatives.len(),
        1,
        "the weaker yes is kept as an alternative"
    );
}

#[test]
fn consensus_ranks_conflicting_sources_by_evidence() {
    let mut g = G::new();
    g.rel("Mona Lisa", LocatedIn, "Louvre");
    g.rel("Mona Lisa", LocatedIn, "Louvre"); // repeated evidence
    g.rel("Mona Lisa", LocatedIn, "Madrid");
    g.rel("Louvre", LocatedIn, "Paris");
    let a = ask(&g, "Where is the Mona Lisa?");
    assert_eq!(a.verdict, Verdict::Answer);
    assert!(
        a.answer
            .starts_with("Mona Lisa is in Louvre, which is in Paris"),
        "{}",
        a.answer
    );
    assert_eq!(a.alternatives.len(), 1);
    assert_eq!(a.alternatives[0].answer, "Madrid");
    assert!(a.alternatives[0].confidence < a.confidence);
}

#[test]
fn quality_gate_turns_weak_evidence_into_unknown() {
    let mut g = G::new();
    g.link("rumour", Causes, "panic", 0.05, false);
    let a = ask(&g, "Does rumour cause panic?");
    assert_eq!(a.verdict, Verdict::Unknown);
    assert_eq!(a.quality_gate, "FAILED");
    assert_eq!(a.paths.len(), 1, "the weak path is still shown");
    let lenient = ReasonConfig {
        gate: 0.01,
        ..Default::default()
    };
    assert_eq!(
        reason(&g.view(), &lenient, "Does rumour cause panic?").verdict,
        Verdict::Yes
    );
}

#[test]
fn open_questions_causes_and_stems() {
    let mut g = G::new();
    g.rel("smoking", Causes, "lung cancer");
    g.rel("heavy rain", Causes, "flooding");
    g.rel("flooding", Causes, "road closures");
    g.rel("poodle", IsA, "dog");
    let a = ask(&g, "What causes lung cancer?");
    assert!(a.answer.to_lowercase().contains("smoking"), "{}", a.answer);
    let a = ask(&g, "Why are roads closed?");
    assert_eq!(a.verdict, Verdict::Answer, "{a:?}");
    assert!(a.answer.contains("flooding"), "{}", a.answer);
    let a = ask(&g, "What is a poodle?");
    assert!(a.answer.contains("dog"), "{}", a.answer);
    let a = ask(&g, "Tell me about flooding");
    let lower = a.answer.to_lowercase();
    assert!(
        lower.contains("heavy rain") && lower.contains("road closures"),
        "{}",
        a.answer
    );
    assert_eq!(
        ask(&g, "Where is the Statue of Liberty?").verdict,
        Verdict::Unknown
    );
}

#[test]
fn a_passed_deadline_stops_the_search_without_hanging() {
    let mut g = G::new();
    // A wide, deep hierarchy: many partial paths before the goal.
    for i in 0..60 {
        g.rel("root", IsA, &format!("m{i}"));
        for j in 0..20 {
            g.rel(&format!("m{i}"), IsA, &format!("leaf{i}x{j}"));
        }
    }
    g.rel("leaf59x19", IsA, "goal");
    let expired = ReasonConfig {
        deadline: Some(std::time::Instant::now()),
        max_expansions: 1 << 20,
        ..Default::default()
    };
    let a = reason(&g.view(), &expired, "Is root a kind of goal?");
    assert_eq!(
        a.verdict,
        Verdict::Unknown,
        "stopped before reaching the goal: {a:?}"
    );
    assert_eq!(ask(&g, "Is root a kind of goal?").verdict, Verdict::Yes);
}

//! The logic core ([`crate::logic`]) over a knowledge base's learned sentences, and how
//! its replies join the path answer of [`super::reason`].
//!
//! A knowledge base's logic program is built from its sentence *occurrences*: each
//! (sentence concept, teacher) pair is one occurrence with its own learn time, so a
//! sentence learned twice ("Mary went to the kitchen." early and late in a story) counts
//! at both times, and a proof cites the occurrence it rests on. Occurrences are learned in
//! the order of their times; a proof's token is the occurrence's place in that order.
//!
//! Programs are cached per knowledge base ([`LogicCache`], bounded LRU) with the view's
//! version: a question at the same version reuses the program (already saturated by
//! earlier questions); a newer version whose occurrences extend the cached ones (learning
//! appends) learns only the new ones; anything else (a sentence deleted or a teacher
//! forgotten) rebuilds it.

use super::{question, Answer, EvidenceOut, GraphView, ReasonPath, Verdict};
use crate::graph::{Concept, ConceptId, SentenceCursor};
use crate::logic::relations::RelationProps;
use crate::logic::{self, AskOptions, Inference, Reply, Used};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Knowledge bases whose logic programs are kept (least recently asked dropped first).
pub const CACHE_KBS: usize = 256;

/// One learned occurrence of a sentence: a sentence concept with one of its teachers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Occurrence {
    /// The sentence concept.
    pub sentence: ConceptId,
    /// Its text.
    pub text: String,
    /// When this occurrence was learned.
    pub at_ms: u64,
    /// The request that taught it.
    pub request_id: Option<String>,
    /// The client's `source` label, if it gave one.
    pub label: Option<String>,
}

/// Every sentence occurrence of the view's knowledge base, oldest first.
pub fn occurrences(view: &GraphView) -> Vec<Occurrence> {
    let mut out = Vec::new();
    for c in view.sentences() {
        occurrences_of(c, &mut out);
    }
    sort_occurrences(&mut out);
    out
}

/// The occurrences of one sentence concept (one per teacher).
fn occurrences_of(c: &Concept, out: &mut Vec<Occurrence>) {
    if c.sources.is_empty() {
        // Written before sources were kept: one occurrence at its creation.
        out.push(Occurrence {
            sentence: c.id,
            text: c.content.clone(),
            at_ms: c.created_ms,
            request_id: None,
            label: None,
        });
    }
    for s in &c.sources {
        out.push(Occurrence {
            sentence: c.id,
            text: c.content.clone(),
            at_ms: s.at_ms,
            request_id: s.request_id.clone(),
            label: s.label.clone(),
        });
    }
}

/// Puts occurrences in learn order. Learn times are unique per node (the learn clock);
/// the rest only makes the order total, so equal inputs always give equal programs.
fn sort_occurrences(out: &mut [Occurrence]) {
    out.sort_by(|a, b| {
        (a.at_ms, a.sentence, &a.request_id, &a.label).cmp(&(
            b.at_ms,
            b.sentence,
            &b.request_id,
            &b.label,
        ))
    });
}

/// How [`LogicKb::update`] brought a program up to date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Update {
    /// Nothing new.
    Unchanged,
    /// This many new occurrences learned on top of the program.
    Extended(usize),
    /// Built anew from every occurrence.
    Rebuilt,
}

/// The logic program of one knowledge base and the occurrences it was learned from.
#[derive(Default)]
pub struct LogicKb {
    kb: logic::Kb,
    occurrences: Vec<Occurrence>,
    /// The view version it reflects (empty: none yet, or unknown after a failure).
    version: Vec<u64>,
    /// The relation properties every rebuild starts from (the built-in lexicon and the
    /// topology's `reasoning.relations`).
    relations: RelationProps,
    /// Where each shard's sentences stood when the program last caught up with a view
    /// (index = shard; empty: never), so the next catch-up reads only what changed.
    cursors: Vec<SentenceCursor>,
    /// The places in `occurrences` of each sentence's occurrences, to skip known ones.
    known: HashMap<ConceptId, Vec<usize>>,
}

impl LogicKb {
    /// A program learned from `occurrences` (oldest first).
    pub fn build(occurrences: Vec<Occurrence>) -> LogicKb {
        let mut k = LogicKb::default();
        k.update(occurrences);
        k
    }

    /// An empty program whose relations start with `relations`.
    pub fn with_relations(relations: RelationProps) -> LogicKb {
        LogicKb {
            kb: logic::Kb::with_relations(relations.clone()),
            relations,
            ..LogicKb::default()
        }
    }

    /// Brings the program up to the view's knowledge base: learns only the occurrences
    /// of sentences changed since it last looked (in learn order, on top), or, when the
    /// view's shards differ or an occurrence it knows may be gone (a sentence deleted, a
    /// teacher forgotten, a shard reopened from its checkpoint), rebuilds it. Costs what
    /// changed, not what the knowledge base holds.
    pub fn catch_up(&mut self, view: &GraphView) -> Update {
        let now: Vec<SentenceCursor> = (0..view.shard_count())
            .map(|i| view.sentence_cursor(i))
            .collect();
        let extends = self.cursors.len() == now.len()
            && self
                .cursors
                .iter()
                .zip(&now)
                .all(|(was, is)| was.extends_to(is));
        if !extends {
            self.kb = logic::Kb::with_relations(self.relations.clone());
            self.occurrences.clear();
            self.known.clear();
            self.learn(occurrences(view));
            self.cursors = now;
            return Update::Rebuilt;
        }
        let mut fresh = Vec::new();
        let mut theirs = Vec::new();
        for (i, was) in self.cursors.iter().enumerate() {
            for c in view.sentences_since(i as u32, was.pos) {
                theirs.clear();
                occurrences_of(c, &mut theirs);
                fresh.extend(theirs.drain(..).filter(|o| !self.knows(o)));
            }
        }
        self.cursors = now;
        if fresh.is_empty() {
            return Update::Unchanged;
        }
        sort_occurrences(&mut fresh);
        let added = fresh.len();
        self.learn(fresh);
        Update::Extended(added)
    }

    /// Whether occurrence `o` is learned already.
    fn knows(&self, o: &Occurrence) -> bool {
        self.known
            .get(&o.sentence)
            .is_some_and(|at| at.iter().any(|&i| self.occurrences[i] == *o))
    }

    /// Brings the program up to `occurrences` (oldest first): when every known one is
    /// still there, learns only the new ones on top (in their order; one that became
    /// visible late, from a learn that ran concurrently with a later one, is learned
    /// after it: concurrent learns have no order of their own), else rebuilds.
    pub fn update(&mut self, occurrences: Vec<Occurrence>) -> Update {
        let n = self.occurrences.len();
        let extends = occurrences.len() >= n && occurrences[..n] == self.occurrences[..];
        let fresh: Vec<Occurrence> = if extends {
            // The usual case (learning appends): no hashing.
            occurrences[n..].to_vec()
        } else {
            let known: HashSet<&Occurrence> = self.occurrences.iter().collect();
            let fresh: Vec<Occurrence> = occurrences
                .iter()
                .filter(|o| !known.contains(o))
                .cloned()
                .collect();
            if occurrences.len() - fresh.len() != n {
                // Something known is gone (deleted, forgotten): start again.
                self.kb = logic::Kb::with_relations(self.relations.clone());
                self.occurrences.clear();
                self.known.clear();
                self.cursors.clear();
                self.learn(occurrences);
                return Update::Rebuilt;
            }
            fresh
        };
        if fresh.is_empty() {
            return Update::Unchanged;
        }
        let added = fresh.len();
        self.learn(fresh);
        Update::Extended(added)
    }

    /// Learns occurrences on top of the program, in order.
    fn learn(&mut self, occurrences: Vec<Occurrence>) {
        for o in occurrences {
            // The token and the learn order are the occurrence's place (from 1): strictly
            // increasing by construction, so learning cannot fail on order.
            let token = self.occurrences.len() as u64 + 1;
            if let Err(e) = self.kb.learn(&o.text, token, token) {
                tracing::error!(error = %e, "logic program learned out of order");
            }
            self.known
                .entry(o.sentence)
                .or_default()
                .push(self.occurrences.len());
            self.occurrences.push(o);
        }
    }

    /// Answers a question (None: not a question the logic layer reads).
    pub fn ask(&mut self, question: &str, options: &AskOptions) -> Option<Reply> {
        self.kb.ask(question, options)
    }

    /// The occurrence a proof token cites.
    pub fn occurrence(&self, token: u64) -> Option<&Occurrence> {
        let i = usize::try_from(token).ok()?.checked_sub(1)?;
        self.occurrences.get(i)
    }

    /// Occurrences learned.
    pub fn len(&self) -> usize {
        self.occurrences.len()
    }

    /// Whether nothing was learned.
    pub fn is_empty(&self) -> bool {
        self.occurrences.is_empty()
    }
}

/// The default largest knowledge base (in sentences) the logic layer answers for
/// (`reasoning.logic_max_sentences`): the first question to a knowledge base builds its
/// program from every occurrence (later ones read only what changed), which bounds the
/// memory and the time of that first question.
pub const MAX_SENTENCES: usize = 1_000_000;

/// Logic programs of recently asked knowledge bases, shared by the query sessions. Each
/// knowledge base has its own lock, so questions to different ones run in parallel.
pub struct LogicCache {
    entries: Mutex<lru::LruCache<String, Arc<Mutex<LogicKb>>>>,
    settings: LogicSettings,
}

/// What the topology says about every knowledge base's logic (`[reasoning]`).
#[derive(Clone, Debug)]
pub struct LogicSettings {
    /// The largest knowledge base (sentences) the logic layer answers for; larger ones
    /// get the path reasoner alone (`reasoning.logic_max_sentences`).
    pub max_sentences: usize,
    /// The relation properties programs start with (`reasoning.relations`).
    pub relations: RelationProps,
    /// Knowledge bases answered under the closed-world assumption, whatever the request
    /// says (`reasoning.closed_world_kbs`): what cannot be proved is `no`.
    pub closed_world_kbs: HashSet<String>,
}

impl Default for LogicSettings {
    fn default() -> Self {
        LogicSettings {
            max_sentences: MAX_SENTENCES,
            relations: RelationProps::default(),
            closed_world_kbs: HashSet::new(),
        }
    }
}

impl Default for LogicCache {
    fn default() -> Self {
        LogicCache::new(CACHE_KBS)
    }
}

impl LogicCache {
    /// A cache keeping at most `kbs` knowledge bases' programs (at least one).
    pub fn new(kbs: usize) -> LogicCache {
        LogicCache::with_settings(kbs, LogicSettings::default())
    }

    /// A cache of at most `kbs` programs that start from `settings`.
    pub fn with_settings(kbs: usize, settings: LogicSettings) -> LogicCache {
        let cap = NonZeroUsize::new(kbs.max(1)).unwrap_or(NonZeroUsize::MIN);
        LogicCache {
            entries: Mutex::new(lru::LruCache::new(cap)),
            settings,
        }
    }

    /// The largest knowledge base (sentences) it answers for.
    pub fn max_sentences(&self) -> usize {
        self.settings.max_sentences
    }

    /// Programs cached now.
    pub fn len(&self) -> usize {
        relock(&self.entries).len()
    }

    /// Whether none is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Asks the view's knowledge base, bringing its cached program up to the view first.
    /// CPU work: call it off the async workers.
    pub fn ask(
        &self,
        view: &GraphView,
        question: &str,
        options: &AskOptions,
    ) -> Option<LogicAnswer> {
        // The first question builds the program from every occurrence (later ones learn
        // only what changed): past the configured size that first build would cost too
        // much memory and time, so such a knowledge base gets the path reasoner alone.
        if view.sentence_count() > self.settings.max_sentences {
            return None;
        }
        let entry = {
            let mut entries = relock(&self.entries);
            entries
                .get_or_insert(view.kb().to_string(), || {
                    Arc::new(Mutex::new(LogicKb::with_relations(
                        self.settings.relations.clone(),
                    )))
                })
                .clone()
        };
        let mut program = match entry.lock() {
            Ok(p) => p,
            Err(poisoned) => {
                // A question panicked half-way through this program: start it anew.
                entry.clear_poison();
                let mut p = poisoned.into_inner();
                *p = LogicKb::with_relations(self.settings.relations.clone());
                p
            }
        };
        let version = view.version();
        if program.version != version || program.version.is_empty() {
            // Unknown while learning, so a panic in it leaves a program that rebuilds.
            program.version = Vec::new();
            let how = program.catch_up(view);
            tracing::debug!(kb = view.kb(), ?how, "logic program brought up to date");
            program.version = version;
        }
        let closed;
        let options = if !options.closed_world && self.settings.closed_world_kbs.contains(view.kb())
        {
            closed = AskOptions {
                closed_world: true,
                ..options.clone()
            };
            &closed
        } else {
            options
        };
        let reply = program.ask(question, options)?;
        Some(LogicAnswer::new(&reply, &program, view))
    }
}

fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The map is consistent after every statement: a panic elsewhere cannot break it.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One step of a proof, as clients see it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepOut {
    /// What the step concludes, in English.
    pub conclusion: String,
    /// `fact`, `rule`, `property` (of a relation), `timeline` (the latest value of a
    /// relation that holds one value at a time, or possession), `analogy` or
    /// `closed_world`.
    pub used: &'static str,
    /// The rule's sentence (`rule`) or the relation property (`property`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// `deduction` or `induction`.
    pub inference: &'static str,
    /// The steps it was applied to (indexes into the same `steps`).
    pub premises: Vec<usize>,
    /// The learned sentence occurrences it rests on directly.
    pub sources: Vec<EvidenceOut>,
}

/// One proof tree.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProofTree {
    /// Steps in dependency order, the conclusion last.
    pub steps: Vec<StepOut>,
}

/// The proof of a logic answer (`proof` of an answer).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProofOut {
    /// The steps of the (first) proof, premises first, the conclusion last.
    pub steps: Vec<StepOut>,
    /// Every proof when there is more than one: a conflict's two sides (for, then
    /// against), or one per answer of an open question.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub proofs: Vec<ProofTree>,
    /// Both the statement and its negation are provable (the verdict is `unknown`).
    pub conflict: bool,
    /// The work budget ran out before every consequence was derived.
    pub budget_exhausted: bool,
}

/// A logic reply in the terms of an [`Answer`].
#[derive(Clone, Debug, PartialEq)]
pub struct LogicAnswer {
    /// The verdict.
    pub verdict: Verdict,
    /// The answer text, reading the proof.
    pub answer: String,
    /// Its confidence.
    pub confidence: f32,
    /// The proof.
    pub proof: ProofOut,
    /// The proof rests on the latest value of a relation holding one value at a time
    /// (a timeline) stated by a copular sentence ("The Eiffel Tower is in Paris."), not
    /// a movement ("Mary went to the garden."): that is also containment, where being in
    /// Paris does not exclude being in France. Such an answer gives way to a path answer
    /// that disagrees.
    pub stative_timeline: bool,
}

impl LogicAnswer {
    fn new(reply: &Reply, program: &LogicKb, view: &GraphView) -> LogicAnswer {
        let source = |token: u64| -> Option<EvidenceOut> {
            let o = program.occurrence(token)?;
            Some(EvidenceOut {
                kind: "sentence",
                id: Some(o.sentence.to_string()),
                text: Some(o.text.clone()),
                learned_at: crate::graph::rfc3339(o.at_ms),
                source: o.label.clone(),
                request_id: o.request_id.clone(),
                confidence: view.concept(o.sentence).map_or(1.0, |c| c.confidence),
                times: 1,
            })
        };
        let trees: Vec<ProofTree> = reply
            .proofs
            .iter()
            .map(|p| ProofTree {
                steps: p
                    .steps
                    .iter()
                    .map(|s| {
                        let (used, rule) = match &s.used {
                            Used::Fact => ("fact", None),
                            Used::Rule(text) => ("rule", Some(text.clone())),
                            Used::Property(text) => ("property", Some(text.clone())),
                            Used::Timeline => ("timeline", None),
                            Used::Analogy => ("analogy", None),
                            Used::ClosedWorld => ("closed_world", None),
                        };
                        StepOut {
                            conclusion: s.conclusion.clone(),
                            used,
                            rule,
                            inference: match s.inference {
                                Inference::Deduction => "deduction",
                                Inference::Induction => "induction",
                            },
                            premises: s.premises.clone(),
                            sources: s.sources.iter().filter_map(|&t| source(t)).collect(),
                        }
                    })
                    .collect(),
            })
            .collect();
        let steps = trees.first().map(|t| t.steps.clone()).unwrap_or_default();
        let copular = |token: &u64| {
            program.occurrence(*token).is_some_and(|o| {
                o.text.split_whitespace().any(|w| {
                    matches!(
                        w.to_lowercase().as_str(),
                        "is" | "are" | "was" | "were" | "be"
                    )
                })
            })
        };
        let stative_timeline = reply
            .proofs
            .iter()
            .flat_map(|p| &p.steps)
            .any(|s| s.used == Used::Timeline && s.sources.iter().any(copular));
        LogicAnswer {
            verdict: match reply.verdict {
                logic::Verdict::Yes => Verdict::Yes,
                logic::Verdict::No => Verdict::No,
                logic::Verdict::Unknown => Verdict::Unknown,
                logic::Verdict::Answer => Verdict::Answer,
            },
            answer: reply.answer.clone(),
            confidence: reply.confidence as f32,
            proof: ProofOut {
                steps,
                proofs: if trees.len() > 1 { trees } else { Vec::new() },
                conflict: reply.conflict,
                budget_exhausted: reply.budget_exhausted,
            },
            stative_timeline,
        }
    }

    /// Whether the logic layer decided the question: a yes, a no, an answer, or a
    /// conflict it reports.
    pub fn decided(&self) -> bool {
        self.verdict != Verdict::Unknown || self.proof.conflict
    }
}

/// The answer to `question`: the logic layer's when it decided the question (with its
/// proof; the path answer's paths stay when they support the same verdict), else the
/// path answer. A question only the logic layer reads ("Is it true that ...?") that it
/// cannot decide answers with its `unknown` and why.
pub fn combine(question_text: &str, path: Answer, logic: Option<LogicAnswer>) -> Answer {
    let Some(l) = logic else {
        return path;
    };
    if l.decided() {
        // Paths stay only where they support the logic answer: the same verdict, and
        // for an open question, a path ending at a thing the answer names.
        let answer_text = l.answer.to_lowercase();
        let supports = |p: &ReasonPath| {
            l.verdict != Verdict::Answer
                || p.concepts
                    .last()
                    .is_some_and(|c| answer_text.contains(&c.name.to_lowercase()))
        };
        // The path reasoner's own answer (its best path) is the logic layer's.
        let agree = path.verdict == l.verdict && path.paths.first().is_some_and(supports);
        let paths: Vec<ReasonPath> = if agree {
            path.paths.iter().filter(|p| supports(p)).cloned().collect()
        } else {
            Vec::new()
        };
        // A value held one at a time, stated as containment ("is in"):
        // the graph's chains know better whether the thing is also somewhere larger,
        // and a "no" from the value being elsewhere is no evidence against containment.
        if l.stative_timeline
            && !agree
            && (path.verdict != Verdict::Unknown || l.verdict == Verdict::No)
        {
            return path;
        }
        return Answer {
            answer: l.answer,
            verdict: l.verdict,
            confidence: l.confidence,
            quality_gate: if l.verdict == Verdict::Unknown {
                "FAILED"
            } else {
                "PASSED"
            },
            paths,
            alternatives: if agree { path.alternatives } else { Vec::new() },
            proof: Some(l.proof),
        };
    }
    if path.verdict == Verdict::Unknown && only_logic_reads(question_text) {
        // The path reasoner could not read the question; the logic layer did.
        return Answer {
            answer: l.answer,
            proof: Some(l.proof),
            ..path
        };
    }
    if l.proof.budget_exhausted {
        // Say that the logic layer gave up, so "unknown" is not read as "not provable".
        return Answer {
            proof: Some(l.proof),
            ..path
        };
    }
    path
}

/// Whether only the logic layer reads this question: the path reasoner's parser rejects
/// it, or it asks about a whole statement ("Is it true that S?"), which the parser would
/// read as a question about "it".
pub fn only_logic_reads(question_text: &str) -> bool {
    let low = question_text.trim_start().to_lowercase();
    let words: Vec<&str> = low.split_whitespace().take(5).collect();
    matches!(
        words.as_slice(),
        ["is", "it", "true", "that", ..] | ["is", "it", "the", "case", "that"]
    ) || question::parse(question_text).is_err()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{ConceptKind, ConceptUpsert, GraphSnapshot, Op, Record, SemanticType};

    fn occ(n: u64, text: &str) -> Occurrence {
        Occurrence {
            sentence: ConceptId::derive_in("k", ConceptKind::Sentence, text),
            text: text.into(),
            at_ms: 1_000 + n,
            request_id: Some(format!("r{n}")),
            label: None,
        }
    }

    fn story(lines: &[&str]) -> Vec<Occurrence> {
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| occ(i as u64 + 1, l))
            .collect()
    }

    const BABI: &[&str] = &[
        "Mary moved to the bathroom.",
        "John went to the hallway.",
        "Mary went to the garden.",
        "Mary moved to the bathroom.",
    ];

    #[test]
    fn incremental_learning_equals_a_rebuild_and_cites_each_occurrence() {
        let all = story(BABI);
        let mut grown = LogicKb::build(all[..2].to_vec());
        assert_eq!(grown.update(all[..2].to_vec()), Update::Unchanged);
        assert_eq!(grown.update(all.clone()), Update::Extended(2));
        let mut fresh = LogicKb::build(all.clone());
        for kb in [&mut grown, &mut fresh] {
            let r = kb.ask("Where is Mary?", &AskOptions::default()).unwrap();
            assert!(r.answer.contains("bathroom"), "{}", r.answer);
            // The later of the two equal sentences is the one that holds now.
            assert_eq!(r.sources(), vec![4]);
            assert_eq!(kb.occurrence(4).unwrap().request_id.as_deref(), Some("r4"));
        }
    }

    #[test]
    fn an_occurrence_visible_late_is_learned_on_top() {
        let all = story(BABI);
        let late = vec![all[0].clone(), all[2].clone()];
        let mut k = LogicKb::build(late);
        assert_eq!(k.update(all.clone()), Update::Extended(2));
        assert_eq!(k.len(), 4);
        // Tokens follow the program's own order: the late one is the third.
        assert_eq!(k.occurrence(3), Some(&all[1]));
        assert_eq!(k.occurrence(4), Some(&all[3]));
        assert_eq!(k.update(all.clone()), Update::Unchanged);
        let r = k.ask("Where is Mary?", &AskOptions::default()).unwrap();
        assert!(r.answer.contains("bathroom"), "{}", r.answer);
        assert_eq!(r.sources(), vec![4]);
    }

    #[test]
    fn a_removed_occurrence_rebuilds_the_program() {
        let all = story(BABI);
        let mut k = LogicKb::build(all.clone());
        let r = k.ask("Where is Mary?", &AskOptions::default()).unwrap();
        assert!(r.answer.contains("bathroom"));
        // The last teacher forgotten: Mary is in the garden again.
        assert_eq!(k.update(all[..3].to_vec()), Update::Rebuilt);
        let r = k.ask("Where is Mary?", &AskOptions::default()).unwrap();
        assert!(r.answer.contains("garden"), "{}", r.answer);
        assert_eq!(k.len(), 3);
    }

    fn path_unknown() -> Answer {
        Answer {
            answer: "I don't know.".into(),
            verdict: Verdict::Unknown,
            confidence: 0.0,
            quality_gate: "FAILED",
            paths: vec![],
            alternatives: vec![],
            proof: None,
        }
    }

    fn logic_answer(verdict: Verdict, conflict: bool) -> LogicAnswer {
        LogicAnswer {
            verdict,
            answer: "from the proof".into(),
            confidence: 1.0,
            proof: ProofOut {
                steps: vec![],
                proofs: vec![],
                conflict,
                budget_exhausted: false,
            },
            stative_timeline: false,
        }
    }

    #[test]
    fn a_decided_logic_reply_answers_and_an_undecided_one_keeps_the_path_answer() {
        let q = "Is the bear big?";
        let a = combine(q, path_unknown(), Some(logic_answer(Verdict::Yes, false)));
        assert_eq!((a.verdict, a.quality_gate), (Verdict::Yes, "PASSED"));
        assert_eq!(a.answer, "from the proof");
        assert!(a.proof.is_some());
        // A conflict is reported, not resolved.
        let a = combine(
            q,
            path_unknown(),
            Some(logic_answer(Verdict::Unknown, true)),
        );
        assert_eq!(a.verdict, Verdict::Unknown);
        assert!(a.proof.unwrap().conflict);
        // Undecided, and the path reasoner read the question: its answer stands.
        let a = combine(
            q,
            path_unknown(),
            Some(logic_answer(Verdict::Unknown, false)),
        );
        assert_eq!(a, path_unknown());
        assert_eq!(combine(q, path_unknown(), None), path_unknown());
        // Undecided, and only the logic layer read it: its unknown says why.
        let a = combine(
            "Is it true that the bear is big?",
            path_unknown(),
            Some(logic_answer(Verdict::Unknown, false)),
        );
        assert_eq!(a.answer, "from the proof");
        assert!(a.proof.is_some());
    }

    #[test]
    fn a_value_held_one_at_a_time_gives_way_to_containment_chains() {
        let q = "Is the Eiffel Tower in France?";
        let yes = Answer {
            answer: "Yes. The Eiffel Tower is in Paris, which is in France.".into(),
            verdict: Verdict::Yes,
            confidence: 0.8,
            quality_gate: "PASSED",
            ..path_unknown()
        };
        let elsewhere = LogicAnswer {
            stative_timeline: true,
            ..logic_answer(Verdict::No, false)
        };
        assert_eq!(combine(q, yes.clone(), Some(elsewhere.clone())), yes);
        // Nothing in the graph either way: "in Paris" is no evidence against "in Japan".
        let japan = "Is the Eiffel Tower in Japan?";
        assert_eq!(
            combine(japan, path_unknown(), Some(elsewhere.clone())),
            path_unknown()
        );
        // A movement the graph reads nothing from ("Mary went to the garden.") decides.
        let moved = logic_answer(Verdict::No, false);
        let a = combine("Is Mary in the kitchen?", path_unknown(), Some(moved));
        assert_eq!(a.verdict, Verdict::No);
    }

    fn sentence(kb: &str, text: &str, request: &str, at: u64) -> Op {
        Op::PutConcept(ConceptUpsert {
            id: ConceptId::derive_in(kb, ConceptKind::Sentence, text),
            content: text.into(),
            kind: ConceptKind::Sentence,
            semantic_type: SemanticType::Unclassified,
            strength: 1.0,
            confidence: 0.9,
            at_ms: at,
            source: crate::graph::Source {
                request_id: Some(request.into()),
                label: None,
                at_ms: at,
            },
            vector: None,
        })
        .in_kb(kb)
    }

    #[test]
    fn the_cache_follows_the_view_and_proofs_cite_occurrences() {
        let mut snap = GraphSnapshot::default();
        let lines = [
            "The bear visits the lion.",
            "If something visits the lion then it is young.",
            "Young things are big.",
        ];
        for (i, l) in lines.iter().enumerate() {
            let n = i as u64 + 1;
            snap.apply_record(
                n,
                &Record::Apply(vec![sentence("t", l, &format!("q{n}"), n)]),
            );
        }
        // Another knowledge base's sentences are never seen.
        snap.apply_record(
            4,
            &Record::Apply(vec![sentence("u", "The bear is not big.", "q4", 4)]),
        );
        let cache = LogicCache::new(2);
        let view = GraphView::in_kb(vec![Arc::new(snap.clone())], "t");
        let q = "Is it true that the bear is big?";
        let a = cache.ask(&view, q, &AskOptions::default()).unwrap();
        assert_eq!(a.verdict, Verdict::Yes, "{}", a.answer);
        let cited: Vec<&str> = a
            .proof
            .steps
            .iter()
            .flat_map(|s| &s.sources)
            .filter_map(|s| s.request_id.as_deref())
            .collect();
        assert_eq!(cited, vec!["q1", "q2", "q3"]);
        let root = a.proof.steps.last().unwrap();
        assert_eq!(root.used, "rule");
        assert_eq!(root.rule.as_deref(), Some("Young things are big."));
        assert_eq!(root.sources[0].learned_at, crate::graph::rfc3339(3));
        // A new sentence in the knowledge base: a new version, learned on top.
        snap.apply_record(
            5,
            &Record::Apply(vec![sentence("t", "The bear is not big.", "q5", 5)]),
        );
        let view = GraphView::in_kb(vec![Arc::new(snap)], "t");
        let a = cache.ask(&view, q, &AskOptions::default()).unwrap();
        assert!(a.proof.conflict, "{}", a.answer);
        assert_eq!(a.proof.proofs.len(), 2);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn catching_up_reads_only_what_changed_and_rebuilds_after_a_removal() {
        use crate::reason::remote::RemoteSentences;
        use crate::reason::ShardPart;
        let mut snap = GraphSnapshot::default();
        let mut lsn = 0;
        let mut learn = |snap: &mut GraphSnapshot, op: Op| {
            lsn += 1;
            snap.apply_record(lsn, &Record::Apply(vec![op]));
        };
        learn(
            &mut snap,
            sentence("t", "The bear visits the lion.", "q1", 1),
        );
        learn(
            &mut snap,
            sentence(
                "t",
                "If something visits the lion then it is young.",
                "q2",
                2,
            ),
        );
        learn(&mut snap, sentence("u", "The cat is young.", "q3", 3));
        let view = |s: &GraphSnapshot| GraphView::in_kb(vec![Arc::new(s.clone())], "t");
        let mut k = LogicKb::default();
        assert_eq!(k.catch_up(&view(&snap)), Update::Rebuilt);
        assert_eq!(k.len(), 2);
        assert_eq!(k.catch_up(&view(&snap)), Update::Unchanged);
        let q = "Is it true that the bear is big?";
        let yes = |k: &mut LogicKb| {
            k.ask(q, &AskOptions::default())
                .is_some_and(|r| r.verdict == logic::Verdict::Yes)
        };
        assert!(!yes(&mut k), "nothing says young things are big yet");
        // Another knowledge base's learning changes nothing here.
        learn(&mut snap, sentence("u", "The dog is young.", "q4", 4));
        assert_eq!(k.catch_up(&view(&snap)), Update::Unchanged);
        // A new sentence and a known sentence taught again: both occurrences, on top.
        learn(&mut snap, sentence("t", "Young things are big.", "q5", 5));
        learn(
            &mut snap,
            sentence("t", "The bear visits the lion.", "q6", 6),
        );
        assert_eq!(k.catch_up(&view(&snap)), Update::Extended(2));
        assert_eq!(k.len(), 4);
        assert!(yes(&mut k), "a rule learned after a question applies");
        // The same program as one built from everything at once.
        let all = occurrences(&view(&snap));
        assert_eq!(k.occurrences, all);
        // A deleted sentence is gone from the program: rebuilt without it.
        let rule = ConceptId::derive_in("t", ConceptKind::Sentence, "Young things are big.");
        learn(&mut snap, Op::DeleteConcept(rule).in_kb("t"));
        assert_eq!(k.catch_up(&view(&snap)), Update::Rebuilt);
        assert_eq!(k.len(), 3);
        assert!(!yes(&mut k));
        // A copy of the shard held by another node catches up the same way.
        let copy = |s: &GraphSnapshot| {
            let list = s
                .sentences_from(crate::graph::KbTag::named("t"), 0)
                .map(|(p, c)| (p, (**c).clone()))
                .collect();
            RemoteSentences::listed(list, s.sentence_cursor(crate::graph::KbTag::named("t")))
        };
        let remote = |set: RemoteSentences| {
            let part = crate::reason::remote::RemotePart {
                sentences: Arc::new(set),
                ..Default::default()
            };
            GraphView::from_parts(vec![ShardPart::Remote(Arc::new(part))], "t")
        };
        let held = copy(&snap);
        let mut r = LogicKb::default();
        assert_eq!(r.catch_up(&remote(held.clone())), Update::Rebuilt);
        learn(&mut snap, sentence("t", "Big things are strong.", "q8", 8));
        let changes =
            crate::reason::remote::sentences(&snap, "t", None, usize::MAX, None, Some(held.cursor));
        assert!(changes.changes);
        let list = changes.sentences.unwrap();
        assert_eq!(list.len(), 1, "only the new sentence travels");
        let held = held.with(list, changes.cursor);
        assert_eq!(r.catch_up(&remote(held)), Update::Extended(1));
        assert_eq!(r.occurrences, occurrences(&view(&snap)));
    }

    #[test]
    fn topology_relations_and_closed_world_kbs_apply_to_every_program() {
        let mut snap = GraphSnapshot::default();
        for (i, (kb, l)) in [
            ("staff", "Ann reports to Bob."),
            ("staff", "Bob reports to Cy."),
            ("audit", "Ann reports to Bob."),
        ]
        .iter()
        .enumerate()
        {
            let n = i as u64 + 1;
            snap.apply_record(
                n,
                &Record::Apply(vec![sentence(kb, l, &format!("q{n}"), n)]),
            );
        }
        let snap = Arc::new(snap);
        let q = "Does Ann report to Cy?";
        // Built-in lexicon only: "reports to" has no properties, nothing follows.
        let plain = LogicCache::new(4);
        let staff = GraphView::in_kb(vec![snap.clone()], "staff");
        let a = plain.ask(&staff, q, &AskOptions::default());
        assert!(a.is_none_or(|a| a.verdict == Verdict::Unknown));
        let settings = LogicSettings {
            relations: RelationProps::with_sentences(&["Reports to is transitive."]).unwrap(),
            closed_world_kbs: ["audit".to_string()].into(),
            ..LogicSettings::default()
        };
        let cache = LogicCache::with_settings(4, settings);
        let a = cache.ask(&staff, q, &AskOptions::default()).unwrap();
        assert_eq!(a.verdict, Verdict::Yes, "{}", a.answer);
        let root = a.proof.steps.last().unwrap();
        assert_eq!(root.used, "property", "{:?}", a.proof);
        // Open world in `staff`; closed world in `audit` (configured), without asking.
        let q = "Does Ann report to Dee?";
        let a = cache.ask(&staff, q, &AskOptions::default());
        assert!(a.is_none_or(|a| a.verdict == Verdict::Unknown));
        let audit = GraphView::in_kb(vec![snap], "audit");
        let a = cache.ask(&audit, q, &AskOptions::default()).unwrap();
        assert_eq!(a.verdict, Verdict::No, "{}", a.answer);
    }
}

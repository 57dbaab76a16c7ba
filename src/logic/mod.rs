//! The reasoning core for any relation, rules, time, induction and proofs (issue 12).
//!
//! A [`Kb`] is the logic program of one knowledge base: it learns English statements
//! in order ([`Kb::learn`]: facts with any relation, generic statements and
//! conditionals as rules with variables, events that change a functional relation,
//! possession, relation properties) and answers questions with proofs ([`Kb::ask`]).
//! Pure code: no actors, no I/O. The caller cites sentences by opaque tokens; every
//! proof step names the tokens it rests on.
//!
//! Semantics: open world by default (`no` needs negative evidence, learned or derived;
//! negated conditions of rules need it too), a closed-world option per question
//! ([`AskOptions::closed_world`]: what is not proved is `no`). Both a statement and its
//! negation provable is reported as a conflict with both proofs, never resolved.
//! Functional relations (a person's location) live in a timeline with history; things
//! held move with their holder. Answers by analogy (bAbI-16 style) are labelled
//! induction, with lower confidence, and never give a yes/no verdict.

pub mod parse;
pub mod program;
pub mod relations;
pub mod time;

use parse::{parse_with_gap, third_person, Lit, Statement, Surface, Term, GAP, QUERY_VAR};
use program::{Atom, Pat, Program, Rule, RuleOrigin, Saturation, Why, NONE, T};
use relations::{RelProp, RelationProps};
use std::collections::{HashMap, HashSet, VecDeque};
use time::{Stint, Timeline, LOCATION};

pub use parse::parse_statement;

/// Join steps a question may spend by default saturating the program.
pub const DEFAULT_BUDGET: u64 = 2_000_000;

/// Confidence of an answer by analogy.
pub const INDUCTION_CONFIDENCE: f64 = 0.6;

/// How a question is answered.
#[derive(Clone, Debug)]
pub struct AskOptions {
    /// Absence of proof is `no` (default: open world, absence of proof is `unknown`).
    pub closed_world: bool,
    /// Join steps the question may spend deriving consequences.
    pub budget: u64,
}

impl Default for AskOptions {
    fn default() -> Self {
        AskOptions {
            closed_world: false,
            budget: DEFAULT_BUDGET,
        }
    }
}

/// The verdict of a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Proved.
    Yes,
    /// Its negation proved (or, closed world, not proved).
    No,
    /// Neither proved (or both: see [`Reply::conflict`]).
    Unknown,
    /// An open question's answer.
    Answer,
}

impl Verdict {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Yes => "yes",
            Verdict::No => "no",
            Verdict::Unknown => "unknown",
            Verdict::Answer => "answer",
        }
    }
}

/// How a step was inferred.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inference {
    /// Follows necessarily.
    Deduction,
    /// By analogy with similar things: probable only.
    Induction,
}

/// What a proof step used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Used {
    /// A learned fact.
    Fact,
    /// A learned rule (its sentence).
    Rule(String),
    /// A property of a relation (built-in or taught).
    Property(String),
    /// The timeline of a functional relation (the latest value, possession).
    Timeline,
    /// Analogy with another member of a class.
    Analogy,
    /// Absence of proof, closed world.
    ClosedWorld,
}

/// One step of a proof tree.
#[derive(Clone, Debug)]
pub struct Step {
    /// What the step concludes, in English.
    pub conclusion: String,
    /// What it used.
    pub used: Used,
    /// The sentence occurrences it rests on directly (its own fact or rule).
    pub sources: Vec<u64>,
    /// The steps it was applied to (indexes into [`Proof::steps`]).
    pub premises: Vec<usize>,
    /// Deduction or induction.
    pub inference: Inference,
}

/// A proof tree: steps in dependency order, the last one the conclusion.
#[derive(Clone, Debug, Default)]
pub struct Proof {
    /// The steps; premises come before the steps using them.
    pub steps: Vec<Step>,
}

impl Proof {
    /// Every source token the proof cites.
    pub fn sources(&self) -> Vec<u64> {
        let mut s: Vec<u64> = self.steps.iter().flat_map(|s| s.sources.clone()).collect();
        s.sort_unstable();
        s.dedup();
        s
    }

    /// The conclusion step.
    pub fn root(&self) -> Option<&Step> {
        self.steps.last()
    }
}

/// The reply to a question.
#[derive(Clone, Debug)]
pub struct Reply {
    /// The verdict.
    pub verdict: Verdict,
    /// The answer in English, reading the proof.
    pub answer: String,
    /// 1.0 for deduction, lower for induction, 0 for unknown.
    pub confidence: f64,
    /// The proofs: one per answer; two (for and against) on a conflict.
    pub proofs: Vec<Proof>,
    /// Both the statement and its negation are provable.
    pub conflict: bool,
    /// The work budget ran out before every consequence was derived.
    pub budget_exhausted: bool,
}

impl Reply {
    /// Every source token cited by the proofs.
    pub fn sources(&self) -> Vec<u64> {
        let mut s: Vec<u64> = self.proofs.iter().flat_map(Proof::sources).collect();
        s.sort_unstable();
        s.dedup();
        s
    }
}

/// What a learned sentence was read as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Learned {
    /// Facts (how many literals).
    Facts(usize),
    /// Rules (how many).
    Rules(usize),
    /// A new value of a functional relation.
    Change,
    /// Possession taken or given up.
    Possession,
    /// A relation property.
    Property,
    /// Not a statement this layer reads (the caller's other extraction may).
    NotRead,
}

/// Why a sentence could not be learned.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LogicError {
    /// `at` must increase strictly within a knowledge base.
    #[error(
        "learn order {at} is not after the last one ({last}); pass a strictly increasing order"
    )]
    OutOfOrder { at: u64, last: u64 },
}

/// Counts of a knowledge base's program.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Facts (stated and derived so far).
    pub facts: usize,
    /// Rules (learned and from relation properties).
    pub rules: usize,
    /// Sentences learned.
    pub sentences: usize,
}

/// Colour words (the built-in "color" category; more are taught as "Teal is a color.").
const COLORS: &[&str] = &[
    "red",
    "orange",
    "yellow",
    "green",
    "blue",
    "purple",
    "violet",
    "pink",
    "brown",
    "black",
    "white",
    "gray",
    "grey",
    "gold",
    "silver",
    "beige",
    "cyan",
    "magenta",
    "indigo",
    "turquoise",
];
const SIZES: &[&str] = &[
    "big", "small", "large", "tiny", "huge", "little", "tall", "short",
];

/// The logic program of one knowledge base.
#[derive(Debug, Default)]
pub struct Kb {
    syms: Vec<String>,
    sym_ids: HashMap<String, u32>,
    names: HashMap<String, String>,
    surfaces: HashMap<String, Surface>,
    program: Program,
    props: RelationProps,
    active: HashSet<String>,
    level_rules: bool,
    timeline: Timeline,
    last_at: Option<u64>,
    sentences: usize,
}

impl Kb {
    /// An empty knowledge base with the built-in relation lexicon.
    pub fn new() -> Kb {
        Kb::default()
    }

    /// An empty knowledge base whose relations start with `props` (the built-in
    /// lexicon plus what the topology configures; see
    /// [`RelationProps::with_sentences`]). Sentences teach more on top.
    pub fn with_relations(props: RelationProps) -> Kb {
        Kb {
            props,
            ..Kb::default()
        }
    }

    /// Counts.
    pub fn stats(&self) -> Stats {
        Stats {
            facts: self.program.facts().len(),
            rules: self.program.rule_count(),
            sentences: self.sentences,
        }
    }

    fn sym(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.sym_ids.get(s) {
            return id;
        }
        let id = self.syms.len() as u32;
        self.syms.push(s.to_string());
        self.sym_ids.insert(s.to_string(), id);
        id
    }

    fn known_sym(&self, s: &str) -> Option<u32> {
        self.sym_ids.get(s).copied()
    }

    /// Whether a thing of this key has been named.
    fn knows(&self, key: &str) -> bool {
        self.names.contains_key(key)
    }

    /// Learns one sentence occurrence (`token` cites it; `at` is its learn order,
    /// strictly increasing). Saturation is left to the next question (bounded there),
    /// or to [`Kb::saturate`].
    pub fn learn(&mut self, sentence: &str, token: u64, at: u64) -> Result<Learned, LogicError> {
        if let Some(last) = self.last_at {
            if at <= last {
                return Err(LogicError::OutOfOrder { at, last });
            }
        }
        self.last_at = Some(at);
        let Some(parsed) = parse::parse_statement(sentence) else {
            return Ok(Learned::NotRead);
        };
        self.sentences += 1;
        for (key, shown) in parsed.names {
            self.names.entry(key).or_insert(shown);
        }
        for (rel, s) in parsed.surfaces {
            self.surfaces.entry(rel).or_insert(s);
        }
        Ok(match parsed.statement {
            Statement::Facts(lits) => {
                let n = lits.len();
                for l in lits {
                    let Some(atom) = self.ground_lit(&l) else {
                        continue;
                    };
                    self.activate(&l.rel);
                    self.program.state(atom, token);
                    // A stated direction names a direct neighbour: the two are level on
                    // the other axis ("above": one column).
                    if let (Some((axis, _)), Some(Term::Ent(_))) =
                        (self.props.direction(&l.rel), &l.b)
                    {
                        if !l.neg {
                            let level = relations::level_rel(if axis == 'x' { 'y' } else { 'x' });
                            let level = Lit {
                                rel: level,
                                a: l.a.clone(),
                                b: l.b.clone(),
                                neg: false,
                            };
                            if let Some(atom) = self.ground_lit(&level) {
                                self.activate(&level.rel);
                                self.program.state(atom, token);
                            }
                        }
                    }
                }
                Learned::Facts(n)
            }
            Statement::Rule { body, head } => {
                let text = sentence.trim().to_string();
                for l in body.iter().chain(&head) {
                    self.activate(&l.rel);
                }
                let body: Vec<Pat> = body.iter().map(|l| self.pat(l)).collect();
                for h in &head {
                    let head = self.pat(h);
                    self.program.add_rule(Rule {
                        body: body.clone(),
                        head,
                        origin: RuleOrigin::Sentence {
                            tokens: vec![token],
                            text: text.clone(),
                        },
                    });
                }
                Learned::Rules(head.len())
            }
            Statement::Change { rel, who, value } => {
                self.sym(&who);
                self.sym(&value);
                self.timeline.change(&rel, &who, &value, token, at);
                Learned::Change
            }
            Statement::Take { who, what } => {
                self.timeline.take(&who, &what, token, at);
                Learned::Possession
            }
            Statement::Release { who, what } => {
                self.timeline.release(&who, &what, token, at);
                Learned::Possession
            }
            Statement::Property { rel, prop } => {
                if self.props.teach(&rel, prop.clone()) && self.active.contains(&rel) {
                    self.add_property_rules(&rel, &prop, vec![token]);
                    if let RelProp::Inverse(other) = &prop {
                        let back = RelProp::Inverse(rel.clone());
                        if self.active.contains(other) {
                            self.add_property_rules(other, &back, vec![token]);
                        } else {
                            self.activate(other);
                        }
                    }
                }
                Learned::Property
            }
        })
    }

    /// Derives consequences of what was learned, spending at most `budget` join steps;
    /// false if work is left.
    pub fn saturate(&mut self, budget: u64) -> bool {
        self.program.saturate(budget) == Saturation::Complete
    }

    /// Adds the rules of a relation's properties the first time it is used.
    fn activate(&mut self, rel: &str) {
        if rel.starts_with("isa:") || !self.active.insert(rel.to_string()) {
            return;
        }
        let props: Vec<RelProp> = self.props.of(rel).to_vec();
        for p in &props {
            self.add_property_rules(rel, p, Vec::new());
            if let RelProp::Inverse(other) = p {
                let other = other.clone();
                self.activate(&other);
            }
            if matches!(p, RelProp::Direction { .. }) && !self.level_rules {
                self.level_rules = true;
                for axis in ['x', 'y'] {
                    for r in RelationProps::level_rules(axis) {
                        self.add_template(&r, Vec::new());
                    }
                }
            }
        }
    }

    fn add_property_rules(&mut self, rel: &str, prop: &RelProp, tokens: Vec<u64>) {
        for r in self.props.rules_for(rel, prop) {
            self.add_template(&r, tokens.clone());
        }
    }

    fn add_template(&mut self, r: &relations::PropRule, tokens: Vec<u64>) {
        let mut pat = |(rel, a, b, neg): &(String, u8, u8, bool)| Pat {
            rel: self.sym(rel),
            a: T::V(*a),
            b: T::V(*b),
            neg: *neg,
        };
        let body = r.body.iter().map(&mut pat).collect();
        let head = pat(&r.head);
        self.program.add_rule(Rule {
            body,
            head,
            origin: RuleOrigin::Property {
                text: r.text.clone(),
                tokens,
            },
        });
    }

    fn term(&mut self, t: &Term) -> T {
        match t {
            Term::Var(v) => T::V(*v),
            Term::Ent(k) => T::C(self.sym(k)),
        }
    }

    fn pat(&mut self, l: &Lit) -> Pat {
        Pat {
            rel: self.sym(&l.rel),
            a: self.term(&l.a),
            b: l.b.as_ref().map(|b| self.term(b)).unwrap_or(T::N),
            neg: l.neg,
        }
    }

    fn ground_lit(&mut self, l: &Lit) -> Option<Atom> {
        let p = self.pat(l);
        let c = |t: T| match t {
            T::C(c) => Some(c),
            T::N => Some(NONE),
            T::V(_) => None,
        };
        Some(Atom {
            rel: p.rel,
            a: c(p.a)?,
            b: c(p.b)?,
            neg: p.neg,
        })
    }

    /// A ground literal of the question, if all its words are known.
    fn query_atom(&self, l: &Lit) -> Option<Atom> {
        let c = |t: &Term| match t {
            Term::Ent(k) => self.known_sym(k),
            Term::Var(_) => None,
        };
        Some(Atom {
            rel: self.known_sym(&l.rel)?,
            a: c(&l.a)?,
            b: match &l.b {
                Some(b) => c(b)?,
                None => NONE,
            },
            neg: l.neg,
        })
    }

    // ----- English -----

    fn display(&self, key: &str) -> String {
        self.names
            .get(key)
            .cloned()
            .unwrap_or_else(|| key.to_string())
    }

    fn sym_display(&self, id: u32) -> String {
        self.display(&self.syms[id as usize])
    }

    /// A literal in English.
    fn render(&self, atom: Atom) -> String {
        let rel = self.syms[atom.rel as usize].as_str();
        let s = self.sym_display(atom.a);
        if let Some(class) = rel.strip_prefix("isa:") {
            let article = if class.starts_with(['a', 'e', 'i', 'o', 'u']) {
                "an"
            } else {
                "a"
            };
            let not = if atom.neg { "not " } else { "" };
            format!("{s} is {not}{article} {class}")
        } else if let Some(axis) = rel.strip_prefix("level_") {
            let o = self.sym_display(atom.b);
            let line = if axis == "x" { "column" } else { "row" };
            let not = if atom.neg { "not " } else { "" };
            format!("{s} is {not}in the same {line} as {o}")
        } else {
            let surface = self.surfaces.get(rel).cloned().unwrap_or_else(|| Surface {
                words: default_surface(rel),
                copular: true,
            });
            let o = if atom.b == NONE {
                String::new()
            } else {
                format!(" {}", self.sym_display(atom.b))
            };
            if surface.copular || (atom.b == NONE && !self.is_verb_rel(rel)) {
                let not = if atom.neg { "not " } else { "" };
                format!("{s} is {not}{}{o}", surface.words)
            } else if atom.neg {
                format!("{s} does not {}{o}", surface.words)
            } else {
                let mut words = surface.words.splitn(2, ' ');
                let verb = third_person(words.next().unwrap_or(""));
                match words.next() {
                    Some(rest) => format!("{s} {verb} {rest}{o}"),
                    None => format!("{s} {verb}{o}"),
                }
            }
        }
    }

    fn is_verb_rel(&self, rel: &str) -> bool {
        self.surfaces.get(rel).is_some_and(|s| !s.copular)
    }

    // ----- proofs -----

    /// The proof tree of a fact.
    fn proof_of(&self, fact: usize) -> Proof {
        let mut proof = Proof::default();
        let mut memo = HashMap::new();
        self.build(fact, &mut proof, &mut memo, 0);
        proof
    }

    fn build(
        &self,
        fact: usize,
        proof: &mut Proof,
        memo: &mut HashMap<usize, usize>,
        depth: usize,
    ) -> usize {
        if let Some(&i) = memo.get(&fact) {
            return i;
        }
        let f = self.program.fact(fact);
        let step = match &f.why {
            Why::Stated(tokens) => Step {
                conclusion: self.render(f.atom),
                used: Used::Fact,
                sources: tokens.clone(),
                premises: Vec::new(),
                inference: Inference::Deduction,
            },
            Why::Derived { rule, premises } => {
                let premises: Vec<usize> = if depth > 10_000 {
                    Vec::new()
                } else {
                    premises
                        .iter()
                        .map(|&p| self.build(p, proof, memo, depth + 1))
                        .collect()
                };
                let (used, sources) = match &self.program.rule(*rule).origin {
                    RuleOrigin::Sentence { tokens, text } => {
                        (Used::Rule(text.clone()), tokens.clone())
                    }
                    RuleOrigin::Property { text, tokens } => {
                        (Used::Property(text.clone()), tokens.clone())
                    }
                };
                Step {
                    conclusion: self.render(f.atom),
                    used,
                    sources,
                    premises,
                    inference: Inference::Deduction,
                }
            }
        };
        proof.steps.push(step);
        let i = proof.steps.len() - 1;
        memo.insert(fact, i);
        i
    }

    // ----- questions -----

    /// Answers a question, or None when it is not a question this layer handles (the
    /// engine then falls back to its graph reasoner).
    pub fn ask(&mut self, question: &str, options: &AskOptions) -> Option<Reply> {
        let words: Vec<String> = question
            .split_whitespace()
            .map(|w| {
                w.trim_matches(|c: char| matches!(c, '?' | '.' | '!' | ',' | '"'))
                    .to_string()
            })
            .filter(|w| !w.is_empty())
            .collect();
        let low: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
        let l: Vec<&str> = low.iter().map(String::as_str).collect();
        let complete = self.program.saturate(options.budget) == Saturation::Complete;
        match l.as_slice() {
            ["is", "it", "true", "that", ..] | ["is", "it", "the", "case", "that", ..] => {
                let stmt =
                    parse::parse_statement(&words[4 + usize::from(l[2] == "the")..].join(" "))?;
                self.yes_no(stmt.statement, options, complete)
            }
            ["how", "do", "you" | "i" | "we", "go" | "get", "from", ..] => {
                self.path(&words[5..], &l[5..])
            }
            ["where", "is" | "are", ..] => self.where_now(&words[2..]),
            ["where", "was" | "were", ..] => self.where_before(&words[2..], &l[2..]),
            ["what", category, "is" | "are", ..]
                if !matches!(*category, "is" | "does" | "do" | "are") =>
            {
                self.category(category, &words[3..], complete)
            }
            ["what" | "who" | "whom", "is" | "are" | "does" | "do" | "did" | "was", ..] => {
                self.wh(&words, &l, complete)
            }
            ["who" | "what", ..] => {
                // "Who chases the lion?": the gap is the subject.
                let text = format!("{GAP} {}", words[1..].join(" "));
                self.open(&text, complete)
            }
            [aux, ..] if parse_aux(aux) => {
                let text = self.declarative(&words)?;
                let stmt = parse::parse_statement(&text)?;
                self.yes_no(stmt.statement, options, complete)
            }
            _ => None,
        }
    }

    /// "Is the pink rectangle to the right of the blue square" -> "the pink rectangle is
    /// to the right of the blue square", splitting the subject at the longest known name.
    fn declarative(&self, words: &[String]) -> Option<String> {
        let aux = words[0].to_lowercase();
        let rest = &words[1..];
        let k = self.subject_len(rest)?;
        let mut out: Vec<String> = rest[..k].to_vec();
        out.push(aux);
        out.extend(rest[k..].iter().cloned());
        Some(out.join(" "))
    }

    fn subject_len(&self, rest: &[String]) -> Option<usize> {
        if rest.len() < 2 {
            return None;
        }
        for k in (1..rest.len()).rev() {
            let key = crate::learn::normalize::entity_key(&rest[..k].join(" "));
            if self.knows(&key) {
                return Some(k);
            }
        }
        let first = rest[0].to_lowercase();
        Some(if matches!(first.as_str(), "the" | "a" | "an") {
            2.min(rest.len() - 1)
        } else {
            1
        })
    }

    fn yes_no(
        &mut self,
        statement: Statement,
        options: &AskOptions,
        complete: bool,
    ) -> Option<Reply> {
        match statement {
            Statement::Facts(lits) => {
                // A relation first named by the question brings its properties' rules
                // now ("Is the square right of the circle?" after only "above" and
                // "below" were stated: things level on an axis are not right of each
                // other), and the program saturates with them.
                let fresh: Vec<String> = lits
                    .iter()
                    .filter(|l| !self.active.contains(&l.rel))
                    .map(|l| l.rel.clone())
                    .collect();
                let mut complete = complete;
                if !fresh.is_empty() {
                    for rel in &fresh {
                        self.activate(rel);
                    }
                    complete = self.program.saturate(options.budget) == Saturation::Complete;
                }
                let mut proofs = Vec::new();
                let mut unknown = Vec::new();
                for l in &lits {
                    let Some(atom) = self.query_atom(l) else {
                        unknown.push(l.clone());
                        continue;
                    };
                    let pos = self.program.find(atom);
                    let neg = self.program.find(atom.negated());
                    match (pos, neg) {
                        (Some(p), Some(n)) => {
                            let (a, b) = (self.proof_of(p), self.proof_of(n));
                            return Some(Reply {
                                verdict: Verdict::Unknown,
                                answer: format!(
                                    "Conflict: {} ({}), but {} ({}).",
                                    capitalize(&self.render(atom)),
                                    self.explain(&a),
                                    self.render(atom.negated()),
                                    self.explain(&b)
                                ),
                                confidence: 0.0,
                                proofs: vec![a, b],
                                conflict: true,
                                budget_exhausted: !complete,
                            });
                        }
                        (Some(p), None) => proofs.push(self.proof_of(p)),
                        (None, Some(n)) => {
                            let proof = self.proof_of(n);
                            let answer = format!("No. {}", self.reads(&proof));
                            return Some(Reply {
                                verdict: Verdict::No,
                                answer,
                                confidence: 1.0,
                                proofs: vec![proof],
                                conflict: false,
                                budget_exhausted: !complete,
                            });
                        }
                        (None, None) => unknown.push(l.clone()),
                    }
                }
                if unknown.is_empty() {
                    let answer = format!(
                        "Yes. {}",
                        proofs
                            .iter()
                            .map(|p| self.reads(p))
                            .collect::<Vec<_>>()
                            .join(" ")
                    );
                    return Some(Reply {
                        verdict: Verdict::Yes,
                        answer,
                        confidence: 1.0,
                        proofs,
                        conflict: false,
                        budget_exhausted: !complete,
                    });
                }
                Some(self.unproved(&unknown[0], options, complete))
            }
            Statement::Change { rel, who, value } => {
                let Some(now) = self.timeline.current(&rel, &who).cloned() else {
                    return Some(self.unknown_reply(
                        format!("I don't know where {} is.", self.display(&who)),
                        complete,
                    ));
                };
                let proof = self.stint_proof(&who, &now);
                let (verdict, answer) = if now.value == value {
                    (
                        Verdict::Yes,
                        format!("Yes. {}.", capitalize(&self.stint_text(&who, &now))),
                    )
                } else {
                    (
                        Verdict::No,
                        format!(
                            "No. {}, not in {}.",
                            capitalize(&self.stint_text(&who, &now)),
                            self.display(&value)
                        ),
                    )
                };
                Some(Reply {
                    verdict,
                    answer,
                    confidence: 1.0,
                    proofs: vec![proof],
                    conflict: false,
                    budget_exhausted: false,
                })
            }
            _ => None,
        }
    }

    fn unknown_reply(&self, answer: String, complete: bool) -> Reply {
        let answer = if complete {
            answer
        } else {
            format!("{answer} The work budget ran out before every consequence was derived.")
        };
        Reply {
            verdict: Verdict::Unknown,
            answer,
            confidence: 0.0,
            proofs: Vec::new(),
            conflict: false,
            budget_exhausted: !complete,
        }
    }

    fn unproved(&self, l: &Lit, options: &AskOptions, complete: bool) -> Reply {
        let text = self.lit_text(l);
        if options.closed_world && complete {
            let step = Step {
                conclusion: format!("not: {text}"),
                used: Used::ClosedWorld,
                sources: Vec::new(),
                premises: Vec::new(),
                inference: Inference::Deduction,
            };
            return Reply {
                verdict: Verdict::No,
                answer: format!("No. Nothing learned proves that {text} (closed world)."),
                confidence: 1.0,
                proofs: vec![Proof { steps: vec![step] }],
                conflict: false,
                budget_exhausted: false,
            };
        }
        self.unknown_reply(
            format!("Unknown. Nothing learned proves or disproves that {text}."),
            complete,
        )
    }

    fn lit_text(&self, l: &Lit) -> String {
        let key = |t: &Term| match t {
            Term::Ent(k) => self.display(k),
            Term::Var(_) => "something".into(),
        };
        let rel = l
            .rel
            .strip_prefix("isa:")
            .map(|c| format!("a {c}"))
            .unwrap_or_else(|| l.rel.replace('_', " "));
        let not = if l.neg { "not " } else { "" };
        match &l.b {
            Some(b) => format!("{} {not}{rel} {}", key(&l.a), key(b)),
            None => format!("{} is {not}{rel}", key(&l.a)),
        }
    }

    /// A proof read as text: the conclusion, then why.
    fn reads(&self, proof: &Proof) -> String {
        let Some(root) = proof.root() else {
            return String::new();
        };
        if root.used == Used::Fact {
            return format!("{} (stated).", capitalize(&root.conclusion));
        }
        format!(
            "{} because {}.",
            capitalize(&root.conclusion),
            self.explain(proof)
        )
    }

    /// The steps of a proof in order: stated facts, then each rule applied.
    fn explain(&self, proof: &Proof) -> String {
        let mut parts = Vec::new();
        for s in &proof.steps {
            match &s.used {
                Used::Fact | Used::Timeline => parts.push(s.conclusion.clone()),
                Used::Rule(text) => parts.push(format!(
                    "{}, so {}",
                    lower_first(text.trim_end_matches('.')),
                    s.conclusion
                )),
                Used::Property(text) => parts.push(format!("{text}, so {}", s.conclusion)),
                Used::Analogy | Used::ClosedWorld => parts.push(s.conclusion.clone()),
            }
        }
        match parts.len() {
            0 => String::new(),
            1 => parts.remove(0),
            _ => {
                let last = parts.pop().unwrap_or_default();
                format!("{}; and {last}", parts.join("; "))
            }
        }
    }

    /// "What is Emily afraid of?", "What does the bear chase?", "Who is afraid of cats?"
    fn wh(&mut self, words: &[String], l: &[&str], complete: bool) -> Option<Reply> {
        let aux = l[1];
        let rest = &words[2..];
        if rest.is_empty() {
            return None;
        }
        // "Who is big?" / "What is afraid of the cat?": the gap is the subject when the
        // words after the copula do not start with a known name.
        let k = self.subject_len_known(rest);
        match k {
            Some(k) => {
                let subject = rest[..k].join(" ");
                let tail = rest[k..].join(" ");
                if tail.is_empty() {
                    if matches!(aux, "is" | "are" | "was") {
                        return self.classes_of(&subject, complete);
                    }
                    return None;
                }
                let text = format!("{subject} {aux} {tail} {GAP}");
                self.open(&text, complete)
            }
            None => {
                let text = format!("{GAP} {aux} {}", rest.join(" "));
                self.open(&text, complete)
            }
        }
    }

    fn subject_len_known(&self, rest: &[String]) -> Option<usize> {
        (1..=rest.len()).rev().find(|&k| {
            let key = crate::learn::normalize::entity_key(&rest[..k].join(" "));
            self.knows(&key)
        })
    }

    /// An open question as a statement with a gap.
    fn open(&mut self, text: &str, complete: bool) -> Option<Reply> {
        let parsed = parse_with_gap(text)?;
        let Statement::Facts(lits) = parsed.statement else {
            return None;
        };
        let [l] = lits.as_slice() else {
            return None;
        };
        let gap = Term::Var(QUERY_VAR);
        let rel = self.known_sym(&l.rel);
        let mut found = Vec::new();
        if let Some(rel) = rel {
            if l.b.as_ref() == Some(&gap) {
                if let Term::Ent(a) = &l.a {
                    if let Some(a) = self.known_sym(a) {
                        found = self.program.with_subject(rel, l.neg, a).to_vec();
                    }
                }
            } else if l.a == gap {
                found = match &l.b {
                    Some(Term::Ent(b)) => match self.known_sym(b) {
                        Some(b) => self.program.with_object(rel, l.neg, b).to_vec(),
                        None => Vec::new(),
                    },
                    None => self.program.with_subject(rel, l.neg, NONE).to_vec(),
                    _ => Vec::new(),
                };
            } else {
                return None;
            }
        }
        if found.is_empty() {
            return Some(self.unknown_reply(
                format!(
                    "I don't know: nothing learned answers that ({}).",
                    self.lit_text(l)
                ),
                complete,
            ));
        }
        Some(self.answers(found, complete))
    }

    fn answers(&self, found: Vec<usize>, complete: bool) -> Reply {
        let proofs: Vec<Proof> = found.iter().map(|&f| self.proof_of(f)).collect();
        let answer = proofs
            .iter()
            .map(|p| self.reads(p))
            .collect::<Vec<_>>()
            .join(" ");
        Reply {
            verdict: Verdict::Answer,
            answer,
            confidence: 1.0,
            proofs,
            conflict: false,
            budget_exhausted: !complete,
        }
    }

    /// "What is Max?": the classes it belongs to.
    fn classes_of(&self, subject: &str, complete: bool) -> Option<Reply> {
        let key = crate::learn::normalize::entity_key(subject);
        let a = self.known_sym(&key)?;
        let found: Vec<usize> = (0..self.program.facts().len())
            .filter(|&f| {
                let atom = self.program.fact(f).atom;
                atom.a == a && !atom.neg && self.syms[atom.rel as usize].starts_with("isa:")
            })
            .collect();
        if found.is_empty() {
            return Some(self.unknown_reply(
                format!("I don't know what {} is.", self.display(&key)),
                complete,
            ));
        }
        Some(self.answers(found, complete))
    }

    /// Whether a property word belongs to a category ("white" is a colour).
    fn in_category(&self, word: &str, category: &str) -> bool {
        let builtin = match category {
            "color" | "colour" => COLORS.contains(&word),
            "size" => SIZES.contains(&word),
            _ => false,
        };
        if builtin {
            return true;
        }
        let (Some(w), Some(c)) = (
            self.known_sym(word),
            self.known_sym(&format!(
                "isa:{}",
                crate::learn::normalize::entity_key(category)
            )),
        ) else {
            return false;
        };
        self.program
            .find(Atom {
                rel: c,
                a: w,
                b: NONE,
                neg: false,
            })
            .is_some()
    }

    /// "What color is Bernhard?": a property of the category, else by analogy with
    /// members of the same class (induction).
    fn category(&mut self, category: &str, rest: &[String], complete: bool) -> Option<Reply> {
        let key = crate::learn::normalize::entity_key(&rest.join(" "));
        let x = self.known_sym(&key)?;
        let props_of = |kb: &Kb, who: u32| -> Vec<usize> {
            (0..kb.program.facts().len())
                .filter(|&f| {
                    let atom = kb.program.fact(f).atom;
                    atom.a == who
                        && atom.b == NONE
                        && !atom.neg
                        && kb.in_category(&kb.syms[atom.rel as usize], category)
                })
                .collect()
        };
        let own = props_of(self, x);
        if !own.is_empty() {
            return Some(self.answers(own, complete));
        }
        // Induction: by analogy with the member of one of x's classes most recently
        // stated to belong to it (the closest precedent) that has a property of the
        // category.
        let classes: Vec<usize> = (0..self.program.facts().len())
            .filter(|&f| {
                let atom = self.program.fact(f).atom;
                atom.a == x
                    && !atom.neg
                    && atom.b == NONE
                    && self.syms[atom.rel as usize].starts_with("isa:")
            })
            .collect();
        let mut best: Option<(usize, usize, usize)> = None; // (x's class fact, member's class fact, member's property fact)
        for &cf in &classes {
            let class = self.program.fact(cf).atom.rel;
            for &mf in self.program.with_subject(class, false, NONE) {
                let m = self.program.fact(mf).atom.a;
                if m == x {
                    continue;
                }
                for pf in props_of(self, m) {
                    if best.is_none_or(|(_, bm, bp)| (mf, pf) > (bm, bp)) {
                        best = Some((cf, mf, pf));
                    }
                }
            }
        }
        let Some((cf, mf, pf)) = best else {
            return Some(self.unknown_reply(
                format!("I don't know what {category} {} is.", self.display(&key)),
                complete,
            ));
        };
        let mut proof = Proof::default();
        let mut memo = HashMap::new();
        let a = self.build(cf, &mut proof, &mut memo, 0);
        let b = self.build(mf, &mut proof, &mut memo, 0);
        let c = self.build(pf, &mut proof, &mut memo, 0);
        let value = self.syms[self.program.fact(pf).atom.rel as usize].clone();
        let class = self.syms[self.program.fact(cf).atom.rel as usize]
            .trim_start_matches("isa:")
            .to_string();
        let member = self.sym_display(self.program.fact(mf).atom.a);
        let who = self.display(&key);
        proof.steps.push(Step {
            conclusion: format!("{who} is probably {value}"),
            used: Used::Analogy,
            sources: Vec::new(),
            premises: vec![a, b, c],
            inference: Inference::Induction,
        });
        Some(Reply {
            verdict: Verdict::Answer,
            answer: format!(
                "Probably {value}: {who} is a {class}, and {member}, a {class}, is {value} (by analogy, not proved)."
            ),
            confidence: INDUCTION_CONFIDENCE,
            proofs: vec![proof],
            conflict: false,
            budget_exhausted: !complete,
        })
    }

    fn stint_text(&self, who: &str, s: &Stint) -> String {
        format!("{} is in {}", self.display(who), self.display(&s.value))
    }

    fn stint_proof(&self, who: &str, s: &Stint) -> Proof {
        Proof {
            steps: vec![Step {
                conclusion: self.stint_text(who, s),
                used: Used::Timeline,
                sources: s.sources.clone(),
                premises: Vec::new(),
                inference: Inference::Deduction,
            }],
        }
    }

    /// "Where is the football?"
    fn where_now(&self, rest: &[String]) -> Option<Reply> {
        let key = crate::learn::normalize::entity_key(&rest.join(" "));
        let Some(now) = self.timeline.current(LOCATION, &key).cloned() else {
            return Some(self.unknown_reply(
                format!("I don't know where {} is.", self.display(&key)),
                true,
            ));
        };
        let proof = self.stint_proof(&key, &now);
        let mut answer = format!("{}.", capitalize(&self.stint_text(&key, &now)));
        if let Some(h) = self.timeline.holder(&key) {
            answer = format!("{answer} {} has it.", capitalize(&self.display(h)));
        }
        Some(Reply {
            verdict: Verdict::Answer,
            answer,
            confidence: 1.0,
            proofs: vec![proof],
            conflict: false,
            budget_exhausted: false,
        })
    }

    /// "Where was Mary before the garden?"
    fn where_before(&self, rest: &[String], low: &[&str]) -> Option<Reply> {
        let b = low.iter().position(|w| *w == "before")?;
        let key = crate::learn::normalize::entity_key(&rest[..b].join(" "));
        let place = crate::learn::normalize::entity_key(&rest[b + 1..].join(" "));
        let Some((prev, then)) = self.timeline.before(LOCATION, &key, &place) else {
            return Some(self.unknown_reply(
                format!(
                    "I don't know where {} was before {}.",
                    self.display(&key),
                    self.display(&place)
                ),
                true,
            ));
        };
        let (prev, then) = (prev.clone(), then.clone());
        let who = self.display(&key);
        let proof = Proof {
            steps: vec![
                Step {
                    conclusion: format!("{who} was in {}", self.display(&prev.value)),
                    used: Used::Timeline,
                    sources: prev.sources.clone(),
                    premises: Vec::new(),
                    inference: Inference::Deduction,
                },
                Step {
                    conclusion: format!("then {who} was in {}", self.display(&then.value)),
                    used: Used::Timeline,
                    sources: then.sources.clone(),
                    premises: vec![0],
                    inference: Inference::Deduction,
                },
            ],
        };
        Some(Reply {
            verdict: Verdict::Answer,
            answer: format!(
                "{} was in {} before {}.",
                capitalize(&who),
                self.display(&prev.value),
                self.display(&then.value)
            ),
            confidence: 1.0,
            proofs: vec![proof],
            conflict: false,
            budget_exhausted: false,
        })
    }

    /// "How do you go from the den to the kitchen?": the shortest path over stated
    /// directional facts (each usable both ways through its inverse).
    fn path(&self, words: &[String], low: &[&str]) -> Option<Reply> {
        let to = low.iter().position(|w| *w == "to")?;
        let from_key = crate::learn::normalize::entity_key(&words[..to].join(" "));
        let to_key = crate::learn::normalize::entity_key(&words[to + 1..].join(" "));
        let (from, goal) = (self.known_sym(&from_key)?, self.known_sym(&to_key)?);
        // node -> (next node, direction word, fact)
        let mut edges: HashMap<u32, Vec<(u32, String, usize)>> = HashMap::new();
        for (id, f) in self.program.facts().iter().enumerate() {
            if !matches!(f.why, Why::Stated(_)) || f.atom.neg || f.atom.b == NONE {
                continue;
            }
            let rel = &self.syms[f.atom.rel as usize];
            let Some((_, word)) = self.props.direction(rel) else {
                continue;
            };
            // "A is north of B": from B go north to A; from A go the inverse way.
            edges
                .entry(f.atom.b)
                .or_default()
                .push((f.atom.a, word.to_string(), id));
            if let Some(back) = self
                .props
                .inverse(rel)
                .and_then(|inv| self.props.direction(inv))
            {
                edges
                    .entry(f.atom.a)
                    .or_default()
                    .push((f.atom.b, back.1.to_string(), id));
            }
        }
        let mut prev: HashMap<u32, (u32, String, usize)> = HashMap::new();
        let mut queue = VecDeque::from([from]);
        let mut seen = HashSet::from([from]);
        while let Some(n) = queue.pop_front() {
            if n == goal {
                break;
            }
            for (m, word, f) in edges.get(&n).cloned().unwrap_or_default() {
                if seen.insert(m) {
                    prev.insert(m, (n, word, f));
                    queue.push_back(m);
                }
            }
        }
        if from == goal || !prev.contains_key(&goal) {
            return Some(self.unknown_reply(
                format!(
                    "I don't know a way from {} to {}.",
                    self.display(&from_key),
                    self.display(&to_key)
                ),
                true,
            ));
        }
        let mut hops = Vec::new();
        let mut n = goal;
        while n != from {
            let (p, word, f) = prev[&n].clone();
            hops.push((word, f));
            n = p;
        }
        hops.reverse();
        let mut proof = Proof::default();
        let mut memo = HashMap::new();
        let premises: Vec<usize> = hops
            .iter()
            .map(|(_, f)| self.build(*f, &mut proof, &mut memo, 0))
            .collect();
        let dirs: Vec<String> = hops.iter().map(|(w, _)| w.clone()).collect();
        let route = dirs.join(", then ");
        proof.steps.push(Step {
            conclusion: format!(
                "from {} go {route} to reach {}",
                self.display(&from_key),
                self.display(&to_key)
            ),
            used: Used::Property("directions compose into a path".into()),
            sources: Vec::new(),
            premises,
            inference: Inference::Deduction,
        });
        // The answer names only the route's directions (the facts it rests on, which
        // name directions too, are the proof's steps), so it reads as the route.
        Some(Reply {
            verdict: Verdict::Answer,
            answer: format!("Go {route}."),
            confidence: 1.0,
            proofs: vec![proof],
            conflict: false,
            budget_exhausted: false,
        })
    }
}

fn parse_aux(w: &str) -> bool {
    matches!(
        w,
        "is" | "are" | "was" | "were" | "does" | "do" | "did" | "am"
    )
}

fn default_surface(rel: &str) -> String {
    match rel {
        "left_of" => "to the left of".into(),
        "right_of" => "to the right of".into(),
        "location" => "in".into(),
        _ => rel.replace('_', " "),
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests;

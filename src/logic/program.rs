//! The logic program of one knowledge base: interned ground literals (facts, with their
//! negations as negative evidence) and Horn rules with variables, saturated by forward
//! chaining.
//!
//! Why forward chaining to a fixpoint with incremental (semi-naive) maintenance rather
//! than tabled backward chaining: learning is append-only here (a new fact or rule only
//! adds consequences; superseded facts live in the timeline, not in this program), so
//! each new fact is joined once against the rules that mention its relation, and every
//! question afterwards is a hash lookup plus the walk of a stored derivation. That puts
//! the cost at learn time, where it is paid once, and makes a depth-10 proof as cheap to
//! answer as a depth-1 one. Derivations are processed in FIFO order, so the first
//! derivation kept for a literal is a shallow one, which is the proof shown.
//!
//! Work is bounded: [`Program::saturate`] stops after a budget of join steps and keeps
//! its agenda, so a pathological rule set leaves the program "incomplete" (questions it
//! cannot settle answer `unknown` saying the budget ran out) instead of hanging.

use std::collections::{HashMap, VecDeque};

/// "No second argument" (a property or class membership).
pub const NONE: u32 = u32::MAX;

/// A ground literal: relation, first and second argument (interned), and polarity.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct Atom {
    /// Relation symbol.
    pub rel: u32,
    /// Subject symbol.
    pub a: u32,
    /// Object symbol, or [`NONE`].
    pub b: u32,
    /// Negated ("does not", "is not").
    pub neg: bool,
}

impl Atom {
    /// The same literal with the other polarity.
    pub fn negated(self) -> Atom {
        Atom {
            neg: !self.neg,
            ..self
        }
    }
}

/// Why a fact holds.
#[derive(Clone, Debug)]
pub enum Why {
    /// Learned from sentences (their occurrence tokens).
    Stated(Vec<u64>),
    /// Derived by a rule from premises (fact ids, in the rule's body order).
    Derived { rule: usize, premises: Vec<usize> },
}

/// A fact of the program.
#[derive(Clone, Debug)]
pub struct Fact {
    /// The literal.
    pub atom: Atom,
    /// Its first derivation.
    pub why: Why,
}

/// An argument of a rule pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum T {
    /// A constant symbol.
    C(u32),
    /// A variable (index < [`MAX_VARS`]).
    V(u8),
    /// No argument.
    N,
}

/// Variables per rule.
pub const MAX_VARS: usize = 8;

/// A literal with variables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pat {
    /// Relation symbol.
    pub rel: u32,
    /// First argument.
    pub a: T,
    /// Second argument.
    pub b: T,
    /// Negated.
    pub neg: bool,
}

/// Where a rule comes from.
#[derive(Clone, Debug)]
pub enum RuleOrigin {
    /// A learned sentence (its occurrence tokens and text).
    Sentence { tokens: Vec<u64>, text: String },
    /// A relation property (built in or taught): a description and the tokens of the
    /// sentences that taught it (empty for the built-in lexicon).
    Property { text: String, tokens: Vec<u64> },
}

/// A Horn rule: when every body literal holds, the head holds.
#[derive(Clone, Debug)]
pub struct Rule {
    /// Conditions.
    pub body: Vec<Pat>,
    /// Conclusion.
    pub head: Pat,
    /// Provenance.
    pub origin: RuleOrigin,
}

/// Facts, rules, their indexes and the saturation agenda.
#[derive(Default, Debug)]
pub struct Program {
    facts: Vec<Fact>,
    by_atom: HashMap<Atom, usize>,
    by_rel: HashMap<(u32, bool), Vec<usize>>,
    by_rel_a: HashMap<(u32, bool, u32), Vec<usize>>,
    by_rel_b: HashMap<(u32, bool, u32), Vec<usize>>,
    rules: Vec<Rule>,
    rule_index: HashMap<(u32, bool), Vec<(usize, usize)>>,
    agenda: VecDeque<usize>,
    new_rules: VecDeque<usize>,
}

/// The outcome of a bounded saturation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Saturation {
    /// Every consequence is derived.
    Complete,
    /// The budget ran out with work left (kept for the next call).
    BudgetExhausted,
}

impl Program {
    /// All facts (stated and derived).
    pub fn facts(&self) -> &[Fact] {
        &self.facts
    }

    /// One fact.
    pub fn fact(&self, id: usize) -> &Fact {
        &self.facts[id]
    }

    /// One rule.
    pub fn rule(&self, id: usize) -> &Rule {
        &self.rules[id]
    }

    /// Number of rules.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// The id of a fact, if it holds.
    pub fn find(&self, atom: Atom) -> Option<usize> {
        self.by_atom.get(&atom).copied()
    }

    /// Facts of a relation and polarity whose subject is `a` (any if `NONE`).
    pub fn with_subject(&self, rel: u32, neg: bool, a: u32) -> &[usize] {
        let list = if a == NONE {
            self.by_rel.get(&(rel, neg))
        } else {
            self.by_rel_a.get(&(rel, neg, a))
        };
        list.map(Vec::as_slice).unwrap_or(&[])
    }

    /// Facts of a relation and polarity whose object is `b`.
    pub fn with_object(&self, rel: u32, neg: bool, b: u32) -> &[usize] {
        self.by_rel_b
            .get(&(rel, neg, b))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Whether saturation has work left.
    pub fn pending(&self) -> bool {
        !self.agenda.is_empty() || !self.new_rules.is_empty()
    }

    /// States a fact (a learned sentence occurrence); returns its id. A fact already
    /// derived keeps its derivation but gains the sentence as a source.
    pub fn state(&mut self, atom: Atom, token: u64) -> usize {
        if let Some(&id) = self.by_atom.get(&atom) {
            match &mut self.facts[id].why {
                Why::Stated(tokens) => tokens.push(token),
                why @ Why::Derived { .. } => *why = Why::Stated(vec![token]),
            }
            return id;
        }
        self.insert(atom, Why::Stated(vec![token]))
    }

    fn insert(&mut self, atom: Atom, why: Why) -> usize {
        let id = self.facts.len();
        self.facts.push(Fact { atom, why });
        self.by_atom.insert(atom, id);
        self.by_rel
            .entry((atom.rel, atom.neg))
            .or_default()
            .push(id);
        self.by_rel_a
            .entry((atom.rel, atom.neg, atom.a))
            .or_default()
            .push(id);
        if atom.b != NONE {
            self.by_rel_b
                .entry((atom.rel, atom.neg, atom.b))
                .or_default()
                .push(id);
        }
        self.agenda.push_back(id);
        id
    }

    /// Adds a rule; its consequences from the facts already known come at the next
    /// [`Program::saturate`].
    pub fn add_rule(&mut self, rule: Rule) -> usize {
        let id = self.rules.len();
        for (i, p) in rule.body.iter().enumerate() {
            self.rule_index
                .entry((p.rel, p.neg))
                .or_default()
                .push((id, i));
        }
        self.rules.push(rule);
        self.new_rules.push_back(id);
        id
    }

    /// Derives consequences until the fixpoint or until `budget` join steps are spent.
    pub fn saturate(&mut self, budget: u64) -> Saturation {
        let mut work = 0u64;
        while let Some(&r) = self.new_rules.front() {
            let mut found = Vec::new();
            let rule = &self.rules[r];
            let mut binds = [NONE; MAX_VARS];
            let mut prem = Vec::new();
            if !self.join(
                rule,
                usize::MAX,
                0,
                &mut binds,
                &mut prem,
                &mut found,
                &mut work,
                budget,
            ) {
                return Saturation::BudgetExhausted;
            }
            self.new_rules.pop_front();
            self.conclude(r, found);
        }
        while let Some(&f) = self.agenda.front() {
            let atom = self.facts[f].atom;
            let mut found = Vec::new();
            let triggers = self
                .rule_index
                .get(&(atom.rel, atom.neg))
                .cloned()
                .unwrap_or_default();
            for (r, i) in triggers {
                let rule = &self.rules[r];
                let mut binds = [NONE; MAX_VARS];
                if !unify(&rule.body[i], atom, &mut binds) {
                    continue;
                }
                let mut prem = vec![(i, f)];
                let mut here = Vec::new();
                if !self.join(
                    rule, i, 0, &mut binds, &mut prem, &mut here, &mut work, budget,
                ) {
                    return Saturation::BudgetExhausted;
                }
                found.extend(here.into_iter().map(|x| (r, x)));
            }
            self.agenda.pop_front();
            for (r, x) in found {
                self.conclude(r, vec![x]);
            }
        }
        Saturation::Complete
    }

    fn conclude(&mut self, r: usize, found: Vec<([u32; MAX_VARS], Vec<usize>)>) {
        for (binds, premises) in found {
            let head = self.rules[r].head;
            let Some(atom) = ground(&head, &binds) else {
                continue;
            };
            if self.by_atom.contains_key(&atom) {
                continue;
            }
            self.insert(atom, Why::Derived { rule: r, premises });
        }
    }

    /// Joins body literals from `from` on (skipping `skip`, already matched), pushing
    /// every complete match. False when the budget ran out.
    #[allow(clippy::too_many_arguments)]
    fn join(
        &self,
        rule: &Rule,
        skip: usize,
        from: usize,
        binds: &mut [u32; MAX_VARS],
        prem: &mut Vec<(usize, usize)>,
        out: &mut Vec<([u32; MAX_VARS], Vec<usize>)>,
        work: &mut u64,
        budget: u64,
    ) -> bool {
        let mut i = from;
        if i == skip {
            i += 1;
        }
        if i >= rule.body.len() {
            let mut p = prem.clone();
            p.sort_unstable();
            out.push((*binds, p.into_iter().map(|(_, f)| f).collect()));
            return true;
        }
        let pat = rule.body[i];
        let a = resolve(pat.a, binds);
        let b = resolve(pat.b, binds);
        let candidates: &[usize] = match (a, b) {
            (Some(a), Some(b)) => {
                *work += 1;
                let atom = Atom {
                    rel: pat.rel,
                    a,
                    b,
                    neg: pat.neg,
                };
                return match self.by_atom.get(&atom) {
                    Some(&f) => {
                        prem.push((i, f));
                        let ok = self.join(rule, skip, i + 1, binds, prem, out, work, budget);
                        prem.pop();
                        ok
                    }
                    None => true,
                };
            }
            (Some(a), None) => self.with_subject(pat.rel, pat.neg, a),
            // A one-place literal ("young(X)") has no object to look up by: every fact
            // of the relation is a candidate (`by_rel_b` holds only two-place facts).
            (None, Some(NONE)) => self.with_subject(pat.rel, pat.neg, NONE),
            (None, Some(b)) => self.with_object(pat.rel, pat.neg, b),
            (None, None) => self.with_subject(pat.rel, pat.neg, NONE),
        };
        for &f in candidates {
            *work += 1;
            if *work > budget {
                return false;
            }
            let saved = *binds;
            if unify(&pat, self.facts[f].atom, binds) {
                prem.push((i, f));
                let ok = self.join(rule, skip, i + 1, binds, prem, out, work, budget);
                prem.pop();
                if !ok {
                    return false;
                }
            }
            *binds = saved;
        }
        true
    }
}

/// The value of a pattern argument under bindings: Some(symbol) when fixed (a constant,
/// a bound variable or no argument), None for an unbound variable.
fn resolve(t: T, binds: &[u32; MAX_VARS]) -> Option<u32> {
    match t {
        T::C(c) => Some(c),
        T::N => Some(NONE),
        T::V(v) => {
            let x = binds[v as usize];
            (x != NONE).then_some(x)
        }
    }
}

fn unify_arg(t: T, x: u32, binds: &mut [u32; MAX_VARS]) -> bool {
    match t {
        T::C(c) => c == x,
        T::N => x == NONE,
        T::V(v) => {
            let slot = &mut binds[v as usize];
            if *slot == NONE {
                if x == NONE {
                    return false;
                }
                *slot = x;
                true
            } else {
                *slot == x
            }
        }
    }
}

/// Matches a pattern against a ground literal, extending the bindings.
pub fn unify(p: &Pat, atom: Atom, binds: &mut [u32; MAX_VARS]) -> bool {
    p.rel == atom.rel
        && p.neg == atom.neg
        && unify_arg(p.a, atom.a, binds)
        && unify_arg(p.b, atom.b, binds)
}

/// The ground literal of a pattern under bindings (None if a variable is unbound).
pub fn ground(p: &Pat, binds: &[u32; MAX_VARS]) -> Option<Atom> {
    Some(Atom {
        rel: p.rel,
        a: resolve(p.a, binds)?,
        b: resolve(p.b, binds)?,
        neg: p.neg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sentence() -> RuleOrigin {
        RuleOrigin::Sentence {
            tokens: vec![99],
            text: "rule".into(),
        }
    }

    #[test]
    fn chains_rules_and_keeps_the_derivation() {
        let mut p = Program::default();
        // young(X) -> big(X); big(X) & visit(X, 7) -> not nice(X)
        p.add_rule(Rule {
            body: vec![Pat {
                rel: 1,
                a: T::V(0),
                b: T::N,
                neg: false,
            }],
            head: Pat {
                rel: 2,
                a: T::V(0),
                b: T::N,
                neg: false,
            },
            origin: sentence(),
        });
        p.add_rule(Rule {
            body: vec![
                Pat {
                    rel: 2,
                    a: T::V(0),
                    b: T::N,
                    neg: false,
                },
                Pat {
                    rel: 3,
                    a: T::V(0),
                    b: T::C(7),
                    neg: false,
                },
            ],
            head: Pat {
                rel: 4,
                a: T::V(0),
                b: T::N,
                neg: true,
            },
            origin: sentence(),
        });
        let young = p.state(
            Atom {
                rel: 1,
                a: 5,
                b: NONE,
                neg: false,
            },
            1,
        );
        let visit = p.state(
            Atom {
                rel: 3,
                a: 5,
                b: 7,
                neg: false,
            },
            2,
        );
        assert_eq!(p.saturate(1_000), Saturation::Complete);
        let big = p
            .find(Atom {
                rel: 2,
                a: 5,
                b: NONE,
                neg: false,
            })
            .unwrap();
        let not_nice = p
            .find(Atom {
                rel: 4,
                a: 5,
                b: NONE,
                neg: true,
            })
            .unwrap();
        assert!(p
            .find(Atom {
                rel: 4,
                a: 5,
                b: NONE,
                neg: false
            })
            .is_none());
        match &p.fact(big).why {
            Why::Derived { rule, premises } => {
                assert_eq!(*rule, 0);
                assert_eq!(premises, &vec![young]);
            }
            other => panic!("{other:?}"),
        }
        match &p.fact(not_nice).why {
            Why::Derived { premises, .. } => assert_eq!(premises, &vec![big, visit]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_rule_learned_after_the_facts_applies_to_them() {
        let mut p = Program::default();
        p.state(
            Atom {
                rel: 1,
                a: 5,
                b: 6,
                neg: false,
            },
            1,
        );
        p.state(
            Atom {
                rel: 1,
                a: 6,
                b: 8,
                neg: false,
            },
            2,
        );
        p.saturate(100);
        // transitive
        p.add_rule(Rule {
            body: vec![
                Pat {
                    rel: 1,
                    a: T::V(0),
                    b: T::V(1),
                    neg: false,
                },
                Pat {
                    rel: 1,
                    a: T::V(1),
                    b: T::V(2),
                    neg: false,
                },
            ],
            head: Pat {
                rel: 1,
                a: T::V(0),
                b: T::V(2),
                neg: false,
            },
            origin: sentence(),
        });
        assert_eq!(p.saturate(1_000), Saturation::Complete);
        assert!(p
            .find(Atom {
                rel: 1,
                a: 5,
                b: 8,
                neg: false
            })
            .is_some());
    }

    #[test]
    fn the_budget_stops_saturation_and_keeps_the_work() {
        let mut p = Program::default();
        p.add_rule(Rule {
            body: vec![
                Pat {
                    rel: 1,
                    a: T::V(0),
                    b: T::V(1),
                    neg: false,
                },
                Pat {
                    rel: 1,
                    a: T::V(1),
                    b: T::V(2),
                    neg: false,
                },
            ],
            head: Pat {
                rel: 1,
                a: T::V(0),
                b: T::V(2),
                neg: false,
            },
            origin: sentence(),
        });
        for i in 0..200 {
            p.state(
                Atom {
                    rel: 1,
                    a: i,
                    b: i + 1,
                    neg: false,
                },
                u64::from(i),
            );
        }
        assert_eq!(p.saturate(1_000), Saturation::BudgetExhausted);
        assert!(p.pending());
        while p.saturate(1_000_000) == Saturation::BudgetExhausted {}
        assert!(p
            .find(Atom {
                rel: 1,
                a: 0,
                b: 200,
                neg: false
            })
            .is_some());
    }
}

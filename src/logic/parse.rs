//! English sentences to statements: facts with any relation, generic statements and
//! conditionals (rules with variables), events that change a functional relation over
//! time, possession, and relation properties.
//!
//! The reader is a small grammar over words, not a list of sentence shapes: a clause is
//! a noun phrase and a predicate; the predicate is a copula with a complement (a class,
//! adjectives, or a relation phrase ending in a preposition: "afraid of", "to the left
//! of", "north of", "above") or a verb phrase (any verb, normalized by the lemmatizer of
//! [`crate::nlp`], with its particle and preposition: "chases" -> `chase`, "looks at" ->
//! `look_at`). Relation names are the normalized words joined by `_`.

use crate::learn::normalize::{entity_key, may_be_plural, singular};
use crate::logic::relations::RelProp;
use crate::nlp::Nlp;

/// A term: a variable of a rule or a named thing (its key).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Term {
    /// A variable (0 is the subject of a generic or the first "something").
    Var(u8),
    /// A named thing or class used as an object, by key.
    Ent(String),
}

/// A literal: relation over one or two terms, possibly negated. Class membership is the
/// relation `isa:<class key>` over one term; a property is the relation named by the
/// adjective.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Lit {
    /// Relation name.
    pub rel: String,
    /// Subject.
    pub a: Term,
    /// Object, if binary.
    pub b: Option<Term>,
    /// Negated.
    pub neg: bool,
}

/// What a sentence says.
#[derive(Clone, Debug, PartialEq)]
pub enum Statement {
    /// Ground literals (a conjunction).
    Facts(Vec<Lit>),
    /// A rule: the body's conjunction gives each head literal.
    Rule { body: Vec<Lit>, head: Vec<Lit> },
    /// A functional relation takes a new value ("Mary moved to the bathroom.":
    /// `location`), superseding the earlier one.
    Change {
        rel: String,
        who: String,
        value: String,
    },
    /// Someone takes hold of something.
    Take { who: String, what: String },
    /// Someone lets go of something.
    Release { who: String, what: String },
    /// A relation property ("North of is the opposite of south of.").
    Property { rel: String, prop: RelProp },
}

/// How a relation reads in English.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Surface {
    /// The words after the subject ("afraid of", "to the left of", "chase"), verbs as
    /// their lemma.
    pub words: String,
    /// A copula relation ("is afraid of") rather than a verb ("chases").
    pub copular: bool,
}

/// A parsed sentence with the names and relation wordings it used.
#[derive(Clone, Debug, PartialEq)]
pub struct Parsed {
    /// The statement.
    pub statement: Statement,
    /// (key, display) of the things named, as written.
    pub names: Vec<(String, String)>,
    /// How each relation used reads.
    pub surfaces: Vec<(String, Surface)>,
}

/// The variable of a wh-question's gap.
pub const QUERY_VAR: u8 = 7;
/// The word standing for a wh-question's gap when a question is rewritten as a statement.
pub const GAP: &str = "__gap__";

const COPULA: &[&str] = &["is", "are", "was", "were", "am", "be"];
const DO: &[&str] = &["does", "do", "did"];
const ARTICLES: &[&str] = &["the", "a", "an"];
const QUANTIFIERS: &[&str] = &["all", "every", "each", "any"];
const SOMETHING: &[&str] = &[
    "something",
    "someone",
    "somebody",
    "anything",
    "anyone",
    "anybody",
    "everything",
    "everyone",
    "everybody",
];
const PRONOUNS: &[&str] = &["it", "they", "he", "she", "them", "him", "her"];
const GENERIC_HEADS: &[&str] = &[
    "thing", "things", "people", "person", "persons", "one", "ones",
];
const RELATIVE: &[&str] = &["that", "who", "which"];
const PREPOSITIONS: &[&str] = &[
    "of",
    "to",
    "in",
    "on",
    "at",
    "than",
    "from",
    "with",
    "above",
    "below",
    "under",
    "over",
    "behind",
    "beside",
    "near",
    "inside",
    "into",
    "onto",
    "towards",
    "toward",
    "within",
    "beneath",
    "underneath",
    "by",
    "for",
    "about",
    "across",
    "around",
    "through",
    "after",
    "before",
    "against",
    "among",
    "between",
    "outside",
    "upon",
];
const PARTICLES: &[&str] = &["up", "down", "back", "away", "off", "out"];
/// Verbs of motion: "<verb> (back) to <place>" changes where the subject is.
const MOTION: &[&str] = &[
    "go", "move", "travel", "journey", "walk", "run", "come", "return", "head", "drive", "fly",
    "hurry", "rush", "wander", "stroll", "march", "jog", "cycle", "sail", "ride", "crawl", "dash",
    "proceed", "relocate", "swim", "race", "hike", "climb", "sprint", "head",
];
/// Taking hold of something (lemma, particle).
const TAKE: &[(&str, &str)] = &[
    ("pick", "up"),
    ("get", ""),
    ("grab", ""),
    ("take", ""),
    ("collect", ""),
    ("fetch", ""),
    ("obtain", ""),
    ("acquire", ""),
    ("lift", ""),
    ("seize", ""),
    ("snatch", ""),
    ("catch", ""),
];
/// Letting go of something.
const RELEASE: &[(&str, &str)] = &[
    ("drop", ""),
    ("discard", ""),
    ("put", "down"),
    ("set", "down"),
    ("leave", ""),
    ("throw", "away"),
    ("throw", "out"),
    ("release", ""),
    ("abandon", ""),
];

/// Words of a sentence: (as written, lower case). Commas are tokens of their own.
fn words(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for piece in text.split_whitespace() {
        let piece = piece.trim_matches(|c: char| matches!(c, '"' | '\'' | '(' | ')'));
        let mut core = piece.trim_end_matches(['.', '?', '!', ';', ':']);
        let comma = core.ends_with(',');
        core = core.trim_end_matches(',');
        if !core.is_empty() {
            out.push((core.to_string(), core.to_lowercase()));
        }
        if comma {
            out.push((",".to_string(), ",".to_string()));
        }
    }
    out
}

/// The lemma of a verb form ("chases" -> "chase", "went" -> "go").
pub fn verb_lemma(word: &str) -> String {
    let w = word.to_lowercase();
    match Nlp::shared() {
        Ok(nlp) => {
            for tag in ["VBZ", "VBD", "VBN", "VBG", "VBP"] {
                let l = nlp.lemma(&w, tag);
                if l != w {
                    return l;
                }
            }
            w
        }
        Err(_) => w
            .strip_suffix("ies")
            .map(|s| format!("{s}y"))
            .or_else(|| {
                w.strip_suffix("es")
                    .filter(|s| s.ends_with("sh") || s.ends_with("ch"))
                    .map(str::to_string)
            })
            .or_else(|| {
                w.strip_suffix('s')
                    .filter(|s| !s.ends_with('s'))
                    .map(str::to_string)
            })
            .unwrap_or(w),
    }
}

fn is_verb_form(word: &str) -> bool {
    match Nlp::shared() {
        Ok(nlp) => nlp.is_verb_form(word),
        Err(_) => word.ends_with('s') || word.ends_with("ed"),
    }
}

/// The third person singular of a verb lemma ("chase" -> "chases", "carry" -> "carries").
pub fn third_person(lemma: &str) -> String {
    match lemma {
        "be" => return "is".into(),
        "have" => return "has".into(),
        "do" => return "does".into(),
        "go" => return "goes".into(),
        _ => {}
    }
    let bytes = lemma.as_bytes();
    let n = bytes.len();
    if n >= 2 && lemma.ends_with('y') && !b"aeiou".contains(&bytes[n - 2]) {
        return format!("{}ies", &lemma[..n - 1]);
    }
    if ["s", "sh", "ch", "x", "z", "o"]
        .iter()
        .any(|e| lemma.ends_with(e))
    {
        return format!("{lemma}es");
    }
    format!("{lemma}s")
}

/// Words of a clause: (as written, lower case).
type Words = Vec<(String, String)>;

/// Parsing state: variables introduced so far.
struct Ctx {
    vars: u8,
    names: Vec<(String, String)>,
    surfaces: Vec<(String, Surface)>,
    /// Whether the gap word may appear (questions).
    gap: bool,
}

impl Ctx {
    fn new(gap: bool) -> Ctx {
        Ctx {
            vars: 0,
            names: Vec::new(),
            surfaces: Vec::new(),
            gap,
        }
    }
    fn new_var(&mut self) -> Option<u8> {
        if usize::from(self.vars) >= 6 {
            return None;
        }
        self.vars += 1;
        Some(self.vars - 1)
    }
    fn surface(&mut self, rel: &str, words: String, copular: bool) {
        if !self.surfaces.iter().any(|(r, _)| r == rel) {
            self.surfaces
                .push((rel.to_string(), Surface { words, copular }));
        }
    }
}

/// A subject noun phrase.
#[derive(Clone, Debug)]
enum Subject {
    /// A named thing or variable.
    Term(Term),
    /// A generic: variable 0 with its conditions ("red things that are round").
    Generic(Vec<Lit>),
}

/// Parses a statement (a fact, rule, event or relation property); None when the
/// sentence is not one this layer reads.
pub fn parse_statement(text: &str) -> Option<Parsed> {
    let w = words(text);
    parse_words(&w, false)
}

/// Parses a statement that may contain the wh-gap word [`GAP`] (for questions).
pub(crate) fn parse_with_gap(text: &str) -> Option<Parsed> {
    let w = words(text);
    parse_words(&w, true)
}

fn parse_words(w: &[(String, String)], gap: bool) -> Option<Parsed> {
    if w.is_empty() {
        return None;
    }
    let low: Vec<&str> = w.iter().map(|(_, l)| l.as_str()).collect();
    let mut ctx = Ctx::new(gap);
    if let Some(statement) = property(&low) {
        return Some(Parsed {
            statement,
            names: Vec::new(),
            surfaces: Vec::new(),
        });
    }
    let statement = if low[0] == "if" {
        let t = low.iter().position(|x| *x == "then")?;
        let body = clauses(&w[1..t], &mut ctx, false)?;
        let head = clauses(&w[t + 1..], &mut ctx, false)?;
        rule(body, head)?
    } else if let Some((i, rest)) = low
        .iter()
        .position(|x| *x == "if")
        .map(|i| (i, &w[i + 1..]))
    {
        // "<conclusion> if <condition>"
        let body = clauses(rest, &mut ctx, false)?;
        let head = clauses(&w[..i], &mut ctx, false)?;
        rule(body, head)?
    } else {
        sentence(w, &mut ctx)?
    };
    Some(Parsed {
        statement,
        names: ctx.names,
        surfaces: ctx.surfaces,
    })
}

fn rule(body: Vec<Lit>, head: Vec<Lit>) -> Option<Statement> {
    if body.is_empty() || head.is_empty() {
        return None;
    }
    // Every variable of the head must be bound by the body.
    let bound = |t: &Term| match t {
        Term::Var(v) => body
            .iter()
            .any(|l| l.a == Term::Var(*v) || l.b == Some(Term::Var(*v))),
        Term::Ent(_) => true,
    };
    if !head
        .iter()
        .all(|l| bound(&l.a) && l.b.as_ref().is_none_or(bound))
    {
        return None;
    }
    Some(Statement::Rule { body, head })
}

/// "North of is the opposite of south of." / "Ancestor of is transitive."
fn property(low: &[&str]) -> Option<Statement> {
    let is = low.iter().position(|x| *x == "is" || *x == "are")?;
    if is == 0 {
        return None;
    }
    let rel = relation_name(&low[..is])?;
    let rest = &low[is + 1..];
    let prop = match rest {
        ["transitive"] => RelProp::Transitive,
        ["symmetric"] | ["symmetrical"] | ["mutual"] => RelProp::Symmetric,
        ["asymmetric"] | ["antisymmetric"] => RelProp::Asymmetric,
        ["functional"] => RelProp::Functional,
        [first, word, "of", other @ ..]
            if matches!(*first, "the" | "an")
                && matches!(*word, "opposite" | "inverse" | "converse" | "reverse") =>
        {
            RelProp::Inverse(relation_name(other)?)
        }
        _ => return None,
    };
    Some(Statement::Property { rel, prop })
}

/// A relation phrase on its own ("north of", "to the left of", "ancestor of"): must end
/// in a preposition.
fn relation_name(words: &[&str]) -> Option<String> {
    let last = words.last()?;
    if !PREPOSITIONS.contains(last) && !matches!(*last, "above" | "below") {
        return None;
    }
    let mut parts: Vec<String> = relation_words(words)
        .into_iter()
        .map(str::to_string)
        .collect();
    // "Reports to is transitive." names the relation of "Ann reports to Bob.", which a
    // statement names by the verb's lemma (`report_to`); a participle or adjective
    // ("married to", "afraid of") is the complement of "is" there and stays as written.
    if parts.len() > 1 && parts[0].ends_with('s') && !parts[0].ends_with("ss") {
        let lemma = match Nlp::shared() {
            Ok(nlp) => nlp.lemma(&parts[0], "VBZ"),
            Err(_) => verb_lemma(&parts[0]),
        };
        if lemma != parts[0] && is_verb_form(&parts[0]) {
            parts[0] = lemma;
        }
    }
    (!parts.is_empty()).then(|| parts.join("_"))
}

/// The words of a relation phrase without articles and a leading "to" ("to the left
/// of" -> left of).
fn relation_words<'a>(words: &[&'a str]) -> Vec<&'a str> {
    let mut parts: Vec<&str> = words
        .iter()
        .copied()
        .filter(|w| !ARTICLES.contains(w))
        .collect();
    if parts.len() > 1 && parts[0] == "to" {
        parts.remove(0);
    }
    parts
}

/// A whole sentence that is not a conditional.
fn sentence(w: &[(String, String)], ctx: &mut Ctx) -> Option<Statement> {
    let low: Vec<&str> = w.iter().map(|(_, l)| l.as_str()).collect();
    let v = verb_index(w)?;
    let plural_verb = plural_predicate(&low[v..]);
    let subject = subject(
        &w[..v],
        plural_verb,
        COPULA.contains(&low[v]) || DO.contains(&low[v]),
        ctx,
    )?;
    match subject {
        Subject::Generic(conds) => {
            let head = predicate(Term::Var(0), &w[v..], ctx)?;
            match head {
                Statement::Facts(head) => rule(conds, head),
                _ => None,
            }
        }
        Subject::Term(t) => predicate(t, &w[v..], ctx),
    }
}

/// Several clauses joined by "and" (a rule's condition or conclusion): a part without a
/// subject continues the previous clause ("is big and not red").
fn clauses(w: &[(String, String)], ctx: &mut Ctx, _gap: bool) -> Option<Vec<Lit>> {
    let mut out = Vec::new();
    let mut parts: Vec<&[(String, String)]> = Vec::new();
    let mut start = 0;
    for (i, (_, l)) in w.iter().enumerate() {
        if l == "and" {
            parts.push(&w[start..i]);
            start = i + 1;
        }
    }
    parts.push(&w[start..]);
    // (subject words, verb words) of the last clause, to continue it.
    let mut last: Option<(Words, Words)> = None;
    for part in parts {
        if part.is_empty() {
            return None;
        }
        let starts_clause = {
            let (orig, low) = &part[0];
            SOMETHING.contains(&low.as_str())
                || PRONOUNS.contains(&low.as_str())
                || ARTICLES.contains(&low.as_str())
                || QUANTIFIERS.contains(&low.as_str())
                || low == GAP
                || orig.chars().next().is_some_and(char::is_uppercase)
        };
        let full: Vec<(String, String)> = if starts_clause || last.is_none() {
            part.to_vec()
        } else {
            let (subj, verb) = last.clone()?;
            let mut v = subj;
            // "is big and not red": the copula carries over; "chases the cat and visits
            // the dog": the subject does.
            let first = part[0].1.as_str();
            let prev = verb.first().map(|(_, l)| l.as_str()).unwrap_or("");
            if !(COPULA.contains(&first) || DO.contains(&first))
                && (COPULA.contains(&prev) || (DO.contains(&prev) && first == "not"))
            {
                v.push(verb[0].clone());
            }
            v.extend(part.iter().cloned());
            v
        };
        let idx = verb_index(&full)?;
        let low: Vec<&str> = full.iter().map(|(_, l)| l.as_str()).collect();
        let plural = plural_predicate(&low[idx..]);
        let subj = subject(
            &full[..idx],
            plural,
            COPULA.contains(&low[idx]) || DO.contains(&low[idx]),
            ctx,
        )?;
        let term = match subj {
            Subject::Term(t) => t,
            Subject::Generic(conds) => {
                out.extend(conds);
                Term::Var(0)
            }
        };
        match predicate(term, &full[idx..], ctx)? {
            Statement::Facts(lits) => out.extend(lits),
            _ => return None,
        }
        last = Some((full[..idx].to_vec(), full[idx..idx + 1].to_vec()));
    }
    Some(out)
}

/// Whether a predicate's verb agrees with a plural subject.
fn plural_predicate(p: &[&str]) -> bool {
    match p.first() {
        Some(&"are") | Some(&"were") | Some(&"do") => true,
        Some(&"is") | Some(&"was") | Some(&"does") | Some(&"am") => false,
        // A lexical verb agrees with a plural subject in its base form ("chase", not
        // "chases" or "went").
        Some(v) => !v.ends_with('s') && !v.ends_with("ed") && verb_lemma(v) == *v,
        None => false,
    }
}

/// Where the predicate starts: the first copula or "do", else the verb after the
/// subject's noun phrase.
fn verb_index(w: &[(String, String)]) -> Option<usize> {
    let low: Vec<&str> = w.iter().map(|(_, l)| l.as_str()).collect();
    if let Some(i) = low
        .iter()
        .position(|x| COPULA.contains(x) || DO.contains(x))
    {
        // "All things that are red are big": the copula of a relative clause is not
        // the main one.
        if let Some(r) = low[..i].iter().position(|x| RELATIVE.contains(x)) {
            let _ = r;
            let rest = &low[i + 1..];
            if let Some(j) = rest
                .iter()
                .position(|x| COPULA.contains(x) || DO.contains(x))
            {
                return Some(i + 1 + j);
            }
            // "Things that chase the cat are big" handled above; a verb relative
            // clause: find the second verb.
        }
        if i > 0 {
            return Some(i);
        }
        return None;
    }
    let mut start = 1;
    if ARTICLES.contains(&low[0]) || QUANTIFIERS.contains(&low[0]) {
        start = 2;
    }
    if low.iter().any(|x| RELATIVE.contains(x)) {
        return None;
    }
    let candidates: Vec<usize> = (start..low.len())
        .take_while(|&i| !ARTICLES.contains(&low[i]) && low[i] != ",")
        .filter(|&i| is_verb_form(low[i]) || low[i].ends_with("ed"))
        .collect();
    candidates
        .iter()
        .copied()
        .find(|&i| low[i].ends_with('s') || low[i].ends_with("ed"))
        .or_else(|| candidates.first().copied())
        .or_else(|| (start < low.len()).then_some(start))
}

/// The subject noun phrase.
fn subject(w: &[(String, String)], plural: bool, copula: bool, ctx: &mut Ctx) -> Option<Subject> {
    let low: Vec<&str> = w.iter().map(|(_, l)| l.as_str()).collect();
    match low.as_slice() {
        [] => None,
        [one] if SOMETHING.contains(one) => {
            if ctx.vars == 0 {
                ctx.new_var();
            }
            Some(Subject::Term(Term::Var(0)))
        }
        [one] if PRONOUNS.contains(one) => (ctx.vars > 0).then_some(Subject::Term(Term::Var(0))),
        [one] if *one == GAP && ctx.gap => Some(Subject::Term(Term::Var(QUERY_VAR))),
        [first, ..] if QUANTIFIERS.contains(first) => generic(&w[1..], ctx),
        [first, ..] if ARTICLES.contains(first) => Some(Subject::Term(named(w, ctx)?)),
        _ => {
            let capital = w[0].0.chars().next().is_some_and(char::is_uppercase);
            // A capitalized single word with a plural verb is a class only if it can be
            // a plural ("Wolves chase", "Sheep are"), not a name ("John put down").
            let name_like = capital && low.len() == 1 && !may_be_plural(low[0]);
            if (plural && (copula || !name_like))
                || low.iter().any(|x| RELATIVE.contains(x))
                || (!capital && low.len() > 1)
            {
                generic(w, ctx)
            } else {
                Some(Subject::Term(named(w, ctx)?))
            }
        }
    }
}

/// A named thing ("the bald eagle", "Bob", "wolves" as an object class).
fn named(w: &[(String, String)], ctx: &mut Ctx) -> Option<Term> {
    let mut w = w;
    while let Some((_, l)) = w.last() {
        if l == "there" || l == "here" || l == "," {
            w = &w[..w.len() - 1];
        } else {
            break;
        }
    }
    if w.is_empty() {
        return None;
    }
    let low: Vec<&str> = w.iter().map(|(_, l)| l.as_str()).collect();
    if low.len() == 1 {
        if SOMETHING.contains(&low[0]) {
            let v = ctx.new_var()?;
            return Some(Term::Var(v));
        }
        if PRONOUNS.contains(&low[0]) {
            return (ctx.vars > 0).then_some(Term::Var(0));
        }
        if low[0] == GAP && ctx.gap {
            return Some(Term::Var(QUERY_VAR));
        }
    }
    if low
        .iter()
        .any(|x| COPULA.contains(x) || DO.contains(x) || *x == "not" || *x == "and")
    {
        return None;
    }
    let mut text: Vec<&str> = w.iter().map(|(o, _)| o.as_str()).collect();
    // The article as it reads mid-sentence ("The bear" -> "the bear").
    if ARTICLES.contains(&low[0]) {
        text[0] = low[0];
    }
    let text = text.join(" ");
    let key = entity_key(&text);
    if key.is_empty() {
        return None;
    }
    ctx.names.push((key.clone(), text));
    Some(Term::Ent(key))
}

/// A generic subject: variable 0 with the conditions its words put on it.
fn generic(w: &[(String, String)], ctx: &mut Ctx) -> Option<Subject> {
    if ctx.vars == 0 {
        ctx.new_var();
    }
    let low: Vec<&str> = w.iter().map(|(_, l)| l.as_str()).collect();
    let rel_at = low.iter().position(|x| RELATIVE.contains(x));
    let head_words: Vec<&str> = low[..rel_at.unwrap_or(low.len())]
        .iter()
        .copied()
        .filter(|x| *x != "," && *x != "and")
        .collect();
    let (&head, adjs) = head_words.split_last()?;
    let mut conds = Vec::new();
    for adj in adjs {
        if ARTICLES.contains(adj) || COPULA.contains(adj) {
            return None;
        }
        conds.push(Lit {
            rel: adj.to_string(),
            a: Term::Var(0),
            b: None,
            neg: false,
        });
    }
    if !GENERIC_HEADS.contains(&head) && !SOMETHING.contains(&head) {
        let key = entity_key(head);
        conds.push(Lit {
            rel: format!("isa:{key}"),
            a: Term::Var(0),
            b: None,
            neg: false,
        });
    }
    if let Some(r) = rel_at {
        let rest = &w[r + 1..];
        match predicate(Term::Var(0), rest, ctx)? {
            Statement::Facts(lits) => conds.extend(lits),
            _ => return None,
        }
    }
    if conds.is_empty() {
        return None;
    }
    Some(Subject::Generic(conds))
}

/// The predicate of a clause about `subj`.
fn predicate(subj: Term, w: &[(String, String)], ctx: &mut Ctx) -> Option<Statement> {
    let low: Vec<&str> = w.iter().map(|(_, l)| l.as_str()).collect();
    let first = *low.first()?;
    if COPULA.contains(&first) {
        let neg = low.get(1) == Some(&"not");
        let rest = &w[1 + usize::from(neg)..];
        return complement(subj, rest, neg, ctx);
    }
    if DO.contains(&first) {
        let neg = low.get(1) == Some(&"not");
        let rest = &w[1 + usize::from(neg)..];
        return verb_phrase(subj, rest, neg, ctx);
    }
    verb_phrase(subj, w, false, ctx)
}

/// After a copula: a class, adjectives, or a relation phrase with its object.
fn complement(subj: Term, w: &[(String, String)], neg: bool, ctx: &mut Ctx) -> Option<Statement> {
    let low: Vec<&str> = w.iter().map(|(_, l)| l.as_str()).collect();
    if low.is_empty() {
        return None;
    }
    // A relation phrase: words up to a preposition, then the object.
    // The phrase ends at its "of"/"than" when it has one ("to the left of"), else at
    // its first preposition ("above", "next to").
    let j = low
        .iter()
        .position(|x| matches!(*x, "of" | "than"))
        .or_else(|| low.iter().position(|x| PREPOSITIONS.contains(x)));
    if let Some(j) = j {
        if j + 1 < low.len() {
            let rel_words = relation_words(&low[..=j]);
            let rel = rel_words.join("_");
            let shown: Vec<&str> = low[..=j].to_vec();
            let obj = named(&w[j + 1..], ctx)?;
            if matches!(rel.as_str(), "in" | "at" | "inside") && !neg {
                if let (Term::Ent(who), Term::Ent(value)) = (&subj, &obj) {
                    return Some(Statement::Change {
                        rel: "location".into(),
                        who: who.clone(),
                        value: value.clone(),
                    });
                }
            }
            let rel = if matches!(rel.as_str(), "in" | "at" | "inside") {
                "location".to_string()
            } else {
                rel
            };
            ctx.surface(&rel, shown.join(" "), true);
            return Some(Statement::Facts(vec![Lit {
                rel,
                a: subj,
                b: Some(obj),
                neg,
            }]));
        }
    }
    // A list of classes and adjectives, each possibly negated.
    let mut lits = Vec::new();
    let mut item: Vec<&str> = Vec::new();
    let mut items: Vec<Vec<&str>> = Vec::new();
    for x in &low {
        if *x == "and" || *x == "," || *x == "but" {
            if !item.is_empty() {
                items.push(std::mem::take(&mut item));
            }
        } else {
            item.push(x);
        }
    }
    if !item.is_empty() {
        items.push(item);
    }
    let plural_subject = subj == Term::Var(0);
    for (k, item) in items.iter().enumerate() {
        // "is big and not red": a "not" negates its own item; the copula's "not"
        // negates the first.
        let (n, words) = match item.split_first() {
            Some((&"not", rest)) => (true, rest),
            _ => (k == 0 && neg, item.as_slice()),
        };
        match words {
            [] => return None,
            [article, rest @ ..] if *article == "a" || *article == "an" => {
                if rest.is_empty() {
                    return None;
                }
                let key = entity_key(&rest.join(" "));
                lits.push(Lit {
                    rel: format!("isa:{key}"),
                    a: subj.clone(),
                    b: None,
                    neg: n,
                });
            }
            [one] => {
                let plural_noun = plural_subject
                    && one.ends_with('s')
                    && !["ss", "us", "is", "ous"].iter().any(|e| one.ends_with(e))
                    && singular(one) != *one;
                if plural_noun {
                    lits.push(Lit {
                        rel: format!("isa:{}", entity_key(one)),
                        a: subj.clone(),
                        b: None,
                        neg: n,
                    });
                } else {
                    if ARTICLES.contains(one) || *one == GAP {
                        return None;
                    }
                    lits.push(Lit {
                        rel: one.to_string(),
                        a: subj.clone(),
                        b: None,
                        neg: n,
                    });
                }
            }
            _ => return None,
        }
    }
    Some(Statement::Facts(lits))
}

/// A verb phrase: any verb, with its particle, preposition and object.
fn verb_phrase(subj: Term, w: &[(String, String)], neg: bool, ctx: &mut Ctx) -> Option<Statement> {
    let low: Vec<&str> = w.iter().map(|(_, l)| l.as_str()).collect();
    let (&verb, mut rest) = low.split_first()?;
    if ARTICLES.contains(&verb) || verb == "," {
        return None;
    }
    let lemma = verb_lemma(verb);
    let mut particle = "";
    if rest.len() > 1 && PARTICLES.contains(&rest[0]) {
        particle = rest[0];
        rest = &rest[1..];
    }
    let mut at = low.len() - rest.len();
    // Drop a trailing "there" / "here" ("Mary got the milk there.").
    let mut end = low.len();
    while end > at && matches!(low[end - 1], "there" | "here") {
        end -= 1;
    }
    let rest = &low[at..end];
    let mut prep = "";
    if let Some(first) = rest.first() {
        if PREPOSITIONS.contains(first) && rest.len() > 1 {
            prep = first;
            at += 1;
        }
    }
    if at >= end {
        // An intransitive verb: a property ("The bear sleeps.").
        if !particle.is_empty() || !prep.is_empty() || !is_verb_form(verb) {
            return None;
        }
        ctx.surface(&lemma, lemma.clone(), false);
        return Some(Statement::Facts(vec![Lit {
            rel: lemma,
            a: subj,
            b: None,
            neg,
        }]));
    }
    let obj = named(&w[at..end], ctx)?;
    if !neg {
        if let (Term::Ent(who), Term::Ent(what)) = (&subj, &obj) {
            let motion = MOTION.contains(&lemma.as_str()) || particle == "back";
            if motion && matches!(prep, "to" | "into" | "towards" | "toward" | "onto") {
                return Some(Statement::Change {
                    rel: "location".into(),
                    who: who.clone(),
                    value: what.clone(),
                });
            }
            if prep.is_empty() {
                if TAKE.contains(&(lemma.as_str(), particle)) {
                    return Some(Statement::Take {
                        who: who.clone(),
                        what: what.clone(),
                    });
                }
                if RELEASE.contains(&(lemma.as_str(), particle)) {
                    return Some(Statement::Release {
                        who: who.clone(),
                        what: what.clone(),
                    });
                }
            }
        }
    }
    let mut parts = vec![lemma.as_str()];
    if !particle.is_empty() {
        parts.push(particle);
    }
    if !prep.is_empty() {
        parts.push(prep);
    }
    let rel = parts.join("_");
    ctx.surface(&rel, parts.join(" "), false);
    Some(Statement::Facts(vec![Lit {
        rel,
        a: subj,
        b: Some(obj),
        neg,
    }]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(text: &str) -> Statement {
        parse_statement(text)
            .unwrap_or_else(|| panic!("not read: {text}"))
            .statement
    }
    fn ent(k: &str) -> Term {
        Term::Ent(k.into())
    }
    fn lit(rel: &str, a: Term, b: Option<Term>, neg: bool) -> Lit {
        Lit {
            rel: rel.into(),
            a,
            b,
            neg,
        }
    }
    const X: Term = Term::Var(0);

    #[test]
    fn any_verb_is_a_relation_normalized_by_its_lemma() {
        for s in [
            "The bear chases the lion.",
            "The bear chased the lion.",
            "Bears chase the lion.",
        ] {
            match st(s) {
                Statement::Facts(l) => assert_eq!(l[0].rel, "chase", "{s}"),
                Statement::Rule { head, .. } => assert_eq!(head[0].rel, "chase", "{s}"),
                other => panic!("{s}: {other:?}"),
            }
        }
        assert_eq!(
            st("The bald eagle does not visit the lion."),
            Statement::Facts(vec![lit(
                "visit",
                ent("bald eagle"),
                Some(ent("lion")),
                true
            )])
        );
        assert_eq!(
            st("Warfarin interacts with aspirin."),
            Statement::Facts(vec![lit(
                "interact_with",
                ent("warfarin"),
                Some(ent("aspirin")),
                false
            )])
        );
    }

    #[test]
    fn copula_relations_properties_and_classes() {
        assert_eq!(
            st("Emily is afraid of wolves."),
            Statement::Facts(vec![lit(
                "afraid_of",
                ent("emily"),
                Some(ent("wolf")),
                false
            )])
        );
        assert_eq!(
            st("The triangle is to the left of the pink rectangle."),
            Statement::Facts(vec![lit(
                "left_of",
                ent("triangle"),
                Some(ent("pink rectangle")),
                false
            )])
        );
        assert_eq!(
            st("The kitchen is north of the hallway."),
            Statement::Facts(vec![lit(
                "north_of",
                ent("kitchen"),
                Some(ent("hallway")),
                false
            )])
        );
        assert_eq!(
            st("Max is a yumpus."),
            Statement::Facts(vec![lit("isa:yumpus", ent("max"), None, false)])
        );
        assert_eq!(
            st("The rabbit is not green."),
            Statement::Facts(vec![lit("green", ent("rabbit"), None, true)])
        );
        assert_eq!(
            st("Bob is big and not red."),
            Statement::Facts(vec![
                lit("big", ent("bob"), None, false),
                lit("red", ent("bob"), None, true)
            ])
        );
    }

    #[test]
    fn generic_statements_are_rules() {
        let r = |body: Vec<Lit>, head: Vec<Lit>| Statement::Rule { body, head };
        assert_eq!(
            st("Young things are big."),
            r(
                vec![lit("young", X, None, false)],
                vec![lit("big", X, None, false)]
            )
        );
        assert_eq!(
            st("Sheep are afraid of wolves."),
            r(
                vec![lit("isa:sheep", X, None, false)],
                vec![lit("afraid_of", X, Some(ent("wolf")), false)]
            )
        );
        let jomp = st("Jompuses are yumpuses.");
        let Statement::Rule { body, head } = jomp else {
            panic!()
        };
        assert!(
            body[0].rel.starts_with("isa:jompus") && head[0].rel.starts_with("isa:yump"),
            "{body:?} {head:?}"
        );
        assert_eq!(
            st("Each yumpus is a dumpus."),
            r(
                vec![lit("isa:yumpus", X, None, false)],
                vec![lit("isa:dumpus", X, None, false)]
            )
        );
        assert_eq!(
            st("Every wumpus is an impus."),
            r(
                vec![lit("isa:wumpus", X, None, false)],
                vec![lit("isa:impus", X, None, false)]
            )
        );
        let Statement::Rule { head, .. } = st("Tumpuses are not sour.") else {
            panic!()
        };
        assert_eq!(head, vec![lit("sour", X, None, true)]);
        assert_eq!(
            st("All red things that are round are heavy."),
            r(
                vec![lit("red", X, None, false), lit("round", X, None, false)],
                vec![lit("heavy", X, None, false)]
            )
        );
        assert_eq!(
            st("All cold, rough people are nice."),
            r(
                vec![lit("cold", X, None, false), lit("rough", X, None, false)],
                vec![lit("nice", X, None, false)]
            )
        );
        assert_eq!(
            st("Kind animals are furry."),
            r(
                vec![
                    lit("kind", X, None, false),
                    lit("isa:animal", X, None, false)
                ],
                vec![lit("furry", X, None, false)]
            )
        );
    }

    #[test]
    fn conditionals_with_variables_conjunction_and_negation() {
        let r = |body: Vec<Lit>, head: Vec<Lit>| Statement::Rule { body, head };
        assert_eq!(
            st("If something is cold and kind then it is blue."),
            r(
                vec![lit("cold", X, None, false), lit("kind", X, None, false)],
                vec![lit("blue", X, None, false)]
            )
        );
        assert_eq!(
            st("If someone chases the bear and they see the rabbit then the bear does not visit the rabbit."),
            r(
                vec![lit("chase", X, Some(ent("bear")), false), lit("see", X, Some(ent("rabbit")), false)],
                vec![lit("visit", ent("bear"), Some(ent("rabbit")), true)]
            )
        );
        assert_eq!(
            st("If the rabbit chases the tiger then the tiger is rough."),
            r(
                vec![lit("chase", ent("rabbit"), Some(ent("tiger")), false)],
                vec![lit("rough", ent("tiger"), None, false)]
            )
        );
        assert_eq!(
            st("If something is young and it does not see the rabbit then it sees the bear."),
            r(
                vec![
                    lit("young", X, None, false),
                    lit("see", X, Some(ent("rabbit")), true)
                ],
                vec![lit("see", X, Some(ent("bear")), false)]
            )
        );
        assert_eq!(
            st("If someone is big and not red then they are kind."),
            r(
                vec![lit("big", X, None, false), lit("red", X, None, true)],
                vec![lit("kind", X, None, false)]
            )
        );
        assert_eq!(
            st("If Bob is big and Bob is red then Bob is kind."),
            r(
                vec![
                    lit("big", ent("bob"), None, false),
                    lit("red", ent("bob"), None, false)
                ],
                vec![lit("kind", ent("bob"), None, false)]
            )
        );
    }

    #[test]
    fn events_possession_and_properties() {
        let ch = |who: &str, value: &str| Statement::Change {
            rel: "location".into(),
            who: who.into(),
            value: value.into(),
        };
        assert_eq!(st("Mary moved to the bathroom."), ch("mary", "bathroom"));
        assert_eq!(
            st("Daniel journeyed to the office."),
            ch("daniel", "office")
        );
        assert_eq!(st("John went back to the hallway."), ch("john", "hallway"));
        assert_eq!(
            st("Sandra travelled to the garden."),
            ch("sandra", "garden")
        );
        assert_eq!(st("Fred is in the kitchen."), ch("fred", "kitchen"));
        let take = |what: &str| Statement::Take {
            who: "john".into(),
            what: what.into(),
        };
        assert_eq!(st("John picked up the football."), take("football"));
        assert_eq!(st("John got the milk there."), take("milk"));
        assert_eq!(st("John grabbed the apple."), take("apple"));
        assert_eq!(st("John took the football."), take("football"));
        let rel = |what: &str| Statement::Release {
            who: "john".into(),
            what: what.into(),
        };
        assert_eq!(st("John dropped the football."), rel("football"));
        assert_eq!(st("John put down the football."), rel("football"));
        assert_eq!(st("John discarded the milk."), rel("milk"));
        assert_eq!(st("John left the football."), rel("football"));
        assert_eq!(
            st("North of is the opposite of south of."),
            Statement::Property {
                rel: "north_of".into(),
                prop: RelProp::Inverse("south_of".into())
            }
        );
        assert_eq!(
            st("Ancestor of is transitive."),
            Statement::Property {
                rel: "ancestor_of".into(),
                prop: RelProp::Transitive
            }
        );
        assert_eq!(third_person("carry"), "carries");
        assert_eq!(third_person("chase"), "chases");
        assert_eq!(third_person("watch"), "watches");
    }
}

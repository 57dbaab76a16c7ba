//! Definitions read from the dependency parse ([`crate::nlp`]): "X is a/an/the N ...".
//!
//! The hand-written wordings of [`super::extract`] cut a noun phrase at the first
//! preposition or relative word, so "A filler is the tobacco used to form the core of a
//! cigar." gave is_a "tobacco used", and they leave unread what they cannot split safely
//! ("a slight or partial paralysis", "a university in Ithaca, New York"). The parse
//! says which word is the head noun of the complement, whatever follows it:
//!
//! - is_a: the subject to the complement's head noun with its compound nouns
//!   ("government building"); a light noun ("a kind/type/sort/form/variety/piece of X",
//!   "any of several Xs") passes to its "of" object; "the act of X-ing" stays is_a "act"
//!   (on WordNet glosses the act, not the -ing word, is what the hypernym names).
//! - has_property: adjectives on the head ("slight", "partial"), lower confidence.
//! - located_in: "a N in Y" where Y is a proper name, with its apposition ("Ithaca, New
//!   York").
//!
//! It reads only plain copular definitions: the root is "be" with a nominal subject
//! (not a pronoun) and a common-noun complement, with an article on the complement or
//! the subject written "A/An X" ("The capital of France is Paris" and "The cause of
//! flooding is heavy rain" are not definitions of their subject), nothing negated, no
//! modal, no condition, balanced brackets.

use super::extract::Extracted;
use crate::graph::AssocType;
use crate::learn::normalize::entity_key;
use crate::nlp::{Doc, Nlp, Token};

/// Complement heads that name no class themselves: the class is their "of" object.
const LIGHT: &[&str] = &[
    "kind", "type", "sort", "form", "variety", "piece", "example", "instance", "subtype", "any",
    "species", "breed", "one", "either",
];
/// Light nouns after which a plural is grammar ("any of several rodents", "one of the
/// tail feathers").
const QUANTIFIERS: &[&str] = &["any", "one", "either"];
/// Complement heads that name a class and also pass to their "of" object: "the act of
/// entering" is an act and an entering; "a group of viruses" is a group and a virus.
const SEMI_LIGHT: &[&str] = &[
    "act",
    "action",
    "activity",
    "mode",
    "style",
    "method",
    "manner",
    "way",
    "group",
    "family",
    "genus",
    "class",
    "practice",
    "process",
    "art",
    "branch",
    "science",
    "study",
    "technique",
];
/// Words that make a statement other than a plain assertion.
const NOT_PLAIN: &[&str] = &[
    "if", "unless", "when", "whenever", "because", "although", "though", "whether", "not", "never",
    "no", "n't", "maybe", "perhaps",
];

/// The associations of a plain copular definition, or `None` when the sentence is not
/// one (or the model data is not set up).
pub fn definition(sentence: &str) -> Option<Vec<Extracted>> {
    let nlp = Nlp::shared().ok()?;
    read(&nlp.analyze(sentence)).map(|(found, _)| found)
}

/// The is_a edge of a definition whose head noun is followed by a participle ("the
/// tobacco used to form ...", "a government building housing ..."): where a reading
/// that cuts at prepositions runs on past the name. `None` otherwise.
pub fn head_before_participle(sentence: &str) -> Option<Extracted> {
    let nlp = Nlp::shared().ok()?;
    let doc = nlp.analyze(sentence);
    let (found, attr) = read(&doc)?;
    let next = doc.tokens.get(attr + 1)?;
    // The tag must be backed by the lexicon: on an invented name ("an amber vuraelt")
    // the tagger's VBN is a guess, and the reading it would cut is right.
    let participle = matches!(next.tag, "VBN" | "VBG") && nlp.is_verb_form(&next.text);
    participle.then(|| found.into_iter().next()).flatten()
}

fn children<'a>(doc: &'a Doc, head: usize, dep: &'a str) -> impl Iterator<Item = usize> + 'a {
    doc.tokens
        .iter()
        .enumerate()
        .filter(move |(i, t)| t.head == head && *i != head && t.dep == dep)
        .map(|(i, _)| i)
}

fn child(doc: &Doc, head: usize, dep: &str) -> Option<usize> {
    children(doc, head, dep).next()
}

/// The words `from..=to` as written.
fn text(tokens: &[Token], from: usize, to: usize) -> String {
    let mut s = String::new();
    for (k, t) in tokens[from..=to].iter().enumerate() {
        s.push_str(&t.text);
        if t.space && from + k < to {
            s.push(' ');
        }
    }
    s
}

/// The head with the compound nouns right before it ("government building"), and
/// participles that name a kind of it ("baked goods", "swimming stroke").
fn compound_name(doc: &Doc, head: usize) -> String {
    text(&doc.tokens, name_start(doc, head), head)
}

/// Where [`compound_name`] starts.
fn name_start(doc: &Doc, head: usize) -> usize {
    let mut from = head;
    loop {
        // "long-horned", "free-reed": a hyphenated word is one modifier.
        from = hyphenated(&doc.tokens, from).0;
        let named =
            from > 0 && doc.tokens[from - 1].head >= from && doc.tokens[from - 1].dep == "compound";
        if !named {
            return from;
        }
        from -= 1;
    }
}

/// "a transparent optical device": besides the head's name ("device"), the kind the
/// adjective next to it names ("optical device"), which is how English writes a
/// classifying adjective (nearest the noun), or a participle ("baked goods"). `None`
/// when there is no such modifier, or it is one of a coordination ("a slight or partial
/// paralysis": descriptions).
fn kind_name(doc: &Doc, head: usize) -> Option<String> {
    let toks = &doc.tokens;
    let start = name_start(doc, head);
    let adj = start.checked_sub(1)?;
    let t = &toks[adj];
    let plain = t.dep == "amod" && t.head == head && matches!(t.tag, "JJ" | "VBN" | "VBG");
    if !plain
        || children(doc, adj, "conj").next().is_some()
        || children(doc, adj, "cc").next().is_some()
    {
        return None;
    }
    let (from, _) = hyphenated(toks, adj);
    Some(text(toks, from, head))
}

/// The subject's name: its noun chunk without a leading determiner.
fn subject_name(doc: &Doc, subj: usize) -> Option<String> {
    let Some(chunk) = doc.chunks.iter().find(|c| c.head == subj) else {
        // An -ing word has no noun chunk: its compounds and itself.
        return Some(compound_name(doc, subj));
    };
    let mut from = chunk.start;
    while from < chunk.head && doc.tokens[from].tag == "DT" {
        from += 1;
    }
    Some(text(&doc.tokens, from, chunk.head))
}

fn nominal(t: &Token) -> bool {
    matches!(t.pos.as_str(), "NOUN" | "PROPN")
}

/// Dependencies that open a clause or phrase of its own: a word below one of them is not
/// in the main clause ("trespass that is *not* transient" still defines trespass).
const EMBEDDED: &[&str] = &[
    "relcl", "acl", "pcomp", "pobj", "prep", "ccomp", "xcomp", "appos", "dobj", "agent",
];

/// Whether token `i` belongs to the main clause (or an adverbial clause on it, as "If
/// ..., X is Y" does): nothing embedded on its way up to the root.
fn in_main_clause(doc: &Doc, i: usize) -> bool {
    let mut at = i;
    for _ in 0..doc.tokens.len() {
        let t = &doc.tokens[at];
        if t.head == at {
            return true;
        }
        if EMBEDDED.contains(&t.dep.as_str()) {
            return false;
        }
        at = t.head;
    }
    true
}

/// A subject the definition can be about: a noun, or an -ing word used as one ("A
/// razing is ...": the article says it is a noun whatever the tagger thought).
fn subject_word(doc: &Doc, subj: usize) -> bool {
    let t = &doc.tokens[subj];
    nominal(t) || (t.tag == "VBG" && children(doc, subj, "det").next().is_some())
}

/// The class a head names, with its compound nouns; plural heads are generic.
fn class(doc: &Doc, head: usize) -> (String, bool) {
    (compound_name(doc, head), doc.tokens[head].tag == "NNS")
}

/// What "the act of X", "a group of Xs", "a method of X" also say the thing is: the
/// object of "of" (a noun, or -ing words: "the act of making or transporting").
fn of_objects(doc: &Doc, head: usize) -> Vec<(String, bool)> {
    let toks = &doc.tokens;
    let Some(of) = children(doc, head, "prep").find(|&p| toks[p].norm == "of") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(o) = child(doc, of, "pobj").filter(|&o| nominal(&toks[o])) {
        out.push(class(doc, o));
        for c in children(doc, o, "conj").filter(|&c| nominal(&toks[c])) {
            out.push(class(doc, c));
        }
    } else if let Some(g) = child(doc, of, "pcomp").filter(|&g| toks[g].tag == "VBG") {
        out.push((toks[g].text.clone(), false));
        for c in children(doc, g, "conj").filter(|&c| toks[c].tag == "VBG") {
            out.push((toks[c].text.clone(), false));
        }
    }
    out
}

/// The edges and the index of the is_a target's head.
fn read(doc: &Doc) -> Option<(Vec<Extracted>, usize)> {
    let toks = &doc.tokens;
    if toks.iter().any(|t| t.text == "?") {
        return None;
    }
    let blocked = toks.iter().enumerate().any(|(i, t)| {
        (NOT_PLAIN.contains(&t.norm.as_str()) || t.tag == "MD") && in_main_clause(doc, i)
    });
    if blocked {
        return None;
    }
    let root = toks.iter().position(|t| t.dep == "ROOT")?;
    if toks.iter().filter(|t| t.dep == "ROOT").count() != 1 {
        return None;
    }
    if toks[root].lemma != "be" {
        return gerund_definition(doc, root).map(|found| (found, root));
    }
    let subj = child(doc, root, "nsubj").filter(|&s| s < root)?;
    let mut attr = complement(doc, root)?;
    let opened = toks.iter().filter(|t| t.text == "(").count();
    if !subject_word(doc, subj) || opened != toks.iter().filter(|t| t.text == ")").count() {
        return None;
    }
    let article =
        children(doc, attr, "det").any(|d| matches!(toks[d].norm.as_str(), "a" | "an" | "the"));
    let indefinite_subject =
        children(doc, subj, "det").any(|d| matches!(toks[d].norm.as_str(), "a" | "an"));
    // "The cause of flooding is heavy rain." says what the cause is, not what a kind of
    // thing rain is: without an article on the complement, the subject must be written
    // "A/An X" or bare ("Cowpens is battle in the American Revolution.", as glossaries
    // write).
    // A coordinated subject ("Dogs, cats and mice are mammals") is left to a later reading.
    if children(doc, subj, "conj").next().is_some() {
        return None;
    }
    // A bare subject needs a modified complement: "Paris is north of Lyon" places Paris.
    let bare_subject = children(doc, subj, "det").next().is_none()
        && children(doc, subj, "poss").next().is_none()
        && (child(doc, attr, "amod").is_some() || child(doc, attr, "compound").is_some());
    if !article && !indefinite_subject && !bare_subject && toks[attr].norm != "any" {
        return None;
    }
    let source = subject_name(doc, subj)?;
    // A bare plural is a class named in the plural by grammar ("... is exercises for
    // women", "any of several small rodents"), not a plural-only name ("a kind of baked
    // goods", "a pair of shears" keep theirs).
    let mut generic = !article;
    // Light nouns pass to their "of" object.
    for _ in 0..3 {
        if !LIGHT.contains(&toks[attr].lemma.as_str()) {
            break;
        }
        generic = QUANTIFIERS.contains(&toks[attr].norm.as_str());
        let of = children(doc, attr, "prep").find(|&p| toks[p].norm == "of")?;
        match child(doc, of, "pobj") {
            Some(o) if nominal(&toks[o]) => attr = o,
            _ => return None,
        }
    }
    // "a lively dance originating in France": the small model sometimes reads the
    // participle as the head noun and the real head as its compound ("building", a
    // noun too, stays).
    if attr > 0
        && toks[attr].norm.ends_with("ing")
        && toks[attr - 1].dep == "compound"
        && toks[attr - 1].head == attr
        && Nlp::shared()
            .is_ok_and(|n| n.is_verb_form(&toks[attr].text) && !n.is_noun_form(&toks[attr].text))
    {
        attr -= 1;
    }
    if toks[attr].pos != "NOUN" {
        return None;
    }
    let (target, plural) = class(doc, attr);
    if entity_key(&target) == entity_key(&source) {
        return None;
    }
    let mut out = vec![edge(&source, &target, AssocType::IsA, 0.85).generic(generic && plural)];
    // "a government building": a kind of building too.
    if target.contains(' ') {
        let head = text(toks, hyphenated(toks, attr).0, attr);
        out.push(edge(&source, &head, AssocType::IsA, 0.8).generic(generic && plural));
        let mut general = edge(&target, &head, AssocType::IsA, 0.8).generic(generic && plural);
        general.source_generic = generic && plural;
        out.push(general);
    }
    if let Some(kind) = kind_name(doc, attr) {
        out.push(edge(&source, &kind, AssocType::IsA, 0.8).generic(generic && plural));
        let mut general = edge(&kind, &target, AssocType::IsA, 0.8).generic(generic && plural);
        general.source_generic = generic && plural;
        out.push(general);
    }
    // "a cunning or deceitful action or device": each noun of the coordination, a
    // little less sure (an "or" offers alternatives).
    for c in children(doc, attr, "conj").filter(|&c| toks[c].pos == "NOUN") {
        let (name, generic) = class(doc, c);
        out.push(edge(&source, &name, AssocType::IsA, 0.7).generic(generic));
    }
    // "the act of entering", "a group of viruses": the thing is both.
    if SEMI_LIGHT.contains(&toks[attr].lemma.as_str()) {
        for (name, generic) in of_objects(doc, attr) {
            out.push(edge(&source, &name, AssocType::IsA, 0.75).generic(generic));
        }
    }
    out.retain(|e| entity_key(&e.target) != entity_key(&source));
    // Adjectives on the head describe the thing: properties.
    let mut adjectives = Vec::new();
    let named_from = name_start(doc, attr);
    for adj in children(doc, attr, "amod").filter(|&a| toks[a].tag == "JJ" && a < named_from) {
        adjectives.push(adj);
        adjectives.extend(children(doc, adj, "conj").filter(|&c| toks[c].tag == "JJ"));
    }
    for adj in adjectives {
        let (from, to) = hyphenated(toks, adj);
        let property = text(toks, from, to).to_lowercase();
        if !out.iter().any(|e| e.target == property) {
            out.push(edge(&source, &property, AssocType::HasProperty, 0.7));
        }
    }
    // "a university in Ithaca, New York": the place, if it is a proper name.
    for prep in children(doc, attr, "prep").filter(|&p| toks[p].norm == "in") {
        if let Some(place) = child(doc, prep, "pobj").filter(|&o| toks[o].pos == "PROPN") {
            let (from, to) = subtree(doc, place);
            let all_names = toks[from..=to]
                .iter()
                .all(|t| t.pos == "PROPN" || t.text == ",");
            if all_names && toks[from].pos == "PROPN" && toks[to].pos == "PROPN" {
                out.push(edge(
                    &source,
                    &text(toks, from, to),
                    AssocType::LocatedIn,
                    0.8,
                ));
            }
        }
    }
    // "Hailamimars are ...": a bare plural subject is a class named in the plural by
    // grammar, as the wordings read it.
    let generic_subject = matches!(toks[subj].tag, "NNS" | "NNPS")
        && children(doc, subj, "det").next().is_none()
        && children(doc, subj, "poss").next().is_none();
    for e in out.iter_mut().filter(|e| e.source == source) {
        e.source_generic = generic_subject;
    }
    Some((out, attr))
}

/// "A shopping is searching for or buying goods.": an activity (a subject written "A/An
/// <word>ing") defined by what doing it is. Only for such subjects: elsewhere "A man is
/// running." says what someone is doing, not what a kind of thing is.
fn gerund_definition(doc: &Doc, root: usize) -> Option<Vec<Extracted>> {
    let toks = &doc.tokens;
    if toks[root].tag != "VBG" || !children(doc, root, "aux").any(|a| toks[a].lemma == "be") {
        return None;
    }
    let subj = child(doc, root, "nsubj").filter(|&s| s < root)?;
    let indefinite_subject =
        children(doc, subj, "det").any(|d| matches!(toks[d].norm.as_str(), "a" | "an"));
    if !indefinite_subject || !toks[subj].norm.ends_with("ing") || !subject_word(doc, subj) {
        return None;
    }
    let source = subject_name(doc, subj)?;
    let mut out = vec![edge(&source, &toks[root].text, AssocType::IsA, 0.75)];
    for c in children(doc, root, "conj").filter(|&c| toks[c].tag == "VBG") {
        out.push(edge(&source, &toks[c].text, AssocType::IsA, 0.7));
    }
    out.retain(|e| entity_key(&e.target) != entity_key(&source));
    (!out.is_empty()).then_some(out)
}

/// The word around token `i` that hyphens join ("anti-inflammatory" is three tokens).
fn hyphenated(toks: &[Token], i: usize) -> (usize, usize) {
    let (mut from, mut to) = (i, i);
    let hyphen = |t: &Token| t.text == "-";
    while from > 0 && !toks[from - 1].space && (hyphen(&toks[from - 1]) || hyphen(&toks[from])) {
        from -= 1;
    }
    while to + 1 < toks.len() && !toks[to].space && (hyphen(&toks[to + 1]) || hyphen(&toks[to])) {
        to += 1;
    }
    (from, to)
}

/// The complement of the copula: its `attr`, else (the small model sometimes reads the
/// complement as a second subject, or as the subject of a following clause: "a
/// government building housing ...") the first noun chunk after the verb whose head
/// hangs from the verb without a preposition on the way.
/// Words inside brackets ("(physics)", "(trade name Antabuse)") are asides, never the
/// complement.
fn complement(doc: &Doc, root: usize) -> Option<usize> {
    let toks = &doc.tokens;
    let mut depth = 0usize;
    let aside: Vec<bool> = toks
        .iter()
        .map(|t| match t.text.as_str() {
            "(" | "[" => {
                depth += 1;
                true
            }
            ")" | "]" => {
                depth = depth.saturating_sub(1);
                true
            }
            _ => depth > 0,
        })
        .collect();
    if let Some(a) = children(doc, root, "attr").find(|&a| !aside[a]) {
        return Some(a);
    }
    doc.chunks
        .iter()
        .filter(|c| c.start > root && !aside[c.head])
        .map(|c| c.head)
        .find(|&h| {
            let mut at = h;
            for _ in 0..toks.len() {
                if at == root {
                    return true;
                }
                if matches!(toks[at].dep.as_str(), "prep" | "pobj" | "agent" | "dative")
                    || toks[at].head == at
                {
                    return false;
                }
                at = toks[at].head;
            }
            false
        })
}

/// The first and last token below `head` (itself included).
fn subtree(doc: &Doc, head: usize) -> (usize, usize) {
    let (mut from, mut to) = (head, head);
    for i in 0..doc.tokens.len() {
        let mut h = i;
        for _ in 0..doc.tokens.len() {
            if h == head {
                from = from.min(i);
                to = to.max(i);
                break;
            }
            if doc.tokens[h].head == h {
                break;
            }
            h = doc.tokens[h].head;
        }
    }
    (from, to)
}

impl Extracted {
    /// The same edge, its target a bare plural class ("viruses") when `generic`.
    fn generic(mut self, generic: bool) -> Self {
        self.target_generic = generic;
        self
    }
}

fn edge(source: &str, target: &str, kind: AssocType, confidence: f32) -> Extracted {
    Extracted {
        source: source.to_string(),
        target: target.to_string(),
        kind,
        confidence,
        negated: false,
        source_generic: false,
        target_generic: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(s: &str) -> Vec<(String, AssocType, String)> {
        definition(s)
            .unwrap_or_default()
            .into_iter()
            .map(|e| (e.source, e.kind, e.target))
            .collect()
    }

    fn has(s: &str, source: &str, kind: AssocType, target: &str) {
        let got = read(s);
        assert!(
            got.iter()
                .any(|(a, k, b)| a == source && *k == kind && b == target),
            "{s}: {got:?}"
        );
    }

    #[test]
    fn the_head_noun_not_what_follows_it() {
        has(
            "A filler is the tobacco used to form the core of a cigar.",
            "filler",
            AssocType::IsA,
            "tobacco",
        );
        has(
            "A chancellery is a government building housing the office of a chancellor.",
            "chancellery",
            AssocType::IsA,
            "government building",
        );
        has(
            "The femur is the longest bone in the human body.",
            "femur",
            AssocType::IsA,
            "bone",
        );
    }

    #[test]
    fn adjectives_become_properties() {
        let s = "A paresis is a slight or partial paralysis.";
        has(s, "paresis", AssocType::IsA, "paralysis");
        has(s, "paresis", AssocType::HasProperty, "slight");
        has(s, "paresis", AssocType::HasProperty, "partial");
    }

    #[test]
    fn places_after_in() {
        let s = "Cornell University is a university in Ithaca, New York.";
        has(s, "Cornell University", AssocType::IsA, "university");
        has(
            s,
            "Cornell University",
            AssocType::LocatedIn,
            "Ithaca, New York",
        );
    }

    #[test]
    fn light_nouns_pass_to_their_object() {
        has(
            "A lorry is a type of motor vehicle.",
            "lorry",
            AssocType::IsA,
            "motor vehicle",
        );
        has(
            "Aspirin is a kind of drug used to reduce pain.",
            "Aspirin",
            AssocType::IsA,
            "drug",
        );
        has(
            "An entree is the act of entering.",
            "entree",
            AssocType::IsA,
            "act",
        );
        has(
            "A lemming is any of several small rodents of northern regions.",
            "lemming",
            AssocType::IsA,
            "rodents",
        );
    }

    /// Dictionary, encyclopedia, regulation and clinical sentences written for this test.
    #[test]
    fn real_definitions() {
        use AssocType::{HasProperty as P, IsA, LocatedIn as L};
        type Edge = (&'static str, AssocType, &'static str);
        let cases: &[(&str, &[Edge])] = &[
            (
                "Metformin is an oral medication used to treat type 2 diabetes.",
                &[
                    ("Metformin", IsA, "medication"),
                    ("Metformin", P, "oral"),
                    // The adjective next to the noun may name a kind of it.
                    ("Metformin", IsA, "oral medication"),
                    ("oral medication", IsA, "medication"),
                ],
            ),
            (
                "A controller is the natural or legal person which determines the purposes and means of the processing of personal data.",
                &[("controller", IsA, "person"), ("controller", P, "natural"), ("controller", P, "legal")],
            ),
            (
                "Hypertension is a chronic condition in which the blood pressure in the arteries is persistently elevated.",
                &[
                    ("Hypertension", IsA, "condition"),
                    ("Hypertension", P, "chronic"),
                    ("Hypertension", IsA, "chronic condition"),
                    ("chronic condition", IsA, "condition"),
                ],
            ),
            ("The Danube is a river in Central Europe.", &[("Danube", IsA, "river"), ("Danube", L, "Central Europe")]),
            ("An abbey is a monastery ruled by an abbot.", &[("abbey", IsA, "monastery")]),
            ("Mount Everest is the highest mountain in Asia.", &[("Mount Everest", IsA, "mountain"), ("Mount Everest", L, "Asia")]),
            (
                "A lorry is a large motor vehicle for transporting goods.",
                &[
                    ("lorry", IsA, "motor vehicle"),
                    ("lorry", P, "large"),
                    ("lorry", IsA, "large motor vehicle"),
                    ("large motor vehicle", IsA, "motor vehicle"),
                    ("lorry", IsA, "vehicle"),
                    ("motor vehicle", IsA, "vehicle"),
                ],
            ),
            ("Insulin is a hormone produced by the pancreas.", &[("Insulin", IsA, "hormone")]),
            (
                "Aspirin is a type of nonsteroidal anti-inflammatory drug.",
                &[
                    ("Aspirin", IsA, "drug"),
                    ("Aspirin", P, "nonsteroidal"),
                    ("Aspirin", P, "anti-inflammatory"),
                    ("Aspirin", IsA, "anti-inflammatory drug"),
                    ("anti-inflammatory drug", IsA, "drug"),
                ],
            ),
            ("A data processor is a person who processes personal data on behalf of the controller.", &[("data processor", IsA, "person")]),
            ("An anticoagulant is a substance that prevents the clotting of blood.", &[("anticoagulant", IsA, "substance")]),
        ];
        for (sentence, want) in cases {
            let mut got = read(sentence);
            let mut want: Vec<(String, AssocType, String)> = want
                .iter()
                .map(|(a, k, b)| (a.to_string(), *k, b.to_string()))
                .collect();
            got.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
            want.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
            assert_eq!(got, want, "{sentence}");
        }
    }

    #[test]
    fn not_a_plain_definition_reads_nothing() {
        for s in [
            "A whale is not a fish.",
            "If a dog is hungry, it is a danger.",
            "Is a cat a mammal?",
            "It is a dog.",
            "The dog chased the cat.",
            "A bat might be a bird.",
            "The capital of France is Paris.",
            "The cause of flooding is heavy rain.",
            "Paris is a city (in France.",
            "A dog is a dog.",
        ] {
            assert!(read(s).is_empty(), "{s}: {:?}", read(s));
        }
    }
}

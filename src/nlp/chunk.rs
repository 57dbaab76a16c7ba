//! Base noun phrases ("a slight or partial paralysis", "the government building") and
//! their head nouns.
//!
//! [`noun_chunks`] is spaCy's English `noun_chunks` on the parse: a noun, proper noun or
//! pronoun in a nominal role (subject, object, attribute, apposition, root ...), or
//! coordinated to one, from the leftmost word below it to itself.
//!
//! [`chunks`] reads phrases from the tags alone, for callers that skip the parse. A chunk is: optional determiner or possessive, then modifiers
//! (adjectives, numbers, participles, adverbs before an adjective, "X or Y" between
//! adjectives, hyphens), then nouns; a possessive "'s" starts the modifiers again ("the
//! cat's toy"). The head is the last noun. A personal or wh- pronoun is a chunk alone.
//! The golden test reports how often these heads equal the parse's.

use super::Token;

/// A base noun phrase: tokens `start..end`, its head noun at `head`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    pub start: usize,
    pub end: usize,
    pub head: usize,
}

fn is_noun(tag: &str) -> bool {
    matches!(tag, "NN" | "NNS" | "NNP" | "NNPS")
}

fn is_adj(tag: &str) -> bool {
    matches!(tag, "JJ" | "JJR" | "JJS")
}

/// May stand before the head noun.
fn is_modifier(tag: &str) -> bool {
    is_adj(tag) || matches!(tag, "CD" | "VBN" | "VBG" | "HYPH" | "AFX")
}

fn is_determiner(tag: &str) -> bool {
    matches!(tag, "DT" | "PDT" | "PRP$" | "WP$")
}

/// Dependency labels that make a noun a chunk.
const NP_DEPS: &[&str] = &[
    "oprd",
    "nsubj",
    "dobj",
    "nsubjpass",
    "pcomp",
    "pobj",
    "dative",
    "appos",
    "attr",
    "ROOT",
];

/// spaCy's `noun_chunks` (spacy/lang/en/syntax_iterators.py) on a parsed sentence.
pub fn noun_chunks(tokens: &[Token]) -> Vec<Chunk> {
    let n = tokens.len();
    // Leftmost descendant of each token (itself included).
    let mut left_edge: Vec<usize> = (0..n).collect();
    for i in 0..n {
        let mut h = i;
        let mut steps = 0;
        while tokens[h].head != h && steps < n {
            h = tokens[h].head;
            left_edge[h] = left_edge[h].min(i);
            steps += 1;
        }
    }
    let mut out = Vec::new();
    let mut prev_end: Option<usize> = None;
    for (i, word) in tokens.iter().enumerate() {
        if !matches!(word.pos.as_str(), "NOUN" | "PROPN" | "PRON") {
            continue;
        }
        if prev_end.is_some_and(|p| left_edge[i] <= p) {
            continue;
        }
        let is_np = if NP_DEPS.contains(&word.dep.as_str()) {
            true
        } else if word.dep == "conj" {
            let mut head = word.head;
            let mut steps = 0;
            while tokens[head].dep == "conj" && tokens[head].head < head && steps < n {
                head = tokens[head].head;
                steps += 1;
            }
            NP_DEPS.contains(&tokens[head].dep.as_str())
        } else {
            false
        };
        if is_np {
            prev_end = Some(i);
            out.push(Chunk {
                start: left_edge[i],
                end: i + 1,
                head: i,
            });
        }
    }
    out
}

/// Phrases read from the tags alone, left to right.
pub fn chunks(tokens: &[Token]) -> Vec<Chunk> {
    let tag = |i: usize| tokens.get(i).map_or("", |t| t.tag);
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if matches!(tag(i), "PRP" | "WP") {
            out.push(Chunk {
                start: i,
                end: i + 1,
                head: i,
            });
            i += 1;
            continue;
        }
        let start = i;
        let mut j = i;
        // Determiners: "all the", "a", "his".
        while j < tokens.len() && is_determiner(tag(j)) && j - start < 2 {
            j += 1;
        }
        let mut last_noun = None;
        loop {
            // Modifiers before the nouns.
            while j < tokens.len() {
                let t = tag(j);
                let next = tag(j + 1);
                let ok = is_modifier(t)
                    || (matches!(t, "RB" | "RBS" | "RBR") && is_adj(next))
                    || (t == "CC"
                        && j > start
                        && is_adj(tag(j - 1))
                        && (is_adj(next) || next == "VBN"));
                if !ok {
                    break;
                }
                j += 1;
            }
            // The nouns.
            let mut any = false;
            while j < tokens.len()
                && (is_noun(tag(j)) || (tag(j) == "HYPH" && is_noun(tag(j + 1)) && any))
            {
                if is_noun(tag(j)) {
                    last_noun = Some(j);
                }
                any = true;
                j += 1;
            }
            // A possessive continues the phrase: "the cat's toy".
            if any && tag(j) == "POS" {
                j += 1;
                continue;
            }
            break;
        }
        match last_noun {
            Some(head) => {
                out.push(Chunk {
                    start,
                    end: head + 1,
                    head,
                });
                i = head + 1;
            }
            None => i = start + 1,
        }
    }
    out
}

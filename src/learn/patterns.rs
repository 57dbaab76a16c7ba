//! Association extraction: reads typed associations out of one plain-English statement
//! with an ordered table of keyword patterns.
//!
//! Precision over recall: a wrong edge can become a false "yes", the worst answer, so
//! anything uncertain is skipped: questions, conditionals, hedges ("might", "some say"),
//! clauses set off by commas ("Birds, which can fly, are animals"), pronoun subjects,
//! and names longer than [`MAX_NAME_WORDS`].
//!
//! How a statement is read: the words are lower-cased for matching (names keep their
//! written form), contractions are split ("isn't" -> "is not"), then the leftmost
//! position where a pattern matches splits it into subject and object; at one position
//! the longest pattern wins ("is a kind of" before "is a"). A "not"/"never" right after
//! the verb marks negative evidence, stored apart and never chained as a positive edge.
//!
//! Decisions on ambiguous wordings:
//! - "X is a Y" is is-a; "X is Y" with a short lower-case complement and no article is
//!   a property ("The sun is hot").
//! - "Xs are Ys" is is-a when the complement ends in a plural noun, otherwise a property
//!   ("Dogs are loyal"); normalization singularizes both names for matching.
//! - "X is a city in Y" gives is-a (X, city) and located-in (X, Y); "X is a province of
//!   Y" (for place words) gives is-a and part-of.
//! - "X is caused by Y", "X happens after Y" are stored in the active direction.

use crate::graph::{AssocType, SemanticType};

/// Names longer than this are taken as mis-parses and skipped.
pub const MAX_NAME_WORDS: usize = 8;

/// One association read from a statement.
#[derive(Clone, Debug, PartialEq)]
pub struct Extracted {
    /// Source entity name as written, minus a leading article.
    pub source: String,
    /// Target entity name as written, minus a leading article.
    pub target: String,
    /// Relation.
    pub kind: AssocType,
    /// Confidence of the pattern that matched.
    pub confidence: f32,
    /// Negative evidence.
    pub negated: bool,
}

/// What a statement says.
#[derive(Clone, Debug, PartialEq)]
pub struct Extraction {
    /// Its semantic type.
    pub semantic_type: SemanticType,
    /// The associations read from it.
    pub associations: Vec<Extracted>,
}

/// How a pattern's object is interpreted.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Obj {
    /// A plain relation to the object.
    Plain(AssocType),
    /// Same, with source and target swapped ("is caused by").
    Reverse(AssocType),
    /// "is a/an Y": is-a, or is-a plus located-in/part-of for "a city in Y".
    Category,
    /// "are Y": is-a if Y is a plural noun, else a property.
    PluralCopula,
    /// "is Y": a property if Y is a short lower-case complement.
    Copula,
}

use AssocType::*;
use Obj::*;

/// (keywords, interpretation, confidence). Order does not matter: the longest match at
/// the leftmost position wins.
const PATTERNS: &[(&str, Obj, f32)] = &[
    ("is a kind of", Plain(IsA), 0.95),
    ("is a type of", Plain(IsA), 0.95),
    ("is a sort of", Plain(IsA), 0.95),
    ("is a species of", Plain(IsA), 0.95),
    ("is a form of", Plain(IsA), 0.9),
    ("is an example of", Plain(IsA), 0.9),
    ("are a kind of", Plain(IsA), 0.95),
    ("are a type of", Plain(IsA), 0.95),
    ("are kinds of", Plain(IsA), 0.95),
    ("are types of", Plain(IsA), 0.95),
    ("are a species of", Plain(IsA), 0.95),
    ("is a", Category, 0.9),
    ("is an", Category, 0.9),
    ("are", PluralCopula, 0.85),
    ("is", Copula, 0.8),
    ("is in", Plain(LocatedIn), 0.9),
    ("are in", Plain(LocatedIn), 0.9),
    ("is located in", Plain(LocatedIn), 0.95),
    ("are located in", Plain(LocatedIn), 0.95),
    ("is situated in", Plain(LocatedIn), 0.95),
    ("are situated in", Plain(LocatedIn), 0.95),
    ("is located within", Plain(LocatedIn), 0.95),
    ("is within", Plain(LocatedIn), 0.9),
    ("lies in", Plain(LocatedIn), 0.9),
    ("lie in", Plain(LocatedIn), 0.9),
    ("is found in", Plain(LocatedIn), 0.9),
    ("are found in", Plain(LocatedIn), 0.9),
    ("can be found in", Plain(LocatedIn), 0.9),
    ("sits in", Plain(LocatedIn), 0.85),
    ("stands in", Plain(LocatedIn), 0.85),
    ("is part of", Plain(PartOf), 0.95),
    ("is a part of", Plain(PartOf), 0.95),
    ("are part of", Plain(PartOf), 0.95),
    ("are parts of", Plain(PartOf), 0.95),
    ("belongs to", Plain(PartOf), 0.9),
    ("belong to", Plain(PartOf), 0.9),
    ("is a member of", Plain(PartOf), 0.9),
    ("are members of", Plain(PartOf), 0.9),
    ("is a component of", Plain(PartOf), 0.9),
    ("causes", Plain(Causes), 0.9),
    ("cause", Plain(Causes), 0.9),
    ("does cause", Plain(Causes), 0.9),
    ("do cause", Plain(Causes), 0.9),
    ("can cause", Plain(Causes), 0.85),
    ("leads to", Plain(Causes), 0.9),
    ("lead to", Plain(Causes), 0.9),
    ("does lead to", Plain(Causes), 0.9),
    ("results in", Plain(Causes), 0.9),
    ("result in", Plain(Causes), 0.9),
    ("is a cause of", Plain(Causes), 0.9),
    ("is caused by", Reverse(Causes), 0.9),
    ("are caused by", Reverse(Causes), 0.9),
    ("results from", Reverse(Causes), 0.85),
    ("happens before", Plain(Precedes), 0.9),
    ("happened before", Plain(Precedes), 0.9),
    ("does happen before", Plain(Precedes), 0.9),
    ("did happen before", Plain(Precedes), 0.9),
    ("comes before", Plain(Precedes), 0.9),
    ("came before", Plain(Precedes), 0.9),
    ("occurs before", Plain(Precedes), 0.9),
    ("occurred before", Plain(Precedes), 0.9),
    ("precedes", Plain(Precedes), 0.9),
    ("preceded", Plain(Precedes), 0.9),
    ("was invented before", Plain(Precedes), 0.9),
    ("were invented before", Plain(Precedes), 0.9),
    ("was built before", Plain(Precedes), 0.9),
    ("was discovered before", Plain(Precedes), 0.9),
    ("was founded before", Plain(Precedes), 0.9),
    ("was written before", Plain(Precedes), 0.9),
    ("is before", Plain(Precedes), 0.85),
    ("happens after", Reverse(Precedes), 0.9),
    ("happened after", Reverse(Precedes), 0.9),
    ("comes after", Reverse(Precedes), 0.9),
    ("came after", Reverse(Precedes), 0.9),
    ("occurs after", Reverse(Precedes), 0.9),
    ("follows", Reverse(Precedes), 0.85),
    ("was invented after", Reverse(Precedes), 0.9),
    ("were invented after", Reverse(Precedes), 0.9),
    ("can", Plain(CapableOf), 0.9),
    ("is able to", Plain(CapableOf), 0.9),
    ("are able to", Plain(CapableOf), 0.9),
    ("is related to", Plain(RelatedTo), 0.6),
    ("are related to", Plain(RelatedTo), 0.6),
];

/// Words that make a statement too uncertain to learn from.
const HEDGES: &[&str] = &[
    "might",
    "may",
    "could",
    "perhaps",
    "possibly",
    "probably",
    "maybe",
    "reportedly",
    "allegedly",
    "rumored",
    "rumoured",
    "supposedly",
    "if",
    "unless",
    "although",
    "whether",
];

/// First words of questions and of subordinate clauses.
const NOT_A_STATEMENT: &[&str] = &[
    "is", "are", "was", "were", "do", "does", "did", "can", "could", "will", "would", "should",
    "what", "where", "why", "who", "whom", "whose", "how", "which", "when", "because", "since",
    "while", "some", "many", "most", "few",
];

const PRONOUNS: &[&str] = &[
    "it",
    "they",
    "he",
    "she",
    "this",
    "that",
    "these",
    "those",
    "we",
    "you",
    "i",
    "there",
    "here",
    "one",
    "someone",
    "something",
    "everything",
    "nothing",
];

/// Place words for which "X is a W of Y" means X is part of Y.
const PLACE_WORDS: &[&str] = &[
    "region",
    "province",
    "state",
    "district",
    "county",
    "city",
    "town",
    "village",
    "territory",
    "department",
    "prefecture",
    "municipality",
    "suburb",
    "borough",
    "island",
    "part",
    "member",
    "component",
    "country",
    "neighbourhood",
    "neighborhood",
    "quarter",
];

/// Splits a statement into words (original case), contractions expanded.
fn tokens(sentence: &str) -> Vec<String> {
    let mut out = Vec::new();
    for raw in sentence.split_whitespace() {
        let w = raw.trim_matches(|c: char| matches!(c, '.' | '!' | ';' | ':' | '"' | '(' | ')'));
        if w.is_empty() {
            continue;
        }
        let lower = w.to_lowercase();
        let expanded: Option<&[&str]> = match lower.as_str() {
            "isn't" | "isn’t" => Some(&["is", "not"]),
            "aren't" | "aren’t" => Some(&["are", "not"]),
            "doesn't" | "doesn’t" => Some(&["does", "not"]),
            "don't" | "don’t" => Some(&["do", "not"]),
            "didn't" | "didn’t" => Some(&["did", "not"]),
            "can't" | "can’t" | "cannot" => Some(&["can", "not"]),
            "wasn't" | "wasn’t" => Some(&["was", "not"]),
            "weren't" | "weren’t" => Some(&["were", "not"]),
            _ => None,
        };
        match expanded {
            Some(parts) => out.extend(parts.iter().map(|p| p.to_string())),
            None => out.push(w.to_string()),
        }
    }
    out
}

/// A name from words: leading determiners dropped, punctuation trimmed; `None` if it is
/// empty, a pronoun, or too long.
fn name(words: &[String]) -> Option<String> {
    let mut ws: Vec<&str> = words.iter().map(String::as_str).collect();
    while let Some(first) = ws.first() {
        if matches!(
            first.to_lowercase().as_str(),
            "a" | "an" | "the" | "every" | "all" | "each"
        ) {
            ws.remove(0);
        } else {
            break;
        }
    }
    let text = ws.join(" ");
    let text = text.trim_matches(|c: char| !c.is_alphanumeric());
    if text.is_empty() || ws.len() > MAX_NAME_WORDS {
        return None;
    }
    if ws.len() == 1 && PRONOUNS.contains(&text.to_lowercase().as_str()) {
        return None;
    }
    Some(text.to_string())
}

fn is_plural_noun(word: &str) -> bool {
    let w = word.to_lowercase();
    w.len() > 3 && w.ends_with('s') && !["ss", "us", "is", "ous"].iter().any(|s| w.ends_with(s))
}

/// Reads the associations of one statement. Never panics.
pub fn extract(sentence: &str) -> Extraction {
    let none = |t| Extraction {
        semantic_type: t,
        associations: Vec::new(),
    };
    let trimmed = sentence.trim();
    let ws = tokens(trimmed);
    let lw: Vec<String> = ws.iter().map(|w| w.to_lowercase()).collect();
    let quantitative = lw.iter().any(|w| w.chars().any(|c| c.is_ascii_digit()));
    let fallback = if quantitative {
        SemanticType::Quantitative
    } else {
        SemanticType::Unclassified
    };
    if ws.len() < 3
        || trimmed.ends_with('?')
        || trimmed.contains(',')
        || NOT_A_STATEMENT.contains(&lw[0].as_str())
        || lw.iter().any(|w| HEDGES.contains(&w.as_str()))
    {
        return none(fallback);
    }
    let rule = matches!(lw[0].as_str(), "every" | "all" | "each");
    // Leftmost position, then longest pattern.
    for i in 1..lw.len() - 1 {
        let negated = lw.get(i + 1).is_some_and(|w| w == "not" || w == "never");
        let rest: Vec<&str> = if negated {
            std::iter::once(lw[i].as_str())
                .chain(lw[i + 2..].iter().map(String::as_str))
                .collect()
        } else {
            lw[i..].iter().map(String::as_str).collect()
        };
        let best = PATTERNS
            .iter()
            .filter(|(kw, _, _)| {
                let k: Vec<&str> = kw.split(' ').collect();
                k.len() < rest.len() && rest[..k.len()] == k[..]
            })
            .max_by_key(|(kw, _, _)| kw.split(' ').count());
        let Some((kw, obj, conf)) = best else {
            continue;
        };
        let used = kw.split(' ').count() + usize::from(negated);
        let (Some(subject), object) = (name(&ws[..i]), &ws[i + used..]) else {
            return none(fallback);
        };
        let found = interpret(*obj, *conf, &subject, object, negated);
        if found.is_empty() {
            return none(fallback);
        }
        let semantic_type = if negated {
            SemanticType::Negation
        } else if rule {
            SemanticType::Rule
        } else {
            match found[0].kind {
                IsA => SemanticType::Definitional,
                LocatedIn | PartOf => SemanticType::Spatial,
                Causes => SemanticType::Causal,
                Precedes
                    if lw
                        .iter()
                        .any(|w| w == "was" || w == "were" || w.ends_with("ed")) =>
                {
                    SemanticType::Event
                }
                Precedes => SemanticType::Temporal,
                CapableOf => SemanticType::Capability,
                HasProperty => SemanticType::Property,
                RelatedTo | Mentions => SemanticType::Unclassified,
            }
        };
        return Extraction {
            semantic_type,
            associations: found,
        };
    }
    none(fallback)
}

fn edge(source: &str, kind: AssocType, target: &str, confidence: f32, negated: bool) -> Extracted {
    Extracted {
        source: source.to_string(),
        target: target.to_string(),
        kind,
        confidence,
        negated,
    }
}

fn interpret(
    obj: Obj,
    conf: f32,
    subject: &str,
    object: &[String],
    negated: bool,
) -> Vec<Extracted> {
    let lower: Vec<String> = object.iter().map(|w| w.to_lowercase()).collect();
    let starts_with_preposition = lower.first().is_some_and(|w| {
        matches!(
            w.as_str(),
            "in" | "on"
                | "at"
                | "of"
                | "to"
                | "from"
                | "by"
                | "for"
                | "with"
                | "not"
                | "be"
                | "being"
                | "been"
        )
    });
    match obj {
        Plain(CapableOf) => {
            // "can be ..." is passive or a hedge, not an ability.
            if starts_with_preposition || lower.first().is_some_and(|w| w == "also") {
                return vec![];
            }
            let ability = object.join(" ").to_lowercase();
            if ability.is_empty() || object.len() > 4 {
                return vec![];
            }
            vec![edge(subject, CapableOf, &ability, conf, negated)]
        }
        Plain(kind) => name(object)
            .map(|t| vec![edge(subject, kind, &t, conf, negated)])
            .unwrap_or_default(),
        Reverse(kind) => name(object)
            .map(|t| vec![edge(&t, kind, subject, conf, negated)])
            .unwrap_or_default(),
        Category => {
            // "X is a city in Y", "X is a province of Y".
            for (prep, kind) in [("in", LocatedIn), ("of", PartOf)] {
                if let Some(p) = lower.iter().position(|w| w == prep) {
                    if p == 0 {
                        return vec![];
                    }
                    let Some(category) = name(&object[..p]) else {
                        return vec![];
                    };
                    let Some(place) = name(&object[p + 1..]) else {
                        return vec![];
                    };
                    if kind == PartOf && !PLACE_WORDS.contains(&lower[p - 1].as_str()) {
                        return vec![];
                    }
                    if negated {
                        return vec![];
                    }
                    return vec![
                        edge(subject, IsA, &category, 0.85, false),
                        edge(subject, kind, &place, conf, false),
                    ];
                }
            }
            if lower
                .iter()
                .any(|w| matches!(w.as_str(), "who" | "which" | "that" | "with" | "and" | "or"))
            {
                return vec![];
            }
            name(object)
                .map(|t| vec![edge(subject, IsA, &t, conf, negated)])
                .unwrap_or_default()
        }
        PluralCopula | Copula => {
            if starts_with_preposition
                || object.is_empty()
                || lower
                    .iter()
                    .any(|w| matches!(w.as_str(), "and" | "or" | "who" | "which" | "that"))
            {
                return vec![];
            }
            let first = &object[0];
            let article = matches!(lower[0].as_str(), "a" | "an" | "the");
            let last = lower.last().expect("non-empty");
            if obj == PluralCopula && !article && is_plural_noun(last) {
                return name(object)
                    .map(|t| vec![edge(subject, IsA, &t, conf, negated)])
                    .unwrap_or_default();
            }
            // A property: a short lower-case complement without an article.
            if article || object.len() > 2 || first.chars().next().is_some_and(char::is_uppercase) {
                return vec![];
            }
            vec![edge(
                subject,
                HasProperty,
                &object.join(" ").to_lowercase(),
                0.8,
                negated,
            )]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> (String, AssocType, String, bool) {
        let e = extract(s);
        assert_eq!(e.associations.len(), 1, "{s}: {e:?}");
        let a = &e.associations[0];
        (a.source.clone(), a.kind, a.target.clone(), a.negated)
    }

    #[test]
    fn positive_wordings() {
        let cases: &[(&str, &str, AssocType, &str)] = &[
            ("A poodle is a kind of dog.", "poodle", IsA, "dog"),
            ("An oak is a kind of tree.", "oak", IsA, "tree"),
            ("A beagle is a type of dog.", "beagle", IsA, "dog"),
            ("The wolf is a sort of canine", "wolf", IsA, "canine"),
            (
                "A double-reed instrument is a kind of woodwind instrument.",
                "double-reed instrument",
                IsA,
                "woodwind instrument",
            ),
            (
                "Vulpes fulva is a species of fox.",
                "Vulpes fulva",
                IsA,
                "fox",
            ),
            ("A sparrow is a bird.", "sparrow", IsA, "bird"),
            ("An eagle is an animal.", "eagle", IsA, "animal"),
            ("Dogs are mammals.", "Dogs", IsA, "mammals"),
            ("All whales are mammals.", "whales", IsA, "mammals"),
            ("Every robin is a bird.", "robin", IsA, "bird"),
            ("Tulips are a kind of flower.", "Tulips", IsA, "flower"),
            (
                "The Eiffel Tower is in Paris.",
                "Eiffel Tower",
                LocatedIn,
                "Paris",
            ),
            ("Paris is located in France.", "Paris", LocatedIn, "France"),
            ("Lyon is situated in France", "Lyon", LocatedIn, "France"),
            (
                "The Netherlands are in Europe.",
                "Netherlands",
                LocatedIn,
                "Europe",
            ),
            (
                "Mount Fuji lies in Japan.",
                "Mount Fuji",
                LocatedIn,
                "Japan",
            ),
            (
                "The Mona Lisa is found in the Louvre.",
                "Mona Lisa",
                LocatedIn,
                "Louvre",
            ),
            (
                "Kangaroos can be found in Australia.",
                "Kangaroos",
                LocatedIn,
                "Australia",
            ),
            (
                "The Brandenburg Gate is in Berlin.",
                "Brandenburg Gate",
                LocatedIn,
                "Berlin",
            ),
            ("A wheel is part of a car.", "wheel", PartOf, "car"),
            (
                "A piston is a part of an engine.",
                "piston",
                PartOf,
                "engine",
            ),
            (
                "Wales belongs to the United Kingdom.",
                "Wales",
                PartOf,
                "United Kingdom",
            ),
            ("Bavaria is part of Germany.", "Bavaria", PartOf, "Germany"),
            (
                "Smoking causes lung cancer.",
                "Smoking",
                Causes,
                "lung cancer",
            ),
            (
                "Heavy rain leads to flooding.",
                "Heavy rain",
                Causes,
                "flooding",
            ),
            (
                "Deforestation results in soil erosion.",
                "Deforestation",
                Causes,
                "soil erosion",
            ),
            ("Viruses cause infections.", "Viruses", Causes, "infections"),
            ("Stress can cause headaches.", "Stress", Causes, "headaches"),
            (
                "Breakfast happens before lunch.",
                "Breakfast",
                Precedes,
                "lunch",
            ),
            (
                "The printing press was invented before the steam engine.",
                "printing press",
                Precedes,
                "steam engine",
            ),
            ("Spring comes before summer.", "Spring", Precedes, "summer"),
            ("Dawn precedes sunrise.", "Dawn", Precedes, "sunrise"),
            ("Dogs can bark.", "Dogs", CapableOf, "bark"),
            ("Fish can swim fast.", "Fish", CapableOf, "swim fast"),
            ("Bats are able to fly.", "Bats", CapableOf, "fly"),
            ("The sun is hot.", "sun", HasProperty, "hot"),
            ("Ice is cold.", "Ice", HasProperty, "cold"),
            ("Dogs are loyal.", "Dogs", HasProperty, "loyal"),
            ("Snow is very white.", "Snow", HasProperty, "very white"),
        ];
        for (s, src, kind, tgt) in cases {
            assert_eq!(
                one(s),
                (src.to_string(), *kind, tgt.to_string(), false),
                "{s}"
            );
        }
    }

    #[test]
    fn reversed_wordings_store_the_active_direction() {
        assert_eq!(
            one("Lung cancer is caused by smoking."),
            ("smoking".into(), Causes, "Lung cancer".into(), false)
        );
        assert_eq!(
            one("Dinner happens after lunch."),
            ("lunch".into(), Precedes, "Dinner".into(), false)
        );
    }

    #[test]
    fn category_with_place() {
        let e = extract("Lyon is a city in France.");
        let got: Vec<_> = e
            .associations
            .iter()
            .map(|a| (a.source.as_str(), a.kind, a.target.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![("Lyon", IsA, "city"), ("Lyon", LocatedIn, "France")]
        );
        let e = extract("Ontario is a province of Canada.");
        assert_eq!(e.associations[1].kind, PartOf);
        assert!(extract("Hamlet is a friend of Horatio.")
            .associations
            .is_empty());
    }

    #[test]
    fn negations_are_negative_evidence() {
        for (s, kind) in [
            ("Paris is not in Germany.", LocatedIn),
            ("A whale isn't a fish.", IsA),
            ("A bat is not a kind of bird.", IsA),
            ("Coffee does not cause cancer.", Causes),
            ("Coffee doesn't cause cancer.", Causes),
            ("Penguins cannot fly.", CapableOf),
            ("Penguins can't fly.", CapableOf),
            ("Lyon is never in Spain.", LocatedIn),
        ] {
            let e = extract(s);
            assert_eq!(e.associations.len(), 1, "{s}: {e:?}");
            assert!(e.associations[0].negated, "{s}");
            assert_eq!(e.associations[0].kind, kind, "{s}");
            assert_eq!(e.semantic_type, SemanticType::Negation);
        }
    }

    #[test]
    fn non_facts_make_no_edges() {
        for s in [
            "Is Paris in France?",
            "Where is Paris?",
            "Paris is in France?",
            "Does smoking cause cancer",
            "Birds, which can fly, are animals.",
            "If it rains, the ground is wet.",
            "Paris might be in France.",
            "Some say the treasure is in Spain.",
            "It is in Paris.",
            "They are mammals.",
            "Paris",
            "",
            "   ",
            "...",
            "is in",
            "The is in the",
            "Because rain falls, rivers rise.",
            "Paris is a city that never sleeps.",
            "John is Mary's brother.",
            "The cat is on the mat.",
            "Apples can be red.",
            "Dogs and cats are pets and friends.",
            "Water is H2O",
            "What causes rain?",
            "Perhaps dogs can fly.",
            "Rome is the capital of Italy and the largest city.",
        ] {
            assert!(extract(s).associations.is_empty(), "{s}: {:?}", extract(s));
        }
    }

    #[test]
    fn never_panics_on_odd_input() {
        let long = "word ".repeat(5000);
        for s in [
            "?",
            "!!!",
            "é is in ü",
            "\u{0}",
            "a a a a",
            long.as_str(),
            "X is",
            "is X",
            "🙂 is in 🌍.",
        ] {
            let _ = extract(s);
        }
        let e = extract("Zürich is in Switzerland.");
        assert_eq!(e.associations[0].source, "Zürich");
    }

    #[test]
    fn semantic_types() {
        assert_eq!(
            extract("A dog is a kind of mammal.").semantic_type,
            SemanticType::Definitional
        );
        assert_eq!(
            extract("Paris is in France.").semantic_type,
            SemanticType::Spatial
        );
        assert_eq!(
            extract("Smoking causes cancer.").semantic_type,
            SemanticType::Causal
        );
        assert_eq!(
            extract("Breakfast happens before lunch.").semantic_type,
            SemanticType::Temporal
        );
        assert_eq!(
            extract("The telephone was invented before the radio.").semantic_type,
            SemanticType::Event
        );
        assert_eq!(
            extract("Birds can fly.").semantic_type,
            SemanticType::Capability
        );
        assert_eq!(
            extract("Ice is cold.").semantic_type,
            SemanticType::Property
        );
        assert_eq!(
            extract("All cats are mammals.").semantic_type,
            SemanticType::Rule
        );
        assert_eq!(
            extract("A spider has 8 legs.").semantic_type,
            SemanticType::Quantitative
        );
    }

    #[test]
    fn every_public_sample_fact_yields_an_association() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/eval/basics_facts.txt"
        );
        let Ok(text) = std::fs::read_to_string(path) else {
            eprintln!("skipped: {path} is not present");
            return;
        };
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            assert!(!extract(line).associations.is_empty(), "{line}");
        }
    }
}

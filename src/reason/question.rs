//! Question parsing: turns an English question into what to look for.
//!
//! Names are returned as written (minus surrounding punctuation); resolution to
//! concepts happens later, so a phrase that could split two ways ("Is X in Y in Z?")
//! is returned as every candidate split and the reasoner keeps the one whose names
//! exist.

use crate::graph::AssocType;

/// What a question asks.
#[derive(Clone, Debug, PartialEq)]
pub enum Question {
    /// Yes/no: does `subject --relation--> object` hold (directly or by chaining)?
    Check {
        /// The relation asked about.
        relation: AssocType,
        /// Candidate (subject, object) splits of the question, best first.
        splits: Vec<(String, String)>,
    },
    /// Open: what is `subject --relation--> ?` (or `? --relation--> subject` when
    /// `inverse`).
    Open {
        /// The relation whose other ends are the answer.
        relation: AssocType,
        /// Follow the relation backwards (what causes X: X <-causes- ?).
        inverse: bool,
        /// The concept asked about.
        subject: String,
    },
    /// "Tell me about X": everything known about X.
    About {
        /// The concept asked about.
        subject: String,
    },
}

/// Why a question could not be parsed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

fn words(s: &str) -> Vec<String> {
    s.split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| matches!(c, '?' | '.' | '!' | ',' | ';' | ':' | '"'))
                .to_string()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

fn lower(ws: &[String]) -> Vec<String> {
    ws.iter().map(|w| w.to_lowercase()).collect()
}

fn join(ws: &[String]) -> String {
    ws.join(" ")
}

/// Every split of `ws` around the keyword sequence `kw` (lower case), as
/// (before, after) with both sides non-empty.
fn splits_on(ws: &[String], lw: &[String], kw: &[&str]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if kw.is_empty() || lw.len() < kw.len() + 2 {
        return out;
    }
    for i in 1..=lw.len() - kw.len() - 1 {
        if lw[i..i + kw.len()].iter().zip(kw).all(|(a, b)| a == b) {
            out.push((join(&ws[..i]), join(&ws[i + kw.len()..])));
        }
    }
    out
}

/// Parses a question.
pub fn parse(text: &str) -> Result<Question, ParseError> {
    let ws = words(text);
    if ws.is_empty() {
        return Err(ParseError("the question is empty".into()));
    }
    let lw = lower(&ws);
    let first = lw[0].as_str();
    let rest = &ws[1..];
    let lrest = &lw[1..];
    let starts = |p: &[&str]| lw.len() > p.len() && lw.iter().zip(p).all(|(a, b)| a == b);
    let after = |n: usize| join(&ws[n..]);

    // "Tell me about X", "What do you know about X", "Describe X".
    for p in [
        &["tell", "me", "about"][..],
        &["what", "do", "you", "know", "about"],
        &["describe"],
        &["who", "is"],
    ] {
        if starts(p) {
            return Ok(Question::About {
                subject: after(p.len()),
            });
        }
    }
    // Open questions.
    let open = |relation, inverse, n: usize, strip_tail: &[&str]| {
        let mut end = ws.len();
        for t in strip_tail {
            if end > n + 1 && lw[end - 1] == *t {
                end -= 1;
            }
        }
        Ok(Question::Open {
            relation,
            inverse,
            subject: join(&ws[n..end]),
        })
    };
    if starts(&["where", "can", "i", "find"]) {
        return open(AssocType::LocatedIn, false, 4, &[]);
    }
    if starts(&["where", "is"]) || starts(&["where", "are"]) || starts(&["where's"]) {
        let n = if first == "where's" { 1 } else { 2 };
        return open(
            AssocType::LocatedIn,
            false,
            n,
            &["located", "situated", "found"],
        );
    }
    for p in [
        &["what", "causes"][..],
        &["what", "cause"],
        &["what", "leads", "to"],
        &["what", "results", "in"],
        &["what", "can", "cause"],
    ] {
        if starts(p) {
            return open(AssocType::Causes, true, p.len(), &[]);
        }
    }
    if first == "why" && lw.len() > 2 {
        // "Why are roads closed?", "Why does flooding happen?"
        return open(
            AssocType::Causes,
            true,
            2,
            &["happen", "happens", "occur", "occurs"],
        );
    }
    if starts(&["what", "can"]) && lw.last().map(String::as_str) == Some("do") && lw.len() > 3 {
        return Ok(Question::Open {
            relation: AssocType::CapableOf,
            inverse: false,
            subject: join(&ws[2..ws.len() - 1]),
        });
    }
    if starts(&["what", "is"]) || starts(&["what", "are"]) || starts(&["what's"]) {
        let n = if first == "what's" { 1 } else { 2 };
        // "What is X part of?"
        if lw.len() > n + 2 && lw[lw.len() - 2] == "part" && lw[lw.len() - 1] == "of" {
            return Ok(Question::Open {
                relation: AssocType::PartOf,
                inverse: false,
                subject: join(&ws[n..ws.len() - 2]),
            });
        }
        return open(AssocType::IsA, false, n, &[]);
    }

    // Yes/no questions.
    let check = |relation, splits: Vec<(String, String)>| {
        if splits.is_empty() {
            Err(ParseError(format!(
                "could not find what '{text}' asks about; ask e.g. \"Is X in Y?\", \"Is X a kind of Y?\", \"Does X cause Y?\""
            )))
        } else {
            Ok(Question::Check { relation, splits })
        }
    };
    match first {
        "is" | "are" => {
            for (kw, rel) in [
                (&["a", "kind", "of"][..], AssocType::IsA),
                (&["a", "type", "of"], AssocType::IsA),
                (&["a", "sort", "of"], AssocType::IsA),
                (&["kinds", "of"], AssocType::IsA),
                (&["types", "of"], AssocType::IsA),
                (&["a", "part", "of"], AssocType::PartOf),
                (&["part", "of"], AssocType::PartOf),
                (&["located", "in"], AssocType::LocatedIn),
                (&["situated", "in"], AssocType::LocatedIn),
                (&["found", "in"], AssocType::LocatedIn),
                (&["in"], AssocType::LocatedIn),
                (&["a", "member", "of"], AssocType::PartOf),
            ] {
                let s = splits_on(rest, lrest, kw);
                if !s.is_empty() {
                    return check(rel, s);
                }
            }
            // "Is a poodle a dog?", "Is Paris a city?"
            let mut s = Vec::new();
            for art in ["a", "an"] {
                s.extend(splits_on(rest, lrest, &[art]));
            }
            if !s.is_empty() {
                return check(AssocType::IsA, s);
            }
            // "Are dogs mammals?" / "Is the sun hot?": every split point; the
            // reasoner keeps the one whose names resolve (is_a or has_property).
            let s: Vec<_> = (1..rest.len())
                .map(|i| (join(&rest[..i]), join(&rest[i..])))
                .collect();
            check(if first == "are" { AssocType::IsA } else { AssocType::HasProperty }, s)
        }
        "does" | "do" | "did" | "can" | "could" | "was" | "were" => {
            for (kw, rel) in [
                (&["cause"][..], AssocType::Causes),
                (&["lead", "to"], AssocType::Causes),
                (&["result", "in"], AssocType::Causes),
                (&["happen", "before"], AssocType::Precedes),
                (&["happened", "before"], AssocType::Precedes),
                (&["come", "before"], AssocType::Precedes),
                (&["came", "before"], AssocType::Precedes),
                (&["occur", "before"], AssocType::Precedes),
                (&["precede"], AssocType::Precedes),
                (&["invented", "before"], AssocType::Precedes),
                (&["discovered", "before"], AssocType::Precedes),
                (&["built", "before"], AssocType::Precedes),
                (&["founded", "before"], AssocType::Precedes),
                (&["before"], AssocType::Precedes),
                (&["belong", "to"], AssocType::PartOf),
                (&["lie", "in"], AssocType::LocatedIn),
                (&["be", "found", "in"], AssocType::LocatedIn),
                (&["be", "located", "in"], AssocType::LocatedIn),
            ] {
                let s = splits_on(rest, lrest, kw);
                if !s.is_empty() {
                    return check(rel, s);
                }
            }
            if matches!(first, "can" | "could" | "do" | "does") {
                // "Can a poodle bark?", "Do birds fly?": subject, then the ability
                // (every split point).
                let s: Vec<_> = (1..rest.len())
                    .map(|i| (join(&rest[..i]), join(&rest[i..])))
                    .collect();
                return check(AssocType::CapableOf, s);
            }
            Err(ParseError(format!(
                "could not find the relation in '{text}'; ask e.g. \"Does X cause Y?\" or \"Does X happen before Y?\""
            )))
        }
        _ => Err(ParseError(format!(
            "'{text}' is not a question I can parse; ask e.g. \"Is X in Y?\", \"What is X?\", \"Where is X?\", \"What causes X?\", \"Why ...?\", \"Tell me about X\""
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(q: &str) -> (AssocType, Vec<(String, String)>) {
        match parse(q).unwrap() {
            Question::Check { relation, splits } => (relation, splits),
            other => panic!("{q}: {other:?}"),
        }
    }

    fn first_split(q: &str) -> (AssocType, String, String) {
        let (r, s) = check(q);
        (r, s[0].0.clone(), s[0].1.clone())
    }

    #[test]
    fn yes_no_forms() {
        use AssocType::*;
        let cases = [
            (
                "Is the Eiffel Tower in France?",
                LocatedIn,
                "the Eiffel Tower",
                "France",
            ),
            ("Is Paris located in Europe?", LocatedIn, "Paris", "Europe"),
            ("Is a piston part of a car?", PartOf, "a piston", "a car"),
            ("Is a piston a part of a car?", PartOf, "a piston", "a car"),
            ("Is a poodle a kind of animal?", IsA, "a poodle", "animal"),
            ("Is a beagle a type of dog?", IsA, "a beagle", "dog"),
            (
                "Does smoking cause coughing?",
                Causes,
                "smoking",
                "coughing",
            ),
            (
                "Does heavy rain lead to road closures?",
                Causes,
                "heavy rain",
                "road closures",
            ),
            (
                "Does breakfast happen before dinner?",
                Precedes,
                "breakfast",
                "dinner",
            ),
            (
                "Was the printing press invented before the telephone?",
                Precedes,
                "the printing press",
                "the telephone",
            ),
            (
                "Does Wales belong to the United Kingdom?",
                PartOf,
                "Wales",
                "the United Kingdom",
            ),
        ];
        for (q, rel, s, o) in cases {
            assert_eq!(first_split(q), (rel, s.to_string(), o.to_string()), "{q}");
        }
    }

    #[test]
    fn ambiguous_forms_give_every_split() {
        let (rel, splits) = check("Is a poodle a dog?");
        assert_eq!(rel, AssocType::IsA);
        assert!(splits.contains(&("a poodle".into(), "dog".into())));
        let (rel, splits) = check("Can a poodle bark?");
        assert_eq!(rel, AssocType::CapableOf);
        assert!(splits.contains(&("a poodle".into(), "bark".into())));
        let (rel, splits) = check("Do birds fly?");
        assert_eq!(rel, AssocType::CapableOf);
        assert_eq!(splits, vec![("birds".to_string(), "fly".to_string())]);
        assert_eq!(
            first_split("Can the Mona Lisa be found in Paris?"),
            (AssocType::LocatedIn, "the Mona Lisa".into(), "Paris".into())
        );
        let (rel, splits) = check("Is the sun hot?");
        assert_eq!(rel, AssocType::HasProperty);
        assert!(splits.contains(&("the sun".into(), "hot".into())));
        let (rel, splits) = check("Are dogs mammals?");
        assert_eq!(rel, AssocType::IsA);
        assert_eq!(splits, vec![("dogs".to_string(), "mammals".to_string())]);
        // A name containing the keyword yields both splits.
        let (_, splits) = check("Is the Bank in Zurich in Switzerland?");
        assert_eq!(splits.len(), 2);
    }

    #[test]
    fn open_forms() {
        use AssocType::*;
        let open = |q: &str| match parse(q).unwrap() {
            Question::Open {
                relation,
                inverse,
                subject,
            } => (relation, inverse, subject),
            other => panic!("{q}: {other:?}"),
        };
        assert_eq!(
            open("Where is the Eiffel Tower?"),
            (LocatedIn, false, "the Eiffel Tower".into())
        );
        assert_eq!(
            open("Where is Lyon located?"),
            (LocatedIn, false, "Lyon".into())
        );
        assert_eq!(
            open("Where can I find the Eiffel Tower?"),
            (LocatedIn, false, "the Eiffel Tower".into())
        );
        assert_eq!(open("What is a poodle?"), (IsA, false, "a poodle".into()));
        assert_eq!(
            open("What causes lung cancer?"),
            (Causes, true, "lung cancer".into())
        );
        assert_eq!(
            open("Why are roads closed?"),
            (Causes, true, "roads closed".into())
        );
        assert_eq!(
            open("Why does flooding happen?"),
            (Causes, true, "flooding".into())
        );
        assert_eq!(
            open("What can a dog do?"),
            (CapableOf, false, "a dog".into())
        );
        assert_eq!(
            open("What is an engine part of?"),
            (PartOf, false, "an engine".into())
        );
        assert_eq!(
            parse("Tell me about Paris").unwrap(),
            Question::About {
                subject: "Paris".into()
            }
        );
    }

    #[test]
    fn non_questions_are_rejected_clearly() {
        for q in ["", "?", "Paris", "Hello there", "Is", "Does it?"] {
            let e = parse(q).unwrap_err();
            assert!(!e.0.is_empty(), "{q}");
        }
    }
}

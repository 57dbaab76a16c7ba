//! Relation properties: a small built-in lexicon for the common relations, extended by
//! sentences such as "North of is the opposite of south of." or "Ancestor of is
//! transitive.". Properties become rules of the program (see [`RelationProps::rules_for`]).

use std::collections::HashMap;

/// One property of a relation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelProp {
    /// R(x,y) and R(y,z) give R(x,z).
    Transitive,
    /// R(x,y) gives R(y,x).
    Symmetric,
    /// R(x,y) gives not R(y,x).
    Asymmetric,
    /// R(x,y) gives S(y,x) and back.
    Inverse(String),
    /// One value at a time: a later fact supersedes the earlier one (kept as history).
    Functional,
    /// A direction on a grid: the axis ("x" or "y"), and the word for travelling from
    /// the object to the subject ("north" for north_of). Two things related along one
    /// axis are level on the other ("The triangle is above the square": same column).
    Direction { axis: char, word: String },
}

/// The built-in lexicon: (relation, properties).
fn builtin() -> Vec<(&'static str, Vec<RelProp>)> {
    use RelProp::*;
    let dir = |axis: char, word: &str| Direction {
        axis,
        word: word.to_string(),
    };
    let inv = |s: &str| Inverse(s.to_string());
    vec![
        (
            "north_of",
            vec![Transitive, Asymmetric, inv("south_of"), dir('y', "north")],
        ),
        (
            "south_of",
            vec![Transitive, Asymmetric, inv("north_of"), dir('y', "south")],
        ),
        (
            "east_of",
            vec![Transitive, Asymmetric, inv("west_of"), dir('x', "east")],
        ),
        (
            "west_of",
            vec![Transitive, Asymmetric, inv("east_of"), dir('x', "west")],
        ),
        (
            "left_of",
            vec![Transitive, Asymmetric, inv("right_of"), dir('x', "left")],
        ),
        (
            "right_of",
            vec![Transitive, Asymmetric, inv("left_of"), dir('x', "right")],
        ),
        (
            "above",
            vec![Transitive, Asymmetric, inv("below"), dir('y', "up")],
        ),
        (
            "below",
            vec![Transitive, Asymmetric, inv("above"), dir('y', "down")],
        ),
        ("parent_of", vec![Asymmetric, inv("child_of")]),
        ("child_of", vec![Asymmetric, inv("parent_of")]),
        (
            "ancestor_of",
            vec![Transitive, Asymmetric, inv("descendant_of")],
        ),
        (
            "descendant_of",
            vec![Transitive, Asymmetric, inv("ancestor_of")],
        ),
        (
            "bigger_than",
            vec![Transitive, Asymmetric, inv("smaller_than")],
        ),
        (
            "smaller_than",
            vec![Transitive, Asymmetric, inv("bigger_than")],
        ),
        (
            "older_than",
            vec![Transitive, Asymmetric, inv("younger_than")],
        ),
        (
            "younger_than",
            vec![Transitive, Asymmetric, inv("older_than")],
        ),
        ("sibling_of", vec![Symmetric]),
        ("married_to", vec![Symmetric]),
        ("next_to", vec![Symmetric]),
        ("adjacent_to", vec![Symmetric]),
        ("friend_of", vec![Symmetric]),
        ("interact_with", vec![Symmetric]),
        ("location", vec![Functional]),
    ]
}

/// Relation properties of one knowledge base.
#[derive(Clone, Debug)]
pub struct RelationProps {
    props: HashMap<String, Vec<RelProp>>,
}

impl Default for RelationProps {
    fn default() -> Self {
        let mut props = HashMap::new();
        for (rel, list) in builtin() {
            props.insert(rel.to_string(), list);
        }
        RelationProps { props }
    }
}

impl RelationProps {
    /// The built-in lexicon extended by property sentences ("Reports to is transitive.",
    /// "Treats is the opposite of treated by." — what `reasoning.relations` in the
    /// topology holds). An error names the sentence this engine cannot read as one.
    pub fn with_sentences<S: AsRef<str>>(sentences: &[S]) -> Result<RelationProps, String> {
        let mut props = RelationProps::default();
        for s in sentences {
            let s = s.as_ref();
            match super::parse::parse_statement(s).map(|p| p.statement) {
                Some(super::parse::Statement::Property { rel, prop }) => {
                    props.teach(&rel, prop);
                }
                _ => {
                    return Err(format!(
                        "{s:?} is not a relation property this engine reads; write one sentence per property of a relation phrase ending in a preposition, e.g. \"Reports to is transitive.\", \"Married to is symmetric.\", \"Assigned to is functional.\" or \"Parent of is the opposite of child of.\""
                    ))
                }
            }
        }
        Ok(props)
    }

    /// The properties of a relation.
    pub fn of(&self, rel: &str) -> &[RelProp] {
        self.props.get(rel).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Whether a relation has a property.
    pub fn has(&self, rel: &str, prop: &RelProp) -> bool {
        self.of(rel).contains(prop)
    }

    /// Teaches a property; an inverse is recorded both ways. False if already known.
    pub fn teach(&mut self, rel: &str, prop: RelProp) -> bool {
        if self.has(rel, &prop) {
            return false;
        }
        if let RelProp::Inverse(other) = &prop {
            let back = RelProp::Inverse(rel.to_string());
            if !self.has(other, &back) {
                self.props.entry(other.clone()).or_default().push(back);
            }
        }
        self.props.entry(rel.to_string()).or_default().push(prop);
        true
    }

    /// The direction word and axis of a directional relation.
    pub fn direction(&self, rel: &str) -> Option<(char, &str)> {
        self.of(rel).iter().find_map(|p| match p {
            RelProp::Direction { axis, word } => Some((*axis, word.as_str())),
            _ => None,
        })
    }

    /// The inverse of a relation, if it has one.
    pub fn inverse(&self, rel: &str) -> Option<&str> {
        self.of(rel).iter().find_map(|p| match p {
            RelProp::Inverse(s) => Some(s.as_str()),
            _ => None,
        })
    }

    /// Rules a property of `rel` stands for, as (description, body, head) over
    /// relation names with variables 0..3; `level` names the "level on axis" relation.
    pub fn rules_for(&self, rel: &str, prop: &RelProp) -> Vec<PropRule> {
        let shown = rel.replace('_', " ");
        let mut out = Vec::new();
        match prop {
            RelProp::Transitive => out.push(PropRule {
                text: format!("{shown} is transitive"),
                body: vec![(rel.into(), 0, 1, false), (rel.into(), 1, 2, false)],
                head: (rel.into(), 0, 2, false),
            }),
            RelProp::Symmetric => out.push(PropRule {
                text: format!("{shown} is symmetric"),
                body: vec![(rel.into(), 0, 1, false)],
                head: (rel.into(), 1, 0, false),
            }),
            RelProp::Asymmetric => out.push(PropRule {
                text: format!("{shown} is asymmetric"),
                body: vec![(rel.into(), 0, 1, false)],
                head: (rel.into(), 1, 0, true),
            }),
            RelProp::Inverse(other) => out.push(PropRule {
                text: format!("{shown} is the opposite of {}", other.replace('_', " ")),
                body: vec![(rel.into(), 0, 1, false)],
                head: (other.clone(), 1, 0, false),
            }),
            RelProp::Functional => {}
            RelProp::Direction { axis, .. } => {
                // Related along one axis: level on the other; a thing level (on this
                // axis) with one end shares the relation; level things are not related.
                // (Level on the other axis is a consequence of a *stated* direction
                // only, a direct neighbour: see `Kb::learn`; a derived one says
                // nothing about the other axis.)
                let own = level_rel(*axis);
                out.push(PropRule {
                    text: format!("a thing level with one {shown} another is {shown} it too"),
                    body: vec![(own.clone(), 0, 1, false), (rel.into(), 1, 2, false)],
                    head: (rel.into(), 0, 2, false),
                });
                out.push(PropRule {
                    text: format!("a thing {shown} another is {shown} what is level with it"),
                    body: vec![(rel.into(), 0, 1, false), (own.clone(), 1, 2, false)],
                    head: (rel.into(), 0, 2, false),
                });
                out.push(PropRule {
                    text: format!("things level on an axis are not {shown} each other"),
                    body: vec![(own, 0, 1, false)],
                    head: (rel.into(), 0, 1, true),
                });
            }
        }
        out
    }

    /// Rules of the "level on an axis" relation itself (symmetric, transitive).
    pub fn level_rules(axis: char) -> Vec<PropRule> {
        let level = level_rel(axis);
        vec![
            PropRule {
                text: "being level is symmetric".into(),
                body: vec![(level.clone(), 0, 1, false)],
                head: (level.clone(), 1, 0, false),
            },
            PropRule {
                text: "being level is transitive".into(),
                body: vec![(level.clone(), 0, 1, false), (level.clone(), 1, 2, false)],
                head: (level, 0, 2, false),
            },
        ]
    }
}

/// The relation "level on an axis" (same x: one column; same y: one row).
pub fn level_rel(axis: char) -> String {
    format!("level_{axis}")
}

/// A rule template from a relation property: (relation, subject var, object var, negated).
#[derive(Clone, Debug)]
pub struct PropRule {
    /// What it says.
    pub text: String,
    /// Conditions.
    pub body: Vec<(String, u8, u8, bool)>,
    /// Conclusion.
    pub head: (String, u8, u8, bool),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_pairs_are_known_both_ways_and_teachable() {
        let mut p = RelationProps::default();
        assert_eq!(p.inverse("north_of"), Some("south_of"));
        assert_eq!(p.inverse("below"), Some("above"));
        assert_eq!(p.direction("west_of"), Some(('x', "west")));
        assert!(p.teach("teacher_of", RelProp::Inverse("student_of".into())));
        assert_eq!(p.inverse("student_of"), Some("teacher_of"));
        assert!(!p.teach("teacher_of", RelProp::Inverse("student_of".into())));
        assert!(p.teach("ancestor_of", RelProp::Symmetric));
        assert_eq!(p.rules_for("ancestor_of", &RelProp::Transitive).len(), 1);
    }

    #[test]
    fn configured_sentences_extend_the_lexicon_and_errors_name_the_sentence() {
        let p = RelationProps::with_sentences(&[
            "Reports to is transitive.",
            "Mentor of is the opposite of mentee of.",
        ])
        .unwrap();
        assert!(
            // Named as a statement names it: "Ann reports to Bob." is `report_to`.
            p.has("report_to", &RelProp::Transitive),
            "{p:?}"
        );
        assert_eq!(p.inverse("mentee_of"), Some("mentor_of"));
        // The built-in lexicon is still there.
        assert_eq!(p.inverse("below"), Some("above"));
        let e = RelationProps::with_sentences(&["Bob likes tea."]).unwrap_err();
        assert!(
            e.contains("\"Bob likes tea.\"") && e.contains("is transitive"),
            "{e}"
        );
    }
}

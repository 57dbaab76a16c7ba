//! Facts that change over time: each functional relation of a thing ("location") has a
//! history of stints, the last one holding now; things held move with their holder and
//! stay where they were let go.

use std::collections::HashMap;

/// One value of a functional relation over an interval of learn order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stint {
    /// The value (a key: "kitchen").
    pub value: String,
    /// Learn order it starts at (it ends where the next stint starts).
    pub from: u64,
    /// The sentence occurrences it rests on (for a carried object: the taking and the
    /// holder's move).
    pub sources: Vec<u64>,
}

/// The relation things are carried along.
pub const LOCATION: &str = "location";

/// Histories of functional relations and who holds what.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    stints: HashMap<(String, String), Vec<Stint>>,
    /// What is held -> (holder, the occurrence of the taking).
    holder: HashMap<String, (String, u64)>,
}

impl Timeline {
    /// The history of `rel` for `who`, oldest first.
    pub fn history(&self, rel: &str, who: &str) -> &[Stint] {
        self.stints
            .get(&(rel.to_string(), who.to_string()))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The value that holds now.
    pub fn current(&self, rel: &str, who: &str) -> Option<&Stint> {
        self.history(rel, who).last()
    }

    /// The stint before the latest stint with `value`, and that one.
    pub fn before(&self, rel: &str, who: &str, value: &str) -> Option<(&Stint, &Stint)> {
        let h = self.history(rel, who);
        let i = h.iter().rposition(|s| s.value == value)?;
        (i > 0).then(|| (&h[i - 1], &h[i]))
    }

    /// Who holds `what` now.
    pub fn holder(&self, what: &str) -> Option<&str> {
        self.holder.get(what).map(|(h, _)| h.as_str())
    }

    fn push(&mut self, rel: &str, who: &str, value: &str, at: u64, sources: Vec<u64>) {
        self.stints
            .entry((rel.to_string(), who.to_string()))
            .or_default()
            .push(Stint {
                value: value.to_string(),
                from: at,
                sources,
            });
    }

    /// A new value of a functional relation; what `who` holds moves along.
    pub fn change(&mut self, rel: &str, who: &str, value: &str, token: u64, at: u64) {
        self.push(rel, who, value, at, vec![token]);
        if rel == LOCATION {
            self.carry(who, at, 0);
        }
    }

    /// Moves what `who` holds to where `who` is now (and what that holds, a few levels).
    fn carry(&mut self, who: &str, at: u64, depth: usize) {
        if depth > 8 {
            return;
        }
        let Some(place) = self.current(LOCATION, who).cloned() else {
            return;
        };
        let held: Vec<(String, u64)> = self
            .holder
            .iter()
            .filter(|(_, (h, _))| h == who)
            .map(|(what, (_, tok))| (what.clone(), *tok))
            .collect();
        for (what, took) in held {
            let mut sources = vec![took];
            sources.extend(&place.sources);
            self.push(LOCATION, &what, &place.value, at, sources);
            self.carry(&what, at, depth + 1);
        }
    }

    /// `who` takes hold of `what`: it is where `who` is, and moves with them.
    pub fn take(&mut self, who: &str, what: &str, token: u64, at: u64) {
        self.holder
            .insert(what.to_string(), (who.to_string(), token));
        if let Some(place) = self.current(LOCATION, who).cloned() {
            let mut sources = vec![token];
            sources.extend(&place.sources);
            self.push(LOCATION, what, &place.value, at, sources);
        }
    }

    /// `who` lets go of `what`: it stays where `who` is now.
    pub fn release(&mut self, who: &str, what: &str, token: u64, at: u64) {
        if self.holder.get(what).is_some_and(|(h, _)| h == who) {
            self.holder.remove(what);
        }
        if let Some(place) = self.current(LOCATION, who).cloned() {
            let mut sources = vec![token];
            sources.extend(&place.sources);
            self.push(LOCATION, what, &place.value, at, sources);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_later_value_supersedes_and_the_earlier_stays_as_history() {
        let mut t = Timeline::default();
        t.change(LOCATION, "mary", "bathroom", 1, 1);
        t.change(LOCATION, "mary", "garden", 2, 2);
        t.change(LOCATION, "mary", "kitchen", 3, 3);
        assert_eq!(t.current(LOCATION, "mary").unwrap().value, "kitchen");
        let (prev, at) = t.before(LOCATION, "mary", "garden").unwrap();
        assert_eq!(
            (prev.value.as_str(), at.value.as_str()),
            ("bathroom", "garden")
        );
        assert!(t.before(LOCATION, "mary", "bathroom").is_none());
        assert_eq!(t.history(LOCATION, "mary").len(), 3);
    }

    #[test]
    fn held_things_move_with_the_holder_until_dropped() {
        let mut t = Timeline::default();
        t.take("john", "football", 1, 1);
        assert!(t.current(LOCATION, "football").is_none());
        t.change(LOCATION, "john", "hallway", 2, 2);
        let s = t.current(LOCATION, "football").unwrap();
        assert_eq!(
            (s.value.as_str(), s.sources.clone()),
            ("hallway", vec![1, 2])
        );
        t.release("john", "football", 3, 3);
        t.change(LOCATION, "john", "garden", 4, 4);
        let s = t.current(LOCATION, "football").unwrap();
        assert_eq!(
            (s.value.as_str(), s.sources.clone()),
            ("hallway", vec![3, 2])
        );
        assert_eq!(t.holder("football"), None);
    }
}

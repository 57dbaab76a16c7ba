//! One side of a concept's associations, sorted by (kind, negated, other end).
//!
//! Most concepts have a handful of associations: those lists are a shared `Vec`, compact
//! and cheap to copy when a fold changes them. A hub ("recorded", "mammal", a country)
//! can gather millions; past [`LARGE`] entries its list becomes a persistent ordered map,
//! so an insert costs O(log n) instead of a memmove of the whole list, and a fold that
//! changes it copies a path of the tree instead of the list (older snapshots keep
//! sharing the rest).

use super::{AssocType, Association, ConceptId, Side};
use serde::{Serialize, Serializer};
use std::sync::Arc;

/// Lists longer than this are kept as a persistent ordered map.
pub const LARGE: usize = 512;

/// The sort key of an association in a list on `side`.
pub type AssocKey = (AssocType, bool, ConceptId);

/// The key of `a` in a list on `side` (the other end is the target for outgoing lists,
/// the source for incoming ones).
pub fn key_of(a: &Association, side: Side) -> AssocKey {
    let other = match side {
        Side::Out => a.target,
        Side::In => a.source,
    };
    (a.kind, a.negated, other)
}

/// One side of a concept's associations.
///
/// Invariant: iteration yields associations in ascending key order, whatever the
/// representation; `Empty` is the only empty form (no allocation for leaf concepts).
#[derive(Clone, Debug, Default)]
pub enum AssocList {
    /// No associations.
    #[default]
    Empty,
    /// Up to [`LARGE`] associations in a sorted, shared vector.
    Small(Arc<Vec<Association>>),
    /// More, in a persistent ordered map.
    Large(Box<imbl::OrdMap<AssocKey, Association>>),
}

/// The empty list, for lookups of concepts a shard does not hold.
pub static EMPTY: AssocList = AssocList::Empty;

impl AssocList {
    /// A list from associations already sorted by key (as checkpoints store them).
    pub fn from_sorted(list: Vec<Association>, side: Side) -> Self {
        debug_assert!(list
            .windows(2)
            .all(|w| key_of(&w[0], side) < key_of(&w[1], side)));
        match list.len() {
            0 => AssocList::Empty,
            n if n > LARGE => AssocList::Large(Box::new(
                list.into_iter().map(|a| (key_of(&a, side), a)).collect(),
            )),
            _ => AssocList::Small(Arc::new(list)),
        }
    }

    /// Number of associations.
    pub fn len(&self) -> usize {
        match self {
            AssocList::Empty => 0,
            AssocList::Small(v) => v.len(),
            AssocList::Large(m) => m.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The associations in key order.
    pub fn iter(&self) -> Iter<'_> {
        match self {
            AssocList::Empty => Iter::Small([].iter()),
            AssocList::Small(v) => Iter::Small(v.iter()),
            AssocList::Large(m) => Iter::Large(m.values(), m.len()),
        }
    }

    /// A copy as a vector, in key order.
    pub fn to_vec(&self) -> Vec<Association> {
        self.iter().cloned().collect()
    }

    /// Reinforces the association with `key` through `reinforce`, or inserts `make()`;
    /// true if it was inserted.
    pub fn upsert(
        &mut self,
        key: AssocKey,
        side: Side,
        reinforce: impl FnOnce(&mut Association),
        make: impl FnOnce() -> Association,
    ) -> bool {
        match self {
            AssocList::Empty => {
                *self = AssocList::Small(Arc::new(vec![make()]));
                true
            }
            AssocList::Small(v) => match v.binary_search_by(|a| key_of(a, side).cmp(&key)) {
                Ok(i) => {
                    reinforce(&mut Arc::make_mut(v)[i]);
                    false
                }
                Err(i) => {
                    Arc::make_mut(v).insert(i, make());
                    if v.len() > LARGE {
                        let list = std::mem::take(Arc::make_mut(v));
                        *self = AssocList::Large(Box::new(
                            list.into_iter().map(|a| (key_of(&a, side), a)).collect(),
                        ));
                    }
                    true
                }
            },
            AssocList::Large(m) => match m.get_mut(&key) {
                Some(a) => {
                    reinforce(a);
                    false
                }
                None => {
                    m.insert(key, make());
                    true
                }
            },
        }
    }

    /// Removes the association with `key`; true if there was one.
    pub fn remove(&mut self, key: AssocKey, side: Side) -> bool {
        self.edit(key, side, |_| true)
    }

    /// Changes the association with `key` through `edit`, which returns whether the
    /// association should go; true if one was removed.
    pub fn edit(
        &mut self,
        key: AssocKey,
        side: Side,
        edit: impl FnOnce(&mut Association) -> bool,
    ) -> bool {
        let removed = match self {
            AssocList::Empty => false,
            AssocList::Small(v) => match v.binary_search_by(|a| key_of(a, side).cmp(&key)) {
                Ok(i) => {
                    let list = Arc::make_mut(v);
                    let gone = edit(&mut list[i]);
                    if gone {
                        list.remove(i);
                    }
                    gone
                }
                Err(_) => false,
            },
            AssocList::Large(m) => match m.get_mut(&key) {
                Some(a) => {
                    let gone = edit(a);
                    if gone {
                        m.remove(&key);
                    }
                    gone
                }
                None => false,
            },
        };
        if removed && self.is_empty() {
            *self = AssocList::Empty;
        }
        removed
    }
}

impl PartialEq for AssocList {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<'a> IntoIterator for &'a AssocList {
    type Item = &'a Association;
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// Serialized as a plain sequence, exactly like the `Vec` it replaced, so checkpoints
/// keep their format.
impl Serialize for AssocList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

/// Iterator over an [`AssocList`] in key order.
pub enum Iter<'a> {
    /// Over a vector.
    Small(std::slice::Iter<'a, Association>),
    /// Over a map, with the count still to come.
    Large(
        imbl::ordmap::Values<'a, AssocKey, Association, imbl::shared_ptr::DefaultSharedPtr>,
        usize,
    ),
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a Association;
    fn next(&mut self) -> Option<&'a Association> {
        match self {
            Iter::Small(it) => it.next(),
            Iter::Large(it, left) => {
                let next = it.next();
                *left -= usize::from(next.is_some());
                next
            }
        }
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Iter::Small(it) => it.size_hint(),
            Iter::Large(_, left) => (*left, Some(*left)),
        }
    }
}

impl ExactSizeIterator for Iter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn assoc(target: u64, kind: AssocType) -> Association {
        Association {
            source: ConceptId(1),
            target: ConceptId(target),
            kind,
            negated: false,
            confidence: 0.5,
            strength: 1.0,
            evidence: 1,
            provenance: Vec::new(),
            created_ms: 0,
            updated_ms: 0,
        }
    }

    /// Inserts `targets` (each once, then each again as reinforcement) into a list.
    fn build(targets: &[u64]) -> AssocList {
        let mut l = AssocList::default();
        for round in 0..2 {
            for &t in targets {
                let a = assoc(t, AssocType::IsA);
                let added = l.upsert(key_of(&a, Side::Out), Side::Out, |x| x.evidence += 1, || a);
                assert_eq!(added, round == 0);
            }
        }
        l
    }

    #[test]
    fn crossing_the_threshold_keeps_order_and_content() {
        // A scrambled order of 0..n.
        let n = LARGE as u64 * 3;
        let targets: Vec<u64> = (0..n).map(|i| (i * 7919) % n).collect();
        let l = build(&targets);
        assert!(matches!(l, AssocList::Large(_)));
        assert_eq!(l.len(), n as usize);
        assert_eq!(l.iter().len(), n as usize);
        let got: Vec<u64> = l.iter().map(|a| a.target.0).collect();
        assert_eq!(got, (0..n).collect::<Vec<_>>());
        assert!(l.iter().all(|a| a.evidence == 2));
        // The same associations as a small list compare equal, and round-trip.
        let back = AssocList::from_sorted(l.to_vec(), Side::Out);
        assert_eq!(back, l);
        let small = build(&targets[..10]);
        assert!(matches!(small, AssocList::Small(_)));
        assert_ne!(small, l);
    }

    #[test]
    fn removal_down_to_empty() {
        for n in [3u64, LARGE as u64 + 5] {
            let mut l = build(&(0..n).collect::<Vec<_>>());
            let key = |t: u64| (AssocType::IsA, false, ConceptId(t));
            assert!(!l.remove(key(n + 1), Side::Out));
            for t in 0..n {
                assert!(l.remove(key(t), Side::Out), "{t} of {n}");
            }
            assert!(matches!(l, AssocList::Empty));
            assert_eq!(l.iter().count(), 0);
        }
    }

    #[test]
    fn serializes_like_a_vector() {
        for n in [0u64, 4, LARGE as u64 + 1] {
            let l = build(&(0..n).collect::<Vec<_>>());
            assert_eq!(
                crate::protocol::codec::encode(&l),
                crate::protocol::codec::encode(&l.to_vec())
            );
        }
    }

    #[test]
    fn a_clone_is_unchanged_by_later_inserts() {
        let mut l = build(&(0..LARGE as u64 + 10).collect::<Vec<_>>());
        let before = l.clone();
        let a = assoc(1_000_000, AssocType::PartOf);
        l.upsert(key_of(&a, Side::Out), Side::Out, |_| {}, || a);
        assert_eq!(before.len() + 1, l.len());
    }
}

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
use std::ops::Range;
use std::sync::{Arc, OnceLock};

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
    /// As a checkpoint stores it, decoded on first use: slot `.1` of an
    /// [`EncodedLists`]. A restart reads millions of association copies, most of which
    /// no question touches soon.
    Lazy(Arc<EncodedLists>, u32),
}

/// The association lists of one checkpoint payload, still in their encoding (each a
/// sorted `Vec<Association>` as [`crate::protocol::codec`] writes it), each decoded on
/// first read. One allocation holds every list's slot, so a restart allocates nothing
/// per list; the payload is freed when no list refers to it any more.
///
/// Invariant: a slot's `decoded` is set at most once, from its bytes.
pub struct EncodedLists {
    payload: Vec<u8>,
    slots: Vec<Slot>,
}

struct Slot {
    range: Range<usize>,
    len: usize,
    side: Side,
    decoded: OnceLock<AssocList>,
}

/// Collects the lists of a payload while it is read ([`EncodedListsBuilder::add`]),
/// then takes the payload ([`EncodedListsBuilder::finish`]).
#[derive(Default)]
pub struct EncodedListsBuilder {
    slots: Vec<Slot>,
}

impl EncodedListsBuilder {
    /// Adds the list of `len` associations on `side` encoded in `range` of the payload;
    /// returns its slot, or `None` for an empty list.
    pub fn add(&mut self, range: Range<usize>, len: usize, side: Side) -> Option<u32> {
        if len == 0 {
            return None;
        }
        let slot = u32::try_from(self.slots.len()).expect("fewer than 2^32 lists per shard");
        self.slots.push(Slot {
            range,
            len,
            side,
            decoded: OnceLock::new(),
        });
        Some(slot)
    }

    /// The lists, holding `payload` (every range added must lie inside it).
    pub fn finish(self, payload: Vec<u8>) -> Arc<EncodedLists> {
        debug_assert!(self.slots.iter().all(|s| s.range.end <= payload.len()));
        Arc::new(EncodedLists {
            payload,
            slots: self.slots,
        })
    }
}

impl EncodedLists {
    /// The list in `slot` (from [`EncodedListsBuilder::add`]; `None`: empty).
    pub fn list(self: &Arc<Self>, slot: Option<u32>) -> AssocList {
        match slot {
            Some(i) => AssocList::Lazy(Arc::clone(self), i),
            None => AssocList::Empty,
        }
    }

    /// Decodes slot `i`'s bytes.
    ///
    /// Panics if they do not decode: they passed the checkpoint's checksum and were
    /// written by this version's encoder, so that is a bug, not bad input.
    fn decode(&self, i: u32) -> AssocList {
        let slot = &self.slots[i as usize];
        let list: Vec<Association> =
            crate::protocol::codec::decode(&self.payload[slot.range.clone()]).unwrap_or_else(|e| {
                panic!("a checksummed checkpoint's association list does not decode: {e}")
            });
        debug_assert_eq!(list.len(), slot.len);
        AssocList::from_sorted(list, slot.side)
    }

    /// Slot `i`'s list, decoded on first use (once, for every snapshot sharing it).
    fn get(&self, i: u32) -> &AssocList {
        self.slots[i as usize]
            .decoded
            .get_or_init(|| self.decode(i))
    }

    /// Slot `i`'s bytes, if it was not decoded yet (a checkpoint copies them as they
    /// are).
    fn raw(&self, i: u32) -> Option<&[u8]> {
        let slot = &self.slots[i as usize];
        slot.decoded
            .get()
            .is_none()
            .then(|| &self.payload[slot.range.clone()])
    }
}

impl std::fmt::Debug for EncodedLists {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncodedLists")
            .field("bytes", &self.payload.len())
            .field("lists", &self.slots.len())
            .finish()
    }
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

    /// Appends the list's encoding (a `Vec<Association>`) to `out`: an undecoded list's
    /// bytes as they are, without decoding them.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        if let AssocList::Lazy(lists, i) = self {
            if let Some(raw) = lists.raw(*i) {
                out.extend_from_slice(raw);
                return;
            }
        }
        crate::protocol::codec::encode_into(self, out);
    }

    /// Whether the list is still undecoded (see [`AssocList::Lazy`]).
    pub fn is_encoded(&self) -> bool {
        matches!(self, AssocList::Lazy(lists, i) if lists.raw(*i).is_some())
    }

    /// Turns a lazy list into its decoded form before a change. Not yet decoded: a
    /// fresh decode this list owns (the shared slot stays undecoded, so memory does not
    /// hold the list twice); decoded: a clone of the shared list (cheap: the change then
    /// copies what it touches, as for any list a snapshot shares).
    fn materialize(&mut self) {
        if let AssocList::Lazy(lists, i) = self {
            *self = match lists.raw(*i) {
                Some(_) => lists.decode(*i),
                None => lists.get(*i).clone(),
            };
        }
    }

    /// Number of associations.
    pub fn len(&self) -> usize {
        match self {
            AssocList::Empty => 0,
            AssocList::Small(v) => v.len(),
            AssocList::Large(m) => m.len(),
            AssocList::Lazy(lists, i) => lists.slots[*i as usize].len,
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
            AssocList::Lazy(lists, i) => lists.get(*i).iter(),
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
        self.materialize();
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
            AssocList::Lazy(..) => unreachable!("materialized above"),
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
        self.materialize();
        let removed = match self {
            AssocList::Empty | AssocList::Lazy(..) => false,
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

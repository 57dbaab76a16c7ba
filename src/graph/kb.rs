//! Knowledge bases: named, isolated bodies of knowledge (SPEC §2).
//!
//! A knowledge base is a namespace inside the existing shards, not a store of its own:
//! its concepts are spread over the shards by id like any other, and each shard keeps a
//! small index of which of its nodes belong to which knowledge base
//! ([`crate::graph::GraphSnapshot`]). So thousands of small knowledge bases cost no
//! files, threads or actors, only a few map entries each.
//!
//! The `default` knowledge base is implicit: every node not tagged with another one.
//! Data written before knowledge bases existed is therefore the `default` one, with
//! the same ids and the same bytes on disk.

use serde::{Deserialize, Serialize};

/// The knowledge base of requests that name none.
pub const DEFAULT_KB: &str = "default";

/// Longest knowledge base name, in bytes.
pub const MAX_NAME: usize = 64;

/// Checks a knowledge base name: 1 to 64 characters, each an ASCII letter, digit, `_`,
/// `.` or `-`. The error says the rule.
pub fn validate(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        let shown: String = name.chars().take(80).collect();
        Err(format!(
            "'{shown}' is not a knowledge base name: use 1 to {MAX_NAME} characters, each an ASCII letter, digit, '_', '.' or '-' (for example ?kb=client-42)"
        ))
    }
}

/// A knowledge base's 64-bit tag (a fixed hash of its name), which shards store per
/// node instead of the name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct KbTag(pub u64);

impl KbTag {
    /// The tag of the knowledge base named `name`.
    pub fn of(name: &str) -> Self {
        let mut buf = Vec::with_capacity(3 + name.len());
        buf.extend_from_slice(b"kb\0");
        buf.extend_from_slice(name.as_bytes());
        KbTag(xxhash_rust::xxh3::xxh3_64(&buf))
    }

    /// The key under which an entity of this knowledge base whose name's stems hash to
    /// `stems` is kept in a shard's stem index. The `default` knowledge base uses the
    /// stem hash itself (unchanged from before knowledge bases existed).
    pub fn stem_key(tag: Option<KbTag>, stems: u64) -> u64 {
        match tag {
            None => stems,
            Some(t) => {
                let mut buf = [0u8; 16];
                buf[..8].copy_from_slice(&t.0.to_le_bytes());
                buf[8..].copy_from_slice(&stems.to_le_bytes());
                xxhash_rust::xxh3::xxh3_64(&buf)
            }
        }
    }

    /// The tag of `name`, or `None` for the `default` knowledge base.
    pub fn named(name: &str) -> Option<Self> {
        (name != DEFAULT_KB).then(|| KbTag::of(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_stated_rule() {
        for good in ["default", "a", "client-42", "story_7.v2", &"x".repeat(64)] {
            assert!(validate(good).is_ok(), "{good}");
        }
        for bad in ["", "a b", "ünï", "a/b", "a?b", "a\0b", &"x".repeat(65)] {
            let e = validate(bad).unwrap_err();
            assert!(e.contains("1 to 64"), "{e}");
        }
    }

    #[test]
    fn tags_and_stem_keys_are_stable_and_distinct() {
        assert_eq!(KbTag::of("a"), KbTag::of("a"));
        assert_ne!(KbTag::of("a"), KbTag::of("b"));
        assert_eq!(KbTag::named(DEFAULT_KB), None);
        assert_eq!(KbTag::stem_key(None, 42), 42);
        assert_ne!(KbTag::stem_key(Some(KbTag::of("a")), 42), 42);
        assert_ne!(
            KbTag::stem_key(Some(KbTag::of("a")), 42),
            KbTag::stem_key(Some(KbTag::of("b")), 42)
        );
    }
}

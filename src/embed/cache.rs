//! An LRU cache of embeddings keyed by normalized text.

use lru::LruCache;
use std::num::NonZeroUsize;
use std::sync::Arc;

/// The cache key of a text: case, surrounding and repeated whitespace do not change an
/// embedding enough to matter for search, and folding them raises the hit rate.
pub fn cache_key(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Embeddings by normalized text, least recently used evicted first.
pub struct EmbeddingCache {
    map: Option<LruCache<String, Arc<[f32]>>>,
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that needed the model.
    pub misses: u64,
}

impl EmbeddingCache {
    /// A cache of at most `entries` embeddings (0 disables caching).
    pub fn new(entries: usize) -> Self {
        EmbeddingCache {
            map: NonZeroUsize::new(entries).map(LruCache::new),
            hits: 0,
            misses: 0,
        }
    }

    /// The cached embedding of `key`, counting the hit or miss.
    pub fn get(&mut self, key: &str) -> Option<Arc<[f32]>> {
        let found = self.map.as_mut().and_then(|m| m.get(key).cloned());
        if found.is_some() {
            self.hits += 1;
        } else {
            self.misses += 1;
        }
        found
    }

    /// Stores an embedding.
    pub fn put(&mut self, key: String, vector: Arc<[f32]>) {
        if let Some(m) = self.map.as_mut() {
            m.put(key, vector);
        }
    }

    /// Embeddings held.
    pub fn len(&self) -> usize {
        self.map.as_ref().map_or(0, |m| m.len())
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_fold_case_and_spacing() {
        assert_eq!(cache_key("  The  Eiffel\tTower "), "the eiffel tower");
    }

    #[test]
    fn evicts_least_recently_used_and_counts() {
        let mut c = EmbeddingCache::new(2);
        c.put("a".into(), Arc::from(vec![1.0]));
        c.put("b".into(), Arc::from(vec![2.0]));
        assert!(c.get("a").is_some()); // a is now the most recent
        c.put("c".into(), Arc::from(vec![3.0]));
        assert!(c.get("b").is_none());
        assert_eq!(&*c.get("c").unwrap(), &[3.0]);
        assert_eq!((c.hits, c.misses), (2, 1));
        let mut off = EmbeddingCache::new(0);
        off.put("a".into(), Arc::from(vec![1.0]));
        assert!(off.get("a").is_none());
        assert!(off.is_empty());
    }
}

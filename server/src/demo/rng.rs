//! The seeded random source: one splitmix64 stream for the plan and one per grid, so the same
//! size and `now` give the same data whatever the thread that generates a grid.

use sync_core::ids::{DocId, ItemId};
use sync_core::time::Timestamp;

/// splitmix64: small, fast, and good enough for demo data.
#[derive(Debug, Clone)]
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn derive(seed: u64, stream: u64) -> Self {
        let mut r = Self(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
        r.next();
        r
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub(super) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n.max(1))) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub(super) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    pub(super) fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    pub(super) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(super) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub(super) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.index(items.len())]
    }

    pub(super) fn weighted<T: Copy>(&mut self, items: &[(T, u32)]) -> T {
        let total: u64 = items.iter().map(|(_, w)| u64::from(*w)).sum();
        let mut x = self.below(total);
        for (item, w) in items {
            if x < u64::from(*w) {
                return *item;
            }
            x -= u64::from(*w);
        }
        items[items.len() - 1].0
    }

    /// A duration between `lo` and `hi` milliseconds, log-uniform (many short, some long).
    pub(super) fn span(&mut self, lo: i64, hi: i64) -> i64 {
        let (lo, hi) = (lo.max(1) as f64, hi.max(lo + 1) as f64);
        (lo * (hi / lo).powf(self.unit())) as i64
    }

    /// A UUIDv7 for something made at `at`.
    pub(super) fn uuid_at(&mut self, at: Timestamp) -> uuid::Uuid {
        let mut bytes = [0u8; 10];
        bytes[..8].copy_from_slice(&self.next().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next().to_le_bytes()[..2]);
        uuid::Builder::from_unix_timestamp_millis(u64::try_from(at.millis()).unwrap_or(0), &bytes)
            .into_uuid()
    }

    pub(super) fn doc_id(&mut self, at: Timestamp) -> DocId {
        DocId::from_uuid(self.uuid_at(at))
    }

    pub(super) fn item_id(&mut self, at: Timestamp) -> ItemId {
        ItemId::from_uuid(self.uuid_at(at))
    }
}

/// The seed of every stream: stream 1 makes the plan, stream 1000 + g grid g.
pub(super) const SEED: u64 = 0x4845_5049_4E47_2022; // "HEPING 2022"

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_deterministic_and_in_range() {
        let mut a = Rng::derive(SEED, 7);
        let mut b = Rng::derive(SEED, 7);
        for _ in 0..1000 {
            let x = a.range(10, 20);
            assert_eq!(x, b.range(10, 20));
            assert!((10..=20).contains(&x));
        }
    }
}

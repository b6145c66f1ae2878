//! When generated things happen.
//!
//! All generated instants lie in a fixed past range, so a seed always yields
//! the same data. Besides an ordinary spread they are deliberately tie-prone:
//! some land on whole minutes or hours (scheduled jobs) and some share the
//! exact second of a bulk-update burst, which exercises clients whose page
//! holds fewer records than one second.

use crate::rng::Rng;

/// 2023-01-01T00:00:00Z, the first instant of generated data.
pub(crate) const RANGE_START: i64 = 1_672_531_200;
/// 2024-12-31T23:59:59Z, the last instant of generated data.
pub(crate) const RANGE_END: i64 = 1_735_689_599;
/// 2024-06-30T23:59:59Z: generated customers exist before this, so their
/// orders have time to happen.
pub(crate) const CUSTOMERS_UNTIL: i64 = 1_719_791_999;

const DAY: i64 = 86_400;

/// A bulk update: a share of a stream's records all get the same second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Burst {
    /// The shared instant.
    pub at: i64,
    /// Probability that an eligible record (created before `at`) joins.
    pub share: f64,
}

/// Streams with more records than this get a main burst of well over 1000 records.
const LARGE_STREAM: usize = 5_000;
/// Records the main burst aims for in a large stream (before eligibility losses).
const MAIN_BURST_TARGET: f64 = 1_500.0;

/// The bursts of a stream of `n` records: a main one late in the range
/// (2024-11-29T06:00:00Z, at least 5% of the stream and, for streams above
/// 5000 records, comfortably more than 1000 records) and two smaller ones.
pub(crate) fn bursts(n: usize) -> [Burst; 3] {
    let main_share = if n > LARGE_STREAM {
        (MAIN_BURST_TARGET / n as f64).clamp(0.05, 0.5)
    } else {
        0.05
    };
    [
        Burst {
            at: 1_732_860_000,
            share: main_share,
        },
        Burst {
            at: 1_710_505_800,
            share: 0.02,
        },
        Burst {
            at: 1_688_169_600,
            share: 0.01,
        },
    ]
}

/// A creation instant uniformly in `[from, until]`, sometimes snapped to a
/// whole minute or hour.
pub(crate) fn instant_between(rng: &mut Rng, from: i64, until: i64) -> i64 {
    let t = rng.between(from, until.max(from));
    snap(rng, t).clamp(from, until.max(from))
}

/// Snaps a share of instants to whole minutes (25%) or hours (10%) for ties.
fn snap(rng: &mut Rng, t: i64) -> i64 {
    let roll = rng.unit();
    if roll < 0.10 {
        t - t.rem_euclid(3600)
    } else if roll < 0.35 {
        t - t.rem_euclid(60)
    } else {
        t
    }
}

/// The last-modification instant of a record created at `created`: a burst
/// it joins, or a later instant within the range (some records never change).
pub(crate) fn updated_after_creation(rng: &mut Rng, created: i64, bursts: &[Burst]) -> i64 {
    for burst in bursts {
        // Always draw, so a record's other values don't depend on eligibility.
        let joins = rng.chance(burst.share);
        if joins && created <= burst.at {
            return burst.at;
        }
    }
    if rng.chance(0.2) {
        return created;
    }
    let horizon = if rng.chance(0.7) { 7 * DAY } else { 180 * DAY };
    let later = created + rng.between(60, horizon);
    snap(rng, later).clamp(created, RANGE_END.max(created))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_streams_have_a_main_burst_of_more_than_a_thousand_records() {
        for n in [5_001, 20_000, 1_000_000] {
            let main = bursts(n)[0];
            let mut joined = 0;
            for i in 0..n as u64 {
                let mut rng = Rng::keyed(42, crate::rng::Purpose::Order, i);
                let created = instant_between(&mut rng, RANGE_START, RANGE_END);
                if updated_after_creation(&mut rng, created, &bursts(n)) == main.at {
                    joined += 1;
                }
            }
            assert!(joined > 1_000, "n={n}: {joined}");
        }
    }

    #[test]
    fn updates_never_precede_creation_nor_leave_the_range() {
        let b = bursts(100);
        for i in 0..20_000 {
            let mut rng = Rng::keyed(7, crate::rng::Purpose::Customer, i);
            let created = instant_between(&mut rng, RANGE_START, RANGE_END);
            let updated = updated_after_creation(&mut rng, created, &b);
            assert!(created <= updated && updated <= RANGE_END);
            assert!(created >= RANGE_START);
        }
    }
}

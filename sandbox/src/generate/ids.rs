//! Record ids: unique, random-looking, reproducible per seed.

use crate::rng::{Purpose, mix64, permute48};
use crate::stream::Stream;

/// Numeric id of the `ordinal`-th record of a stream (0-based, generated and
/// inserted records alike). Distinct ordinals give distinct ids.
pub(crate) fn record_id(seed: u64, stream: Stream, ordinal: u64) -> u64 {
    permute48(ordinal, mix64(seed ^ (u64::from(stream.code()) << 56)))
}

/// Numeric id of line `line` (< 8) of order `order_ordinal`.
pub(crate) fn line_item_id(seed: u64, order_ordinal: u64, line: u64) -> u64 {
    debug_assert!(line < 8);
    permute48(order_ordinal * 8 + line, mix64(seed ^ Purpose::Ids as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_differ_across_streams_and_seeds() {
        assert_ne!(
            record_id(1, Stream::Orders, 0),
            record_id(1, Stream::Customers, 0)
        );
        assert_ne!(
            record_id(1, Stream::Orders, 0),
            record_id(2, Stream::Orders, 0)
        );
        assert_eq!(
            record_id(1, Stream::Orders, 5),
            record_id(1, Stream::Orders, 5)
        );
    }
}

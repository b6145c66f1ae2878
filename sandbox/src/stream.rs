//! The four record streams the API lists.

use std::fmt;

/// One list endpoint's record type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Stream {
    Customers,
    Products,
    Orders,
    OrderEvents,
}

impl Stream {
    /// Every stream, in a fixed order.
    pub(crate) const ALL: [Stream; 4] = [
        Stream::Customers,
        Stream::Products,
        Stream::Orders,
        Stream::OrderEvents,
    ];

    /// The stream's name as used in paths, scopes and `Faults::forbidden_streams`.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Stream::Customers => "customers",
            Stream::Products => "products",
            Stream::Orders => "orders",
            Stream::OrderEvents => "order_events",
        }
    }

    /// The JSON property holding a record's id.
    pub(crate) const fn id_field(self) -> &'static str {
        match self {
            Stream::OrderEvents => "event_id",
            _ => "id",
        }
    }

    /// The OAuth scope that grants reading the stream, e.g. `customers:read`.
    pub(crate) const fn scope(self) -> &'static str {
        match self {
            Stream::Customers => "customers:read",
            Stream::Products => "products:read",
            Stream::Orders => "orders:read",
            Stream::OrderEvents => "order_events:read",
        }
    }

    /// Whether the stream is paginated by keyset (page tokens) rather than page numbers.
    pub(crate) const fn is_keyset(self) -> bool {
        matches!(self, Stream::Customers | Stream::OrderEvents)
    }

    /// A small distinct number, used to key per-stream random streams and tokens.
    pub(crate) const fn code(self) -> u8 {
        match self {
            Stream::Customers => 1,
            Stream::Products => 2,
            Stream::Orders => 3,
            Stream::OrderEvents => 4,
        }
    }

    /// Inverse of [`Stream::code`].
    pub(crate) fn from_code(code: u8) -> Option<Stream> {
        Stream::ALL.into_iter().find(|s| s.code() == code)
    }
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for s in Stream::ALL {
            assert_eq!(Stream::from_code(s.code()), Some(s));
        }
        assert_eq!(Stream::from_code(0), None);
    }
}

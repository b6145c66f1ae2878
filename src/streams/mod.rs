//! The streams this source reads. Each file declares one stream: what is
//! particular to it (path, how it pages, its cursor, its schema) and nothing
//! that every stream shares; the walks themselves live in `crate::read`.

use chrono::TimeDelta;

mod customers;
mod order_events;
mod orders;
mod products;

pub use customers::CUSTOMERS;
pub use order_events::ORDER_EVENTS;
pub use orders::ORDERS;
pub use products::PRODUCTS;

/// Every stream, in the order `discover` lists them.
pub const ALL: [&StreamDef; 4] = [&CUSTOMERS, &PRODUCTS, &ORDERS, &ORDER_EVENTS];

/// Finds a stream by name.
pub fn find(name: &str) -> Option<&'static StreamDef> {
    ALL.into_iter().find(|s| s.name == name)
}

/// A stream's declaration.
#[derive(Debug)]
pub struct StreamDef {
    /// The stream's name in the catalog.
    pub name: &'static str,
    /// The list endpoint, under the base URL.
    pub path: &'static str,
    /// The JSON schema of a record (draft-07), without custom fields.
    pub schema: &'static str,
    /// The field that identifies a record.
    pub primary_key: &'static str,
    /// The instant that orders records and that incremental syncs follow.
    pub cursor_field: &'static str,
    /// How the endpoint pages, which decides how the stream is walked.
    pub walk: Walk,
    /// The `object` under which `GET /v1/custom_fields` lists this stream's
    /// custom fields, if it has any.
    pub custom_fields_object: Option<&'static str>,
    /// Whether the endpoint takes `include_deleted` (soft deletes).
    pub soft_deletes: bool,
}

/// How an endpoint pages, as the API contract describes it. Each variant
/// carries what its walk needs, so the walk is chosen once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walk {
    /// Page tokens over records sorted by `(cursor, id)`.
    Keyset(Keyset),
    /// Page numbers, cut afresh at every request, over records sorted by
    /// `(cursor, id)` within a time window.
    TimeWindow(TimeWindow),
    /// Page numbers over records sorted by id, with no time filter:
    /// incremental syncs read every page and filter on the client.
    IdOrdered,
}

/// A keyset endpoint, filtered on the server by `after_param` (exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keyset {
    pub after_param: &'static str,
    /// Set when records can appear after newer ones were read: incremental
    /// syncs then re-read a window before the cursor.
    pub lookback: Option<Lookback>,
}

/// A page-numbered endpoint over the window `after_param` (exclusive) ..
/// `before_param` (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    pub after_param: &'static str,
    pub before_param: &'static str,
}

/// How far before its cursor an incremental sync of a stream re-reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lookback {
    /// How late a record may become visible: a shorter lookback loses records.
    pub minimum: TimeDelta,
}

impl Lookback {
    /// The lookback for the configured length, never below the minimum.
    pub fn length(&self, configured: TimeDelta) -> TimeDelta {
        configured.max(self.minimum)
    }
}

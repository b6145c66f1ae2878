use chrono::TimeDelta;

use super::{Keyset, Lookback, StreamDef, Walk};

/// `GET /v1/order_events`: append-only keyset pages sorted by
/// `(timestamp, id)`. Events become visible up to 5 minutes late, so
/// incremental syncs re-read a lookback window (`events_lookback_minutes`).
pub const ORDER_EVENTS: StreamDef = StreamDef {
    name: "order_events",
    path: "/v1/order_events",
    schema: include_str!("../../specs/schemas/order_events.json"),
    primary_key: "event_id",
    cursor_field: "timestamp",
    walk: Walk::Keyset(Keyset {
        after_param: "created_after",
        lookback: Some(Lookback {
            minimum: TimeDelta::minutes(5),
        }),
    }),
    custom_fields_object: None,
    soft_deletes: false,
};

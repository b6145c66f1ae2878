use super::{StreamDef, TimeWindow, Walk};

/// `GET /v1/orders`: page numbers cut afresh at every request over
/// `(updated_at, id)` inside an `updated_after` .. `updated_before` window;
/// see `crate::read::time_window` for how the walk survives the page shift.
pub const ORDERS: StreamDef = StreamDef {
    name: "orders",
    path: "/v1/orders",
    schema: include_str!("../../specs/schemas/orders.json"),
    primary_key: "id",
    cursor_field: "updated_at",
    walk: Walk::TimeWindow(TimeWindow {
        after_param: "updated_after",
        before_param: "updated_before",
    }),
    custom_fields_object: Some("orders"),
    soft_deletes: true,
};

use super::{Keyset, StreamDef, Walk};

/// `GET /v1/customers`: keyset pages sorted by `(updated_at, id)`, stable
/// under concurrent writes; soft-deleted customers come back with
/// `deleted_at` when `include_deleted` is on.
pub const CUSTOMERS: StreamDef = StreamDef {
    name: "customers",
    path: "/v1/customers",
    schema: include_str!("../../specs/schemas/customers.json"),
    primary_key: "id",
    cursor_field: "updated_at",
    walk: Walk::Keyset(Keyset {
        after_param: "updated_after",
        lookback: None,
    }),
    custom_fields_object: Some("customers"),
    soft_deletes: true,
};

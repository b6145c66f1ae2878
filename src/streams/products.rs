use super::{StreamDef, Walk};

/// `GET /v1/products`: page numbers sorted by id and no time filter, so an
/// incremental sync reads every page and keeps the products updated since
/// its cursor, and a full refresh checkpoints its page to be resumable.
pub const PRODUCTS: StreamDef = StreamDef {
    name: "products",
    path: "/v1/products",
    schema: include_str!("../../specs/schemas/products.json"),
    primary_key: "id",
    cursor_field: "updated_at",
    walk: Walk::IdOrdered,
    custom_fields_object: None,
    soft_deletes: false,
};

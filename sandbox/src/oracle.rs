//! The truth now: every record as the API would render it canonically.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::store::{Store, field_object, fields_none};
use crate::stream::Stream;

/// A snapshot of all records, rendered canonically: every timestamp in UTC
/// with `Z`, exactly the JSON the API returns when mixed offsets are off.
///
/// Every record is parsed into a `serde_json::Value`, which costs a few KiB
/// per record: fine for test-sized data sets, heavy at benchmark scale.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Oracle {
    /// Latest version of every customer by id, soft-deleted ones included (`deleted_at` set).
    pub customers: BTreeMap<String, Value>,
    /// Every product by id.
    pub products: BTreeMap<String, Value>,
    /// Latest version of every order by id, soft-deleted ones included.
    pub orders: BTreeMap<String, Value>,
    /// Every event visible now, by `event_id`.
    pub order_events: BTreeMap<String, Value>,
    /// As `GET /v1/custom_fields` returns them.
    pub custom_fields: Vec<Value>,
}

impl Oracle {
    /// Captures the store's current content.
    pub(crate) fn capture(store: &Store) -> Oracle {
        let registry = store.fields();
        let capture_stream = |stream: Stream| -> BTreeMap<String, Value> {
            let set = field_object(stream).map_or(fields_none(), |o| registry.set(o));
            let table = store.read(stream);
            let mut buf = Vec::new();
            table
                .rows()
                .iter()
                .map(|row| {
                    buf.clear();
                    row.render(set, &mut buf);
                    let value: Value =
                        serde_json::from_slice(&buf).expect("stored records are JSON");
                    let id = value[stream.id_field()]
                        .as_str()
                        .expect("records have string ids")
                        .to_owned();
                    (id, value)
                })
                .collect()
        };
        Oracle {
            customers: capture_stream(Stream::Customers),
            products: capture_stream(Stream::Products),
            orders: capture_stream(Stream::Orders),
            order_events: capture_stream(Stream::OrderEvents),
            custom_fields: registry
                .views()
                .iter()
                .map(|f| serde_json::to_value(f).expect("field views serialize"))
                .collect(),
        }
    }

    /// The records of a stream by its name (`customers`, `products`,
    /// `orders`, `order_events`).
    pub fn stream(&self, name: &str) -> Option<&BTreeMap<String, Value>> {
        match name {
            "customers" => Some(&self.customers),
            "products" => Some(&self.products),
            "orders" => Some(&self.orders),
            "order_events" => Some(&self.order_events),
            _ => None,
        }
    }

    /// Records of a stream that are not soft-deleted.
    pub fn live(&self, name: &str) -> Vec<&Value> {
        self.stream(name)
            .map(|records| {
                records
                    .values()
                    .filter(|r| r.get("deleted_at").is_none_or(Value::is_null))
                    .collect()
            })
            .unwrap_or_default()
    }
}

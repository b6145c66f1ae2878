//! Custom fields: the account's registry and the values records carry.
//!
//! A record stores only the custom values it has, pre-rendered as JSON. When
//! a record is served, every field currently registered for its object is
//! appended as `"cf_<name>": value`, or `null` when the record has no value,
//! so adding a field shows up on all records at once without touching them.

use serde::Serialize;
use serde_json::Value;

use crate::model::Timestamp;

/// Identifies a custom field for the lifetime of a sandbox.
pub(crate) type FieldId = u16;

/// Seeded fields (present when `SandboxConfig::custom_fields` is on).
pub(crate) mod seeded {
    use super::FieldId;
    pub(crate) const LOYALTY_TIER: FieldId = 0;
    pub(crate) const BIRTHDAY: FieldId = 1;
    pub(crate) const GIFT_WRAP: FieldId = 2;
    pub(crate) const DELIVERY_SLOT: FieldId = 3;
    pub(crate) const PRIORITY: FieldId = 4;
}

/// The object a custom field belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FieldObject {
    Customers,
    Orders,
}

impl FieldObject {
    fn name(self) -> &'static str {
        match self {
            FieldObject::Customers => "customers",
            FieldObject::Orders => "orders",
        }
    }
}

/// Declared value type of a custom field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FieldType {
    String,
    Boolean,
    Integer,
    Date,
    Datetime,
}

impl FieldType {
    fn name(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Boolean => "boolean",
            FieldType::Integer => "integer",
            FieldType::Date => "date",
            FieldType::Datetime => "datetime",
        }
    }
}

/// One registered custom field.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CustomField {
    pub id: FieldId,
    pub object: FieldObject,
    /// snake_case name; the record property is `cf_<name>`.
    pub name: String,
    pub kind: FieldType,
    pub created_at: i64,
}

/// A custom field as `GET /v1/custom_fields` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct FieldView<'a> {
    pub object: &'static str,
    pub name: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub created_at: Timestamp,
}

/// The fields of one object, ready to append to records: `(id, ,"cf_name":)`.
#[derive(Clone, Debug, Default)]
pub(crate) struct FieldSet {
    entries: Vec<(FieldId, Box<str>)>,
}

impl FieldSet {
    /// Appends the custom properties of a record with `values`, then closes the object.
    pub(crate) fn close_record(&self, values: &CustomValues, out: &mut Vec<u8>) {
        for (id, prefix) in &self.entries {
            out.extend_from_slice(prefix.as_bytes());
            out.extend_from_slice(values.get(*id).unwrap_or("null").as_bytes());
        }
        out.push(b'}');
    }
}

/// The field set of objects without custom fields.
pub(crate) static NO_FIELDS: FieldSet = FieldSet {
    entries: Vec::new(),
};

/// The account's custom fields.
#[derive(Clone, Debug, Default)]
pub(crate) struct FieldRegistry {
    fields: Vec<CustomField>,
    customers: FieldSet,
    orders: FieldSet,
}

impl FieldRegistry {
    /// The registry a sandbox starts with: the seeded fields, or none.
    pub(crate) fn seeded(enabled: bool) -> FieldRegistry {
        let mut registry = FieldRegistry::default();
        if enabled {
            use FieldObject::{Customers, Orders};
            // 2022-11-15 .. 2022-12-10: before any generated record.
            let fields = [
                (
                    seeded::LOYALTY_TIER,
                    Customers,
                    "loyalty_tier",
                    FieldType::String,
                    1_668_470_400,
                ),
                (
                    seeded::BIRTHDAY,
                    Customers,
                    "birthday",
                    FieldType::Date,
                    1_668_556_800,
                ),
                (
                    seeded::GIFT_WRAP,
                    Orders,
                    "gift_wrap",
                    FieldType::Boolean,
                    1_669_852_800,
                ),
                (
                    seeded::DELIVERY_SLOT,
                    Orders,
                    "delivery_slot",
                    FieldType::Datetime,
                    1_670_112_000,
                ),
                (
                    seeded::PRIORITY,
                    Orders,
                    "priority",
                    FieldType::Integer,
                    1_670_630_400,
                ),
            ];
            for (id, object, name, kind, created_at) in fields {
                registry.fields.push(CustomField {
                    id,
                    object,
                    name: name.to_owned(),
                    kind,
                    created_at,
                });
            }
            registry.rebuild_sets();
        }
        registry
    }

    /// Registers a new field and returns its id; an existing field of the same
    /// object and name is returned unchanged (types never change).
    pub(crate) fn add(
        &mut self,
        object: FieldObject,
        name: &str,
        kind: FieldType,
        created_at: i64,
    ) -> FieldId {
        if let Some(existing) = self.find(object, name) {
            return existing;
        }
        // Ids below 16 are reserved for the seeded fields, whether or not they are on.
        let id = self
            .fields
            .iter()
            .map(|f| f.id + 1)
            .max()
            .unwrap_or(0)
            .max(16);
        self.fields.push(CustomField {
            id,
            object,
            name: name.to_owned(),
            kind,
            created_at,
        });
        self.rebuild_sets();
        id
    }

    /// The id of a registered field.
    pub(crate) fn find(&self, object: FieldObject, name: &str) -> Option<FieldId> {
        self.fields
            .iter()
            .find(|f| f.object == object && f.name == name)
            .map(|f| f.id)
    }

    /// The fields appended to records of `object`.
    pub(crate) fn set(&self, object: FieldObject) -> &FieldSet {
        match object {
            FieldObject::Customers => &self.customers,
            FieldObject::Orders => &self.orders,
        }
    }

    /// The `data` array of `GET /v1/custom_fields`, in registration order.
    pub(crate) fn views(&self) -> Vec<FieldView<'_>> {
        self.fields
            .iter()
            .map(|f| FieldView {
                object: f.object.name(),
                name: &f.name,
                kind: f.kind.name(),
                created_at: Timestamp(f.created_at),
            })
            .collect()
    }

    fn rebuild_sets(&mut self) {
        let set = |object| FieldSet {
            entries: self
                .fields
                .iter()
                .filter(|f| f.object == object)
                .map(|f| (f.id, format!(",\"cf_{}\":", f.name).into_boxed_str()))
                .collect(),
        };
        self.customers = set(FieldObject::Customers);
        self.orders = set(FieldObject::Orders);
    }
}

/// The custom values one record has, as rendered JSON (`"gold"`, `true`, ...).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct CustomValues(Box<[(FieldId, Box<str>)]>);

impl CustomValues {
    /// Values from `(field, JSON value)` pairs; `null` values are dropped.
    pub(crate) fn from_pairs(pairs: impl IntoIterator<Item = (FieldId, Value)>) -> CustomValues {
        CustomValues(
            pairs
                .into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(id, v)| (id, v.to_string().into_boxed_str()))
                .collect(),
        )
    }

    /// The rendered value of a field, if the record has one.
    pub(crate) fn get(&self, id: FieldId) -> Option<&str> {
        self.0.iter().find(|(f, _)| *f == id).map(|(_, v)| &**v)
    }

    /// These values with `id` set to `value` (`null` unsets it).
    pub(crate) fn with(&self, id: FieldId, value: Value) -> CustomValues {
        let rest = self.0.iter().filter(|(f, _)| *f != id).map(|(f, v)| {
            let parsed: Value = serde_json::from_str(v).expect("stored values are JSON");
            (*f, parsed)
        });
        CustomValues::from_pairs(rest.chain(std::iter::once((id, value))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn close(set: &FieldSet, values: &CustomValues) -> String {
        let mut out = b"{\"id\":1".to_vec();
        set.close_record(values, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn records_show_every_registered_field_with_null_when_unset() {
        let registry = FieldRegistry::seeded(true);
        let values = CustomValues::from_pairs([(seeded::PRIORITY, json!(3))]);
        assert_eq!(
            close(registry.set(FieldObject::Orders), &values),
            r#"{"id":1,"cf_gift_wrap":null,"cf_delivery_slot":null,"cf_priority":3}"#
        );
    }

    #[test]
    fn disabled_custom_fields_add_nothing() {
        let registry = FieldRegistry::seeded(false);
        assert_eq!(
            close(
                registry.set(FieldObject::Customers),
                &CustomValues::default()
            ),
            r#"{"id":1}"#
        );
        assert!(registry.views().is_empty());
    }

    #[test]
    fn a_field_added_later_appears_on_existing_records_as_null() {
        let mut registry = FieldRegistry::seeded(false);
        let id = registry.add(
            FieldObject::Orders,
            "late_field",
            FieldType::String,
            1_700_000_000,
        );
        assert_eq!(
            close(registry.set(FieldObject::Orders), &CustomValues::default()),
            r#"{"id":1,"cf_late_field":null}"#
        );
        let filled = CustomValues::default().with(id, json!("x"));
        assert_eq!(
            close(registry.set(FieldObject::Orders), &filled),
            r#"{"id":1,"cf_late_field":"x"}"#
        );
        assert_eq!(
            registry.add(FieldObject::Orders, "late_field", FieldType::String, 0),
            id
        );
        assert_eq!(registry.views()[0].kind, "string");
    }
}

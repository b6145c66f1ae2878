//! Typed records of the API.
//!
//! Field order here is the order of the JSON properties the API renders. The
//! records serialize to their canonical JSON (timestamps in UTC with `Z`) and
//! deserialize from it again, which is how the write load edits a stored record.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::timefmt;

/// Type prefixes of ids.
pub(crate) mod prefix {
    pub(crate) const CUSTOMER: &str = "cus_";
    pub(crate) const PRODUCT: &str = "prd_";
    pub(crate) const ORDER: &str = "ord_";
    pub(crate) const EVENT: &str = "evt_";
    pub(crate) const LINE_ITEM: &str = "li_";
    pub(crate) const ACCOUNT: &str = "acc_";
}

/// Renders an id: prefix plus 12 lowercase hex digits. The fixed width makes
/// string order equal numeric order, so the store can sort by the number.
pub(crate) fn format_id(prefix: &str, n: u64) -> String {
    format!("{prefix}{n:012x}")
}

/// Inverse of [`format_id`].
pub(crate) fn parse_id(prefix: &str, id: &str) -> Option<u64> {
    let hex = id.strip_prefix(prefix)?;
    (hex.len() == 12)
        .then(|| u64::from_str_radix(hex, 16).ok())
        .flatten()
}

/// An instant in whole unix seconds; JSON form `YYYY-MM-DDTHH:MM:SSZ`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Timestamp(pub i64);

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&timefmt::format_utc(self.0))
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        timefmt::parse_instant(&s)
            .map(Timestamp)
            .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 instant: {s}")))
    }
}

/// An amount of money in cents; JSON form a number with at most 2 decimals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(crate) struct Money(pub i64);

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // The nearest f64 to `cents / 100` prints as its shortest round-trip
        // form, which has at most two decimals.
        s.serialize_f64(self.0 as f64 / 100.0)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        Ok(Money((v * 100.0).round() as i64))
    }
}

/// A postal address (customers' address book and orders' shipping address).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Address {
    #[serde(rename = "type")]
    pub kind: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub region: Option<String>,
    pub postal_code: String,
    pub country: String,
}

/// `GET /v1/customers` record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Customer {
    pub id: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub phone: Option<String>,
    pub addresses: Vec<Address>,
    pub marketing_opt_in: bool,
    pub total_spent: Money,
    pub orders_count: u32,
    pub tags: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub deleted_at: Option<Timestamp>,
}

/// `GET /v1/products` record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Product {
    pub id: String,
    pub sku: String,
    pub name: String,
    pub description: Option<String>,
    pub price: Money,
    pub currency: String,
    pub active: bool,
    pub inventory_quantity: i64,
    pub category: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One line of an order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct LineItem {
    pub id: String,
    pub product_id: String,
    pub sku: String,
    pub quantity: u32,
    pub unit_price: Money,
    pub total: Money,
}

/// Order lifecycle states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OrderStatus {
    Pending,
    Paid,
    Fulfilled,
    Cancelled,
    Refunded,
}

/// `GET /v1/orders` record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Order {
    pub id: String,
    pub customer_id: String,
    pub status: OrderStatus,
    pub currency: String,
    pub subtotal: Money,
    pub tax: Money,
    pub shipping: Money,
    pub total_amount: Money,
    pub line_items: Vec<LineItem>,
    pub shipping_address: Option<Address>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub deleted_at: Option<Timestamp>,
}

/// Kinds of order events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum EventType {
    Created,
    Paid,
    Shipped,
    Delivered,
    Cancelled,
    Refunded,
    NoteAdded,
}

/// `GET /v1/order_events` record (append-only).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct OrderEvent {
    pub event_id: String,
    pub order_id: String,
    pub event_type: EventType,
    pub timestamp: Timestamp,
    pub properties: serde_json::Map<String, serde_json::Value>,
}

/// `GET /v1/account` answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Account {
    pub id: String,
    pub name: String,
    pub currency: String,
    pub timezone: String,
    pub created_at: Timestamp,
}

/// Serializes a record to canonical JSON with its closing brace removed, the
/// form the store keeps so that custom fields can be appended when serving.
pub(crate) fn open_json<T: Serialize>(record: &T) -> Box<str> {
    let mut json = serde_json::to_string(record).expect("records always serialize");
    debug_assert!(json.ends_with('}'));
    json.pop();
    json.into_boxed_str()
}

/// Parses a stored open body (see [`open_json`]) back into its record.
pub(crate) fn parse_open_json<T: for<'de> Deserialize<'de>>(body: &str) -> serde_json::Result<T> {
    let mut json = String::with_capacity(body.len() + 1);
    json.push_str(body);
    json.push('}');
    serde_json::from_str(&json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_fixed_width_so_string_order_is_numeric_order() {
        let a = format_id(prefix::ORDER, 0xff);
        let b = format_id(prefix::ORDER, 0x100);
        assert_eq!(a, "ord_0000000000ff");
        assert!(a < b);
        assert_eq!(parse_id(prefix::ORDER, &b), Some(0x100));
        assert_eq!(parse_id(prefix::CUSTOMER, &b), None);
    }

    #[test]
    fn money_renders_with_at_most_two_decimals() {
        let json = serde_json::to_string(&[Money(1999), Money(2000), Money(5), Money(123_456_789)])
            .unwrap();
        assert_eq!(json, "[19.99,20.0,0.05,1234567.89]");
        let back: Vec<Money> = serde_json::from_str(&json).unwrap();
        assert_eq!(
            back,
            [Money(1999), Money(2000), Money(5), Money(123_456_789)]
        );
    }

    #[test]
    fn timestamps_render_in_utc_and_parse_from_any_offset() {
        assert_eq!(
            serde_json::to_string(&Timestamp(1_709_287_200)).unwrap(),
            "\"2024-03-01T10:00:00Z\""
        );
        let t: Timestamp = serde_json::from_str("\"2024-03-01T12:00:00+02:00\"").unwrap();
        assert_eq!(t, Timestamp(1_709_287_200));
    }

    #[test]
    fn open_json_round_trips() {
        let product = Product {
            id: format_id(prefix::PRODUCT, 1),
            sku: "APP-00001".into(),
            name: "Linen Shirt".into(),
            description: None,
            price: Money(4999),
            currency: "USD".into(),
            active: true,
            inventory_quantity: 3,
            category: Some("apparel".into()),
            created_at: Timestamp(1),
            updated_at: Timestamp(2),
        };
        let body = open_json(&product);
        assert!(!body.ends_with('}'));
        assert_eq!(parse_open_json::<Product>(&body).unwrap(), product);
    }
}

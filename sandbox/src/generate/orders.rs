//! Orders.

use serde_json::{Value, json};

use super::products::ProductRef;
use super::timeline::{self, Burst, RANGE_END};
use super::{customers, ids, people};
use crate::model::{LineItem, Money, Order, OrderStatus, Timestamp, format_id, prefix};
use crate::rng::{Purpose, Rng};
use crate::store::{CustomValues, seeded};
use crate::stream::Stream;
use crate::timefmt;

/// Share of generated orders that are soft-deleted.
const DELETED_SHARE: f64 = 0.03;

/// What later generation steps need to know about an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OrderSummary {
    pub id: u64,
    pub customer_ordinal: u32,
    pub status: OrderStatus,
    pub total: Money,
    pub created_at: i64,
    pub deleted: bool,
}

/// The `ordinal`-th generated order of a data set with `customers` customers.
pub(crate) fn generated(
    seed: u64,
    ordinal: u64,
    customers: usize,
    catalog: &[ProductRef],
    bursts: &[Burst],
    custom_fields: bool,
) -> (Order, CustomValues, OrderSummary) {
    let mut rng = Rng::keyed(seed, Purpose::Order, ordinal);
    let customer_ordinal = rng.below(customers.max(1) as u64);
    // An order comes after its customer signed up.
    let signed_up = customers::created_at(seed, customer_ordinal);
    let created = timeline::instant_between(&mut rng, signed_up, RANGE_END);
    let updated = timeline::updated_after_creation(&mut rng, created, bursts);
    let deleted = rng.chance(DELETED_SHARE);
    let customer_id = ids::record_id(seed, Stream::Customers, customer_ordinal);
    let mut order = build(
        &mut rng,
        seed,
        ordinal,
        customer_id,
        catalog,
        created,
        updated,
    );
    if deleted {
        order.deleted_at = Some(order.updated_at);
    }
    let custom = if custom_fields {
        custom_values(&mut rng, created)
    } else {
        CustomValues::default()
    };
    let summary = OrderSummary {
        id: ids::record_id(seed, Stream::Orders, ordinal),
        customer_ordinal: u32::try_from(customer_ordinal).expect("fewer than 2^32 customers"),
        status: order.status,
        total: order.total_amount,
        created_at: created,
        deleted,
    };
    (order, custom, summary)
}

/// A live order of customer `customer_id` over products of `catalog`.
pub(crate) fn build(
    rng: &mut Rng,
    seed: u64,
    ordinal: u64,
    customer_id: u64,
    catalog: &[ProductRef],
    created: i64,
    updated: i64,
) -> Order {
    let status = status(rng);
    let lines = if catalog.is_empty() {
        0
    } else {
        rng.pick(&[1, 1, 1, 2, 2, 3, 4])
    };
    let line_items: Vec<LineItem> = (0..lines)
        .map(|line| {
            let product = &catalog[rng.index(catalog.len())];
            let quantity = rng.pick(&[1, 1, 1, 2, 2, 3, 5]);
            LineItem {
                id: format_id(prefix::LINE_ITEM, ids::line_item_id(seed, ordinal, line)),
                product_id: format_id(prefix::PRODUCT, product.id),
                sku: product.sku.clone(),
                quantity,
                unit_price: product.price,
                total: Money(product.price.0 * i64::from(quantity)),
            }
        })
        .collect();
    let subtotal: i64 = line_items.iter().map(|l| l.total.0).sum();
    let tax_percent = rng.pick(&[0, 7, 8, 19, 20]);
    let tax = (subtotal * tax_percent + 50) / 100;
    let shipping = if subtotal >= 10_000 {
        0
    } else {
        rng.pick(&[0, 499, 999])
    };
    let shipping_address = (!rng.chance(0.1)).then(|| people::address(rng, "shipping"));
    Order {
        id: format_id(prefix::ORDER, ids::record_id(seed, Stream::Orders, ordinal)),
        customer_id: format_id(prefix::CUSTOMER, customer_id),
        status,
        currency: "USD".to_owned(),
        subtotal: Money(subtotal),
        tax: Money(tax),
        shipping: Money(shipping),
        total_amount: Money(subtotal + tax + shipping),
        line_items,
        shipping_address,
        created_at: Timestamp(created),
        updated_at: Timestamp(updated),
        deleted_at: None,
    }
}

/// Most orders are fulfilled; some are still open, some went wrong.
fn status(rng: &mut Rng) -> OrderStatus {
    match rng.below(100) {
        0..8 => OrderStatus::Pending,
        8..20 => OrderStatus::Paid,
        20..85 => OrderStatus::Fulfilled,
        85..93 => OrderStatus::Cancelled,
        _ => OrderStatus::Refunded,
    }
}

/// Seeded custom values: each field set on about a tenth of orders.
fn custom_values(rng: &mut Rng, created: i64) -> CustomValues {
    let gift_wrap = rng.chance(0.1).then(|| json!(rng.chance(0.7)));
    let slot = rng.chance(0.1).then(|| {
        let at = created + rng.between(1, 14) * 86_400;
        json!(timefmt::format_utc(at - at.rem_euclid(3600)))
    });
    let priority = rng.chance(0.1).then(|| json!(rng.between(1, 5)));
    CustomValues::from_pairs([
        (seeded::GIFT_WRAP, gift_wrap.unwrap_or(Value::Null)),
        (seeded::DELIVERY_SLOT, slot.unwrap_or(Value::Null)),
        (seeded::PRIORITY, priority.unwrap_or(Value::Null)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Vec<ProductRef> {
        (0..5)
            .map(|i| ProductRef {
                id: i,
                sku: format!("SKU-{i}"),
                price: Money(1_999 + i as i64),
            })
            .collect()
    }

    #[test]
    fn totals_add_up_and_lines_reference_the_catalog() {
        let catalog = catalog();
        let bursts = timeline::bursts(2_000);
        for i in 0..1_000 {
            let (o, _, summary) = generated(42, i, 200, &catalog, &bursts, true);
            let sum: i64 = o.line_items.iter().map(|l| l.total.0).sum();
            assert_eq!(o.subtotal.0, sum);
            assert_eq!(o.total_amount.0, o.subtotal.0 + o.tax.0 + o.shipping.0);
            assert!(!o.line_items.is_empty());
            for line in &o.line_items {
                assert!(
                    catalog
                        .iter()
                        .any(|p| format_id(prefix::PRODUCT, p.id) == line.product_id)
                );
                assert_eq!(line.total.0, line.unit_price.0 * i64::from(line.quantity));
            }
            assert!(o.created_at <= o.updated_at);
            assert_eq!(summary.deleted, o.deleted_at.is_some());
            assert_eq!(format_id(prefix::ORDER, summary.id), o.id);
        }
    }

    #[test]
    fn orders_come_after_their_customer_signed_up() {
        let catalog = catalog();
        let bursts = timeline::bursts(2_000);
        for i in 0..1_000 {
            let (o, _, s) = generated(3, i, 50, &catalog, &bursts, false);
            assert!(o.created_at.0 >= customers::created_at(3, u64::from(s.customer_ordinal)));
        }
    }

    #[test]
    fn an_empty_catalog_gives_orders_without_lines() {
        let (o, _, _) = generated(1, 0, 10, &[], &timeline::bursts(1), false);
        assert!(o.line_items.is_empty());
        assert_eq!(o.total_amount, Money(o.shipping.0));
    }
}

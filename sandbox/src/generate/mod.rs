//! The seeded data set a sandbox starts with.
//!
//! Same seed and sizes, same records, byte for byte. Every record draws from
//! its own random stream, so generation runs on all cores. Products come
//! first (orders reference them), then orders, then customers (whose
//! `orders_count` and `total_spent` add up their orders), then events (which
//! follow their orders' lifecycles).

pub(crate) mod customers;
pub(crate) mod events;
mod ids;
pub(crate) mod orders;
mod parallel;
mod people;
pub(crate) mod products;
pub(crate) mod timeline;
mod words;

use serde::Serialize;

pub(crate) use ids::record_id;
use parallel::par_map;
pub(crate) use products::ProductRef;

use crate::config::Sizes;
use crate::model::{Account, Money, OrderStatus, Timestamp, format_id, open_json, prefix};
use crate::rng::{Purpose, Rng};
use crate::store::{CustomValues, Key, Row};
use crate::stream::Stream;

/// Generated records of every stream, plus what the write load needs to continue.
#[derive(Debug)]
pub(crate) struct Dataset {
    pub customers: Vec<Row>,
    pub products: Vec<Row>,
    pub orders: Vec<Row>,
    pub events: Vec<Row>,
    /// Products that new orders can reference.
    pub catalog: Vec<ProductRef>,
}

/// A stored row for a record.
pub(crate) fn row<T: Serialize>(record: &T, key: Key, deleted: bool, custom: CustomValues) -> Row {
    Row {
        key,
        deleted,
        body: open_json(record),
        custom,
    }
}

/// Generates the data set for `seed` and `sizes`.
pub(crate) fn generate(seed: u64, sizes: &Sizes, custom_fields: bool) -> Dataset {
    let product_bursts = timeline::bursts(sizes.products);
    let products_typed = par_map(sizes.products, |i| {
        products::generated(seed, i as u64, &product_bursts)
    });
    let catalog: Vec<ProductRef> = products_typed
        .iter()
        .enumerate()
        .map(|(i, p)| ProductRef::of(p, record_id(seed, Stream::Products, i as u64)))
        .collect();
    let products = products_typed
        .iter()
        .zip(&catalog)
        .map(|(p, r)| row(p, Key { ts: 0, id: r.id }, false, CustomValues::default()))
        .collect();
    drop(products_typed);

    let order_bursts = timeline::bursts(sizes.orders);
    let generated_orders = par_map(sizes.orders, |i| {
        let (order, custom, summary) = orders::generated(
            seed,
            i as u64,
            sizes.customers,
            &catalog,
            &order_bursts,
            custom_fields,
        );
        let key = Key {
            ts: order.updated_at.0,
            id: summary.id,
        };
        (row(&order, key, summary.deleted, custom), summary)
    });
    let (orders, summaries): (Vec<Row>, Vec<orders::OrderSummary>) =
        generated_orders.into_iter().unzip();

    let stats = order_stats(sizes.customers, &summaries);
    let customer_bursts = timeline::bursts(sizes.customers);
    let customers = par_map(sizes.customers, |i| {
        let (customer, custom) =
            customers::generated(seed, i as u64, &customer_bursts, stats[i], custom_fields);
        let key = Key {
            ts: customer.updated_at.0,
            id: record_id(seed, Stream::Customers, i as u64),
        };
        row(&customer, key, customer.deleted_at.is_some(), custom)
    });

    // Events need orders to belong to.
    let event_count = if summaries.is_empty() {
        0
    } else {
        sizes.order_events
    };
    let event_bursts = timeline::bursts(event_count);
    let events = par_map(event_count, |i| {
        let event = events::generated(
            seed,
            i as u64,
            event_count as u64,
            &summaries,
            &event_bursts,
        );
        let key = Key {
            ts: event.timestamp.0,
            id: record_id(seed, Stream::OrderEvents, i as u64),
        };
        row(&event, key, false, CustomValues::default())
    });

    Dataset {
        customers,
        products,
        orders,
        events,
        catalog,
    }
}

/// The account the credentials belong to.
pub(crate) fn account(seed: u64) -> Account {
    let mut rng = Rng::keyed(seed, Purpose::Account, 0);
    Account {
        id: format_id(prefix::ACCOUNT, rng.next_u64() >> 16),
        name: rng.pick(words::ACCOUNT_NAMES).to_owned(),
        currency: "USD".to_owned(),
        timezone: "Europe/Berlin".to_owned(),
        // 2022-11-03T09:15:00Z: the shop opened before its first generated record.
        created_at: Timestamp(1_667_466_900),
    }
}

/// Per customer: live orders, and what the paid or fulfilled ones add up to.
fn order_stats(customers: usize, orders: &[orders::OrderSummary]) -> Vec<customers::OrderStats> {
    let mut stats = vec![customers::OrderStats::default(); customers];
    for order in orders.iter().filter(|o| !o.deleted) {
        if let Some(s) = stats.get_mut(order.customer_ordinal as usize) {
            s.count += 1;
            if matches!(order.status, OrderStatus::Paid | OrderStatus::Fulfilled) {
                s.spent = Money(s.spent.0 + order.total.0);
            }
        }
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn small() -> Sizes {
        Sizes {
            customers: 50,
            products: 20,
            orders: 300,
            order_events: 700,
        }
    }

    #[test]
    fn the_same_seed_generates_identical_data() {
        let a = generate(42, &small(), true);
        let b = generate(42, &small(), true);
        assert_eq!(a.customers, b.customers);
        assert_eq!(a.orders, b.orders);
        assert_eq!(a.events, b.events);
        assert_eq!(a.products, b.products);
        let c = generate(43, &small(), true);
        assert_ne!(a.orders, c.orders);
    }

    #[test]
    fn sizes_are_honoured_and_ids_are_unique() {
        let d = generate(7, &small(), true);
        assert_eq!(
            (
                d.customers.len(),
                d.products.len(),
                d.orders.len(),
                d.events.len()
            ),
            (50, 20, 300, 700)
        );
        for rows in [&d.customers, &d.products, &d.orders, &d.events] {
            let ids: HashSet<u64> = rows.iter().map(|r| r.key.id).collect();
            assert_eq!(ids.len(), rows.len());
        }
    }

    #[test]
    fn every_order_references_a_real_customer_and_real_products() {
        let d = generate(11, &small(), false);
        let customer_ids: HashSet<String> = d
            .customers
            .iter()
            .map(|r| {
                serde_json::from_str::<serde_json::Value>(&format!("{}}}", r.body)).unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        let product_ids: HashSet<String> = d
            .catalog
            .iter()
            .map(|p| crate::model::format_id("prd_", p.id))
            .collect();
        for r in &d.orders {
            let order: serde_json::Value = serde_json::from_str(&format!("{}}}", r.body)).unwrap();
            assert!(customer_ids.contains(order["customer_id"].as_str().unwrap()));
            for line in order["line_items"].as_array().unwrap() {
                assert!(product_ids.contains(line["product_id"].as_str().unwrap()));
            }
        }
    }

    #[test]
    fn without_orders_there_are_no_events() {
        let sizes = Sizes {
            orders: 0,
            ..small()
        };
        assert!(generate(1, &sizes, true).events.is_empty());
    }
}

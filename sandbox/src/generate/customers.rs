//! Customers.

use serde_json::{Value, json};

use super::timeline::{self, Burst, CUSTOMERS_UNTIL, RANGE_START};
use super::{ids, people, words};
use crate::model::{Customer, Money, Timestamp, format_id, prefix};
use crate::rng::{Purpose, Rng};
use crate::store::{CustomValues, seeded};
use crate::stream::Stream;
use crate::timefmt;

/// Share of generated customers that are soft-deleted.
const DELETED_SHARE: f64 = 0.03;

/// What a customer's orders add up to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct OrderStats {
    pub count: u32,
    pub spent: Money,
}

/// When the `ordinal`-th generated customer signed up. A separate random
/// stream, so that order generation can ask without generating the customer.
pub(crate) fn created_at(seed: u64, ordinal: u64) -> i64 {
    let mut rng = Rng::keyed(seed, Purpose::CustomerCreatedAt, ordinal);
    timeline::instant_between(&mut rng, RANGE_START, CUSTOMERS_UNTIL)
}

/// The `ordinal`-th generated customer, whether it is deleted, and its custom values.
pub(crate) fn generated(
    seed: u64,
    ordinal: u64,
    bursts: &[Burst],
    stats: OrderStats,
    custom_fields: bool,
) -> (Customer, CustomValues) {
    let mut rng = Rng::keyed(seed, Purpose::Customer, ordinal);
    let created = created_at(seed, ordinal);
    let updated = timeline::updated_after_creation(&mut rng, created, bursts);
    let deleted = rng.chance(DELETED_SHARE);
    let mut customer = build(&mut rng, seed, ordinal, created, updated, stats);
    if deleted {
        customer.deleted_at = Some(customer.updated_at);
    }
    let custom = if custom_fields {
        custom_values(&mut rng)
    } else {
        CustomValues::default()
    };
    (customer, custom)
}

/// A live customer created and last updated at the given instants.
pub(crate) fn build(
    rng: &mut Rng,
    seed: u64,
    ordinal: u64,
    created: i64,
    updated: i64,
    stats: OrderStats,
) -> Customer {
    let person = people::person(rng, ordinal);
    let addresses = match rng.unit() {
        r if r < 0.15 => vec![],
        r if r < 0.75 => vec![people::address(rng, single_address_kind(r))],
        _ => {
            let billing = people::address(rng, "billing");
            let mut shipping = billing.clone();
            shipping.kind = "shipping".to_owned();
            if rng.chance(0.5) {
                shipping = people::address(rng, "shipping");
            }
            vec![billing, shipping]
        }
    };
    Customer {
        id: format_id(
            prefix::CUSTOMER,
            ids::record_id(seed, Stream::Customers, ordinal),
        ),
        email: person.email,
        first_name: person.first_name,
        last_name: person.last_name,
        phone: person.phone,
        addresses,
        marketing_opt_in: rng.chance(0.4),
        total_spent: stats.spent,
        orders_count: stats.count,
        tags: tags(rng),
        created_at: Timestamp(created),
        updated_at: Timestamp(updated),
        deleted_at: None,
    }
}

/// The single address of a customer is mostly a billing address.
fn single_address_kind(roll: f64) -> &'static str {
    if roll < 0.55 { "billing" } else { "shipping" }
}

/// Up to three distinct tags.
pub(crate) fn tags(rng: &mut Rng) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    for _ in 0..rng.below(4) {
        let tag = rng.pick(words::CUSTOMER_TAGS);
        if !tags.iter().any(|t| t == tag) {
            tags.push(tag.to_owned());
        }
    }
    tags
}

/// Seeded custom values: loyalty tier on a quarter, birthday on a sixth.
fn custom_values(rng: &mut Rng) -> CustomValues {
    let tier = rng
        .chance(0.25)
        .then(|| json!(rng.pick(words::LOYALTY_TIERS)));
    let birthday = rng.chance(0.15).then(|| {
        // 1950-01-01 .. 2005-12-31 as days since the epoch.
        json!(timefmt::format_date(rng.between(-7_305, 13_148)))
    });
    CustomValues::from_pairs([
        (seeded::LOYALTY_TIER, tier.unwrap_or(Value::Null)),
        (seeded::BIRTHDAY, birthday.unwrap_or(Value::Null)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_customers_carry_their_order_stats_and_plausible_values() {
        let bursts = timeline::bursts(200);
        let stats = OrderStats {
            count: 3,
            spent: Money(12_345),
        };
        let mut deleted = 0;
        let mut with_tier = 0;
        for i in 0..2_000 {
            let (c, custom) = generated(42, i, &bursts, stats, true);
            assert!(c.id.starts_with("cus_"));
            assert_eq!((c.orders_count, c.total_spent), (3, Money(12_345)));
            assert!(c.created_at <= c.updated_at);
            assert!(c.addresses.len() <= 2);
            if let Some(d) = c.deleted_at {
                assert_eq!(d, c.updated_at);
                deleted += 1;
            }
            with_tier += usize::from(custom.get(seeded::LOYALTY_TIER).is_some());
        }
        assert!((20..120).contains(&deleted), "{deleted}");
        assert!((300..700).contains(&with_tier), "{with_tier}");
    }

    #[test]
    fn custom_fields_off_leaves_everything_else_unchanged() {
        let bursts = timeline::bursts(200);
        let (on, _) = generated(9, 17, &bursts, OrderStats::default(), true);
        let (off, none) = generated(9, 17, &bursts, OrderStats::default(), false);
        assert_eq!(on, off);
        assert_eq!(none, CustomValues::default());
    }
}

//! Products.

use super::timeline::{self, Burst, RANGE_END, RANGE_START};
use super::{ids, words};
use crate::model::{Money, Product, Timestamp, format_id, prefix};
use crate::rng::{Purpose, Rng};
use crate::stream::Stream;

/// What an order line needs to know about a product.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ProductRef {
    pub id: u64,
    pub sku: String,
    pub price: Money,
}

impl ProductRef {
    /// The reference to a product record.
    pub(crate) fn of(product: &Product, id: u64) -> ProductRef {
        ProductRef {
            id,
            sku: product.sku.clone(),
            price: product.price,
        }
    }
}

/// The `ordinal`-th generated product.
pub(crate) fn generated(seed: u64, ordinal: u64, bursts: &[Burst]) -> Product {
    let mut rng = Rng::keyed(seed, Purpose::Product, ordinal);
    let created = timeline::instant_between(&mut rng, RANGE_START, RANGE_END);
    let updated = timeline::updated_after_creation(&mut rng, created, bursts);
    build(&mut rng, seed, ordinal, created, updated)
}

/// A product created and last updated at the given instants.
pub(crate) fn build(rng: &mut Rng, seed: u64, ordinal: u64, created: i64, updated: i64) -> Product {
    let (code, category, nouns) = rng.pick(words::PRODUCT_LINES);
    let name = format!(
        "{} {} {}",
        rng.pick(words::PRODUCT_ADJECTIVES),
        rng.pick(words::PRODUCT_MATERIALS),
        rng.pick(nouns)
    );
    Product {
        id: format_id(
            prefix::PRODUCT,
            ids::record_id(seed, Stream::Products, ordinal),
        ),
        sku: format!("{code}-{:05}", ordinal + 1),
        name,
        description: description(rng),
        price: price(rng),
        currency: "USD".to_owned(),
        active: rng.chance(0.9),
        inventory_quantity: if rng.chance(0.1) {
            0
        } else {
            rng.between(1, 2_000)
        },
        category: (!rng.chance(0.1)).then(|| category.to_string()),
        created_at: Timestamp(created),
        updated_at: Timestamp(updated),
    }
}

/// A price between about 3 and 1000 dollars, usually ending in .99, .50 or .00.
pub(crate) fn price(rng: &mut Rng) -> Money {
    // Log-uniform dollars: many cheap products, a few expensive ones.
    let dollars = (3.0_f64 * (333.0_f64).powf(rng.unit())).floor() as i64;
    let cents = rng.pick(&[99, 99, 50, 0, 95, 49]);
    Money(dollars * 100 + cents)
}

/// Nullable description; a few are long.
fn description(rng: &mut Rng) -> Option<String> {
    if rng.chance(0.15) {
        return None;
    }
    let sentences = if rng.chance(0.05) {
        rng.between(20, 60)
    } else {
        rng.between(1, 3)
    };
    let text: Vec<&str> = (0..sentences)
        .map(|_| rng.pick(words::DESCRIPTION_SENTENCES))
        .collect();
    Some(text.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_products_are_reproducible_and_sane() {
        let bursts = timeline::bursts(50);
        for i in 0..300 {
            let p = generated(42, i, &bursts);
            assert_eq!(p, generated(42, i, &bursts));
            assert!(p.id.starts_with("prd_"));
            assert!(p.price.0 >= 300 && p.price.0 < 100_000, "{:?}", p.price);
            assert!(p.created_at <= p.updated_at);
        }
    }

    #[test]
    fn some_descriptions_are_long_and_some_are_null() {
        let bursts = timeline::bursts(50);
        let all: Vec<Product> = (0..2_000).map(|i| generated(1, i, &bursts)).collect();
        assert!(all.iter().any(|p| p.description.is_none()));
        assert!(
            all.iter()
                .any(|p| p.description.as_ref().is_some_and(|d| d.len() > 1_000))
        );
    }
}

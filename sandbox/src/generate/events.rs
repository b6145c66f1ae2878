//! Order events.
//!
//! Events are spread evenly over orders (event `i` of `E` belongs to order
//! `i * N / E`), and the k-th event of an order follows the order's lifecycle
//! (`created`, `paid`, `shipped`, ...; extra events are notes), each a while
//! after the previous one and never before the order was created.

use serde_json::{Map, Value, json};

use super::orders::OrderSummary;
use super::timeline::{Burst, RANGE_END};
use super::{ids, words};
use crate::model::{EventType, Money, OrderEvent, OrderStatus, Timestamp, format_id, prefix};
use crate::rng::{Purpose, Rng};
use crate::stream::Stream;

/// The `ordinal`-th of `total` generated events over `orders`.
pub(crate) fn generated(
    seed: u64,
    ordinal: u64,
    total: u64,
    orders: &[OrderSummary],
    bursts: &[Burst],
) -> OrderEvent {
    let n = orders.len() as u64;
    let order_ordinal = (u128::from(ordinal) * u128::from(n) / u128::from(total)) as u64;
    let first = (u128::from(order_ordinal) * u128::from(total)).div_ceil(u128::from(n)) as u64;
    let k = ordinal - first;
    let order = &orders[order_ordinal as usize];

    let mut schedule = Rng::keyed(seed, Purpose::EventSchedule, order_ordinal);
    let mut at = order.created_at;
    for _ in 0..k {
        at += schedule.between(60, 3 * 86_400);
    }
    let mut rng = Rng::keyed(seed, Purpose::Event, ordinal);
    let mut at = at.min(RANGE_END.max(order.created_at));
    for burst in bursts {
        // A bulk backfill stamps many events with one second; moving an event
        // later keeps it after its order's creation.
        if rng.chance(burst.share) && at <= burst.at {
            at = burst.at;
            break;
        }
    }
    let event_type = lifecycle(order.status)
        .get(k as usize)
        .copied()
        .unwrap_or(EventType::NoteAdded);
    build(
        &mut rng,
        ids::record_id(seed, Stream::OrderEvents, ordinal),
        order.id,
        order.total,
        event_type,
        at,
    )
}

/// The events an order in `status` has been through, in order.
pub(crate) fn lifecycle(status: OrderStatus) -> &'static [EventType] {
    use EventType::*;
    match status {
        OrderStatus::Pending => &[Created],
        OrderStatus::Paid => &[Created, Paid],
        OrderStatus::Fulfilled => &[Created, Paid, Shipped, Delivered],
        OrderStatus::Cancelled => &[Created, Cancelled],
        OrderStatus::Refunded => &[Created, Paid, Refunded],
    }
}

/// An event with type-specific properties.
pub(crate) fn build(
    rng: &mut Rng,
    id: u64,
    order_id: u64,
    order_total: Money,
    event_type: EventType,
    at: i64,
) -> OrderEvent {
    let amount = || json!(order_total);
    let properties = match event_type {
        EventType::Created => json!({
            "channel": rng.pick(&["web", "mobile", "pos"]),
            "total_amount": amount(),
            "currency": "USD",
        }),
        EventType::Paid => json!({
            "payment_method": rng.pick(words::PAYMENT_METHODS),
            "amount": amount(),
        }),
        EventType::Shipped => json!({
            "carrier": rng.pick(words::CARRIERS),
            "tracking_number": format!("1Z{:016X}", rng.next_u64()),
        }),
        EventType::Delivered => json!({ "signed_by": rng.chance(0.6).then_some("recipient") }),
        EventType::Cancelled => json!({ "reason": rng.pick(words::CANCEL_REASONS) }),
        EventType::Refunded => json!({
            "amount": amount(),
            "reason": rng.pick(&["damaged", "not_as_described", "changed_mind"]),
        }),
        EventType::NoteAdded => json!({
            "note": rng.pick(words::NOTES),
            "author": rng.pick(words::NOTE_AUTHORS),
        }),
    };
    let properties = match properties {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    OrderEvent {
        event_id: format_id(prefix::EVENT, id),
        order_id: format_id(prefix::ORDER, order_id),
        event_type,
        timestamp: Timestamp(at),
        properties,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::timeline;

    fn orders(n: u64) -> Vec<OrderSummary> {
        (0..n)
            .map(|i| OrderSummary {
                id: i,
                customer_ordinal: 0,
                status: OrderStatus::Fulfilled,
                total: Money(1_000),
                created_at: 1_700_000_000 + i as i64,
                deleted: false,
            })
            .collect()
    }

    #[test]
    fn events_follow_the_order_lifecycle_and_never_precede_the_order() {
        let orders = orders(10);
        let bursts = timeline::bursts(40);
        let events: Vec<OrderEvent> = (0..40)
            .map(|i| generated(1, i, 40, &orders, &bursts))
            .collect();
        for (o, chunk) in orders.iter().zip(events.chunks(4)) {
            let kinds: Vec<EventType> = chunk.iter().map(|e| e.event_type).collect();
            assert_eq!(kinds, lifecycle(OrderStatus::Fulfilled));
            for e in chunk {
                assert_eq!(e.order_id, format_id(prefix::ORDER, o.id));
                assert!(e.timestamp.0 >= o.created_at);
            }
        }
    }

    #[test]
    fn uneven_ratios_cover_every_event_once() {
        let orders = orders(7);
        let bursts = timeline::bursts(23);
        let mut per_order = vec![0; 7];
        for i in 0..23 {
            let e = generated(5, i, 23, &orders, &bursts);
            let o = orders
                .iter()
                .position(|o| format_id(prefix::ORDER, o.id) == e.order_id)
                .unwrap();
            per_order[o] += 1;
        }
        assert!(per_order.iter().all(|&c| c == 3 || c == 4), "{per_order:?}");
    }
}

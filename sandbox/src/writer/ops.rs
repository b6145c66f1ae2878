//! Single writes of the write load, applied to the store the API reads.
//!
//! Every write uses the real clock: `updated_at` (or an event's `timestamp`)
//! is now, truncated to whole seconds, and a soft delete sets `deleted_at`
//! to the same instant.

use serde_json::json;

use crate::generate::{self, ProductRef, customers, events, orders, products, record_id};
use crate::model::{
    Customer, EventType, Order, OrderStatus, Product, Timestamp, parse_open_json, prefix,
};
use crate::rng::Rng;
use crate::store::{CustomValues, FieldId, Key, Store, Table, seeded};
use crate::stream::Stream;
use crate::timefmt;

/// How far back a late event's timestamp may lie (the contract's 5 minutes).
pub(crate) const MAX_EVENT_LATENESS_SECS: i64 = 300;

/// Attempts at finding a live (not deleted) record before giving up on a write.
const PICK_ATTEMPTS: usize = 8;

/// The state writes carry from one to the next.
#[derive(Debug)]
pub(crate) struct Writes {
    pub seed: u64,
    pub rng: Rng,
    /// Next ordinal (for fresh ids) per stream, in [`Stream::ALL`] order.
    pub next_ordinal: [u64; 4],
    /// Products new orders can reference.
    pub catalog: Vec<ProductRef>,
    /// The field added by `WriteLoad::add_custom_field_after`, once it exists.
    pub late_field: Option<FieldId>,
    /// Whether new events may be stamped up to 5 minutes in the past.
    pub late_events: bool,
}

/// What kind of write to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WriteKind {
    UpdateCustomer,
    InsertCustomer,
    DeleteCustomer,
    UpdateOrder,
    InsertOrder,
    DeleteOrder,
    UpdateProduct,
    InsertProduct,
    InsertEvent,
}

impl WriteKind {
    /// A seeded mix: orders most, then customers and events, few products.
    pub(crate) fn pick(rng: &mut Rng) -> WriteKind {
        use WriteKind::*;
        match rng.below(100) {
            0..17 => UpdateCustomer,
            17..22 => InsertCustomer,
            22..25 => DeleteCustomer,
            25..51 => UpdateOrder,
            51..61 => InsertOrder,
            61..65 => DeleteOrder,
            65..73 => UpdateProduct,
            73..75 => InsertProduct,
            _ => InsertEvent,
        }
    }

    /// The stream the write lands in.
    fn stream(self) -> Stream {
        use WriteKind::*;
        match self {
            UpdateCustomer | InsertCustomer | DeleteCustomer => Stream::Customers,
            UpdateOrder | InsertOrder | DeleteOrder => Stream::Orders,
            UpdateProduct | InsertProduct => Stream::Products,
            InsertEvent => Stream::OrderEvents,
        }
    }
}

impl Writes {
    /// Applies one write of `kind`. Keyset streams only take writes in a
    /// second after the last one a page ended in, so a page position is
    /// never overtaken (see `Table::served_through`); otherwise an order is
    /// updated instead.
    pub(crate) fn apply(&mut self, store: &Store, kind: WriteKind) {
        let stream = kind.stream();
        if self.guarded(stream) && timefmt::now_secs() <= store.read(stream).served_through() {
            self.update_order(store);
            return;
        }
        match kind {
            WriteKind::UpdateCustomer => self.update_customer(store),
            WriteKind::InsertCustomer => self.insert_customer(store),
            WriteKind::DeleteCustomer => self.delete_live(store, Stream::Customers),
            WriteKind::UpdateOrder => self.update_order(store),
            WriteKind::InsertOrder => self.insert_order(store),
            WriteKind::DeleteOrder => self.delete_live(store, Stream::Orders),
            WriteKind::UpdateProduct => self.update_product(store),
            WriteKind::InsertProduct => self.insert_product(store),
            WriteKind::InsertEvent => self.insert_event(store),
        }
    }

    fn ordinal(&mut self, stream: Stream) -> u64 {
        let i = Stream::ALL
            .iter()
            .position(|s| *s == stream)
            .expect("all streams are listed");
        let ordinal = self.next_ordinal[i];
        self.next_ordinal[i] += 1;
        ordinal
    }

    /// The slot of a random live record, if one is found quickly.
    fn pick_live(&mut self, table: &Table) -> Option<u32> {
        if table.len() == 0 {
            return None;
        }
        (0..PICK_ATTEMPTS)
            .map(|_| self.rng.index(table.len()) as u32)
            .find(|&slot| !table.row(slot).deleted)
    }

    /// Whether writes to `stream` must stay after every served page position:
    /// the keyset streams, except events when late events are wanted.
    fn guarded(&self, stream: Stream) -> bool {
        stream == Stream::Customers || (stream == Stream::OrderEvents && !self.late_events)
    }

    /// The second to stamp a write to `stream` with, or `None` to skip it.
    /// Guarded streams re-check under the write lock: a page may have ended
    /// in this very second since [`Writes::apply`] looked.
    fn now_for(&self, table: &Table, stream: Stream) -> Option<i64> {
        let now = timefmt::now_secs();
        (!(self.guarded(stream) && now <= table.served_through())).then_some(now)
    }

    fn update_customer(&mut self, store: &Store) {
        let mut table = store.write(Stream::Customers);
        let Some(now) = self.now_for(&table, Stream::Customers) else {
            return;
        };
        let Some(slot) = self.pick_live(&table) else {
            return;
        };
        let row = table.row(slot);
        let mut customer: Customer = parse_open_json(&row.body).expect("stored customers parse");
        match self.rng.below(3) {
            0 => customer.marketing_opt_in = !customer.marketing_opt_in,
            1 => customer.tags = customers::tags(&mut self.rng),
            _ => customer.phone = Some(format!("+1555{:07}", self.rng.below(10_000_000))),
        }
        customer.updated_at = Timestamp(now);
        let mut custom = row.custom.clone();
        if self.rng.chance(0.3) {
            custom = custom.with(
                seeded::LOYALTY_TIER,
                json!(self.rng.pick(&["silver", "gold", "platinum"])),
            );
        }
        let id = row.key.id;
        table.replace(
            slot,
            generate::row(&customer, Key { ts: now, id }, false, custom),
        );
    }

    fn insert_customer(&mut self, store: &Store) {
        let ordinal = self.ordinal(Stream::Customers);
        let mut table = store.write(Stream::Customers);
        let Some(now) = self.now_for(&table, Stream::Customers) else {
            return;
        };
        let customer = customers::build(
            &mut self.rng,
            self.seed,
            ordinal,
            now,
            now,
            customers::OrderStats::default(),
        );
        let id = record_id(self.seed, Stream::Customers, ordinal);
        table.insert(generate::row(
            &customer,
            Key { ts: now, id },
            false,
            CustomValues::default(),
        ));
    }

    /// Soft-deletes a random live customer or order.
    fn delete_live(&mut self, store: &Store, stream: Stream) {
        let mut table = store.write(stream);
        let Some(now) = self.now_for(&table, stream) else {
            return;
        };
        let Some(slot) = self.pick_live(&table) else {
            return;
        };
        let row = table.row(slot);
        let key = Key {
            ts: now,
            id: row.key.id,
        };
        let custom = row.custom.clone();
        let deleted = match stream {
            Stream::Customers => {
                let mut c: Customer = parse_open_json(&row.body).expect("stored customers parse");
                (c.updated_at, c.deleted_at) = (Timestamp(now), Some(Timestamp(now)));
                generate::row(&c, key, true, custom)
            }
            _ => {
                let mut o: Order = parse_open_json(&row.body).expect("stored orders parse");
                (o.updated_at, o.deleted_at) = (Timestamp(now), Some(Timestamp(now)));
                generate::row(&o, key, true, custom)
            }
        };
        table.replace(slot, deleted);
    }

    fn update_order(&mut self, store: &Store) {
        let mut table = store.write(Stream::Orders);
        let now = timefmt::now_secs();
        let Some(slot) = self.pick_live(&table) else {
            return;
        };
        let row = table.row(slot);
        let mut order: Order = parse_open_json(&row.body).expect("stored orders parse");
        order.status = next_status(&mut self.rng, order.status);
        order.updated_at = Timestamp(now);
        let mut custom = row.custom.clone();
        if self.rng.chance(0.2) {
            custom = custom.with(seeded::PRIORITY, json!(self.rng.between(1, 5)));
        }
        custom = self.fill_late_field(custom);
        let id = row.key.id;
        table.replace(
            slot,
            generate::row(&order, Key { ts: now, id }, false, custom),
        );
    }

    fn insert_order(&mut self, store: &Store) {
        let customer_id = {
            let customers = store.read(Stream::Customers);
            match customers.len() {
                0 => return,
                n => customers.row(self.rng.index(n) as u32).key.id,
            }
        };
        let ordinal = self.ordinal(Stream::Orders);
        let mut table = store.write(Stream::Orders);
        let now = timefmt::now_secs();
        let order = orders::build(
            &mut self.rng,
            self.seed,
            ordinal,
            customer_id,
            &self.catalog,
            now,
            now,
        );
        let custom = self.fill_late_field(CustomValues::default());
        let id = record_id(self.seed, Stream::Orders, ordinal);
        table.insert(generate::row(&order, Key { ts: now, id }, false, custom));
    }

    /// Sets the late custom field on most written orders once it exists.
    fn fill_late_field(&mut self, custom: CustomValues) -> CustomValues {
        match self.late_field {
            Some(field) if self.rng.chance(0.6) => {
                custom.with(field, json!(format!("late-{}", self.rng.below(1_000))))
            }
            _ => custom,
        }
    }

    fn update_product(&mut self, store: &Store) {
        let mut table = store.write(Stream::Products);
        if table.len() == 0 {
            return;
        }
        let slot = self.rng.index(table.len()) as u32;
        let row = table.row(slot);
        let mut product: Product = parse_open_json(&row.body).expect("stored products parse");
        match self.rng.below(3) {
            0 => product.price = products::price(&mut self.rng),
            1 => product.inventory_quantity = self.rng.between(0, 2_000),
            _ => product.active = !product.active,
        }
        product.updated_at = Timestamp(timefmt::now_secs());
        // Products sort by id alone, so an update does not move them.
        let key = row.key;
        table.replace(
            slot,
            generate::row(&product, key, false, CustomValues::default()),
        );
    }

    fn insert_product(&mut self, store: &Store) {
        let ordinal = self.ordinal(Stream::Products);
        let now = timefmt::now_secs();
        let product = products::build(&mut self.rng, self.seed, ordinal, now, now);
        let id = record_id(self.seed, Stream::Products, ordinal);
        self.catalog.push(ProductRef::of(&product, id));
        store.write(Stream::Products).insert(generate::row(
            &product,
            Key { ts: 0, id },
            false,
            CustomValues::default(),
        ));
    }

    fn insert_event(&mut self, store: &Store) {
        let order: Order = {
            let orders = store.read(Stream::Orders);
            match orders.len() {
                0 => return,
                n => parse_open_json(&orders.row(self.rng.index(n) as u32).body)
                    .expect("stored orders parse"),
            }
        };
        let ordinal = self.ordinal(Stream::OrderEvents);
        let mut table = store.write(Stream::OrderEvents);
        let Some(now) = self.now_for(&table, Stream::OrderEvents) else {
            return;
        };
        let at = if self.late_events {
            // Eventually consistent: visible now, stamped up to 5 minutes ago,
            // but never before the order existed.
            (now - self.rng.between(0, MAX_EVENT_LATENESS_SECS)).max(order.created_at.0)
        } else {
            now
        };
        let kind = self.rng.pick(&[
            EventType::NoteAdded,
            EventType::NoteAdded,
            EventType::Shipped,
            EventType::Delivered,
            EventType::Paid,
            EventType::Refunded,
        ]);
        let order_id =
            crate::model::parse_id(prefix::ORDER, &order.id).expect("stored order ids parse");
        let id = record_id(self.seed, Stream::OrderEvents, ordinal);
        let event = events::build(&mut self.rng, id, order_id, order.total_amount, kind, at);
        table.insert(generate::row(
            &event,
            Key { ts: at, id },
            false,
            CustomValues::default(),
        ));
    }
}

/// Where an order's status can go next (it may also stay).
fn next_status(rng: &mut Rng, status: OrderStatus) -> OrderStatus {
    use OrderStatus::*;
    match status {
        Pending => rng.pick(&[Paid, Paid, Cancelled, Pending]),
        Paid => rng.pick(&[Fulfilled, Fulfilled, Refunded, Paid]),
        Fulfilled => rng.pick(&[Fulfilled, Fulfilled, Fulfilled, Refunded]),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Sizes;
    use crate::store::{FieldRegistry, Row};

    fn setup() -> (Store, Writes) {
        let sizes = Sizes {
            customers: 20,
            products: 5,
            orders: 40,
            order_events: 60,
        };
        let data = generate::generate(3, &sizes, true);
        let catalog = data.catalog.clone();
        let store = Store::new(data, FieldRegistry::seeded(true));
        let writes = Writes {
            seed: 3,
            rng: Rng::new(3),
            next_ordinal: [20, 5, 40, 60],
            catalog,
            late_field: None,
            late_events: false,
        };
        (store, writes)
    }

    fn body_of(store: &Store, stream: Stream, id: u64) -> serde_json::Value {
        let table = store.read(stream);
        let row = table.rows().iter().find(|r| r.key.id == id).unwrap();
        serde_json::from_str(&format!("{}}}", row.body)).unwrap()
    }

    #[test]
    fn inserts_get_fresh_ids_and_the_current_second() {
        let (store, mut writes) = setup();
        let before = timefmt::now_secs();
        for kind in [
            WriteKind::InsertCustomer,
            WriteKind::InsertOrder,
            WriteKind::InsertProduct,
            WriteKind::InsertEvent,
        ] {
            writes.apply(&store, kind);
        }
        assert_eq!(store.read(Stream::Customers).len(), 21);
        assert_eq!(store.read(Stream::Orders).len(), 41);
        assert_eq!(store.read(Stream::Products).len(), 6);
        assert_eq!(store.read(Stream::OrderEvents).len(), 61);
        let order = body_of(&store, Stream::Orders, record_id(3, Stream::Orders, 40));
        let updated = timefmt::parse_instant(order["updated_at"].as_str().unwrap()).unwrap();
        assert!(updated >= before && updated <= timefmt::now_secs());
        assert_eq!(writes.catalog.len(), 6);
    }

    #[test]
    fn deletes_set_deleted_at_equal_to_updated_at() {
        let (store, mut writes) = setup();
        let live_before = store
            .read(Stream::Orders)
            .rows()
            .iter()
            .filter(|r| !r.deleted)
            .count();
        writes.apply(&store, WriteKind::DeleteOrder);
        let table = store.read(Stream::Orders);
        let live_after = table.rows().iter().filter(|r| !r.deleted).count();
        assert_eq!(live_after + 1, live_before);
        let newest = table.rows().iter().max_by_key(|r| r.key).unwrap();
        assert!(newest.deleted);
        let order: serde_json::Value = serde_json::from_str(&format!("{}}}", newest.body)).unwrap();
        assert_eq!(order["deleted_at"], order["updated_at"]);
    }

    #[test]
    fn late_events_lie_at_most_five_minutes_in_the_past() {
        let (store, mut writes) = setup();
        writes.late_events = true;
        for _ in 0..50 {
            writes.apply(&store, WriteKind::InsertEvent);
        }
        let now = timefmt::now_secs();
        let table = store.read(Stream::OrderEvents);
        let fresh: Vec<&Row> = table.rows()[60..].iter().collect();
        assert_eq!(fresh.len(), 50);
        assert!(
            fresh
                .iter()
                .all(|r| r.key.ts <= now && r.key.ts >= now - MAX_EVENT_LATENESS_SECS - 1)
        );
        assert!(fresh.iter().any(|r| r.key.ts < now - 5));
    }

    #[test]
    fn keyset_streams_take_no_write_in_a_second_a_page_already_ended_in() {
        let (store, mut writes) = setup();
        store
            .read(Stream::Customers)
            .note_served(timefmt::now_secs() + 60);
        let orders_before: Vec<Key> = store
            .read(Stream::Orders)
            .rows()
            .iter()
            .map(|r| r.key)
            .collect();
        writes.apply(&store, WriteKind::InsertCustomer);
        assert_eq!(store.read(Stream::Customers).len(), 20);
        // The write went to an order instead.
        let orders_after: Vec<Key> = store
            .read(Stream::Orders)
            .rows()
            .iter()
            .map(|r| r.key)
            .collect();
        assert_ne!(orders_before, orders_after);
    }

    #[test]
    fn product_updates_keep_their_position_but_change_updated_at() {
        let (store, mut writes) = setup();
        let keys_before: Vec<Key> = store
            .read(Stream::Products)
            .rows()
            .iter()
            .map(|r| r.key)
            .collect();
        writes.apply(&store, WriteKind::UpdateProduct);
        let table = store.read(Stream::Products);
        let keys_after: Vec<Key> = table.rows().iter().map(|r| r.key).collect();
        assert_eq!(keys_before, keys_after);
        let newest = table
            .rows()
            .iter()
            .map(|r| serde_json::from_str::<serde_json::Value>(&format!("{}}}", r.body)).unwrap())
            .filter_map(|p| timefmt::parse_instant(p["updated_at"].as_str().unwrap()))
            .max()
            .unwrap();
        assert!(newest >= timefmt::now_secs() - 1);
    }
}

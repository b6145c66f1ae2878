//! The background write load.
//!
//! A task applies a seeded mix of writes at the configured rate while the
//! server runs. All writes happen under one mutex together with a
//! generation number; changing or stopping the load bumps the generation
//! under the same mutex, so once [`Writer::set`] returns no write of the old
//! load can land.

mod ops;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;

use crate::config::{Sizes, WriteLoad};
use crate::generate::ProductRef;
use crate::rng::{Purpose, Rng};
use crate::store::{FieldObject, FieldType, Store};
use crate::timefmt;
use ops::{WriteKind, Writes};

/// How often the task wakes up to apply the writes that are due.
const TICK: Duration = Duration::from_millis(10);

/// Upper bound of writes in one tick, so a stalled task does not catch up
/// with one giant burst.
const MAX_WRITES_PER_TICK: f64 = 2_000.0;

/// Name of the custom field added by `WriteLoad::add_custom_field_after`.
pub(crate) const LATE_FIELD_NAME: &str = "late_field";

#[derive(Debug)]
struct Shared {
    generation: u64,
    writes: Writes,
}

/// Starts, changes and stops the write load.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    store: Arc<Store>,
    shared: Arc<Mutex<Shared>>,
    runtime: Handle,
}

impl Writer {
    /// A stopped writer for `store`, continuing ids after the generated `sizes`.
    pub(crate) fn new(
        store: Arc<Store>,
        seed: u64,
        sizes: &Sizes,
        catalog: Vec<ProductRef>,
        runtime: Handle,
    ) -> Writer {
        let ordinals = [
            sizes.customers,
            sizes.products,
            sizes.orders,
            sizes.order_events,
        ]
        .map(|n| n as u64);
        let writes = Writes {
            seed,
            rng: Rng::keyed(seed, Purpose::Writer, 0),
            next_ordinal: ordinals,
            catalog,
            late_field: None,
            late_events: false,
        };
        Writer {
            store,
            shared: Arc::new(Mutex::new(Shared {
                generation: 0,
                writes,
            })),
            runtime,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces the load; `None` stops it. Effective when this returns.
    pub(crate) fn set(&self, load: Option<WriteLoad>) {
        let generation = {
            let mut shared = self.lock();
            shared.generation += 1;
            if let Some(load) = &load {
                shared.writes.late_events = load.late_events;
            }
            shared.generation
        };
        if let Some(load) = load.filter(|l| l.writes_per_second > 0.0) {
            self.runtime.spawn(self.clone().run(generation, load));
        }
    }

    /// The task of one load generation.
    async fn run(self, generation: u64, load: WriteLoad) {
        let started = Instant::now();
        let mut last = started;
        let mut owed = 0.0_f64;
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let now = Instant::now();
            owed = (owed + now.duration_since(last).as_secs_f64() * load.writes_per_second)
                .min(MAX_WRITES_PER_TICK);
            last = now;
            let mut shared = self.lock();
            if shared.generation != generation {
                return;
            }
            if let Some(after) = load.add_custom_field_after
                && shared.writes.late_field.is_none()
                && now.duration_since(started) >= after
            {
                let id = self.store.fields_mut().add(
                    FieldObject::Orders,
                    LATE_FIELD_NAME,
                    FieldType::String,
                    timefmt::now_secs(),
                );
                shared.writes.late_field = Some(id);
            }
            while owed >= 1.0 {
                owed -= 1.0;
                let kind = WriteKind::pick(&mut shared.writes.rng);
                shared.writes.apply(&self.store, kind);
            }
        }
    }

    /// Stops the load (same as `set(None)`).
    pub(crate) fn stop(&self) {
        self.set(None);
    }
}

//! The records the API serves and the write load edits.
//!
//! One [`Table`] per stream behind a read-write lock, plus the custom field
//! registry. Lock order is registry, then table, everywhere.

mod fields;
mod index;
mod table;

use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

pub(crate) use fields::{
    CustomValues, FieldId, FieldObject, FieldRegistry, FieldSet, FieldType, seeded,
};
pub(crate) use index::Key;
pub(crate) use table::{ListQuery, ListResult, Row, Start, Table};

use crate::generate::Dataset;
use crate::stream::Stream;

/// All records of a sandbox.
#[derive(Debug)]
pub(crate) struct Store {
    customers: RwLock<Table>,
    products: RwLock<Table>,
    orders: RwLock<Table>,
    events: RwLock<Table>,
    fields: RwLock<FieldRegistry>,
}

impl Store {
    /// A store holding a generated data set.
    pub(crate) fn new(dataset: Dataset, fields: FieldRegistry) -> Store {
        Store {
            customers: RwLock::new(Table::new(dataset.customers)),
            products: RwLock::new(Table::new(dataset.products)),
            orders: RwLock::new(Table::new(dataset.orders)),
            events: RwLock::new(Table::new(dataset.events)),
            fields: RwLock::new(fields),
        }
    }

    fn lock(&self, stream: Stream) -> &RwLock<Table> {
        match stream {
            Stream::Customers => &self.customers,
            Stream::Products => &self.products,
            Stream::Orders => &self.orders,
            Stream::OrderEvents => &self.events,
        }
    }

    /// Shared access to a stream's table.
    pub(crate) fn read(&self, stream: Stream) -> RwLockReadGuard<'_, Table> {
        // A panic while holding the lock cannot leave a table half-edited in a
        // way that matters more than refusing all further requests would.
        self.lock(stream).read().unwrap_or_else(|e| e.into_inner())
    }

    /// Exclusive access to a stream's table.
    pub(crate) fn write(&self, stream: Stream) -> RwLockWriteGuard<'_, Table> {
        self.lock(stream).write().unwrap_or_else(|e| e.into_inner())
    }

    /// Shared access to the custom field registry.
    pub(crate) fn fields(&self) -> RwLockReadGuard<'_, FieldRegistry> {
        self.fields.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Exclusive access to the custom field registry.
    pub(crate) fn fields_mut(&self) -> RwLockWriteGuard<'_, FieldRegistry> {
        self.fields.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Lists a page of `stream`, appending its records to `out`.
    pub(crate) fn list(&self, stream: Stream, query: &ListQuery, out: &mut Vec<u8>) -> ListResult {
        let registry = self.fields();
        let set = field_object(stream).map_or(fields_none(), |o| registry.set(o));
        let table = self.read(stream);
        let result = table.list(query, set, out);
        if let (true, Some(last)) = (stream.is_keyset(), result.last_key) {
            table.note_served(last.ts);
        }
        result
    }
}

/// The (empty) field set of streams without custom fields.
pub(crate) fn fields_none() -> &'static FieldSet {
    &fields::NO_FIELDS
}

/// The custom field object of a stream, if it has custom fields.
pub(crate) fn field_object(stream: Stream) -> Option<FieldObject> {
    match stream {
        Stream::Customers => Some(FieldObject::Customers),
        Stream::Orders => Some(FieldObject::Orders),
        Stream::Products | Stream::OrderEvents => None,
    }
}

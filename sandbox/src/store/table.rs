//! One stream's records, their sort index, and page extraction.

use std::sync::atomic::{AtomicI64, Ordering};

use super::fields::{CustomValues, FieldSet};
use super::index::{Entry, Key, SortedIndex};

/// A stored record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Row {
    /// Sort key: `(updated_at | timestamp | 0, id)`.
    pub key: Key,
    /// Soft-deleted (`deleted_at` set).
    pub deleted: bool,
    /// Canonical JSON of the record without custom fields and without the
    /// closing brace (see [`crate::model::open_json`]); pages splice these.
    pub body: Box<str>,
    /// The record's custom field values.
    pub custom: CustomValues,
}

impl Row {
    /// Appends the record's full canonical JSON with the custom fields of `fields`.
    pub(crate) fn render(&self, fields: &FieldSet, out: &mut Vec<u8>) {
        out.extend_from_slice(self.body.as_bytes());
        fields.close_record(&self.custom, out);
    }
}

/// Where a page starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Start {
    /// Page-number pagination: skip this many matching records.
    Skip(usize),
    /// Keyset pagination: the first matching record after this key.
    After(Key),
}

/// What a list request selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ListQuery {
    /// Inclusive lower bound on the key's second.
    pub min_ts: Option<i64>,
    /// Inclusive upper bound on the key's second.
    pub max_ts: Option<i64>,
    pub include_deleted: bool,
    pub start: Start,
    pub limit: usize,
}

/// What a page held, besides its rendered records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ListResult {
    /// Records matching the filters (not the position): `X-Total-Count`.
    pub total: usize,
    /// Records on this page.
    pub returned: usize,
    /// Whether matching records follow this page.
    pub has_more: bool,
    /// Key of the page's last record.
    pub last_key: Option<Key>,
}

/// One stream's records (by slot) and their index.
#[derive(Debug)]
pub(crate) struct Table {
    rows: Vec<Row>,
    index: SortedIndex,
    /// The latest second a keyset page of this table ended in. The write load
    /// writes no record at or before it, so a key handed out as a page
    /// position is never overtaken by a record sorted before it.
    served_through: AtomicI64,
}

impl Table {
    /// A table over `rows` (in any order).
    pub(crate) fn new(rows: Vec<Row>) -> Table {
        let mut entries: Vec<Entry> = rows
            .iter()
            .enumerate()
            .map(|(slot, row)| Entry {
                key: row.key,
                slot: u32::try_from(slot).expect("fewer than 2^32 records"),
                deleted: row.deleted,
            })
            .collect();
        entries.sort_unstable_by_key(|e| e.key);
        Table {
            rows,
            index: SortedIndex::from_sorted(entries),
            served_through: AtomicI64::new(i64::MIN),
        }
    }

    /// Number of records, soft-deleted ones included.
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// All records, by slot.
    pub(crate) fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// The record in `slot`.
    pub(crate) fn row(&self, slot: u32) -> &Row {
        &self.rows[slot as usize]
    }

    /// Adds a record (its key must be new) and returns its slot.
    pub(crate) fn insert(&mut self, row: Row) -> u32 {
        let slot = u32::try_from(self.rows.len()).expect("fewer than 2^32 records");
        self.index.insert(Entry {
            key: row.key,
            slot,
            deleted: row.deleted,
        });
        self.rows.push(row);
        slot
    }

    /// Replaces the record in `slot`, moving it in the sort order if its key changed.
    pub(crate) fn replace(&mut self, slot: u32, row: Row) {
        let old = &self.rows[slot as usize];
        let removed = self.index.remove(old.key);
        debug_assert_eq!(removed.map(|e| e.slot), Some(slot));
        self.index.insert(Entry {
            key: row.key,
            slot,
            deleted: row.deleted,
        });
        self.rows[slot as usize] = row;
    }

    /// Selects a page, appends its records (comma-separated) to `out`, and
    /// says what it held.
    pub(crate) fn list(
        &self,
        query: &ListQuery,
        fields: &FieldSet,
        out: &mut Vec<u8>,
    ) -> ListResult {
        let index = &self.index;
        let lo = query
            .min_ts
            .map_or(index.start(), |t| index.lower_bound(Key::first_at(t)));
        let hi = query.max_ts.map_or(index.end(), |t| {
            index.lower_bound(Key::first_at(t.saturating_add(1)))
        });
        let total = index.count(lo, hi, query.include_deleted);
        let (from, skip) = match query.start {
            Start::Skip(n) => (lo, n),
            Start::After(key) => (lo.max(index.upper_bound(key)), 0),
        };
        let mut entries = Vec::with_capacity(query.limit.min(1024));
        let has_more = index.scan(
            from,
            hi,
            query.include_deleted,
            skip,
            query.limit,
            &mut entries,
        );
        for (i, entry) in entries.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            self.row(entry.slot).render(fields, out);
        }
        ListResult {
            total,
            returned: entries.len(),
            has_more,
            last_key: entries.last().map(|e| e.key),
        }
    }

    /// Records that a keyset page ended at second `ts`.
    pub(crate) fn note_served(&self, ts: i64) {
        self.served_through.fetch_max(ts, Ordering::AcqRel);
    }

    /// The latest second a keyset page ended in (`i64::MIN` if none yet).
    pub(crate) fn served_through(&self) -> i64 {
        self.served_through.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(ts: i64, id: u64, deleted: bool) -> Row {
        Row {
            key: Key { ts, id },
            deleted,
            body: format!("{{\"id\":{id}").into_boxed_str(),
            custom: CustomValues::default(),
        }
    }

    fn query(start: Start, limit: usize) -> ListQuery {
        ListQuery {
            min_ts: None,
            max_ts: None,
            include_deleted: false,
            start,
            limit,
        }
    }

    fn render(table: &Table, q: ListQuery) -> (String, ListResult) {
        let mut out = Vec::new();
        let result = table.list(&q, &FieldSet::default(), &mut out);
        (String::from_utf8(out).unwrap(), result)
    }

    #[test]
    fn pages_are_sorted_by_time_then_id_and_skip_deleted_records() {
        let table = Table::new(vec![
            row(20, 1, false),
            row(10, 9, false),
            row(10, 3, true),
            row(10, 2, false),
        ]);
        let (json, result) = render(&table, query(Start::Skip(0), 10));
        assert_eq!(json, r#"{"id":2},{"id":9},{"id":1}"#);
        assert_eq!(
            (result.total, result.returned, result.has_more),
            (3, 3, false)
        );
    }

    #[test]
    fn filters_bound_the_total_and_keyset_positions_do_not() {
        let table = Table::new((0..10).map(|i| row(i, i as u64, false)).collect());
        let q = ListQuery {
            min_ts: Some(3),
            max_ts: Some(7),
            include_deleted: false,
            start: Start::After(Key { ts: 4, id: 4 }),
            limit: 2,
        };
        let (json, result) = render(&table, q);
        assert_eq!(json, r#"{"id":5},{"id":6}"#);
        assert_eq!(result.total, 5);
        assert!(result.has_more);
        assert_eq!(result.last_key, Some(Key { ts: 6, id: 6 }));
    }

    #[test]
    fn a_replaced_record_moves_to_its_new_position() {
        let mut table = Table::new((0..5).map(|i| row(i, i as u64, false)).collect());
        table.replace(1, row(100, 1, false));
        let (json, _) = render(&table, query(Start::Skip(0), 10));
        assert_eq!(json, r#"{"id":0},{"id":2},{"id":3},{"id":4},{"id":1}"#);
        let slot = table.insert(row(50, 7, true));
        assert_eq!(table.row(slot).key.id, 7);
        assert_eq!(table.len(), 6);
    }
}

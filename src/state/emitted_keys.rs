//! Keys already emitted, grouped by the second of their cursor: the memory
//! that lets a walk read a stretch again without emitting a record twice.
//!
//! Order events keep it in their state (`"emitted"`) for the lookback
//! window that the next sync re-reads; a keyset walk keeps one for the
//! second it re-reads after an expired page token. Skipping only keys that
//! are in it can never lose a record: forgetting keys (a window that moved
//! on, or the bound) only means they may be emitted again.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Keys by the second of their cursor. In a state: `{"<RFC 3339 UTC>": ["<id>", …]}`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EmittedKeys {
    by_second: BTreeMap<DateTime<Utc>, BTreeSet<String>>,
    len: usize,
}

impl EmittedKeys {
    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many keys are remembered.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the record `id` with this cursor was emitted.
    pub fn contains(&self, cursor: DateTime<Utc>, id: &str) -> bool {
        self.by_second
            .get(&cursor)
            .is_some_and(|ids| ids.contains(id))
    }

    /// Remembers that the record `id` with this cursor was emitted.
    pub fn insert(&mut self, cursor: DateTime<Utc>, id: &str) {
        let ids = self.by_second.entry(cursor).or_default();
        if !ids.contains(id) {
            ids.insert(id.to_owned());
            self.len += 1;
        }
    }

    /// Forgets every key whose cursor is at or before `through`: no later
    /// read goes back that far.
    pub fn forget_through(&mut self, through: Option<DateTime<Utc>>) {
        let Some(through) = through else {
            return;
        };
        let kept = self
            .by_second
            .split_off(&(through + chrono::TimeDelta::nanoseconds(1)));
        let forgotten = std::mem::replace(&mut self.by_second, kept);
        self.len -= forgotten.values().map(BTreeSet::len).sum::<usize>();
    }

    /// Forgets the oldest seconds until at most `bound` keys are left;
    /// returns the latest cursor forgotten, if any. Whole seconds go, so
    /// what is left is complete after that cursor.
    pub fn keep_newest(&mut self, bound: usize) -> Option<DateTime<Utc>> {
        let mut forgotten = None;
        while self.len > bound {
            let Some((second, ids)) = self.by_second.pop_first() else {
                break;
            };
            self.len -= ids.len();
            forgotten = Some(second);
        }
        forgotten
    }
}

impl Serialize for EmittedKeys {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.by_second.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for EmittedKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let by_second = BTreeMap::<DateTime<Utc>, BTreeSet<String>>::deserialize(deserializer)?;
        let len = by_second.values().map(BTreeSet::len).sum();
        Ok(EmittedKeys { by_second, len })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn keys(entries: &[(&str, &str)]) -> EmittedKeys {
        let mut keys = EmittedKeys::default();
        for (cursor, id) in entries {
            keys.insert(t(cursor), id);
        }
        keys
    }

    #[test]
    fn a_key_is_remembered_with_its_cursor_and_only_with_it() {
        let keys = keys(&[("2024-01-01T10:00:00Z", "evt_1")]);
        assert!(keys.contains(t("2024-01-01T10:00:00Z"), "evt_1"));
        assert!(!keys.contains(t("2024-01-01T10:00:01Z"), "evt_1"));
        assert!(!keys.contains(t("2024-01-01T10:00:00Z"), "evt_2"));
    }

    #[test]
    fn a_key_inserted_twice_counts_once() {
        let keys = keys(&[
            ("2024-01-01T10:00:00Z", "evt_1"),
            ("2024-01-01T10:00:00Z", "evt_1"),
        ]);
        assert_eq!(keys.len(), 1);
    }

    #[test]
    fn forgetting_drops_the_seconds_at_or_before_the_bound_of_the_window() {
        let mut keys = keys(&[
            ("2024-01-01T10:00:00Z", "evt_1"),
            ("2024-01-01T10:00:01Z", "evt_2"),
            ("2024-01-01T10:00:02Z", "evt_3"),
        ]);
        keys.forget_through(Some(t("2024-01-01T10:00:01Z")));
        assert_eq!(keys, self::keys(&[("2024-01-01T10:00:02Z", "evt_3")]));
        keys.forget_through(None);
        assert_eq!(keys.len(), 1);
    }

    #[test]
    fn over_the_bound_the_oldest_whole_seconds_are_forgotten() {
        let mut keys = keys(&[
            ("2024-01-01T10:00:00Z", "evt_1"),
            ("2024-01-01T10:00:01Z", "evt_2"),
            ("2024-01-01T10:00:01Z", "evt_3"),
            ("2024-01-01T10:00:02Z", "evt_4"),
        ]);
        assert_eq!(keys.keep_newest(2), Some(t("2024-01-01T10:00:01Z")));
        assert_eq!(keys, self::keys(&[("2024-01-01T10:00:02Z", "evt_4")]));
        assert_eq!(keys.keep_newest(2), None);
    }

    #[test]
    fn in_a_state_keys_are_listed_under_their_second_in_utc() {
        let keys = keys(&[
            ("2024-01-01T12:00:00+02:00", "evt_2"),
            ("2024-01-01T10:00:00Z", "evt_1"),
        ]);
        let value = serde_json::to_value(&keys).unwrap();
        assert_eq!(value, json!({"2024-01-01T10:00:00Z": ["evt_1", "evt_2"]}));
        let read: EmittedKeys = serde_json::from_value(value).unwrap();
        assert_eq!(read, keys);
        assert_eq!(read.len(), 2);
    }
}

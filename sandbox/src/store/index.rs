//! A sorted index with cheap positioning by rank.
//!
//! Entries are kept sorted by [`Key`] in chunks of about a thousand, each
//! chunk knowing how many of its entries are not soft-deleted. Finding the
//! n-th matching entry walks chunk counts and then one chunk, so page
//! positioning costs `O(n / CHUNK + CHUNK)` instead of a linear skip, and
//! an insert or removal moves at most one chunk's entries.

/// Sort key of a record: `(updated_at or timestamp, id)`; products use `ts = 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Key {
    /// Whole unix seconds.
    pub ts: i64,
    /// Numeric part of the id (fixed-width hex, so numeric order is string order).
    pub id: u64,
}

impl Key {
    /// The smallest key at second `ts`.
    pub(crate) const fn first_at(ts: i64) -> Key {
        Key { ts, id: 0 }
    }
}

/// An index entry pointing at a table slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub key: Key,
    pub slot: u32,
    pub deleted: bool,
}

/// Chunk size after building or splitting; chunks split at twice this.
const CHUNK: usize = 1024;

#[derive(Debug)]
struct Chunk {
    entries: Vec<Entry>,
    /// Entries not soft-deleted.
    live: usize,
}

impl Chunk {
    fn new(entries: Vec<Entry>) -> Chunk {
        let live = entries.iter().filter(|e| !e.deleted).count();
        Chunk { entries, live }
    }

    fn last_key(&self) -> Key {
        self.entries.last().expect("chunks are never empty").key
    }
}

/// A position between entries: `(chunk, offset)` with `offset < chunk len`,
/// or the end `(chunks, 0)`. Positions compare in sequence order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Pos {
    chunk: usize,
    offset: usize,
}

/// Entries sorted by key, see the module docs.
#[derive(Debug, Default)]
pub(crate) struct SortedIndex {
    chunks: Vec<Chunk>,
}

impl SortedIndex {
    /// Builds the index from entries already sorted by key.
    pub(crate) fn from_sorted(entries: Vec<Entry>) -> SortedIndex {
        debug_assert!(entries.windows(2).all(|w| w[0].key < w[1].key));
        let chunks = entries
            .chunks(CHUNK)
            .map(|c| Chunk::new(c.to_vec()))
            .collect();
        SortedIndex { chunks }
    }

    /// Number of entries, deleted ones included.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.chunks.iter().map(|c| c.entries.len()).sum()
    }

    /// The position of the first entry.
    pub(crate) fn start(&self) -> Pos {
        Pos {
            chunk: 0,
            offset: 0,
        }
    }

    /// The position after the last entry.
    pub(crate) fn end(&self) -> Pos {
        Pos {
            chunk: self.chunks.len(),
            offset: 0,
        }
    }

    /// Position of the first entry with a key `>= key`.
    pub(crate) fn lower_bound(&self, key: Key) -> Pos {
        self.bound(|k| k < key)
    }

    /// Position of the first entry with a key `> key`.
    pub(crate) fn upper_bound(&self, key: Key) -> Pos {
        self.bound(|k| k <= key)
    }

    /// Position of the first entry for which `before` is false (`before` must
    /// be true for a prefix of the sequence).
    fn bound(&self, before: impl Fn(Key) -> bool) -> Pos {
        let chunk = self.chunks.partition_point(|c| before(c.last_key()));
        match self.chunks.get(chunk) {
            None => self.end(),
            Some(c) => Pos {
                chunk,
                offset: c.entries.partition_point(|e| before(e.key)),
            },
        }
    }

    /// Inserts an entry whose key is not yet present.
    pub(crate) fn insert(&mut self, entry: Entry) {
        if self.chunks.is_empty() {
            self.chunks.push(Chunk::new(vec![entry]));
            return;
        }
        // Past the last key, append to the last chunk (the common case for writes).
        let c = self
            .chunks
            .partition_point(|c| c.last_key() < entry.key)
            .min(self.chunks.len() - 1);
        let chunk = &mut self.chunks[c];
        let i = chunk.entries.partition_point(|e| e.key < entry.key);
        debug_assert!(chunk.entries.get(i).is_none_or(|e| e.key != entry.key));
        chunk.entries.insert(i, entry);
        chunk.live += usize::from(!entry.deleted);
        if chunk.entries.len() > 2 * CHUNK {
            let tail = Chunk::new(chunk.entries.split_off(CHUNK));
            chunk.live -= tail.live;
            self.chunks.insert(c + 1, tail);
        }
    }

    /// Removes the entry with `key`, returning it.
    pub(crate) fn remove(&mut self, key: Key) -> Option<Entry> {
        let pos = self.lower_bound(key);
        let chunk = self.chunks.get_mut(pos.chunk)?;
        if chunk.entries[pos.offset].key != key {
            return None;
        }
        let entry = chunk.entries.remove(pos.offset);
        chunk.live -= usize::from(!entry.deleted);
        if chunk.entries.is_empty() {
            self.chunks.remove(pos.chunk);
        }
        Some(entry)
    }

    /// The runs of entries between `from` (inclusive) and `to` (exclusive),
    /// one per chunk, each with that chunk's count of matching entries when
    /// the run covers the whole chunk.
    fn runs(&self, from: Pos, to: Pos) -> impl Iterator<Item = (&Chunk, &[Entry])> {
        let last = to.chunk.min(self.chunks.len().saturating_sub(1));
        let chunks = if from < to && from.chunk < self.chunks.len() {
            from.chunk..last + 1
        } else {
            0..0
        };
        chunks.filter_map(move |c| {
            let chunk = &self.chunks[c];
            let lo = if c == from.chunk { from.offset } else { 0 };
            let hi = if c == to.chunk {
                to.offset
            } else {
                chunk.entries.len()
            };
            (lo < hi).then(|| (chunk, &chunk.entries[lo..hi]))
        })
    }

    /// Number of entries in a run that pass the deleted filter.
    fn matching(chunk: &Chunk, run: &[Entry], include_deleted: bool) -> usize {
        match (include_deleted, run.len() == chunk.entries.len()) {
            (true, _) => run.len(),
            (false, true) => chunk.live,
            (false, false) => run.iter().filter(|e| !e.deleted).count(),
        }
    }

    /// Entries in `[from, to)` that pass the deleted filter.
    pub(crate) fn count(&self, from: Pos, to: Pos, include_deleted: bool) -> usize {
        self.runs(from, to)
            .map(|(c, run)| Self::matching(c, run, include_deleted))
            .sum()
    }

    /// Appends to `out` up to `take` entries of `[from, to)` that pass the
    /// deleted filter, after skipping `skip` of them; returns whether more
    /// matching entries follow.
    pub(crate) fn scan(
        &self,
        from: Pos,
        to: Pos,
        include_deleted: bool,
        mut skip: usize,
        take: usize,
        out: &mut Vec<Entry>,
    ) -> bool {
        let start = out.len();
        for (chunk, run) in self.runs(from, to) {
            let matching = Self::matching(chunk, run, include_deleted);
            if skip >= matching {
                skip -= matching;
                continue;
            }
            for entry in run.iter().filter(|e| include_deleted || !e.deleted) {
                if skip > 0 {
                    skip -= 1;
                } else if out.len() - start == take {
                    return true;
                } else {
                    out.push(*entry);
                }
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ts: i64, id: u64, deleted: bool) -> Entry {
        Entry {
            key: Key { ts, id },
            slot: id as u32,
            deleted,
        }
    }

    /// A naive model: the sorted list itself.
    fn model(n: u64) -> Vec<Entry> {
        (0..n)
            .map(|i| entry((i / 7) as i64, i, i % 5 == 0))
            .collect()
    }

    #[test]
    fn scan_matches_a_naive_filter_skip_take() {
        let all = model(5_000);
        let index = SortedIndex::from_sorted(all.clone());
        for include_deleted in [false, true] {
            let filtered: Vec<Entry> = all
                .iter()
                .copied()
                .filter(|e| include_deleted || !e.deleted)
                .collect();
            for (skip, take) in [
                (0, 10),
                (1_000, 1_000),
                (3_990, 100),
                (10_000, 5),
                (3_000, 0),
            ] {
                let mut out = Vec::new();
                let more = index.scan(
                    index.start(),
                    index.end(),
                    include_deleted,
                    skip,
                    take,
                    &mut out,
                );
                let expected: Vec<Entry> = filtered.iter().copied().skip(skip).take(take).collect();
                assert_eq!(out, expected, "skip {skip} take {take}");
                assert_eq!(
                    more,
                    filtered.len() > skip + take,
                    "skip {skip} take {take}"
                );
            }
        }
    }

    #[test]
    fn bounds_and_counts_match_key_ranges() {
        let all = model(5_000);
        let index = SortedIndex::from_sorted(all.clone());
        let lo = index.lower_bound(Key::first_at(100));
        let hi = index.upper_bound(Key {
            ts: 400,
            id: u64::MAX,
        });
        let expected = all
            .iter()
            .filter(|e| (100..=400).contains(&e.key.ts) && !e.deleted)
            .count();
        assert_eq!(index.count(lo, hi, false), expected);
        assert_eq!(index.count(hi, lo, false), 0);
        assert_eq!(index.lower_bound(Key::first_at(1_000_000)), index.end());
    }

    #[test]
    fn inserts_and_removals_keep_the_order_and_the_counts() {
        let mut index = SortedIndex::from_sorted(model(3_000));
        let mut naive = model(3_000);
        // Move many entries to the end, like updates do, and some into the middle.
        for i in (0..3_000).step_by(3) {
            let old = naive.iter().position(|e| e.key.id == i).unwrap();
            let removed = naive.remove(old);
            assert_eq!(index.remove(removed.key), Some(removed));
            let moved = entry(
                if i % 2 == 0 { 10_000 + i as i64 } else { 5 },
                i,
                i % 4 == 0,
            );
            index.insert(moved);
            naive.push(moved);
        }
        naive.sort_by_key(|e| e.key);
        let mut out = Vec::new();
        index.scan(index.start(), index.end(), true, 0, usize::MAX, &mut out);
        assert_eq!(out, naive);
        assert_eq!(index.len(), naive.len());
        let live = naive.iter().filter(|e| !e.deleted).count();
        assert_eq!(index.count(index.start(), index.end(), false), live);
        assert_eq!(index.remove(Key { ts: -1, id: 0 }), None);
    }

    #[test]
    fn an_index_can_grow_from_empty_and_shrink_to_empty() {
        let mut index = SortedIndex::default();
        for i in 0..5_000 {
            index.insert(entry(i % 13, i as u64, false));
        }
        assert_eq!(index.len(), 5_000);
        for i in 0..5_000 {
            assert!(
                index
                    .remove(Key {
                        ts: i % 13,
                        id: i as u64
                    })
                    .is_some()
            );
        }
        assert_eq!(index.len(), 0);
        assert_eq!(index.lower_bound(Key::first_at(0)), index.end());
    }
}

//! Windows and slices of time-ordered streams, and the checkpoints they allow.
//!
//! A sync reads the records whose cursor lies in a window `(lo, hi]`: `lo`
//! comes from the state (or `start_date`), `hi` is fixed when the sync starts,
//! so a sync always ends while the shop keeps writing. A long window is cut
//! into slices walked in parallel. The stream's checkpoint may only claim
//! what is certain: every slice before it finished, and the safe position
//! inside the first unfinished one. Records of later slices may already be
//! out; a sync resumed from the checkpoint reads them again (at-least-once).
//!
//! A stream with a lookback (order events) also remembers the keys it
//! emitted ([`EmittedKeys`]) and writes those the next read goes back to
//! into every state, so that re-reading them emits nothing twice: those
//! after the lookback window of the state's cursor, at most a bound of them
//! (the newest; past it, the oldest seconds may come again, with a WARN).

use std::num::NonZeroU64;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use tokio::sync::Mutex;

use super::batch::Batch;
use super::stream::Sink;
use crate::protocol::{LogLevel, SyncMode};
use crate::state::{EmittedKeys, Resume, StreamState};

/// One second, the API's timestamp precision.
pub const SECOND: TimeDelta = TimeDelta::seconds(1);

/// The instant truncated to whole seconds.
pub fn floor_second(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(SECOND).unwrap_or(t)
}

/// The instant rounded up to whole seconds.
pub fn ceil_second(t: DateTime<Utc>) -> DateTime<Utc> {
    let floor = floor_second(t);
    if floor == t { t } else { floor + SECOND }
}

/// An instant as the API takes it: RFC 3339 in UTC.
pub fn api_instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Records with `lo < cursor <= hi`; `lo = None` means from the beginning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slice {
    pub lo: Option<DateTime<Utc>>,
    pub hi: DateTime<Utc>,
}

/// Cuts `(lo, hi]` into at most `parts` slices of equal length, on whole
/// seconds, so that no second is split between two slices.
pub fn split(lo: DateTime<Utc>, hi: DateTime<Utc>, parts: usize) -> Vec<Slice> {
    let span = (hi - lo).num_seconds();
    let parts = (parts.max(1) as i64).min(span.max(1));
    let mut slices = Vec::with_capacity(parts as usize);
    let mut start = lo;
    for i in 1..=parts {
        let end = if i == parts {
            hi
        } else {
            lo + TimeDelta::seconds(span * i / parts)
        };
        slices.push(Slice {
            lo: Some(start),
            hi: end,
        });
        start = end;
    }
    slices
}

/// The checkpoints of one time-ordered stream read in slices. It sends
/// through the sink it is handed, which the slices' walkers share.
pub struct SliceTracker {
    mode: SyncMode,
    interval: NonZeroU64,
    /// Set for streams that remember the keys they emit.
    memory: Option<Memory>,
    progress: Mutex<Progress>,
    /// Records skipped on purpose for a cursor past the sync's upper bound.
    beyond_window: AtomicU64,
    /// Whether any walk saw a record, kept or not.
    found: AtomicBool,
}

/// What a remembering stream knows before the sync, and how much it keeps.
struct Memory {
    /// The keys the input state says were emitted: never emitted again.
    earlier: EmittedKeys,
    /// How far before its cursor the next sync reads again.
    lookback: TimeDelta,
    /// At most this many keys are kept.
    bound: usize,
}

struct Progress {
    slices: Vec<SliceProgress>,
    /// The cursor already certain before this sync (the input state).
    baseline: Option<DateTime<Utc>>,
    /// The cursor of the last checkpoint written.
    claimed: Option<DateTime<Utc>>,
    /// The latest cursor among the records emitted.
    newest: Option<DateTime<Utc>>,
    since_checkpoint: u64,
    /// Remembering streams: the keys emitted, before this sync or in it.
    emitted: EmittedKeys,
    /// The latest cursor whose keys were forgotten to stay within the bound.
    forgotten: Option<DateTime<Utc>>,
}

struct SliceProgress {
    hi: DateTime<Utc>,
    safe: Option<DateTime<Utc>>,
    done: bool,
}

impl Progress {
    /// The latest instant at or before which every record was emitted.
    fn certain(&self) -> Option<DateTime<Utc>> {
        let mut certain = self.baseline;
        for slice in &self.slices {
            if slice.done {
                certain = certain.max(Some(slice.hi));
            } else {
                return certain.max(slice.safe);
            }
        }
        certain
    }
}

impl SliceTracker {
    /// `baseline` is what the input state already claims.
    pub fn new(
        mode: SyncMode,
        interval: NonZeroU64,
        baseline: Option<DateTime<Utc>>,
        slices: &[Slice],
    ) -> Self {
        SliceTracker {
            mode,
            interval,
            beyond_window: AtomicU64::new(0),
            found: AtomicBool::new(false),
            memory: None,
            progress: Mutex::new(Progress {
                slices: slices
                    .iter()
                    .map(|s| SliceProgress {
                        hi: s.hi,
                        safe: None,
                        done: false,
                    })
                    .collect(),
                baseline,
                claimed: baseline,
                newest: None,
                since_checkpoint: 0,
                emitted: EmittedKeys::default(),
                forgotten: None,
            }),
        }
    }

    /// Makes the tracker remember the keys emitted, starting from `earlier`
    /// (the input state's), keeping at most `bound` of those the next read
    /// goes back to (`lookback` before the cursor).
    pub fn remembering(mut self, earlier: EmittedKeys, lookback: TimeDelta, bound: usize) -> Self {
        self.progress.get_mut().emitted = earlier.clone();
        self.memory = Some(Memory {
            earlier,
            lookback,
            bound,
        });
        self
    }

    /// Whether the walks must hand over the keys they emit.
    pub fn remembers(&self) -> bool {
        self.memory.is_some()
    }

    /// Whether an earlier sync emitted this record: it is not emitted again.
    pub fn emitted_before(&self, cursor: DateTime<Utc>, id: &str) -> bool {
        self.memory
            .as_ref()
            .is_some_and(|memory| memory.earlier.contains(cursor, id))
    }

    /// Emits a page of records of `slice`, then records that every record
    /// of the slice at or before `safe` is out, and checkpoints if due.
    pub async fn emit(
        &self,
        sink: &impl Sink,
        slice: usize,
        batch: Batch,
        safe: Option<DateTime<Utc>>,
        newest: Option<DateTime<Utc>>,
    ) {
        self.emit_remembering(sink, slice, batch, Vec::new(), safe, newest)
            .await;
    }

    /// [`SliceTracker::emit`] for a remembering stream: `keys` are the
    /// cursor and id of each record of `batch`.
    pub async fn emit_remembering(
        &self,
        sink: &impl Sink,
        slice: usize,
        batch: Batch,
        keys: Vec<(DateTime<Utc>, String)>,
        safe: Option<DateTime<Utc>>,
        newest: Option<DateTime<Utc>>,
    ) {
        let count = batch.count();
        // Records go out before the progress that covers them is noted, so
        // no checkpoint can precede its records. A remembering stream holds
        // the progress meanwhile, so that a checkpoint of another slice
        // cannot come between records and their keys: each state remembers
        // exactly the records sent before it.
        let mut progress = match &self.memory {
            Some(_) => {
                let progress = self.progress.lock().await;
                if count > 0 {
                    sink.records(batch).await;
                }
                progress
            }
            None => {
                if count > 0 {
                    sink.records(batch).await;
                }
                self.progress.lock().await
            }
        };
        if let Some(memory) = &self.memory {
            let progress = &mut *progress;
            for (cursor, id) in &keys {
                progress.emitted.insert(*cursor, id);
            }
            let forgotten = progress.emitted.keep_newest(memory.bound);
            progress.forgotten = progress.forgotten.max(forgotten);
        }
        let entry = &mut progress.slices[slice];
        entry.safe = entry.safe.max(safe);
        progress.newest = progress.newest.max(newest);
        progress.since_checkpoint += count;
        self.checkpoint_if_due(sink, &mut progress).await;
    }

    /// Marks `slice` as read to its end.
    pub async fn finish_slice(&self, sink: &impl Sink, slice: usize) {
        let mut progress = self.progress.lock().await;
        progress.slices[slice].done = true;
        self.checkpoint_if_due(sink, &mut progress).await;
    }

    async fn checkpoint_if_due(&self, sink: &impl Sink, progress: &mut Progress) {
        if progress.since_checkpoint < self.interval.get() {
            return;
        }
        let certain = progress.certain();
        // Never repeat a checkpoint: only a cursor that moved is written.
        if certain > progress.claimed {
            progress.claimed = certain;
            progress.since_checkpoint = 0;
            let state = self.state_at(certain, progress);
            sink.state(state).await;
        }
    }

    /// Notes that a walk saw records in its window, kept or not.
    pub fn found_records(&self) {
        self.found.store(true, Ordering::Relaxed);
    }

    /// Whether any walk saw a record: a window the probe found records in
    /// but no walk did is a contradiction of the API's.
    pub fn any_found(&self) -> bool {
        self.found.load(Ordering::Relaxed)
    }

    /// Notes `count` records skipped for a cursor past the sync's upper
    /// bound, which [`SliceTracker::finish`] reports in one WARN.
    pub fn skipped_beyond_window(&self, count: u64) {
        self.beyond_window.fetch_add(count, Ordering::Relaxed);
    }

    /// Writes the stream's final state, after every slice finished.
    pub async fn finish(&self, sink: &impl Sink) {
        let skipped = self.beyond_window.load(Ordering::Relaxed);
        if skipped > 0 {
            sink.log(
                LogLevel::Warn,
                format!("skipped {skipped} record(s) updated after this sync's upper bound; the next sync reads them"),
            )
            .await;
        }
        let mut progress = self.progress.lock().await;
        let state = match self.mode {
            // Every record up to `hi` is out, but the cursor claims only the
            // newest record seen (or what was claimed before), so a sync
            // that finds nothing new leaves the state as it was.
            SyncMode::Incremental => {
                let cursor = progress.claimed.max(progress.newest);
                if let Some(warning) = self.forgotten_warning(cursor, &progress) {
                    sink.log(LogLevel::Warn, warning).await;
                }
                self.state_at(cursor, &mut progress)
            }
            // A completed full refresh starts over next time.
            SyncMode::FullRefresh => StreamState::default(),
        };
        sink.state(state).await;
    }

    /// The state claiming `cursor`; a remembering stream's forgets the
    /// keys the next read does not go back to.
    fn state_at(&self, cursor: Option<DateTime<Utc>>, progress: &mut Progress) -> StreamState {
        match self.mode {
            SyncMode::Incremental => StreamState {
                cursor,
                resume: None,
                emitted: match &self.memory {
                    Some(memory) => {
                        // Later states claim at least `cursor`: what is
                        // forgotten now is never needed again.
                        progress
                            .emitted
                            .forget_through(cursor.map(|c| c - memory.lookback));
                        progress.emitted.clone()
                    }
                    None => EmittedKeys::default(),
                },
            },
            SyncMode::FullRefresh => StreamState {
                resume: Some(Resume {
                    after: cursor,
                    ..Resume::default()
                }),
                ..StreamState::default()
            },
        }
    }

    /// A warning if the bound made the state forget keys that the next
    /// read, from `cursor`, goes back to.
    fn forgotten_warning(
        &self,
        cursor: Option<DateTime<Utc>>,
        progress: &Progress,
    ) -> Option<String> {
        let memory = self.memory.as_ref()?;
        let forgotten = progress.forgotten?;
        let window = cursor.map(|c| c - memory.lookback);
        (window.is_none_or(|w| forgotten > w)).then(|| {
            format!(
                "the lookback window holds more than {} records; the state remembers the newest, so the next sync may emit those up to {} again",
                memory.bound,
                api_instant(forgotten)
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn split_covers_the_window_without_gaps_on_whole_seconds() {
        let slices = split(t("2024-01-01T00:00:00Z"), t("2024-01-01T00:00:10Z"), 3);
        assert_eq!(slices.len(), 3);
        assert_eq!(slices[0].lo, Some(t("2024-01-01T00:00:00Z")));
        for pair in slices.windows(2) {
            assert_eq!(Some(pair[0].hi), pair[1].lo);
        }
        assert_eq!(slices[2].hi, t("2024-01-01T00:00:10Z"));
        assert!(slices.iter().all(|s| s.hi == floor_second(s.hi)));
    }

    #[test]
    fn split_never_cuts_a_window_shorter_than_its_parts_below_one_second() {
        let slices = split(t("2024-01-01T00:00:00Z"), t("2024-01-01T00:00:02Z"), 8);
        assert_eq!(slices.len(), 2);
    }

    #[test]
    fn ceil_and_floor_round_to_whole_seconds() {
        let t = t("2024-01-01T00:00:00.5Z");
        assert_eq!(api_instant(floor_second(t)), "2024-01-01T00:00:00Z");
        assert_eq!(api_instant(ceil_second(t)), "2024-01-01T00:00:01Z");
    }

    fn progress(slices: &[(bool, Option<&str>)], baseline: Option<&str>) -> Progress {
        Progress {
            slices: slices
                .iter()
                .enumerate()
                .map(|(i, (done, safe))| SliceProgress {
                    hi: t(&format!("2024-01-0{}T00:00:00Z", i + 2)),
                    safe: safe.map(t),
                    done: *done,
                })
                .collect(),
            baseline: baseline.map(t),
            claimed: None,
            newest: None,
            since_checkpoint: 0,
            emitted: EmittedKeys::default(),
            forgotten: None,
        }
    }

    #[test]
    fn the_certain_cursor_stops_at_the_first_unfinished_slice() {
        let p = progress(
            &[
                (true, None),
                (false, Some("2024-01-02T12:00:00Z")),
                (true, None),
            ],
            None,
        );
        assert_eq!(p.certain(), Some(t("2024-01-02T12:00:00Z")));
    }

    #[test]
    fn a_finished_later_slice_does_not_move_the_cursor_past_an_unfinished_one() {
        let p = progress(&[(false, None), (true, None)], Some("2024-01-01T00:00:00Z"));
        assert_eq!(p.certain(), Some(t("2024-01-01T00:00:00Z")));
    }

    #[test]
    fn all_slices_finished_means_the_whole_window_is_certain() {
        let p = progress(&[(true, None), (true, None)], None);
        assert_eq!(p.certain(), Some(t("2024-01-03T00:00:00Z")));
    }
}

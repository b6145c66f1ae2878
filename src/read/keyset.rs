//! Walking one slice of a keyset endpoint (`page_token`), customers and
//! order events.
//!
//! Pages are stable under concurrent writes: a record updated after the walk
//! began shows up again later with its new cursor. The walk ends at the
//! page holding a record past the slice's upper bound, so it ends even while
//! the shop keeps writing; records past that bound are skipped one by one, and the
//! rest of their page is still read. A walk that stops moving (see
//! [`super::progress`]) fails instead of looping. A page token that expired mid-walk (400) restarts the walk
//! from the last safe cursor instead of failing: the records of that one
//! second are read twice, none is lost, and those already emitted are
//! skipped by key, so a sync emits each record once. Order events also skip
//! the events an earlier sync emitted (see [`SliceTracker::remembering`]).

use chrono::{DateTime, Utc};

use super::batch::Batch;
use super::page_body::PageBody;
use super::progress::{Progress, digest};
use super::slice_checkpoints::{SECOND, Slice, SliceTracker, api_instant};
use super::stream::{Pages, Sink, StreamRun};
use super::time_ordered::SliceWalk;
use crate::error::Result;
use crate::http::{ApiRequest, BodyError};
use crate::protocol::LogLevel;
use crate::state::EmittedKeys;
use crate::streams::{Keyset, Lookback};

/// Restarts after an expired page token that may follow each other without
/// any record in between before the walk gives up.
const MAX_RESTARTS_WITHOUT_PROGRESS: u32 = 3;

struct KeysetPage {
    batch: Batch,
    /// The cursor and id of each record of `batch`, if the tracker
    /// remembers them.
    keys: Vec<(DateTime<Utc>, String)>,
    /// The cursor of the last record within the slice.
    last: Option<DateTime<Utc>>,
    /// The cursor and id of the records of the page's last second, which a
    /// restart would read again.
    last_second: Vec<(DateTime<Utc>, String)>,
    newest: Option<DateTime<Utc>>,
    /// A record past the slice's upper bound was seen: the slice is done.
    passed_end: bool,
    next_page_token: Option<String>,
    /// Records on the page, kept or not.
    read: usize,
    /// See [`digest`].
    digest: u64,
    /// Records past the sync's upper bound, skipped on purpose.
    beyond_window: u64,
}

impl SliceWalk for Keyset {
    fn probe<P: Pages, K: Sink>(
        &self,
        run: &StreamRun<P, K>,
        lo: Option<DateTime<Utc>>,
        _hi: DateTime<Utc>,
    ) -> ApiRequest<'static> {
        // The upper bound is not a filter of keyset endpoints.
        let mut request = run.list_request().param("limit", 1);
        if let Some(lo) = lo {
            request = request.param(self.after_param, api_instant(lo));
        }
        request
    }

    async fn walk<P: Pages, K: Sink>(
        &self,
        run: &StreamRun<P, K>,
        index: usize,
        slice: Slice,
        tracker: &SliceTracker,
    ) -> Result<()> {
        walk(run, self.after_param, index, slice, tracker).await
    }

    fn lookback(&self) -> Option<Lookback> {
        self.lookback
    }
}

/// Walks `slice` to its end, emitting through `tracker`.
async fn walk<P: Pages, K: Sink>(
    run: &StreamRun<P, K>,
    after_param: &'static str,
    index: usize,
    slice: Slice,
    tracker: &SliceTracker,
) -> Result<()> {
    // The filter of the current chain of page tokens (the API refuses a
    // token whose filters changed), and where a new chain would start.
    let mut after = slice.lo;
    let mut resume_from = slice.lo;
    // The records after `resume_from` already emitted: a restart reads them again.
    let mut past_resume = EmittedKeys::default();
    let mut token: Option<String> = None;
    let mut restarts = 0;
    let mut progress = Progress::default();
    loop {
        let mut request = run.list_request().param("limit", run.page_size());
        if let Some(after) = after {
            request = request.param(after_param, api_instant(after));
        }
        if let Some(token) = &token {
            request = request.param("page_token", token);
        }
        let page = match run
            .pages
            .get(&request, |body| {
                parse(run, slice, body, tracker.remembers(), |cursor, id| {
                    past_resume.contains(cursor, id) || tracker.emitted_before(cursor, id)
                })
            })
            .await
        {
            Ok(page) => page,
            Err(error) if error.status() == Some(400) && token.is_some() => {
                if restarts >= MAX_RESTARTS_WITHOUT_PROGRESS {
                    return Err(error);
                }
                restarts += 1;
                run.log(
                    LogLevel::Info,
                    format!(
                        "the page token was refused ({}); continuing from {}",
                        error.message(),
                        resume_from.map_or("the beginning".into(), api_instant)
                    ),
                )
                .await;
                token = None;
                after = resume_from;
                progress.new_chain();
                continue;
            }
            Err(error) => return Err(error),
        };
        let done = page.passed_end || page.next_page_token.is_none();
        progress
            .page(
                page.digest,
                page.read,
                !done,
                page.next_page_token.as_deref().filter(|_| !done),
            )
            .map_err(|stall| stall.into_error(run.def.name, &format!("GET {}", run.def.path)))?;
        // Records of the last page's final second may continue on the next
        // page, so only the seconds before it are certain.
        let safe = if done {
            Some(slice.hi)
        } else {
            page.last.map(|last| last - SECOND).max(slice.lo)
        };
        tracker.skipped_beyond_window(page.beyond_window);
        if page.read > 0 {
            tracker.found_records();
        }
        // Progress is records emitted or a position that moved (a re-read
        // lookback window emits none). Records emitted before do not count:
        // a tie wider than a page, read again from its start after each
        // restart, would otherwise loop for ever.
        if !page.batch.is_empty() || safe > resume_from {
            restarts = 0;
        }
        tracker
            .emit_remembering(&run.sink, index, page.batch, page.keys, safe, page.newest)
            .await;
        if done {
            tracker.finish_slice(&run.sink, index).await;
            return Ok(());
        }
        // Never back: a page without records must not widen a restart.
        resume_from = resume_from.max(safe);
        past_resume.forget_through(resume_from);
        for (cursor, id) in &page.last_second {
            past_resume.insert(*cursor, id);
        }
        token = page.next_page_token;
    }
}

/// The records of a page within `slice`, without those `emitted` says
/// were already emitted; `remember` collects the keys of those emitted now.
fn parse<P: Pages, K: Sink>(
    run: &StreamRun<P, K>,
    slice: Slice,
    body: &[u8],
    remember: bool,
    emitted: impl Fn(DateTime<Utc>, &str) -> bool,
) -> Result<KeysetPage, BodyError> {
    let page = PageBody::parse(body)?;
    let body_digest = digest(&page.data);
    let mut batch = run.batch(&page, body.len());
    let mut keys_emitted = Vec::new();
    let (mut last, mut newest, mut passed_end) = (None, None, false);
    let read = page.data.len();
    let mut beyond_window = 0;
    for &raw in &page.data {
        let keys = run.keys.read(raw)?;
        if keys.cursor > run.settings.upper {
            beyond_window += 1;
        }
        if keys.cursor > slice.hi {
            // This record belongs to a later sync; the ones beside it may
            // not (a record updated mid-walk moves, the page is not cut).
            passed_end = true;
            continue;
        }
        last = Some(keys.cursor);
        if !run.wanted(keys.cursor) {
            continue;
        }
        // A record skipped as already emitted still counts as seen: it is
        // in the destination.
        newest = newest.max(Some(keys.cursor));
        // The key as emitted (hashed if the policy hashes it) is the one
        // remembered, in memory and in the state.
        let key = run.record_key(&keys.id);
        if emitted(keys.cursor, &key) {
            continue;
        }
        batch.push(raw)?;
        if remember {
            keys_emitted.push((keys.cursor, key.into_owned()));
        }
    }
    // Only a walk that goes on can restart; its restart reads the seconds
    // after `last - 1s` again, and only the page's end is in them.
    let mut last_second = Vec::new();
    if let (Some(last), false, Some(_)) = (last, passed_end, &page.next_page_token) {
        for &raw in page.data.iter().rev() {
            let keys = run.keys.read(raw)?;
            if keys.cursor <= last - SECOND {
                break;
            }
            last_second.push((keys.cursor, run.record_key(&keys.id).into_owned()));
        }
    }
    Ok(KeysetPage {
        batch,
        keys: keys_emitted,
        last,
        last_second,
        newest,
        passed_end,
        next_page_token: page.next_page_token,
        read,
        digest: body_digest,
        beyond_window,
    })
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU64;

    use super::*;
    use crate::protocol::SyncMode;
    use crate::read::test_support::{
        Answer, ScriptedRun, Sent, UPPER, keyset_page, scripted, settings, t,
    };
    use crate::streams::{CUSTOMERS, ORDER_EVENTS, Walk};

    const LO: &str = "2024-01-01T10:00:00Z";

    fn customers(answers: Vec<Answer>) -> ScriptedRun {
        scripted(&CUSTOMERS, SyncMode::Incremental, None, settings(), answers)
    }

    fn keyset() -> Keyset {
        let Walk::Keyset(keyset) = CUSTOMERS.walk else {
            panic!("customers are a keyset stream");
        };
        keyset
    }

    async fn walk_slice(run: &ScriptedRun) -> Result<()> {
        let slice = Slice {
            lo: Some(t(LO)),
            hi: t(UPPER),
        };
        let tracker = SliceTracker::new(
            run.mode,
            run.settings.checkpoint_interval,
            slice.lo,
            &[slice],
        );
        keyset().walk(run, 0, slice, &tracker).await
    }

    #[tokio::test]
    async fn an_empty_slice_ends_after_one_request() {
        let run = customers(vec![keyset_page(&CUSTOMERS, &[], None)]);
        walk_slice(&run).await.unwrap();
        assert_eq!(run.pages.param("updated_after"), ["2024-01-01T10:00:00Z"]);
        assert_eq!(run.pages.param("limit"), ["2"]);
        assert!(run.sink.ids("id").is_empty());
    }

    #[tokio::test]
    async fn one_page_without_a_token_is_the_whole_slice() {
        let run = customers(vec![keyset_page(
            &CUSTOMERS,
            &[("a", "2024-01-01T10:01:00Z")],
            None,
        )]);
        walk_slice(&run).await.unwrap();
        assert_eq!(run.sink.ids("id"), ["a"]);
        assert_eq!(run.pages.requests().len(), 1);
    }

    #[tokio::test]
    async fn pages_are_followed_by_their_token_under_the_same_filter() {
        let run = customers(vec![
            keyset_page(
                &CUSTOMERS,
                &[("a", "2024-01-01T10:01:00Z"), ("b", "2024-01-01T10:02:00Z")],
                Some("t1"),
            ),
            keyset_page(
                &CUSTOMERS,
                &[("c", "2024-01-01T10:03:00Z"), ("d", "2024-01-01T10:04:00Z")],
                Some("t2"),
            ),
            keyset_page(&CUSTOMERS, &[("e", "2024-01-01T10:05:00Z")], None),
        ]);
        walk_slice(&run).await.unwrap();
        assert_eq!(run.sink.ids("id"), ["a", "b", "c", "d", "e"]);
        assert_eq!(run.pages.param("page_token"), ["-", "t1", "t2"]);
        assert_eq!(
            run.pages.param("updated_after"),
            ["2024-01-01T10:00:00Z"; 3]
        );
    }

    #[tokio::test]
    async fn the_walk_ends_at_the_page_with_a_record_past_the_slice() {
        let run = customers(vec![keyset_page(
            &CUSTOMERS,
            &[("a", "2024-01-01T11:59:59Z"), ("b", "2024-01-01T12:00:01Z")],
            Some("t1"),
        )]);
        walk_slice(&run).await.unwrap();
        assert_eq!(run.sink.ids("id"), ["a"]);
        assert_eq!(run.pages.unanswered(), 0);
        assert_eq!(run.pages.requests().len(), 1);
    }

    #[tokio::test]
    async fn records_after_one_past_the_slice_on_its_page_are_still_read() {
        let run = customers(vec![keyset_page(
            &CUSTOMERS,
            &[
                ("a", "2024-01-01T11:00:00Z"),
                ("late", "2024-01-01T12:00:01Z"),
                ("b", "2024-01-01T11:59:59Z"),
            ],
            Some("t1"),
        )]);
        walk_slice(&run).await.unwrap();
        assert_eq!(run.sink.ids("id"), ["a", "b"]);
    }

    #[tokio::test]
    async fn records_past_the_syncs_upper_bound_are_counted_in_one_warning() {
        let slice = Slice {
            lo: Some(t(LO)),
            hi: t(UPPER),
        };
        let run = customers(vec![keyset_page(
            &CUSTOMERS,
            &[
                ("late1", "2024-01-01T12:00:01Z"),
                ("late2", "2024-01-01T12:00:02Z"),
            ],
            None,
        )]);
        let tracker = SliceTracker::new(
            run.mode,
            run.settings.checkpoint_interval,
            slice.lo,
            &[slice],
        );
        keyset().walk(&run, 0, slice, &tracker).await.unwrap();
        tracker.finish(&run.sink).await;
        let warnings: Vec<String> = run
            .sink
            .sent()
            .into_iter()
            .filter_map(|s| match s {
                Sent::Log(m) if m.contains("upper bound") => Some(m),
                _ => None,
            })
            .collect();
        assert_eq!(
            warnings,
            ["skipped 2 record(s) updated after this sync's upper bound; the next sync reads them"]
        );
        assert_eq!(run.pages.unanswered(), 0);
        assert_eq!(run.pages.requests().len(), 1);
    }

    #[tokio::test]
    async fn an_expired_page_token_restarts_from_the_last_safe_second() {
        let run = customers(vec![
            keyset_page(
                &CUSTOMERS,
                &[("a", "2024-01-01T10:01:00Z"), ("b", "2024-01-01T10:02:00Z")],
                Some("t1"),
            ),
            Answer::Status(400),
            keyset_page(
                &CUSTOMERS,
                &[("b", "2024-01-01T10:02:00Z"), ("c", "2024-01-01T10:03:00Z")],
                None,
            ),
        ]);
        walk_slice(&run).await.unwrap();
        // The second of the last page is read again, nothing is lost, and
        // what was emitted of it is not emitted again.
        assert_eq!(run.sink.ids("id"), ["a", "b", "c"]);
        assert_eq!(run.pages.param("page_token"), ["-", "t1", "-"]);
        assert_eq!(
            run.pages.param("updated_after"),
            [
                "2024-01-01T10:00:00Z",
                "2024-01-01T10:00:00Z",
                "2024-01-01T10:01:59Z"
            ]
        );
        assert!(
            run.sink
                .sent()
                .iter()
                .any(|s| matches!(s, Sent::Log(m) if m.contains("page token was refused")))
        );
    }

    #[tokio::test]
    async fn a_400_on_the_first_page_fails_the_walk() {
        let run = customers(vec![Answer::Status(400)]);
        let error = walk_slice(&run).await.unwrap_err();
        assert_eq!(error.status(), Some(400));
    }

    #[tokio::test]
    async fn restarts_over_records_emitted_before_still_count_as_progress() {
        let state = crate::state::StreamState {
            cursor: Some(t(LO)),
            ..Default::default()
        };
        let mut answers = Vec::new();
        let mut earlier = crate::state::EmittedKeys::default();
        // Each page moves one second on, over events an earlier sync emitted,
        // and its token has expired by the next request.
        for minute in 1..=(MAX_RESTARTS_WITHOUT_PROGRESS + 2) {
            let at = format!("2024-01-01T10:0{minute}:00Z");
            earlier.insert(t(&at), &format!("e{minute}"));
            answers.push(keyset_page(
                &ORDER_EVENTS,
                &[(&format!("e{minute}"), &at), (&format!("e{minute}"), &at)],
                Some("t"),
            ));
            answers.push(Answer::Status(400));
        }
        answers.push(keyset_page(&ORDER_EVENTS, &[], None));
        let run = scripted(
            &ORDER_EVENTS,
            SyncMode::Incremental,
            Some(state),
            settings(),
            answers,
        );
        let slice = Slice {
            lo: Some(t(LO)),
            hi: t(UPPER),
        };
        let tracker = SliceTracker::new(
            run.mode,
            run.settings.checkpoint_interval,
            slice.lo,
            &[slice],
        )
        .remembering(earlier, chrono::TimeDelta::minutes(10), 100);
        let Walk::Keyset(keyset) = ORDER_EVENTS.walk else {
            panic!("order events are a keyset stream");
        };
        keyset.walk(&run, 0, slice, &tracker).await.unwrap();
        assert!(run.sink.ids("event_id").is_empty());
    }

    #[tokio::test]
    async fn refused_tokens_without_progress_give_up_after_the_restart_limit() {
        let mut answers = vec![keyset_page(
            &CUSTOMERS,
            &[("a", "2024-01-01T10:01:00Z"), ("b", "2024-01-01T10:02:00Z")],
            Some("t1"),
        )];
        for _ in 0..=MAX_RESTARTS_WITHOUT_PROGRESS {
            answers.push(Answer::Status(400));
            answers.push(keyset_page(&CUSTOMERS, &[], Some("t2")));
        }
        let run = customers(answers);
        let error = walk_slice(&run).await.unwrap_err();
        assert_eq!(error.status(), Some(400));
    }

    #[tokio::test]
    async fn a_repeated_page_token_fails_the_walk_naming_the_stream() {
        let run = customers(vec![
            keyset_page(&CUSTOMERS, &[("a", "2024-01-01T10:01:00Z")], Some("t1")),
            keyset_page(&CUSTOMERS, &[("b", "2024-01-01T10:02:00Z")], Some("t1")),
        ]);
        let error = walk_slice(&run).await.unwrap_err();
        assert!(error.message().contains("customers"), "{}", error.message());
        assert!(error.message().contains("next_page_token"));
    }

    #[tokio::test]
    async fn empty_pages_that_claim_more_fail_the_walk() {
        let answers = (0..10)
            .map(|n| keyset_page(&CUSTOMERS, &[], Some(&format!("t{n}"))))
            .collect();
        let run = customers(answers);
        let error = walk_slice(&run).await.unwrap_err();
        assert!(
            error.message().contains("empty pages"),
            "{}",
            error.message()
        );
    }

    #[tokio::test]
    async fn checkpoints_claim_only_the_seconds_before_a_pages_last() {
        let mut settings = settings();
        settings.checkpoint_interval = NonZeroU64::MIN;
        let run = scripted(
            &CUSTOMERS,
            SyncMode::Incremental,
            None,
            settings,
            vec![
                keyset_page(
                    &CUSTOMERS,
                    &[("a", "2024-01-01T10:01:00Z"), ("b", "2024-01-01T10:02:00Z")],
                    Some("t1"),
                ),
                keyset_page(&CUSTOMERS, &[("c", "2024-01-01T10:03:00Z")], None),
            ],
        );
        walk_slice(&run).await.unwrap();
        let sent = run.sink.sent();
        assert!(matches!(&sent[0], Sent::Records(r) if r.len() == 2));
        assert_eq!(
            sent[1],
            Sent::State(serde_json::json!({"cursor": "2024-01-01T10:01:59Z"}))
        );
        assert!(matches!(&sent[2], Sent::Records(r) if r.len() == 1));
        // The last page ends the slice: all of it is certain.
        assert_eq!(
            sent[3],
            Sent::State(serde_json::json!({"cursor": "2024-01-01T12:00:00Z"}))
        );
    }
}

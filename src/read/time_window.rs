//! Walking one slice of a page-numbered time window: orders.
//!
//! The endpoint's pages are cut afresh at every request, and an order
//! updated while a client walks moves to the end of the sort, shifting every
//! later record one place to the front: a client that increments `page`
//! skips one record per update. Whole-second timestamps add ties, sometimes
//! more orders in one second than a page holds.
//!
//! So this walk never increments the page number over a list that can move.
//! It always asks for page 1 of `(after, hi]` and advances `after` instead,
//! like a keyset walk:
//!
//! 1. Page 1 holds the first records of the window in `(updated_at, id)`
//!    order. Every record of a second *before* the page's last second is on
//!    it, complete: emit them and move `after` to one second before that last
//!    second. Its records come first on the next page 1.
//! 2. If the whole page is one second `t` (a tie larger than a page), walk
//!    `(t - 1s, t]` by page numbers. That second is in the past, so it can
//!    only lose records (moved away by updates and deletes, to be read at
//!    their new place), never gain any; [`PageWalk`] detects the loss with
//!    `X-Total-Count` and steps back, skipping ids it already emitted. Then
//!    `after = t`.
//! 3. A page without `has_more` ends the slice.
//!
//! The cost is re-reading, on each page 1, the records of the last second of
//! the previous page (they are not emitted twice). Orders updated during the
//! sync get an `updated_at` after the window and arrive with the next sync.

use chrono::{DateTime, Utc};

use super::batch::Batch;
use super::page_body::PageBody;
use super::page_numbers::{PageWalk, Position};
use super::slice_checkpoints::{SECOND, Slice, SliceTracker, api_instant};
use super::stream::{Pages, Sink, StreamRun};
use super::time_ordered::SliceWalk;
use crate::error::Result;
use crate::http::{ApiRequest, BodyError};
use crate::streams::TimeWindow;

enum FirstPage {
    /// No record in the window.
    Empty,
    /// The window fits in this page.
    Last {
        batch: Batch,
        newest: Option<DateTime<Utc>>,
    },
    /// Records of the seconds before `last`, complete.
    Before {
        batch: Batch,
        newest: Option<DateTime<Utc>>,
        last: DateTime<Utc>,
    },
    /// Every record on the page has this one `updated_at`.
    Tie(DateTime<Utc>),
}

impl SliceWalk for TimeWindow {
    fn probe<P: Pages, K: Sink>(
        &self,
        run: &StreamRun<P, K>,
        lo: Option<DateTime<Utc>>,
        hi: DateTime<Utc>,
    ) -> ApiRequest<'static> {
        self.window(run, lo, hi).param("page", 1).param("limit", 1)
    }

    async fn walk<P: Pages, K: Sink>(
        &self,
        run: &StreamRun<P, K>,
        index: usize,
        slice: Slice,
        tracker: &SliceTracker,
    ) -> Result<()> {
        walk(self, run, index, slice, tracker).await
    }
}

impl TimeWindow {
    /// The list request of `(after, hi]`.
    fn window<P: Pages, K: Sink>(
        &self,
        run: &StreamRun<P, K>,
        after: Option<DateTime<Utc>>,
        hi: DateTime<Utc>,
    ) -> ApiRequest<'static> {
        let mut request = run.list_request().param(self.before_param, api_instant(hi));
        if let Some(after) = after {
            request = request.param(self.after_param, api_instant(after));
        }
        request
    }
}

/// Walks `slice` to its end, emitting through `tracker`.
async fn walk<P: Pages, K: Sink>(
    endpoint: &TimeWindow,
    run: &StreamRun<P, K>,
    index: usize,
    slice: Slice,
    tracker: &SliceTracker,
) -> Result<()> {
    let mut after = slice.lo;
    loop {
        let request = endpoint
            .window(run, after, slice.hi)
            .param("page", 1)
            .param("limit", run.page_size());
        let first = run
            .pages
            .get(&request, |body| first_page(run, body))
            .await?;
        if !matches!(first, FirstPage::Empty) {
            tracker.found_records();
        }
        match first {
            FirstPage::Empty => break,
            FirstPage::Last { batch, newest } => {
                tracker
                    .emit(&run.sink, index, batch, Some(slice.hi), newest)
                    .await;
                break;
            }
            FirstPage::Before {
                batch,
                newest,
                last,
            } => {
                let safe = last - SECOND;
                tracker
                    .emit(&run.sink, index, batch, Some(safe), newest)
                    .await;
                after = Some(safe);
            }
            FirstPage::Tie(second) => {
                walk_second(endpoint, run, index, second, tracker).await?;
                after = Some(second);
            }
        }
    }
    tracker.finish_slice(&run.sink, index).await;
    Ok(())
}

/// Reads every record of one past second, whatever leaves it meanwhile.
async fn walk_second<P: Pages, K: Sink>(
    endpoint: &TimeWindow,
    run: &StreamRun<P, K>,
    index: usize,
    second: DateTime<Utc>,
    tracker: &SliceTracker,
) -> Result<()> {
    let mut pages = PageWalk::new(Position::start());
    let request = |page: u32| {
        endpoint
            .window(run, Some(second - SECOND), second)
            .param("page", page)
            .param("limit", run.page_size())
    };
    while let Some(page) = pages
        .next(run, request, |keys| run.wanted(keys.cursor))
        .await?
    {
        // Nothing of this second is certain until its last page.
        tracker
            .emit(
                &run.sink,
                index,
                page.batch,
                Some(second - SECOND),
                page.newest,
            )
            .await;
    }
    tracker
        .emit(&run.sink, index, run.batch(0), Some(second), None)
        .await;
    Ok(())
}

fn first_page<P: Pages, K: Sink>(
    run: &StreamRun<P, K>,
    body: &[u8],
) -> Result<FirstPage, BodyError> {
    let page = PageBody::parse(body)?;
    let has_more = page.more_pages()?;
    let (Some(first), Some(last)) = (page.data.first(), page.data.last()) else {
        // Page 1 of a window that holds nothing cannot have more: ending
        // here would drop whatever the API meant to send after it.
        if has_more {
            return Err(BodyError::fatal(
                "page 1 of the window holds no record yet claims has_more",
            ));
        }
        return Ok(FirstPage::Empty);
    };
    let first = run.keys.read(first)?.cursor;
    let last = run.keys.read(last)?.cursor;
    if has_more && first == last {
        return Ok(FirstPage::Tie(last));
    }
    let mut batch = run.batch(body.len());
    let mut newest = None;
    for raw in page.data {
        let keys = run.keys.read(raw)?;
        if has_more && keys.cursor >= last {
            break; // the last second continues on the next page 1
        }
        if run.wanted(keys.cursor) {
            batch.push(raw)?;
            newest = newest.max(Some(keys.cursor));
        }
    }
    Ok(if has_more {
        FirstPage::Before {
            batch,
            newest,
            last,
        }
    } else {
        FirstPage::Last { batch, newest }
    })
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU64;

    use serde_json::json;

    use super::*;
    use crate::protocol::SyncMode;
    use crate::read::stream::ReadSettings;
    use crate::read::test_support::{
        Answer, ScriptedRun, UPPER, numbered_page, scripted, settings, t,
    };
    use crate::streams::{ORDERS, Walk};

    const LO: &str = "2024-01-01T10:00:00Z";

    fn orders(settings: ReadSettings, answers: Vec<Answer>) -> ScriptedRun {
        scripted(&ORDERS, SyncMode::Incremental, None, settings, answers)
    }

    async fn walk_slice(run: &ScriptedRun) -> Result<()> {
        let Walk::TimeWindow(endpoint) = ORDERS.walk else {
            panic!("orders are a time-window stream");
        };
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
        endpoint.walk(run, 0, slice, &tracker).await
    }

    #[tokio::test]
    async fn an_empty_window_is_one_request_for_page_one_of_the_window() {
        let run = orders(
            settings(),
            vec![numbered_page(&ORDERS, &[], false, Some(0))],
        );
        walk_slice(&run).await.unwrap();
        assert_eq!(
            run.pages.requests(),
            [vec![
                ("updated_before", UPPER.to_owned()),
                ("updated_after", LO.to_owned()),
                ("page", "1".to_owned()),
                ("limit", "2".to_owned()),
            ]]
        );
        assert!(run.sink.ids("id").is_empty());
    }

    #[tokio::test]
    async fn an_empty_first_page_that_claims_more_is_an_error_not_the_end() {
        let run = orders(settings(), vec![numbered_page(&ORDERS, &[], true, None)]);
        let error = walk_slice(&run).await.unwrap_err();
        assert!(
            error
                .message()
                .contains("holds no record yet claims has_more"),
            "{}",
            error.message()
        );
    }

    #[tokio::test]
    async fn a_window_that_fits_one_page_is_read_in_one_request() {
        let run = orders(
            settings(),
            vec![numbered_page(
                &ORDERS,
                &[("a", "2024-01-01T10:01:00Z"), ("b", "2024-01-01T10:02:00Z")],
                false,
                Some(2),
            )],
        );
        walk_slice(&run).await.unwrap();
        assert_eq!(run.sink.ids("id"), ["a", "b"]);
        assert_eq!(run.pages.requests().len(), 1);
    }

    #[tokio::test]
    async fn many_pages_advance_the_window_never_the_page_number() {
        let run = orders(
            settings(),
            vec![
                numbered_page(
                    &ORDERS,
                    &[("a", "2024-01-01T10:01:00Z"), ("b", "2024-01-01T10:02:00Z")],
                    true,
                    Some(3),
                ),
                numbered_page(
                    &ORDERS,
                    &[("b", "2024-01-01T10:02:00Z"), ("c", "2024-01-01T10:03:00Z")],
                    true,
                    Some(2),
                ),
                numbered_page(&ORDERS, &[("c", "2024-01-01T10:03:00Z")], false, Some(1)),
            ],
        );
        walk_slice(&run).await.unwrap();
        // The last second of a page is emitted from the next page 1, once.
        assert_eq!(run.sink.ids("id"), ["a", "b", "c"]);
        assert_eq!(run.pages.param("page"), ["1", "1", "1"]);
        assert_eq!(
            run.pages.param("updated_after"),
            [LO, "2024-01-01T10:01:59Z", "2024-01-01T10:02:59Z"]
        );
    }

    #[tokio::test]
    async fn a_tie_wider_than_a_page_is_walked_by_page_number_within_its_second() {
        let mut settings = settings();
        settings.checkpoint_interval = NonZeroU64::MIN;
        let tie = "2024-01-01T10:05:00Z";
        let run = orders(
            settings,
            vec![
                numbered_page(&ORDERS, &[("a", tie), ("b", tie)], true, Some(4)),
                numbered_page(&ORDERS, &[("a", tie), ("b", tie)], true, Some(3)),
                numbered_page(&ORDERS, &[("c", tie)], false, Some(3)),
                numbered_page(&ORDERS, &[("d", "2024-01-01T10:06:00Z")], false, Some(1)),
            ],
        );
        walk_slice(&run).await.unwrap();
        assert_eq!(run.sink.ids("id"), ["a", "b", "c", "d"]);
        assert_eq!(run.pages.param("page"), ["1", "1", "2", "1"]);
        assert_eq!(
            run.pages.param("updated_after"),
            [LO, "2024-01-01T10:04:59Z", "2024-01-01T10:04:59Z", tie]
        );
        assert_eq!(run.pages.param("updated_before"), [UPPER, tie, tie, UPPER]);
        // Nothing of the tied second is claimed before its last page.
        let states: Vec<_> = run.sink.states();
        assert_eq!(
            states,
            [
                json!({"cursor": "2024-01-01T10:04:59Z"}),
                json!({"cursor": tie}),
                json!({"cursor": UPPER}),
            ]
        );
    }
}

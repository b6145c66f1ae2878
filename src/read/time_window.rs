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

use super::StreamRun;
use super::page_numbers::{PageWalk, Position};
use super::records::{Batch, PageBody};
use super::slices::{SECOND, Slice, SliceTracker, api_instant};
use crate::error::Result;
use crate::http::{ApiRequest, BodyError};
use crate::streams::Walk;

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

/// Walks `slice` to its end, emitting through `tracker`.
pub async fn walk(
    run: &StreamRun,
    index: usize,
    slice: Slice,
    tracker: &SliceTracker,
) -> Result<()> {
    let mut after = slice.lo;
    loop {
        let request = window(run, after, slice.hi)
            .param("page", 1)
            .param("limit", run.page_size());
        match run.get(&request, |body| first_page(run, body)).await? {
            FirstPage::Empty => break,
            FirstPage::Last { batch, newest } => {
                tracker.emit(index, batch, Some(slice.hi), newest).await;
                break;
            }
            FirstPage::Before {
                batch,
                newest,
                last,
            } => {
                let safe = last - SECOND;
                tracker.emit(index, batch, Some(safe), newest).await;
                after = Some(safe);
            }
            FirstPage::Tie(second) => {
                walk_second(run, index, second, tracker).await?;
                after = Some(second);
            }
        }
    }
    tracker.finish_slice(index).await;
    Ok(())
}

/// Reads every record of one past second, whatever leaves it meanwhile.
async fn walk_second(
    run: &StreamRun,
    index: usize,
    second: DateTime<Utc>,
    tracker: &SliceTracker,
) -> Result<()> {
    let mut pages = PageWalk::new(Position::start());
    let request = |page: u32| {
        window(run, Some(second - SECOND), second)
            .param("page", page)
            .param("limit", run.page_size())
    };
    while let Some(page) = pages
        .next(run, request, |keys| run.wanted(keys.cursor))
        .await?
    {
        // Nothing of this second is certain until its last page.
        tracker
            .emit(index, page.batch, Some(second - SECOND), page.newest)
            .await;
    }
    tracker.emit(index, run.batch(0), Some(second), None).await;
    Ok(())
}

fn window(run: &StreamRun, after: Option<DateTime<Utc>>, hi: DateTime<Utc>) -> ApiRequest<'static> {
    let Walk::TimeWindowPages {
        after_param,
        before_param,
    } = run.def.walk
    else {
        unreachable!("time_window is only used for time-window streams");
    };
    let mut request = run.list_request().param(before_param, api_instant(hi));
    if let Some(after) = after {
        request = request.param(after_param, api_instant(after));
    }
    request
}

fn first_page(run: &StreamRun, body: &[u8]) -> Result<FirstPage, BodyError> {
    let page = PageBody::parse(body)?;
    let (Some(first), Some(last)) = (page.data.first(), page.data.last()) else {
        return Ok(FirstPage::Empty);
    };
    let has_more = page.more_pages()?;
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
            batch.push(raw);
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

/// The request that finds the earliest record of `(lo, hi]` and counts them.
pub fn probe(run: &StreamRun, lo: Option<DateTime<Utc>>, hi: DateTime<Utc>) -> ApiRequest<'static> {
    window(run, lo, hi).param("page", 1).param("limit", 1)
}

//! Reading orders: one frozen window, walked by page number in parallel.
//!
//! The endpoint's pages are cut afresh at every request, and an order
//! updated while a client walks moves to the end of the sort, shifting every
//! later record one place to the front: a client that increments `page`
//! skips one record per update. Whole-second timestamps add ties, sometimes
//! more orders in one second than a page holds.
//!
//! The sync's window `(lo, hi]` ends in the past, so while it is walked it
//! can only lose records (updated past `hi`, or deleted), never gain any;
//! and `X-Total-Count` counts it at every answer. So:
//!
//! 1. Page 1 of the window says how many records it holds (`N`), hence how
//!    many pages: pages 2.. are asked for at once, `max_concurrency` in
//!    flight, and emitted in page order. Every request carries data, and no
//!    probe is needed ([`Round`]).
//! 2. A page whose answer still counts `N` was cut from the very list page 1
//!    was: it is emitted whole. The first page that counts fewer (or breaks
//!    the list's order or its page sizes) ends the round: nothing from it on
//!    is emitted, and the walk goes on from the last record emitted, the
//!    rest of its second by page number ([`PageWalk`], skipping the ids
//!    already out), then a new round over what is after that second.
//! 3. An API that gives no `X-Total-Count` gets the walk that needs none
//!    ([`walk_moving`]): page 1 of `(after, hi]` again and again, `after`
//!    advanced past what each page makes certain.
//!
//! Orders updated during the sync get an `updated_at` after the window and
//! arrive with the next sync.

use std::collections::VecDeque;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;

use super::batch::Batch;
use super::page_body::PageBody;
use super::page_numbers::{PageWalk, Position};
use super::slice_checkpoints::{SECOND, Slice, SliceTracker, api_instant};
use super::stream::{Pages, Sink, StreamRun};
use super::time_ordered::{tracker, window_start};
use crate::error::{Error, Result};
use crate::http::{ApiRequest, BodyError};
use crate::json_page::RawRecord;
use crate::protocol::LogLevel;
use crate::streams::TimeWindow;

/// Reads the stream's window with `endpoint`; see the module documentation.
pub async fn read<P, K>(run: Arc<StreamRun<P, K>>, endpoint: &'static TimeWindow) -> Result<()>
where
    P: Pages + 'static,
    K: Sink + 'static,
{
    let (lo, baseline) = window_start(&run, None).await;
    let hi = run.settings.upper;
    let window = Slice { lo, hi };
    let tracker = tracker(&run, None, baseline, &[window]);
    if baseline.is_some_and(|b| b >= hi) || lo.is_some_and(|lo| lo >= hi) {
        // A cursor at or past the sync's upper bound: nothing to read yet.
        run.sink.started_reading(Some(0)).await;
        tracker.finish(&run.sink).await;
        return Ok(());
    }
    let mut after = lo;
    let mut first_round = true;
    loop {
        let first = {
            let _permit = run.pages.permit().await?;
            let request = endpoint.page(&run, after, hi, 1);
            run.pages
                .get_with_total(&request, |body, total| parse(&run, body, total))
                .await?
        };
        if std::mem::take(&mut first_round) {
            run.sink.started_reading(first.total).await;
        }
        let Some(total) = first.total else {
            run.log(
                LogLevel::Warn,
                "the API's answer has no X-Total-Count; the window is read one page at a time",
            )
            .await;
            walk_moving(endpoint, &run, 0, Slice { lo: after, hi }, &tracker).await?;
            break;
        };
        match Round::new(total, run.page_size())
            .walk(&run, endpoint, after, first, &tracker)
            .await?
        {
            RoundEnd::Complete => break,
            RoundEnd::MovedAfter(last) => {
                run.log(
                    LogLevel::Debug,
                    format!(
                        "the window changed while it was read (X-Total-Count or pages moved); \
                         going on after {}",
                        api_instant(last.cursor)
                    ),
                )
                .await;
                let rest = Position {
                    page: 1,
                    last_id: Some(last.id),
                    total: None,
                };
                walk_second(endpoint, &run, 0, last.cursor, rest, &tracker).await?;
                after = Some(last.cursor);
            }
        }
    }
    tracker.finish_slice(&run.sink, 0).await;
    tracker.finish(&run.sink).await;
    Ok(())
}

/// The sort key of a record: `(updated_at, id)`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct SortKey {
    cursor: DateTime<Utc>,
    id: String,
}

/// One answer of the window, its records already framed.
struct WindowPage {
    batch: Batch,
    newest: Option<DateTime<Utc>>,
    first: Option<SortKey>,
    last: Option<SortKey>,
    /// Records on the page, emitted or not.
    read: u64,
    has_more: bool,
    total: Option<u64>,
}

/// One pass over the window, every page cut from the list page 1 counted.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Round {
    /// `X-Total-Count` of page 1.
    total: u64,
    page_size: u64,
}

/// How a round ended.
#[derive(Debug, PartialEq)]
enum RoundEnd {
    /// Every record of the window is out.
    Complete,
    /// The list moved: every record up to this one is out.
    MovedAfter(SortKey),
}

impl Round {
    fn new(total: u64, page_size: u32) -> Self {
        Round {
            total,
            page_size: u64::from(page_size.max(1)),
        }
    }

    /// The pages the window fills, at least one.
    fn pages(&self) -> u32 {
        u32::try_from(self.total.div_ceil(self.page_size).max(1)).unwrap_or(u32::MAX)
    }

    /// Whether page `number`, read after a page ending at `previous`, was
    /// cut from the same list as page 1: the same count, the size that
    /// count implies, and the list's order kept across the boundary.
    fn consistent(&self, number: u32, page: &WindowPage, previous: &SortKey) -> bool {
        let last_page = number >= self.pages();
        let expected = if last_page {
            self.total - self.page_size * u64::from(self.pages() - 1)
        } else {
            self.page_size
        };
        page.total == Some(self.total)
            && page.read == expected
            && page.has_more != last_page
            && page.first.as_ref().is_some_and(|first| first > previous)
    }

    /// Emits page 1, then pages 2.. (fetched ahead, `max_concurrency` at
    /// once) in order, as long as each is consistent with page 1.
    async fn walk<P, K>(
        self,
        run: &Arc<StreamRun<P, K>>,
        endpoint: &'static TimeWindow,
        after: Option<DateTime<Utc>>,
        first: WindowPage,
        tracker: &SliceTracker,
    ) -> Result<RoundEnd>
    where
        P: Pages + 'static,
        K: Sink + 'static,
    {
        let hi = run.settings.upper;
        if first.read == 0 {
            if self.total > 0 {
                return Err(Error::system(format!(
                    "Stream {}: page 1 of GET {} holds no record, yet X-Total-Count says {}; \
                     the sync stopped instead of reporting the window as read.",
                    run.def.name, run.def.path, self.total
                )));
            }
            return Ok(RoundEnd::Complete);
        }
        if !first.has_more {
            self.emit(run, tracker, first, true).await;
            return Ok(RoundEnd::Complete);
        }
        let pages = self.pages();
        let mut last = first.last.clone().expect("page 1 holds records");
        let counted = pages > 1 && first.read == self.page_size;
        self.emit(run, tracker, first, false).await;
        if !counted {
            // Page 1 claims more than its own count allows: go on after it.
            return Ok(RoundEnd::MovedAfter(last));
        }
        let mut ahead = PagesAhead::default();
        let mut next = 2;
        for number in 2..=pages {
            while next <= pages && ahead.len() < run.settings.max_concurrency.get() {
                ahead.spawn(run, endpoint.page(run, after, hi, next));
                next += 1;
            }
            let page = ahead.next().await?;
            if !self.consistent(number, &page, &last) {
                return Ok(RoundEnd::MovedAfter(last));
            }
            last = page.last.clone().expect("a consistent page holds records");
            self.emit(run, tracker, page, number == pages).await;
        }
        Ok(RoundEnd::Complete)
    }

    /// Emits `page`; records at or before the second before its last are
    /// certain, or the whole window after its last page.
    async fn emit<P: Pages, K: Sink>(
        &self,
        run: &StreamRun<P, K>,
        tracker: &SliceTracker,
        page: WindowPage,
        last_page: bool,
    ) {
        let safe = if last_page {
            run.settings.upper
        } else {
            page.last.as_ref().map_or(run.settings.upper, |l| l.cursor) - SECOND
        };
        tracker
            .emit(&run.sink, 0, page.batch, Some(safe), page.newest)
            .await;
    }
}

/// Pages fetched ahead of the one being emitted, in page order. Dropping
/// it cancels those still in flight.
#[derive(Default)]
struct PagesAhead {
    tasks: VecDeque<JoinHandle<Result<WindowPage>>>,
}

impl PagesAhead {
    fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Fetches and frames `request` on its own task, with a permit.
    fn spawn<P, K>(&mut self, run: &Arc<StreamRun<P, K>>, request: ApiRequest<'static>)
    where
        P: Pages + 'static,
        K: Sink + 'static,
    {
        let run = run.clone();
        self.tasks.push_back(tokio::spawn(async move {
            let _permit = run.pages.permit().await?;
            run.pages
                .get_with_total(&request, |body, total| parse(&run, body, total))
                .await
        }));
    }

    /// The oldest page asked for.
    async fn next(&mut self) -> Result<WindowPage> {
        let task = self
            .tasks
            .pop_front()
            .ok_or_else(|| Error::system("no page of the window is in flight"))?;
        task.await.unwrap_or_else(|e| {
            Err(Error::system("A page of the stream stopped unexpectedly.")
                .with_internal(e.to_string()))
        })
    }
}

impl Drop for PagesAhead {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Splits and frames one answer of the window.
fn parse<P: Pages, K: Sink>(
    run: &StreamRun<P, K>,
    body: &[u8],
    total: Option<u64>,
) -> Result<WindowPage, BodyError> {
    let page = PageBody::parse(body)?;
    let has_more = page.more_pages()?;
    if page.data.is_empty() && has_more {
        // Ending here would drop whatever the API meant to send after it.
        return Err(BodyError::fatal(
            "a page of the window holds no record yet claims has_more",
        ));
    }
    let key = |raw: RawRecord<'_>| {
        run.keys.read(raw).map(|keys| SortKey {
            cursor: keys.cursor,
            id: keys.id.into_owned(),
        })
    };
    let first = page.data.first().map(|&raw| key(raw)).transpose()?;
    let last = page.data.last().map(|&raw| key(raw)).transpose()?;
    let mut batch = run.batch(&page, body.len());
    let mut newest = None;
    for &raw in &page.data {
        let keys = run.keys.read(raw)?;
        if run.wanted(keys.cursor) {
            batch.push(raw)?;
            newest = newest.max(Some(keys.cursor));
        }
    }
    Ok(WindowPage {
        batch,
        newest,
        first,
        last,
        read: page.data.len() as u64,
        has_more,
        total,
    })
}

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

    /// Page `number` of `(after, hi]`.
    fn page<P: Pages, K: Sink>(
        &self,
        run: &StreamRun<P, K>,
        after: Option<DateTime<Utc>>,
        hi: DateTime<Utc>,
        number: u32,
    ) -> ApiRequest<'static> {
        self.window(run, after, hi)
            .param("page", number)
            .param("limit", run.page_size())
    }
}

/// Walks `slice` to its end without page numbers beyond 1, emitting
/// through `tracker`: the walk for an API that does not count.
async fn walk_moving<P: Pages, K: Sink>(
    endpoint: &TimeWindow,
    run: &StreamRun<P, K>,
    index: usize,
    slice: Slice,
    tracker: &SliceTracker,
) -> Result<()> {
    let mut after = slice.lo;
    loop {
        let request = endpoint.page(run, after, slice.hi, 1);
        let first = {
            let _permit = run.pages.permit().await?;
            run.pages
                .get(&request, |body| first_page(run, body))
                .await?
        };
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
                walk_second(endpoint, run, index, second, Position::start(), tracker).await?;
                after = Some(second);
            }
        }
    }
    tracker.finish_slice(&run.sink, index).await;
    Ok(())
}

/// Reads the records of one past second from `from` (ids after its
/// `last_id`), whatever leaves the second meanwhile.
async fn walk_second<P: Pages, K: Sink>(
    endpoint: &TimeWindow,
    run: &StreamRun<P, K>,
    index: usize,
    second: DateTime<Utc>,
    from: Position,
    tracker: &SliceTracker,
) -> Result<()> {
    let _permit = run.pages.permit().await?;
    let mut pages = PageWalk::new(from);
    let request = |page: u32| endpoint.page(run, Some(second - SECOND), second, page);
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
        .emit(&run.sink, index, run.empty_batch(), Some(second), None)
        .await;
    Ok(())
}

fn first_page<P: Pages, K: Sink>(
    run: &StreamRun<P, K>,
    body: &[u8],
) -> Result<FirstPage, BodyError> {
    let page = PageBody::parse(body)?;
    let has_more = page.more_pages()?;
    let (Some(&first), Some(&last)) = (page.data.first(), page.data.last()) else {
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
    let mut batch = run.batch(&page, body.len());
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
    use crate::state::StreamState;
    use crate::streams::{ORDERS, Walk};

    const LO: &str = "2024-01-01T10:00:00Z";

    /// Reads the orders window `(LO, UPPER]` to its end (or its error).
    async fn read_window(answers: Vec<Answer>) -> (Arc<ScriptedRun>, Result<()>) {
        let def = crate::streams::find("orders").expect("the orders stream");
        let Walk::TimeWindow(endpoint) = &def.walk else {
            panic!("orders are a time-window stream");
        };
        let state = StreamState {
            cursor: Some(t(LO)),
            ..StreamState::default()
        };
        let run = Arc::new(scripted(
            def,
            SyncMode::Incremental,
            Some(state),
            settings(),
            answers,
        ));
        let result = read(run.clone(), endpoint).await;
        (run, result)
    }

    #[tokio::test]
    async fn a_window_whose_count_holds_is_read_once_by_page_number() {
        let (run, result) = read_window(vec![
            numbered_page(
                &ORDERS,
                &[("a", "2024-01-01T10:01:00Z"), ("b", "2024-01-01T10:02:00Z")],
                true,
                Some(5),
            ),
            numbered_page(
                &ORDERS,
                &[("c", "2024-01-01T10:03:00Z"), ("d", "2024-01-01T10:04:00Z")],
                true,
                Some(5),
            ),
            numbered_page(&ORDERS, &[("e", "2024-01-01T10:05:00Z")], false, Some(5)),
        ])
        .await;
        result.unwrap();
        assert_eq!(run.sink.ids("id"), ["a", "b", "c", "d", "e"]);
        assert_eq!(run.pages.param("page"), ["1", "2", "3"]);
        assert_eq!(run.pages.param("updated_after"), [LO, LO, LO]);
        assert_eq!(run.pages.param("updated_before"), [UPPER, UPPER, UPPER]);
        assert_eq!(
            run.sink.states(),
            [json!({"cursor": "2024-01-01T10:05:00Z"})]
        );
    }

    #[tokio::test]
    async fn page_one_gives_the_estimate_without_a_probe() {
        let (run, result) = read_window(vec![numbered_page(
            &ORDERS,
            &[("a", "2024-01-01T10:01:00Z")],
            false,
            Some(1),
        )])
        .await;
        result.unwrap();
        assert_eq!(run.pages.param("limit"), ["2"]);
        assert_eq!(
            run.sink.sent()[0],
            crate::read::test_support::Sent::Started(Some(1))
        );
    }

    #[tokio::test]
    async fn a_tie_across_pages_is_read_by_page_number_while_the_count_holds() {
        let tie = "2024-01-01T10:05:00Z";
        let (run, result) = read_window(vec![
            numbered_page(&ORDERS, &[("a", tie), ("b", tie)], true, Some(4)),
            numbered_page(&ORDERS, &[("c", tie), ("d", tie)], false, Some(4)),
        ])
        .await;
        result.unwrap();
        assert_eq!(run.sink.ids("id"), ["a", "b", "c", "d"]);
        assert_eq!(run.pages.param("page"), ["1", "2"]);
    }

    #[tokio::test]
    async fn a_count_that_falls_ends_the_round_after_the_last_record_out() {
        let (run, result) = read_window(vec![
            numbered_page(
                &ORDERS,
                &[("a", "2024-01-01T10:01:00Z"), ("b", "2024-01-01T10:02:00Z")],
                true,
                Some(5),
            ),
            // c was updated past the window: d and e moved up a place.
            numbered_page(
                &ORDERS,
                &[("d", "2024-01-01T10:04:00Z"), ("e", "2024-01-01T10:05:00Z")],
                false,
                Some(4),
            ),
            // The rest of b's second, after b.
            numbered_page(&ORDERS, &[("b", "2024-01-01T10:02:00Z")], false, Some(1)),
            // A new round after that second.
            numbered_page(
                &ORDERS,
                &[("d", "2024-01-01T10:04:00Z"), ("e", "2024-01-01T10:05:00Z")],
                false,
                Some(2),
            ),
        ])
        .await;
        result.unwrap();
        assert_eq!(run.sink.ids("id"), ["a", "b", "d", "e"]);
        assert_eq!(run.pages.param("page"), ["1", "2", "1", "1"]);
        assert_eq!(
            run.pages.param("updated_after"),
            [LO, LO, "2024-01-01T10:01:59Z", "2024-01-01T10:02:00Z"]
        );
    }

    #[tokio::test]
    async fn a_page_that_breaks_the_list_order_ends_the_round() {
        let (run, result) = read_window(vec![
            numbered_page(
                &ORDERS,
                &[("a", "2024-01-01T10:01:00Z"), ("b", "2024-01-01T10:02:00Z")],
                true,
                Some(3),
            ),
            // Same count, but the page starts before page 1 ended.
            numbered_page(&ORDERS, &[("a", "2024-01-01T10:01:00Z")], false, Some(3)),
            numbered_page(&ORDERS, &[("b", "2024-01-01T10:02:00Z")], false, Some(1)),
            numbered_page(&ORDERS, &[("c", "2024-01-01T10:03:00Z")], false, Some(1)),
        ])
        .await;
        result.unwrap();
        assert_eq!(run.sink.ids("id"), ["a", "b", "c"]);
    }

    #[tokio::test]
    async fn a_page_shorter_than_its_count_implies_ends_the_round() {
        let (run, result) = read_window(vec![
            numbered_page(
                &ORDERS,
                &[("a", "2024-01-01T10:01:00Z"), ("b", "2024-01-01T10:02:00Z")],
                true,
                Some(5),
            ),
            numbered_page(&ORDERS, &[("c", "2024-01-01T10:03:00Z")], true, Some(5)),
            numbered_page(&ORDERS, &[], false, Some(0)),
            numbered_page(
                &ORDERS,
                &[("c", "2024-01-01T10:03:00Z"), ("d", "2024-01-01T10:04:00Z")],
                false,
                Some(2),
            ),
        ])
        .await;
        result.unwrap();
        assert_eq!(run.sink.ids("id"), ["a", "b", "c", "d"]);
    }

    #[tokio::test]
    async fn an_answer_without_a_count_is_read_one_page_one_at_a_time() {
        let page = || {
            numbered_page(
                &ORDERS,
                &[("a", "2024-01-01T10:01:00Z"), ("b", "2024-01-01T10:02:00Z")],
                false,
                None,
            )
        };
        let (run, result) = read_window(vec![page(), page()]).await;
        result.unwrap();
        assert_eq!(run.sink.ids("id"), ["a", "b"]);
        assert_eq!(run.pages.param("page"), ["1", "1"]);
    }

    #[tokio::test]
    async fn page_one_without_records_but_with_a_count_is_an_error() {
        let (_, result) = read_window(vec![numbered_page(&ORDERS, &[], false, Some(3))]).await;
        let error = result.unwrap_err();
        assert!(
            error.message().contains("X-Total-Count says 3"),
            "{}",
            error.message()
        );
    }

    #[tokio::test]
    async fn an_empty_window_is_one_request() {
        let (run, result) = read_window(vec![numbered_page(&ORDERS, &[], false, Some(0))]).await;
        result.unwrap();
        assert_eq!(run.pages.requests().len(), 1);
        assert!(run.sink.ids("id").is_empty());
    }

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
        walk_moving(&endpoint, run, 0, slice, &tracker).await
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

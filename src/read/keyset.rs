//! Walking one slice of a keyset endpoint (`page_token`), customers and
//! order events.
//!
//! Pages are stable under concurrent writes: a record updated after the walk
//! began shows up again later with its new cursor. The walk stops at the
//! first record past the slice's upper bound, so it ends even while the shop
//! keeps writing. A page token that expired mid-walk (400) restarts the walk
//! from the last safe cursor instead of failing: the records of that one
//! second are read twice, none is lost.

use chrono::{DateTime, Utc};

use super::StreamRun;
use super::records::{Batch, PageBody};
use super::slices::{SECOND, Slice, SliceTracker, api_instant};
use crate::error::Result;
use crate::http::{ApiRequest, BodyError};
use crate::protocol::LogLevel;
use crate::streams::Walk;

/// Restarts after an expired page token that may follow each other without
/// any record in between before the walk gives up.
const MAX_RESTARTS_WITHOUT_PROGRESS: u32 = 3;

struct KeysetPage {
    batch: Batch,
    /// The cursor of the last record within the slice.
    last: Option<DateTime<Utc>>,
    newest: Option<DateTime<Utc>>,
    /// A record past the slice's upper bound was seen: the slice is done.
    passed_end: bool,
    next_page_token: Option<String>,
}

/// Walks `slice` to its end, emitting through `tracker`.
pub async fn walk(
    run: &StreamRun,
    index: usize,
    slice: Slice,
    tracker: &SliceTracker,
) -> Result<()> {
    let Walk::Keyset { after_param, .. } = run.def.walk else {
        unreachable!("keyset::walk is only called for keyset streams");
    };
    // The filter of the current chain of page tokens (the API refuses a
    // token whose filters changed), and where a new chain would start.
    let mut after = slice.lo;
    let mut resume_from = slice.lo;
    let mut token: Option<String> = None;
    let mut restarts = 0;
    loop {
        let mut request = run.list_request().param("limit", run.page_size());
        if let Some(after) = after {
            request = request.param(after_param, api_instant(after));
        }
        if let Some(token) = &token {
            request = request.param("page_token", token);
        }
        let page = match run.get(&request, |body| parse(run, slice, body)).await {
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
                continue;
            }
            Err(error) => return Err(error),
        };
        if !page.batch.is_empty() {
            restarts = 0;
        }
        let done = page.passed_end || page.next_page_token.is_none();
        // Records of the last page's final second may continue on the next
        // page, so only the seconds before it are certain.
        let safe = if done {
            Some(slice.hi)
        } else {
            page.last.map(|last| last - SECOND).max(slice.lo)
        };
        tracker.emit(index, page.batch, safe, page.newest).await;
        if done {
            tracker.finish_slice(index).await;
            return Ok(());
        }
        resume_from = safe;
        token = page.next_page_token;
    }
}

fn parse(run: &StreamRun, slice: Slice, body: &[u8]) -> Result<KeysetPage, BodyError> {
    let page = PageBody::parse(body)?;
    let mut batch = run.batch(body.len());
    let (mut last, mut newest, mut passed_end) = (None, None, false);
    for raw in page.data {
        let keys = run.keys.read(raw)?;
        if keys.cursor > slice.hi {
            passed_end = true;
            break;
        }
        last = Some(keys.cursor);
        if run.wanted(keys.cursor) {
            batch.push(raw);
            newest = newest.max(Some(keys.cursor));
        }
    }
    Ok(KeysetPage {
        batch,
        last,
        newest,
        passed_end,
        next_page_token: page.next_page_token,
    })
}

/// The request that finds the earliest record after `lo` and counts them.
pub fn probe(run: &StreamRun, lo: Option<DateTime<Utc>>) -> ApiRequest<'static> {
    let Walk::Keyset { after_param, .. } = run.def.walk else {
        unreachable!("keyset::probe is only called for keyset streams");
    };
    let mut request = run.list_request().param("limit", 1);
    if let Some(lo) = lo {
        request = request.param(after_param, api_instant(lo));
    }
    request
}

//! A page-number walk that survives a list moving under it.
//!
//! Page numbers are cut afresh at every request. When records leave the
//! part of the list before the walk's position (updated, hence moved to the
//! end; or deleted), the records after them shift towards the front and a
//! walk that only increments `page` skips them. `X-Total-Count` tells how
//! many records left between two requests: the walk then steps back far
//! enough to cover the shift and skips, by id, the records it already saw
//! (the list is sorted by id within the walk). Records that enter the list
//! only push records back, which the same id check absorbs.

use super::StreamRun;
use super::records::{Batch, PageBody, RecordKeys};
use crate::error::Result;
use crate::http::{ApiRequest, BodyError};
use crate::state::Resume;

/// Where a page-number walk stands.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Position {
    /// The next page to read, from 1.
    pub page: u32,
    /// The greatest id seen so far.
    pub last_id: Option<String>,
    /// `X-Total-Count` at the last page read.
    pub total: Option<u64>,
}

impl Position {
    pub fn start() -> Self {
        Position {
            page: 1,
            ..Position::default()
        }
    }

    /// The position saved in a state, if it has one.
    pub fn from_resume(resume: &Resume) -> Option<Self> {
        Some(Position {
            page: resume.page.filter(|p| *p >= 1)?,
            last_id: resume.last_id.clone(),
            total: resume.total,
        })
    }
}

/// One page, with the records `keep` accepted.
pub struct NumberedPage {
    pub batch: Batch,
    pub newest: Option<chrono::DateTime<chrono::Utc>>,
    /// Records on the page, kept or not.
    pub read: u64,
    /// `X-Total-Count` of the answer.
    pub total: Option<u64>,
}

/// See the module documentation.
pub struct PageWalk {
    position: Position,
    done: bool,
}

impl PageWalk {
    pub fn new(position: Position) -> Self {
        PageWalk {
            position,
            done: false,
        }
    }

    pub fn position(&self) -> &Position {
        &self.position
    }

    /// Reads the next page (`request` builds the request for a page number);
    /// `None` once the list is done.
    pub async fn next(
        &mut self,
        run: &StreamRun,
        request: impl Fn(u32) -> ApiRequest<'static>,
        keep: impl Fn(&RecordKeys<'_>) -> bool,
    ) -> Result<Option<NumberedPage>> {
        while !self.done {
            let last_id = self.position.last_id.clone();
            let (page, max_id, has_more) = run
                .get_with_total(&request(self.position.page), |body, total| {
                    parse(run, body, total, last_id.as_deref(), &keep)
                })
                .await?;
            if let (Some(before), Some(now)) = (self.position.total, page.total) {
                if now < before {
                    // Records left the list: the unread ones moved up by at
                    // most `before - now` places. Step back over them.
                    let limit = u64::from(run.page_size());
                    let back = (before - now).div_ceil(limit) as u32;
                    self.position.page = self.position.page.saturating_sub(back).max(1);
                    self.position.total = Some(now);
                    continue;
                }
            }
            self.position.total = page.total.or(self.position.total);
            if max_id.is_some() {
                self.position.last_id = max_id;
            }
            if has_more {
                self.position.page += 1;
            } else {
                self.done = true;
            }
            return Ok(Some(page));
        }
        Ok(None)
    }
}

fn parse(
    run: &StreamRun,
    body: &[u8],
    total: Option<u64>,
    last_id: Option<&str>,
    keep: &impl Fn(&RecordKeys<'_>) -> bool,
) -> Result<(NumberedPage, Option<String>, bool), BodyError> {
    let page = PageBody::parse(body)?;
    let mut batch = run.batch(body.len());
    let mut newest = None;
    let mut max_id: Option<String> = None;
    let read = page.data.len() as u64;
    let has_more = page.more_pages()?;
    for raw in page.data {
        let keys = run.keys.read(raw)?;
        if last_id.is_some_and(|last| keys.id.as_ref() <= last) {
            continue; // seen before the list shifted
        }
        if max_id.as_deref().is_none_or(|max| keys.id.as_ref() > max) {
            max_id = Some(keys.id.to_string());
        }
        if keep(&keys) {
            batch.push(raw);
            newest = newest.max(Some(keys.cursor));
        }
    }
    Ok((
        NumberedPage {
            batch,
            newest,
            read,
            total,
        },
        max_id,
        has_more,
    ))
}

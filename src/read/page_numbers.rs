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

use super::batch::Batch;
use super::keys::RecordKeys;
use super::page_body::PageBody;
use super::progress::{Progress, digest};
use super::stream::{Pages, Sink, StreamRun};
use crate::error::{Error, Result};
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

/// Times `X-Total-Count` may fall (stepping the walk back) in one walk.
/// A list that shrinks often is legal; a count that flaps between two
/// replicas' values would step the walk back and forth for ever.
pub const MAX_TOTAL_CORRECTIONS: u32 = 20;

/// See the module documentation.
pub struct PageWalk {
    position: Position,
    done: bool,
    corrections: u32,
    progress: Progress,
    /// The largest `X-Total-Count` seen, which bounds the requests.
    most_records: Option<u64>,
}

impl PageWalk {
    pub fn new(position: Position) -> Self {
        PageWalk {
            position,
            done: false,
            corrections: 0,
            progress: Progress::default(),
            most_records: None,
        }
    }

    pub fn position(&self) -> &Position {
        &self.position
    }

    /// Reads the next page (`request` builds the request for a page number);
    /// `None` once the list is done.
    pub async fn next<P: Pages, K: Sink>(
        &mut self,
        run: &StreamRun<P, K>,
        request: impl Fn(u32) -> ApiRequest<'static>,
        keep: impl Fn(&RecordKeys<'_>) -> bool + Sync,
    ) -> Result<Option<NumberedPage>> {
        while !self.done {
            let last_id = self.position.last_id.clone();
            let request = request(self.position.page);
            let (page, max_id, has_more, body_digest) = run
                .pages
                .get_with_total(&request, |body, total| {
                    parse(run, body, total, last_id.as_deref(), &keep)
                })
                .await?;
            let described = format!("GET {} (page {})", request.path, self.position.page);
            self.most_records = self.most_records.max(page.total);
            let stalled = self
                .progress
                .page(body_digest, page.read as usize, has_more, None)
                .and_then(|()| match self.most_records {
                    Some(most) => self.progress.within_budget(most, run.page_size()),
                    None => Ok(()),
                });
            stalled.map_err(|stall| stall.into_error(run.def.name, &described))?;
            if let (Some(before), Some(now)) = (self.position.total, page.total)
                && now < before
            {
                self.corrections += 1;
                if self.corrections > MAX_TOTAL_CORRECTIONS {
                    return Err(Error::system(format!(
                        "Stream {}: {described}: X-Total-Count fell {} times during one \
                             walk (last from {before} to {now}); the API's count is not \
                             stable (replicas disagree?), so the walk cannot tell which \
                             records moved. Report this to the API's maintainers.",
                        run.def.name, self.corrections
                    )));
                }
                // Records left the list: the unread ones moved up by at
                // most `before - now` places. Step back over them.
                let limit = u64::from(run.page_size());
                let back = (before - now).div_ceil(limit) as u32;
                self.position.page = self.position.page.saturating_sub(back).max(1);
                self.position.total = Some(now);
                // The page read again may rightly be the one just
                // discarded (a step back from page 1 is page 1 again).
                self.progress.new_chain();
                continue;
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

fn parse<P: Pages, K: Sink>(
    run: &StreamRun<P, K>,
    body: &[u8],
    total: Option<u64>,
    last_id: Option<&str>,
    keep: &(impl Fn(&RecordKeys<'_>) -> bool + Sync),
) -> Result<(NumberedPage, Option<String>, bool, u64), BodyError> {
    let page = PageBody::parse(body)?;
    let body_digest = digest(&page.data);
    let mut batch = run.batch(&page, body.len());
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
            batch.push(raw)?;
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
        body_digest,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::SyncMode;
    use crate::read::test_support::{Answer, ScriptedRun, numbered_page, scripted, settings};
    use crate::streams::PRODUCTS;

    const AT: &str = "2024-01-01T10:00:00Z";

    async fn walk_all(answers: Vec<Answer>) -> ScriptedRun {
        let run = scripted(&PRODUCTS, SyncMode::FullRefresh, None, settings(), answers);
        let mut pages = PageWalk::new(Position::start());
        let request = |page: u32| run.list_request().param("page", page).param("limit", 2);
        while let Some(page) = pages.next(&run, request, |_| true).await.unwrap() {
            run.sink.records(page.batch).await;
        }
        run
    }

    async fn walk_until_error(answers: Vec<Answer>) -> crate::error::Error {
        let run = scripted(&PRODUCTS, SyncMode::FullRefresh, None, settings(), answers);
        let mut pages = PageWalk::new(Position::start());
        let request = |page: u32| run.list_request().param("page", page).param("limit", 2);
        loop {
            match pages.next(&run, request, |_| true).await {
                Ok(Some(_)) => {}
                Ok(None) => panic!("the walk ended"),
                Err(error) => return error,
            }
        }
    }

    #[tokio::test]
    async fn a_list_that_never_ends_fails_past_what_its_count_justifies() {
        let answers = (0..1000)
            .map(|n| {
                let id = format!("p{n:04}");
                numbered_page(&PRODUCTS, &[(&id, AT)], true, Some(4))
            })
            .collect();
        let error = walk_until_error(answers).await;
        assert!(
            error.message().contains("does not end"),
            "{}",
            error.message()
        );
        assert!(error.message().contains("products"));
    }

    #[tokio::test]
    async fn a_count_flapping_between_two_values_is_reported_after_bounded_corrections() {
        let answers = (0..1000)
            .map(|n| {
                let id = format!("p{n:04}");
                let total = if n % 2 == 0 { 1000 } else { 999 };
                numbered_page(&PRODUCTS, &[(&id, AT)], true, Some(total))
            })
            .collect();
        let error = walk_until_error(answers).await;
        assert!(
            error.message().contains("X-Total-Count"),
            "{}",
            error.message()
        );
    }

    #[tokio::test]
    async fn pages_are_read_in_order_until_has_more_is_false() {
        let run = walk_all(vec![
            numbered_page(&PRODUCTS, &[("p1", AT), ("p2", AT)], true, Some(3)),
            numbered_page(&PRODUCTS, &[("p3", AT)], false, Some(3)),
        ])
        .await;
        assert_eq!(run.sink.ids("id"), ["p1", "p2", "p3"]);
        assert_eq!(run.pages.param("page"), ["1", "2"]);
    }

    #[tokio::test]
    async fn a_count_that_shrinks_mid_walk_steps_back_and_skips_what_was_seen() {
        // p2 is deleted after page 1: p3 moves onto page 1 and page 2 no
        // longer holds it.
        let run = walk_all(vec![
            numbered_page(&PRODUCTS, &[("p1", AT), ("p2", AT)], true, Some(5)),
            numbered_page(&PRODUCTS, &[("p4", AT), ("p5", AT)], false, Some(4)),
            numbered_page(&PRODUCTS, &[("p1", AT), ("p3", AT)], true, Some(4)),
            numbered_page(&PRODUCTS, &[("p4", AT), ("p5", AT)], false, Some(4)),
        ])
        .await;
        assert_eq!(run.sink.ids("id"), ["p1", "p2", "p3", "p4", "p5"]);
        assert_eq!(run.pages.param("page"), ["1", "2", "1", "2"]);
    }

    #[tokio::test]
    async fn a_step_back_that_reads_the_discarded_page_again_is_no_stall() {
        // After stepping back to page 1, the count falls again: page 1 is
        // asked again and, nothing having changed, is the same page.
        let run = walk_all(vec![
            numbered_page(&PRODUCTS, &[("p1", AT), ("p2", AT)], true, Some(5)),
            numbered_page(&PRODUCTS, &[("p4", AT), ("p5", AT)], false, Some(4)),
            numbered_page(&PRODUCTS, &[("p1", AT), ("p3", AT)], true, Some(3)),
            numbered_page(&PRODUCTS, &[("p1", AT), ("p3", AT)], true, Some(3)),
            numbered_page(&PRODUCTS, &[("p4", AT)], false, Some(3)),
        ])
        .await;
        assert_eq!(run.sink.ids("id"), ["p1", "p2", "p3", "p4"]);
        assert_eq!(run.pages.param("page"), ["1", "2", "1", "1", "2"]);
    }

    #[tokio::test]
    async fn records_pushed_back_by_new_ones_are_not_emitted_twice() {
        let run = walk_all(vec![
            numbered_page(&PRODUCTS, &[("p1", AT), ("p2", AT)], true, Some(4)),
            numbered_page(&PRODUCTS, &[("p2", AT), ("p3", AT)], true, Some(5)),
            numbered_page(&PRODUCTS, &[("p4", AT)], false, Some(5)),
        ])
        .await;
        assert_eq!(run.sink.ids("id"), ["p1", "p2", "p3", "p4"]);
    }

    #[tokio::test]
    async fn an_error_status_ends_the_walk_with_that_error() {
        let run = scripted(
            &PRODUCTS,
            SyncMode::FullRefresh,
            None,
            settings(),
            vec![Answer::Status(500)],
        );
        let mut pages = PageWalk::new(Position::start());
        let request = |page: u32| run.list_request().param("page", page);
        let error = pages.next(&run, request, |_| true).await.err().unwrap();
        assert_eq!(error.status(), Some(500));
    }
}

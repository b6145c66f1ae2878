//! Reading a page-numbered list sorted by id with no time filter: products.
//!
//! Full refresh emits every product and checkpoints its page position, so a
//! sync that was interrupted resumes there (resumable full refresh; `{}`
//! once complete). Incremental reads every page too, since the API cannot
//! list only changed products, but emits only products updated in
//! `(cursor, upper]`; `upper` is fixed when the sync starts, and a product
//! updated later arrives with the next sync. Mid-walk checkpoints keep the
//! old cursor, the page position, `upper` and the newest cursor emitted, so
//! a resumed walk filters exactly the same window.

use chrono::{DateTime, Utc};

use super::StreamRun;
use super::page_numbers::{PageWalk, Position};
use crate::error::Result;
use crate::protocol::SyncMode;
use crate::state::{Resume, StreamState};

pub async fn read(run: &StreamRun) -> Result<()> {
    let input = run.state.clone().unwrap_or_default();
    let incremental = run.mode == SyncMode::Incremental;
    // Only a position saved in the same mode may be resumed (incremental
    // checkpoints carry `upper`, full refresh ones do not): a full refresh
    // that skipped pages an incremental sync had filtered would lose
    // products, and the other way round would skip changed ones.
    let resume = input
        .resume
        .as_ref()
        .filter(|r| r.upper.is_some() == incremental);
    if input.resume.is_some() && resume.is_none() {
        run.log(
            crate::protocol::LogLevel::Info,
            "the state holds a position saved by the other sync mode; reading from the first page",
        )
        .await;
    }
    let cursor = if incremental { input.cursor } else { None };
    let upper = resume
        .and_then(|r| r.upper)
        .filter(|_| incremental)
        .unwrap_or(run.ctx.upper);
    let mut high_water = resume.and_then(|r| r.high_water).filter(|_| incremental);
    let position = resume
        .and_then(Position::from_resume)
        .unwrap_or_else(Position::start);
    if position.page > 1 {
        run.log(
            crate::protocol::LogLevel::Info,
            format!("resuming an interrupted walk at page {}", position.page),
        )
        .await;
    }

    let skipped = u64::from(position.page - 1) * u64::from(run.page_size());
    let mut pages = PageWalk::new(position);
    let request = |page: u32| {
        run.list_request()
            .param("page", page)
            .param("limit", run.page_size())
    };
    let keep = |keys: &super::records::RecordKeys<'_>| {
        run.wanted(keys.cursor)
            && (!incremental || (cursor.is_none_or(|c| keys.cursor > c) && keys.cursor <= upper))
    };
    let _permit = run.permit().await?;
    let mut first = true;
    let mut since_checkpoint = 0u64;
    while let Some(page) = pages.next(run, request, keep).await? {
        if first {
            first = false;
            // X-Total-Count counts every product: the records still to come
            // in a full refresh, but not how many changed since the cursor.
            let estimate = page
                .total
                .filter(|_| !incremental)
                .map(|total| total.saturating_sub(skipped));
            run.started_reading(estimate).await;
        }
        high_water = high_water.max(page.newest);
        since_checkpoint += page.read;
        if !page.batch.is_empty() {
            run.ctx.emitter.send(page.batch.into_output()).await;
        }
        if since_checkpoint >= run.ctx.config.checkpoint_interval && pages.position().page > 1 {
            since_checkpoint = 0;
            let state = checkpoint(cursor, pages.position(), incremental, upper, high_water);
            run.send_state(state).await;
        }
    }
    if first {
        run.started_reading(Some(0)).await;
    }
    let last = StreamState {
        cursor: if incremental {
            cursor.max(high_water)
        } else {
            None
        },
        resume: None,
    };
    run.send_state(last).await;
    Ok(())
}

fn checkpoint(
    cursor: Option<DateTime<Utc>>,
    position: &Position,
    incremental: bool,
    upper: DateTime<Utc>,
    high_water: Option<DateTime<Utc>>,
) -> StreamState {
    StreamState {
        cursor,
        resume: Some(Resume {
            page: Some(position.page),
            last_id: position.last_id.clone(),
            total: position.total,
            upper: incremental.then_some(upper),
            high_water: if incremental { high_water } else { None },
            after: None,
        }),
    }
}

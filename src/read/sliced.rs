//! Reading a time-ordered stream (customers, orders, order events): find the
//! window, probe it, cut it into slices, walk them in parallel.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::task::JoinSet;

use super::StreamRun;
use super::records::PageBody;
use super::slices::{SECOND, SliceTracker, ceil_second, split};
use super::{keyset, time_window};
use crate::error::{Error, Result};
use crate::protocol::{LogLevel, SyncMode};
use crate::streams::Walk;

/// Slices hold at least this many pages' worth of records: each slice ends
/// with a partial page, so fewer, larger slices waste fewer requests.
const MIN_PAGES_PER_SLICE: u64 = 20;

/// Requests per second one walker sustains at least; under a request cap,
/// more parallel slices than the cap needs only add partial pages.
const REQUESTS_PER_SECOND_PER_WALKER: f64 = 10.0;

pub async fn read(run: Arc<StreamRun>) -> Result<()> {
    let (lo, baseline) = window_start(&run).await;
    let hi = run.ctx.upper;
    if baseline.is_some_and(|b| b >= hi) || lo.is_some_and(|lo| lo >= hi) {
        // A cursor at or past the sync's upper bound: nothing to read yet,
        // not even a lookback window (a cursor from the future).
        run.started_reading(Some(0)).await;
        let tracker = SliceTracker::new(
            run.ctx.emitter.clone(),
            run.id,
            run.mode,
            run.ctx.config.checkpoint_interval,
            baseline,
            &[],
        );
        tracker.finish().await;
        return Ok(());
    }

    let probe = match run.def.walk {
        Walk::Keyset { .. } => keyset::probe(&run, lo),
        Walk::TimeWindowPages { .. } => time_window::probe(&run, lo, hi),
        Walk::IdOrderedPages => unreachable!("sliced::read is only used for time-ordered streams"),
    };
    let (earliest, total) = {
        let _permit = run.permit().await?;
        run.get_with_total(&probe, |body, total| {
            let page = PageBody::parse(body)?;
            let earliest = match page.data.first() {
                Some(raw) => Some(run.keys.read(raw)?.cursor),
                None => None,
            };
            Ok((earliest, total))
        })
        .await?
    };
    run.started_reading(total).await;

    let slices = match earliest {
        Some(earliest) if earliest <= hi => {
            // Start one second before the earliest record: `after` is exclusive.
            let start = lo.max(Some(earliest - SECOND)).unwrap_or(earliest - SECOND);
            split(start, hi, slice_count(&run, total))
        }
        _ => Vec::new(),
    };
    let tracker = Arc::new(SliceTracker::new(
        run.ctx.emitter.clone(),
        run.id,
        run.mode,
        run.ctx.config.checkpoint_interval,
        baseline,
        &slices,
    ));
    if slices.len() > 1 {
        run.log(
            LogLevel::Debug,
            format!("reading {} slices in parallel", slices.len()),
        )
        .await;
    }

    let mut walkers = JoinSet::new();
    let mut next = 0;
    loop {
        tokio::select! {
            biased;
            joined = walkers.join_next(), if !walkers.is_empty() => {
                let outcome = joined.expect("the set is not empty").unwrap_or_else(|e| {
                    Err(Error::system("A slice of the stream stopped unexpectedly.").with_internal(e.to_string()))
                });
                if let Err(error) = outcome {
                    walkers.abort_all();
                    return Err(error);
                }
            }
            permit = run.permit(), if next < slices.len() => {
                let permit = permit?;
                let (run, tracker, slice, index) = (run.clone(), tracker.clone(), slices[next], next);
                walkers.spawn(async move {
                    let _permit = permit;
                    match run.def.walk {
                        Walk::Keyset { .. } => keyset::walk(&run, index, slice, &tracker).await,
                        _ => time_window::walk(&run, index, slice, &tracker).await,
                    }
                });
                next += 1;
            }
            else => break,
        }
    }
    tracker.finish().await;
    Ok(())
}

/// The exclusive lower bound of the window, and the cursor the input state
/// already makes certain.
async fn window_start(run: &StreamRun) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let config = &run.ctx.config;
    // `after` is exclusive and timestamps are whole seconds.
    let start = config.start_date.map(|s| ceil_second(s) - SECOND);
    let state = run.state.clone().unwrap_or_default();
    let baseline = match run.mode {
        SyncMode::Incremental => {
            if state.cursor.is_none() && state.resume.is_some() {
                run.log(
                    LogLevel::Info,
                    "the state holds a full refresh position, not a cursor; reading from the start",
                )
                .await;
            }
            state.cursor
        }
        SyncMode::FullRefresh => state.resume.and_then(|r| r.after),
    };
    let lookback = match (run.def.walk, run.mode) {
        (
            Walk::Keyset {
                late_arrivals: true,
                ..
            },
            SyncMode::Incremental,
        ) => config.events_lookback(),
        _ => chrono::TimeDelta::zero(),
    };
    let lo = baseline.map(|b| b - lookback).max(start);
    (lo, baseline.max(start))
}

/// How many slices to cut the window into.
fn slice_count(run: &StreamRun, total: Option<u64>) -> usize {
    let concurrency = run.ctx.config.max_concurrency.max(1);
    if concurrency == 1 {
        return 1;
    }
    let per_slice = MIN_PAGES_PER_SLICE * u64::from(run.page_size());
    let mut wanted = (total.unwrap_or(0) / per_slice) as usize;
    if let Some(cap) = run.ctx.config.requests_per_second {
        wanted = wanted.min((cap / REQUESTS_PER_SECOND_PER_WALKER).ceil() as usize);
    }
    wanted.clamp(1, 4 * concurrency)
}

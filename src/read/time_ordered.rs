//! Reading a time-ordered stream (customers, orders, order events): find the
//! window, probe it, cut it into slices, walk them in parallel.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::task::JoinSet;

use super::page_body::PageBody;
use super::slice_checkpoints::{SECOND, Slice, SliceTracker, ceil_second, split};
use super::stream::{Pages, Sink, StreamRun};
use crate::error::{Error, Result};
use crate::http::ApiRequest;
use crate::protocol::{LogLevel, SyncMode};
use crate::streams::Lookback;

/// How one slice of a time-ordered endpoint is walked: implemented by each
/// endpoint style (`keyset`, `time_window`) on its own declaration.
pub trait SliceWalk: Sync + 'static {
    /// The request that finds the earliest record of `(lo, hi]` and counts
    /// the records after `lo`.
    fn probe<P: Pages, K: Sink>(
        &self,
        run: &StreamRun<P, K>,
        lo: Option<DateTime<Utc>>,
        hi: DateTime<Utc>,
    ) -> ApiRequest<'static>;

    /// Walks slice `index` to its end, emitting through `tracker`.
    fn walk<P: Pages, K: Sink>(
        &self,
        run: &StreamRun<P, K>,
        index: usize,
        slice: Slice,
        tracker: &SliceTracker,
    ) -> impl Future<Output = Result<()>> + Send;

    /// How far before the cursor incremental syncs re-read, if at all.
    fn lookback(&self) -> Option<Lookback> {
        None
    }
}

/// Slices hold at least this many pages' worth of records: each slice ends
/// with a partial page, so fewer, larger slices waste fewer requests.
const MIN_PAGES_PER_SLICE: u64 = 20;

/// Requests per second one walker sustains at least; under a request cap,
/// more parallel slices than the cap needs only add partial pages.
const REQUESTS_PER_SECOND_PER_WALKER: f64 = 10.0;

/// Reads the stream with `walk`: probe the window, cut it into slices, walk
/// them in parallel, checkpoint what is certain.
pub async fn read<P, K, W>(run: Arc<StreamRun<P, K>>, walk: &'static W) -> Result<()>
where
    P: Pages + 'static,
    K: Sink + 'static,
    W: SliceWalk,
{
    let (lo, baseline) = window_start(&run, walk.lookback()).await;
    let hi = run.settings.upper;
    if baseline.is_some_and(|b| b >= hi) || lo.is_some_and(|lo| lo >= hi) {
        // A cursor at or past the sync's upper bound: nothing to read yet,
        // not even a lookback window (a cursor from the future).
        run.sink.started_reading(Some(0)).await;
        let tracker = SliceTracker::new(run.mode, run.settings.checkpoint_interval, baseline, &[]);
        tracker.finish(&run.sink).await;
        return Ok(());
    }

    let probe = walk.probe(&run, lo, hi);
    let (earliest, total) = {
        let _permit = run.pages.permit().await?;
        run.pages
            .get_with_total(&probe, |body, total| {
                let page = PageBody::parse(body)?;
                let earliest = match page.data.first() {
                    Some(raw) => Some(run.keys.read(raw)?.cursor),
                    None => None,
                };
                Ok((earliest, total))
            })
            .await?
    };
    run.sink.started_reading(total).await;

    let slices = match earliest {
        Some(earliest) if earliest <= hi => {
            // Start one second before the earliest record: `after` is exclusive.
            let start = lo.max(Some(earliest - SECOND)).unwrap_or(earliest - SECOND);
            split(start, hi, slice_count(&run, total))
        }
        _ => Vec::new(),
    };
    let tracker = Arc::new(SliceTracker::new(
        run.mode,
        run.settings.checkpoint_interval,
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
            Some(joined) = walkers.join_next(), if !walkers.is_empty() => {
                let outcome = joined.unwrap_or_else(|e| {
                    Err(Error::system("A slice of the stream stopped unexpectedly.").with_internal(e.to_string()))
                });
                if let Err(error) = outcome {
                    walkers.abort_all();
                    return Err(error);
                }
            }
            permit = run.pages.permit(), if next < slices.len() => {
                let permit = permit?;
                let (run, tracker, slice, index) = (run.clone(), tracker.clone(), slices[next], next);
                walkers.spawn(async move {
                    let _permit = permit;
                    walk.walk(&run, index, slice, &tracker).await
                });
                next += 1;
            }
            else => break,
        }
    }
    tracker.finish(&run.sink).await;
    Ok(())
}

/// The exclusive lower bound of the window, and the cursor the input state
/// already makes certain.
async fn window_start<P: Pages, K: Sink>(
    run: &StreamRun<P, K>,
    lookback: Option<Lookback>,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let settings = &run.settings;
    // `after` is exclusive and timestamps are whole seconds.
    let start = settings.start_date.map(|s| ceil_second(s) - SECOND);
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
    let lookback = match (lookback, run.mode) {
        (Some(lookback), SyncMode::Incremental) => lookback.length(settings.lookback),
        _ => chrono::TimeDelta::zero(),
    };
    let lo = baseline.map(|b| b - lookback).max(start);
    (lo, baseline.max(start))
}

/// How many slices to cut the window into.
fn slice_count<P: Pages, K: Sink>(run: &StreamRun<P, K>, total: Option<u64>) -> usize {
    let concurrency = run.settings.max_concurrency.get();
    if concurrency == 1 {
        return 1;
    }
    let per_slice = MIN_PAGES_PER_SLICE * u64::from(run.page_size());
    let mut wanted = (total.unwrap_or(0) / per_slice) as usize;
    if let Some(cap) = run.settings.requests_per_second {
        wanted = wanted.min((cap / REQUESTS_PER_SECOND_PER_WALKER).ceil() as usize);
    }
    wanted.clamp(1, 4 * concurrency)
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use serde_json::json;

    use super::*;
    use crate::read::stream::ReadSettings;
    use crate::read::test_support::{
        Answer, ScriptedRun, Sent, UPPER, keyset_page, scripted, settings, t,
    };
    use crate::state::StreamState;
    use crate::streams::{self, Keyset, StreamDef, Walk};

    fn def(name: &str) -> &'static StreamDef {
        streams::find(name).expect("a stream of this source")
    }

    fn keyset(def: &'static StreamDef) -> &'static Keyset {
        match &def.walk {
            Walk::Keyset(keyset) => keyset,
            _ => panic!("{} is a keyset stream", def.name),
        }
    }

    fn at_cursor(cursor: &str) -> Option<StreamState> {
        Some(StreamState {
            cursor: Some(t(cursor)),
            resume: None,
        })
    }

    async fn read_keyset(
        name: &str,
        mode: SyncMode,
        state: Option<StreamState>,
        settings: ReadSettings,
        answers: Vec<Answer>,
    ) -> Arc<ScriptedRun> {
        let def = def(name);
        let run = Arc::new(scripted(def, mode, state, settings, answers));
        read(run.clone(), keyset(def)).await.unwrap();
        run
    }

    #[tokio::test]
    async fn a_cursor_at_the_upper_bound_reads_nothing_and_keeps_the_cursor() {
        let run = read_keyset(
            "customers",
            SyncMode::Incremental,
            at_cursor(UPPER),
            settings(),
            vec![],
        )
        .await;
        assert!(run.pages.requests().is_empty());
        assert_eq!(
            run.sink.sent(),
            [
                Sent::Started(Some(0)),
                Sent::State(json!({"cursor": UPPER}))
            ]
        );
    }

    #[tokio::test]
    async fn an_empty_window_is_only_the_probe() {
        let run = read_keyset(
            "customers",
            SyncMode::FullRefresh,
            None,
            settings(),
            vec![Answer::Page {
                body: json!({"data": []}),
                total: Some(0),
            }],
        )
        .await;
        assert_eq!(run.pages.requests().len(), 1);
        assert_eq!(
            run.sink.sent(),
            [Sent::Started(Some(0)), Sent::State(json!({}))]
        );
    }

    #[tokio::test]
    async fn the_walk_starts_one_second_before_the_earliest_record() {
        let customers = def("customers");
        let run = read_keyset(
            "customers",
            SyncMode::FullRefresh,
            None,
            settings(),
            vec![
                keyset_page(customers, &[("a", "2024-01-01T10:00:00Z")], Some("x")),
                keyset_page(customers, &[("a", "2024-01-01T10:00:00Z")], None),
            ],
        )
        .await;
        assert_eq!(run.pages.param("limit"), ["1", "2"]);
        assert_eq!(
            run.pages.param("updated_after"),
            ["-", "2024-01-01T09:59:59Z"]
        );
        assert_eq!(run.sink.ids("id"), ["a"]);
    }

    #[tokio::test]
    async fn incremental_order_events_look_back_before_the_cursor() {
        let run = read_keyset(
            "order_events",
            SyncMode::Incremental,
            at_cursor("2024-01-01T11:00:00Z"),
            settings(),
            vec![keyset_page(def("order_events"), &[], None)],
        )
        .await;
        assert_eq!(run.pages.param("created_after"), ["2024-01-01T10:50:00Z"]);
    }

    #[tokio::test]
    async fn the_lookback_never_goes_below_the_streams_minimum() {
        let mut settings = settings();
        settings.lookback = TimeDelta::minutes(1);
        let run = read_keyset(
            "order_events",
            SyncMode::Incremental,
            at_cursor("2024-01-01T11:00:00Z"),
            settings,
            vec![keyset_page(def("order_events"), &[], None)],
        )
        .await;
        assert_eq!(run.pages.param("created_after"), ["2024-01-01T10:55:00Z"]);
    }

    #[tokio::test]
    async fn a_stream_without_a_lookback_reads_from_its_cursor() {
        let run = read_keyset(
            "customers",
            SyncMode::Incremental,
            at_cursor("2024-01-01T11:00:00Z"),
            settings(),
            vec![keyset_page(def("customers"), &[], None)],
        )
        .await;
        assert_eq!(run.pages.param("updated_after"), ["2024-01-01T11:00:00Z"]);
    }

    #[tokio::test]
    async fn a_failed_probe_fails_the_read() {
        let def = def("customers");
        let run = Arc::new(scripted(
            def,
            SyncMode::FullRefresh,
            None,
            settings(),
            vec![Answer::Status(403)],
        ));
        let error = read(run.clone(), keyset(def)).await.unwrap_err();
        assert_eq!(error.status(), Some(403));
    }
}

//! Reading a keyset stream (customers, order events): find the
//! window, probe it, cut it into slices, walk them in parallel.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::task::JoinSet;

use super::page_body::PageBody;
use super::slice_checkpoints::{SECOND, Slice, SliceTracker, api_instant, ceil_second, split};
use super::stream::{Pages, Sink, StreamRun};
use crate::error::{Error, Result};
use crate::http::{ApiRequest, BodyError};
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
        let tracker = tracker(&run, walk.lookback(), baseline, &[]);
        tracker.finish(&run.sink).await;
        return Ok(());
    }

    let probe = walk.probe(&run, lo, hi);
    let (earliest, total) = probe_window(&run, &probe).await?;
    run.sink.started_reading(total).await;

    let slices = match earliest {
        Some(earliest) if earliest <= hi => {
            // Start one second before the earliest record: `after` is exclusive.
            let start = lo.max(Some(earliest - SECOND)).unwrap_or(earliest - SECOND);
            split(start, hi, slice_count(&run, total))
        }
        _ => Vec::new(),
    };
    let tracker = Arc::new(tracker(&run, walk.lookback(), baseline, &slices));
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
    if earliest.is_some_and(|earliest| earliest <= hi) && !tracker.any_found() {
        // The probe saw a record in the window and no walk did. A record
        // updated meanwhile leaves the window; one that is still there when
        // asked again was lost by the API's filters or pages.
        if let (Some(again), _) = probe_window(&run, &probe).await?
            && again <= hi
        {
            return Err(Error::system(format!(
                "Stream {}: the API lists a record updated at {} in the sync's window when \
                 asked for the first one (GET {}), but none when the window is walked. It \
                 does not apply its filters or pages consistently; the sync stopped instead \
                 of reporting the window as read. Report this to the API's maintainers.",
                run.def.name,
                api_instant(again),
                run.def.path
            )));
        }
    }
    tracker.finish(&run.sink).await;
    Ok(())
}

/// The earliest record of the probe's window, and the count the API gives.
async fn probe_window<P: Pages, K: Sink>(
    run: &StreamRun<P, K>,
    probe: &ApiRequest<'static>,
) -> Result<(Option<DateTime<Utc>>, Option<u64>)> {
    let _permit = run.pages.permit().await?;
    run.pages
        .get_with_total(probe, |body, total| {
            let page = PageBody::parse(body)?;
            let earliest = match page.data.first() {
                Some(&raw) => Some(run.keys.read(raw)?.cursor),
                None => None,
            };
            // A count of records with no first one: the walk would find
            // nothing and report the window as read.
            if let (None, Some(total @ 1..)) = (earliest, total) {
                return Err(BodyError::fatal(format!(
                    "the first page holds no record, yet X-Total-Count says {total}"
                )));
            }
            // Likewise a first page that claims more after it.
            let claims_more = page.next_page_token.is_some() || page.has_more == Some(true);
            if earliest.is_none() && claims_more {
                return Err(BodyError::fatal(
                    "the first page holds no record yet claims more after it",
                ));
            }
            Ok((earliest, total))
        })
        .await
}

/// The checkpoints of the read. Incremental syncs of a stream with a
/// lookback remember the keys they emit, and skip those the input state
/// remembers: the lookback window is read again, never emitted again.
pub(super) fn tracker<P: Pages, K: Sink>(
    run: &StreamRun<P, K>,
    lookback: Option<Lookback>,
    baseline: Option<DateTime<Utc>>,
    slices: &[Slice],
) -> SliceTracker {
    let settings = &run.settings;
    let tracker = SliceTracker::new(run.mode, settings.checkpoint_interval, baseline, slices);
    match (lookback, run.mode) {
        (Some(lookback), SyncMode::Incremental) => {
            let earlier = run
                .state
                .as_ref()
                .map(|state| state.emitted.clone())
                .unwrap_or_default();
            tracker.remembering(
                earlier,
                lookback.length(settings.lookback),
                settings.max_remembered_keys,
            )
        }
        _ => tracker,
    }
}

/// The exclusive lower bound of the window, and the cursor the input state
/// already makes certain.
pub(super) async fn window_start<P: Pages, K: Sink>(
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
    use crate::error::FailureType;
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
            ..StreamState::default()
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

    /// An order events state at `cursor` remembering `emitted` events.
    fn events_state(cursor: &str, emitted: &[(&str, &str)]) -> Option<StreamState> {
        let mut state = at_cursor(cursor)?;
        for (id, at) in emitted {
            state.emitted.insert(t(at), id);
        }
        Some(state)
    }

    /// An incremental read of order events from `state`: the probe finds
    /// the first of `rows`, then one page holds them all.
    async fn read_events(
        state: Option<StreamState>,
        settings: ReadSettings,
        rows: &[(&str, &str)],
    ) -> Arc<ScriptedRun> {
        let events = def("order_events");
        read_keyset(
            "order_events",
            SyncMode::Incremental,
            state,
            settings,
            vec![
                keyset_page(events, &rows[..1], Some("x")),
                keyset_page(events, rows, None),
            ],
        )
        .await
    }

    fn final_state(run: &ScriptedRun) -> StreamState {
        let state = run.sink.states().pop().expect("a final state");
        serde_json::from_value(state).unwrap()
    }

    const WINDOW: [(&str, &str); 2] = [
        ("e1", "2024-01-01T10:55:00Z"),
        ("e2", "2024-01-01T11:00:00Z"),
    ];

    #[tokio::test]
    async fn a_sync_with_nothing_new_emits_no_event_and_keeps_the_state() {
        let state = events_state("2024-01-01T11:00:00Z", &WINDOW);
        let run = read_events(state.clone(), settings(), &WINDOW).await;
        assert!(run.sink.ids("event_id").is_empty());
        assert_eq!(run.sink.states(), [state.unwrap().to_value()]);
    }

    #[tokio::test]
    async fn a_late_event_inside_the_window_is_emitted_once() {
        let rows = [WINDOW[0], ("late", "2024-01-01T10:58:00Z"), WINDOW[1]];
        let state = events_state("2024-01-01T11:00:00Z", &WINDOW);
        let first = read_events(state, settings(), &rows).await;
        assert_eq!(first.sink.ids("event_id"), ["late"]);
        let after = final_state(&first);
        assert!(after.emitted.contains(t("2024-01-01T10:58:00Z"), "late"));
        assert_eq!(after.cursor, Some(t("2024-01-01T11:00:00Z")));

        let second = read_events(Some(after), settings(), &rows).await;
        assert!(second.sink.ids("event_id").is_empty());
    }

    #[tokio::test]
    async fn with_a_hashed_event_id_the_state_remembers_and_skips_the_hashed_ids() {
        let events = def("order_events");
        let policy = crate::read::test_support::hashed_key_policy(events);
        let hashed = |id: &str| policy.record_key(id).into_owned();
        let rows = [WINDOW[0], ("late", "2024-01-01T10:58:00Z"), WINDOW[1]];
        let mut state = at_cursor("2024-01-01T11:00:00Z").unwrap();
        for (id, at) in WINDOW {
            state.emitted.insert(t(at), &hashed(id));
        }
        let run = Arc::new(
            scripted(
                events,
                SyncMode::Incremental,
                Some(state),
                settings(),
                vec![
                    keyset_page(events, &rows[..1], Some("x")),
                    keyset_page(events, &rows, None),
                ],
            )
            .with_policy(Some(policy.clone())),
        );
        read(run.clone(), keyset(events)).await.unwrap();
        assert_eq!(run.sink.ids("event_id"), [hashed("late")]);
        let after = final_state(&run);
        assert!(
            after
                .emitted
                .contains(t("2024-01-01T10:58:00Z"), &hashed("late"))
        );
        let text = serde_json::to_string(&after.to_value()).unwrap();
        for clear in ["e1", "e2", "late"] {
            assert!(!text.contains(&format!("\"{clear}\"")), "{text}");
        }
    }

    #[tokio::test]
    async fn a_state_without_the_memory_emits_the_window_once_more_then_remembers_it() {
        let state = at_cursor("2024-01-01T11:00:00Z");
        let run = read_events(state, settings(), &WINDOW).await;
        assert_eq!(run.sink.ids("event_id"), ["e1", "e2"]);
        assert_eq!(
            run.sink.states(),
            [json!({
                "cursor": "2024-01-01T11:00:00Z",
                "emitted": {
                    "2024-01-01T10:55:00Z": ["e1"],
                    "2024-01-01T11:00:00Z": ["e2"],
                }
            })]
        );
    }

    #[tokio::test]
    async fn events_before_the_lookback_window_of_the_new_cursor_are_forgotten() {
        let rows = [WINDOW[0], ("new", "2024-01-01T11:30:00Z")];
        let state = events_state("2024-01-01T11:00:00Z", &WINDOW[..1]);
        let run = read_events(state, settings(), &rows).await;
        assert_eq!(run.sink.ids("event_id"), ["new"]);
        assert_eq!(
            run.sink.states(),
            [json!({
                "cursor": "2024-01-01T11:30:00Z",
                "emitted": {"2024-01-01T11:30:00Z": ["new"]}
            })]
        );
    }

    #[tokio::test]
    async fn past_the_bound_the_oldest_events_may_come_again_with_a_warning() {
        let mut settings = settings();
        settings.max_remembered_keys = 2;
        let rows = [("e0", "2024-01-01T10:52:00Z"), WINDOW[0], WINDOW[1]];
        let first = read_events(at_cursor("2024-01-01T11:00:00Z"), settings.clone(), &rows).await;
        assert_eq!(first.sink.ids("event_id"), ["e0", "e1", "e2"]);
        assert!(first.sink.sent().iter().any(
            |s| matches!(s, Sent::Log(m) if m.contains("more than 2") && m.contains("10:52:00Z"))
        ));
        let after = final_state(&first);
        assert_eq!(after.emitted.len(), 2);

        // At least once, never lost: only the forgotten event comes again.
        let second = read_events(Some(after), settings, &rows).await;
        assert_eq!(second.sink.ids("event_id"), ["e0"]);
    }

    #[tokio::test]
    async fn a_sync_resumed_from_a_checkpoint_emits_only_what_came_after_it() {
        let mut settings = settings();
        settings.checkpoint_interval = std::num::NonZeroU64::MIN;
        let events = def("order_events");
        let pages = |rows: &[&[(&str, &str)]]| -> Vec<Answer> {
            let mut answers = vec![keyset_page(events, &rows[0][..1], Some("x"))];
            for (i, page) in rows.iter().enumerate() {
                let token = (i + 1 < rows.len()).then_some("t");
                answers.push(keyset_page(events, page, token));
            }
            answers
        };
        let (a, b, c) = (
            ("a", "2024-01-01T10:01:00Z"),
            ("b", "2024-01-01T10:02:00Z"),
            ("c", "2024-01-01T10:03:00Z"),
        );
        let killed = read_keyset(
            "order_events",
            SyncMode::Incremental,
            None,
            settings.clone(),
            pages(&[&[a, b], &[c]]),
        )
        .await;
        // The first checkpoint claims 10:01:59 but remembers b too.
        let checkpoint: StreamState =
            serde_json::from_value(killed.sink.states()[0].clone()).unwrap();
        assert_eq!(checkpoint.cursor, Some(t("2024-01-01T10:01:59Z")));

        let resumed = read_keyset(
            "order_events",
            SyncMode::Incremental,
            Some(checkpoint),
            settings,
            pages(&[&[a, b, c]]),
        )
        .await;
        assert_eq!(resumed.sink.ids("event_id"), ["c"]);
    }

    #[tokio::test]
    async fn a_full_refresh_of_order_events_neither_skips_nor_remembers() {
        let state = events_state("2024-01-01T11:00:00Z", &WINDOW);
        let events = def("order_events");
        let run = read_keyset(
            "order_events",
            SyncMode::FullRefresh,
            state,
            settings(),
            vec![
                keyset_page(events, &WINDOW[..1], Some("x")),
                keyset_page(events, &WINDOW, None),
            ],
        )
        .await;
        assert_eq!(run.sink.ids("event_id"), ["e1", "e2"]);
        assert_eq!(run.sink.states(), [json!({})]);
    }

    fn assert_says(error: &Error, text: &str) {
        assert!(error.message().contains(text), "{}", error.message());
    }

    /// A full refresh of customers that must fail, and its error.
    async fn read_customers_failing(answers: Vec<Answer>) -> (Arc<ScriptedRun>, Error) {
        let def = def("customers");
        let run = Arc::new(scripted(
            def,
            SyncMode::FullRefresh,
            None,
            settings(),
            answers,
        ));
        let error = read(run.clone(), keyset(def)).await.unwrap_err();
        (run, error)
    }

    #[tokio::test]
    async fn a_probe_that_counts_records_but_holds_none_is_an_error() {
        let (_, error) = read_customers_failing(vec![Answer::Page {
            body: json!({"data": [], "next_page_token": null}),
            total: Some(3),
        }])
        .await;
        assert_says(&error, "X-Total-Count says 3");
    }

    #[tokio::test]
    async fn an_empty_first_page_with_a_next_page_token_is_an_error() {
        let (_, error) =
            read_customers_failing(vec![keyset_page(def("customers"), &[], Some("x"))]).await;
        assert_says(&error, "claims more after it");
    }

    #[tokio::test]
    async fn a_record_the_probe_finds_twice_but_no_walk_finds_is_an_error() {
        let (customers, seen) = (def("customers"), &[("a", "2024-01-01T10:00:00Z")]);
        let (run, error) = read_customers_failing(vec![
            keyset_page(customers, seen, Some("x")),
            keyset_page(customers, &[], None),
            keyset_page(customers, seen, Some("x")),
        ])
        .await;
        assert_eq!(error.failure_type(), FailureType::System);
        assert_says(&error, "none when the window is walked");
        assert!(
            !run.sink
                .sent()
                .iter()
                .any(|sent| matches!(sent, Sent::State(_)))
        );
    }

    #[tokio::test]
    async fn a_record_that_left_the_window_during_the_walk_ends_the_read_normally() {
        let def = def("customers");
        let run = read_keyset(
            "customers",
            SyncMode::FullRefresh,
            None,
            settings(),
            vec![
                keyset_page(def, &[("a", "2024-01-01T10:00:00Z")], Some("x")),
                keyset_page(def, &[], None),
                keyset_page(def, &[], None),
            ],
        )
        .await;
        assert_eq!(run.pages.requests().len(), 3);
        assert!(run.sink.ids("id").is_empty());
    }

    #[tokio::test]
    async fn a_failed_probe_fails_the_read() {
        let (_, error) = read_customers_failing(vec![Answer::Status(403)]).await;
        assert_eq!(error.status(), Some(403));
    }
}

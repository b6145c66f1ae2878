//! `read`: the configured streams, concurrently, each from its state.
//!
//! Every input (config, catalog, state) is checked before the first request,
//! so a bad one is a `config_error` without side effects. The API's clock
//! comes from `GET /v1/health`, which costs no rate budget; the first data
//! request checks the credentials (the client holds the others until its
//! answer). Then each stream runs as its own task; a global
//! semaphore (`max_concurrency`) bounds the pages in flight across all of
//! them, and the bounded channel of the [`Emitter`] bounds the output
//! waiting for stdout, so memory stays flat whatever the volume.

mod batch;
mod id_ordered;
mod keys;
mod keyset;
mod page_body;
mod page_numbers;
mod progress;
mod slice_checkpoints;
mod stream;
#[cfg(test)]
mod test_support;
mod time_ordered;
mod time_window;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;

use crate::config::Config;
use crate::config::TimestampMode;
use crate::error::{Error, Result};
use crate::http::ApiClient;
use crate::protocol::{ConfiguredCatalog, Emitter, LogLevel, StreamStatus, SyncMode};
use crate::state::{InputState, StreamState};
use crate::streams::{self, StreamDef, Walk};
use crate::timestamps::{DateTimePlan, StreamTimestamps};

pub use slice_checkpoints::{SECOND, floor_second};
pub use stream::{ApiPages, EmitterSink, Pages, ReadSettings, Sink, StreamRun};

/// A stream the catalog asks for, with its input state.
#[derive(Debug)]
pub struct PlannedStream {
    pub def: &'static StreamDef,
    pub mode: SyncMode,
    pub state: Option<StreamState>,
    /// The record schema of the configured catalog (`{}` if it has none).
    pub json_schema: serde_json::Value,
}

/// Checks the catalog and the state against the streams this source has.
pub fn plan(catalog: &ConfiguredCatalog, state: &InputState) -> Result<Vec<PlannedStream>> {
    let mut seen = HashSet::new();
    let mut planned = Vec::with_capacity(catalog.streams.len());
    for configured in &catalog.streams {
        let name = configured.stream.name.as_str();
        let def = streams::find(name).ok_or_else(|| {
            let known: Vec<&str> = streams::ALL.iter().map(|s| s.name).collect();
            Error::config(format!(
                "The catalog asks for stream \"{name}\", which this source does not have (it has {}). Refresh the source schema and update the connection.",
                known.join(", ")
            ))
        })?;
        if !seen.insert(name) {
            return Err(Error::config(format!(
                "The catalog lists stream \"{name}\" twice; keep one."
            )));
        }
        planned.push(PlannedStream {
            def,
            mode: configured.sync_mode,
            state: state.stream(name)?,
            json_schema: configured.stream.json_schema.clone(),
        });
    }
    Ok(planned)
}

/// A stream read from the API onto stdout.
type ApiStreamRun = StreamRun<ApiPages, EmitterSink>;

/// How a stream's read ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamOutcome {
    Complete,
    /// 403: the credentials may not read it; the others go on.
    Forbidden,
    Failed,
}

/// Reads `planned` streams; returns each one's outcome, in catalog order.
pub async fn run(
    config: Config,
    planned: Vec<PlannedStream>,
    emitter: Emitter,
) -> Result<Vec<StreamOutcome>> {
    let client = ApiClient::new(
        &config,
        crate::protocol::AirbyteClientEvents::new(emitter.clone()),
    )?;
    let server_now = client.server_clock().await?.map(DateTime::from);
    let now = Utc::now();
    let trusted = trusted_server_clock(now, server_now);
    if let (Some(server), None) = (server_now, trusted) {
        emitter
            .log(
                LogLevel::Warn,
                format!(
                    "the API's Date header ({}) is more than a day from this machine's clock ({}); not trusting it, reading only up to 5 minutes ago by this machine's clock",
                    slice_checkpoints::api_instant(server),
                    slice_checkpoints::api_instant(now)
                ),
            )
            .await;
    } else if server_now.is_none() {
        emitter
            .log(
                LogLevel::Warn,
                "the API sent no Date header; reading only up to 5 minutes ago by this machine's clock, so that a clock running ahead cannot skip records",
            )
            .await;
    }
    let upper = upper_bound(now, trusted);
    emitter
        .log(
            LogLevel::Info,
            format!(
                "reading {} stream(s) up to {}",
                planned.len(),
                slice_checkpoints::api_instant(upper)
            ),
        )
        .await;
    let settings = Arc::new(ReadSettings::new(&config, upper));
    let client = Arc::new(client);
    let permits = Arc::new(Semaphore::new(config.max_concurrency.get()));
    // Credentials the API rejects end every stream, with one error.
    let rejection_reported = Arc::new(AtomicBool::new(false));

    let mut tasks = Vec::with_capacity(planned.len());
    for (id, stream) in planned.into_iter().enumerate() {
        let pages = ApiPages {
            client: client.clone(),
            permits: permits.clone(),
            stream: stream.def.name,
        };
        let sink = EmitterSink {
            emitter: emitter.clone(),
            stream: id,
            name: stream.def.name,
        };
        let timestamps = utc_rewrite(&config, &stream);
        let run = Arc::new(
            StreamRun::new(
                stream.def,
                id,
                stream.mode,
                stream.state,
                settings.clone(),
                pages,
                sink,
            )
            .with_timestamps(timestamps)
            .with_policy(config.privacy.for_stream(stream.def.name)),
        );
        run.sink.status(StreamStatus::Started).await;
        let task = read_stream(run.clone(), rejection_reported.clone());
        tasks.push((run, tokio::spawn(task)));
    }
    let mut outcomes = Vec::with_capacity(tasks.len());
    for (run, task) in tasks {
        let outcome = match task.await {
            Ok(outcome) => outcome,
            // A panic is a defect; the stream still ends with an error and
            // a status, like any other failure.
            Err(panicked) => {
                let error = Error::system("The stream stopped on an internal error; report it.")
                    .with_internal(panicked.to_string());
                fail(&run, error).await
            }
        };
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// The rewrite of a planned stream's date-times to UTC: none with
/// `timestamps: as_sent`, or for a schema without date-times. The schema is
/// the configured catalog's; a catalog without one gets the static schema
/// and, where the stream has custom fields, any `cf_*` date-time (asking the
/// API for their types would cost a request of every read).
fn utc_rewrite(config: &Config, planned: &PlannedStream) -> Option<Arc<StreamTimestamps>> {
    if config.timestamps == TimestampMode::AsSent {
        return None;
    }
    let plan = if planned.json_schema.get("properties").is_some() {
        DateTimePlan::from_schema(&planned.json_schema)
    } else {
        let plan = DateTimePlan::from_schema(&crate::discover::static_schema(planned.def));
        match planned.def.custom_fields_object {
            Some(_) => plan.with_custom_date_times(),
            None => plan,
        }
    };
    (!plan.is_empty()).then(|| Arc::new(StreamTimestamps::new(planned.def.name, plan)))
}

/// The latest instant a sync reads: a second before now, so that no record
/// of the current second can appear after the sync read past it. "Now" is
/// the earlier of the API's clock and ours; when the API does not tell its
/// clock, ours less the contract's clock tolerance (5 minutes), since a
/// bound in the API's future would let records written during the sync
/// land below it unread.
fn upper_bound(now: DateTime<Utc>, server_now: Option<DateTime<Utc>>) -> DateTime<Utc> {
    let server_now = server_now.unwrap_or(now - UNKNOWN_CLOCK_MARGIN);
    floor_second(now.min(server_now)) - SECOND
}

/// How far the API's clock may be from ours before it is not believed: a
/// `Date` a day off is a broken server, and would put the sync's upper
/// bound (hence its state) far in the past or the future.
const MAX_TRUSTED_CLOCK_SKEW: chrono::TimeDelta = chrono::TimeDelta::days(1);

/// The API's clock, if it is within [`MAX_TRUSTED_CLOCK_SKEW`] of ours.
fn trusted_server_clock(
    now: DateTime<Utc>,
    server_now: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    server_now.filter(|server| (*server - now).abs() <= MAX_TRUSTED_CLOCK_SKEW)
}

/// How far the API's clock may be behind ours when it does not say.
const UNKNOWN_CLOCK_MARGIN: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

async fn read_stream(run: Arc<ApiStreamRun>, rejection_reported: Arc<AtomicBool>) -> StreamOutcome {
    // The one place a stream's walk is chosen.
    let result = match &run.def.walk {
        Walk::IdOrdered => id_ordered::read(&run).await,
        Walk::Keyset(keyset) => time_ordered::read(run.clone(), keyset).await,
        Walk::TimeWindow(window) => time_window::read(run.clone(), window).await,
    };
    match result {
        Ok(()) => {
            run.sink.status(StreamStatus::Complete).await;
            StreamOutcome::Complete
        }
        Err(error) if error.status() == Some(403) => {
            run.log(
                LogLevel::Warn,
                format!("skipped: {} Other streams go on.", error.message()),
            )
            .await;
            run.sink.status(StreamStatus::Incomplete).await;
            StreamOutcome::Forbidden
        }
        // The first data request checks the credentials; the streams that
        // waited for it end with its error, which one of them reports.
        Err(error)
            if crate::http::rejects_credentials(&error)
                && rejection_reported.swap(true, Ordering::SeqCst) =>
        {
            run.sink.status(StreamStatus::Incomplete).await;
            StreamOutcome::Failed
        }
        Err(error) => fail(&run, error).await,
    }
}

/// Ends the stream with `error`: an ERROR trace, then INCOMPLETE.
async fn fail(run: &ApiStreamRun, error: Error) -> StreamOutcome {
    let error = error.context(format!("Stream {}", run.def.name));
    run.sink.emitter.error(&error, Some(run.def.name)).await;
    run.sink.status(StreamStatus::Incomplete).await;
    StreamOutcome::Failed
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn catalog(streams: &[(&str, &str)]) -> ConfiguredCatalog {
        serde_json::from_value(json!({
            "streams": streams.iter().map(|(name, mode)| json!({
                "stream": {"name": name, "json_schema": {}, "supported_sync_modes": ["full_refresh", "incremental"]},
                "sync_mode": mode,
                "destination_sync_mode": "append"
            })).collect::<Vec<_>>()
        }))
        .unwrap()
    }

    #[test]
    fn the_plan_keeps_catalog_order() {
        let planned = plan(
            &catalog(&[("orders", "incremental"), ("customers", "full_refresh")]),
            &InputState::default(),
        )
        .unwrap();
        let names: Vec<&str> = planned.iter().map(|p| p.def.name).collect();
        assert_eq!(names, ["orders", "customers"]);
        assert_eq!(planned[0].mode, SyncMode::Incremental);
    }

    #[test]
    fn an_unknown_stream_is_a_config_error_listing_the_known_ones() {
        let error = plan(
            &catalog(&[("invoices", "full_refresh")]),
            &InputState::default(),
        )
        .unwrap_err();
        assert_eq!(error.failure_type(), crate::protocol::FailureType::Config);
        assert!(error.message().contains("invoices"));
        assert!(
            error
                .message()
                .contains("customers, products, orders, order_events")
        );
    }

    #[test]
    fn a_stream_listed_twice_is_a_config_error() {
        assert!(
            plan(
                &catalog(&[("orders", "full_refresh"), ("orders", "incremental")]),
                &InputState::default()
            )
            .is_err()
        );
    }

    #[test]
    fn an_unusable_state_of_a_selected_stream_fails_the_plan() {
        let state = InputState::from_value(json!({"orders": {"cursor": 7}})).unwrap();
        assert!(plan(&catalog(&[("orders", "incremental")]), &state).is_err());
    }

    #[test]
    fn the_upper_bound_is_a_whole_second_in_the_past_by_the_earlier_clock() {
        let now: DateTime<Utc> = "2024-05-01T10:00:00.700Z".parse().unwrap();
        let server: DateTime<Utc> = "2024-05-01T09:59:58.200Z".parse().unwrap();
        assert_eq!(
            upper_bound(now, Some(server)),
            "2024-05-01T09:59:57Z".parse::<DateTime<Utc>>().unwrap()
        );
    }

    #[test]
    fn a_server_clock_more_than_a_day_off_is_not_trusted() {
        let now: DateTime<Utc> = "2024-05-01T10:00:00Z".parse().unwrap();
        let near: DateTime<Utc> = "2024-04-30T11:00:00Z".parse().unwrap();
        let past: DateTime<Utc> = "2024-04-29T09:59:59Z".parse().unwrap();
        let future: DateTime<Utc> = "2099-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(trusted_server_clock(now, Some(near)), Some(near));
        assert_eq!(trusted_server_clock(now, Some(past)), None);
        assert_eq!(trusted_server_clock(now, Some(future)), None);
        assert_eq!(trusted_server_clock(now, None), None);
    }

    #[test]
    fn without_the_apis_clock_the_upper_bound_keeps_a_margin_for_skew() {
        let now: DateTime<Utc> = "2024-05-01T10:00:00.700Z".parse().unwrap();
        assert_eq!(
            upper_bound(now, None),
            "2024-05-01T09:54:59Z".parse::<DateTime<Utc>>().unwrap()
        );
    }
}

//! The seam under the walks: what a walk is handed to read one stream.
//!
//! A walk asks the API for pages through [`Pages`] (with a permit to have
//! one in flight), and hands records, checkpoints and logs to a [`Sink`].
//! It never reaches up into the module that spawned it: production wires
//! [`ApiPages`] (the [`ApiClient`] and the shared semaphore) and
//! [`EmitterSink`] (stdout); unit tests script the pages and record the
//! output.

use std::future::Future;
use std::num::{NonZeroU64, NonZeroUsize};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::batch::Batch;
use super::keys::KeyReader;
use super::page_body::PageBody;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::http::{ApiClient, ApiRequest, BodyError};
use crate::privacy::StreamPolicy;
use crate::protocol::{
    Emitter, EstimateTrace, LogLevel, Message, Output, RecordFrame, StreamDescriptor, StreamId,
    StreamStatus, StreamStatusTrace, SyncMode, TraceBody, TraceMessage,
};
use crate::state::StreamState;
use crate::streams::StreamDef;
use crate::timestamps::StreamTimestamps;

/// Where a walk gets its pages.
pub trait Pages: Send + Sync {
    /// Held while a page is in flight; dropping it frees the place.
    type Permit: Send + 'static;

    /// GETs `request` and hands the body and `X-Total-Count` to `parse`
    /// (inside the retry loop: a body `parse` refuses is retried).
    fn get_with_total<T: Send>(
        &self,
        request: &ApiRequest<'_>,
        parse: impl FnMut(&[u8], Option<u64>) -> std::result::Result<T, BodyError> + Send,
    ) -> impl Future<Output = Result<T>> + Send;

    /// A permit to have one page in flight, shared by every stream.
    fn permit(&self) -> impl Future<Output = Result<Self::Permit>> + Send;

    /// Like [`Pages::get_with_total`], for walks that do not need the count.
    fn get<T: Send>(
        &self,
        request: &ApiRequest<'_>,
        mut parse: impl FnMut(&[u8]) -> std::result::Result<T, BodyError> + Send,
    ) -> impl Future<Output = Result<T>> + Send {
        self.get_with_total(request, move |body, _| parse(body))
    }
}

/// Where a walk puts what it read. Records of a batch must be out before a
/// checkpoint that covers them is sent, which calling in that order ensures.
pub trait Sink: Send + Sync {
    /// One page of records.
    fn records(&self, batch: Batch) -> impl Future<Output = ()> + Send;
    /// A checkpoint of the stream.
    fn state(&self, state: StreamState) -> impl Future<Output = ()> + Send;
    /// A log line about the stream.
    fn log(&self, level: LogLevel, message: String) -> impl Future<Output = ()> + Send;
    /// The first answer is in, with the number of records to come if known.
    fn started_reading(&self, estimate: Option<u64>) -> impl Future<Output = ()> + Send;
    /// The bytes around each record of a page extracted now, in the
    /// output's format.
    fn record_frame(&self) -> RecordFrame;
}

/// The keys of its lookback window a stream remembers at most: ids of
/// about 16 characters make a state of at most about 250 KB, and 10,000
/// events in a 10-minute window is 16 a second, sustained. Past it, the
/// oldest seconds of the window may be emitted again (with a WARN).
pub const MAX_REMEMBERED_KEYS: usize = 10_000;

/// The settings of a read that the walks use, settled once for all streams.
#[derive(Debug, Clone)]
pub struct ReadSettings {
    /// Records per request.
    pub page_size: u32,
    /// Whether soft-deleted records are asked for.
    pub include_deleted: bool,
    /// Records with an earlier cursor are not emitted.
    pub start_date: Option<DateTime<Utc>>,
    /// The configured request cap, which bounds useful parallel slices.
    pub requests_per_second: Option<f64>,
    /// Pages in flight across all streams.
    pub max_concurrency: NonZeroUsize,
    /// Records per stream between two checkpoints.
    pub checkpoint_interval: NonZeroU64,
    /// The configured lookback of streams that have one.
    pub lookback: TimeDelta,
    /// Streams with a lookback remember at most this many keys of their
    /// window in their state ([`MAX_REMEMBERED_KEYS`]).
    pub max_remembered_keys: usize,
    /// The upper bound of every window: records updated later wait for the
    /// next sync, so that the sync ends while the shop keeps writing.
    pub upper: DateTime<Utc>,
}

impl ReadSettings {
    /// The settings of `config`, for a read up to `upper`.
    pub fn new(config: &Config, upper: DateTime<Utc>) -> Self {
        ReadSettings {
            page_size: config.page_size,
            include_deleted: config.include_deleted,
            start_date: config.start_date,
            requests_per_second: config.requests_per_second,
            max_concurrency: config.max_concurrency,
            checkpoint_interval: config.checkpoint_interval,
            lookback: config.events_lookback,
            max_remembered_keys: MAX_REMEMBERED_KEYS,
            upper,
        }
    }
}

/// One stream being read: its declaration, inputs and settings, and the
/// two ends a walk talks to.
pub struct StreamRun<P, K> {
    pub def: &'static StreamDef,
    pub id: StreamId,
    pub mode: SyncMode,
    pub state: Option<StreamState>,
    pub settings: Arc<ReadSettings>,
    /// Reads the id and cursor of this stream's records.
    pub keys: KeyReader,
    pub pages: P,
    pub sink: K,
    /// Rewrites this stream's date-times to UTC; `None` passes them as sent.
    pub timestamps: Option<Arc<StreamTimestamps>>,
    /// The fields this stream blocks or hashes; `None` for most streams.
    pub policy: Option<Arc<StreamPolicy>>,
}

impl<P: Pages, K: Sink> StreamRun<P, K> {
    /// A run of `def`, the `id`-th stream of the read.
    pub fn new(
        def: &'static StreamDef,
        id: StreamId,
        mode: SyncMode,
        state: Option<StreamState>,
        settings: Arc<ReadSettings>,
        pages: P,
        sink: K,
    ) -> Self {
        StreamRun {
            keys: KeyReader::new(def.primary_key, def.cursor_field),
            def,
            id,
            mode,
            state,
            settings,
            pages,
            sink,
            timestamps: None,
            policy: None,
        }
    }

    /// The list request with what every request of this stream carries.
    pub fn list_request(&self) -> ApiRequest<'static> {
        let request = ApiRequest::new(self.def.path);
        if self.def.soft_deletes && self.settings.include_deleted {
            request.param("include_deleted", "true")
        } else {
            request
        }
    }

    /// Records per request.
    pub fn page_size(&self) -> u32 {
        self.settings.page_size
    }

    /// A batch that holds no record (a checkpoint with nothing before it).
    pub fn empty_batch(&self) -> Batch {
        Batch::new(self.id, self.sink.record_frame(), 0)
    }

    /// An empty batch of this stream's records from `page`, whose body is
    /// `body_len` bytes.
    pub fn batch(&self, page: &PageBody<'_>, body_len: usize) -> Batch {
        // A page without a UTC offset has no date-time to rewrite.
        let utc = self.timestamps.clone().filter(|_| page.may_hold_offsets);
        Batch::new(self.id, self.sink.record_frame(), body_len)
            .with_utc(utc)
            .with_policy(self.policy.clone())
    }

    /// Applies `policy` to this stream's records. A hashed primary key is
    /// also the key the walks remember and quote, so that no clear key
    /// reaches a state or a message.
    pub fn with_policy(mut self, policy: Option<Arc<StreamPolicy>>) -> Self {
        if let Some(policy) = policy.as_ref().filter(|p| p.hashes_primary_key) {
            self.keys = KeyReader::new(self.def.primary_key, self.def.cursor_field)
                .with_hashed_ids(policy.clone());
        }
        self.policy = policy;
        self
    }

    /// The key of a record as the stream emits, remembers and quotes it:
    /// hashed when the policy hashes the primary key.
    pub fn record_key<'a>(&self, id: &'a str) -> std::borrow::Cow<'a, str> {
        match &self.policy {
            Some(policy) => policy.record_key(id),
            None => std::borrow::Cow::Borrowed(id),
        }
    }

    /// Whether the clear primary key must stay out of states: a position
    /// that needs the clear id (the last id of a page walk) is not saved.
    pub fn hashes_primary_key(&self) -> bool {
        self.policy.as_ref().is_some_and(|p| p.hashes_primary_key)
    }

    /// Rewrites the date-times of this stream's records to UTC.
    pub fn with_timestamps(mut self, timestamps: Option<Arc<StreamTimestamps>>) -> Self {
        self.timestamps = timestamps;
        self
    }

    /// Whether a record with this cursor is within `start_date`.
    pub fn wanted(&self, cursor: DateTime<Utc>) -> bool {
        self.settings.start_date.is_none_or(|start| cursor >= start)
    }

    /// A log line about this stream.
    pub async fn log(&self, level: LogLevel, message: impl Into<String>) {
        self.sink.log(level, message.into()).await;
    }
}

/// [`Pages`] over the API client, bounded by the semaphore of the read.
pub struct ApiPages {
    pub client: Arc<ApiClient>,
    pub permits: Arc<Semaphore>,
    /// The stream named in the client's logs and errors.
    pub stream: &'static str,
}

impl Pages for ApiPages {
    type Permit = OwnedSemaphorePermit;

    async fn get_with_total<T: Send>(
        &self,
        request: &ApiRequest<'_>,
        mut parse: impl FnMut(&[u8], Option<u64>) -> std::result::Result<T, BodyError> + Send,
    ) -> Result<T> {
        self.client
            .get(request, Some(self.stream), |response| {
                parse(&response.body, response.total_count)
            })
            .await
    }

    async fn permit(&self) -> Result<OwnedSemaphorePermit> {
        self.permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::system("The read was shut down."))
    }
}

/// [`Sink`] onto stdout through the [`Emitter`], for one stream.
#[derive(Clone)]
pub struct EmitterSink {
    pub emitter: Emitter,
    pub stream: StreamId,
    pub name: &'static str,
}

impl EmitterSink {
    /// A STREAM_STATUS trace of this stream.
    pub async fn status(&self, status: StreamStatus) {
        self.emitter
            .message(&Message::Trace {
                trace: TraceMessage::new(TraceBody::StreamStatus {
                    stream_status: StreamStatusTrace {
                        stream_descriptor: StreamDescriptor { name: self.name },
                        status,
                        reasons: Vec::new(),
                    },
                }),
            })
            .await;
    }
}

impl Sink for EmitterSink {
    async fn records(&self, mut batch: Batch) {
        for warning in batch.take_warnings() {
            self.emitter.log(LogLevel::Warn, warning).await;
        }
        self.emitter.send(batch.into_output()).await;
    }

    /// The writer adds the record count.
    async fn state(&self, state: StreamState) {
        self.emitter
            .send(Output::State {
                stream: self.stream,
                blob: state.to_value(),
            })
            .await;
    }

    async fn log(&self, level: LogLevel, message: String) {
        self.emitter
            .log(level, format!("{}: {}", self.name, message))
            .await;
    }

    fn record_frame(&self) -> RecordFrame {
        self.emitter.record_frame(self.name)
    }

    /// An ESTIMATE from `X-Total-Count`, and RUNNING.
    async fn started_reading(&self, estimate: Option<u64>) {
        if let Some(total) = estimate {
            self.emitter
                .message(&Message::Trace {
                    trace: TraceMessage::new(TraceBody::Estimate {
                        estimate: EstimateTrace {
                            name: self.name,
                            estimate_type: "STREAM",
                            row_estimate: total,
                        },
                    }),
                })
                .await;
        }
        self.status(StreamStatus::Running).await;
    }
}

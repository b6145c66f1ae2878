//! Scripted pages and a recording sink, for the walks' unit tests.
//!
//! A test lists the answers the API gives, in order; the walk runs against
//! them and the test reads back the requests it made and what it sent.

use std::collections::VecDeque;
use std::num::{NonZeroU64, NonZeroUsize};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::batch::Batch;
use super::stream::{Pages, ReadSettings, Sink, StreamRun};
use crate::error::{Error, Result};
use crate::http::{ApiRequest, BodyError};
use crate::protocol::{LogLevel, Output, RecordFrame, SyncMode};
use crate::state::StreamState;
use crate::streams::StreamDef;

/// The policy that hashes the primary key of `def`.
pub fn hashed_key_policy(def: &StreamDef) -> Arc<crate::privacy::StreamPolicy> {
    let entries: Vec<crate::privacy::FieldPolicyEntry> = serde_json::from_value(json!([
        {"stream": def.name, "field": def.primary_key, "action": "hash", "normalize": "none"}
    ]))
    .expect("a policy entry");
    crate::privacy::FieldPolicies::compile(
        &entries,
        Some(&crate::config::Secret::new("test-hash-key-0123456789")),
        crate::config::TimestampMode::Utc,
    )
    .expect("a valid policy")
    .for_stream(def.name)
    .expect("the stream's policy")
}

pub fn t(s: &str) -> DateTime<Utc> {
    s.parse().expect("a test instant")
}

/// One answer of the scripted API.
pub enum Answer {
    /// 200 with this body and `X-Total-Count`.
    Page { body: Value, total: Option<u64> },
    /// An error status, after the client's retries (if any) gave up.
    Status(u16),
}

/// [`Pages`] that answer from a script and note every request's query.
pub struct ScriptedPages {
    answers: Mutex<VecDeque<Answer>>,
    requests: Mutex<Vec<Vec<(&'static str, String)>>>,
    permits: Arc<Semaphore>,
}

impl ScriptedPages {
    pub fn new(answers: Vec<Answer>) -> Self {
        ScriptedPages {
            answers: Mutex::new(answers.into()),
            requests: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(4)),
        }
    }

    /// The query of every request made, in order.
    pub fn requests(&self) -> Vec<Vec<(&'static str, String)>> {
        self.requests.lock().unwrap().clone()
    }

    /// The value of `name` in each request (`-` where absent).
    pub fn param(&self, name: &str) -> Vec<String> {
        self.requests()
            .iter()
            .map(|query| {
                query
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map_or("-".to_owned(), |(_, v)| v.clone())
            })
            .collect()
    }

    pub fn unanswered(&self) -> usize {
        self.answers.lock().unwrap().len()
    }
}

impl Pages for ScriptedPages {
    type Permit = OwnedSemaphorePermit;

    async fn get_with_total<T: Send>(
        &self,
        request: &ApiRequest<'_>,
        mut parse: impl FnMut(&[u8], Option<u64>) -> std::result::Result<T, BodyError> + Send,
    ) -> Result<T> {
        self.requests.lock().unwrap().push(request.query.clone());
        let answer = self.answers.lock().unwrap().pop_front();
        match answer {
            // A walk that asks for more than the script holds fails its
            // test instead of hanging.
            None => Err(Error::system("the script has no more answers")),
            Some(Answer::Status(status)) => {
                Err(Error::transient(format!("HTTP {status}")).with_status(Some(status)))
            }
            Some(Answer::Page { body, total }) => {
                let body = serde_json::to_vec(&body).expect("a JSON body");
                parse(&body, total).map_err(|e| Error::system(e.to_string()))
            }
        }
    }

    async fn permit(&self) -> Result<OwnedSemaphorePermit> {
        self.permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::system("closed"))
    }
}

/// What a walk sent, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Sent {
    /// The `data` of each record of one batch.
    Records(Vec<Value>),
    State(Value),
    Log(String),
    Started(Option<u64>),
}

/// A [`Sink`] that keeps everything.
#[derive(Default)]
pub struct RecordingSink {
    sent: Mutex<Vec<Sent>>,
}

impl RecordingSink {
    pub fn sent(&self) -> Vec<Sent> {
        self.sent.lock().unwrap().clone()
    }

    /// The `key` of every record sent, in order.
    pub fn ids(&self, key: &str) -> Vec<String> {
        self.sent()
            .into_iter()
            .filter_map(|sent| match sent {
                Sent::Records(records) => Some(records),
                _ => None,
            })
            .flatten()
            .map(|data| data[key].as_str().unwrap_or("?").to_owned())
            .collect()
    }

    pub fn states(&self) -> Vec<Value> {
        self.sent()
            .into_iter()
            .filter_map(|sent| match sent {
                Sent::State(state) => Some(state),
                _ => None,
            })
            .collect()
    }

    fn push(&self, sent: Sent) {
        self.sent.lock().unwrap().push(sent);
    }
}

impl Sink for RecordingSink {
    async fn records(&self, batch: Batch) {
        let Output::Records { bytes, .. } = batch.into_output() else {
            return;
        };
        let records = String::from_utf8(bytes)
            .expect("RECORD lines are UTF-8")
            .lines()
            .map(|line| {
                let message: Value = serde_json::from_str(line).expect("a RECORD line");
                message["record"]["data"].clone()
            })
            .collect();
        self.push(Sent::Records(records));
    }

    async fn state(&self, state: StreamState) {
        self.push(Sent::State(state.to_value()));
    }

    async fn log(&self, _level: LogLevel, message: String) {
        self.push(Sent::Log(message));
    }

    fn record_frame(&self) -> RecordFrame {
        RecordFrame::airbyte("test", 1)
    }

    async fn started_reading(&self, estimate: Option<u64>) {
        self.push(Sent::Started(estimate));
    }
}

/// The upper bound of every scripted read.
pub const UPPER: &str = "2024-01-01T12:00:00Z";

/// Settings with pages of 2 records, one walker, no checkpoint until the end.
pub fn settings() -> ReadSettings {
    ReadSettings {
        page_size: 2,
        include_deleted: false,
        start_date: None,
        requests_per_second: None,
        max_concurrency: NonZeroUsize::MIN,
        checkpoint_interval: NonZeroU64::MAX,
        lookback: TimeDelta::minutes(10),
        max_remembered_keys: 100,
        upper: t(UPPER),
    }
}

pub type ScriptedRun = StreamRun<ScriptedPages, RecordingSink>;

/// A run of `def` against `answers`.
pub fn scripted(
    def: &'static StreamDef,
    mode: SyncMode,
    state: Option<StreamState>,
    settings: ReadSettings,
    answers: Vec<Answer>,
) -> ScriptedRun {
    StreamRun::new(
        def,
        0,
        mode,
        state,
        Arc::new(settings),
        ScriptedPages::new(answers),
        RecordingSink::default(),
    )
}

/// Records of `def` from `(id, cursor)` pairs.
fn records(def: &StreamDef, records: &[(&str, &str)]) -> Vec<Value> {
    records
        .iter()
        .map(|(id, cursor)| json!({def.primary_key: id, def.cursor_field: cursor}))
        .collect()
}

/// A keyset page, with a `next_page_token` if given.
pub fn keyset_page(def: &StreamDef, rows: &[(&str, &str)], token: Option<&str>) -> Answer {
    Answer::Page {
        body: json!({"data": records(def, rows), "next_page_token": token}),
        total: None,
    }
}

/// A page-numbered page, with `has_more` and `X-Total-Count`.
pub fn numbered_page(
    def: &StreamDef,
    rows: &[(&str, &str)],
    has_more: bool,
    total: Option<u64>,
) -> Answer {
    Answer::Page {
        body: json!({"data": records(def, rows), "has_more": has_more}),
        total,
    }
}

//! What the client reports while it works, as typed events.
//!
//! The client never writes output itself: it tells a [`ClientEvents`] sink
//! what happened, and the caller decides what that becomes (for the
//! connector, Airbyte LOG lines and `STREAM_STATUS` traces).

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

/// One thing that happened inside the client. `request` is the method and
/// path (`GET /v1/orders`), never the query or a secret; `stream` is the
/// stream the request serves, when the caller named one.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent<'a> {
    /// One HTTP exchange finished, `took` from sending to the body's end.
    RequestDone {
        stream: Option<&'a str>,
        request: &'a str,
        answer: Answer<'a>,
        took: Duration,
    },
    /// An attempt failed and will be repeated after `delay`.
    Retrying {
        stream: Option<&'a str>,
        request: &'a str,
        /// The failure's details (status, API code, request id).
        failure: &'a str,
        /// This retry's number, from 1.
        retry: u32,
        max_retries: u32,
        delay: Duration,
    },
    /// The API answered 429: every request pauses for `wait`, until
    /// `resets_at`.
    RateLimited {
        stream: Option<&'a str>,
        request: &'a str,
        wait: Duration,
        resets_at: SystemTime,
    },
    /// The API's bucket is low: the request waits `wait` for its turn; the
    /// bucket is full again at `resets_at`.
    Paced {
        stream: Option<&'a str>,
        request: &'a str,
        wait: Duration,
        resets_at: SystemTime,
    },
    /// The circuit breaker opened after `failures` failures in a row: it
    /// holds the endpoint's requests and probes it one at a time.
    BreakerOpened { request: &'a str, failures: u32 },
    /// The API said the access token expired or was revoked; it is renewed.
    TokenRejected { request: &'a str },
    /// A new access token was fetched.
    TokenRenewed,
}

/// How one HTTP exchange ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer<'a> {
    /// An answer arrived, body read in full.
    Status {
        status: u16,
        bytes: usize,
        request_id: Option<&'a str>,
    },
    /// No usable answer: the failure in a few words.
    Failed { summary: String },
}

/// The future of one [`ClientEvents::report`].
pub type Reported<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Where the client reports its [`ClientEvent`]s. The client awaits each
/// report, so a sink that applies backpressure (a bounded output channel)
/// slows the requests down instead of buffering without bound.
pub trait ClientEvents: Send + Sync {
    fn report<'a>(&'a self, event: ClientEvent<'a>) -> Reported<'a>;
}

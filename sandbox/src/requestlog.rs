//! Request ids and the log of served requests.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::rng::mix64;

/// One served request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedRequest {
    /// When the request arrived.
    pub at: SystemTime,
    /// HTTP method, e.g. `GET`.
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// Raw query string (empty if none).
    pub query: String,
    /// Status of the response (200 also for a body that was then cut off).
    pub status: u16,
    /// The `X-Request-Id` the response carried.
    pub request_id: String,
}

/// Issues request ids and keeps the log.
#[derive(Debug)]
pub(crate) struct RequestLog {
    keep: bool,
    trace: bool,
    salt: u64,
    next: AtomicU64,
    entries: Mutex<Vec<LoggedRequest>>,
}

impl RequestLog {
    /// A log that keeps entries if `keep`, and prints them on stderr if `trace`.
    pub(crate) fn new(keep: bool, trace: bool) -> RequestLog {
        // Salted with the start time: ids differ between runs, as they would
        // between real deployments, and never repeat within one.
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        RequestLog {
            keep,
            trace,
            salt: mix64(started.as_nanos() as u64),
            next: AtomicU64::new(0),
            entries: Mutex::new(Vec::new()),
        }
    }

    /// A new request's sequence number and id. Ids are unique because
    /// `mix64` is a bijection and sequence numbers never repeat.
    pub(crate) fn next_id(&self) -> (u64, String) {
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        (seq, format!("req_{:016x}", mix64(seq ^ self.salt)))
    }

    /// Records a served request.
    pub(crate) fn record(&self, entry: LoggedRequest) {
        if self.trace {
            let sep = if entry.query.is_empty() { "" } else { "?" };
            eprintln!(
                "{} {}{sep}{} -> {} ({})",
                entry.method, entry.path, entry.query, entry.status, entry.request_id
            );
        }
        if self.keep {
            self.entries
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(entry);
        }
    }

    /// Every recorded request, in order.
    pub(crate) fn snapshot(&self) -> Vec<LoggedRequest> {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn request_ids_are_unique() {
        let log = RequestLog::new(false, false);
        let ids: HashSet<String> = (0..10_000).map(|_| log.next_id().1).collect();
        assert_eq!(ids.len(), 10_000);
    }

    #[test]
    fn entries_are_kept_only_when_asked() {
        let entry = LoggedRequest {
            at: SystemTime::now(),
            method: "GET".into(),
            path: "/v1/health".into(),
            query: String::new(),
            status: 200,
            request_id: "req_1".into(),
        };
        let kept = RequestLog::new(true, false);
        kept.record(entry.clone());
        assert_eq!(kept.snapshot(), vec![entry.clone()]);
        let dropped = RequestLog::new(false, false);
        dropped.record(entry);
        assert!(dropped.snapshot().is_empty());
    }
}

//! A circuit breaker per endpoint.
//!
//! Retries with backoff protect one request. When an endpoint fails request
//! after request (every slice and page of a stream retrying on its own), the
//! breaker opens after a run of consecutive failures: every later request to
//! that endpoint fails at once, so the stream stops with a clear error
//! instead of hammering a broken API until each request's budget is spent.
//! One success closes the run. A sync is a batch job, so an open breaker stays
//! open: the next sync tries again.

use std::collections::HashMap;
use std::sync::Mutex;

/// See the module documentation.
pub struct CircuitBreaker {
    threshold: u32,
    runs: Mutex<HashMap<String, u32>>,
}

impl CircuitBreaker {
    /// Opens an endpoint after `threshold` consecutive failed attempts.
    pub fn new(threshold: u32) -> Self {
        CircuitBreaker {
            threshold: threshold.max(1),
            runs: Mutex::new(HashMap::new()),
        }
    }

    /// Whether requests to `endpoint` may still be sent.
    pub fn is_open(&self, endpoint: &str) -> bool {
        self.runs
            .lock()
            .expect("breaker lock")
            .get(endpoint)
            .is_some_and(|run| *run >= self.threshold)
    }

    /// Records a failed attempt; returns the length of the current run.
    pub fn failure(&self, endpoint: &str) -> u32 {
        let mut runs = self.runs.lock().expect("breaker lock");
        let run = runs.entry(endpoint.to_owned()).or_default();
        *run += 1;
        *run
    }

    /// Records a success, which ends the run of failures.
    pub fn success(&self, endpoint: &str) {
        let mut runs = self.runs.lock().expect("breaker lock");
        if let Some(run) = runs.get_mut(endpoint) {
            if *run < self.threshold {
                *run = 0;
            }
        }
    }

    pub fn threshold(&self) -> u32 {
        self.threshold
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_a_run_of_consecutive_failures() {
        let breaker = CircuitBreaker::new(3);
        breaker.failure("/v1/orders");
        breaker.failure("/v1/orders");
        assert!(!breaker.is_open("/v1/orders"));
        breaker.failure("/v1/orders");
        assert!(breaker.is_open("/v1/orders"));
    }

    #[test]
    fn a_success_ends_the_run() {
        let breaker = CircuitBreaker::new(3);
        breaker.failure("/v1/orders");
        breaker.failure("/v1/orders");
        breaker.success("/v1/orders");
        breaker.failure("/v1/orders");
        breaker.failure("/v1/orders");
        assert!(!breaker.is_open("/v1/orders"));
    }

    #[test]
    fn endpoints_are_independent() {
        let breaker = CircuitBreaker::new(1);
        breaker.failure("/v1/orders");
        assert!(breaker.is_open("/v1/orders"));
        assert!(!breaker.is_open("/v1/customers"));
    }

    #[test]
    fn an_open_breaker_stays_open_after_a_late_success() {
        let breaker = CircuitBreaker::new(1);
        breaker.failure("/v1/orders");
        breaker.success("/v1/orders");
        assert!(breaker.is_open("/v1/orders"));
    }
}

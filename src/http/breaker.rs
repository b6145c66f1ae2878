//! A circuit breaker per endpoint.
//!
//! Retries with backoff protect one request. When an endpoint fails again and
//! again (every slice of a stream retrying on its own), the breaker opens
//! after a run of consecutive failures: from then on one request at a time
//! probes the endpoint, spaced like one request's backoff, and the others
//! wait instead of hammering the API. A probe that succeeds closes the
//! breaker, so a short burst of errors costs a pause, not the sync. When as
//! many probes have failed as one request may retry, the endpoint is given
//! up: every request to it fails at once with the last failure's details. A
//! sync is a batch job, so a breaker that gave up stays so; the next sync
//! tries again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// See the module documentation.
pub struct CircuitBreaker {
    /// Consecutive failures that open the breaker.
    threshold: u32,
    /// Failed probes after which the endpoint is given up.
    max_probes: u32,
    first_pause: Duration,
    max_pause: Duration,
    endpoints: Mutex<HashMap<String, Run>>,
}

/// The failures in a row of one endpoint.
#[derive(Default)]
struct Run {
    failures: u32,
    open: Option<Open>,
    /// `internal_message` and status of the latest failure, for the error.
    last: Option<(String, Option<u16>)>,
}

struct Open {
    failed_probes: u32,
    next_probe: Instant,
}

/// Whether a request may be sent now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    Send,
    /// Send it as the probe of an open breaker; report it as such.
    Probe,
    /// The breaker is open and another request probes; ask again then.
    WaitUntil(Instant),
    /// The endpoint was given up; the latest failure's details and status.
    GiveUp {
        internal: Option<String>,
        status: Option<u16>,
    },
}

impl CircuitBreaker {
    /// Opens after `threshold` consecutive failures and gives up after
    /// `max_probes` failed probes, pausing between probes from `first_pause`
    /// doubling up to `max_pause`.
    pub fn new(
        threshold: u32,
        max_probes: u32,
        first_pause: Duration,
        max_pause: Duration,
    ) -> Self {
        CircuitBreaker {
            threshold: threshold.max(1),
            max_probes,
            first_pause,
            max_pause,
            endpoints: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a request to `endpoint` may be sent now.
    pub fn admit(&self, endpoint: &str, now: Instant) -> Admission {
        let mut endpoints = self.endpoints.lock().expect("breaker lock");
        let Some(run) = endpoints.get_mut(endpoint) else {
            return Admission::Send;
        };
        let pause = self.pause(run.open.as_ref().map_or(0, |o| o.failed_probes));
        let Some(open) = &mut run.open else {
            return Admission::Send;
        };
        if open.failed_probes >= self.max_probes {
            let (internal, status) = run.last.clone().unzip();
            return Admission::GiveUp {
                internal,
                status: status.flatten(),
            };
        }
        if now < open.next_probe {
            return Admission::WaitUntil(open.next_probe);
        }
        // Whoever comes first probes; the others wait one more pause (and
        // probe then, should this probe never report back).
        open.next_probe = now + pause;
        Admission::Probe
    }

    /// Records a failed request (`probe`: it was admitted as the probe);
    /// returns true when this failure opened the breaker. Requests already
    /// in flight when the breaker opened fail without spending its probes.
    pub fn failure(
        &self,
        endpoint: &str,
        now: Instant,
        probe: bool,
        internal: String,
        status: Option<u16>,
    ) -> bool {
        let mut endpoints = self.endpoints.lock().expect("breaker lock");
        let run = endpoints.entry(endpoint.to_owned()).or_default();
        run.failures += 1;
        run.last = Some((internal, status));
        match &mut run.open {
            None if run.failures >= self.threshold => {
                run.open = Some(Open {
                    failed_probes: 0,
                    next_probe: now + self.pause(0),
                });
                true
            }
            None => false,
            Some(open) if probe => {
                open.failed_probes += 1;
                open.next_probe = now + self.pause(open.failed_probes);
                false
            }
            Some(_) => false,
        }
    }

    /// Records a success: the run ends and an open breaker closes, unless
    /// the endpoint was already given up.
    pub fn success(&self, endpoint: &str) {
        let mut endpoints = self.endpoints.lock().expect("breaker lock");
        let given_up = endpoints
            .get(endpoint)
            .and_then(|run| run.open.as_ref())
            .is_some_and(|open| open.failed_probes >= self.max_probes);
        if !given_up {
            endpoints.remove(endpoint);
        }
    }

    /// Consecutive failures that open the breaker.
    pub fn threshold(&self) -> u32 {
        self.threshold
    }

    fn pause(&self, failed_probes: u32) -> Duration {
        self.first_pause
            .saturating_mul(2u32.saturating_pow(failed_probes))
            .min(self.max_pause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORDERS: &str = "/v1/orders";

    fn breaker(threshold: u32, max_probes: u32) -> CircuitBreaker {
        CircuitBreaker::new(
            threshold,
            max_probes,
            Duration::from_secs(1),
            Duration::from_secs(8),
        )
    }

    fn fail(breaker: &CircuitBreaker, now: Instant) -> bool {
        breaker.failure(ORDERS, now, false, "GET /v1/orders: 503".into(), Some(503))
    }

    fn fail_probe(breaker: &CircuitBreaker, now: Instant) {
        breaker.failure(ORDERS, now, true, "GET /v1/orders: 503".into(), Some(503));
    }

    #[test]
    fn opens_after_a_run_of_consecutive_failures() {
        let (breaker, now) = (breaker(3, 2), Instant::now());
        assert!(!fail(&breaker, now));
        assert!(!fail(&breaker, now));
        assert_eq!(breaker.admit(ORDERS, now), Admission::Send);
        assert!(fail(&breaker, now));
        assert_eq!(
            breaker.admit(ORDERS, now),
            Admission::WaitUntil(now + Duration::from_secs(1))
        );
    }

    #[test]
    fn a_success_ends_the_run() {
        let (breaker, now) = (breaker(3, 2), Instant::now());
        fail(&breaker, now);
        fail(&breaker, now);
        breaker.success(ORDERS);
        fail(&breaker, now);
        fail(&breaker, now);
        assert_eq!(breaker.admit(ORDERS, now), Admission::Send);
    }

    #[test]
    fn an_open_breaker_lets_one_probe_through_at_a_time() {
        let (breaker, now) = (breaker(1, 3), Instant::now());
        fail(&breaker, now);
        let later = now + Duration::from_secs(1);
        assert_eq!(breaker.admit(ORDERS, later), Admission::Probe);
        assert!(matches!(
            breaker.admit(ORDERS, later),
            Admission::WaitUntil(_)
        ));
    }

    #[test]
    fn a_successful_probe_closes_the_breaker() {
        let (breaker, now) = (breaker(1, 3), Instant::now());
        fail(&breaker, now);
        let later = now + Duration::from_secs(1);
        assert_eq!(breaker.admit(ORDERS, later), Admission::Probe);
        breaker.success(ORDERS);
        assert_eq!(breaker.admit(ORDERS, later), Admission::Send);
        assert_eq!(breaker.admit(ORDERS, later), Admission::Send);
    }

    #[test]
    fn failed_probes_back_off_exponentially_up_to_the_cap() {
        let (breaker, now) = (breaker(1, 10), Instant::now());
        fail(&breaker, now);
        for expected in [2, 4, 8, 8] {
            fail_probe(&breaker, now);
            assert_eq!(
                breaker.admit(ORDERS, now),
                Admission::WaitUntil(now + Duration::from_secs(expected))
            );
        }
    }

    #[test]
    fn the_endpoint_is_given_up_after_the_allowed_failed_probes_with_the_last_failure() {
        let (breaker, now) = (breaker(1, 2), Instant::now());
        fail(&breaker, now);
        fail_probe(&breaker, now);
        breaker.failure(ORDERS, now, true, "GET /v1/orders: 502".into(), Some(502));
        let given_up = Admission::GiveUp {
            internal: Some("GET /v1/orders: 502".into()),
            status: Some(502),
        };
        assert_eq!(breaker.admit(ORDERS, now), given_up);
        // A late answer of a request sent before does not revive it.
        breaker.success(ORDERS);
        assert_eq!(breaker.admit(ORDERS, now), given_up);
    }

    #[test]
    fn failures_of_requests_sent_before_it_opened_spend_no_probes() {
        let (breaker, now) = (breaker(1, 1), Instant::now());
        fail(&breaker, now);
        fail(&breaker, now);
        fail(&breaker, now);
        assert!(matches!(
            breaker.admit(ORDERS, now),
            Admission::WaitUntil(_)
        ));
    }

    #[test]
    fn endpoints_are_independent() {
        let (breaker, now) = (breaker(1, 0), Instant::now());
        fail(&breaker, now);
        assert!(matches!(
            breaker.admit(ORDERS, now),
            Admission::GiveUp { .. }
        ));
        assert_eq!(breaker.admit("/v1/customers", now), Admission::Send);
    }
}

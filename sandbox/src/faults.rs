//! Deciding which requests get an injected failure.

use std::sync::Mutex;
use std::time::Duration;

use crate::config::Faults;

/// A failure answered instead of the real response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StatusFault {
    TooManyRequests,
    Internal,
    Unavailable,
    BadGatewayHtml,
}

/// How a successful body is cut off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Truncation {
    /// `Content-Length` promises the whole body; half of it is sent.
    ContentLength,
    /// Chunked transfer; the terminating chunk never comes.
    Chunked,
}

/// What to do to one data request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    pub status: Option<StatusFault>,
    pub truncate: Option<Truncation>,
    pub delay: Option<Duration>,
}

#[derive(Debug, Default)]
struct State {
    faults: Faults,
    data_requests: u64,
    token_requests: u64,
    truncations: u64,
}

/// The current faults and their counters.
#[derive(Debug, Default)]
pub(crate) struct FaultInjector {
    state: Mutex<State>,
}

/// Whether the `count`-th event is due under "every n-th".
fn due(every: Option<u32>, count: u64) -> bool {
    every.is_some_and(|n| n > 0 && count.is_multiple_of(u64::from(n)))
}

impl FaultInjector {
    /// An injector starting with `faults`.
    pub(crate) fn new(faults: Faults) -> FaultInjector {
        let injector = FaultInjector::default();
        injector.set(faults);
        injector
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces the faults and restarts the counters.
    pub(crate) fn set(&self, faults: Faults) {
        *self.state() = State {
            faults,
            ..State::default()
        };
    }

    /// The current faults.
    pub(crate) fn current(&self) -> Faults {
        self.state().faults.clone()
    }

    /// Whether the stream's list endpoint is forbidden.
    pub(crate) fn forbids(&self, stream: &str) -> bool {
        self.state().faults.forbidden_streams.contains(stream)
    }

    /// Counts a request made with an access token; true if it is to be revoked now.
    pub(crate) fn revoke_due(&self) -> bool {
        let mut state = self.state();
        if state.faults.revoke_token_every.is_none() {
            return false;
        }
        state.token_requests += 1;
        due(state.faults.revoke_token_every, state.token_requests)
    }

    /// Counts a data request and decides its fate.
    pub(crate) fn plan_data_request(&self) -> Plan {
        let mut state = self.state();
        state.data_requests += 1;
        if state.data_requests <= state.faults.after_requests {
            return Plan::default();
        }
        let n = state.data_requests - state.faults.after_requests;
        let f = &state.faults;
        let status = [
            (f.status_429_every, StatusFault::TooManyRequests),
            (f.status_500_every, StatusFault::Internal),
            (f.status_503_every, StatusFault::Unavailable),
            (f.status_502_html_every, StatusFault::BadGatewayHtml),
        ]
        .into_iter()
        .find_map(|(every, fault)| due(every, n).then_some(fault));
        let delay = due(f.slow_every, n).then_some(f.slow_delay);
        let cut = status.is_none() && due(f.truncated_every, n);
        let truncate = cut.then(|| {
            state.truncations += 1;
            if state.truncations % 2 == 1 {
                Truncation::ContentLength
            } else {
                Truncation::Chunked
            }
        });
        Plan {
            status,
            truncate,
            delay,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_nth_data_request_gets_the_fault() {
        let injector = FaultInjector::new(Faults {
            status_500_every: Some(3),
            ..Faults::default()
        });
        let statuses: Vec<Option<StatusFault>> = (0..6)
            .map(|_| injector.plan_data_request().status)
            .collect();
        assert_eq!(
            statuses,
            [
                None,
                None,
                Some(StatusFault::Internal),
                None,
                None,
                Some(StatusFault::Internal)
            ]
        );
    }

    #[test]
    fn the_first_matching_status_fault_wins_and_blocks_truncation() {
        let injector = FaultInjector::new(Faults {
            status_429_every: Some(2),
            status_503_every: Some(2),
            truncated_every: Some(2),
            ..Faults::default()
        });
        injector.plan_data_request();
        let plan = injector.plan_data_request();
        assert_eq!(plan.status, Some(StatusFault::TooManyRequests));
        assert_eq!(plan.truncate, None);
    }

    #[test]
    fn truncations_alternate_between_content_length_and_chunked() {
        let injector = FaultInjector::new(Faults {
            truncated_every: Some(1),
            ..Faults::default()
        });
        let modes: Vec<_> = (0..4)
            .map(|_| injector.plan_data_request().truncate)
            .collect();
        use Truncation::*;
        assert_eq!(
            modes,
            [
                Some(ContentLength),
                Some(Chunked),
                Some(ContentLength),
                Some(Chunked)
            ]
        );
    }

    #[test]
    fn faults_start_after_the_requests_served_normally() {
        let injector = FaultInjector::new(Faults {
            status_503_every: Some(1),
            after_requests: 2,
            ..Faults::default()
        });
        let statuses: Vec<Option<StatusFault>> = (0..4)
            .map(|_| injector.plan_data_request().status)
            .collect();
        use StatusFault::Unavailable;
        assert_eq!(statuses, [None, None, Some(Unavailable), Some(Unavailable)]);
    }

    #[test]
    fn setting_faults_restarts_the_count() {
        let faults = Faults {
            slow_every: Some(2),
            ..Faults::default()
        };
        let injector = FaultInjector::new(faults.clone());
        injector.plan_data_request();
        injector.set(faults);
        assert_eq!(injector.plan_data_request().delay, None);
        assert_eq!(
            injector.plan_data_request().delay,
            Some(Duration::from_secs(1))
        );
    }

    #[test]
    fn zero_means_off_and_revocation_counts_token_requests_only() {
        let injector = FaultInjector::new(Faults {
            status_500_every: Some(0),
            revoke_token_every: Some(2),
            ..Faults::default()
        });
        assert_eq!(injector.plan_data_request(), Plan::default());
        assert!(!injector.revoke_due());
        assert!(injector.revoke_due());
        assert!(!FaultInjector::default().revoke_due());
    }
}

//! The credentials, proven by the first answer that accepts them.
//!
//! A sync has no request of its own to check the credentials: that would
//! spend a token of the API's bucket on no data. The first data request
//! checks them instead. Until an answer proves them, authenticated requests
//! go out one at a time, so that credentials the API rejects cost one
//! request, and every other request ends with the same error unsent.

use std::sync::Mutex;

use tokio::sync::{Semaphore, SemaphorePermit};

use crate::error::{Error, FailureType, Result};

/// What the answers so far say of the credentials.
#[derive(Debug, Clone)]
enum Proof {
    Unproven,
    Accepted,
    Rejected(Error),
}

/// What one request's outcome says of the credentials.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The API authenticated the request (any answer but a 401).
    Accepted,
    /// The API rejected the credentials: a 401 the retries could not mend.
    Rejected,
    /// No answer tells (the API could not be reached).
    Unknown,
}

/// Reads the credentials' verdict out of a request's outcome.
pub fn verdict<T>(outcome: &Result<T>) -> Verdict {
    match outcome {
        Ok(_) => Verdict::Accepted,
        Err(error) if rejects_credentials(error) => Verdict::Rejected,
        // No answer, or a 401 that is not the credentials' fault (a token
        // the API kept expiring), proves nothing either way.
        Err(error) if matches!(error.status(), None | Some(401)) => Verdict::Unknown,
        Err(_) => Verdict::Accepted,
    }
}

/// Whether `error` is the API rejecting the credentials: a 401 the retries
/// and token renewals could not mend, which the user must fix.
pub fn rejects_credentials(error: &Error) -> bool {
    error.status() == Some(401) && error.failure_type() == FailureType::Config
}

/// One gate per client; see the module documentation.
pub struct CredentialGate {
    proof: Mutex<Proof>,
    /// One turn: the request that may prove the credentials.
    turn: Semaphore,
}

/// The turn of the request that goes out to prove the credentials.
pub struct Turn<'a> {
    gate: &'a CredentialGate,
    _permit: SemaphorePermit<'a>,
}

impl CredentialGate {
    pub fn new() -> Self {
        CredentialGate {
            proof: Mutex::new(Proof::Unproven),
            turn: Semaphore::new(1),
        }
    }

    /// Waits until a request may go: `None` once the credentials are
    /// proven, a turn while they are not (this request goes to prove
    /// them), the API's rejection once they were rejected.
    pub async fn enter(&self) -> Result<Option<Turn<'_>>> {
        if self.accepted()? {
            return Ok(None);
        }
        // The semaphore is never closed; if it were, the request would go
        // unguarded.
        let Ok(permit) = self.turn.acquire().await else {
            return Ok(None);
        };
        // The request before this one may have settled it.
        if self.accepted()? {
            return Ok(None);
        }
        Ok(Some(Turn {
            gate: self,
            _permit: permit,
        }))
    }

    /// Whether the credentials are proven; the rejection once rejected.
    fn accepted(&self) -> Result<bool> {
        match &*self.proof.lock().unwrap_or_else(|e| e.into_inner()) {
            Proof::Unproven => Ok(false),
            Proof::Accepted => Ok(true),
            Proof::Rejected(error) => Err(error.clone()),
        }
    }
}

impl Default for CredentialGate {
    fn default() -> Self {
        Self::new()
    }
}

impl Turn<'_> {
    /// Records what the request's outcome proved; the next request waiting
    /// goes after it either way.
    pub fn settle<T>(self, outcome: &Result<T>) {
        let mut proof = self.gate.proof.lock().unwrap_or_else(|e| e.into_inner());
        match (verdict(outcome), outcome) {
            (Verdict::Accepted, _) => *proof = Proof::Accepted,
            (Verdict::Rejected, Err(error)) => *proof = Proof::Rejected(error.clone()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    fn rejected() -> Error {
        Error::config(
            "401 invalid_credentials: the API key was rejected; check credentials.api_key.",
        )
        .with_status(Some(401))
    }

    #[test]
    fn any_answer_but_a_401_accepts_the_credentials() {
        assert_eq!(verdict(&Ok(())), Verdict::Accepted);
        let forbidden = Error::config("403").with_status(Some(403));
        assert_eq!(verdict::<()>(&Err(forbidden)), Verdict::Accepted);
        let outage = Error::transient("503").with_status(Some(503));
        assert_eq!(verdict::<()>(&Err(outage)), Verdict::Accepted);
    }

    #[test]
    fn a_401_config_error_rejects_the_credentials() {
        assert_eq!(verdict::<()>(&Err(rejected())), Verdict::Rejected);
    }

    #[test]
    fn no_answer_or_a_401_that_is_not_the_credentials_tells_nothing() {
        let unreachable = Error::transient("could not connect");
        assert_eq!(verdict::<()>(&Err(unreachable)), Verdict::Unknown);
        let expiring = Error::transient("token kept expiring").with_status(Some(401));
        assert_eq!(verdict::<()>(&Err(expiring)), Verdict::Unknown);
    }

    #[tokio::test]
    async fn the_first_request_goes_alone_until_its_answer_proves_the_credentials() {
        let gate = Arc::new(CredentialGate::new());
        let turn = gate
            .enter()
            .await
            .unwrap()
            .expect("the first request proves");
        let waiting = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.enter().await.map(|turn| turn.is_none()) })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "a second request waits");
        turn.settle(&Ok(()));
        assert!(waiting.await.unwrap().unwrap(), "then goes unguarded");
        assert!(gate.enter().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn rejected_credentials_end_every_later_request_with_the_same_error() {
        let gate = CredentialGate::new();
        let turn = gate.enter().await.unwrap().unwrap();
        turn.settle::<()>(&Err(rejected()));
        let Err(error) = gate.enter().await else {
            panic!("a request went out after the credentials were rejected");
        };
        assert_eq!(error.message(), rejected().message());
        assert_eq!(error.status(), Some(401));
    }

    #[tokio::test]
    async fn a_request_that_proves_nothing_hands_the_turn_to_the_next() {
        let gate = CredentialGate::new();
        let turn = gate.enter().await.unwrap().unwrap();
        turn.settle::<()>(&Err(Error::transient("could not connect")));
        assert!(gate.enter().await.unwrap().is_some(), "the next one proves");
    }
}

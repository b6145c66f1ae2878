//! The connector's error: what the platform needs to know about a failure.

use serde::Serialize;

/// The three failure types the platform distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FailureType {
    /// The user must change something: config, credentials, catalog, state.
    #[serde(rename = "config_error")]
    Config,
    /// Retrying later may succeed: outages, rate limits, timeouts.
    #[serde(rename = "transient_error")]
    Transient,
    /// A defect or an unexpected answer: needs a person to look.
    #[serde(rename = "system_error")]
    System,
}

/// A failure, classified for the platform.
///
/// `message` is one line for a person: what failed, why, and what to do.
/// `internal` carries the details (HTTP status, API error code, request id,
/// a body excerpt). Neither ever contains a secret: errors are built from
/// redacted parts only.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    failure_type: FailureType,
    message: String,
    internal: Option<String>,
    status: Option<u16>,
}

impl Error {
    pub fn new(failure_type: FailureType, message: impl Into<String>) -> Self {
        Error {
            failure_type,
            message: message.into(),
            internal: None,
            status: None,
        }
    }

    /// Something the user must fix in the config, catalog or state.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(FailureType::Config, message)
    }

    /// Something that may work if tried again later.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(FailureType::Transient, message)
    }

    /// Something unexpected that needs a person to look.
    pub fn system(message: impl Into<String>) -> Self {
        Self::new(FailureType::System, message)
    }

    /// Adds the technical details that go to `internal_message`.
    pub fn with_internal(mut self, internal: impl Into<String>) -> Self {
        self.internal = Some(internal.into());
        self
    }

    /// Records the HTTP status of the API answer behind this error.
    pub fn with_status(mut self, status: Option<u16>) -> Self {
        self.status = status;
        self
    }

    /// The HTTP status of the API answer behind this error, if any.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// Puts `context` in front of the message ("stream orders: ...").
    pub fn context(mut self, context: impl std::fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }

    pub fn failure_type(&self) -> FailureType {
        self.failure_type
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn internal(&self) -> Option<&str> {
        self.internal.as_deref()
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

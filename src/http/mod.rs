//! The API client: authentication, the shared rate limiter, retries with
//! backoff, a circuit breaker, and errors a person can act on.
//!
//! Streams call [`ApiClient::get`] with the request and a function that turns
//! the response body into what they need. That function runs inside the retry
//! loop, so a body that arrives cut off or as HTML is retried like any other
//! transient failure, and the page is parsed exactly once.
//!
//! What to do after each attempt is decided by a pure function (`decision`);
//! the client carries it out and reports what happened through
//! [`ClientEvents`], so this layer writes no output of its own.

mod auth;
mod body;
mod breaker;
mod client;
mod credentials;
mod decision;
mod error;
mod events;
mod failures;
mod limiter;
mod request;
mod retry;
mod transport;

pub use client::ApiClient;
pub use credentials::rejects_credentials;
pub use error::BodyError;
pub use events::{Answer, ClientEvent, ClientEvents, Reported};
pub use request::{ApiRequest, ApiResponse};
pub use retry::RetryPolicy;

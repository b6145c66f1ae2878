//! The API client: authentication, the shared rate limiter, retries with
//! backoff, a circuit breaker, and errors a person can act on.
//!
//! Streams call [`ApiClient::get`] with the request and a function that turns
//! the response body into what they need. That function runs inside the retry
//! loop, so a body that arrives cut off or as HTML is retried like any other
//! transient failure, and the page is parsed exactly once.

mod auth;
mod breaker;
mod client;
mod error;
mod limiter;
mod retry;

pub use client::{ApiClient, ApiRequest};
pub use error::BodyError;
pub use retry::RetryPolicy;

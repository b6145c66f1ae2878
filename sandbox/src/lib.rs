//! # ecommerce-sandbox
//!
//! A faithful, seeded, deterministic in-memory implementation of the
//! E-commerce API v1 (`shared/ecommerce-api.md`), for testing, demonstrating
//! and benchmarking clients such as the `source-ecommerce` connector.
//!
//! It implements every endpoint, the three authentication methods and every
//! quirk of the contract (mixed UTC offsets, page shifts on orders, stable
//! keyset pages, late events, token revocation, cut-off bodies, HTML 502s),
//! and exposes an [`Oracle`], the truth now, to compare a client's output with.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use ecommerce_sandbox::{Sandbox, SandboxConfig};
//! let sandbox = Sandbox::start(SandboxConfig::default()).await?;
//! println!("API at {} with key {}", sandbox.url(), sandbox.credentials().api_key);
//! let truth = sandbox.oracle();
//! assert_eq!(truth.orders.len(), 2_000);
//! sandbox.shutdown().await;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod api;
mod app;
mod auth;
mod config;
mod crypto;
mod faults;
mod generate;
mod model;
mod offsets;
mod oracle;
mod pagetoken;
mod ratelimit;
mod requestlog;
mod rng;
mod server;
mod store;
mod stream;
mod timefmt;
mod writer;

pub use config::{ConfigError, Credentials, Faults, RateLimit, SandboxConfig, Sizes, WriteLoad};
pub use oracle::Oracle;
pub use requestlog::LoggedRequest;
pub use server::Sandbox;

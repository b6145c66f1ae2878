//! source-ecommerce: replicates a shop's E-commerce API (customers,
//! products, orders, order events) into any warehouse.
//!
//! The library holds one read path; each binary under `src/bin/` is a thin
//! command line that picks an output format for it.
//!
//! | module | room |
//! | --- | --- |
//! | [`cli`], [`commands`] | the Airbyte command line and its subcommands |
//! | [`protocol`] | Airbyte messages and the one writer of stdout |
//! | [`config`] | the config, validated once against `specs/spec.json` |
//! | [`http`] | the API client: auth, rate limiter, retry decision, breaker |
//! | [`state`] | input state in every shape, per-stream cursors |
//! | [`read`] | the walks over the API's pagination styles |
//! | [`streams`] | one declaration per stream |
//! | [`discover`] | the catalog, custom fields included |
//! | [`timestamps`] | date-time values rewritten to UTC on the record fast path |
//! | [`privacy`] | fields blocked or hashed before they leave the connector |
//! | [`singer`] | the Singer tap: its command line, catalog, state and format |

pub mod cli;
pub mod commands;
pub mod config;
pub mod discover;
pub mod error;
pub mod http;
pub mod json_page;
pub mod json_scan;
pub mod privacy;
pub mod protocol;
pub mod read;
pub mod secrets;
pub mod singer;
pub mod state;
pub mod streams;
pub mod timestamps;

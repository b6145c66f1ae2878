//! The Singer tap: the same read path as the Airbyte source, written as
//! Singer messages (`SCHEMA`, `RECORD`, `STATE`) for Meltano and other
//! Singer runners.
//!
//! | module | room |
//! | --- | --- |
//! | [`cli`] | the tap's command line (`--config`, `--discover`, `--catalog`, `--state`, `--about`) |
//! | [`catalog`] | the Singer catalog from discovery, and which streams a catalog selects |
//! | [`state`] | the `{"bookmarks": …}` state Meltano hands back |
//! | [`format`] | the output [`Format`](crate::protocol::Format): Singer lines on stdout, logs on stderr |
//! | [`about`] | `--about`: the tap, its settings and capabilities |
//! | [`commands`] | discover and read over the library's commands |

pub mod about;
pub mod catalog;
pub mod cli;
pub mod commands;
pub mod format;
pub mod state;

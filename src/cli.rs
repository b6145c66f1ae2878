//! The command line: the four Airbyte subcommands.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::protocol::LogLevel;

/// Airbyte source for the E-commerce API: replicates customers, products,
/// orders and order events. Writes Airbyte protocol messages, one JSON object
/// per line, on stdout.
#[derive(Debug, Parser)]
#[command(name = "source-ecommerce", version)]
pub struct Cli {
    /// The most verbose level of LOG messages to write.
    #[arg(
        long,
        global = true,
        env = "LOG_LEVEL",
        value_enum,
        ignore_case = true,
        default_value = "info"
    )]
    pub log_level: LogLevel,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the connector specification: the config form and its fields.
    /// Needs no config and no network.
    Spec,
    /// Validate the config against the specification, sign in, and call
    /// GET /v1/account. Prints one CONNECTION_STATUS.
    Check {
        /// The config file (JSON), as `spec` describes it.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// List the streams with their schemas (custom fields included), keys,
    /// cursors and sync modes. Prints one CATALOG.
    Discover {
        /// The config file (JSON).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Read the streams of a configured catalog, each in full refresh or
    /// incremental mode, from the state of earlier syncs. Prints RECORD,
    /// STATE, LOG and TRACE messages.
    Read {
        /// The config file (JSON).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The configured catalog (JSON): which streams to read and how.
        #[arg(long, value_name = "FILE")]
        catalog: PathBuf,
        /// The state of earlier syncs (JSON), in any shape the platform
        /// sends; without it every stream starts from start_date.
        #[arg(long, value_name = "FILE")]
        state: Option<PathBuf>,
    },
}

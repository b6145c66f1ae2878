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
    /// The most verbose level of LOG messages to write [default: the
    /// LOG_LEVEL environment variable, else info].
    #[arg(long, global = true, value_enum, ignore_case = true)]
    log_level: Option<LogLevel>,

    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The log level: `--log-level`, else `LOG_LEVEL`, else info. The
    /// environment variable is read leniently: containers often carry a
    /// LOG_LEVEL meant for another program (`WARNING`, empty), and that must
    /// not stop the connector.
    pub fn log_level(&self) -> LogLevel {
        if let Some(level) = self.log_level {
            return level;
        }
        let Ok(value) = std::env::var("LOG_LEVEL") else {
            return LogLevel::Info;
        };
        LogLevel::from_name(&value).unwrap_or_else(|| {
            crate::secrets::eprint_line(&format!(
                "source-ecommerce: LOG_LEVEL={value:?} is not a log level (fatal, error, warn, info, debug, trace); using info"
            ));
            LogLevel::Info
        })
    }
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

//! The tap's command line, as the Singer specification and Meltano call it.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use crate::protocol::LogLevel;

/// Singer tap for the E-commerce API: replicates customers, products, orders
/// and order events. Writes Singer messages (SCHEMA, RECORD, STATE), one JSON
/// object per line, on stdout; logs go to stderr.
#[derive(Debug, Parser)]
#[command(name = "tap-ecommerce", version)]
pub struct TapCli {
    /// The config file (JSON): the same fields as the Airbyte source's.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the catalog (streams, schemas, keys, metadata) and exit.
    #[arg(long)]
    pub discover: bool,
    /// The catalog (JSON) whose selected streams to read.
    #[arg(long, value_name = "FILE", conflicts_with = "properties")]
    pub catalog: Option<PathBuf>,
    /// The catalog, under its older name.
    #[arg(long, value_name = "FILE")]
    pub properties: Option<PathBuf>,
    /// The state of earlier runs: `{"bookmarks": {...}}`.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Describe the tap: its settings and capabilities.
    #[arg(long)]
    pub about: bool,
    /// The format of --about.
    #[arg(long, value_enum, default_value_t = AboutFormat::Markdown)]
    pub format: AboutFormat,
    /// The most verbose level of logs on stderr [default: LOG_LEVEL, else info].
    #[arg(long, value_enum, ignore_case = true)]
    pub log_level: Option<LogLevel>,
}

/// How `--about` is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AboutFormat {
    Json,
    Markdown,
}

/// What the tap was asked to do.
#[derive(Debug, PartialEq)]
pub enum TapCommand {
    About(AboutFormat),
    Discover {
        config: PathBuf,
    },
    Read {
        config: PathBuf,
        catalog: PathBuf,
        state: Option<PathBuf>,
    },
}

impl TapCli {
    /// The command the flags ask for, or what is missing for it.
    pub fn command(self) -> Result<TapCommand, String> {
        if self.about {
            return Ok(TapCommand::About(self.format));
        }
        let config = self.config.ok_or("--config is required (unless --about)")?;
        if self.discover {
            return Ok(TapCommand::Discover { config });
        }
        let catalog = self.catalog.or(self.properties).ok_or(
            "--catalog is required to read: it selects the streams (run --discover to make one)",
        )?;
        Ok(TapCommand::Read {
            config,
            catalog,
            state: self.state,
        })
    }

    /// `--log-level`, else `LOG_LEVEL` if it names a level, else info.
    pub fn log_level(&self) -> LogLevel {
        self.log_level
            .or_else(|| {
                std::env::var("LOG_LEVEL")
                    .ok()
                    .and_then(|v| LogLevel::from_name(&v))
            })
            .unwrap_or(LogLevel::Info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(args: &[&str]) -> Result<TapCommand, String> {
        let mut argv = vec!["tap-ecommerce"];
        argv.extend_from_slice(args);
        TapCli::try_parse_from(argv).unwrap().command()
    }

    #[test]
    fn meltanos_read_call_reads_with_catalog_and_state() {
        assert_eq!(
            command(&[
                "--config",
                "c.json",
                "--catalog",
                "k.json",
                "--state",
                "s.json"
            ]),
            Ok(TapCommand::Read {
                config: "c.json".into(),
                catalog: "k.json".into(),
                state: Some("s.json".into())
            })
        );
    }

    #[test]
    fn properties_is_the_catalogs_older_name() {
        assert_eq!(
            command(&["--config", "c.json", "--properties", "p.json"]),
            Ok(TapCommand::Read {
                config: "c.json".into(),
                catalog: "p.json".into(),
                state: None
            })
        );
    }

    #[test]
    fn discover_and_about_need_no_catalog_and_about_no_config() {
        assert_eq!(
            command(&["--config", "c.json", "--discover"]),
            Ok(TapCommand::Discover {
                config: "c.json".into()
            })
        );
        assert_eq!(
            command(&["--about", "--format", "json"]),
            Ok(TapCommand::About(AboutFormat::Json))
        );
    }

    #[test]
    fn reading_without_config_or_catalog_says_which_flag_is_missing() {
        assert!(command(&[]).unwrap_err().contains("--config"));
        assert!(
            command(&["--config", "c.json"])
                .unwrap_err()
                .contains("--catalog")
        );
    }
}

//! `discover`: the catalog, custom fields included.

use std::path::Path;
use std::process::ExitCode;

use super::{fail, with_runtime};
use crate::config::Config;
use crate::discover;
use crate::http::ApiClient;
use crate::protocol::{AirbyteClientEvents, Emitter, LogLevel, Message};

/// Runs `discover` on the config file at `config_path`.
pub fn run(config_path: &Path, level: LogLevel) -> ExitCode {
    with_runtime(super::airbyte(Vec::new()), level, |emitter| async move {
        discover(config_path, &emitter).await
    })
}

/// `discover`: the catalog, or a TRACE error.
pub async fn discover(config_path: &Path, emitter: &Emitter) -> ExitCode {
    let result = async {
        let config = Config::load(config_path)?;
        let client = ApiClient::new(&config, AirbyteClientEvents::new(emitter.clone()))?;
        discover::discover(&client, &config.privacy, emitter).await
    }
    .await;
    match result {
        Ok(catalog) => {
            emitter
                .message(&Message::Catalog { catalog: &catalog })
                .await;
            ExitCode::SUCCESS
        }
        Err(error) => fail(emitter, &error).await,
    }
}

//! `check`: the config validated, the credentials tried on `GET /v1/account`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use super::{fail, with_runtime};
use crate::config::{self, Config};
use crate::error::Error;
use crate::http::ApiClient;
use crate::protocol::{AirbyteClientEvents, ConnectionStatus, Emitter, LogLevel, Message};

/// Runs `check` on the config file at `config_path`.
pub fn run(config_path: &Path, level: LogLevel) -> ExitCode {
    with_runtime(super::airbyte(Vec::new()), level, |emitter| async move {
        check(config_path, &emitter).await
    })
}

/// `check`: a broken config file is a TRACE error; a config that does not
/// validate, or credentials the API rejects, a FAILED connection status.
async fn check(config_path: &Path, emitter: &Emitter) -> ExitCode {
    let value = match config::read_json_file(config_path, "config") {
        Ok(value) => value,
        Err(error) => return fail(emitter, &error).await,
    };
    let status = match Config::from_value(&value) {
        Err(error) => ConnectionStatus::failed(error.message()),
        Ok(config) => match check_connection(&config, emitter).await {
            Ok(()) => ConnectionStatus::succeeded(),
            Err(error) => {
                if let Some(internal) = error.internal() {
                    emitter
                        .log(LogLevel::Warn, format!("check failed: {internal}"))
                        .await;
                }
                ConnectionStatus::failed(error.message())
            }
        },
    };
    emitter
        .message(&Message::ConnectionStatus {
            connection_status: status,
        })
        .await;
    ExitCode::SUCCESS
}

async fn check_connection(config: &Config, emitter: &Emitter) -> Result<(), Error> {
    // A person is waiting: retry a little, not for minutes.
    let policy = crate::http::RetryPolicy::new(2, Duration::from_secs(20));
    let client = ApiClient::with_policy(config, AirbyteClientEvents::new(emitter.clone()), policy)?;
    client
        .get(
            &crate::http::ApiRequest::new("/v1/account"),
            None,
            |response| {
                #[derive(serde::Deserialize)]
                struct Account {
                    #[allow(dead_code)]
                    id: String,
                }
                serde_json::from_slice::<Account>(&response.body)?;
                Ok(())
            },
        )
        .await
        .map_err(|error| {
            if error.status().is_some_and(|s| (200..300).contains(&s)) {
                Error::config(format!(
                    "base_url ({}) answered GET /v1/account with something other than the API's account JSON (a website?); set base_url to the API's root URL.",
                    config.base_url
                ))
                .with_internal(error.internal().unwrap_or_default().to_owned())
            } else {
                error
            }
        })
}

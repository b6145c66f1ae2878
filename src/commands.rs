//! The four subcommands. Each returns the process's exit code.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use crate::config::{self, Config};
use crate::discover;
use crate::error::Error;
use crate::http::ApiClient;
use crate::protocol::{
    AirbyteClientEvents, ConfiguredCatalog, ConnectionStatus, Emitter, LogLevel, Message,
};
use crate::read::{self, StreamOutcome};
use crate::state::InputState;

/// `spec`: prints the embedded specification. No runtime, no network.
pub fn spec() -> ExitCode {
    let spec: serde_json::Value =
        serde_json::from_str(config::SPEC_JSON).expect("specs/spec.json is valid JSON");
    let line = serde_json::to_string(&Message::Spec { spec: &spec }).expect("the spec serializes");
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "{line}")
        .and_then(|_| stdout.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// `check`: a broken config file is a TRACE error; a config that does not
/// validate, or credentials the API rejects, a FAILED connection status.
pub async fn check(config_path: &Path, emitter: &Emitter) -> ExitCode {
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

/// `discover`: the catalog, or a TRACE error.
pub async fn discover(config_path: &Path, emitter: &Emitter) -> ExitCode {
    let result = async {
        let config = Config::load(config_path)?;
        let client = ApiClient::new(&config, AirbyteClientEvents::new(emitter.clone()))?;
        discover::discover(&client, emitter).await
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

/// The inputs of `read`, checked before anything is sent.
pub struct ReadInputs {
    pub config: Config,
    pub planned: Vec<read::PlannedStream>,
}

/// Loads and checks config, catalog and state.
pub fn read_inputs(
    config_path: &Path,
    catalog_path: &Path,
    state_path: Option<&Path>,
) -> Result<ReadInputs, Error> {
    let config = Config::load(config_path)?;
    let catalog = config::read_json_file(catalog_path, "catalog")?;
    let catalog: ConfiguredCatalog = serde_json::from_value(catalog).map_err(|e| {
        Error::config(format!(
            "Invalid catalog {}: {e}. It must be a configured catalog with a \"streams\" array.",
            catalog_path.display()
        ))
    })?;
    let state = InputState::load(state_path)?;
    let planned = read::plan(&catalog, &state)?;
    Ok(ReadInputs { config, planned })
}

/// `read`: every stream; exit non-zero if one failed (a stream skipped for
/// lack of permission does not count unless all were).
pub async fn read(inputs: ReadInputs, emitter: &Emitter) -> ExitCode {
    let outcomes = match read::run(inputs.config, inputs.planned, emitter.clone()).await {
        Ok(outcomes) => outcomes,
        Err(error) => return fail(emitter, &error).await,
    };
    let failed = outcomes.contains(&StreamOutcome::Failed);
    let all_forbidden =
        !outcomes.is_empty() && outcomes.iter().all(|o| *o == StreamOutcome::Forbidden);
    if all_forbidden {
        let error = Error::config(
            "The credentials may not read any of the selected streams (403 on each); grant the scopes or change the credentials.",
        );
        emitter.error(&error, None).await;
    }
    if failed || all_forbidden {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Writes `error` as a TRACE and returns a failing exit code.
pub async fn fail(emitter: &Emitter, error: &Error) -> ExitCode {
    emitter.error(error, None).await;
    ExitCode::FAILURE
}

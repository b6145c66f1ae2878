//! `read`: the streams of a configured catalog, from their state.

use std::path::Path;
use std::process::ExitCode;

use super::{fail, with_runtime};
use crate::config::{self, Config};
use crate::error::Error;
use crate::protocol::{ConfiguredCatalog, Emitter, LogLevel};
use crate::read::{self, StreamOutcome};
use crate::state::InputState;

/// Runs `read`. Config, catalog and state are checked before the runtime
/// starts, so a bad one is a `config_error` before any request; the writer
/// then knows the names of the streams its states refer to.
pub fn run(
    config_path: &Path,
    catalog_path: &Path,
    state_path: Option<&Path>,
    level: LogLevel,
) -> ExitCode {
    let inputs = match read_inputs(config_path, catalog_path, state_path) {
        Ok(inputs) => inputs,
        Err(error) => {
            return super::fail_before_runtime(&error, super::airbyte(Vec::new()), level);
        }
    };
    let names = inputs
        .planned
        .iter()
        .map(|p| p.def.name.to_owned())
        .collect();
    with_runtime(super::airbyte(names), level, |emitter| async move {
        read(inputs, &emitter).await
    })
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

//! The tap's discover and read, over the library's commands with the Singer
//! [`Format`](crate::protocol::Format). Each returns the exit code.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use super::catalog;
use super::format::Singer;
use super::state::Bookmarks;
use crate::commands::{self, ReadInputs};
use crate::config::{self, Config};
use crate::error::Error;
use crate::protocol::LogLevel;

/// `--discover`: the Singer catalog on stdout, nothing else.
pub fn discover(config_path: &Path, level: LogLevel) -> ExitCode {
    let format = Arc::new(Singer::new(Vec::new(), Bookmarks::default()));
    commands::with_runtime(format, level, |emitter| async move {
        commands::discover(config_path, &emitter).await
    })
}

/// A read of the streams the catalog selects, from the bookmarks of `state`.
pub fn read(
    config_path: &Path,
    catalog_path: &Path,
    state_path: Option<&Path>,
    level: LogLevel,
) -> ExitCode {
    let (inputs, selected, bookmarks) = match read_inputs(config_path, catalog_path, state_path) {
        Ok(inputs) => inputs,
        Err(error) => {
            // Nothing was sent yet: the error goes out the way every log does.
            let format = Arc::new(Singer::new(Vec::new(), Bookmarks::default()));
            return commands::fail_before_runtime(&error, format, level);
        }
    };
    let format = Arc::new(Singer::new(selected, bookmarks));
    commands::with_runtime(format, level, |emitter| async move {
        commands::read(inputs, &emitter).await
    })
}

/// Config, catalog and state, all checked before anything is sent.
fn read_inputs(
    config_path: &Path,
    catalog_path: &Path,
    state_path: Option<&Path>,
) -> Result<(ReadInputs, Vec<catalog::SelectedStream>, Bookmarks), Error> {
    let config = Config::load(config_path)?;
    let catalog_value = config::read_json_file(catalog_path, "catalog")?;
    let mut selected = catalog::selected(&catalog_value)?;
    // A catalog made before the policy changed still gets SCHEMA messages
    // that match the records: the policy is applied to its schemas too
    // (again, for one from --discover, which changes nothing).
    for stream in &mut selected {
        if let Some(policy) = config.privacy.for_stream(stream.def.name) {
            policy.apply_to_schema(&mut stream.schema);
        }
    }
    let bookmarks = Bookmarks::load(state_path)?;
    let planned = crate::read::plan(&catalog::configured(&selected), &bookmarks.input_state()?)?;
    Ok((ReadInputs { config, planned }, selected, bookmarks))
}

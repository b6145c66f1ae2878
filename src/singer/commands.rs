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
use crate::protocol::{Emitter, LogLevel};

/// `--discover`: the Singer catalog on stdout, nothing else.
pub fn discover(config_path: &Path, level: LogLevel) -> ExitCode {
    let (emitter, handle) = Emitter::start_with_format(
        std::io::stdout(),
        Arc::new(Singer::new(Vec::new(), Bookmarks::default())),
        level,
    );
    let code = match runtime() {
        Ok(runtime) => runtime.block_on(commands::discover(config_path, &emitter)),
        Err(error) => {
            emitter.error_blocking(&error, None);
            ExitCode::FAILURE
        }
    };
    drop(emitter);
    finish(handle, code)
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
            let (emitter, handle) = Emitter::start_with_format(
                std::io::stdout(),
                Arc::new(Singer::new(Vec::new(), Bookmarks::default())),
                level,
            );
            emitter.error_blocking(&error, None);
            drop(emitter);
            return finish(handle, ExitCode::FAILURE);
        }
    };
    let (emitter, handle) = Emitter::start_with_format(
        std::io::stdout(),
        Arc::new(Singer::new(selected, bookmarks)),
        level,
    );
    let code = match runtime() {
        Ok(runtime) => {
            let code = runtime.block_on(commands::read(inputs, &emitter));
            drop(emitter);
            // Streams may still be winding down in tasks; they hold no
            // emitter once the runtime is gone.
            drop(runtime);
            code
        }
        Err(error) => {
            emitter.error_blocking(&error, None);
            drop(emitter);
            ExitCode::FAILURE
        }
    };
    finish(handle, code)
}

/// Config, catalog and state, all checked before anything is sent.
fn read_inputs(
    config_path: &Path,
    catalog_path: &Path,
    state_path: Option<&Path>,
) -> Result<(ReadInputs, Vec<catalog::SelectedStream>, Bookmarks), Error> {
    let config = Config::load(config_path)?;
    let catalog_value = config::read_json_file(catalog_path, "catalog")?;
    let selected = catalog::selected(&catalog_value)?;
    let bookmarks = Bookmarks::load(state_path)?;
    let planned = crate::read::plan(&catalog::configured(&selected), &bookmarks.input_state()?)?;
    Ok((ReadInputs { config, planned }, selected, bookmarks))
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("tap-ecommerce")
        .build()
        .map_err(|e| Error::system(format!("Cannot start the async runtime: {e}")))
}

fn finish(handle: crate::protocol::EmitterHandle, code: ExitCode) -> ExitCode {
    match handle.finish() {
        Ok(()) => code,
        // stdout closed under us: the runner stopped reading.
        Err(_) => ExitCode::FAILURE,
    }
}

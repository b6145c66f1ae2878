//! The four subcommands of the Airbyte binary, one file each. Each owns its
//! runtime and its writer of stdout, and returns the process's exit code.

pub mod check;
pub mod discover;
pub mod read;
pub mod spec;

use std::future::Future;
use std::process::ExitCode;

use crate::error::Error;
use crate::protocol::{Emitter, LogLevel};

pub use read::{ReadInputs, read_inputs};

/// Runs `command` on a multi-threaded runtime with a writer of stdout that
/// knows `stream_names`; waits until every line is written.
pub fn with_runtime<F, Fut>(stream_names: Vec<String>, level: LogLevel, command: F) -> ExitCode
where
    F: FnOnce(Emitter) -> Fut,
    Fut: Future<Output = ExitCode>,
{
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("source-ecommerce")
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            crate::secrets::eprint_line(&format!(
                "source-ecommerce: cannot start the async runtime: {e}"
            ));
            return ExitCode::FAILURE;
        }
    };
    let (emitter, handle) = Emitter::stdout(stream_names, level);
    let code = runtime.block_on(command(emitter));
    // Streams may still be winding down in tasks; they hold no emitter once
    // the runtime is gone.
    drop(runtime);
    match handle.finish() {
        Ok(()) => code,
        // stdout closed under us: nothing more can be said there.
        Err(_) => ExitCode::FAILURE,
    }
}

/// Reports `error` as a TRACE without a runtime (bad inputs, bad arguments).
pub fn fail_before_runtime(error: &Error, level: LogLevel) -> ExitCode {
    let (emitter, handle) = Emitter::stdout(Vec::new(), level);
    emitter.error_blocking(error, None);
    drop(emitter);
    let _ = handle.finish();
    ExitCode::FAILURE
}

/// Writes `error` as a TRACE and returns a failing exit code.
pub async fn fail(emitter: &Emitter, error: &Error) -> ExitCode {
    emitter.error(error, None).await;
    ExitCode::FAILURE
}

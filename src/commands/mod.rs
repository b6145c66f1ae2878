//! The four subcommands of the Airbyte binary, one file each. Each owns its
//! runtime and its writer of stdout, and returns the process's exit code.

pub mod check;
pub mod discover;
pub mod read;
pub mod spec;

use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;

use crate::error::Error;
use crate::protocol::{Emitter, Format, LogLevel};

pub use discover::discover;
pub use read::{ReadInputs, read, read_inputs};

/// Runs `command` on a multi-threaded runtime with a writer of stdout in
/// `format`; waits until every line is written.
pub fn with_runtime<F, Fut>(format: Arc<dyn Format>, level: LogLevel, command: F) -> ExitCode
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
    let (emitter, handle) = Emitter::stdout_with_format(format, level);
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

/// Reports `error` in `format` without a runtime (bad inputs, bad arguments).
pub fn fail_before_runtime(error: &Error, format: Arc<dyn Format>, level: LogLevel) -> ExitCode {
    let (emitter, handle) = Emitter::stdout_with_format(format, level);
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

/// The Airbyte protocol for a command that reads `stream_names`.
pub fn airbyte(stream_names: Vec<String>) -> Arc<dyn Format> {
    Arc::new(crate::protocol::Airbyte::new(stream_names))
}

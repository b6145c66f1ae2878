//! `source-ecommerce`: the Airbyte protocol's command line over the
//! connector library.

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

use source_ecommerce::cli::{Cli, Command};
use source_ecommerce::protocol::{self, Emitter};
use source_ecommerce::{commands, error};

fn main() -> ExitCode {
    keep_page_buffers_in_the_heap();
    std::panic::set_hook(Box::new(|info| {
        // stdout belongs to the protocol writer; a panic is reported on
        // stderr, and the task that panicked is reported as a system error.
        eprintln!("source-ecommerce: internal error: {info}");
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(error),
    };
    let level = cli.log_level();
    match cli.command {
        Command::Spec => commands::spec(),
        command => run_async(command, level),
    }
}

/// Pages and batches are ~1 MB buffers made and freed at every page. By
/// default glibc serves such sizes with a fresh mmap each time, and touching
/// it costs a page fault per 4 KiB; serving them from the heap lets freed
/// pages be reused. The heap is still trimmed, so memory stays bounded.
fn keep_page_buffers_in_the_heap() {
    // SAFETY: mallopt only changes allocator tunables; called before any
    // thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 4 << 20);
    }
}

fn run_async(command: Command, level: protocol::LogLevel) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("source-ecommerce")
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("source-ecommerce: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (inputs, stream_names) = match &command {
        Command::Read {
            config,
            catalog,
            state,
        } => match commands::read_inputs(config, catalog, state.as_deref()) {
            Ok(inputs) => {
                let names = inputs
                    .planned
                    .iter()
                    .map(|p| p.def.name.to_owned())
                    .collect();
                (Some(inputs), names)
            }
            Err(error) => {
                let (emitter, handle) = Emitter::stdout(Vec::new(), level);
                emitter.error_blocking(&error, None);
                drop(emitter);
                let _ = handle.finish();
                return ExitCode::FAILURE;
            }
        },
        _ => (None, Vec::new()),
    };
    let (emitter, handle) = Emitter::stdout(stream_names, level);
    let code = runtime.block_on(async {
        match (command, inputs) {
            (Command::Check { config }, _) => commands::check(&config, &emitter).await,
            (Command::Discover { config }, _) => commands::discover(&config, &emitter).await,
            (Command::Read { .. }, Some(inputs)) => commands::read(inputs, &emitter).await,
            _ => unreachable!("spec runs without a runtime; read has its inputs"),
        }
    });
    drop(emitter);
    // Streams may still be winding down in tasks; they hold no emitter once
    // the runtime is gone.
    drop(runtime);
    match handle.finish() {
        Ok(()) => code,
        // stdout closed under us: nothing more can be said there.
        Err(_) => ExitCode::FAILURE,
    }
}

/// Bad arguments: help and version go to stdout as clap prints them; errors
/// go to stderr, with a TRACE so the platform sees why.
fn usage_error(error: clap::Error) -> ExitCode {
    match error.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = error.print();
            ExitCode::from(
                if error.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                    2
                } else {
                    0
                },
            )
        }
        _ => {
            let _ = error.print();
            let (emitter, handle) = Emitter::stdout(Vec::new(), protocol::LogLevel::Info);
            let message = error
                .render()
                .to_string()
                .lines()
                .next()
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ")
                .to_owned();
            emitter.error_blocking(
                &error::Error::config(format!(
                    "Invalid arguments: {message}. Run source-ecommerce --help."
                )),
                None,
            );
            drop(emitter);
            let _ = handle.finish();
            ExitCode::from(2)
        }
    }
}

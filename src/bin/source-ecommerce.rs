//! `source-ecommerce`: the Airbyte protocol's command line over the
//! connector library.

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

use source_ecommerce::cli::{Cli, Command};
use source_ecommerce::protocol;
use source_ecommerce::{commands, error};

fn main() -> ExitCode {
    keep_page_buffers_in_the_heap();
    std::panic::set_hook(Box::new(|info| {
        // stdout belongs to the protocol writer; a panic is reported on
        // stderr, and the task that panicked is reported as a system error.
        source_ecommerce::secrets::eprint_line(&format!(
            "source-ecommerce: internal error: {info}"
        ));
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(error),
    };
    let level = cli.log_level();
    match cli.command {
        Command::Spec => commands::spec::run(),
        Command::Check { config } => commands::check::run(&config, level),
        Command::Discover { config } => commands::discover::run(&config, level),
        Command::Read {
            config,
            catalog,
            state,
        } => commands::read::run(&config, &catalog, state.as_deref(), level),
    }
}

/// Pages and batches are ~1 MB buffers made and freed at every page. By
/// default glibc serves such sizes with a fresh mmap each time, and touching
/// it costs a page fault per 4 KiB; serving them from the heap lets freed
/// pages be reused. Trimming the heap only past 64 MB keeps them: trimmed at
/// 4 MB, the pages in flight (4 bodies and their batches, about 6 MB) were
/// given back and faulted in again all the time. Memory stays bounded by
/// the pages in flight all the same.
fn keep_page_buffers_in_the_heap() {
    // SAFETY: mallopt only changes allocator tunables; called before any
    // thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
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
            let message = error
                .render()
                .to_string()
                .lines()
                .next()
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ")
                .to_owned();
            let error = error::Error::config(format!(
                "Invalid arguments: {message}. Run source-ecommerce --help."
            ));
            commands::fail_before_runtime(
                &error,
                commands::airbyte(Vec::new()),
                protocol::LogLevel::Info,
            );
            ExitCode::from(2)
        }
    }
}

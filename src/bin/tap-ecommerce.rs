//! `tap-ecommerce`: the connector as a Singer tap, for Meltano.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

use source_ecommerce::config::SPEC_JSON;
use source_ecommerce::singer::about;
use source_ecommerce::singer::cli::{AboutFormat, TapCli, TapCommand};
use source_ecommerce::singer::commands;

fn main() -> ExitCode {
    keep_page_buffers_in_the_heap();
    std::panic::set_hook(Box::new(|info| {
        // stdout carries only Singer messages.
        source_ecommerce::secrets::eprint_line(&format!(
            "CRITICAL tap-ecommerce: internal error: {info}"
        ));
    }));
    let cli = match TapCli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(match error.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => 0,
                _ => 2,
            });
        }
    };
    let level = cli.log_level();
    match cli.command() {
        Ok(TapCommand::About(format)) => print_about(format),
        Ok(TapCommand::Discover { config }) => commands::discover(&config, level),
        Ok(TapCommand::Read {
            config,
            catalog,
            state,
        }) => commands::read(&config, &catalog, state.as_deref(), level),
        Err(missing) => {
            eprintln!("CRITICAL Invalid arguments: {missing}. Run tap-ecommerce --help.");
            ExitCode::from(2)
        }
    }
}

fn print_about(format: AboutFormat) -> ExitCode {
    let spec: serde_json::Value =
        serde_json::from_str(SPEC_JSON).expect("specs/spec.json is valid JSON");
    let text = match format {
        AboutFormat::Json => {
            serde_json::to_string_pretty(&about::json(&spec)).expect("about serializes")
        }
        AboutFormat::Markdown => about::markdown(&spec),
    };
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{text}").and_then(|_| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

/// As in `source-ecommerce`: page-sized buffers from the heap, not a fresh
/// mmap per page (see that binary for why).
fn keep_page_buffers_in_the_heap() {
    // SAFETY: mallopt only changes allocator tunables; called before any
    // thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}

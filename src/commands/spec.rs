//! `spec`: the embedded specification.

use std::io::Write;
use std::process::ExitCode;

use crate::config;
use crate::protocol::Message;

/// `spec`: prints the embedded specification. No runtime, no network.
pub fn run() -> ExitCode {
    let spec: serde_json::Value =
        serde_json::from_str(config::SPEC_JSON).expect("specs/spec.json is valid JSON");
    let line = serde_json::to_string(&Message::Spec { spec: &spec }).expect("the spec serializes");
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "{line}")
        .and_then(|_| stdout.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

//! Every secret value the process knows, and the scrubber that masks them in
//! whatever text leaves the process through the output layer.
//!
//! Secrets are registered where they come into being: a [`crate::config::Secret`]
//! when it is deserialized (config values, issued tokens), a signature when it
//! is computed. The output layer (the emitter's writer, stderr) scrubs every
//! line it writes, whatever produced it, so that a secret echoed by the API in
//! an error, or formatted into a log by mistake, never reaches the platform.
//! Each value is known in the forms it travels in: as is, URL-encoded
//! (`%20`), form-encoded (`+`) and JSON-escaped.

use std::borrow::Cow;
use std::sync::RwLock;

/// What a secret is replaced with.
pub const MASK: &str = "****";

/// The registered forms, longest first so that a value is masked whole
/// before a shorter secret inside it could split it.
#[cfg(not(test))]
static FORMS: RwLock<Vec<String>> = RwLock::new(Vec::new());

// Unit tests run in parallel threads of one process, and their throw-away
// secrets ("k") would mask text in each other's assertions: under test each
// thread has its own registry.
#[cfg(test)]
thread_local! {
    static FORMS_OF_THIS_TEST: &'static RwLock<Vec<String>> =
        Box::leak(Box::new(RwLock::new(Vec::new())));
}

#[cfg(not(test))]
fn forms() -> &'static RwLock<Vec<String>> {
    &FORMS
}

#[cfg(test)]
fn forms() -> &'static RwLock<Vec<String>> {
    FORMS_OF_THIS_TEST.with(|forms| *forms)
}

/// Values shorter than this are not masked: a secret of one to three
/// characters cannot be told from ordinary text (masking every `k` would
/// garble each message), and it protects nothing that length could.
pub const MIN_SECRET_CHARS: usize = 4;

/// Makes `secret` known to the scrubber, in all its encoded forms.
pub fn register(secret: &str) {
    if secret.chars().count() < MIN_SECRET_CHARS {
        return;
    }
    let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    // Form encoding writes a space as `+` and a `+` as `%2B`, so every `+`
    // left is a space: `%20` is the percent-encoded form.
    let percent = form.replace('+', "%20");
    let json = serde_json::to_string(secret).unwrap_or_default();
    let json = json
        .strip_prefix('"')
        .and_then(|j| j.strip_suffix('"'))
        .unwrap_or_default()
        .to_owned();
    let mut forms = forms()
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for candidate in [secret.to_owned(), form, percent, json] {
        if !candidate.is_empty() && !forms.contains(&candidate) {
            forms.push(candidate);
        }
    }
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
}

/// `text` with every registered form of every secret replaced by [`MASK`].
pub fn scrub(text: &str) -> Cow<'_, str> {
    let forms = forms()
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if !forms.iter().any(|form| text.contains(form.as_str())) {
        return Cow::Borrowed(text);
    }
    let mut text = text.to_owned();
    for form in forms.iter() {
        if text.contains(form.as_str()) {
            text = text.replace(form.as_str(), MASK);
        }
    }
    Cow::Owned(text)
}

/// One serialized protocol message with its secrets masked, still valid
/// JSON: the strings of the message are scrubbed, not its raw text, so a
/// secret that happens to look like JSON syntax cannot break the line.
pub fn scrub_json_line(line: Vec<u8>) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(&line) else {
        return line;
    };
    if matches!(scrub(text), Cow::Borrowed(_)) {
        return line;
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(mut value) => {
            scrub_value(&mut value);
            serde_json::to_vec(&value).unwrap_or_else(|_| scrub(text).into_owned().into_bytes())
        }
        Err(_) => scrub(text).into_owned().into_bytes(),
    }
}

fn scrub_value(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(s) => {
            if let Cow::Owned(clean) = scrub(s) {
                *s = clean;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(scrub_value),
        // Keys are the protocol's field names, never a secret.
        Value::Object(fields) => fields.values_mut().for_each(scrub_value),
        _ => {}
    }
}

/// Writes `text` and a newline to stderr, scrubbed: the one way the
/// connector writes to stderr.
pub fn eprint_line(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{}", scrub(text));
}

#[cfg(test)]
mod tests {
    use super::*;

    // The registry is process-wide: each test uses its own values.

    #[test]
    fn a_registered_secret_is_masked_in_any_text() {
        register("s3cr3t-alpha");
        assert_eq!(scrub("token=s3cr3t-alpha;"), "token=****;");
    }

    #[test]
    fn text_without_a_secret_is_not_copied() {
        register("s3cr3t-beta");
        assert!(matches!(scrub("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn url_and_form_encoded_forms_are_masked() {
        register("p@ss word/+gamma");
        assert_eq!(scrub("a=p%40ss+word%2F%2Bgamma"), "a=****");
        assert_eq!(scrub("a=p%40ss%20word%2F%2Bgamma"), "a=****");
    }

    #[test]
    fn a_json_line_stays_valid_json_after_scrubbing() {
        register(r#"x","delta":"#);
        let line = serde_json::to_vec(&serde_json::json!({
            "type": "LOG",
            "log": {"level": "INFO", "message": r#"got x","delta": back"#}
        }))
        .unwrap();
        let clean = scrub_json_line(line);
        let value: serde_json::Value = serde_json::from_slice(&clean).unwrap();
        assert_eq!(value["log"]["message"], "got **** back");
    }

    #[test]
    fn a_value_too_short_to_tell_from_text_masks_nothing() {
        register("");
        register("k");
        assert_eq!(scrub("plain key"), "plain key");
    }
}

//! What went wrong with a request, and how the platform should see it.

use std::fmt;

use crate::error::Error;
use crate::error::FailureType;

/// An error answer (or no answer) from the API, with the details that go into
/// `internal_message`. Never holds a secret: URLs are reduced to their path
/// and request headers are not kept.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// `GET /v1/orders` and the like, without the query string.
    pub request: String,
    /// The HTTP status, when there was an answer.
    pub status: Option<u16>,
    /// The API's error code from `{"error": {"code": ...}}`, if the body had one.
    pub code: Option<String>,
    /// The API's message, or a description of the transport failure.
    pub detail: String,
    /// The `X-Request-Id` of the answer, for the API vendor's support.
    pub request_id: Option<String>,
    /// Whether the body looked like HTML (a proxy or a website answered).
    pub html: bool,
}

/// The longest API text (an error message or code) quoted in our errors.
pub const MAX_API_TEXT_CHARS: usize = 500;

/// The API's own text as we quote it: in quotes and escaped, so that a
/// newline or a control character cannot forge a line, and cut to
/// [`MAX_API_TEXT_CHARS`] characters, so that a page of HTML or a stack
/// trace stays a message. (Secrets in it are masked at the output.)
pub fn quoted_api_text(text: &str) -> String {
    let mut cut: String = text.chars().take(MAX_API_TEXT_CHARS).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    format!("{cut:?}")
}

impl ApiError {
    /// `503 unavailable` / `timeout` and so on: the short form for logs.
    pub fn summary(&self) -> String {
        match (self.status, &self.code) {
            (Some(status), Some(code)) => format!("{status} {code}"),
            (Some(status), None) if self.html => format!("{status} with an HTML body"),
            (Some(status @ 200..=299), None) => format!("{status} with an unusable body"),
            (Some(status), None) => status.to_string(),
            (None, _) => self.detail.clone(),
        }
    }

    /// The details for `internal_message`.
    pub fn internal(&self) -> String {
        let mut text = format!("{}: {}", self.request, self.summary());
        if self.status.is_some() && !self.detail.is_empty() {
            text.push_str(&format!(" ({})", self.detail));
        }
        if let Some(id) = &self.request_id {
            text.push_str(&format!("; X-Request-Id {id}"));
        }
        text
    }

    /// Turns this into the connector's error with a person-facing message.
    pub fn into_error(self, failure_type: FailureType, message: impl Into<String>) -> Error {
        Error::new(failure_type, message).with_internal(self.internal())
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.internal())
    }
}

/// A response body that could not be used: cut off, not JSON, or not the
/// shape the contract describes.
#[derive(Debug, Clone)]
pub struct BodyError {
    pub detail: String,
    /// A cut-off or non-JSON body is a transport hiccup worth retrying; valid
    /// JSON of another shape is an API change that repeating cannot fix.
    pub retryable: bool,
}

impl BodyError {
    /// A body that repeating the request cannot fix.
    pub fn fatal(detail: impl Into<String>) -> Self {
        BodyError {
            detail: detail.into(),
            retryable: false,
        }
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

impl From<serde_json::Error> for BodyError {
    fn from(e: serde_json::Error) -> Self {
        // serde_json's syntax errors name a position, never the content.
        let (what, retryable) = match e.classify() {
            serde_json::error::Category::Eof => ("the body ends early (cut off)", true),
            serde_json::error::Category::Syntax => ("the body is not valid JSON", true),
            serde_json::error::Category::Io => ("the body could not be read", true),
            serde_json::error::Category::Data => {
                ("the body does not have the documented shape", false)
            }
        };
        BodyError {
            detail: format!("{what} at line {}, column {}", e.line(), e.column()),
            retryable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_text_is_quoted_escaped_and_cut() {
        assert_eq!(quoted_api_text("bad\nline"), r#""bad\nline""#);
        let long = "x".repeat(2 * MAX_API_TEXT_CHARS);
        let quoted = quoted_api_text(&long);
        assert_eq!(quoted.chars().count(), MAX_API_TEXT_CHARS + 3);
        assert!(quoted.ends_with("…\""));
    }

    fn body_error(body: &str) -> BodyError {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Page {
            data: Vec<serde_json::Value>,
        }
        serde_json::from_str::<Page>(body).unwrap_err().into()
    }

    #[test]
    fn a_cut_off_or_non_json_body_is_worth_retrying() {
        assert!(body_error(r#"{"data": [{"id": "c_1"#).retryable);
        assert!(body_error("<html>Bad Gateway</html>").retryable);
    }

    #[test]
    fn json_of_another_shape_is_not_retried() {
        let error = body_error(r#"{"data": "none"}"#);
        assert!(!error.retryable);
        assert!(error.detail.contains("documented shape"), "{error}");
    }
}

//! The body of a list answer, split into raw records without parsing them.

use crate::http::BodyError;
use crate::json_page::{RawRecord, SplitError};

/// A list answer: the records as raw JSON plus the pagination fields of
/// either style (`next_page_token`, or `page` and `has_more`).
pub struct PageBody<'a> {
    pub data: Vec<RawRecord<'a>>,
    pub next_page_token: Option<String>,
    pub has_more: Option<bool>,
    /// False when no record can hold a date-time with a UTC offset (see
    /// [`crate::json_page::PageSplit::may_hold_offsets`]).
    pub may_hold_offsets: bool,
}

/// The deepest nesting of a record the connector passes on (Jackson's
/// default, which Java destinations read with).
#[cfg(not(target_arch = "x86_64"))]
pub const MAX_RECORD_DEPTH: usize = crate::json_page::MAX_DEPTH;

impl<'a> PageBody<'a> {
    /// Splits and validates `body` (see [`crate::json_page`]).
    #[cfg(target_arch = "x86_64")]
    pub fn parse(body: &'a [u8]) -> Result<Self, BodyError> {
        let page = crate::json_page::split_page(body).map_err(|e| body_error(&e, body.len()))?;
        Ok(PageBody {
            data: page.records,
            next_page_token: page.next_page_token,
            has_more: page.has_more,
            may_hold_offsets: page.may_hold_offsets,
        })
    }

    /// Splits and validates `body` with serde_json, where the SIMD splitter
    /// has no kernels.
    #[cfg(not(target_arch = "x86_64"))]
    pub fn parse(body: &'a [u8]) -> Result<Self, BodyError> {
        #[derive(serde::Deserialize)]
        struct Page<'a> {
            #[serde(borrow)]
            data: Vec<&'a serde_json::value::RawValue>,
            #[serde(default)]
            next_page_token: Option<String>,
            #[serde(default)]
            has_more: Option<bool>,
        }
        let page: Page = serde_json::from_slice(body)?;
        for (index, raw) in page.data.iter().enumerate() {
            let json = raw.get().as_bytes();
            // Only a record with that many brackets can be that deep; the
            // count is a vectorized scan, the exact depth is not.
            if memchr::memchr2_iter(b'[', b'{', json)
                .nth(MAX_RECORD_DEPTH)
                .is_some()
                && depth(json) > MAX_RECORD_DEPTH
            {
                return Err(BodyError::fatal(format!(
                    "record {} of the page (counting from 1) is nested deeper than {MAX_RECORD_DEPTH} levels",
                    index + 1
                )));
            }
        }
        Ok(PageBody {
            data: page
                .data
                .into_iter()
                .map(RawRecord::from_raw_value)
                .collect(),
            next_page_token: page.next_page_token,
            has_more: page.has_more,
            // Not known here: every record is looked at.
            may_hold_offsets: true,
        })
    }

    /// `has_more` of a page-numbered answer, which the contract requires.
    pub fn more_pages(&self) -> Result<bool, BodyError> {
        self.has_more
            .ok_or_else(|| BodyError::fatal("the page has no has_more"))
    }
}

/// What a splitter error means for the request: a body cut off or garbled
/// is worth asking for again; one that is JSON of the wrong shape, or
/// nested too deep, is not. Offsets only: a message never quotes the body.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn body_error(error: &SplitError, body_len: usize) -> BodyError {
    let retry = |what: &str| BodyError {
        detail: what.to_owned(),
        retryable: true,
    };
    match error {
        SplitError::Syntax { at, .. } if *at >= body_len => {
            retry(&format!("the body ends early (cut off) at byte {body_len}"))
        }
        SplitError::Syntax { .. }
        | SplitError::InvalidUtf8 { .. }
        | SplitError::TrailingCharacters { .. } => {
            retry(&format!("the body is not valid JSON: {error}"))
        }
        SplitError::MissingField(_)
        | SplitError::DuplicateField { .. }
        | SplitError::InvalidType { .. } => BodyError::fatal(format!(
            "the body does not have the documented shape: {error}"
        )),
        SplitError::TooDeep { .. } | SplitError::TooLarge => BodyError::fatal(error.to_string()),
    }
}

/// The deepest nesting of arrays and objects in `json`, strings skipped.
#[cfg(not(target_arch = "x86_64"))]
fn depth(json: &[u8]) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0, false, false);
    for &byte in json {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_in_strings_do_not_count_as_nesting() {
        let text = "[".repeat(2000);
        let body = format!(r#"{{"data":[{{"id":"a","x":"{text}"}}]}}"#);
        assert!(PageBody::parse(body.as_bytes()).is_ok());
    }

    #[test]
    fn a_record_nested_too_deep_is_refused_naming_its_position() {
        let deep = format!("{}1{}", "[".repeat(2000), "]".repeat(2000));
        let body = format!(r#"{{"data":[{{"id":"a"}},{{"id":"b","x":{deep}}}]}}"#);
        let Err(error) = PageBody::parse(body.as_bytes()) else {
            panic!("a record 2000 levels deep parsed");
        };
        assert!(!error.retryable);
        assert!(
            error.detail.starts_with("record 2 of the page"),
            "{}",
            error.detail
        );
    }

    #[test]
    fn a_record_at_the_limit_parses() {
        let nested = format!("{}1{}", "[".repeat(999), "]".repeat(999));
        let body = format!(r#"{{"data":[{{"id":"a","x":{nested}}}]}}"#);
        assert_eq!(PageBody::parse(body.as_bytes()).unwrap().data.len(), 1);
    }

    fn refused(body: &[u8]) -> BodyError {
        match PageBody::parse(body) {
            Ok(_) => panic!("{} parsed", String::from_utf8_lossy(body)),
            Err(error) => error,
        }
    }

    #[test]
    fn a_cut_off_page_is_worth_asking_for_again() {
        let error = refused(br#"{"data":[{"id":"ord_1"},{"id":"ord"#);
        assert!(error.retryable);
        assert!(error.detail.contains("cut off"), "{}", error.detail);
    }

    #[test]
    fn a_garbled_page_is_worth_asking_for_again_and_not_quoted() {
        let error = refused(br#"{"data":[{"email":"ann@example.com"},{"id":x}]}"#);
        assert!(error.retryable);
        assert!(error.detail.contains("not valid JSON"), "{}", error.detail);
        assert!(!error.detail.contains("ann@"), "{}", error.detail);
    }

    #[test]
    fn a_page_of_another_shape_is_an_api_change_not_a_hiccup() {
        for body in [
            &br#"{"items":[]}"#[..],
            br#"{"data":{}}"#,
            br#"{"data":[],"has_more":"yes"}"#,
        ] {
            let error = refused(body);
            assert!(!error.retryable, "{}", error.detail);
        }
    }
}

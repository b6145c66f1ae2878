//! The body of a list answer, split into raw records without parsing them.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::http::BodyError;

/// A list answer: the records as raw JSON plus the pagination fields of
/// either style (`next_page_token`, or `page` and `has_more`).
#[derive(Deserialize)]
pub struct PageBody<'a> {
    #[serde(borrow)]
    pub data: Vec<&'a RawValue>,
    #[serde(default)]
    pub next_page_token: Option<String>,
    #[serde(default)]
    pub has_more: Option<bool>,
}

impl<'a> PageBody<'a> {
    pub fn parse(body: &'a [u8]) -> Result<Self, BodyError> {
        Ok(serde_json::from_slice(body)?)
    }

    /// `has_more` of a page-numbered answer, which the contract requires.
    pub fn more_pages(&self) -> Result<bool, BodyError> {
        self.has_more
            .ok_or_else(|| BodyError::fatal("the page has no has_more"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_off_page_does_not_parse() {
        let body = br#"{"data":[{"id":"ord_1"},{"id":"ord"#;
        assert!(PageBody::parse(body).is_err());
    }
}

//! Query parameters: strict parsing, unknown or repeated names rejected.

use super::error::ApiError;
use crate::timefmt;

/// Default page size.
pub(crate) const DEFAULT_LIMIT: usize = 100;
/// Largest page size.
pub(crate) const MAX_LIMIT: usize = 1_000;

/// The parameters of one request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parses a raw query string, accepting only the `allowed` names, each once.
    pub(crate) fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<Params, ApiError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (name, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            if !allowed.contains(&name.as_ref()) {
                return Err(ApiError::invalid_parameter(if allowed.is_empty() {
                    format!("unknown query parameter {name:?}; this endpoint takes none")
                } else {
                    format!(
                        "unknown query parameter {name:?}; allowed: {}",
                        allowed.join(", ")
                    )
                }));
            }
            if pairs.iter().any(|(seen, _)| *seen == name) {
                return Err(ApiError::invalid_parameter(format!(
                    "query parameter {name:?} is given twice"
                )));
            }
            pairs.push((name.into_owned(), value.into_owned()));
        }
        Ok(Params { pairs })
    }

    /// The raw value of a parameter.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `limit`: 1..=1000, default 100.
    pub(crate) fn limit(&self) -> Result<usize, ApiError> {
        match self.get("limit") {
            None => Ok(DEFAULT_LIMIT),
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    ApiError::invalid_parameter(format!(
                        "limit must be an integer from 1 to {MAX_LIMIT}, got {v:?}"
                    ))
                }),
        }
    }

    /// `page`: from 1, default 1.
    pub(crate) fn page(&self) -> Result<usize, ApiError> {
        match self.get("page") {
            None => Ok(1),
            Some(v) => v.parse::<usize>().ok().filter(|&n| n >= 1).ok_or_else(|| {
                ApiError::invalid_parameter(format!("page must be an integer >= 1, got {v:?}"))
            }),
        }
    }

    /// A boolean flag (`true`/`false`), default false.
    pub(crate) fn flag(&self, name: &str) -> Result<Option<bool>, ApiError> {
        self.get(name)
            .map(|v| match v {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(ApiError::invalid_parameter(format!(
                    "{name} must be true or false, got {v:?}"
                ))),
            })
            .transpose()
    }

    /// An RFC 3339 instant in any offset, as whole unix seconds (floor).
    pub(crate) fn instant(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.get(name)
            .map(|v| {
                timefmt::parse_instant(v).ok_or_else(|| {
                    ApiError::invalid_parameter(format!(
                        "{name} must be an RFC 3339 instant, got {v:?}"
                    ))
                })
            })
            .transpose()
    }
}

/// Smallest whole second strictly after an instant floored to `secs`.
pub(crate) fn exclusive_lower_bound(secs: i64) -> i64 {
    secs.saturating_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_repeated_parameters_are_rejected() {
        assert!(Params::parse(Some("limit=5&foo=1"), &["limit"]).is_err());
        assert!(Params::parse(Some("limit=5&limit=6"), &["limit"]).is_err());
        assert!(Params::parse(Some("x=1"), &[]).is_err());
        assert_eq!(Params::parse(None, &[]).unwrap(), Params::default());
    }

    #[test]
    fn limits_outside_one_to_a_thousand_are_rejected() {
        let limit = |q: &str| Params::parse(Some(q), &["limit"]).unwrap().limit();
        assert_eq!(limit("limit=1"), Ok(1));
        assert_eq!(limit("limit=1000"), Ok(1000));
        assert_eq!(limit(""), Ok(DEFAULT_LIMIT));
        for bad in ["limit=0", "limit=1001", "limit=-1", "limit=ten", "limit="] {
            assert!(limit(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn instants_accept_any_offset_and_reject_malformed_values() {
        let p = Params::parse(
            Some("updated_after=2024-03-01T12:00:00%2B02:00&b=2024-03-01"),
            &["updated_after", "b"],
        )
        .unwrap();
        assert_eq!(p.instant("updated_after"), Ok(Some(1_709_287_200)));
        assert!(p.instant("b").is_err());
        assert_eq!(p.instant("missing"), Ok(None));
    }

    #[test]
    fn flags_and_pages_are_strict() {
        let p = Params::parse(
            Some("include_deleted=true&page=0"),
            &["include_deleted", "page"],
        )
        .unwrap();
        assert_eq!(p.flag("include_deleted"), Ok(Some(true)));
        assert!(p.page().is_err());
        let p = Params::parse(Some("include_deleted=yes"), &["include_deleted"]).unwrap();
        assert!(p.flag("include_deleted").is_err());
    }
}

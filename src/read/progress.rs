//! Whether a walk is moving: the rules that stop a walk the API keeps
//! answering without getting anywhere.
//!
//! A server that repeats a page token, sends the same page again, keeps
//! sending empty pages that claim more, or pages a list without end would
//! otherwise hold a walk forever. These rules are pure: a walk reports each
//! page, and a [`Stall`] says what did not move.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};

use crate::error::Error;

/// Empty pages in a row that still claim more before the walk gives up: a
/// few are legal (records filtered out server-side), many are a loop.
pub const MAX_EMPTY_PAGES_CLAIMING_MORE: u32 = 5;

/// Requests a walk may make beyond what the expected count justifies:
/// room for records written while the walk runs and for restarts.
pub const REQUEST_MARGIN: u64 = 10;

/// What did not move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stall {
    /// A page token came back that the walk already followed.
    TokenRepeated,
    /// A page is byte for byte the previous one.
    SamePage,
    /// This many pages in a row held no record yet claimed more.
    EmptyPagesClaimMore(u32),
    /// More requests than the expected records can justify.
    TooManyRequests {
        requests: u64,
        expected_records: u64,
    },
}

impl Stall {
    /// The error that names the stream, the request and what did not move.
    pub fn into_error(self, stream: &str, request: &str) -> Error {
        let what = match self {
            Stall::TokenRepeated => {
                "the API sent a next_page_token it had sent before (the pages repeat or cycle)"
                    .to_owned()
            }
            Stall::SamePage => "the API sent the same page twice in a row".to_owned(),
            Stall::EmptyPagesClaimMore(n) => {
                format!("the API sent {n} empty pages in a row that each claimed more")
            }
            Stall::TooManyRequests {
                requests,
                expected_records,
            } => format!(
                "{requests} requests for the {expected_records} records the API counted, \
                 more than the page size can justify (the list does not end)"
            ),
        };
        Error::system(format!(
            "Stream {stream}: {request} does not make progress: {what}. The API broke its \
             paging contract; the sync stopped instead of looping. Report this to the API's \
             maintainers."
        ))
    }
}

/// A digest of a page's records, to tell a repeated page without keeping
/// it. The records only: a server that ignores the filter sends the same
/// records under ever new page tokens.
pub fn digest(records: &[crate::json_page::RawRecord<'_>]) -> u64 {
    let mut hasher = DefaultHasher::new();
    for record in records {
        record.get().hash(&mut hasher);
    }
    hasher.finish()
}

/// The most requests a walk of `expected_records` may need with pages of
/// `page_size`, with a margin of twice that plus [`REQUEST_MARGIN`].
pub fn request_budget(expected_records: u64, page_size: u32) -> u64 {
    expected_records
        .div_ceil(u64::from(page_size.max(1)))
        .saturating_mul(2)
        .saturating_add(REQUEST_MARGIN)
}

/// One walk's progress. See the module documentation.
#[derive(Debug, Default)]
pub struct Progress {
    tokens: HashSet<u64>,
    last_page: Option<u64>,
    empty_claiming_more: u32,
    requests: u64,
}

impl Progress {
    /// Notes one page: its body's [`digest`], how many records it held,
    /// whether it claims more, and its next page token if any.
    pub fn page(
        &mut self,
        body_digest: u64,
        records: usize,
        claims_more: bool,
        next_token: Option<&str>,
    ) -> Result<(), Stall> {
        self.requests += 1;
        if self.last_page.replace(body_digest) == Some(body_digest) && claims_more && records > 0 {
            return Err(Stall::SamePage);
        }
        if let Some(token) = next_token {
            let mut hasher = DefaultHasher::new();
            token.hash(&mut hasher);
            if !self.tokens.insert(hasher.finish()) {
                return Err(Stall::TokenRepeated);
            }
        }
        if records == 0 && claims_more {
            self.empty_claiming_more += 1;
            if self.empty_claiming_more >= MAX_EMPTY_PAGES_CLAIMING_MORE {
                return Err(Stall::EmptyPagesClaimMore(self.empty_claiming_more));
            }
        } else {
            self.empty_claiming_more = 0;
        }
        Ok(())
    }

    /// Checks the requests made so far against what `expected_records` justify.
    pub fn within_budget(&self, expected_records: u64, page_size: u32) -> Result<(), Stall> {
        if self.requests > request_budget(expected_records, page_size) {
            return Err(Stall::TooManyRequests {
                requests: self.requests,
                expected_records,
            });
        }
        Ok(())
    }

    /// Forgets the chain of tokens after the walk started a new one (an
    /// expired token): the new chain's tokens are new. The request count
    /// stays.
    pub fn new_chain(&mut self) {
        self.tokens.clear();
        self.last_page = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_walk_with_new_tokens_and_records_moves() {
        let mut progress = Progress::default();
        assert_eq!(progress.page(1, 2, true, Some("t1")), Ok(()));
        assert_eq!(progress.page(2, 2, true, Some("t2")), Ok(()));
        assert_eq!(progress.page(3, 1, false, None), Ok(()));
    }

    #[test]
    fn a_token_sent_twice_is_a_cycle() {
        let mut progress = Progress::default();
        progress.page(1, 2, true, Some("t1")).unwrap();
        progress.page(2, 2, true, Some("t2")).unwrap();
        assert_eq!(
            progress.page(3, 2, true, Some("t1")),
            Err(Stall::TokenRepeated)
        );
    }

    #[test]
    fn the_same_page_twice_claiming_more_does_not_move() {
        let mut progress = Progress::default();
        progress.page(7, 2, true, Some("t1")).unwrap();
        assert_eq!(progress.page(7, 2, true, Some("t2")), Err(Stall::SamePage));
    }

    #[test]
    fn a_final_page_equal_to_the_previous_one_ends_the_walk() {
        let mut progress = Progress::default();
        progress.page(7, 0, true, Some("t1")).unwrap();
        assert_eq!(progress.page(7, 0, false, None), Ok(()));
    }

    #[test]
    fn empty_pages_claiming_more_stop_at_the_limit() {
        let mut progress = Progress::default();
        for n in 1..MAX_EMPTY_PAGES_CLAIMING_MORE {
            progress
                .page(u64::from(n), 0, true, Some(&format!("t{n}")))
                .unwrap();
        }
        assert_eq!(
            progress.page(0, 0, true, Some("last")),
            Err(Stall::EmptyPagesClaimMore(MAX_EMPTY_PAGES_CLAIMING_MORE))
        );
    }

    #[test]
    fn a_page_with_records_resets_the_empty_count() {
        let mut progress = Progress::default();
        for n in 0..3 * MAX_EMPTY_PAGES_CLAIMING_MORE {
            let records = usize::from(n % 2 == 0);
            progress
                .page(u64::from(n), records, true, Some(&format!("t{n}")))
                .unwrap();
        }
    }

    #[test]
    fn requests_beyond_the_budget_are_a_list_without_end() {
        let mut progress = Progress::default();
        let budget = request_budget(10, 5);
        assert_eq!(budget, 2 * 2 + REQUEST_MARGIN);
        for n in 0..budget {
            progress.page(n, 5, true, None).unwrap();
            assert_eq!(progress.within_budget(10, 5), Ok(()));
        }
        progress.page(budget, 5, true, None).unwrap();
        assert!(matches!(
            progress.within_budget(10, 5),
            Err(Stall::TooManyRequests { .. })
        ));
    }

    #[test]
    fn a_new_chain_may_reuse_the_old_chains_tokens() {
        let mut progress = Progress::default();
        progress.page(1, 2, true, Some("t1")).unwrap();
        progress.new_chain();
        assert_eq!(progress.page(1, 2, true, Some("t1")), Ok(()));
    }

    #[test]
    fn the_error_names_the_stream_the_request_and_what_stalled() {
        let error = Stall::TokenRepeated.into_error("customers", "GET /v1/customers");
        assert_eq!(error.failure_type(), crate::error::FailureType::System);
        assert!(error.message().contains("customers"));
        assert!(error.message().contains("GET /v1/customers"));
        assert!(error.message().contains("next_page_token"));
    }
}

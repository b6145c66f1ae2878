//! Splitting a list answer into its records, validating every byte: the
//! first step of the record path, and most of its cost.
//!
//! [`split_page`] takes a complete body such as
//! `{"data":[{...},{...}],"page":3,"has_more":true}` and returns the exact
//! source text of every element of the top-level `data` array, plus
//! `has_more` and `next_page_token`. Records leave the connector as the API
//! sent them, so the whole body is checked against RFC 8259 first: whatever
//! the API sends, every RECORD line is valid JSON. It accepts what
//! `serde_json` accepts for
//!
//! ```text
//! struct PageBody<'a> {
//!     #[serde(borrow)] data: Vec<&'a RawValue>,
//!     #[serde(default)] next_page_token: Option<String>,
//!     #[serde(default)] has_more: Option<bool>,
//! }
//! ```
//!
//! (the splitter it replaced, three times slower) with three differences, all
//! stricter: the whole body must be valid UTF-8 (serde does not check strings
//! inside ignored fields), a record or unknown field may be nested at most
//! [`MAX_DEPTH`] levels (serde skips values without a depth limit), and the
//! top level must be an object (serde also takes a struct written as an
//! array). `tests/page_split/` holds it to serde_json on millions of mutated
//! bodies.
//!
//! No crate does this: `sonic-rs` skips `\u` escapes without checking their
//! hex digits (it passed `"\u0[0e9"` through), `simd-json` hands out no source
//! spans, `jiter` and serde_json's own skipping are slower.
//!
//! # How it works: two stages
//!
//! **Stage 1** (`stage1`) looks at the body 64 bytes at a time. A SIMD kernel
//! (AVX-512 or AVX2 chosen at run time, or SSE2, which every x86_64 has)
//! turns a block into bit masks: quotes, backslashes, whitespace, the
//! structural characters `{}[],:` and control bytes. Plain 64-bit arithmetic, shared by all kernels,
//! then finds the escaped bytes (those after an odd run of backslashes), the
//! in-string mask (a prefix XOR of the unescaped quotes, carried from block to
//! block), and rejects control bytes and invalid escapes inside strings. What
//! is left is a list of *token* positions: structural characters outside
//! strings, opening quotes, and the first byte of each number or literal. The
//! value right after a `,` or `:` is left out (stage 2 finds it by skipping
//! whitespace after the separator), which halves the list. Stage 1 runs only
//! 4 KB ahead of stage 2, into a fixed buffer, so memory does not grow with
//! the body. A portable kernel (one table lookup per byte) is the reference
//! the SIMD ones are tested against. On the way, stage 1 also notes whether
//! any string may end in a date-time's UTC offset
//! ([`PageSplit::may_hold_offsets`]), so that the record path need not
//! search pages of date-times in `Z` record by record.
//!
//! **Stage 2** (`stage2`) pulls those positions and checks the grammar with a
//! small state machine. Nesting is tracked in a fixed bit set, never by
//! recursion, so hostile input such as 60 MB of `[` cannot overflow the stack.
//! Numbers and literals are checked when reached, mostly on one 8-byte word;
//! strings need no work here, as stage 1 has already checked them, except the
//! few that are decoded (top-level keys and `next_page_token`).
//!
//! UTF-8 is checked first, over the whole body, with `simdutf8`.
//!
//! Memory is O(records + depth): the record list, a 16 KB token buffer and a
//! 128-byte nesting stack.
//!
//! The SIMD kernels are x86_64's; elsewhere the read path splits pages with
//! serde_json (`read::page_body`), which the portable kernel would not beat.

// Only x86_64 splits pages with the SIMD kernels (see above).
#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]

mod stage1;
mod stage2;

use std::fmt;

pub use stage1::Path;

/// The deepest nesting allowed inside one record (or unknown field value):
/// `{}` is depth 1, `{"a":[1]}` depth 2.
pub const MAX_DEPTH: usize = 1000;

/// One record of a page: its JSON text exactly as the API sent it, checked
/// to be one valid JSON value (by [`split_page`], or by serde_json).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawRecord<'a>(&'a str);

impl<'a> RawRecord<'a> {
    /// `text` as a record, if it is one valid JSON value (checked by
    /// serde_json: for tests and the pages split without the SIMD kernels).
    pub fn new(text: &'a str) -> Option<Self> {
        serde_json::from_str::<serde::de::IgnoredAny>(text).ok()?;
        Some(RawRecord(text))
    }

    /// A record serde_json validated as a `RawValue`.
    pub fn from_raw_value(raw: &'a serde_json::value::RawValue) -> Self {
        RawRecord(raw.get())
    }

    /// The record's JSON text.
    pub fn get(self) -> &'a str {
        self.0
    }
}

/// A page cut into its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageSplit<'a> {
    /// Each element of the top-level "data" array, as its exact source text (no surrounding whitespace).
    pub records: Vec<RawRecord<'a>>,
    /// "has_more": Some(b) for true/false, None if absent or null.
    pub has_more: Option<bool>,
    /// "next_page_token": Some(unescaped string) or None if absent or null.
    pub next_page_token: Option<String>,
    /// False when no string of the body can end in a date-time's UTC
    /// offset (`±hh:mm"`): no `,` or `:` inside a string lies three bytes
    /// before its closing quote. Then no record has a date-time to rewrite
    /// to UTC, and the record path skips looking for them.
    pub may_hold_offsets: bool,
}

/// Why a body was rejected. The message never quotes the body, as records may
/// hold personal data; it gives byte offsets instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SplitError {
    /// The body is not valid UTF-8; `at` is the first invalid byte.
    InvalidUtf8 { at: usize },
    /// The body is not JSON: `what` describes the problem found at byte `at`.
    Syntax { what: &'static str, at: usize },
    /// A value is nested deeper than [`MAX_DEPTH`]; `record` is its 1-based
    /// position in `data`, or `None` for the value of an unknown field.
    TooDeep { record: Option<usize>, at: usize },
    /// The required field is absent.
    MissingField(&'static str),
    /// A known field appears twice; `at` is the second key.
    DuplicateField { field: &'static str, at: usize },
    /// A known field holds the wrong kind of value.
    InvalidType {
        field: &'static str,
        expected: &'static str,
        at: usize,
    },
    /// Something other than whitespace follows the document.
    TrailingCharacters { at: usize },
    /// The body is 4 GiB or more (positions are kept as `u32`).
    TooLarge,
}

impl SplitError {
    /// The byte offset the error refers to (the body length for errors at the end).
    fn at(&self) -> usize {
        match *self {
            Self::InvalidUtf8 { at }
            | Self::Syntax { at, .. }
            | Self::TooDeep { at, .. }
            | Self::DuplicateField { at, .. }
            | Self::InvalidType { at, .. }
            | Self::TrailingCharacters { at } => at,
            Self::MissingField(_) | Self::TooLarge => usize::MAX,
        }
    }
}

impl fmt::Display for SplitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidUtf8 { at } => write!(f, "invalid UTF-8 at byte {at}"),
            Self::Syntax { what, at } => write!(f, "{what} at byte {at}"),
            Self::TooDeep {
                record: Some(n), ..
            } => {
                write!(
                    f,
                    "record {n} of the page (counting from 1) is nested deeper than {MAX_DEPTH} levels"
                )
            }
            Self::TooDeep { record: None, at } => {
                write!(
                    f,
                    "value nested deeper than {MAX_DEPTH} levels at byte {at}"
                )
            }
            Self::MissingField(name) => write!(f, "missing field `{name}`"),
            Self::DuplicateField { field, at } => {
                write!(f, "duplicate field `{field}` at byte {at}")
            }
            Self::InvalidType {
                field,
                expected,
                at,
            } => {
                write!(f, "field `{field}` must be {expected} (byte {at})")
            }
            Self::TrailingCharacters { at } => write!(f, "trailing characters at byte {at}"),
            Self::TooLarge => write!(f, "body too large (4 GiB or more)"),
        }
    }
}

impl std::error::Error for SplitError {}

/// Splits a page body into its records, validating the whole body strictly
/// (see the module documentation for the exact rules).
///
/// Uses the fastest stage-1 kernel the CPU supports.
pub fn split_page(body: &[u8]) -> Result<PageSplit<'_>, SplitError> {
    split_page_with(body, Path::best())
}

/// [`split_page`] with a chosen stage-1 kernel, so that tests and benchmarks
/// can compare paths. Not part of the stable API.
///
/// # Panics
/// If `path` is not available on this CPU (see [`Path::available`]).
#[doc(hidden)]
pub fn split_page_with(body: &[u8], path: Path) -> Result<PageSplit<'_>, SplitError> {
    assert!(
        path.is_available(),
        "stage-1 path {path:?} is not available on this CPU"
    );
    let text = match simdutf8::basic::from_utf8(body) {
        Ok(text) => text,
        // The fast checker only says "invalid"; ask std for the position.
        Err(_) => {
            let at = std::str::from_utf8(body).map_or_else(|e| e.valid_up_to(), |_| 0);
            return Err(SplitError::InvalidUtf8 { at });
        }
    };
    // Token positions are u32, with some room for the end-of-input sentinel.
    if body.len() >= (u32::MAX - 1024) as usize {
        return Err(SplitError::TooLarge);
    }
    let mut walker = stage2::Walker::new(text, path);
    let result = walker.page();
    // Stage 1 stops emitting tokens at the first bad string byte it sees, so
    // stage 2 either failed earlier in the body (keep its error) or ran into
    // the truncated end (report stage 1's error instead).
    match (result, walker.stage1_error()) {
        (Ok(_), Some(e1)) => Err(e1),
        (Err(e2), Some(e1)) if e1.at() <= e2.at() => Err(e1),
        (result, _) => result,
    }
}

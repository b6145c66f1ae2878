//! The quick path of the rewrite: date-times found from their ends.
//!
//! A date-time with an offset ends in `±hh:mm"`, which one SIMD pass finds.
//! When every such value of a record is a date-time field at the record's
//! top level, the quick path rewrites just those values, reading backwards
//! from each end to its opening quote and its key, and checking once,
//! from the first of them, that they are all at the top level. The API puts
//! its date-times last, so that check reads a few dozen bytes, where the
//! walk of [`super::Walk`] reads every field before them.
//!
//! Anything else (an offset-shaped value in a nested object, an array, a
//! field outside the plan, an escape nearby) answers [`Rewrite::Walk`], and
//! the walk decides: the quick path is never the only judge of a record.

use std::sync::LazyLock;

use memchr::arch::all::packedpair::Pair;

use super::{Node, ObjectPlan, Reading, plain_to_utc, read_date_time};
use crate::json_scan::{at_top_level, flat_to_end};

/// Where an offset-shaped value ends: the position of its sign, in
/// `…d±hh:mm"`. Every date-time with a numeric offset matches; a few other
/// strings may too, which only costs a look.
///
/// The scan looks for the pair `:` and `"` three bytes apart (`:mm"`), both
/// at once, with memchr's packed-pair SIMD prefilter: dates, ids and SKUs
/// are full of `-`, and a search for the signs stopped at every one of them
/// (about 1.7 k instructions an order), where this pair is rare outside
/// offsets. Date-times in `Z` hold no such pair at all.
pub(super) fn offset_signs(bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    let finder = &*OFFSET_ENDS;
    let mut from = 0;
    std::iter::from_fn(move || {
        loop {
            let colon = from + finder.find(bytes.get(from..)?)?;
            from = colon + 1;
            if let Some(sign) = colon.checked_sub(3)
                && is_offset_at(bytes, sign)
            {
                return Some(sign);
            }
        }
    })
}

/// Whether `bytes[sign..]` reads `±hh:mm"` after a digit.
fn is_offset_at(bytes: &[u8], sign: usize) -> bool {
    let digit = |b: u8| b.is_ascii_digit();
    match sign
        .checked_sub(1)
        .and_then(|before| bytes.get(before..before + 8))
    {
        Some(&[d, b'+' | b'-', h1, h2, b':', m1, m2, b'"']) => {
            digit(d) && digit(h1) && digit(h2) && digit(m1) && digit(m2)
        }
        _ => false,
    }
}

/// The `:mm"` of an offset, as memchr's packed-pair finders take it: the
/// bytes at indices 0 and 3 are the pair looked for.
const OFFSET_END: &[u8] = b":00\"";

static OFFSET_ENDS: LazyLock<PairFinder> = LazyLock::new(PairFinder::new);

/// The fastest packed-pair finder this CPU runs, chosen once; the portable
/// one (memchr for `:`, then a look three bytes on) serves other CPUs and
/// haystacks shorter than a vector.
struct PairFinder {
    #[cfg(target_arch = "x86_64")]
    simd: Option<memchr::arch::x86_64::avx2::packedpair::Finder>,
    #[cfg(target_arch = "aarch64")]
    simd: Option<memchr::arch::aarch64::neon::packedpair::Finder>,
    portable: memchr::arch::all::packedpair::Finder,
}

impl PairFinder {
    fn new() -> Self {
        let pair =
            Pair::with_indices(OFFSET_END, 0, 3).expect("two distinct indices in the needle");
        PairFinder {
            #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
            simd: SimdFinder::with_pair(OFFSET_END, pair),
            portable: memchr::arch::all::packedpair::Finder::with_pair(OFFSET_END, pair)
                .expect("the portable finder takes any pair"),
        }
    }

    /// The position of the first `:` with a `"` three bytes on.
    fn find(&self, haystack: &[u8]) -> Option<usize> {
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        if let Some(simd) = &self.simd
            && haystack.len() >= simd.min_haystack_len()
        {
            return simd.find_prefilter(haystack);
        }
        self.portable.find_prefilter(haystack)
    }
}

#[cfg(target_arch = "aarch64")]
use memchr::arch::aarch64::neon::packedpair::Finder as SimdFinder;
#[cfg(target_arch = "x86_64")]
use memchr::arch::x86_64::avx2::packedpair::Finder as SimdFinder;

/// One value to rewrite: its text is `json[start..end]` (between quotes).
#[derive(Clone, Copy)]
struct Value<'p> {
    start: usize,
    end: usize,
    path: &'p str,
    lenient: bool,
}

/// The most date-times the quick path rewrites in one record; a record with
/// more (an array of them, say) is walked.
const MAX_VALUES: usize = 8;

/// The most bytes from a date-time's opening quote to its offset's sign
/// (`YYYY-MM-DDTHH:MM:SS` and a fraction of up to 40 digits); a longer value
/// is walked.
const LONGEST_BEFORE_OFFSET: usize = 64;

/// What [`rewrite`] did.
#[derive(Debug, PartialEq)]
pub(super) enum Rewrite {
    /// The record holds nothing offset-shaped: `out` is untouched, and the
    /// record is kept as sent.
    NoOffset,
    /// `out` holds the record with its top-level date-times in UTC.
    Written,
    /// Some offset-shaped value is not a top-level date-time of the plan:
    /// `out` is untouched, and the walk decides.
    Walk,
}

/// Appends `record` to `out` with its top-level date-times in UTC, if each
/// of its offset-shaped values is one (see [`Rewrite`]).
/// `not_a_timestamp` hears of a plan field whose value is offset-shaped
/// but no date-time (a month 13, say).
pub(super) fn rewrite(
    root: &ObjectPlan,
    record: &str,
    out: &mut Vec<u8>,
    mut not_a_timestamp: impl FnMut(&str),
) -> Rewrite {
    let bytes = record.as_bytes();
    // `None`s cost one word each to set: no allocation, little to clear.
    let mut found: [Option<Value<'_>>; MAX_VALUES] = [None; MAX_VALUES];
    let mut count = 0;
    for sign in offset_signs(bytes) {
        match (found.get_mut(count), value_ending_at(root, record, sign)) {
            (Some(slot), Some(value)) => *slot = Some(value),
            _ => return Rewrite::Walk,
        }
        count += 1;
    }
    let values = || found[..count].iter().flatten();
    let Some(first) = values().next() else {
        return Rewrite::NoOffset;
    };
    let opening_quotes = values().map(|v| v.start - 1);
    if !flat_to_end(bytes, first.start - 1) && !at_top_level(bytes, opening_quotes) {
        return Rewrite::Walk;
    }
    out.reserve(record.len());
    let mut copied = 0;
    for value in values() {
        if let Some(utc) = plain_to_utc(&bytes[value.start..value.end]) {
            out.extend_from_slice(&bytes[copied..value.start]);
            out.extend_from_slice(&utc);
            copied = value.end;
            continue;
        }
        match read_date_time(&record[value.start..value.end]) {
            Reading::Shifted(utc) => {
                out.extend_from_slice(&bytes[copied..value.start]);
                utc.write_to(out);
                copied = value.end;
            }
            Reading::Utc => {}
            Reading::NotADateTime if value.lenient => {}
            Reading::NotADateTime => not_a_timestamp(value.path),
        }
    }
    out.extend_from_slice(&bytes[copied..]);
    Rewrite::Written
}

/// The date-time field whose offset's sign is at `sign`, read backwards to
/// its opening quote and its key.
fn value_ending_at<'p>(root: &'p ObjectPlan, record: &str, sign: usize) -> Option<Value<'p>> {
    let bytes = record.as_bytes();
    let quote = opening_quote(bytes, sign)?;
    match top_level_field(root, record, quote)? {
        Node::DateTime { path, lenient } => Some(Value {
            start: quote + 1,
            end: sign + 6,
            path,
            lenient: *lenient,
        }),
        _ => None,
    }
}

/// The quote before the date-time whose offset's sign is at `sign`.
fn opening_quote(bytes: &[u8], sign: usize) -> Option<usize> {
    // Most carry no fraction (`"YYYY-MM-DDTHH:MM:SS±hh:mm"`): the quote is
    // then 20 bytes before the sign, with none in between.
    if let Some(quote) = sign.checked_sub(20)
        && bytes[quote] == b'"'
        && let Ok(between) = <&[u8; 19]>::try_from(&bytes[quote + 1..sign])
        && between.iter().all(|&b| b != b'"')
    {
        return Some(quote);
    }
    let from = sign.saturating_sub(LONGEST_BEFORE_OFFSET);
    Some(from + memchr::memrchr(b'"', &bytes[from..sign])?)
}

/// The plan's node for the field whose string value opens at `quote`, read
/// backwards (`"key" : "`); `None` for a value that is no object field, a
/// key with an escape, or a key outside the plan's top level.
fn top_level_field<'p>(root: &'p ObjectPlan, record: &str, quote: usize) -> Option<&'p Node> {
    let bytes = record.as_bytes();
    // The quote found backwards is the opening one only if it is not
    // escaped, and then only an unescaped string can hold the date-time.
    if quote == 0 || bytes[quote - 1] == b'\\' {
        return None;
    }
    let key_end = match bytes[..quote] {
        [.., b'"', b':'] => quote - 2,
        _ => {
            let colon = skip_whitespace_back(bytes, quote)?;
            let key_end = skip_whitespace_back(bytes, colon)?;
            if bytes[colon] != b':' || bytes[key_end] != b'"' {
                return None;
            }
            key_end
        }
    };
    let before_key = &bytes[..key_end];
    // The plan's names, matched from the key's end: a key that equals one
    // is that name with an unescaped opening quote before it.
    let opens_at =
        |quote: usize| bytes[quote] == b'"' && bytes.get(quote.wrapping_sub(1)) != Some(&b'\\');
    // (Their first letters tell most apart before any comparison.)
    if let Some((_, node)) = root.fields.iter().find(|(field, _)| {
        let field = field.as_bytes();
        key_end > field.len()
            && bytes[key_end - field.len()] == field[0]
            && before_key.ends_with(field)
            && opens_at(key_end - field.len() - 1)
    }) {
        return Some(node);
    }
    let custom_fields = root.custom_fields.as_deref()?;
    // Keys are short: a plain loop back to the opening quote, which also
    // turns down a key with an escape.
    let key_quote = before_key.iter().rposition(|&b| b == b'"' || b == b'\\')?;
    let key = &record[key_quote + 1..key_end];
    (opens_at(key_quote) && key.starts_with("cf_")).then_some(custom_fields)
}

/// The position of the last byte before `at` that is not white space.
fn skip_whitespace_back(bytes: &[u8], at: usize) -> Option<usize> {
    bytes[..at].iter().rposition(|b| !b.is_ascii_whitespace())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::timestamps::DateTimePlan;

    /// Top-level date-times `at` and `cf_when`, nested ones in `shipment.at`.
    fn plan() -> DateTimePlan {
        let date_time = json!({"type": ["null", "string"], "format": "date-time"});
        DateTimePlan::from_schema(&json!({
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "at": date_time,
                "cf_when": date_time,
                "shipment": {"type": "object", "properties": {"at": date_time}},
            }
        }))
    }

    fn quick(record: &str) -> Option<String> {
        let mut out = Vec::new();
        match rewrite(&plan().root, record, &mut out, |_| {}) {
            Rewrite::Written => Some(String::from_utf8(out).unwrap()),
            Rewrite::NoOffset | Rewrite::Walk => {
                assert!(out.is_empty(), "{record}");
                None
            }
        }
    }

    /// Every position whose bytes read `d±hh:mm"`, found the slow way.
    fn offset_signs_one_by_one(bytes: &[u8]) -> Vec<usize> {
        (0..bytes.len())
            .filter(|&i| is_offset_at(bytes, i))
            .collect()
    }

    #[test]
    fn a_page_the_splitter_finds_without_offsets_has_no_record_with_one() {
        let mut rng = fastrand::Rng::with_seed(5);
        let pieces = [
            r#""at":"2024-03-01T12:00:00+02:00""#,
            r#""at":"2024-03-01T12:00:00Z""#,
            r#""note":"12:00 or 3:30","q":3"#,
            r#""t":"x:12","u":":ab""#,
            r#""n":-12,"s":"a,bc""#,
        ];
        let (mut with, mut without) = (0, 0);
        for _ in 0..5_000 {
            let records: Vec<String> = (0..rng.usize(1..4))
                .map(|i| {
                    let fields: Vec<&str> = (0..rng.usize(1..4))
                        .map(|_| pieces[rng.usize(..pieces.len())])
                        .collect();
                    format!(r#"{{"id":"o{i}",{}}}"#, fields.join(","))
                })
                .collect();
            let body = format!(r#"{{"data":[{}]}}"#, records.join(","));
            let page = crate::json_page::split_page(body.as_bytes()).unwrap();
            let signs = page
                .records
                .iter()
                .map(|r| offset_signs(r.get().as_bytes()).count())
                .sum::<usize>();
            if page.may_hold_offsets {
                with += 1;
            } else {
                without += 1;
                assert_eq!(signs, 0, "{body}");
            }
        }
        assert!(with > 100 && without > 100, "{with} {without}");
    }

    #[test]
    fn the_pair_scan_finds_every_offset_and_only_offsets() {
        // Short haystacks (the portable finder), long ones (the SIMD one),
        // offsets across vector boundaries, near misses around them.
        let mut rng = fastrand::Rng::with_seed(7);
        let pieces: [&[u8]; 10] = [
            b"2024-03-01T12:00:00+05:30\"",
            b"2024-03-01T12:00:00-09:30\"",
            b"2024-03-01T12:00:00Z\"",
            b"12:00\"",
            b":1,\"",
            b"+05:30\"",
            b"5+05:3\"",
            b"SKU-1234\"",
            b"\":\"",
            b"abcdefgh",
        ];
        for _ in 0..5_000 {
            let mut bytes = Vec::new();
            for _ in 0..rng.usize(0..12) {
                bytes.extend_from_slice(pieces[rng.usize(..pieces.len())]);
            }
            let found: Vec<usize> = offset_signs(&bytes).collect();
            assert_eq!(
                found,
                offset_signs_one_by_one(&bytes),
                "{}",
                String::from_utf8_lossy(&bytes)
            );
        }
    }

    #[test]
    fn date_times_in_utc_hold_no_offset_to_scan_for() {
        let record = br#"{"id":"a","at":"2024-03-01T12:00:00Z","n":-12,"sku":"SKU-00012"}"#;
        assert_eq!(offset_signs(record).count(), 0);
    }

    #[test]
    fn top_level_date_times_are_rewritten_from_their_ends() {
        assert_eq!(
            quick(r#"{"id":"a","shipment":{"x":1},"at":"2024-03-01T12:00:00+02:00","cf_when":"2024-03-01T00:30:00-01:00"}"#)
                .as_deref(),
            Some(r#"{"id":"a","shipment":{"x":1},"at":"2024-03-01T10:00:00Z","cf_when":"2024-03-01T01:30:00Z"}"#)
        );
    }

    #[test]
    fn white_space_around_the_colon_is_read_backwards_too() {
        assert_eq!(
            quick(r#"{ "id" : "a" , "at" :  "2024-03-01T12:00:00+02:00" }"#).as_deref(),
            Some(r#"{ "id" : "a" , "at" :  "2024-03-01T10:00:00Z" }"#)
        );
    }

    #[test]
    fn a_nested_date_time_is_left_to_the_walk() {
        assert_eq!(
            quick(r#"{"id":"a","shipment":{"at":"2024-03-01T12:00:00+02:00"}}"#),
            None
        );
    }

    #[test]
    fn a_key_of_the_plan_inside_a_nested_object_is_left_to_the_walk() {
        // `at` is a top-level field of the plan, but this one is nested.
        assert_eq!(
            quick(r#"{"id":"a","other":{"at":"2024-03-01T12:00:00+02:00"},"at":null}"#),
            None
        );
        assert_eq!(
            quick(
                r#"{"at":"2024-03-01T12:00:00+02:00","other":{"at":"2024-03-01T12:00:00+02:00"}}"#
            ),
            None
        );
    }

    #[test]
    fn an_offset_in_an_array_or_a_field_outside_the_plan_is_left_to_the_walk() {
        assert_eq!(
            quick(r#"{"id":"a","list":["2024-03-01T12:00:00+02:00"]}"#),
            None
        );
        assert_eq!(
            quick(r#"{"id":"a","note":"2024-03-01T12:00:00+02:00"}"#),
            None
        );
    }

    #[test]
    fn an_escape_before_the_value_or_in_the_key_is_left_to_the_walk() {
        assert_eq!(
            quick(r#"{"id":"a","at":"x\"2024-03-01T12:00:00+02:00"}"#),
            None
        );
        assert_eq!(
            quick(r#"{"id":"a","\u0061t":"2024-03-01T12:00:00+02:00"}"#),
            None
        );
    }

    #[test]
    fn a_plan_field_holding_no_date_time_is_reported_and_kept() {
        let mut reported = Vec::new();
        let record = r#"{"id":"a","at":"2024-13-01T12:00:00+02:00"}"#;
        let mut out = Vec::new();
        let rewritten = rewrite(&plan().root, record, &mut out, |path| {
            reported.push(path.to_owned())
        });
        assert_eq!(rewritten, Rewrite::Written);
        assert_eq!(out, br#"{"id":"a","at":"2024-13-01T12:00:00+02:00"}"#);
        assert_eq!(reported, ["at"]);
    }

    #[test]
    fn the_quick_path_agrees_with_the_walk_on_varied_records() {
        let plan = plan();
        let mut rng = fastrand::Rng::with_seed(11);
        let pieces = [
            r#""at":"2024-03-01T12:00:00+02:00""#,
            r#""at":"2024-03-01T12:00:00Z""#,
            r#""cf_when":"2023-12-31T23:59:59-00:30""#,
            r#""shipment":{"at":"2024-03-01T12:00:00+05:45"}"#,
            r#""shipment":{"x":"}{"}"#,
            r#""note":"say \"2024-03-01T12:00:00+02:00\"""#,
            r#""list":[{"at":"2024-03-01T12:00:00+02:00"},"2024-03-01T12:00:00+02:00"]"#,
            r#""n":-12"#,
        ];
        for _ in 0..2_000 {
            let fields: Vec<&str> = (0..rng.usize(1..5))
                .map(|_| pieces[rng.usize(..pieces.len())])
                .collect();
            let record = format!(r#"{{"id":"a",{}}}"#, fields.join(","));
            let mut walk_reports = Vec::new();
            let walked = plan.walk(&record, |p| walk_reports.push(p.to_owned()));
            let both = plan.to_utc(&record, |_| {});
            assert_eq!(both, walked, "{record}");
            let mut in_place = b"[".to_vec();
            plan.write_utc(&record, &mut in_place, |_| {});
            assert_eq!(in_place[1..], *walked.as_bytes(), "{record}");
        }
    }
}

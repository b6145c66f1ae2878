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
//! field outside the plan, an escape nearby) answers `None`, and the walk
//! decides: the quick path is never the only judge of a record.

use super::{Node, ObjectPlan, Reading, read_date_time};
use crate::json_scan::at_top_level;

/// Where an offset-shaped value ends: the position of its sign, in
/// `…d±hh:mm"`. Every date-time with a numeric offset matches; a few other
/// strings may too, which only costs a look.
pub(super) fn offset_signs(bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    let digit = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_digit);
    memchr::memchr2_iter(b'+', b'-', bytes).filter(move |&i| {
        i > 0
            && bytes.get(i + 6) == Some(&b'"')
            && bytes[i + 3] == b':'
            && digit(i - 1)
            && digit(i + 1)
            && digit(i + 2)
            && digit(i + 4)
            && digit(i + 5)
    })
}

/// One value to rewrite: its text is `json[start..end]` (between quotes).
struct Value<'p> {
    start: usize,
    end: usize,
    path: &'p str,
    lenient: bool,
}

/// `record` with its top-level date-times in UTC, or `None` when some
/// offset-shaped value is not a top-level date-time of `root`.
/// `not_a_timestamp` hears of a plan field whose value is offset-shaped
/// but no date-time (a month 13, say).
/// `signs` are the [`offset_signs`] of `record` not yet looked at: the
/// caller has looked for the first one already.
pub(super) fn rewrite(
    root: &ObjectPlan,
    record: &str,
    signs: impl Iterator<Item = usize>,
    mut not_a_timestamp: impl FnMut(&str),
) -> Option<String> {
    let bytes = record.as_bytes();
    let mut values: Vec<Value<'_>> = Vec::with_capacity(4);
    for sign in signs {
        let end = sign + 6;
        let start = memchr::memrchr(b'"', &bytes[..sign])? + 1;
        let (path, lenient) = match top_level_field(root, record, start - 1)? {
            Node::DateTime { path, lenient } => (&**path, *lenient),
            _ => return None,
        };
        values.push(Value {
            start,
            end,
            path,
            lenient,
        });
    }
    if values.is_empty() || !at_top_level(bytes, values.iter().map(|v| v.start - 1)) {
        return None;
    }
    let mut out = String::with_capacity(record.len());
    let mut copied = 0;
    for value in &values {
        match read_date_time(&record[value.start..value.end]) {
            Reading::Shifted(utc) => {
                out.push_str(&record[copied..value.start]);
                utc.push_to(&mut out);
                copied = value.end;
            }
            Reading::Utc => {}
            Reading::NotADateTime if value.lenient => {}
            Reading::NotADateTime => not_a_timestamp(value.path),
        }
    }
    out.push_str(&record[copied..]);
    Some(out)
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
    let colon = skip_whitespace_back(bytes, quote)?;
    if bytes[colon] != b':' {
        return None;
    }
    let key_end = skip_whitespace_back(bytes, colon)?;
    if bytes[key_end] != b'"' {
        return None;
    }
    let key_start = memchr::memrchr(b'"', &bytes[..key_end])? + 1;
    let key = &record[key_start..key_end];
    if key.contains('\\') || bytes.get(key_start.wrapping_sub(2)) == Some(&b'\\') {
        return None;
    }
    match root.fields.iter().find(|(field, _)| **field == *key) {
        Some((_, node)) => Some(node),
        None => root
            .custom_fields
            .as_deref()
            .filter(|_| key.starts_with("cf_")),
    }
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
        rewrite(
            &plan().root,
            record,
            offset_signs(record.as_bytes()),
            |_| {},
        )
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
        let out = rewrite(
            &plan().root,
            record,
            offset_signs(record.as_bytes()),
            |path| reported.push(path.to_owned()),
        );
        assert_eq!(
            out.as_deref(),
            Some(r#"{"id":"a","at":"2024-13-01T12:00:00+02:00"}"#)
        );
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
        }
    }
}

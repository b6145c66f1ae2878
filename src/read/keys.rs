//! Reading a record's primary key and cursor out of its raw JSON, the hot
//! part of the record fast path: a page is parsed once, each record stays
//! the API's raw JSON, and only these two fields are read out of it.

use std::borrow::Cow;
use std::fmt;

use crate::json_page::RawRecord;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};

use crate::http::BodyError;
use crate::json_scan::{at_top_level, flat_to_end, scan_string, skip_value, skip_whitespace};
use crate::privacy::StreamPolicy;

/// The fields of one record that the connector reads.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordKeys<'a> {
    pub id: Cow<'a, str>,
    pub cursor: DateTime<Utc>,
}

/// Reads a stream's primary key and cursor out of its raw records.
///
/// Pages were already validated by serde_json when they were split into
/// records, so this only has to find two top-level strings, in the cheapest
/// way that is still exact:
/// 1. the API writes the key first: a record starting `{"id":"` has it there;
/// 2. the cursor is the last `"updated_at":"` of the record, looked for
///    near its end first (see `last_cursor_key`); the match is a top-level
///    key if the rest of the record never closes a bracket before its final
///    `}` (a nested match would close its object first; inside a string the
///    quotes would be escaped);
/// 3. anything else (other layouts, whitespace, escapes, nested matches)
///    goes to a scan of the top-level fields, and from there to serde.
pub struct KeyReader {
    id_field: &'static str,
    cursor_field: &'static str,
    id_prefix: Vec<u8>,
    /// `"<cursor>":"`, searched forward near the record's end first...
    cursor_key: memchr::memmem::Finder<'static>,
    /// ...and backwards through the rest only when it is not there.
    cursor_key_rev: memchr::memmem::FinderRev<'static>,
    /// Set when the stream hashes its primary key: errors then quote the
    /// hashed id, the one the destination knows.
    hashed_ids: Option<std::sync::Arc<StreamPolicy>>,
}

impl KeyReader {
    pub fn new(id_field: &'static str, cursor_field: &'static str) -> Self {
        let cursor_key = format!("\"{cursor_field}\":\"");
        KeyReader {
            id_field,
            cursor_field,
            id_prefix: format!("{{\"{id_field}\":\"").into_bytes(),
            cursor_key: memchr::memmem::Finder::new(&cursor_key).into_owned(),
            cursor_key_rev: memchr::memmem::FinderRev::new(&cursor_key).into_owned(),
            hashed_ids: None,
        }
    }

    /// Quotes ids in errors as `policy` hashes them.
    pub fn with_hashed_ids(mut self, policy: std::sync::Arc<StreamPolicy>) -> Self {
        self.hashed_ids = Some(policy);
        self
    }

    /// `id` as an error may quote it.
    fn shown<'a>(&self, id: &'a str) -> Cow<'a, str> {
        match &self.hashed_ids {
            Some(policy) => policy.record_key(id),
            None => Cow::Borrowed(id),
        }
    }

    /// The id and the cursor of `raw`.
    pub fn read<'a>(&self, raw: RawRecord<'a>) -> Result<RecordKeys<'a>, BodyError> {
        let json = raw.get();
        let (id, cursor) = match self.quick(json) {
            Some((id, cursor)) => (Cow::Borrowed(id), Cow::Borrowed(cursor)),
            None => match top_level_strings(json, self.id_field, self.cursor_field) {
                Some((Some(id), Some(cursor))) => (Cow::Borrowed(id), Cow::Borrowed(cursor)),
                // Escapes, a value that is not a string, a missing field:
                // the general parser decides, and explains.
                _ => keys_by_serde(raw, self.id_field, self.cursor_field, |id| {
                    self.shown(id).into_owned()
                })?,
            },
        };
        let cursor = instant(&cursor).ok_or_else(|| {
            BodyError::fatal(format!(
                "record {} has a {} that is not RFC 3339",
                self.shown(&id),
                self.cursor_field
            ))
        })?;
        Ok(RecordKeys { id, cursor })
    }

    /// Steps 1 and 2 of the type documentation.
    fn quick<'a>(&self, json: &'a str) -> Option<(&'a str, &'a str)> {
        let bytes = json.as_bytes();
        if !bytes.starts_with(&self.id_prefix) {
            return None;
        }
        let id = scan_string(bytes, self.id_prefix.len() - 1)?;
        let at = self.last_cursor_key(bytes)?;
        if at == 0 || bytes[at - 1] == b'\\' {
            return None;
        }
        let value = scan_string(bytes, at + self.cursor_key.needle().len() - 1)?;
        let top_level = flat_to_end(bytes, value.end) || at_top_level(bytes, [value.end]);
        if id.escaped || value.escaped || !top_level {
            return None;
        }
        Some((
            &json[id.start..id.end - 1],
            &json[value.start..value.end - 1],
        ))
    }
}

impl KeyReader {
    /// Where the last `"<cursor>":"` of `bytes` starts. The API writes the
    /// cursor near a record's end, so the last [`CURSOR_WINDOW`] bytes are
    /// searched first, forward, where memchr's search is vectorized: memchr
    /// has no vectorized reverse search, and the reverse one was 9% of a
    /// plain read's instructions. A match there is the last match of the
    /// record (the window is its end); without one, the rest is searched
    /// backwards.
    fn last_cursor_key(&self, bytes: &[u8]) -> Option<usize> {
        let window_start = bytes.len().saturating_sub(CURSOR_WINDOW);
        let window = &bytes[window_start..];
        let mut last = None;
        let mut from = 0;
        // Step by one byte: a match may overlap the one before it.
        while let Some(at) = self.cursor_key.find(&window[from..]) {
            last = Some(from + at);
            from += at + 1;
        }
        match last {
            Some(at) => Some(window_start + at),
            None => {
                // A match ending inside the window starts before it.
                let end = (window_start + self.cursor_key.needle().len() - 1).min(bytes.len());
                self.cursor_key_rev.rfind(&bytes[..end])
            }
        }
    }
}

/// How far from a record's end its cursor key is looked for first (orders
/// have it about 90 bytes from the end).
const CURSOR_WINDOW: usize = 256;

/// An RFC 3339 cursor as an instant. The shape the API sends most,
/// `YYYY-MM-DDTHH:MM:SSZ`, is read at fixed places (chrono's general
/// parser took 3 to 4% of a plain read's CPU samples); anything else goes
/// to chrono.
fn instant(text: &str) -> Option<DateTime<Utc>> {
    utc_seconds(text).or_else(|| {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    })
}

/// `YYYY-MM-DDTHH:MM:SSZ` (or `t`, `z`) with a valid date and time; `None`
/// for anything else, leap seconds included, which chrono then reads.
fn utc_seconds(text: &str) -> Option<DateTime<Utc>> {
    let b: &[u8; 20] = text.as_bytes().try_into().ok()?;
    let separators = b[4] == b'-'
        && b[7] == b'-'
        && matches!(b[10], b'T' | b't')
        && b[13] == b':'
        && b[16] == b':'
        && matches!(b[19], b'Z' | b'z');
    if !separators {
        return None;
    }
    let pair = |at: usize| -> Option<u32> {
        let (tens, ones) = (b[at].wrapping_sub(b'0'), b[at + 1].wrapping_sub(b'0'));
        (tens < 10 && ones < 10).then(|| u32::from(tens) * 10 + u32::from(ones))
    };
    let year = pair(0)? * 100 + pair(2)?;
    let date = chrono::NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, pair(5)?, pair(8)?)?;
    Some(date.and_hms_opt(pair(11)?, pair(14)?, pair(17)?)?.and_utc())
}

/// Reads the primary key and the cursor out of a raw record (the general
/// path of [`KeyReader`], for one-off use).
#[cfg(test)]
pub fn record_keys<'a>(
    raw: RawRecord<'a>,
    id_field: &'static str,
    cursor_field: &'static str,
) -> Result<RecordKeys<'a>, BodyError> {
    KeyReader::new(id_field, cursor_field).read(raw)
}

fn keys_by_serde<'a>(
    raw: RawRecord<'a>,
    id_field: &str,
    cursor_field: &str,
    shown: impl Fn(&str) -> String,
) -> Result<(Cow<'a, str>, Cow<'a, str>), BodyError> {
    let mut deserializer = serde_json::Deserializer::from_str(raw.get());
    let seed = KeysSeed {
        id_field,
        cursor_field,
    };
    let (id, cursor) = seed.deserialize(&mut deserializer)?;
    let id = id.ok_or_else(|| BodyError::fatal(format!("a record has no {id_field}")))?;
    let cursor = cursor
        .ok_or_else(|| BodyError::fatal(format!("record {} has no {cursor_field}", shown(&id))))?;
    Ok((id, cursor))
}

/// The fast path of [`record_keys`]: in a record already validated as JSON
/// (serde_json checked it while splitting the page), finds the string values
/// of two top-level fields by skipping over everything else, and stops as
/// soon as both are found. It does not unescape: a matching key or value
/// with an escape, or a non-string value, returns `None` and the caller
/// falls back to the full parser.
fn top_level_strings<'a>(
    json: &'a str,
    first: &str,
    second: &str,
) -> Option<(Option<&'a str>, Option<&'a str>)> {
    let bytes = json.as_bytes();
    let mut found: (Option<&'a str>, Option<&'a str>) = (None, None);
    let mut at = skip_whitespace(bytes, 0);
    if bytes.get(at) != Some(&b'{') {
        return None;
    }
    at = skip_whitespace(bytes, at + 1);
    if bytes.get(at) == Some(&b'}') {
        return Some(found);
    }
    loop {
        let key = scan_string(bytes, at)?;
        at = skip_whitespace(bytes, key.end);
        if bytes.get(at) != Some(&b':') {
            return None;
        }
        at = skip_whitespace(bytes, at + 1);
        let name = &json[key.start..key.end - 1];
        let slot = if key.escaped {
            None
        } else if name == first {
            Some(&mut found.0)
        } else if name == second {
            Some(&mut found.1)
        } else {
            None
        };
        match slot {
            Some(slot) => {
                let value = scan_string(bytes, at)?;
                if value.escaped {
                    return None;
                }
                *slot = Some(&json[value.start..value.end - 1]);
                if found.0.is_some() && found.1.is_some() {
                    return Some(found);
                }
                at = value.end;
            }
            None => at = skip_value(bytes, at)?,
        }
        at = skip_whitespace(bytes, at);
        match bytes.get(at) {
            Some(b',') => at = skip_whitespace(bytes, at + 1),
            Some(b'}') => return Some(found),
            _ => return None,
        }
    }
}

struct KeysSeed<'f> {
    id_field: &'f str,
    cursor_field: &'f str,
}

type Keys<'a> = (Option<Cow<'a, str>>, Option<Cow<'a, str>>);

impl<'de> DeserializeSeed<'de> for KeysSeed<'_> {
    type Value = Keys<'de>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for KeysSeed<'_> {
    type Value = Keys<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a record object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut id, mut cursor) = (None, None);
        while let Some(BorrowedOrOwned(key)) = map.next_key::<BorrowedOrOwned<'de>>()? {
            if key == self.id_field {
                id = Some(map.next_value::<BorrowedOrOwned<'de>>()?.0);
            } else if key == self.cursor_field {
                cursor = Some(map.next_value::<BorrowedOrOwned<'de>>()?.0);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok((id, cursor))
    }
}

/// A string borrowed from the input when it has no escapes.
struct BorrowedOrOwned<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for BorrowedOrOwned<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor;
        impl<'de> Visitor<'de> for StrVisitor {
            type Value = BorrowedOrOwned<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(BorrowedOrOwned(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(BorrowedOrOwned(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(StrVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> RawRecord<'_> {
        RawRecord::new(json).expect("a JSON value")
    }

    #[test]
    fn keys_are_read_from_anywhere_in_the_record() {
        let record = raw(
            r#"{"nested":{"id":"x","updated_at":"1999-01-01T00:00:00Z"},"updated_at":"2024-03-01T12:00:00+02:00","id":"ord_1"}"#,
        );
        let keys = record_keys(record, "id", "updated_at").unwrap();
        assert_eq!(keys.id, "ord_1");
        assert_eq!(keys.cursor.to_rfc3339(), "2024-03-01T10:00:00+00:00");
    }

    #[test]
    fn an_id_with_escapes_is_unescaped() {
        let record = raw(r#"{"id":"a\"b","timestamp":"2024-03-01T10:00:00Z"}"#);
        assert_eq!(record_keys(record, "id", "timestamp").unwrap().id, "a\"b");
    }

    #[test]
    fn the_fast_path_skips_strings_and_nesting_that_look_like_keys() {
        let record = raw(
            r#"{ "note" : "a \"quoted\" {brace} [x], \"id\": \"fake\"" , "n": -1.5e3, "ok": true, "nested": {"a": [1, {"id": "x"}, "]"], "b": null}, "updated_at" : "2024-03-01T10:00:00Z", "id": "ord_9" }"#,
        );
        assert_eq!(
            top_level_strings(record.get(), "id", "updated_at"),
            Some((Some("ord_9"), Some("2024-03-01T10:00:00Z")))
        );
        let keys = record_keys(record, "id", "updated_at").unwrap();
        assert_eq!(keys.id, "ord_9");
    }

    #[test]
    fn the_fast_path_defers_to_the_parser_for_escapes_and_non_strings() {
        assert_eq!(
            top_level_strings(r#"{"id":"a\"b","t":"x"}"#, "id", "t"),
            None
        );
        assert_eq!(top_level_strings(r#"{"id":7,"t":"x"}"#, "id", "t"), None);
        assert_eq!(
            top_level_strings(r#"{"id":"a"}"#, "id", "t"),
            Some((Some("a"), None))
        );
        assert_eq!(top_level_strings("{}", "id", "t"), Some((None, None)));
    }

    #[test]
    fn the_fast_path_agrees_with_the_parser_on_varied_records() {
        let records = [
            serde_json::json!({"id": "a", "updated_at": "2024-01-01T00:00:00Z"}),
            serde_json::json!({"tags": ["x", "}", "{"], "id": "b", "m": {"updated_at": "nested"}, "updated_at": "2024-01-02T00:00:00+02:00"}),
            serde_json::json!({"p": {"q": [[], {}, [1, 2, {"r": "s\\"}]]}, "e": "", "updated_at": "2024-01-03T00:00:00Z", "x": 1e-7, "id": "c"}),
            serde_json::json!({"addresses": [{"line2": null, "id": "li"}], "deleted_at": null, "id": "d", "updated_at": "2024-01-04T00:00:00Z"}),
        ];
        for record in records {
            for text in [
                record.to_string(),
                serde_json::to_string_pretty(&record).unwrap(),
            ] {
                let raw = raw(&text);
                let fast =
                    top_level_strings(raw.get(), "id", "updated_at").expect("no escapes here");
                let (id, cursor) = keys_by_serde(raw, "id", "updated_at", str::to_owned).unwrap();
                assert_eq!(fast, (Some(id.as_ref()), Some(cursor.as_ref())), "{text}");
            }
        }
    }

    #[test]
    fn the_quick_path_takes_only_top_level_matches() {
        let reader = KeyReader::new("id", "updated_at");
        let top = r#"{"id":"o1","items":[{"id":"x","updated_at":"2000-01-01T00:00:00Z"}],"updated_at":"2024-01-01T00:00:00Z","n":{"a":[1]}}"#;
        assert_eq!(reader.quick(top), Some(("o1", "2024-01-01T00:00:00Z")));
        // The last match is nested: left to the full scan, which finds the real one.
        let nested = r#"{"id":"o1","updated_at":"2024-01-01T00:00:00Z","items":[{"updated_at":"2000-01-01T00:00:00Z"}]}"#;
        assert_eq!(reader.quick(nested), None);
        let nested = raw(nested);
        let keys = reader.read(nested).unwrap();
        assert_eq!(keys.cursor.to_rfc3339(), "2024-01-01T00:00:00+00:00");
        // Inside a string value the quotes are escaped, so it cannot match.
        let quoted =
            r#"{"id":"o1","updated_at":"2024-01-01T00:00:00Z","note":"\"updated_at\":\"1999\""}"#;
        assert_eq!(reader.quick(quoted), Some(("o1", "2024-01-01T00:00:00Z")));
        // Another layout: not the quick path.
        assert_eq!(
            reader.quick(r#"{ "id": "o1", "updated_at": "2024-01-01T00:00:00Z"}"#),
            None
        );
    }

    #[test]
    fn the_last_cursor_key_is_found_wherever_it_lies() {
        let reader = KeyReader::new("id", "updated_at");
        let key = r#""updated_at":""#;
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..20_000 {
            // Keys and fillers of every length around the window's edge,
            // overlapping keys included.
            let mut text = String::new();
            for _ in 0..rng.usize(0..4) {
                text.push_str(&"x".repeat(rng.usize(0..300)));
                text.push_str(if rng.bool() {
                    key
                } else {
                    r#""updated_at":"updated_at":""#
                });
            }
            text.push_str(&"y".repeat(rng.usize(0..300)));
            let expected = text.rfind(key);
            assert_eq!(reader.last_cursor_key(text.as_bytes()), expected, "{text}");
        }
    }

    #[test]
    fn an_escaped_key_is_still_found_by_the_parser() {
        let record = raw(r#"{"\u0069d":"ord_1","updated_at":"2024-03-01T10:00:00Z"}"#);
        assert_eq!(record_keys(record, "id", "updated_at").unwrap().id, "ord_1");
    }

    #[test]
    fn a_record_without_its_cursor_is_a_body_error() {
        let record = raw(r#"{"id":"ord_1"}"#);
        let error = record_keys(record, "id", "updated_at").unwrap_err();
        assert!(error.detail.contains("updated_at"), "{error}");
    }

    #[test]
    fn errors_quote_a_hashed_id_as_the_destination_knows_it() {
        let entries: Vec<crate::privacy::FieldPolicyEntry> = serde_json::from_value(
            serde_json::json!([{"stream": "orders", "field": "id", "action": "hash", "normalize": "none"}]),
        )
        .unwrap();
        let policy = crate::privacy::FieldPolicies::compile(
            &entries,
            Some(&crate::config::Secret::new("test-hash-key-0123456789")),
            crate::config::TimestampMode::Utc,
        )
        .unwrap()
        .for_stream("orders")
        .unwrap();
        let reader = KeyReader::new("id", "updated_at").with_hashed_ids(policy.clone());
        for record in [
            r#"{"id":"ord_secret","updated_at":"yesterday"}"#,
            r#"{"id":"ord_secret"}"#,
        ] {
            let error = reader.read(raw(record)).unwrap_err();
            assert!(!error.detail.contains("ord_secret"), "{error}");
            assert!(
                error.detail.contains(&*policy.record_key("ord_secret")),
                "{error}"
            );
        }
    }

    #[test]
    fn cursors_read_at_fixed_places_agree_with_chrono() {
        let mut texts: Vec<String> = Vec::new();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |below: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % below
        };
        for _ in 0..20_000 {
            // Years around the edges, days past the month's end, hours,
            // minutes and seconds one past their range.
            let year = [0, 1, 1970, 2000, 2024, 2100, 9999][next(7) as usize];
            let text = format!(
                "{year:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                next(14),
                next(33),
                next(25),
                next(61),
                next(62),
            );
            texts.push(text);
        }
        let mut damaged = Vec::new();
        for text in &texts[..2_000] {
            // One byte replaced anywhere: separators, digits, the zone.
            let at = next(20) as usize;
            for byte in [b'0', b'9', b'-', b':', b'T', b't', b'z', b' ', b'+', b'/'] {
                let mut bytes = text.clone().into_bytes();
                bytes[at] = byte;
                damaged.push(String::from_utf8(bytes).unwrap());
            }
        }
        texts.extend(damaged);
        texts.extend(
            [
                "2024-02-29T23:59:59Z",
                "2023-02-29T00:00:00Z",
                "2016-12-31T23:59:60Z",
                "2024-03-01T12:00:00+02:00",
                "2024-03-01T12:00:00.5Z",
                "2024-03-01 12:00:00Z",
                "2024-03-01T12:00:00",
                "",
            ]
            .map(String::from),
        );
        for text in &texts {
            let chrono = DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|t| t.with_timezone(&Utc));
            assert_eq!(instant(text), chrono, "{text:?}");
            if let Some(fast) = utc_seconds(text) {
                assert_eq!(Some(fast), chrono, "{text:?}");
            }
        }
        // The fixed places read most of them.
        let fast = texts.iter().filter(|t| utc_seconds(t).is_some()).count();
        assert!(fast > 1_000, "{fast}");
    }

    #[test]
    fn a_cursor_that_is_not_rfc3339_is_a_body_error() {
        let record = raw(r#"{"id":"ord_1","updated_at":"yesterday"}"#);
        assert!(record_keys(record, "id", "updated_at").is_err());
    }
}

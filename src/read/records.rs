//! The record fast path: a page is parsed once, each record stays the API's
//! raw JSON, and only the few fields the connector needs (id and cursor) are
//! read out of it. Records are serialized into a [`Batch`] of RECORD lines
//! by the stream's own task, so serialization runs in parallel across
//! streams and the stdout writer only copies bytes.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::http::BodyError;
use crate::protocol::{Message, Output, RecordMessage, StreamId};

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
}

/// The fields of one record that the connector reads.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordKeys<'a> {
    pub id: Cow<'a, str>,
    pub cursor: DateTime<Utc>,
}

/// Reads the primary key and the cursor out of a raw record, skipping every
/// other field without building it.
pub fn record_keys<'a>(
    raw: &'a RawValue,
    id_field: &str,
    cursor_field: &str,
) -> Result<RecordKeys<'a>, BodyError> {
    let mut deserializer = serde_json::Deserializer::from_str(raw.get());
    let seed = KeysSeed {
        id_field,
        cursor_field,
    };
    let (id, cursor) = seed.deserialize(&mut deserializer)?;
    let id = id.ok_or_else(|| BodyError(format!("a record has no {id_field}")))?;
    let cursor = cursor.ok_or_else(|| BodyError(format!("record {id} has no {cursor_field}")))?;
    let cursor = DateTime::parse_from_rfc3339(&cursor)
        .map_err(|_| {
            BodyError(format!(
                "record {id} has a {cursor_field} that is not RFC 3339"
            ))
        })?
        .with_timezone(&Utc);
    Ok(RecordKeys { id, cursor })
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
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
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

/// RECORD lines of one stream, ready for the stdout writer.
pub struct Batch {
    stream: StreamId,
    name: &'static str,
    emitted_at: i64,
    bytes: Vec<u8>,
    count: u64,
}

impl Batch {
    /// An empty batch sized for a page of `body_len` bytes.
    pub fn new(stream: StreamId, name: &'static str, body_len: usize) -> Self {
        Batch {
            stream,
            name,
            emitted_at: crate::protocol::now_millis(),
            // Each record gains about 80 bytes of envelope.
            bytes: Vec::with_capacity(body_len + body_len / 4),
            count: 0,
        }
    }

    /// Appends one record as a RECORD line.
    pub fn push(&mut self, data: &RawValue) {
        let message = Message::Record {
            record: RecordMessage {
                stream: self.name,
                data,
                emitted_at: self.emitted_at,
            },
        };
        serde_json::to_writer(&mut self.bytes, &message).expect("writing to a Vec cannot fail");
        self.bytes.push(b'\n');
        self.count += 1;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn into_output(self) -> Output {
        Output::Records {
            stream: self.stream,
            count: self.count,
            bytes: self.bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).unwrap()
    }

    #[test]
    fn keys_are_read_from_anywhere_in_the_record() {
        let record = raw(
            r#"{"nested":{"id":"x","updated_at":"1999-01-01T00:00:00Z"},"updated_at":"2024-03-01T12:00:00+02:00","id":"ord_1"}"#,
        );
        let keys = record_keys(&record, "id", "updated_at").unwrap();
        assert_eq!(keys.id, "ord_1");
        assert_eq!(keys.cursor.to_rfc3339(), "2024-03-01T10:00:00+00:00");
    }

    #[test]
    fn an_id_with_escapes_is_unescaped() {
        let record = raw(r#"{"id":"a\"b","timestamp":"2024-03-01T10:00:00Z"}"#);
        assert_eq!(record_keys(&record, "id", "timestamp").unwrap().id, "a\"b");
    }

    #[test]
    fn a_record_without_its_cursor_is_a_body_error() {
        let record = raw(r#"{"id":"ord_1"}"#);
        let error = record_keys(&record, "id", "updated_at").unwrap_err();
        assert!(error.0.contains("updated_at"), "{error}");
    }

    #[test]
    fn a_cursor_that_is_not_rfc3339_is_a_body_error() {
        let record = raw(r#"{"id":"ord_1","updated_at":"yesterday"}"#);
        assert!(record_keys(&record, "id", "updated_at").is_err());
    }

    #[test]
    fn a_cut_off_page_does_not_parse() {
        let body = br#"{"data":[{"id":"ord_1"},{"id":"ord"#;
        assert!(PageBody::parse(body).is_err());
    }

    #[test]
    fn a_batch_holds_one_record_line_per_record() {
        let mut batch = Batch::new(0, "orders", 100);
        batch.push(&raw(r#"{"id":"ord_1"}"#));
        batch.push(&raw(r#"{"id":"ord_2"}"#));
        assert_eq!(batch.count(), 2);
        let Output::Records { bytes, count, .. } = batch.into_output() else {
            unreachable!()
        };
        assert_eq!(count, 2);
        let text = String::from_utf8(bytes).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(
            lines[0].starts_with(
                r#"{"type":"RECORD","record":{"stream":"orders","data":{"id":"ord_1"}"#
            )
        );
    }
}

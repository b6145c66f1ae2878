//! Date-times in UTC on output (issue 11).
//!
//! The API renders an instant in any UTC offset (`2026-09-03T23:05:06+14:00`),
//! and many warehouses keep the wall-clock time and drop the offset. So every
//! value a stream's schema declares `format: date-time` is rewritten to the
//! same instant in UTC (`2026-09-03T09:05:06Z`), keeping the seconds (and any
//! fraction) as sent.
//!
//! It runs on the record fast path, on the raw JSON text, without building a
//! tree: a [`DateTimePlan`] is compiled once per stream from its schema (the
//! paths of its date-time fields, nested objects and arrays included), and
//! [`DateTimePlan::to_utc`] first looks for anything shaped like an offset
//! (`±hh:mm"`) with one SIMD pass. A record without one, the common case, is
//! returned borrowed, untouched. When each offset found ends a date-time
//! field at the record's top level, [`quick`] rewrites those values, found
//! from their ends; any other record is walked along the plan.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Mutex;

use serde_json::Value;

use crate::json_scan::{Scanned, scan_string, skip_value, skip_whitespace};

mod quick;

use quick::Rewrite;

/// The date-time fields of one stream's records, compiled from its JSON schema.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct DateTimePlan {
    root: ObjectPlan,
}

/// The properties of an object that are, or contain, date-times.
#[derive(Debug, Default, Clone, PartialEq)]
struct ObjectPlan {
    fields: Vec<(Box<str>, Node)>,
    /// For other `cf_*` properties, when their types are not known.
    custom_fields: Option<Box<Node>>,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    /// A `format: date-time` string; the path names it in warnings.
    /// `lenient`: a value that is not a date-time is not reported, for
    /// fields that are only maybe date-times.
    DateTime {
        path: Box<str>,
        lenient: bool,
    },
    Object(ObjectPlan),
    /// Every item of the array follows the node.
    Array(Box<Node>),
}

impl DateTimePlan {
    /// The plan for records valid against `schema` (a JSON schema object).
    /// Properties are followed through `properties`, `items` and the
    /// branches of `anyOf`/`oneOf`/`allOf`; anything else holds no date-time.
    pub fn from_schema(schema: &Value) -> Self {
        match node_of(schema, "") {
            Some(Node::Object(root)) => DateTimePlan { root },
            _ => DateTimePlan::default(),
        }
    }

    /// For a catalog without schemas: also every top-level custom field
    /// (`cf_*`) not in the schema whose value is a date-time, since only
    /// `discover` knows which custom fields are of type `datetime`. Other
    /// values of such fields are passed through without a warning.
    pub fn with_custom_date_times(mut self) -> Self {
        self.root.custom_fields = Some(Box::new(Node::DateTime {
            path: "cf_*".into(),
            lenient: true,
        }));
        self
    }

    /// Whether the plan rewrites nothing.
    pub fn is_empty(&self) -> bool {
        self.root.fields.is_empty() && self.root.custom_fields.is_none()
    }

    /// `record` (a JSON object, already validated) with every date-time of
    /// the plan in UTC. Values in `Z`, `null`s and everything outside the
    /// plan keep their bytes. A date-time field holding a string that is not
    /// an RFC 3339 date-time is left as is and reported to `not_a_timestamp`
    /// with its path; such strings are only seen in records that the walk
    /// reads (the quick path reports only the offset-shaped values it reads).
    pub fn to_utc<'a>(
        &self,
        record: &'a str,
        mut not_a_timestamp: impl FnMut(&str),
    ) -> Cow<'a, str> {
        if self.is_empty() {
            return Cow::Borrowed(record);
        }
        let mut out = Vec::new();
        match quick::rewrite(&self.root, record, &mut out, &mut not_a_timestamp) {
            Rewrite::NoOffset => Cow::Borrowed(record),
            // The rewrite only replaced ASCII within valid UTF-8.
            Rewrite::Written => match String::from_utf8(out) {
                Ok(out) => Cow::Owned(out),
                Err(_) => self.walk(record, not_a_timestamp),
            },
            Rewrite::Walk => self.walk(record, not_a_timestamp),
        }
    }

    /// Appends what [`DateTimePlan::to_utc`] returns for `record` to `out`,
    /// written in place: the record path frames records straight into its
    /// page buffer, so a rewritten record costs no allocation of its own.
    pub fn write_utc(
        &self,
        record: &str,
        out: &mut Vec<u8>,
        mut not_a_timestamp: impl FnMut(&str),
    ) {
        if self.is_empty() {
            out.extend_from_slice(record.as_bytes());
            return;
        }
        match quick::rewrite(&self.root, record, out, &mut not_a_timestamp) {
            Rewrite::NoOffset => out.extend_from_slice(record.as_bytes()),
            Rewrite::Written => {}
            Rewrite::Walk => out.extend_from_slice(self.walk(record, not_a_timestamp).as_bytes()),
        }
    }

    /// The rewrite by a walk of the whole record along the plan.
    fn walk<'a>(&self, record: &'a str, not_a_timestamp: impl FnMut(&str)) -> Cow<'a, str> {
        let mut walk = Walk {
            json: record,
            bytes: record.as_bytes(),
            out: None,
            copied: 0,
            not_a_timestamp,
        };
        let at = skip_whitespace(walk.bytes, 0);
        // The JSON was validated when the page was split, so a walk that
        // does not finish means a layout it does not know: keep the bytes.
        if walk.bytes.get(at) != Some(&b'{') || walk.object(at, &self.root).is_none() {
            return Cow::Borrowed(record);
        }
        match walk.out {
            None => Cow::Borrowed(record),
            Some(mut out) => {
                out.push_str(&record[walk.copied..]);
                Cow::Owned(out)
            }
        }
    }
}

fn node_of(schema: &Value, path: &str) -> Option<Node> {
    let schema = schema.as_object()?;
    if schema.get("format").and_then(Value::as_str) == Some("date-time") {
        return Some(Node::DateTime {
            path: path.into(),
            lenient: false,
        });
    }
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        let fields: Vec<(Box<str>, Node)> = properties
            .iter()
            .filter_map(|(name, property)| {
                let child = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                Some((name.as_str().into(), node_of(property, &child)?))
            })
            .collect();
        if !fields.is_empty() {
            return Some(Node::Object(ObjectPlan {
                fields,
                custom_fields: None,
            }));
        }
    }
    if let Some(items) = schema.get("items")
        && let Some(item) = node_of(items, &format!("{path}[]"))
    {
        return Some(Node::Array(Box::new(item)));
    }
    ["anyOf", "oneOf", "allOf"]
        .iter()
        .filter_map(|k| schema.get(*k).and_then(Value::as_array))
        .flatten()
        .find_map(|branch| node_of(branch, path))
}

/// A walk of one record along a plan, building the rewritten text lazily.
struct Walk<'a, F> {
    json: &'a str,
    bytes: &'a [u8],
    /// The rewritten record so far, from the first rewritten value on.
    out: Option<String>,
    /// `json[..copied]` is in `out`.
    copied: usize,
    not_a_timestamp: F,
}

impl<F: FnMut(&str)> Walk<'_, F> {
    /// Walks the value at `at` along `node`; returns the position after it.
    fn value(&mut self, at: usize, node: &Node) -> Option<usize> {
        match (node, self.bytes.get(at)?) {
            (Node::DateTime { path, lenient }, b'"') => {
                let string = scan_string(self.bytes, at)?;
                self.date_time(&string, path, *lenient);
                Some(string.end)
            }
            (Node::Object(plan), b'{') => self.object(at, plan),
            (Node::Array(item), b'[') => self.array(at, item),
            // null, or a value of another type than the schema says.
            _ => skip_value(self.bytes, at),
        }
    }

    fn object(&mut self, at: usize, plan: &ObjectPlan) -> Option<usize> {
        let mut at = skip_whitespace(self.bytes, at + 1);
        if self.bytes.get(at) == Some(&b'}') {
            return Some(at + 1);
        }
        loop {
            let key = scan_string(self.bytes, at)?;
            at = skip_whitespace(self.bytes, key.end);
            if self.bytes.get(at) != Some(&b':') {
                return None;
            }
            at = skip_whitespace(self.bytes, at + 1);
            let name = &self.json[key.start..key.end - 1];
            let node = match plan.fields.iter().find(|(field, _)| **field == *name) {
                Some((_, node)) => Some(node),
                None => plan
                    .custom_fields
                    .as_deref()
                    .filter(|_| name.starts_with("cf_")),
            };
            at = match node {
                Some(node) => self.value(at, node)?,
                None => skip_value(self.bytes, at)?,
            };
            at = skip_whitespace(self.bytes, at);
            match self.bytes.get(at)? {
                b',' => at = skip_whitespace(self.bytes, at + 1),
                b'}' => return Some(at + 1),
                _ => return None,
            }
        }
    }

    fn array(&mut self, at: usize, item: &Node) -> Option<usize> {
        let mut at = skip_whitespace(self.bytes, at + 1);
        if self.bytes.get(at) == Some(&b']') {
            return Some(at + 1);
        }
        loop {
            at = skip_whitespace(self.bytes, self.value(at, item)?);
            match self.bytes.get(at)? {
                b',' => at = skip_whitespace(self.bytes, at + 1),
                b']' => return Some(at + 1),
                _ => return None,
            }
        }
    }

    fn date_time(&mut self, string: &Scanned, path: &str, lenient: bool) {
        let text = &self.json[string.start..string.end - 1];
        let reading = if string.escaped {
            Reading::NotADateTime
        } else {
            read_date_time(text)
        };
        match reading {
            Reading::Utc => {}
            Reading::Shifted(utc) => {
                let out = self
                    .out
                    .get_or_insert_with(|| String::with_capacity(self.json.len() + 16));
                out.push_str(&self.json[self.copied..string.start]);
                utc.push_to(out);
                self.copied = string.end - 1;
            }
            Reading::NotADateTime if lenient => {}
            Reading::NotADateTime => (self.not_a_timestamp)(path),
        }
    }
}

/// `text` as the rewrite writes it, if it is an RFC 3339 date-time: the
/// same instant in UTC, or `text` itself when it is in UTC already. For
/// values that are hashed rather than emitted (`crate::privacy`), so that
/// one instant has one hash whatever offset the API chose.
pub fn utc_form(text: &str) -> Option<Cow<'_, str>> {
    match read_date_time(text) {
        Reading::Utc => Some(Cow::Borrowed(text)),
        Reading::Shifted(utc) => {
            let mut out = String::with_capacity(text.len());
            utc.push_to(&mut out);
            Some(Cow::Owned(out))
        }
        Reading::NotADateTime => None,
    }
}

/// What a date-time string says.
#[derive(Debug, PartialEq)]
enum Reading<'a> {
    /// Already in UTC (`Z`, or RFC 3339's `z`): kept byte for byte.
    Utc,
    /// With a numeric offset, `+00:00` included: the same instant in UTC.
    Shifted(UtcDateTime<'a>),
    NotADateTime,
}

/// A date-time in UTC, its fraction of a second as sent.
#[derive(Debug, PartialEq)]
struct UtcDateTime<'a> {
    year: u32,
    month: u32,
    day: u32,
    minute_of_day: u32,
    second: u32,
    /// `""` or `.` and digits.
    fraction: &'a str,
}

impl UtcDateTime<'_> {
    /// `YYYY-MM-DDTHH:MM:SS`, the part before the fraction.
    fn digits(&self) -> [u8; 19] {
        let mut buffer = *b"0000-00-00T00:00:00";
        // Every field is below 100 but the year, written as two pairs.
        put_pair(&mut buffer, 0, self.year / 100);
        put_pair(&mut buffer, 2, self.year % 100);
        put_pair(&mut buffer, 5, self.month);
        put_pair(&mut buffer, 8, self.day);
        put_pair(&mut buffer, 11, self.minute_of_day / 60);
        put_pair(&mut buffer, 14, self.minute_of_day % 60);
        put_pair(&mut buffer, 17, self.second);
        buffer
    }

    /// Appends `YYYY-MM-DDTHH:MM:SS[.fff]Z`.
    fn push_to(&self, out: &mut String) {
        out.extend(self.digits().map(char::from));
        out.push_str(self.fraction);
        out.push('Z');
    }

    /// [`UtcDateTime::push_to`] for a byte buffer.
    fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.digits());
        out.extend_from_slice(self.fraction.as_bytes());
        out.push(b'Z');
    }
}

/// The rewrite at fixed places, for the shape the API sends:
/// `YYYY-MM-DDTHH:MM:SS±hh:mm`, no fraction. Its UTC form,
/// `YYYY-MM-DDTHH:MM:SSZ`; `None` for anything else (a fraction, no
/// date-time at all, a year outside 0000 to 9999 in UTC), which
/// [`read_date_time`] then reads. Checks gather into one test, so a record
/// of random offsets costs few mispredicted branches.
fn plain_to_utc(text: &[u8]) -> Option<[u8; 20]> {
    let t: &[u8; 25] = text.try_into().ok()?;
    if !has_plain_shape(t) {
        return None;
    }
    let digit = |at: usize| t[at].wrapping_sub(b'0');
    let pair = |at: usize| u32::from(digit(at)) * 10 + u32::from(digit(at + 1));
    let (year, month, day) = (pair(0) * 100 + pair(2), pair(5), pair(8));
    let (hour, minute, second) = (pair(11), pair(14), pair(17));
    let (offset_hours, offset_minutes) = (pair(20), pair(23));
    let in_range = (month.wrapping_sub(1) < 12)
        & (day != 0)
        & (hour < 24)
        & (minute < 60)
        & (second <= 60)
        & (offset_hours < 24)
        & (offset_minutes < 60);
    if !in_range || (day > 28 && day > days_in_month(year, month)) {
        return None;
    }
    // `+` is 43 and `-` is 45: one east of UTC, minus one west.
    let east = 44 - i64::from(t[19]);
    let shifted =
        i64::from(hour * 60 + minute) - east * i64::from(offset_hours * 60 + offset_minutes);
    let mut utc = [b'Z'; 20];
    utc[..19].copy_from_slice(&t[..19]);
    let minute_of_day = if (0..MINUTES_PER_DAY).contains(&shifted) {
        shifted
    } else {
        let (year, month, day) = if shifted < 0 {
            day_before(year, month, day)?
        } else {
            day_after(year, month, day)?
        };
        put_pair(&mut utc, 0, year / 100);
        put_pair(&mut utc, 2, year % 100);
        put_pair(&mut utc, 5, month);
        put_pair(&mut utc, 8, day);
        shifted.rem_euclid(MINUTES_PER_DAY)
    } as u32;
    put_pair(&mut utc, 11, minute_of_day / 60);
    put_pair(&mut utc, 14, minute_of_day % 60);
    Some(utc)
}

/// Whether `t` reads `DDDD-DD-DDTDD:DD:DD±DD:DD` (`D` a digit), tested
/// eight bytes at a time: each byte XORed with the template is 0 to 9 where
/// a digit belongs and 0 where a separator does.
fn has_plain_shape(t: &[u8; 25]) -> bool {
    const TEMPLATE: &[u8; 25] = b"0000-00-00T00:00:00+00:00";
    // 0xFF where a digit belongs; the sign (byte 19) is tested on its own.
    const DIGIT: &[u8; 25] =
        b"\xff\xff\xff\xff\0\xff\xff\0\xff\xff\0\xff\xff\0\xff\xff\0\xff\xff\0\xff\xff\0\xff\xff";
    const SEPARATOR: &[u8; 25] = b"\0\0\0\0\xff\0\0\xff\0\0\xff\0\0\xff\0\0\xff\0\0\0\0\0\xff\0\0";
    let word = |bytes: &[u8; 25], at: usize| {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(eight)
    };
    let mut bad = 0u64;
    for at in [0, 8, 16] {
        let x = word(t, at) ^ word(TEMPLATE, at);
        let (digit, separator) = (word(DIGIT, at), word(SEPARATOR, at));
        // A byte above 9 gets its top bit from the addition, one of 0x80
        // or more has it already; neither carries into a digit that passes.
        bad |= ((x.wrapping_add(0x7676_7676_7676_7676) | x) & 0x8080_8080_8080_8080 & digit)
            | (x & separator);
    }
    // The last byte, a digit.
    bad |= u64::from(t[24].wrapping_sub(b'0') > 9);
    bad == 0 && matches!(t[19], b'+' | b'-')
}

/// Writes `value` (below 100) as two digits at `at`.
fn put_pair(buffer: &mut [u8], at: usize, value: u32) {
    buffer[at] = b'0' + (value / 10 % 10) as u8;
    buffer[at + 1] = b'0' + (value % 10) as u8;
}

/// The date before a valid one; `None` before 0000-01-01.
fn day_before(year: u32, month: u32, day: u32) -> Option<(u32, u32, u32)> {
    Some(match (month, day) {
        (1, 1) => (year.checked_sub(1)?, 12, 31),
        (_, 1) => (year, month - 1, days_in_month(year, month - 1)),
        _ => (year, month, day - 1),
    })
}

/// The date after a valid one; `None` after 9999-12-31.
fn day_after(year: u32, month: u32, day: u32) -> Option<(u32, u32, u32)> {
    Some(if day < days_in_month(year, month) {
        (year, month, day + 1)
    } else if month < 12 {
        (year, month + 1, 1)
    } else if year < 9999 {
        (year + 1, 1, 1)
    } else {
        return None;
    })
}

/// Reads an RFC 3339 date-time (`T` or `t`, seconds required, an optional
/// fraction, `Z`, `z` or `±hh:mm`).
fn read_date_time(text: &str) -> Reading<'_> {
    match parse(text) {
        Some(reading) => reading,
        None => Reading::NotADateTime,
    }
}

fn parse(text: &str) -> Option<Reading<'_>> {
    let b = text.as_bytes();
    let number = |from: usize, width: usize| -> Option<u32> {
        b.get(from..from + width)?.iter().try_fold(0u32, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    // The fixed part read at fixed places, which the compiler checks once.
    let head: &[u8; 19] = b.get(..19)?.try_into().ok()?;
    let pair = |at: usize| -> Option<u32> {
        let (tens, ones) = (head[at].wrapping_sub(b'0'), head[at + 1].wrapping_sub(b'0'));
        (tens < 10 && ones < 10).then(|| u32::from(tens) * 10 + u32::from(ones))
    };
    let year = pair(0)? * 100 + pair(2)?;
    let month = pair(5)?;
    let day = pair(8)?;
    let hour = pair(11)?;
    let minute = pair(14)?;
    let second = pair(17)?;
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
        || !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        // 60: a leap second, which RFC 3339 allows.
        || second > 60
    {
        return None;
    }
    let mut at = 19;
    if b.get(at) == Some(&b'.') {
        let digits = b[at + 1..]
            .iter()
            .take_while(|d| d.is_ascii_digit())
            .count();
        if digits == 0 {
            return None;
        }
        at += 1 + digits;
    }
    let fraction = &text[19..at];
    let offset_minutes: i64 = match &b[at..] {
        // UTC already: kept as sent, like every record without an offset.
        b"Z" | b"z" => return Some(Reading::Utc),
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (hours, minutes) = (number(at + 1, 2)?, number(at + 4, 2)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let east = i64::from(hours * 60 + minutes);
            if *sign == b'-' { -east } else { east }
        }
        _ => return None,
    };
    let (mut year, mut month, mut day) = (year, month, day);
    let mut minute_of_day = i64::from(hour * 60 + minute) - offset_minutes;
    if minute_of_day < 0 {
        minute_of_day += MINUTES_PER_DAY;
        day -= 1;
        if day == 0 {
            month -= 1;
            if month == 0 {
                // Year 0000 in a positive offset is before year 0 in UTC,
                // which RFC 3339 cannot write.
                year = year.checked_sub(1)?;
                month = 12;
            }
            day = days_in_month(year, month);
        }
    } else if minute_of_day >= MINUTES_PER_DAY {
        minute_of_day -= MINUTES_PER_DAY;
        day += 1;
        if day > days_in_month(year, month) {
            day = 1;
            month += 1;
            if month == 13 {
                month = 1;
                year += 1;
                if year > 9999 {
                    return None;
                }
            }
        }
    }
    Some(Reading::Shifted(UtcDateTime {
        year,
        month,
        day,
        minute_of_day: minute_of_day as u32,
        second,
        fraction,
    }))
}

const MINUTES_PER_DAY: i64 = 24 * 60;

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        _ => 31,
    }
}

/// A stream's plan, with the fields it has already warned about.
#[derive(Debug)]
pub struct StreamTimestamps {
    plan: DateTimePlan,
    stream: &'static str,
    warned: Mutex<HashSet<Box<str>>>,
}

impl StreamTimestamps {
    pub fn new(stream: &'static str, plan: DateTimePlan) -> Self {
        StreamTimestamps {
            plan,
            stream,
            warned: Mutex::new(HashSet::new()),
        }
    }

    /// [`DateTimePlan::to_utc`]; `warn` gets a WARN message the first time
    /// a field of this stream holds a string that is not a date-time.
    pub fn to_utc<'a>(&self, record: &'a str, mut warn: impl FnMut(String)) -> Cow<'a, str> {
        self.plan
            .to_utc(record, |path| self.not_a_timestamp(path, &mut warn))
    }

    /// [`DateTimePlan::write_utc`], warning as [`StreamTimestamps::to_utc`].
    pub fn write_utc(&self, record: &str, out: &mut Vec<u8>, mut warn: impl FnMut(String)) {
        self.plan
            .write_utc(record, out, |path| self.not_a_timestamp(path, &mut warn))
    }

    fn not_a_timestamp(&self, path: &str, warn: &mut impl FnMut(String)) {
        let mut warned = self.warned.lock().unwrap_or_else(|e| e.into_inner());
        if warned.insert(path.into()) {
            warn(format!(
                "{}: field {path} holds a value that is not an RFC 3339 date-time; it is passed through as sent (further ones are not reported)",
                self.stream
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_fixed_place_rewrite_agrees_with_the_general_reading() {
        let mut rng = fastrand::Rng::with_seed(3);
        let mut shortcuts = 0;
        for _ in 0..20_000 {
            let text = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}{:02}:{:02}",
                rng.u32(0..=9999),
                rng.u32(0..=13),
                rng.u32(0..=32),
                rng.u32(0..=24),
                rng.u32(0..=60),
                rng.u32(0..=61),
                if rng.bool() { '+' } else { '-' },
                rng.u32(0..=24),
                rng.u32(0..=60),
            );
            let mut text = text.into_bytes();
            if rng.u8(..4) == 0 {
                // Now and then one byte of any value, separators included.
                let at = rng.usize(..text.len());
                text[at] = rng.u8(..);
            }
            let Ok(text) = String::from_utf8(text) else {
                continue;
            };
            let general = match read_date_time(&text) {
                Reading::Shifted(utc) => {
                    let mut out = Vec::new();
                    utc.write_to(&mut out);
                    Some(out)
                }
                _ => None,
            };
            let fixed = plain_to_utc(text.as_bytes());
            // The two agree on every value the fixed places take; they
            // leave RFC 3339's lowercase `t` to the general reading.
            if fixed.is_some() || text.as_bytes()[10] != b't' {
                assert_eq!(fixed.map(|utc| utc.to_vec()), general, "{text}");
            }
            shortcuts += usize::from(fixed.is_some());
        }
        assert!(
            shortcuts > 1_000,
            "only {shortcuts} drawn values were valid"
        );
    }

    #[test]
    fn the_fixed_place_rewrite_crosses_days_and_leaves_fractions_to_the_general_reading() {
        let cases: [(&str, Option<&[u8; 20]>); 9] = [
            ("2024-03-01T12:30:45+05:45", Some(b"2024-03-01T06:45:45Z")),
            ("2024-03-01T01:00:00+02:00", Some(b"2024-02-29T23:00:00Z")),
            ("2023-12-31T23:00:00-02:00", Some(b"2024-01-01T01:00:00Z")),
            ("9999-12-31T23:00:00-02:00", None),
            ("0000-01-01T00:00:00+00:01", None),
            ("2024-03-01T12:00:00.5+02:00", None),
            ("2024-13-01T12:00:00+02:00", None),
            ("2024-03-01T12:00:00+24:00", None),
            ("2024-03-01 12:00:00+02:00", None),
        ];
        for (text, utc) in cases {
            assert_eq!(plain_to_utc(text.as_bytes()).as_ref(), utc, "{text}");
        }
    }

    fn plan(schema: Value) -> DateTimePlan {
        DateTimePlan::from_schema(&schema)
    }

    /// A plan with top-level date-times `at` and `cf_when`, a `format: date`
    /// `day`, and nested ones in `shipment.at` and `items[].at`.
    fn record_plan() -> DateTimePlan {
        let date_time = json!({"type": ["null", "string"], "format": "date-time"});
        plan(json!({
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "at": date_time,
                "cf_when": date_time,
                "day": {"type": ["null", "string"], "format": "date"},
                "shipment": {"type": ["null", "object"], "properties": {"at": date_time, "carrier": {"type": "string"}}},
                "items": {"type": "array", "items": {"type": "object", "properties": {"at": date_time}}},
            }
        }))
    }

    /// `record` through `plan`, with the paths it reported.
    fn rewrite(plan: &DateTimePlan, record: &str) -> (String, Vec<String>) {
        let mut reported = Vec::new();
        let out = plan.to_utc(record, |path| reported.push(path.to_owned()));
        (out.into_owned(), reported)
    }

    fn utc_of(value: &str) -> String {
        let record = format!(r#"{{"id":"a","at":"{value}"}}"#);
        let (out, reported) = rewrite(&record_plan(), &record);
        assert!(reported.is_empty(), "{value}: {reported:?}");
        let parsed: Value = serde_json::from_str(&out).unwrap();
        parsed["at"].as_str().unwrap().to_owned()
    }

    #[test]
    fn every_offset_of_the_contract_becomes_the_same_instant_in_utc() {
        let cases = [
            ("2024-03-01T10:00:00Z", "2024-03-01T10:00:00Z"),
            ("2024-03-01T10:00:00+00:00", "2024-03-01T10:00:00Z"),
            ("2024-03-01T15:30:00+05:30", "2024-03-01T10:00:00Z"),
            ("2024-03-01T15:45:00+05:45", "2024-03-01T10:00:00Z"),
            ("2024-03-01T00:30:00-09:30", "2024-03-01T10:00:00Z"),
            ("2024-03-02T00:00:00+14:00", "2024-03-01T10:00:00Z"),
            ("2024-02-29T22:00:00-12:00", "2024-03-01T10:00:00Z"),
            ("2026-09-03T23:05:06+14:00", "2026-09-03T09:05:06Z"),
        ];
        for (sent, utc) in cases {
            assert_eq!(utc_of(sent), utc, "{sent}");
        }
    }

    #[test]
    fn rollovers_cross_days_months_years_and_leap_days() {
        let cases = [
            ("2026-12-31T23:30:00-09:30", "2027-01-01T09:00:00Z"),
            ("2027-01-01T05:00:00+14:00", "2026-12-31T15:00:00Z"),
            ("2024-03-01T00:10:00+05:45", "2024-02-29T18:25:00Z"),
            ("2023-03-01T00:10:00+05:45", "2023-02-28T18:25:00Z"),
            ("2024-02-28T20:00:00-12:00", "2024-02-29T08:00:00Z"),
            ("2024-04-30T23:59:59-00:01", "2024-05-01T00:00:59Z"),
            ("2100-03-01T01:00:00+02:00", "2100-02-28T23:00:00Z"),
        ];
        for (sent, utc) in cases {
            assert_eq!(utc_of(sent), utc, "{sent}");
        }
    }

    #[test]
    fn the_rewrite_agrees_with_chrono_on_every_offset_over_many_instants() {
        let offsets = [
            "+00:00", "+01:00", "+05:30", "+05:45", "-03:30", "-09:30", "+14:00", "-12:00",
            "+13:45", "-00:01", "+23:59",
        ];
        let mut seconds: i64 = 946_684_800 - 86_400 * 3; // late December 1999
        while seconds < 4_102_444_800 {
            let instant = chrono::DateTime::from_timestamp(seconds, 0).unwrap();
            for offset in offsets {
                let zone: chrono::FixedOffset = offset.parse().unwrap();
                let sent = instant
                    .with_timezone(&zone)
                    .format("%Y-%m-%dT%H:%M:%S%:z")
                    .to_string();
                let expected = instant.format("%Y-%m-%dT%H:%M:%SZ").to_string();
                assert_eq!(utc_of(&sent), expected, "{sent}");
            }
            seconds += 86_400 * 3 + 3_607; // walks through every hour and month
        }
    }

    #[test]
    fn values_already_in_z_keep_their_bytes_and_borrow() {
        let record = r#"{"id":"a","at":"2024-03-01T10:00:00Z","cf_when":"2024-03-01T10:00:00.250Z","items":[{"at":"2024-03-01T10:00:00Z"}]}"#;
        assert!(matches!(
            record_plan().to_utc(record, |_| {}),
            Cow::Borrowed(r) if r == record
        ));
    }

    #[test]
    fn a_fraction_of_a_second_is_kept_as_sent() {
        assert_eq!(
            utc_of("2024-03-01T12:00:00.5+02:00"),
            "2024-03-01T10:00:00.5Z"
        );
        assert_eq!(utc_of("2024-03-01t12:00:00+02:00"), "2024-03-01T10:00:00Z");
    }

    #[test]
    fn nested_values_and_arrays_of_objects_are_rewritten() {
        let record = r#"{"id":"a","shipment":{"carrier":"x","at":"2024-03-01T12:00:00+02:00"},"items":[{"at":"2024-03-01T05:00:00-05:00"},{"at":null},{"at":"2024-03-01T10:00:00Z"}]}"#;
        let (out, reported) = rewrite(&record_plan(), record);
        assert_eq!(
            out,
            r#"{"id":"a","shipment":{"carrier":"x","at":"2024-03-01T10:00:00Z"},"items":[{"at":"2024-03-01T10:00:00Z"},{"at":null},{"at":"2024-03-01T10:00:00Z"}]}"#
        );
        assert!(reported.is_empty());
    }

    #[test]
    fn only_fields_the_schema_declares_date_time_are_touched() {
        let record = r#"{"id":"a","day":"2024-03-01","note":"2024-03-01T12:00:00+02:00","shipment":{"carrier":"2024-03-01T12:00:00+02:00"},"at":"2024-03-01T12:00:00+02:00"}"#;
        let (out, _) = rewrite(&record_plan(), record);
        assert_eq!(
            out,
            r#"{"id":"a","day":"2024-03-01","note":"2024-03-01T12:00:00+02:00","shipment":{"carrier":"2024-03-01T12:00:00+02:00"},"at":"2024-03-01T10:00:00Z"}"#
        );
    }

    #[test]
    fn null_and_values_of_other_types_are_left_alone() {
        let record =
            r#"{"id":"a","at":null,"cf_when":17,"shipment":null,"items":null,"note":"+01:00"}"#;
        let (out, reported) = rewrite(&record_plan(), record);
        assert_eq!(out, record);
        assert!(reported.is_empty());
    }

    #[test]
    fn a_string_that_is_not_a_timestamp_is_left_as_is_and_reported() {
        let record = r#"{"id":"a","cf_when":"next tuesday","at":"2024-03-01T12:00:00+02:00","items":[{"at":"2024-13-01T00:00:00+01:00"}]}"#;
        let (out, reported) = rewrite(&record_plan(), record);
        assert_eq!(
            out,
            r#"{"id":"a","cf_when":"next tuesday","at":"2024-03-01T10:00:00Z","items":[{"at":"2024-13-01T00:00:00+01:00"}]}"#
        );
        assert_eq!(reported, ["cf_when", "items[].at"]);
    }

    #[test]
    fn escapes_and_whitespace_in_other_fields_do_not_mislead_the_walk() {
        let record = r#"{ "id" : "a\"b", "note" : "x\\\"at\": \"1999-01-01T00:00:00+01:00\"}", "shipment" : { "at" : "2024-03-01T12:00:00+02:00" } , "at" : "2024-03-01T11:00:00+01:00" }"#;
        let (out, reported) = rewrite(&record_plan(), record);
        assert_eq!(
            out,
            r#"{ "id" : "a\"b", "note" : "x\\\"at\": \"1999-01-01T00:00:00+01:00\"}", "shipment" : { "at" : "2024-03-01T10:00:00Z" } , "at" : "2024-03-01T10:00:00Z" }"#
        );
        assert!(reported.is_empty());
        assert!(serde_json::from_str::<Value>(&out).is_ok());
    }

    #[test]
    fn a_record_whose_offsets_are_all_outside_the_plan_is_borrowed() {
        let record = r#"{"id":"a","note":"2024-03-01T12:00:00+02:00","at":"2024-03-01T10:00:00Z"}"#;
        assert!(matches!(
            record_plan().to_utc(record, |_| {}),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn the_plan_follows_the_streams_schemas() {
        for def in crate::streams::ALL {
            let schema: Value = serde_json::from_str(def.schema).unwrap();
            let plan = DateTimePlan::from_schema(&schema);
            let mut names: Vec<&str> = plan.root.fields.iter().map(|(n, _)| &**n).collect();
            names.sort_unstable();
            let expected: &[&str] = match def.name {
                "order_events" => &["timestamp"],
                "products" => &["created_at", "updated_at"],
                _ => &["created_at", "deleted_at", "updated_at"],
            };
            assert_eq!(names, expected, "{}", def.name);
        }
    }

    #[test]
    fn the_plan_follows_any_of_branches_and_ignores_dates() {
        let plan = plan(json!({"properties": {
            "a": {"anyOf": [{"type": "null"}, {"type": "string", "format": "date-time"}]},
            "b": {"type": "string", "format": "date"},
            "c": {"type": "array", "items": {"type": "string", "format": "date-time"}},
        }}));
        let (out, _) = rewrite(
            &plan,
            r#"{"a":"2024-03-01T12:00:00+02:00","b":"2024-03-01","c":["2024-03-01T12:00:00+02:00"]}"#,
        );
        assert_eq!(
            out,
            r#"{"a":"2024-03-01T10:00:00Z","b":"2024-03-01","c":["2024-03-01T10:00:00Z"]}"#
        );
    }

    #[test]
    fn without_a_schema_custom_fields_holding_date_times_are_rewritten_silently() {
        let schema = json!({"properties": {"at": {"type": "string", "format": "date-time"}}});
        let plan = DateTimePlan::from_schema(&schema).with_custom_date_times();
        let (out, reported) = rewrite(
            &plan,
            r#"{"at":"2024-03-01T12:00:00+02:00","cf_slot":"2024-03-01T12:00:00+02:00","cf_tier":"gold","cf_n":3,"x_slot":"2024-03-01T12:00:00+02:00"}"#,
        );
        assert_eq!(
            out,
            r#"{"at":"2024-03-01T10:00:00Z","cf_slot":"2024-03-01T10:00:00Z","cf_tier":"gold","cf_n":3,"x_slot":"2024-03-01T12:00:00+02:00"}"#
        );
        assert!(reported.is_empty(), "{reported:?}");
    }

    #[test]
    fn the_utc_form_of_a_value_is_what_the_rewrite_writes() {
        assert_eq!(
            utc_form("2024-03-01T12:00:00.5+02:00").as_deref(),
            Some("2024-03-01T10:00:00.5Z")
        );
        assert!(matches!(
            utc_form("2024-03-01T10:00:00Z"),
            Some(Cow::Borrowed("2024-03-01T10:00:00Z"))
        ));
        assert_eq!(utc_form("gold"), None);
    }

    #[test]
    fn a_schema_without_date_times_gives_an_empty_plan() {
        assert!(plan(json!({})).is_empty());
        assert!(plan(json!({"properties": {"id": {"type": "string"}}})).is_empty());
    }

    #[test]
    fn a_stream_warns_once_per_field() {
        let stream = StreamTimestamps::new("orders", record_plan());
        let mut warnings = Vec::new();
        for _ in 0..3 {
            stream.to_utc(
                r#"{"id":"a","cf_when":"2024-03-01T12:00:00+02:00","at":"2024-13-01T12:00:00+02:00"}"#,
                |w| warnings.push(w),
            );
        }
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("orders: field at"), "{warnings:?}");
    }
}

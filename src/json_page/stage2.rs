//! Stage 2: check the grammar over stage 1's token positions.
//!
//! Tokens are the positions of structural characters, opening quotes and the
//! first bytes of numbers and literals, except that the value (or key) right
//! after a `,` or `:` is not a token: it is found by skipping whitespace after
//! the separator. A string is never more than one token (its contents were
//! checked by stage 1), and the token after a value tells how the value ends.
//! Nesting is tracked in a fixed array, never by recursion.

use std::borrow::Cow;

use super::stage1::{BUF_LEN, Path, Scanner};
use super::{MAX_DEPTH, PageSplit, RawRecord, SplitError};

/// Bytes that may continue a number or literal: everything except whitespace,
/// structural characters and quotes (these end a token, anything else is part
/// of it and must be checked).
const CONTINUES_SCALAR: [bool; 256] = {
    let mut t = [true; 256];
    let ends = b" \t\n\r{}[],:\"";
    let mut i = 0;
    while i < ends.len() {
        t[ends[i] as usize] = false;
        i += 1;
    }
    t
};

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// The fields of the page object that are read; all others are skipped.
enum Field {
    Data,
    HasMore,
    NextPageToken,
    Other,
}

/// Pulls tokens from a [`Scanner`] and checks them.
pub(crate) struct Walker<'a> {
    text: &'a str,
    body: &'a [u8],
    scanner: Scanner<'a>,
    buf: Box<[u32; BUF_LEN]>,
    /// Tokens in `buf[..len]`, the next one at `buf[next]`.
    len: usize,
    next: usize,
}

impl<'a> Walker<'a> {
    pub(crate) fn new(text: &'a str, path: Path) -> Self {
        let body = text.as_bytes();
        Walker {
            text,
            body,
            scanner: Scanner::new(body, path),
            buf: Box::new([0; BUF_LEN]),
            len: 0,
            next: 0,
        }
    }

    /// The error stage 1 stopped at, if any.
    pub(crate) fn stage1_error(&mut self) -> Option<SplitError> {
        self.scanner.error.take()
    }

    /// The position of the next token; the body length once tokens run out.
    #[inline(always)]
    fn token(&mut self) -> usize {
        if self.next == self.len {
            self.refill();
        }
        // `next < len <= BUF_LEN`: the modulo only spares the bounds check.
        let p = self.buf[self.next % BUF_LEN];
        self.next += 1;
        p as usize
    }

    #[inline(never)]
    fn refill(&mut self) {
        self.next = 0;
        self.len = self.scanner.fill(&mut self.buf);
        if self.len == 0 {
            // Past the end, every call yields the end-of-input position.
            self.buf[0] = self.body.len() as u32;
            self.len = 1;
        }
    }

    /// The byte at a token position (0 at the end of input, which no arm accepts).
    #[inline(always)]
    fn byte(&self, p: usize) -> u8 {
        self.body.get(p).copied().unwrap_or(0)
    }

    /// The error for an unexpected token at `p`.
    #[cold]
    fn unexpected(&self, p: usize, what: &'static str) -> SplitError {
        if p >= self.body.len() {
            SplitError::Syntax {
                what: "unexpected end of input",
                at: self.body.len(),
            }
        } else {
            SplitError::Syntax { what, at: p }
        }
    }

    /// The first non-whitespace position after the separator at `p` (the body
    /// length if none).
    #[inline(always)]
    fn after(&self, mut p: usize) -> usize {
        p += 1;
        while self.body.get(p).is_some_and(|&b| is_ws(b)) {
            p += 1;
        }
        p
    }

    /// Reads the `:` after a key and returns the position of the value after it.
    #[inline(always)]
    fn colon(&mut self) -> Result<usize, SplitError> {
        let p = self.token();
        if self.byte(p) == b':' {
            Ok(self.after(p))
        } else {
            Err(self.unexpected(p, "expected `:`"))
        }
    }

    /// Checks the whole body: the page object, its fields and the end of input.
    pub(crate) fn page(&mut self) -> Result<PageSplit<'a>, SplitError> {
        let p = self.token();
        if self.byte(p) != b'{' {
            return Err(self.unexpected(p, "expected the page object `{`"));
        }
        // `Some(None)` is a field that was present with `null`, so a second
        // occurrence is still a duplicate, as with serde.
        let mut records = None;
        let mut has_more: Option<Option<bool>> = None;
        let mut next_page_token: Option<Option<String>> = None;
        let mut p = self.token();
        if self.byte(p) != b'}' {
            loop {
                if self.byte(p) != b'"' {
                    return Err(self.unexpected(p, "expected a field name"));
                }
                let (key, _) = decode_string(self.text, p)?;
                let field = match &*key {
                    "data" => Field::Data,
                    "has_more" => Field::HasMore,
                    "next_page_token" => Field::NextPageToken,
                    _ => Field::Other,
                };
                let duplicate = |field| Err(SplitError::DuplicateField { field, at: p });
                let v = self.colon()?;
                match field {
                    Field::Data if records.is_some() => return duplicate("data"),
                    Field::Data => records = Some(self.data(v)?),
                    Field::HasMore if has_more.is_some() => return duplicate("has_more"),
                    Field::HasMore => has_more = Some(self.has_more(v)?),
                    Field::NextPageToken if next_page_token.is_some() => {
                        return duplicate("next_page_token");
                    }
                    Field::NextPageToken => next_page_token = Some(self.next_page_token(v)?),
                    Field::Other => self.skip_value(v)?,
                }
                let q = self.token();
                match self.byte(q) {
                    b',' => p = self.after(q),
                    b'}' => break,
                    _ => return Err(self.unexpected(q, "expected `,` or `}`")),
                }
            }
        }
        let end = self.token();
        if end < self.body.len() {
            return Err(SplitError::TrailingCharacters { at: end });
        }
        Ok(PageSplit {
            records: records.ok_or(SplitError::MissingField("data"))?,
            has_more: has_more.flatten(),
            next_page_token: next_page_token.flatten(),
            // Stage 1 has scanned the whole body: stage 2 met its end.
            may_hold_offsets: self.scanner.may_hold_offsets(),
        })
    }

    /// The `data` array, whose first token is at `p`: returns each element's text.
    fn data(&mut self, p: usize) -> Result<Vec<RawRecord<'a>>, SplitError> {
        if self.byte(p) != b'[' {
            return Err(SplitError::InvalidType {
                field: "data",
                expected: "an array",
                at: p,
            });
        }
        let mut records = Vec::new();
        let mut start = self.token();
        if self.byte(start) == b']' {
            return Ok(records);
        }
        loop {
            self.skip_value(start).map_err(|e| match e {
                SplitError::TooDeep { at, .. } => SplitError::TooDeep {
                    record: Some(records.len() + 1),
                    at,
                },
                e => e,
            })?;
            // The record ends before the `,` or `]` that follows it, less whitespace.
            let q = self.token();
            let c = self.byte(q);
            if c != b',' && c != b']' {
                return Err(self.unexpected(q, "expected `,` or `]`"));
            }
            let mut end = q;
            while is_ws(self.body[end - 1]) {
                end -= 1;
            }
            // Both ends are next to ASCII bytes, so they are char boundaries.
            let record = self.text.get(start..end).ok_or(SplitError::Syntax {
                what: "internal error",
                at: start,
            })?;
            records.push(RawRecord(record));
            if c == b']' {
                return Ok(records);
            }
            start = self.after(q);
        }
    }

    fn has_more(&mut self, p: usize) -> Result<Option<bool>, SplitError> {
        let value = match self.byte(p) {
            b't' => Some(true),
            b'f' => Some(false),
            b'n' => None,
            _ => {
                return Err(SplitError::InvalidType {
                    field: "has_more",
                    expected: "a boolean or null",
                    at: p,
                });
            }
        };
        self.literal(p)?;
        Ok(value)
    }

    fn next_page_token(&mut self, p: usize) -> Result<Option<String>, SplitError> {
        match self.byte(p) {
            b'"' => Ok(Some(decode_string(self.text, p)?.0.into_owned())),
            b'n' => self.literal(p).map(|()| None),
            _ => Err(SplitError::InvalidType {
                field: "next_page_token",
                expected: "a string or null",
                at: p,
            }),
        }
    }

    /// Checks one complete value starting at `p`, consuming its tokens.
    /// Containers nest at most [`MAX_DEPTH`] levels.
    ///
    /// This is the hot loop, written for the branch predictor and the
    /// registers: the token cursor and the kind of the innermost container
    /// live in locals, the stack is a bit set.
    fn skip_value(&mut self, mut p: usize) -> Result<(), SplitError> {
        let body = self.body;
        let byte = |p: usize| body.get(p).copied().unwrap_or(0);
        let (mut next, mut len) = (self.next, self.len);
        macro_rules! token {
            () => {{
                if next == len {
                    self.refill();
                    (next, len) = (0, self.len);
                }
                let p = self.buf[next % BUF_LEN];
                next += 1;
                p as usize
            }};
        }
        macro_rules! fail {
            ($p:expr, $what:expr) => {{
                self.next = next;
                return Err(self.unexpected($p, $what));
            }};
        }
        // Bit d of `objects`: the container at depth d is an object.
        let mut objects = [0u64; MAX_DEPTH / 64 + 1];
        let mut depth = 0;
        let mut in_object = false;
        'value: loop {
            // `p` starts a value.
            let c = byte(p);
            if c == b'"' {
                // Checked by stage 1.
            } else if c == b'{' || c == b'[' {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(SplitError::TooDeep {
                        record: None,
                        at: p,
                    });
                }
                in_object = c == b'{';
                objects[depth / 64] =
                    objects[depth / 64] & !(1 << (depth % 64)) | (in_object as u64) << (depth % 64);
                let k = token!();
                let close = if in_object { b'}' } else { b']' };
                if byte(k) != close {
                    if !in_object {
                        p = k;
                        continue 'value;
                    }
                    if byte(k) != b'"' {
                        fail!(k, "expected a key or `}`");
                    }
                    let colon = token!();
                    if byte(colon) != b':' {
                        fail!(colon, "expected `:`");
                    }
                    p = self.after(colon);
                    continue 'value;
                }
                depth -= 1;
                in_object = objects[depth / 64] >> (depth % 64) & 1 == 1;
            } else if !scalar(body, p) {
                let what = match c {
                    b'-' | b'0'..=b'9' => "invalid number",
                    b't' | b'f' | b'n' => "invalid literal",
                    _ => "expected a value",
                };
                fail!(p, what);
            }
            // A value just ended: close containers until one continues.
            loop {
                if depth == 0 {
                    self.next = next;
                    return Ok(());
                }
                let q = token!();
                let c = byte(q);
                if c == b',' {
                    p = self.after(q);
                    if in_object {
                        // The key follows a separator, so it is not a token; its `:` is.
                        if byte(p) != b'"' {
                            fail!(p, "expected a key");
                        }
                        let colon = token!();
                        if byte(colon) != b':' {
                            fail!(colon, "expected `:`");
                        }
                        p = self.after(colon);
                    }
                    continue 'value;
                }
                if c != if in_object { b'}' } else { b']' } {
                    fail!(
                        q,
                        if in_object {
                            "expected `,` or `}`"
                        } else {
                            "expected `,` or `]`"
                        }
                    );
                }
                depth -= 1;
                in_object = objects[depth / 64] >> (depth % 64) & 1 == 1;
            }
        }
    }

    /// Checks `true`, `false` or `null` at `p`.
    fn literal(&self, p: usize) -> Result<(), SplitError> {
        if matches!(self.byte(p), b't' | b'f' | b'n') && scalar(self.body, p) {
            Ok(())
        } else {
            Err(SplitError::Syntax {
                what: "invalid literal",
                at: p,
            })
        }
    }
}

/// Whether a number or literal starts at `p` and ends where its run of
/// non-delimiter bytes ends.
///
/// The common cases (a literal, or a number of up to 7 bytes without an
/// exponent followed by a delimiter) are decided on one 8-byte word without
/// data-dependent branches: mispredicted digit loops used to dominate stage 2.
#[inline(always)]
fn scalar(body: &[u8], p: usize) -> bool {
    let Some(word) = body.get(p..p + 8) else {
        return scalar_slow(body, p);
    };
    let x = u64::from_le_bytes(word.try_into().unwrap());
    let byte = |i: u32| (x >> (8 * i)) as u8;
    let ends = |i: u32| !CONTINUES_SCALAR[byte(i) as usize];
    match x as u8 {
        b't' => x as u32 == u32::from_le_bytes(*b"true") && ends(4),
        b'n' => x as u32 == u32::from_le_bytes(*b"null") && ends(4),
        b'f' => x & 0xFF_FFFF_FFFF == u64::from_le_bytes(*b"false\0\0\0") && ends(5),
        _ => {
            const ONES: u64 = 0x0101_0101_0101_0101;
            const HIGH: u64 = ONES * 0x80;
            // XOR maps '0'..='9' (and only them) to 0..=9; 0x80 marks each other byte.
            let t = x ^ (ONES * b'0' as u64);
            let non_digit = ((t | HIGH).wrapping_sub(ONES * 10) | t) & HIGH;
            // Index of the first non-digit at or after byte i (8 or more if none).
            let digits_end = |i: u32| {
                i + (non_digit.checked_shr(8 * i).unwrap_or(0).trailing_zeros() / 8).min(8 - i)
            };
            let int_start = (byte(0) == b'-') as u32;
            let int_end = digits_end(int_start);
            if int_end >= 8 {
                return scalar_slow(body, p); // long number
            }
            let dot = byte(int_end) == b'.';
            let frac_end = digits_end(int_end + 1);
            let end = if dot { frac_end } else { int_end };
            if end >= 8 || byte(end) | 0x20 == b'e' {
                return scalar_slow(body, p); // long number or exponent
            }
            let has_int = int_end > int_start;
            let leading_zero = byte(int_start) == b'0' && int_end > int_start + 1;
            let has_frac = !dot || frac_end > int_end + 1;
            has_int & !leading_zero & has_frac & ends(end)
        }
    }
}

/// [`scalar`] one byte at a time, for the cases it leaves out.
#[cold]
fn scalar_slow(b: &[u8], p: usize) -> bool {
    let digits = |mut i: usize| {
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        i
    };
    let Some(&first) = b.get(p) else { return false };
    let word: &[u8] = match first {
        b't' => b"true",
        b'f' => b"false",
        b'n' => b"null",
        _ => b"",
    };
    let mut i = p;
    if !word.is_empty() {
        if b.get(p..p + word.len()) != Some(word) {
            return false;
        }
        i += word.len();
    } else {
        i += (first == b'-') as usize;
        i = match b.get(i) {
            Some(b'0') => i + 1,
            Some(b'1'..=b'9') => digits(i + 1),
            _ => return false,
        };
        if b.get(i) == Some(&b'.') {
            let j = digits(i + 1);
            if j == i + 1 {
                return false;
            }
            i = j;
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1 + matches!(b.get(i + 1), Some(b'+' | b'-')) as usize;
            let j = digits(i);
            if j == i {
                return false;
            }
            i = j;
        }
    }
    // The number must end where its run of non-delimiter bytes ends.
    !b.get(i).is_some_and(|&c| CONTINUES_SCALAR[c as usize])
}

/// Decodes the string whose opening quote is at `p`, as serde_json does for a
/// `String` or a field name: control bytes are refused, escapes must be valid
/// and a `\u` surrogate must be a high one followed by `\u` and a low one.
/// Returns the text and the position after the closing quote.
///
/// Does not rely on stage 1: the string may reach past the tokens scanned so far.
pub(crate) fn decode_string(text: &str, p: usize) -> Result<(Cow<'_, str>, usize), SplitError> {
    let b = text.as_bytes();
    let mut out = String::new();
    let mut run = p + 1; // start of the bytes not yet copied into `out`
    let mut i = run;
    loop {
        match b.get(i) {
            None => {
                return Err(SplitError::Syntax {
                    what: "unterminated string",
                    at: b.len(),
                });
            }
            Some(b'"') => {
                let s = if out.is_empty() && run == p + 1 {
                    Cow::Borrowed(&text[run..i])
                } else {
                    out.push_str(&text[run..i]);
                    Cow::Owned(out)
                };
                return Ok((s, i + 1));
            }
            Some(b'\\') => {
                out.push_str(&text[run..i]);
                let bad = SplitError::Syntax {
                    what: "invalid escape",
                    at: i,
                };
                let c = match b.get(i + 1) {
                    Some(b'"') => '"',
                    Some(b'\\') => '\\',
                    Some(b'/') => '/',
                    Some(b'b') => '\u{8}',
                    Some(b'f') => '\u{c}',
                    Some(b'n') => '\n',
                    Some(b'r') => '\r',
                    Some(b't') => '\t',
                    Some(b'u') => {
                        let hi = hex4(b, i + 2).ok_or(bad.clone())?;
                        if !(0xD800..0xDC00).contains(&hi) {
                            // Not a surrogate (then it is a char), or a lone low surrogate.
                            i += 4;
                            char::from_u32(hi).ok_or(bad)?
                        } else {
                            // A high surrogate must be followed by `\u` and a low one.
                            let lo = (b.get(i + 6..i + 8) == Some(b"\\u"))
                                .then(|| hex4(b, i + 8))
                                .flatten();
                            match lo {
                                Some(lo @ 0xDC00..0xE000) => {
                                    i += 10;
                                    char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                                        .ok_or(bad)?
                                }
                                _ => {
                                    return Err(SplitError::Syntax {
                                        what: "unpaired surrogate in escape",
                                        at: i,
                                    });
                                }
                            }
                        }
                    }
                    _ => return Err(bad),
                };
                out.push(c);
                i += 2;
                run = i;
            }
            Some(&c) if c < 0x20 => {
                return Err(SplitError::Syntax {
                    what: "control character in string",
                    at: i,
                });
            }
            Some(_) => i += 1,
        }
    }
}

/// The value of four hex digits at `b[i..i + 4]`.
fn hex4(b: &[u8], i: usize) -> Option<u32> {
    let digits = std::str::from_utf8(b.get(i..i + 4)?).ok()?;
    // from_str_radix would accept a leading `+`.
    digits
        .bytes()
        .all(|c| c.is_ascii_hexdigit())
        .then(|| u32::from_str_radix(digits, 16).ok())?
}

//! Scanning raw JSON text that serde_json already validated: find where a
//! string or a value ends without building a tree. Shared by the record fast
//! paths (the key reader and the date-time rewrite).

/// A string's contents start at `start`; `end` is one past its closing quote.
pub struct Scanned {
    pub start: usize,
    pub end: usize,
    /// Whether the string holds an escape (its text is not its value).
    pub escaped: bool,
}

/// Scans the string whose opening quote is at `at`.
pub fn scan_string(bytes: &[u8], at: usize) -> Option<Scanned> {
    if bytes.get(at) != Some(&b'"') {
        return None;
    }
    let start = at + 1;
    let mut i = start;
    let mut escaped = false;
    loop {
        i += memchr::memchr2(b'"', b'\\', bytes.get(i..)?)?;
        if bytes[i] == b'"' {
            return Some(Scanned {
                start,
                end: i + 1,
                escaped,
            });
        }
        escaped = true;
        i += 2;
    }
}

/// The position after the value that starts at `at`.
pub fn skip_value(bytes: &[u8], at: usize) -> Option<usize> {
    let (open, close) = match *bytes.get(at)? {
        b'"' => return Some(scan_string(bytes, at)?.end),
        b'{' => (b'{', b'}'),
        b'[' => (b'[', b']'),
        _ => {
            let rest = &bytes[at..];
            let end = rest
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']') || b.is_ascii_whitespace())
                .unwrap_or(rest.len());
            return Some(at + end);
        }
    };
    // The JSON is valid, so brackets of the other kind inside are balanced
    // on their own: only this kind and strings need tracking.
    let mut depth = 0usize;
    let mut i = at;
    loop {
        i += memchr::memchr3(b'"', open, close, bytes.get(i..)?)?;
        match bytes[i] {
            b'"' => {
                i = scan_string(bytes, i)?.end;
                continue;
            }
            b if b == open => depth += 1,
            _ => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
        }
        i += 1;
    }
}

/// Whether the positions `at` (ascending) all lie at the top level of
/// `bytes`, one JSON object: scanning from the first position to the end, no
/// bracket closes before the object's own final `}`, and each later position
/// (a string's opening quote) is reached at the depth of the first.
pub fn at_top_level(bytes: &[u8], at: impl IntoIterator<Item = usize>) -> bool {
    let mut at = at.into_iter().peekable();
    let (Some(first), Some(last)) = (at.next(), bytes.len().checked_sub(1)) else {
        return false;
    };
    let mut depth = 0usize;
    let mut i = first;
    while i < last {
        if at.peek() == Some(&i) {
            if depth != 0 {
                return false;
            }
            at.next();
        }
        match bytes[i] {
            b'"' => match scan_string(bytes, i) {
                Some(string) => {
                    i = string.end;
                    continue;
                }
                None => return false,
            },
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                if depth == 0 {
                    return false;
                }
                depth -= 1;
            }
            _ => {}
        }
        i += 1;
    }
    at.next().is_none() && bytes[last] == b'}' && depth == 0
}

/// The position of the first byte at or after `at` that is not white space.
pub fn skip_whitespace(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at).is_some_and(u8::is_ascii_whitespace) {
        at += 1;
    }
    at
}

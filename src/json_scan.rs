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
    let mut at = at.into_iter();
    let (Some(first), Some(last)) = (at.next(), bytes.len().checked_sub(1)) else {
        return false;
    };
    // Later positions open strings, so only a quote can be the next one.
    let mut next = at.next();
    let mut depth = 0usize;
    let mut i = first;
    while i < last {
        match bytes[i] {
            b'"' => {
                if next == Some(i) {
                    if depth != 0 {
                        return false;
                    }
                    next = at.next();
                }
                match scan_string(bytes, i) {
                    Some(string) => {
                        i = string.end;
                        continue;
                    }
                    None => return false,
                }
            }
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
    next.is_none() && bytes[last] == b'}' && depth == 0
}

/// Whether no bracket of any kind, even inside a string, lies from `from`
/// to the object's final `}`. Then a string that opens at `from` (with a
/// quote that is a real one, which the caller knows from what follows it)
/// is in the container that the final `}` closes: the top-level object. The
/// quick answer of [`at_top_level`] for records whose nested values come
/// before it; `false` only means "scan".
pub fn flat_to_end(bytes: &[u8], from: usize) -> bool {
    let Some((&b'}', body)) = bytes.split_last() else {
        return false;
    };
    let Some(tail) = body.get(from..) else {
        return false;
    };
    !tail.iter().fold(false, |any, &b| any | is_bracket(b))
}

/// `{`, `}`, `[` or `]`: with bit 5 set, `[` and `]` become `{` and `}`,
/// and no other byte does. Branch-free, so that a fold over a record's
/// tail compiles to one vectorized pass (two memchr passes cost 3% of a
/// plain read).
fn is_bracket(b: u8) -> bool {
    let folded = b | 0x20;
    (folded == b'{') | (folded == b'}')
}

/// The position of the first byte at or after `at` that is not white space.
pub fn skip_whitespace(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at).is_some_and(u8::is_ascii_whitespace) {
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tail_without_brackets_is_flat_to_the_end() {
        let record = br#"{"a":{"b":[1]},"at":"x","n":null}"#;
        let at = record.windows(4).position(|w| w == br#""at""#).unwrap();
        assert!(flat_to_end(record, at));
        assert!(at_top_level(record, [at]));
    }

    #[test]
    fn any_bracket_after_the_position_even_in_a_string_means_scan() {
        for record in [
            &br#"{"at":"x","b":{"c":1}}"#[..],
            br#"{"at":"x","b":[1]}"#,
            br#"{"at":"x","b":"}"}"#,
        ] {
            assert!(
                !flat_to_end(record, 1),
                "{}",
                String::from_utf8_lossy(record)
            );
        }
        // The scan then tells the nested case from the bracket in a string.
        assert!(at_top_level(br#"{"at":"x","b":"}"}"#, [1]));
        assert!(!at_top_level(br#"{"b":{"at":"x"},"c":1}"#, [6]));
    }

    #[test]
    fn the_bracket_fold_matches_the_four_brackets_and_nothing_else() {
        for b in 0..=u8::MAX {
            assert_eq!(is_bracket(b), b"{}[]".contains(&b), "byte {b:#04x}");
        }
    }

    #[test]
    fn only_an_object_is_flat() {
        assert!(!flat_to_end(br#"["at","x"]"#, 1));
        assert!(!flat_to_end(b"", 0));
        assert!(!flat_to_end(b"}", 5));
    }
}

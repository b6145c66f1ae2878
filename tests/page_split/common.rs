//! Shared test helpers: the serde_json reference, seed bodies and a mutator.
#![allow(dead_code)]

use source_ecommerce::json_page::{PageSplit, Path, SplitError, split_page_with};

/// The reference: what the connector used before.
#[derive(serde::Deserialize)]
struct PageBody<'a> {
    #[serde(borrow)]
    data: Vec<&'a serde_json::value::RawValue>,
    #[serde(default)]
    next_page_token: Option<String>,
    #[serde(default)]
    has_more: Option<bool>,
}

/// A page as plain owned values, for comparisons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub records: Vec<String>,
    pub has_more: Option<bool>,
    pub next_page_token: Option<String>,
}

impl From<PageSplit<'_>> for Page {
    fn from(p: PageSplit<'_>) -> Self {
        Page {
            records: p.records.iter().map(|r| r.get().to_string()).collect(),
            has_more: p.has_more,
            next_page_token: p.next_page_token,
        }
    }
}

pub fn serde(body: &[u8]) -> Result<Page, String> {
    serde_json::from_slice::<PageBody>(body)
        .map(|p| Page {
            records: p.data.iter().map(|r| r.get().to_string()).collect(),
            has_more: p.has_more,
            next_page_token: p.next_page_token,
        })
        .map_err(|e| e.to_string())
}

pub fn ours(body: &[u8], path: Path) -> Result<Page, SplitError> {
    split_page_with(body, path).map(Page::from)
}

/// How the two parsers may legitimately disagree.
#[derive(Debug, PartialEq, Eq)]
pub enum Agreement {
    Same,
    /// serde accepted invalid UTF-8 that sits inside an ignored unknown field.
    Utf8InIgnoredField,
    /// serde accepted a struct written as a JSON array.
    TopLevelArray,
}

/// Compares our result with serde's on `body`, panicking on any difference
/// that is not one of the documented deviations.
pub fn check(body: &[u8], path: Path) -> Agreement {
    let theirs = serde(body);
    let mine = ours(body, path);
    match (&theirs, &mine) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b, "different results for {}", show(body));
            Agreement::Same
        }
        (Err(_), Err(_)) => Agreement::Same,
        (Ok(page), Err(SplitError::InvalidUtf8 { .. })) => {
            // serde skips UTF-8 checks only in values it ignores. Replacing the
            // bad bytes (which must then sit inside strings of unknown fields)
            // must give a body we accept, with serde's result.
            let repaired = String::from_utf8_lossy(body).into_owned();
            assert_ne!(repaired.as_bytes(), body, "{}", show(body));
            assert_eq!(
                ours(repaired.as_bytes(), path).as_ref(),
                Ok(page),
                "{}",
                show(body)
            );
            Agreement::Utf8InIgnoredField
        }
        (Ok(_), Err(_)) if body.iter().find(|b| !b" \t\n\r".contains(b)) == Some(&b'[') => {
            Agreement::TopLevelArray
        }
        _ => panic!(
            "serde: {theirs:?}\nours ({path:?}): {mine:?}\nbody: {}",
            show(body)
        ),
    }
}

/// The body as an escaped string (test inputs hold no personal data).
pub fn show(body: &[u8]) -> String {
    let s: String = body.escape_ascii().to_string();
    if s.len() > 400 {
        format!("{}... ({} bytes)", &s[..400], body.len())
    } else {
        s
    }
}

/// The first records of a page of sandbox orders
/// (`tests/fixtures/orders_page.json`) cut at a record boundary and closed.
pub fn page_prefix(max_len: usize) -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/orders_page.json"
    );
    match std::fs::read(path) {
        Ok(page) => {
            // Cut after the last record (a `}` back at depth 2) that ends within `max_len`.
            let (mut cut, mut depth, mut in_string, mut escaped) = (9, 0, false, false);
            for (i, &b) in page.iter().enumerate().take(max_len) {
                match (in_string, escaped, b) {
                    (true, true, _) => escaped = false,
                    (true, false, b'\\') => escaped = true,
                    (true, false, b'"') | (false, _, b'"') => in_string = !in_string,
                    (false, _, b'{' | b'[') => depth += 1,
                    (false, _, b'}' | b']') => {
                        depth -= 1;
                        if depth == 2 {
                            cut = i + 1;
                        }
                    }
                    _ => {}
                }
            }
            let mut body = page[..cut.max(9)].to_vec();
            body.extend_from_slice(
                b"],\"page\":3,\"has_more\":true,\"next_page_token\":\"abc\\u0041\"}",
            );
            body
        }
        Err(e) => panic!("{path}: {e}"),
    }
}

/// Hand-written seeds covering every token type, escapes, whitespace, unknown
/// fields and nesting, plus the start of the sample page.
pub fn seeds() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = [
        r#"{"data":[]}"#,
        r#"{"data":[{"a":1}],"has_more":true}"#,
        r#"{"data":[1,-0.5e+3,"s",true,false,null,[],{}],"next_page_token":"abc","has_more":false}"#,
        r#"{"data":[{"k\"ey":"v\\al\/\b\f\n\r\t\u00e9\uD83D\uDE00"}],"next_page_token":"t\u0041\n\ud83d\ude00"}"#,
        " \n{ \"data\" : [ { \"a\" : [ 1 , 2 ] } , \"x\" ] ,\t\"page\": 3 ,\r\n \"has_more\" : null } \n",
        r#"{"meta":{"a":[1,{"b":null}],"c":"d"},"data":[[[]],{"x":{"y":{"z":[0]}}}],"next_page_token":null}"#,
        r#"{"d\u0061ta":[1],"has\u005fmore":true,"next_page_toke\u006e":"x"}"#,
        r#"{"data":[0,-0,1.5,1e5,1E-5,-1.0e+10,123456789012345678901234567890,0.000001,2E+00]}"#,
        r#"{"data":["\ud800","\udc00x","\\u","a\\\"b"],"x":"\ud800"}"#,
        r#"{"x":[],"data":[{"":""}],"y":{},"has_more":false,"z":"é€😀"}"#,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    seeds.push(page_prefix(3000));
    seeds
}

/// Byte strings that tend to turn valid JSON into almost-valid JSON.
pub const FRAGMENTS: &[&[u8]] = &[
    b"\"",
    b"\\",
    b",",
    b":",
    b"{",
    b"}",
    b"[",
    b"]",
    b"0",
    b"1",
    b"9",
    b"01",
    b"-",
    b"1.",
    b".5",
    b"1e",
    b"e5",
    b"E",
    b"+",
    b"\x00",
    b"\x1f",
    b"\x7f",
    b"\xff",
    b"\xc3",
    b"\xe2\x82",
    b"\xf0\x9f\x98",
    b"\xed\xa0\x80",
    b"\\u12",
    b"\\ud800",
    b"\\udc00",
    b"\\ud800\\udc00",
    b"\\x",
    b"\\/",
    b" ",
    b"\t",
    b"\n",
    b"\r",
    b"\x0b",
    b"\x0c",
    b"\xc2\xa0",
    b"nul",
    b"tru",
    b"null",
    b"true",
    b"false",
    b"NaN",
    b"Infinity",
    b"+1",
    b",]",
    b",}",
    b"\xef\xbb\xbf",
    b"\"data\"",
    b"\"has_more\"",
    b"\"next_page_token\"",
    b"\"x\":",
    b"[]",
    b"{}",
    b"\"\"",
];

/// A small deterministic generator (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Applies one to three random edits to `body`.
pub fn mutate(rng: &mut Rng, body: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(body.len() + 1);
        let fragment = FRAGMENTS[rng.below(FRAGMENTS.len())];
        match rng.below(10) {
            0 | 1 if at < body.len() => {
                body.remove(at);
            }
            2..=4 => body.splice(at..at, fragment.iter().copied()).for_each(drop),
            5..=7 if at < body.len() => body
                .splice(at..at + 1, fragment.iter().copied())
                .for_each(drop),
            8 => body.truncate(at),
            _ if at < body.len() => {
                // Copy a short slice elsewhere: duplicates keys and values.
                let len = 1 + rng.below(12.min(body.len() - at));
                let piece = body[at..at + len].to_vec();
                let to = rng.below(body.len() + 1);
                body.splice(to..to, piece).for_each(drop);
            }
            _ => {}
        }
    }
}

/// `name` from the environment, else `default`.
pub fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

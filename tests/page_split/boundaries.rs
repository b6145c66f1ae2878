//! Interesting bytes placed across 64-byte block boundaries: every offset is
//! reached by padding with whitespace, and each body is checked against
//! serde_json on every path.

use crate::common::*;
use source_ecommerce::json_page::Path;

/// Checks `prefix + pad + middle + suffix` for pads of 0..=130 bytes, in
/// whitespace before the value and in string content inside it.
fn at_every_offset(middle: &str) {
    for pad in 0..=130 {
        let outside = format!("{{\"data\":[{}{middle}],\"n\":1}}", " ".repeat(pad));
        let inside = format!("{{\"data\":[\"{}\",{middle}]}}", "x".repeat(pad));
        for body in [outside, inside] {
            for path in Path::available() {
                check(body.as_bytes(), path);
            }
        }
    }
}

#[test]
fn strings_with_escapes_straddle_blocks() {
    at_every_offset(r#""ab\"c\\d\/\b\f\n\r\t\u00e9\uD83D\uDE00""#);
    at_every_offset(r#""\\""#);
    at_every_offset(r#""\"""#);
}

#[test]
fn invalid_escapes_straddle_blocks() {
    at_every_offset(r#""\u00g9""#);
    at_every_offset(r#""\u12""#);
    at_every_offset(r#""\x""#);
    at_every_offset("\"\\\"");
}

#[test]
fn backslash_runs_of_every_length_before_a_quote() {
    for n in 1..=70 {
        let run = "\\".repeat(n);
        // Even runs end the string at the quote; odd runs escape it.
        let closed = if n % 2 == 0 {
            format!("\"{run}\"")
        } else {
            format!("\"{run}\"\"")
        };
        at_every_offset(&closed);
        // The same run without the extra quote for odd lengths is unterminated.
        at_every_offset(&format!("\"{run}\""));
    }
}

#[test]
fn numbers_straddle_blocks() {
    for number in [
        "0",
        "-0",
        "12",
        "-12.5e+3",
        "1E-7",
        "123456789.123456789e10",
        "01",
        "1.",
        "-",
        "1e",
        ".5",
        "1.5e+",
    ] {
        at_every_offset(number);
    }
}

#[test]
fn literals_and_structure_straddle_blocks() {
    for value in [
        "true",
        "false",
        "null",
        "tru",
        "nulls",
        "{\"k\":[1,{}]}",
        "[ ]",
        "{ }",
        "[1,]",
    ] {
        at_every_offset(value);
    }
}

#[test]
fn control_characters_straddle_blocks() {
    at_every_offset("\"a\u{1}b\"");
    at_every_offset("\"a\tb\"");
    at_every_offset("\u{1}");
}

#[test]
fn multibyte_utf8_straddles_blocks() {
    at_every_offset("\"é€😀\"");
}

//! `PageSplit::may_hold_offsets`: false exactly when no `,` or `:` inside a
//! string lies three bytes before its closing quote, so that the record
//! path may skip looking for UTC offsets (`±hh:mm"`) in every record.

use crate::common::*;
use source_ecommerce::json_page::{Path, split_page_with};

/// The rule, one byte at a time: a closing quote whose third byte before
/// is a `,` or `:` of the same string.
fn offset_end_in_a_string(body: &[u8]) -> bool {
    let (mut in_string, mut escaped, mut start) = (false, false, 0);
    for (i, &b) in body.iter().enumerate() {
        match (in_string, escaped, b) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') => {
                in_string = false;
                if i >= start + 4 && matches!(body[i - 3], b',' | b':') {
                    return true;
                }
            }
            (false, _, b'"') => {
                in_string = true;
                start = i;
            }
            _ => {}
        }
    }
    false
}

fn flag(body: &[u8], path: Path) -> Option<bool> {
    split_page_with(body, path).ok().map(|p| p.may_hold_offsets)
}

fn assert_flag_follows_the_rule(body: &[u8]) {
    for path in Path::available() {
        if let Some(flag) = flag(body, path) {
            assert_eq!(
                flag,
                offset_end_in_a_string(body),
                "{path:?} on {}",
                show(body)
            );
        }
    }
}

#[test]
fn a_page_of_date_times_in_utc_holds_no_offsets() {
    let body = br#"{"data":[{"id":"o1","quantity":3,"at":"2024-03-01T10:00:00Z","n":null}],"has_more":false}"#;
    for path in Path::available() {
        assert_eq!(flag(body, path), Some(false), "{path:?}");
    }
}

#[test]
fn an_offset_is_noticed_at_every_alignment() {
    for pad in 0..130 {
        let body = format!(
            r#"{{"data":[{{"id":"{}","at":"2024-03-01T12:00:00+02:00"}}]}}"#,
            "x".repeat(pad)
        );
        for path in Path::available() {
            assert_eq!(flag(body.as_bytes(), path), Some(true), "{path:?}, {pad}");
        }
    }
}

#[test]
fn a_separator_outside_strings_or_an_escaped_quote_is_no_offset_end() {
    for body in [
        &br#"{"data":[{"q":3,"a":"x"}]}"#[..],
        br#"{"data":[{"a":"x:1\"y"}]}"#,
        br#"{"data":[{"a":":"}]}"#,
    ] {
        assert_flag_follows_the_rule(body);
        assert_eq!(flag(body, Path::Scalar), Some(false), "{}", show(body));
    }
}

#[test]
fn the_flag_follows_the_rule_on_seeds_and_mutated_bodies() {
    let seeds = seeds();
    for seed in &seeds {
        assert_flag_follows_the_rule(seed);
    }
    let total = env_count(
        "PAGE_SPLIT_OFFSET_MUTATIONS",
        if cfg!(debug_assertions) {
            20_000
        } else {
            200_000
        },
    );
    let mut rng = Rng(0x0FF5E7);
    for _ in 0..total {
        let mut body = seeds[rng.below(seeds.len())].clone();
        mutate(&mut rng, &mut body);
        // Offsets of both kinds, and near misses, dropped anywhere.
        let piece: &[u8] = [
            &b"\"2024-03-01T12:00:00+02:00\""[..],
            b"\"12:00\"",
            b"\",ab\"",
            b":12,\"",
        ][rng.below(4)];
        let at = rng.below(body.len() + 1);
        body.splice(at..at, piece.iter().copied());
        assert_flag_follows_the_rule(&body);
    }
}

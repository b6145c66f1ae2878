//! Nesting limits, and hostile bracket bombs that must fail fast without
//! overflowing the stack.

use std::time::{Duration, Instant};

use crate::common::serde;
use source_ecommerce::json_page::{MAX_DEPTH, Path, SplitError, split_page, split_page_with};

fn nested_arrays(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

fn nested_objects(depth: usize) -> String {
    format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth))
}

#[test]
fn record_nested_1000_deep_is_accepted() {
    for record in [nested_arrays(MAX_DEPTH), nested_objects(MAX_DEPTH)] {
        let body = format!("{{\"data\":[1,{record}]}}");
        for path in Path::available() {
            let page = split_page_with(body.as_bytes(), path).unwrap();
            let records: Vec<&str> = page.records.iter().map(|r| r.get()).collect();
            assert_eq!(records, ["1", record.as_str()]);
        }
    }
}

#[test]
fn record_nested_1001_deep_is_rejected_with_its_position() {
    for record in [nested_arrays(MAX_DEPTH + 1), nested_objects(MAX_DEPTH + 1)] {
        let body = format!("{{\"data\":[{{}},\"x\",{record}]}}");
        let err = split_page(body.as_bytes()).unwrap_err();
        assert!(
            matches!(
                err,
                SplitError::TooDeep {
                    record: Some(3),
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "record 3 of the page (counting from 1) is nested deeper than 1000 levels"
        );
    }
}

#[test]
fn unknown_field_nested_1001_deep_is_rejected() {
    let body = format!("{{\"data\":[],\"x\":{}}}", nested_arrays(MAX_DEPTH + 1));
    let err = split_page(body.as_bytes()).unwrap_err();
    assert!(
        matches!(err, SplitError::TooDeep { record: None, .. }),
        "{err:?}"
    );
    let ok = format!("{{\"data\":[],\"x\":{}}}", nested_objects(MAX_DEPTH));
    assert!(split_page(ok.as_bytes()).is_ok());
}

#[test]
fn depth_limit_is_stricter_than_serde_json() {
    // Documented deviation: serde_json skips values without any depth limit.
    let body = format!("{{\"data\":[{}]}}", nested_arrays(MAX_DEPTH + 1));
    assert!(serde(body.as_bytes()).is_ok());
    assert!(split_page(body.as_bytes()).is_err());
}

/// Runs `f` on a thread with a small stack: recursion on the input depth
/// would overflow it.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(128 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

fn assert_bomb_fails_fast(body: Vec<u8>, record: Option<usize>) {
    for path in Path::available() {
        let body = body.clone();
        let (err, took) = on_small_stack(move || {
            let start = Instant::now();
            let err = split_page_with(&body, path).unwrap_err();
            (err, start.elapsed())
        });
        assert!(
            matches!(err, SplitError::TooDeep { record: r, .. } if r == record),
            "{path:?}: {err:?}"
        );
        assert!(took < Duration::from_secs(2), "{path:?} took {took:?}");
    }
}

#[test]
fn fifty_megabyte_bracket_bomb_in_a_record_fails_fast() {
    let mut body = b"{\"data\":[".to_vec();
    body.resize(50 << 20, b'[');
    assert_bomb_fails_fast(body, Some(1));
}

#[test]
fn fifty_megabyte_bracket_bomb_in_an_unknown_field_fails_fast() {
    let mut body = b"{\"x\":".to_vec();
    body.resize(50 << 20, b'[');
    assert_bomb_fails_fast(body, None);
}

#[test]
fn fifty_megabyte_object_bomb_fails_fast() {
    let mut body = b"{\"data\":[".to_vec();
    while body.len() < 50 << 20 {
        body.extend_from_slice(b"{\"a\":");
    }
    assert_bomb_fails_fast(body, Some(1));
}

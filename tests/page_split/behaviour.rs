//! One behaviour per test.

use crate::common::serde;
use source_ecommerce::json_page::{Path, SplitError, split_page, split_page_with};

fn records(body: &str) -> Vec<&str> {
    split_page(body.as_bytes())
        .unwrap()
        .records
        .into_iter()
        .map(|r| r.get())
        .collect()
}

fn rejects(body: impl AsRef<[u8]>) -> SplitError {
    let body = body.as_ref();
    assert!(serde(body).is_err(), "serde_json accepts {body:?}");
    split_page(body).unwrap_err()
}

#[test]
fn accepts_a_minimal_page() {
    let page = split_page(br#"{"data":[]}"#).unwrap();
    assert!(page.records.is_empty());
    assert_eq!((page.has_more, page.next_page_token), (None, None));
}

#[test]
fn records_are_the_exact_source_text() {
    let body = r#"{"data":[{"b" : [1, 2.50],"a":"\u00e9\n"},"s",-1E+2,null,[]]}"#;
    assert_eq!(
        records(body),
        [
            r#"{"b" : [1, 2.50],"a":"\u00e9\n"}"#,
            r#""s""#,
            "-1E+2",
            "null",
            "[]"
        ]
    );
}

#[test]
fn records_exclude_surrounding_whitespace() {
    assert_eq!(
        records("{\"data\":[ \n{\"a\":1}\t , \r\n2 ]}"),
        ["{\"a\":1}", "2"]
    );
}

#[test]
fn whitespace_around_the_document_is_allowed() {
    assert_eq!(records(" \t\r\n{\"data\":[1]} \n"), ["1"]);
}

#[test]
fn only_space_tab_newline_and_return_are_whitespace() {
    for ws in ["\x0b", "\x0c", "\u{a0}", "\u{2028}", "\u{feff}"] {
        rejects(format!("{{\"data\":[1,{ws}2]}}"));
    }
}

#[test]
fn byte_order_mark_is_rejected() {
    rejects("\u{feff}{\"data\":[]}");
}

#[test]
fn empty_body_is_rejected() {
    assert!(matches!(
        rejects(""),
        SplitError::Syntax {
            what: "unexpected end of input",
            at: 0
        }
    ));
    rejects(" \n ");
}

#[test]
fn trailing_characters_are_rejected_with_their_offset() {
    let err = rejects("{\"data\":[]} x");
    assert_eq!(err.to_string(), "trailing characters at byte 12");
    rejects("{\"data\":[]}{}");
}

#[test]
fn top_level_must_be_an_object() {
    for body in ["[]", "null", "\"data\"", "1"] {
        rejects(body);
    }
}

#[test]
fn top_level_array_form_is_rejected_although_serde_accepts_it() {
    // Documented deviation: serde's derived struct also accepts a sequence.
    let body = br#"[[1,2],"token",true]"#;
    assert!(serde(body).is_ok());
    assert!(split_page(body).is_err());
}

#[test]
fn missing_data_is_rejected() {
    assert_eq!(
        rejects(r#"{"has_more":true}"#).to_string(),
        "missing field `data`"
    );
}

#[test]
fn data_must_be_an_array() {
    for value in ["null", "{}", "\"[]\"", "1"] {
        let err = rejects(format!("{{\"data\":{value}}}"));
        assert!(
            matches!(err, SplitError::InvalidType { field: "data", .. }),
            "{err:?}"
        );
    }
}

#[test]
fn duplicate_known_field_is_rejected() {
    let err = rejects(r#"{"data":[],"has_more":null,"has_more":true}"#);
    assert_eq!(err.to_string(), "duplicate field `has_more` at byte 27");
    rejects(r#"{"data":[],"data":[]}"#);
    rejects(r#"{"next_page_token":null,"data":[],"next_page_token":"a"}"#);
}

#[test]
fn duplicate_unknown_fields_are_allowed() {
    assert_eq!(records(r#"{"x":1,"data":[2],"x":{"y":[]}}"#), ["2"]);
}

#[test]
fn unknown_fields_may_hold_any_value() {
    let body = r#"{"a":{"b":[true,false,null,1.5e3,"\ud800"]},"data":[],"c":[],"d":""}"#;
    assert!(split_page(body.as_bytes()).is_ok());
}

#[test]
fn has_more_reads_true_false_and_null() {
    for (value, expected) in [("true", Some(true)), ("false", Some(false)), ("null", None)] {
        let body = format!("{{\"data\":[],\"has_more\":{value}}}");
        assert_eq!(split_page(body.as_bytes()).unwrap().has_more, expected);
    }
}

#[test]
fn has_more_must_be_a_boolean_or_null() {
    for value in ["\"true\"", "1", "[]", "tru", "True"] {
        rejects(format!("{{\"data\":[],\"has_more\":{value}}}"));
    }
}

#[test]
fn next_page_token_is_unescaped() {
    let page =
        split_page(br#"{"data":[],"next_page_token":"a\"b\\c\/\u00e9\ud83d\ude00\n"}"#).unwrap();
    assert_eq!(page.next_page_token.as_deref(), Some("a\"b\\c/é😀\n"));
}

#[test]
fn next_page_token_null_is_none() {
    assert_eq!(
        split_page(br#"{"data":[],"next_page_token":null}"#)
            .unwrap()
            .next_page_token,
        None
    );
}

#[test]
fn next_page_token_must_be_a_string_or_null() {
    for value in ["1", "true", "[]", "{}"] {
        rejects(format!("{{\"data\":[],\"next_page_token\":{value}}}"));
    }
}

#[test]
fn next_page_token_with_unpaired_surrogate_is_rejected() {
    for token in [
        r#""\ud800""#,
        r#""\udc00""#,
        r#""\ud800\u0041""#,
        r#""\ud800\ud800""#,
        r#""\ud800\n""#,
        r#""\ud800x""#,
    ] {
        rejects(format!("{{\"data\":[],\"next_page_token\":{token}}}"));
    }
}

#[test]
fn unpaired_surrogate_inside_a_record_is_accepted() {
    assert_eq!(
        records(r#"{"data":["\ud800",{"\udc00":"\ud800\ud800"}]}"#).len(),
        2
    );
}

#[test]
fn unpaired_surrogate_in_a_top_level_key_is_rejected() {
    rejects(r#"{"data":[],"\ud800":1}"#);
}

#[test]
fn escaped_keys_are_matched_after_unescaping() {
    let page = split_page(br#"{"d\u0061ta":[1],"has\u005Fmore":true,"next\u005fpage_token":"t"}"#)
        .unwrap();
    let records: Vec<&str> = page.records.iter().map(|r| r.get()).collect();
    assert_eq!(
        (records, page.has_more, page.next_page_token.as_deref()),
        (vec!["1"], Some(true), Some("t"))
    );
    rejects(r#"{"data":[],"d\u0061ta":[]}"#);
}

#[test]
fn control_characters_in_strings_are_rejected() {
    for c in ['\u{0}', '\t', '\n', '\u{1f}'] {
        let err = rejects(format!("{{\"data\":[\"a{c}b\"]}}"));
        assert_eq!(err.to_string(), "control character in string at byte 11");
    }
}

#[test]
fn delete_and_non_ascii_in_strings_are_accepted() {
    assert_eq!(records("{\"data\":[\"\u{7f}é€😀\"]}").len(), 1);
}

#[test]
fn only_json_escapes_are_accepted() {
    for ok in [
        r#"\""#,
        r#"\\"#,
        r#"\/"#,
        r#"\b"#,
        r#"\f"#,
        r#"\n"#,
        r#"\r"#,
        r#"\t"#,
        r#"\u00aF"#,
    ] {
        assert_eq!(
            records(&format!("{{\"data\":[\"{ok}\"]}}")).len(),
            1,
            "{ok}"
        );
    }
    for bad in [
        r#"\x"#,
        r#"\U0041"#,
        r#"\u12"#,
        r#"\u12G4"#,
        r#"\a"#,
        r#"\'"#,
        "\\\u{e9}",
    ] {
        rejects(format!("{{\"data\":[\"{bad}\"]}}"));
    }
}

#[test]
fn numbers_follow_the_json_grammar() {
    for ok in [
        "0",
        "-0",
        "1",
        "-12",
        "0.5",
        "1.25e10",
        "1E+2",
        "1e-0",
        "123456789012345678901234567890",
        "1.0000000001",
    ] {
        assert_eq!(records(&format!("{{\"data\":[{ok}]}}")), [ok]);
    }
    for bad in [
        "01", "-01", "+1", ".5", "1.", "1.e5", "1e", "1e+", "--1", "-", "0x10", "1_000", "NaN",
        "Infinity", "1.5.2", "1e5e5", "2a",
    ] {
        let err = rejects(format!("{{\"data\":[{bad}]}}"));
        assert!(err.to_string().ends_with("at byte 9"), "{bad}: {err}");
    }
}

#[test]
fn literals_must_be_exact() {
    for bad in ["tru", "truee", "nul", "nulll", "fals", "True", "NULL", "t"] {
        rejects(format!("{{\"data\":[{bad}]}}"));
    }
}

#[test]
fn trailing_commas_are_rejected() {
    for body in [
        r#"{"data":[1,]}"#,
        r#"{"data":[{"a":1,}]}"#,
        r#"{"data":[],}"#,
        r#"{"data":[[],]}"#,
    ] {
        rejects(body);
    }
}

#[test]
fn missing_separators_are_rejected() {
    for body in [
        r#"{"data":[1 2]}"#,
        r#"{"data":[{"a" 1}]}"#,
        r#"{"data" []}"#,
        r#"{"data":[{"a":1 "b":2}]}"#,
        r#"{"data":["a""b"]}"#,
    ] {
        rejects(body);
    }
}

#[test]
fn keys_must_be_strings_and_objects_must_pair_them() {
    for record in [
        r#"{1:2}"#,
        r#"{"a"}"#,
        r#"{"a":1,"b"}"#,
        r#"{"a":1:2}"#,
        r#"{"a","b":1}"#,
        r#"{"a":1,2}"#,
        r#"{:1}"#,
        r#"["a":1]"#,
    ] {
        rejects(format!("{{\"data\":[{record}]}}"));
    }
}

#[test]
fn brackets_must_match() {
    for record in ["[}", "{]", "[[]", "[]]", "{\"a\":[}]"] {
        rejects(format!("{{\"data\":[{record}]}}"));
    }
}

#[test]
fn unterminated_string_is_rejected() {
    assert_eq!(
        rejects(r#"{"data":["abc]}"#).to_string(),
        "unterminated string at byte 15"
    );
}

#[test]
fn invalid_utf8_is_rejected_with_its_offset() {
    let err = rejects(b"{\"data\":[\"\xff\"]}");
    assert_eq!(err.to_string(), "invalid UTF-8 at byte 10");
}

#[test]
fn invalid_utf8_in_an_unknown_field_is_rejected_although_serde_accepts_it() {
    // Documented deviation: serde does not check strings it skips.
    let body = b"{\"data\":[],\"x\":\"\xff\"}";
    assert!(serde(body).is_ok());
    assert!(matches!(
        split_page(body),
        Err(SplitError::InvalidUtf8 { at: 16 })
    ));
}

#[test]
fn errors_name_offsets_not_contents() {
    let secret = "jane.doe@example.com";
    for body in [
        format!("{{\"data\":[{{\"email\":\"{secret}\",\"n\":01}}]}}"),
        format!("{{\"data\":[{{\"email\":\"{secret}\x01\"}}]}}"),
        format!("{{\"data\":[{{\"email\":\"{secret}\"}}] {secret}"),
        format!("{{\"data\":[{{\"{secret}\" 1}}]}}"),
    ] {
        let message = rejects(&body).to_string();
        assert!(
            !message.contains("jane") && message.contains("at byte"),
            "{message}"
        );
    }
}

#[test]
fn the_first_error_in_the_body_is_reported() {
    // An invalid number comes before an invalid escape that stage 1 sees first.
    let err = rejects(r#"{"data":[01,"\q"]}"#);
    assert_eq!(err.to_string(), "invalid number at byte 9");
}

#[test]
fn every_path_splits_the_sample_page_like_serde() {
    let body = crate::common::page_prefix(usize::MAX);
    let expected = serde(&body).unwrap();
    assert!(expected.records.len() > 10);
    for path in Path::available() {
        assert_eq!(
            crate::common::ours(&body, path).unwrap(),
            expected,
            "{path:?}"
        );
    }
    assert!(split_page_with(&body, Path::Scalar).is_ok());
}

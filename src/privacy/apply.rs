//! The policy on a record's raw JSON text, on the record fast path.
//!
//! The walk follows the rule tree only: an object with rules is written
//! again member by member (blocked members left out, hashed values
//! replaced), and every value no rule reaches is copied as its bytes, so a
//! record pays for the fields its policy touches, not for the others, and
//! numbers, key order and escapes stay exactly as the API sent them.

use std::borrow::Cow;

use super::policy::{HashSpec, Leaf, Normalize, ObjectRules, Rule, StreamPolicy};
use crate::json_scan::{scan_string, skip_value, skip_whitespace};

/// Why a record could not be walked. Its text is never quoted: it may hold
/// the very values the policy keeps out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotWalkable;

impl StreamPolicy {
    /// Appends `record` (one JSON object, already validated) to `out` with
    /// the policy applied. On [`NotWalkable`] `out` may hold part of it and
    /// must be discarded.
    pub fn apply(&self, record: &str, out: &mut String) -> Result<(), NotWalkable> {
        let walk = Walk {
            json: record,
            bytes: record.as_bytes(),
            policy: self,
        };
        let at = skip_whitespace(walk.bytes, 0);
        if walk.bytes.get(at) != Some(&b'{') {
            return Err(NotWalkable);
        }
        walk.object(at, &self.root, out).ok_or(NotWalkable)?;
        Ok(())
    }
}

struct Walk<'a> {
    json: &'a str,
    bytes: &'a [u8],
    policy: &'a StreamPolicy,
}

impl Walk<'_> {
    /// Writes the object at `at` under `rules`; returns the position after it.
    fn object(&self, at: usize, rules: &ObjectRules, out: &mut String) -> Option<usize> {
        out.push('{');
        let mut first = true;
        let mut at = skip_whitespace(self.bytes, at + 1);
        if self.bytes.get(at) == Some(&b'}') {
            out.push('}');
            return Some(at + 1);
        }
        loop {
            let key = scan_string(self.bytes, at)?;
            let key_text = &self.json[at..key.end];
            // A key written with escapes (`"\u0065mail"`) is still `email`.
            let name: Cow<'_, str> = if key.escaped {
                Cow::Owned(serde_json::from_str(key_text).ok()?)
            } else {
                Cow::Borrowed(&self.json[key.start..key.end - 1])
            };
            at = skip_whitespace(self.bytes, key.end);
            if self.bytes.get(at) != Some(&b':') {
                return None;
            }
            let value = skip_whitespace(self.bytes, at + 1);
            let rule = match rules.rule(&name) {
                Some(rule) => Some(Cow::Borrowed(rule)),
                None => rules
                    .custom_field(&name)
                    .map(|leaf| Cow::Owned(Rule::Leaf(leaf, 0))),
            };
            at = match rule.as_deref() {
                Some(Rule::Leaf(Leaf::Block, _)) => skip_value(self.bytes, value)?,
                rule => {
                    if !std::mem::take(&mut first) {
                        out.push(',');
                    }
                    out.push_str(key_text);
                    out.push(':');
                    match rule {
                        Some(rule) => self.value(value, rule, out)?,
                        None => self.copy(value, out)?,
                    }
                }
            };
            at = skip_whitespace(self.bytes, at);
            match self.bytes.get(at)? {
                b',' => at = skip_whitespace(self.bytes, at + 1),
                b'}' => {
                    out.push('}');
                    return Some(at + 1);
                }
                _ => return None,
            }
        }
    }

    /// Writes the value at `at` under `rule`.
    fn value(&self, at: usize, rule: &Rule, out: &mut String) -> Option<usize> {
        match (rule, self.bytes.get(at)?) {
            (Rule::Leaf(Leaf::Hash(spec), _), _) => {
                let end = skip_value(self.bytes, at)?;
                self.hash(&self.json[at..end], *spec, out)?;
                Some(end)
            }
            // Objects leave blocked members out, and validation refuses
            // blocking the items of an array: a block here would be a bug,
            // and failing beats passing the value on.
            (Rule::Leaf(Leaf::Block, _), _) => None,
            (Rule::Object(rules), b'{') => self.object(at, rules, out),
            (Rule::Items(item), b'[') => self.array(at, item, out),
            // null, or a value of another shape than the schema's: nothing
            // of it is what the rule is about.
            _ => self.copy(at, out),
        }
    }

    fn array(&self, at: usize, item: &Rule, out: &mut String) -> Option<usize> {
        out.push('[');
        let mut at = skip_whitespace(self.bytes, at + 1);
        if self.bytes.get(at) == Some(&b']') {
            out.push(']');
            return Some(at + 1);
        }
        loop {
            at = skip_whitespace(self.bytes, self.value(at, item, out)?);
            match self.bytes.get(at)? {
                b',' => {
                    out.push(',');
                    at = skip_whitespace(self.bytes, at + 1);
                }
                b']' => {
                    out.push(']');
                    return Some(at + 1);
                }
                _ => return None,
            }
        }
    }

    fn copy(&self, at: usize, out: &mut String) -> Option<usize> {
        let end = skip_value(self.bytes, at)?;
        out.push_str(&self.json[at..end]);
        Some(end)
    }

    /// Writes the hash of the value `raw` (its JSON text): `null` stays
    /// `null`; a string is hashed as its text, anything else as its
    /// compact JSON.
    fn hash(&self, raw: &str, spec: HashSpec, out: &mut String) -> Option<()> {
        if raw == "null" {
            out.push_str("null");
            return Some(());
        }
        let key = self.policy.key.as_ref()?;
        let text: Cow<'_, str> = if raw.starts_with('"') {
            let scanned = scan_string(raw.as_bytes(), 0)?;
            if scanned.escaped {
                Cow::Owned(serde_json::from_str::<String>(raw).ok()?)
            } else {
                Cow::Borrowed(&raw[1..raw.len() - 1])
            }
        } else {
            compact(raw)
        };
        let text = match spec.normalize {
            Normalize::None => text,
            Normalize::Email => Cow::Owned(text.trim().to_lowercase()),
        };
        let text = if spec.date_time && self.policy.utc && raw.starts_with('"') {
            match crate::timestamps::utc_form(&text) {
                Some(utc) => Cow::Owned(utc.into_owned()),
                None => text,
            }
        } else {
            text
        };
        out.push('"');
        out.push_str(&key.hash(&text));
        out.push('"');
        Some(())
    }
}

/// `json` without the white space between its tokens.
fn compact(json: &str) -> Cow<'_, str> {
    if !json.bytes().any(|b| b.is_ascii_whitespace()) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
        } else if c.is_ascii_whitespace() {
            continue;
        }
        out.push(c);
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::policy::{FieldPolicies, HashKey, test_entries};
    use super::*;
    use crate::config::{Secret, TimestampMode};

    const KEY: &str = "test-hash-key-0123456789";

    fn policy(stream: &str, entries: Value) -> std::sync::Arc<StreamPolicy> {
        let entries = test_entries(&entries, Some(stream));
        FieldPolicies::compile(&entries, Some(&Secret::new(KEY)), TimestampMode::Utc)
            .unwrap()
            .for_stream(stream)
            .unwrap()
    }

    fn apply(policy: &StreamPolicy, record: &str) -> String {
        let mut out = String::new();
        policy.apply(record, &mut out).unwrap();
        serde_json::from_str::<Value>(&out).expect("the output is JSON");
        out
    }

    fn h(text: &str) -> String {
        HashKey::new(&Secret::new(KEY)).hash(text)
    }

    #[test]
    fn a_blocked_field_is_left_out_wherever_it_stands() {
        let p = policy("customers", json!([{"field": "phone", "action": "block"}]));
        assert_eq!(
            apply(&p, r#"{"phone":"+1 555","id":"c1"}"#),
            r#"{"id":"c1"}"#
        );
        assert_eq!(
            apply(&p, r#"{"id":"c1","phone":"+1 555"}"#),
            r#"{"id":"c1"}"#
        );
        assert_eq!(
            apply(&p, r#"{"id":"c1","phone":"+1 555","x":1}"#),
            r#"{"id":"c1","x":1}"#
        );
        assert_eq!(apply(&p, r#"{"phone":null}"#), "{}");
    }

    #[test]
    fn a_hashed_string_is_the_hmac_of_its_text_and_null_stays_null() {
        let p = policy("customers", json!([{"field": "email", "action": "hash"}]));
        let out = apply(&p, r#"{"id":"c1","email":"Ann@x.com"}"#);
        assert_eq!(
            out,
            format!(r#"{{"id":"c1","email":"{}"}}"#, h("Ann@x.com"))
        );
        assert_eq!(apply(&p, r#"{"email":null}"#), r#"{"email":null}"#);
    }

    #[test]
    fn email_normalization_trims_and_lowercases_before_hashing() {
        let p = policy(
            "customers",
            json!([{"field": "email", "action": "hash", "normalize": "email"}]),
        );
        let a = apply(&p, r#"{"email":" A@X.com "}"#);
        let b = apply(&p, r#"{"email":"a@x.com"}"#);
        assert_eq!(a, b);
        assert_eq!(a, format!(r#"{{"email":"{}"}}"#, h("a@x.com")));
    }

    #[test]
    fn an_escaped_string_is_hashed_as_its_value() {
        let p = policy(
            "customers",
            json!([{"field": "first_name", "action": "hash"}]),
        );
        assert_eq!(
            apply(&p, r#"{"first_name":"Zo\u00eb \"Z\""}"#),
            format!(r#"{{"first_name":"{}"}}"#, h("Zoë \"Z\""))
        );
    }

    #[test]
    fn other_values_are_hashed_as_their_compact_json() {
        let p = policy(
            "orders",
            json!([{"field": "shipping_address", "action": "hash"}, {"field": "total_amount", "action": "hash"}]),
        );
        let out = apply(
            &p,
            r#"{"shipping_address": { "city" : "Köln", "line1": "a b" }, "total_amount": 12.50}"#,
        );
        assert_eq!(
            out,
            format!(
                r#"{{"shipping_address":"{}","total_amount":"{}"}}"#,
                h(r#"{"city":"Köln","line1":"a b"}"#),
                h("12.50")
            )
        );
    }

    #[test]
    fn fields_inside_arrays_of_objects_are_reached() {
        let p = policy(
            "customers",
            json!([{"field": "addresses[].line1", "action": "block"}, {"field": "addresses[].city", "action": "hash"}]),
        );
        let out = apply(
            &p,
            r#"{"id":"c1","addresses":[{"line1":"1 Main St","city":"Oslo","country":"NO"},{"city":null,"line1":"2 High St"},null],"tags":[]}"#,
        );
        assert_eq!(
            out,
            format!(
                r#"{{"id":"c1","addresses":[{{"city":"{}","country":"NO"}},{{"city":null}},null],"tags":[]}}"#,
                h("Oslo")
            )
        );
    }

    #[test]
    fn each_item_of_an_array_may_be_hashed() {
        let p = policy("customers", json!([{"field": "tags[]", "action": "hash"}]));
        assert_eq!(
            apply(&p, r#"{"tags":["vip", "new"]}"#),
            format!(r#"{{"tags":["{}","{}"]}}"#, h("vip"), h("new"))
        );
    }

    #[test]
    fn a_null_or_differently_shaped_parent_is_passed_through() {
        let p = policy(
            "orders",
            json!([{"field": "shipping_address.postal_code", "action": "block"}]),
        );
        assert_eq!(
            apply(&p, r#"{"shipping_address":null}"#),
            r#"{"shipping_address":null}"#
        );
        assert_eq!(
            apply(
                &p,
                r#"{"shipping_address":{"postal_code":"10115","city":"Berlin"}}"#
            ),
            r#"{"shipping_address":{"city":"Berlin"}}"#
        );
    }

    #[test]
    fn keys_inside_a_free_form_object_are_reached() {
        let p = policy(
            "order_events",
            json!([{"field": "properties.note", "action": "block"}, {"field": "properties.tracking_number", "action": "hash"}]),
        );
        assert_eq!(
            apply(
                &p,
                r#"{"event_id":"e1","properties":{"note":"call me at 555","tracking_number":"1Z99","carrier":"UPS"}}"#
            ),
            format!(
                r#"{{"event_id":"e1","properties":{{"tracking_number":"{}","carrier":"UPS"}}}}"#,
                h("1Z99")
            )
        );
    }

    #[test]
    fn cf_star_reaches_every_custom_field_and_a_named_one_wins() {
        let p = policy(
            "orders",
            json!([{"field": "cf_*", "action": "block"}, {"field": "cf_priority", "action": "hash"}]),
        );
        assert_eq!(
            apply(
                &p,
                r#"{"id":"o1","cf_gift_wrap":true,"cf_priority":3,"cf_new_one":"x"}"#
            ),
            format!(r#"{{"id":"o1","cf_priority":"{}"}}"#, h("3"))
        );
    }

    #[test]
    fn an_escaped_key_does_not_slip_past_the_policy() {
        let p = policy("customers", json!([{"field": "email", "action": "block"}]));
        assert_eq!(
            apply(&p, r#"{"\u0065mail":"a@x.com","id":"c1"}"#),
            r#"{"id":"c1"}"#
        );
    }

    #[test]
    fn white_space_and_look_alike_strings_do_not_mislead_the_walk() {
        let p = policy("customers", json!([{"field": "email", "action": "block"}]));
        assert_eq!(
            apply(
                &p,
                r#" { "note" : "\"email\":\"x\"}" , "email" : "a@x.com" , "n" : [ 1 , { "email" : 2 } ] } "#
            ),
            r#"{"note":"\"email\":\"x\"}","n":[ 1 , { "email" : 2 } ]}"#
        );
    }

    #[test]
    fn a_hashed_date_time_is_hashed_in_utc_so_one_instant_has_one_hash() {
        let p = policy(
            "customers",
            json!([{"field": "created_at", "action": "hash"}]),
        );
        assert_eq!(
            apply(&p, r#"{"created_at":"2024-03-01T12:00:00+02:00"}"#),
            apply(&p, r#"{"created_at":"2024-03-01T10:00:00Z"}"#)
        );
        assert_eq!(
            apply(&p, r#"{"created_at":"2024-03-01T10:00:00Z"}"#),
            format!(r#"{{"created_at":"{}"}}"#, h("2024-03-01T10:00:00Z"))
        );
    }

    #[test]
    fn fields_without_a_rule_keep_their_bytes() {
        let p = policy(
            "orders",
            json!([{"field": "shipping_address", "action": "block"}]),
        );
        let record = r#"{"id":"o1","subtotal":10.50,"line_items":[{"sku":"a\"b","unit_price":1e2}],"shipping_address":{"line1":"x"},"note":"\u00e9"}"#;
        assert_eq!(
            apply(&p, record),
            r#"{"id":"o1","subtotal":10.50,"line_items":[{"sku":"a\"b","unit_price":1e2}],"note":"\u00e9"}"#
        );
    }

    #[test]
    fn a_text_that_is_not_an_object_is_not_walkable() {
        let p = policy(
            "orders",
            json!([{"field": "shipping_address", "action": "block"}]),
        );
        let mut out = String::new();
        assert_eq!(p.apply("[1]", &mut out), Err(NotWalkable));
        assert_eq!(p.apply(r#"{"id":"o1""#, &mut out), Err(NotWalkable));
    }

    #[test]
    fn compact_json_drops_only_the_white_space_between_tokens() {
        assert_eq!(
            compact(r#"{ "a b" : [ 1, "c\" d" ] }"#),
            r#"{"a b":[1,"c\" d"]}"#
        );
    }
}

//! `field_policies` and `hash_key` of the config, checked once against the
//! streams' schemas and compiled into one rule tree per stream. Pure: no
//! I/O, so every rule is unit-tested here.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use hmac::{KeyInit, Mac};
use serde::Deserialize;
use serde_json::Value;

use super::path::{CUSTOM_FIELD_PREFIX, FieldPath, Step};
use crate::config::{Secret, TimestampMode};
use crate::error::{Error, Result};
use crate::streams::{self, StreamDef};

/// One entry of `field_policies`, as the config writes it. `normalize` has
/// its default from `specs/spec.json` filled in before this is parsed.
#[derive(Debug, Clone, Deserialize)]
pub struct FieldPolicyEntry {
    pub stream: String,
    pub field: String,
    pub action: Action,
    pub normalize: Normalize,
}

/// What happens to a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Never emitted: the field is absent from records and schemas.
    Block,
    /// Emitted as the keyed hash of its value.
    Hash,
}

/// What a value goes through before it is hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalize {
    None,
    /// Trimmed and lowercased, so that `A@x.com ` and `a@x.com` match.
    Email,
}

/// The key of every hash: HMAC-SHA256 keyed with `hash_key`. Without the
/// key a hash cannot be reversed with a dictionary of likely values, as a
/// plain SHA-256 of an email could.
#[derive(Clone)]
pub struct HashKey {
    /// The keyed state, computed once; each hash clones it.
    mac: hmac::Hmac<sha2::Sha256>,
}

impl HashKey {
    /// The key of `secret` (already registered with the output's scrubber).
    pub fn new(secret: &Secret) -> Self {
        HashKey {
            mac: hmac::Hmac::new_from_slice(secret.expose().as_bytes())
                .expect("HMAC takes a key of any length"),
        }
    }

    /// The lowercase hex HMAC-SHA256 of `text`.
    pub fn hash(&self, text: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(text.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

impl fmt::Debug for HashKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HashKey(***)")
    }
}

/// How one hashed value is prepared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashSpec {
    pub normalize: Normalize,
    /// Whether the value may be a date-time (the schema says so, or it is a
    /// custom field, whose type only `discover` knows): with `timestamps:
    /// utc` it is hashed in its UTC form, so that one instant sent in two
    /// offsets has one hash.
    pub date_time: bool,
}

/// What a policy does where a rule ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaf {
    Block,
    Hash(HashSpec),
}

/// The rules of the fields of one object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectRules {
    pub fields: Vec<(Box<str>, Rule)>,
    /// `cf_*`: every custom field the entries do not name one by one.
    pub custom_fields: Option<(Leaf, usize)>,
}

impl ObjectRules {
    /// The rule of the field `name`, if any.
    pub fn rule(&self, name: &str) -> Option<&Rule> {
        self.fields
            .iter()
            .find(|(field, _)| **field == *name)
            .map(|(_, rule)| rule)
    }

    /// The leaf `cf_*` gives to `name`, if it is a custom field.
    pub fn custom_field(&self, name: &str) -> Option<Leaf> {
        self.custom_fields
            .filter(|_| name.starts_with(CUSTOM_FIELD_PREFIX))
            .map(|(leaf, _)| leaf)
    }
}

/// A rule on one value. Each leaf remembers the entry it came from (its
/// index in `field_policies`), for the messages of conflicting entries.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    Leaf(Leaf, usize),
    /// Rules on the fields of an object.
    Object(ObjectRules),
    /// A rule on each item of an array.
    Items(Box<Rule>),
}

impl Rule {
    /// The index of some entry under this rule.
    fn some_entry(&self) -> usize {
        match self {
            Rule::Leaf(_, index) => *index,
            Rule::Items(inner) => inner.some_entry(),
            Rule::Object(rules) => rules
                .fields
                .first()
                .map(|(_, rule)| rule.some_entry())
                .or(rules.custom_fields.map(|(_, index)| index))
                .unwrap_or_default(),
        }
    }
}

/// The policy of one stream, compiled.
#[derive(Debug)]
pub struct StreamPolicy {
    pub stream: &'static str,
    pub root: ObjectRules,
    /// Set when the policy hashes something.
    pub key: Option<HashKey>,
    /// Whether the primary key is hashed: then every key the connector
    /// keeps (state, dedup memory) or prints is the hashed one.
    pub hashes_primary_key: bool,
    /// Whether hashed date-times are hashed in their UTC form.
    pub utc: bool,
}

impl StreamPolicy {
    /// The record key as it is emitted, kept in state and quoted in
    /// messages: hashed when the primary key is.
    pub fn record_key<'a>(&self, id: &'a str) -> Cow<'a, str> {
        match (&self.key, self.hashes_primary_key) {
            (Some(key), true) => Cow::Owned(key.hash(id)),
            _ => Cow::Borrowed(id),
        }
    }
}

/// The policies of every stream that has one.
#[derive(Debug, Clone, Default)]
pub struct FieldPolicies {
    streams: Vec<Arc<StreamPolicy>>,
}

/// The shortest `hash_key` accepted (the spec's `minLength`): a short key
/// can be guessed, and with it every pseudonym reversed.
pub const MIN_HASH_KEY_CHARS: usize = 16;

impl FieldPolicies {
    /// Checks `entries` against the streams' schemas and compiles them.
    /// Every error is a `config_error` naming the entry and why.
    pub fn compile(
        entries: &[FieldPolicyEntry],
        hash_key: Option<&Secret>,
        timestamps: TimestampMode,
    ) -> Result<FieldPolicies> {
        let key = hash_key.map(HashKey::new);
        let mut policies: Vec<StreamPolicy> = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            let def = streams::find(&entry.stream)
                .ok_or_else(|| entry_error(index, entry, "there is no such stream".to_owned()))?;
            let path = FieldPath::parse(&entry.field).map_err(|why| {
                entry_error(index, entry, format!("the field path is malformed: {why}"))
            })?;
            let leaf = check_entry(def, entry, &path, key.is_some())
                .map_err(|why| entry_error(index, entry, why))?;
            let policy = match policies.iter_mut().find(|p| p.stream == def.name) {
                Some(policy) => policy,
                None => {
                    policies.push(StreamPolicy {
                        stream: def.name,
                        root: ObjectRules::default(),
                        key: key.clone(),
                        hashes_primary_key: false,
                        utc: timestamps == TimestampMode::Utc,
                    });
                    policies.last_mut().expect("just pushed")
                }
            };
            insert(&mut policy.root, &path, leaf, index).map_err(|other| {
                entry_error(
                    index,
                    entry,
                    format!(
                        "it overlaps field_policies[{other}] ({}.{}): a field and a field inside it cannot both have a policy; keep one",
                        entries[other].stream, entries[other].field
                    ),
                )
            })?;
            if path.top_field() == Some(def.primary_key)
                && matches!(&path, FieldPath::Steps(steps) if steps.len() == 1)
            {
                policy.hashes_primary_key = true;
            }
        }
        Ok(FieldPolicies {
            streams: policies.into_iter().map(Arc::new).collect(),
        })
    }

    /// The policy of `stream`, if it has one.
    pub fn for_stream(&self, stream: &str) -> Option<Arc<StreamPolicy>> {
        self.streams.iter().find(|p| p.stream == stream).cloned()
    }

    /// Whether no stream has a policy.
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }
}

fn entry_error(index: usize, entry: &FieldPolicyEntry, why: String) -> Error {
    Error::config(format!(
        "Invalid config: field_policies[{index}] ({}.{}): {why}.",
        entry.stream, entry.field
    ))
}

/// The rules of the issue: what may be blocked or hashed, and how.
fn check_entry(
    def: &StreamDef,
    entry: &FieldPolicyEntry,
    path: &FieldPath,
    has_key: bool,
) -> std::result::Result<Leaf, String> {
    if entry.action == Action::Block && entry.normalize != Normalize::None {
        return Err(
            "normalize applies to hashed fields only; set action to hash or normalize to none"
                .to_owned(),
        );
    }
    let whole_top_field = match path {
        FieldPath::Steps(steps) if steps.len() == 1 => path.top_field(),
        _ => None,
    };
    if whole_top_field == Some(def.cursor_field) {
        return Err(format!(
            "{} is the stream's cursor: incremental syncs and checkpoints need its instants, so it can be neither blocked nor hashed",
            def.cursor_field
        ));
    }
    if whole_top_field == Some(def.primary_key) && entry.action == Action::Block {
        return Err(format!(
            "{} is the stream's primary key: destinations deduplicate and delete by it, so it cannot be blocked (it may be hashed: hashes stay unique)",
            def.primary_key
        ));
    }
    if def.soft_deletes && whole_top_field == Some("deleted_at") {
        return Err("deleted_at tells destinations which records were deleted, so it can be neither blocked nor hashed".to_owned());
    }
    let date_time = check_in_schema(def, path)?;
    if let FieldPath::Steps(steps) = path
        && entry.action == Action::Block
        && steps.last() == Some(&Step::Items)
    {
        return Err("blocking every item of an array leaves an empty array; block the array itself (the path without the final \"[]\")".to_owned());
    }
    match entry.action {
        Action::Block => Ok(Leaf::Block),
        Action::Hash if !has_key => Err(format!(
            "hashing needs hash_key: set one of at least {MIN_HASH_KEY_CHARS} characters, and keep it, since the same key gives the same hashes"
        )),
        Action::Hash => Ok(Leaf::Hash(HashSpec {
            normalize: entry.normalize,
            date_time,
        })),
    }
}

/// Whether `path` exists in the stream's schema (anything inside a
/// free-form object does, and any custom field of a stream that has
/// them); returns whether the value may be a date-time.
fn check_in_schema(def: &StreamDef, path: &FieldPath) -> std::result::Result<bool, String> {
    let steps = match path {
        FieldPath::AllCustomFields => {
            return match def.custom_fields_object {
                Some(_) => Ok(true),
                None => Err(format!("the {} stream has no custom fields", def.name)),
            };
        }
        FieldPath::Steps(steps) => steps,
    };
    let schema = crate::discover::static_schema(def);
    let mut node = &schema;
    let mut at = String::new();
    for (i, step) in steps.iter().enumerate() {
        let here = if at.is_empty() {
            "the record".to_owned()
        } else {
            at.clone()
        };
        match step {
            Step::Field(name) => {
                let Some(properties) = node.get("properties").and_then(Value::as_object) else {
                    if has_type(node, "object") {
                        // Free-form: the schema does not list its keys.
                        return Ok(false);
                    }
                    return Err(format!(
                        "{here} is not an object, so it has no field {name}"
                    ));
                };
                match properties.get(&**name) {
                    Some(property) => node = property,
                    None if i == 0
                        && name.starts_with(CUSTOM_FIELD_PREFIX)
                        && def.custom_fields_object.is_some() =>
                    {
                        // Custom fields are the account's: only discover
                        // knows them. Each holds one value.
                        return if steps.len() == 1 {
                            Ok(true)
                        } else {
                            Err(format!(
                                "custom field {name} holds one value, so a path cannot go inside it"
                            ))
                        };
                    }
                    None => {
                        let known: Vec<&str> = properties.keys().map(String::as_str).collect();
                        return Err(format!(
                            "{here} has no field {name} (its fields: {})",
                            known.join(", ")
                        ));
                    }
                }
                if !at.is_empty() {
                    at.push('.');
                }
                at.push_str(name);
            }
            Step::Items => {
                let Some(items) = node.get("items").filter(|_| has_type(node, "array")) else {
                    return Err(format!("{here} is not an array, so it has no items ([])"));
                };
                node = items;
                at.push_str("[]");
            }
        }
    }
    Ok(node.get("format").and_then(Value::as_str) == Some("date-time"))
}

/// Whether the schema's `type` is or includes `wanted`.
fn has_type(schema: &Value, wanted: &str) -> bool {
    match schema.get("type") {
        Some(Value::String(t)) => t == wanted,
        Some(Value::Array(types)) => types.iter().any(|t| t == wanted),
        _ => false,
    }
}

/// Adds `leaf` at `path` to `root`; on a conflict, the index of an entry
/// it overlaps.
fn insert(
    root: &mut ObjectRules,
    path: &FieldPath,
    leaf: Leaf,
    index: usize,
) -> std::result::Result<(), usize> {
    match path {
        FieldPath::AllCustomFields => match root.custom_fields {
            Some((_, other)) => Err(other),
            None => {
                root.custom_fields = Some((leaf, index));
                Ok(())
            }
        },
        FieldPath::Steps(steps) => insert_field(root, steps, leaf, index),
    }
}

fn insert_field(
    rules: &mut ObjectRules,
    steps: &[Step],
    leaf: Leaf,
    index: usize,
) -> std::result::Result<(), usize> {
    let (Some(Step::Field(name)), rest) = (steps.first(), &steps[1..]) else {
        unreachable!("a path and each `.` step start with a field name");
    };
    match rules.fields.iter_mut().find(|(field, _)| field == name) {
        Some((_, rule)) => insert_rule(rule, rest, leaf, index),
        None => {
            rules.fields.push((name.clone(), build(rest, leaf, index)));
            Ok(())
        }
    }
}

fn insert_rule(
    rule: &mut Rule,
    rest: &[Step],
    leaf: Leaf,
    index: usize,
) -> std::result::Result<(), usize> {
    match (rule, rest.first()) {
        (Rule::Leaf(_, other), _) => Err(*other),
        (Rule::Items(inner), Some(Step::Items)) => insert_rule(inner, &rest[1..], leaf, index),
        (Rule::Object(rules), Some(Step::Field(_))) => insert_field(rules, rest, leaf, index),
        // The path ends where another goes on, or one reaches the value
        // as an array and the other as an object.
        (rule, _) => Err(rule.some_entry()),
    }
}

fn build(rest: &[Step], leaf: Leaf, index: usize) -> Rule {
    match rest.first() {
        None => Rule::Leaf(leaf, index),
        Some(Step::Items) => Rule::Items(Box::new(build(&rest[1..], leaf, index))),
        Some(Step::Field(name)) => Rule::Object(ObjectRules {
            fields: vec![(name.clone(), build(&rest[1..], leaf, index))],
            custom_fields: None,
        }),
    }
}

/// Entries from a JSON array of them, for the tests of this module's rooms:
/// `normalize` defaults to `none` as the spec fills it in, and `stream`, if
/// given, is set on each.
#[cfg(test)]
pub(super) fn test_entries(value: &Value, stream: Option<&str>) -> Vec<FieldPolicyEntry> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            let mut entry = entry.clone();
            let object = entry.as_object_mut().unwrap();
            if let Some(stream) = stream {
                object.insert("stream".into(), stream.into());
            }
            object.entry("normalize").or_insert("none".into());
            serde_json::from_value(entry).unwrap()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entries(value: Value) -> Vec<FieldPolicyEntry> {
        test_entries(&value, None)
    }

    fn compile(value: Value) -> Result<FieldPolicies> {
        let key = Secret::new("a-hash-key-of-16+chars");
        FieldPolicies::compile(&entries(value), Some(&key), TimestampMode::Utc)
    }

    fn message(value: Value) -> String {
        let error = compile(value).unwrap_err();
        assert_eq!(error.failure_type(), crate::protocol::FailureType::Config);
        error.message().to_owned()
    }

    #[test]
    fn the_issues_example_compiles_into_one_policy_per_stream() {
        let policies = compile(json!([
            {"stream": "customers", "field": "email", "action": "hash", "normalize": "email"},
            {"stream": "customers", "field": "addresses[].line1", "action": "block"},
            {"stream": "orders", "field": "shipping_address", "action": "block"},
        ]))
        .unwrap();
        let customers = policies.for_stream("customers").unwrap();
        assert_eq!(
            customers.root.rule("email"),
            Some(&Rule::Leaf(
                Leaf::Hash(HashSpec {
                    normalize: Normalize::Email,
                    date_time: false
                }),
                0
            ))
        );
        let Some(Rule::Items(item)) = customers.root.rule("addresses") else {
            panic!("addresses[] is a rule on each item");
        };
        let Rule::Object(item) = &**item else {
            panic!("each address is an object");
        };
        assert_eq!(item.rule("line1"), Some(&Rule::Leaf(Leaf::Block, 1)));
        assert!(policies.for_stream("orders").is_some());
        assert!(policies.for_stream("products").is_none());
    }

    #[test]
    fn a_path_not_in_the_schema_names_the_fields_there_are() {
        let text = message(
            json!([{"stream": "customers", "field": "addresses[].line9", "action": "block"}]),
        );
        assert!(
            text.contains("field_policies[0] (customers.addresses[].line9)"),
            "{text}"
        );
        assert!(text.contains("addresses[] has no field line9"), "{text}");
        assert!(text.contains("line1"), "{text}");
        let text = message(json!([{"stream": "orders", "field": "email", "action": "block"}]));
        assert!(text.contains("the record has no field email"), "{text}");
    }

    #[test]
    fn a_path_through_a_value_of_another_shape_is_refused() {
        let text =
            message(json!([{"stream": "customers", "field": "email.domain", "action": "block"}]));
        assert!(text.contains("email is not an object"), "{text}");
        let text =
            message(json!([{"stream": "orders", "field": "shipping_address[]", "action": "hash"}]));
        assert!(text.contains("shipping_address is not an array"), "{text}");
    }

    #[test]
    fn any_key_inside_a_free_form_object_is_accepted() {
        let policies = compile(json!([
            {"stream": "order_events", "field": "properties.note", "action": "block"},
            {"stream": "order_events", "field": "properties.anything.deeper[]", "action": "hash"},
        ]))
        .unwrap();
        assert!(policies.for_stream("order_events").is_some());
    }

    #[test]
    fn custom_fields_are_accepted_on_streams_that_have_them() {
        assert!(
            compile(json!([
                {"stream": "customers", "field": "cf_loyalty_tier", "action": "hash"},
                {"stream": "orders", "field": "cf_*", "action": "block"},
            ]))
            .is_ok()
        );
        let text = message(json!([{"stream": "products", "field": "cf_*", "action": "block"}]));
        assert!(
            text.contains("the products stream has no custom fields"),
            "{text}"
        );
        let text = message(json!([{"stream": "products", "field": "cf_color", "action": "block"}]));
        assert!(text.contains("has no field cf_color"), "{text}");
        let text = message(json!([{"stream": "orders", "field": "cf_x.y", "action": "block"}]));
        assert!(text.contains("holds one value"), "{text}");
    }

    #[test]
    fn blocking_the_primary_key_is_refused_but_hashing_it_is_allowed() {
        let text = message(json!([{"stream": "orders", "field": "id", "action": "block"}]));
        assert!(text.contains("field_policies[0] (orders.id)"), "{text}");
        assert!(text.contains("primary key"), "{text}");
        let policies =
            compile(json!([{"stream": "order_events", "field": "event_id", "action": "hash"}]))
                .unwrap();
        assert!(
            policies
                .for_stream("order_events")
                .unwrap()
                .hashes_primary_key
        );
    }

    #[test]
    fn the_cursor_can_be_neither_blocked_nor_hashed() {
        for action in ["block", "hash"] {
            let text = message(
                json!([{"stream": "order_events", "field": "timestamp", "action": action}]),
            );
            assert!(
                text.contains("timestamp is the stream's cursor"),
                "{action}: {text}"
            );
        }
    }

    #[test]
    fn a_nested_field_named_like_the_key_or_cursor_is_an_ordinary_field() {
        assert!(
            compile(json!([
                {"stream": "orders", "field": "line_items[].id", "action": "hash"},
                {"stream": "order_events", "field": "properties.timestamp", "action": "block"},
            ]))
            .is_ok()
        );
    }

    #[test]
    fn deleted_at_keeps_carrying_deletions() {
        let text =
            message(json!([{"stream": "customers", "field": "deleted_at", "action": "block"}]));
        assert!(text.contains("deleted_at tells destinations"), "{text}");
    }

    #[test]
    fn hashing_without_a_hash_key_is_refused() {
        let error = FieldPolicies::compile(
            &entries(json!([{"stream": "customers", "field": "email", "action": "hash"}])),
            None,
            TimestampMode::Utc,
        )
        .unwrap_err();
        assert!(
            error
                .message()
                .contains("field_policies[0] (customers.email)")
        );
        assert!(
            error.message().contains("hashing needs hash_key"),
            "{}",
            error.message()
        );
        assert!(
            FieldPolicies::compile(
                &entries(json!([{"stream": "customers", "field": "email", "action": "block"}])),
                None,
                TimestampMode::Utc,
            )
            .is_ok()
        );
    }

    #[test]
    fn normalize_on_a_blocked_field_is_refused() {
        let text = message(
            json!([{"stream": "customers", "field": "email", "action": "block", "normalize": "email"}]),
        );
        assert!(
            text.contains("normalize applies to hashed fields only"),
            "{text}"
        );
    }

    #[test]
    fn blocking_the_items_of_an_array_asks_for_the_array() {
        let text = message(json!([{"stream": "customers", "field": "tags[]", "action": "block"}]));
        assert!(text.contains("block the array itself"), "{text}");
        assert!(
            compile(json!([{"stream": "customers", "field": "tags[]", "action": "hash"}])).is_ok()
        );
    }

    #[test]
    fn overlapping_entries_name_each_other() {
        for (first, second) in [
            ("addresses", "addresses[].line1"),
            ("addresses[].line1", "addresses"),
            ("email", "email"),
        ] {
            let text = message(json!([
                {"stream": "customers", "field": first, "action": "block"},
                {"stream": "customers", "field": second, "action": "block"},
            ]));
            assert!(
                text.contains(&format!("field_policies[1] (customers.{second})"))
                    && text.contains(&format!("overlaps field_policies[0] (customers.{first})")),
                "{first} / {second}: {text}"
            );
        }
        assert!(
            message(json!([
                {"stream": "orders", "field": "cf_*", "action": "block"},
                {"stream": "orders", "field": "cf_*", "action": "hash"},
            ]))
            .contains("overlaps")
        );
    }

    #[test]
    fn a_named_custom_field_and_cf_star_may_go_together() {
        let policies = compile(json!([
            {"stream": "customers", "field": "cf_*", "action": "block"},
            {"stream": "customers", "field": "cf_loyalty_tier", "action": "hash"},
        ]))
        .unwrap();
        let customers = policies.for_stream("customers").unwrap();
        assert!(matches!(
            customers.root.rule("cf_loyalty_tier"),
            Some(Rule::Leaf(Leaf::Hash(_), 1))
        ));
        assert_eq!(
            customers.root.custom_field("cf_birthday"),
            Some(Leaf::Block)
        );
        assert_eq!(customers.root.custom_field("email"), None);
    }

    #[test]
    fn date_times_are_known_from_the_schema() {
        let policies = compile(json!([
            {"stream": "customers", "field": "created_at", "action": "hash"},
            {"stream": "customers", "field": "email", "action": "hash"},
        ]))
        .unwrap();
        let customers = policies.for_stream("customers").unwrap();
        let date_time = |field: &str| match customers.root.rule(field) {
            Some(Rule::Leaf(Leaf::Hash(spec), _)) => spec.date_time,
            other => panic!("{other:?}"),
        };
        assert!(date_time("created_at"));
        assert!(!date_time("email"));
    }

    #[test]
    fn the_hash_is_hmac_sha256_in_lowercase_hex() {
        // RFC 4231, test case 2.
        let key = HashKey::new(&Secret::new("Jefe"));
        assert_eq!(
            key.hash("what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(format!("{key:?}"), "HashKey(***)");
    }

    #[test]
    fn a_hashed_primary_key_is_the_key_the_connector_keeps() {
        let policies =
            compile(json!([{"stream": "order_events", "field": "event_id", "action": "hash"}]))
                .unwrap();
        let events = policies.for_stream("order_events").unwrap();
        let kept = events.record_key("evt_1");
        assert_eq!(kept.len(), 64);
        assert_ne!(kept, "evt_1");
        let policies =
            compile(json!([{"stream": "customers", "field": "email", "action": "hash"}])).unwrap();
        assert_eq!(
            policies
                .for_stream("customers")
                .unwrap()
                .record_key("cus_1"),
            "cus_1"
        );
    }
}

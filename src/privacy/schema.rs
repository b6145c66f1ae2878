//! The policy on a stream's JSON schema, for `discover` and every catalog
//! built from it: blocked fields are absent, hashed ones are nullable
//! strings that say what they are. Applying it twice changes nothing, so a
//! schema a catalog already carries can go through it again.

use serde_json::{Value, json};

use super::path::CUSTOM_FIELD_PREFIX;
use super::policy::{HashSpec, Leaf, Normalize, ObjectRules, Rule, StreamPolicy};

impl StreamPolicy {
    /// Applies the policy to `schema`, the JSON schema of this stream's
    /// records (custom fields included).
    pub fn apply_to_schema(&self, schema: &mut Value) {
        object_schema(schema, &self.root, "");
    }
}

fn object_schema(schema: &mut Value, rules: &ObjectRules, at: &str) {
    let Some(schema) = schema.as_object_mut() else {
        return;
    };
    let free_form = !schema.contains_key("properties");
    let mut leaves: Vec<(String, Leaf)> = Vec::new();
    for (name, rule) in &rules.fields {
        let path = join(at, name);
        match rule {
            Rule::Leaf(leaf, _) => leaves.push((name.to_string(), *leaf)),
            nested => {
                if let Some(child) = schema
                    .get_mut("properties")
                    .and_then(|p| p.get_mut(&**name))
                {
                    rule_schema(child, nested, &path);
                }
            }
        }
    }
    if let Some((leaf, _)) = rules.custom_fields {
        let custom: Vec<String> = schema
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|p| p.keys())
            .filter(|name| name.starts_with(CUSTOM_FIELD_PREFIX) && rules.rule(name).is_none())
            .cloned()
            .collect();
        leaves.extend(custom.into_iter().map(|name| (name, leaf)));
    }
    for (name, leaf) in leaves {
        let path = join(at, &name);
        match leaf {
            Leaf::Block => {
                if let Some(properties) =
                    schema.get_mut("properties").and_then(Value::as_object_mut)
                {
                    properties.shift_remove(&name);
                }
                if let Some(required) = schema.get_mut("required").and_then(Value::as_array_mut) {
                    required.retain(|r| r != name.as_str());
                }
            }
            Leaf::Hash(spec) => {
                let properties = schema
                    .entry("properties")
                    .or_insert_with(|| json!({}))
                    .as_object_mut();
                if let Some(properties) = properties {
                    // A key of a free-form object gets a schema; a custom
                    // field this account does not have does not.
                    if free_form || properties.contains_key(&name) {
                        properties.insert(name, hashed_schema(&path, spec));
                    }
                }
            }
        }
    }
    if free_form {
        // Only keys were added: an object that lists none stays as it was.
        if schema
            .get("properties")
            .and_then(Value::as_object)
            .is_some_and(|p| p.is_empty())
        {
            schema.remove("properties");
        }
    }
}

fn rule_schema(schema: &mut Value, rule: &Rule, at: &str) {
    match rule {
        Rule::Leaf(Leaf::Hash(spec), _) => *schema = hashed_schema(at, *spec),
        // Validation refuses blocking the items of an array, and a blocked
        // field is removed by its object.
        Rule::Leaf(Leaf::Block, _) => {}
        Rule::Object(rules) => object_schema(schema, rules, at),
        Rule::Items(item) => {
            if let Some(items) = schema.get_mut("items") {
                rule_schema(items, item, &format!("{at}[]"));
            }
        }
    }
}

fn join(at: &str, name: &str) -> String {
    if at.is_empty() {
        name.to_owned()
    } else {
        format!("{at}.{name}")
    }
}

/// The schema of a hashed value.
fn hashed_schema(path: &str, spec: HashSpec) -> Value {
    let normalized = match spec.normalize {
        Normalize::None => "",
        Normalize::Email => ", trimmed and lowercased first",
    };
    json!({
        "type": ["null", "string"],
        "description": format!(
            "Keyed hash (HMAC-SHA256 with the connector's hash_key, lowercase hex) of {path}{normalized}; the same value has the same hash in every stream and sync; null stays null."
        )
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::policy::{FieldPolicies, FieldPolicyEntry, test_entries};
    use super::*;
    use crate::config::{Secret, TimestampMode};
    use crate::streams;

    fn schema_with(stream: &str, entries: Value) -> Value {
        let entries = test_entries(&entries, Some(stream));
        let policies = FieldPolicies::compile(
            &entries,
            Some(&Secret::new("test-hash-key-0123456789")),
            TimestampMode::Utc,
        )
        .unwrap();
        let mut schema = crate::discover::static_schema(streams::find(stream).unwrap());
        let policy = policies.for_stream(stream).unwrap();
        policy.apply_to_schema(&mut schema);
        let again = schema.clone();
        policy.apply_to_schema(&mut schema);
        assert_eq!(schema, again, "applying a policy twice changes nothing");
        schema
    }

    #[test]
    fn a_blocked_field_leaves_the_properties_and_the_required_list() {
        let schema = schema_with("customers", json!([{"field": "phone", "action": "block"}]));
        assert!(schema["properties"].get("phone").is_none());
        assert!(
            !schema["required"]
                .as_array()
                .unwrap()
                .contains(&json!("phone"))
        );
    }

    #[test]
    fn a_hashed_field_becomes_a_nullable_string_that_says_it_is_a_keyed_hash() {
        let schema = schema_with(
            "customers",
            json!([{"field": "email", "action": "hash", "normalize": "email"}]),
        );
        let email = &schema["properties"]["email"];
        assert_eq!(email["type"], json!(["null", "string"]));
        let description = email["description"].as_str().unwrap();
        assert!(description.contains("HMAC-SHA256"), "{description}");
        assert!(description.contains("lowercased"), "{description}");
        assert!(
            schema["required"]
                .as_array()
                .unwrap()
                .contains(&json!("email"))
        );
    }

    #[test]
    fn nested_fields_change_inside_arrays_and_objects() {
        let schema = schema_with(
            "customers",
            json!([{"field": "addresses[].line1", "action": "block"}, {"field": "tags[]", "action": "hash"}]),
        );
        let address = &schema["properties"]["addresses"]["items"];
        assert!(address["properties"].get("line1").is_none());
        assert!(
            !address["required"]
                .as_array()
                .unwrap()
                .contains(&json!("line1"))
        );
        assert!(address["properties"].get("line2").is_some());
        assert_eq!(
            schema["properties"]["tags"]["items"]["type"],
            json!(["null", "string"])
        );
        assert!(
            schema["properties"]["tags"]["items"]["description"]
                .as_str()
                .unwrap()
                .contains("tags[]")
        );
    }

    #[test]
    fn a_hashed_key_of_a_free_form_object_gets_a_schema() {
        let schema = schema_with(
            "order_events",
            json!([{"field": "properties.tracking_number", "action": "hash"}, {"field": "properties.note", "action": "block"}]),
        );
        let properties = &schema["properties"]["properties"];
        assert_eq!(properties["additionalProperties"], true);
        assert_eq!(
            properties["properties"]["tracking_number"]["type"],
            json!(["null", "string"])
        );
        assert!(properties["properties"].get("note").is_none());
    }

    #[test]
    fn cf_star_applies_to_every_custom_field_of_the_schema() {
        let mut schema = crate::discover::static_schema(&streams::ORDERS);
        schema["properties"]["cf_gift_wrap"] = json!({"type": ["null", "boolean"]});
        schema["properties"]["cf_priority"] = json!({"type": ["null", "integer"]});
        let entries: Vec<FieldPolicyEntry> = serde_json::from_value(json!([
            {"stream": "orders", "field": "cf_*", "action": "block", "normalize": "none"},
            {"stream": "orders", "field": "cf_priority", "action": "hash", "normalize": "none"},
            {"stream": "orders", "field": "cf_absent", "action": "hash", "normalize": "none"},
        ]))
        .unwrap();
        let policies = FieldPolicies::compile(
            &entries,
            Some(&Secret::new("test-hash-key-0123456789")),
            TimestampMode::Utc,
        )
        .unwrap();
        policies
            .for_stream("orders")
            .unwrap()
            .apply_to_schema(&mut schema);
        let properties = schema["properties"].as_object().unwrap();
        assert!(!properties.contains_key("cf_gift_wrap"));
        assert_eq!(properties["cf_priority"]["type"], json!(["null", "string"]));
        assert!(!properties.contains_key("cf_absent"));
    }
}

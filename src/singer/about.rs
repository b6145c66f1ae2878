//! `--about`: the tap, its capabilities and its settings, from the same
//! `specs/spec.json` the Airbyte side serves, so the two never disagree.

use serde_json::{Value, json};

/// What Meltano may ask of this tap.
pub const CAPABILITIES: [&str; 4] = ["catalog", "discover", "state", "about"];

/// One setting as Meltano names it: nested objects are dotted
/// (`credentials.api_key`), and Meltano expands them back into objects.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    pub name: String,
    /// Meltano's `kind`: string, integer, boolean, date_iso8601, options…
    pub kind: &'static str,
    pub required: bool,
    pub sensitive: bool,
    pub description: String,
}

/// The settings of the connection specification, credentials methods
/// merged under `credentials.`.
pub fn settings(spec: &Value) -> Vec<Setting> {
    let connection = &spec["connectionSpecification"];
    let required = names(&connection["required"]);
    let mut settings = Vec::new();
    for (name, property) in properties(connection) {
        let branches = property["oneOf"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        if branches.is_empty() {
            settings.push(setting(name.clone(), property, required.contains(name)));
            continue;
        }
        for branch in branches {
            let branch_required = names(&branch["required"]);
            for (field, field_schema) in properties(branch) {
                let dotted = format!("{name}.{field}");
                if settings.iter().any(|s: &Setting| s.name == dotted) {
                    continue;
                }
                // Required only within its method: `auth_type` is the one
                // every method needs.
                let needed = field == "auth_type" && branch_required.contains(field);
                settings.push(setting(dotted, field_schema, needed));
            }
        }
    }
    settings
}

fn properties(schema: &Value) -> Vec<(&String, &Value)> {
    let mut properties: Vec<(&String, &Value)> = schema["properties"]
        .as_object()
        .map(|o| o.iter().collect())
        .unwrap_or_default();
    properties.sort_by_key(|(_, p)| p["order"].as_u64().unwrap_or(u64::MAX));
    properties
}

fn names(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn setting(name: String, schema: &Value, required: bool) -> Setting {
    let kind = match (schema["type"].as_str(), schema["format"].as_str()) {
        (Some("integer"), _) => "integer",
        (Some("number"), _) => "decimal",
        (Some("boolean"), _) => "boolean",
        (Some("string"), Some("date-time")) => "date_iso8601",
        (Some("object"), _) => "object",
        (Some("array"), _) => "array",
        _ => "string",
    };
    Setting {
        name,
        kind,
        required,
        sensitive: schema["airbyte_secret"].as_bool().unwrap_or(false),
        description: schema["description"]
            .as_str()
            .or_else(|| schema["title"].as_str())
            .unwrap_or_default()
            .to_owned(),
    }
}

/// `--about --format json`: name, version, capabilities, and the settings'
/// JSON schema (as Meltano's SDK taps print it) with the flat list beside it.
pub fn json(spec: &Value) -> Value {
    json!({
        "name": "tap-ecommerce",
        "description": "Singer tap for the E-commerce API: customers, products, orders and order events.",
        "version": env!("CARGO_PKG_VERSION"),
        "capabilities": CAPABILITIES,
        "settings": spec["connectionSpecification"],
        "setting_list": settings(spec).iter().map(|s| json!({
            "name": s.name,
            "kind": s.kind,
            "required": s.required,
            "sensitive": s.sensitive,
            "description": s.description,
        })).collect::<Vec<_>>(),
    })
}

/// `--about --format markdown`: the same, for people.
pub fn markdown(spec: &Value) -> String {
    let mut text = format!(
        "# tap-ecommerce\n\nSinger tap for the E-commerce API: customers, products, orders and order events.\n\nVersion: {}\n\n## Capabilities\n\n",
        env!("CARGO_PKG_VERSION")
    );
    for capability in CAPABILITIES {
        text.push_str(&format!("- `{capability}`\n"));
    }
    text.push_str("\n## Settings\n\n| Setting | Kind | Required | Sensitive | Description |\n| --- | --- | --- | --- | --- |\n");
    for s in settings(spec) {
        text.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            s.name,
            s.kind,
            if s.required { "yes" } else { "no" },
            if s.sensitive { "yes" } else { "no" },
            s.description.replace('|', "\\|").replace('\n', " ")
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Value {
        serde_json::from_str(crate::config::SPEC_JSON).unwrap()
    }

    fn find(name: &str) -> Setting {
        settings(&spec())
            .into_iter()
            .find(|s| s.name == name)
            .unwrap()
    }

    #[test]
    fn credentials_of_every_method_are_dotted_settings_and_secrets_are_sensitive() {
        for secret in [
            "credentials.api_key",
            "credentials.client_secret",
            "credentials.api_secret",
        ] {
            assert!(find(secret).sensitive, "{secret}");
        }
        assert!(!find("credentials.client_id").sensitive);
        assert!(find("credentials.auth_type").required);
        assert!(!find("credentials.api_key").required);
    }

    #[test]
    fn top_level_settings_keep_their_kind_and_requiredness() {
        assert!(find("base_url").required);
        assert_eq!(find("page_size").kind, "integer");
        assert_eq!(find("include_deleted").kind, "boolean");
        assert_eq!(find("start_date").kind, "date_iso8601");
        assert_eq!(find("requests_per_second").kind, "decimal");
        assert_eq!(find("field_policies").kind, "array");
        assert!(find("hash_key").sensitive);
        assert!(settings(&spec()).iter().all(|s| s.name != "credentials"));
    }

    #[test]
    fn about_names_the_four_capabilities() {
        let about = json(&spec());
        assert_eq!(
            about["capabilities"],
            serde_json::json!(["catalog", "discover", "state", "about"])
        );
        assert!(about["settings"]["properties"]["base_url"].is_object());
        assert!(markdown(&spec()).contains("| `credentials.api_key` | string | no | yes |"));
    }
}

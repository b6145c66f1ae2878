//! `discover`: the catalog, with each account's custom fields in the schemas
//! and each stream's field policy applied to them. Every catalog the
//! connector writes (Airbyte's, the Singer tap's, the Fivetran tables) is
//! built from this one.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::Result;
use crate::http::{ApiClient, ApiRequest};
use crate::privacy::FieldPolicies;
use crate::protocol::{AirbyteCatalog, AirbyteStream, Emitter, LogLevel, SyncMode};
use crate::streams::{self, StreamDef};

/// A custom field as `GET /v1/custom_fields` lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct CustomField {
    pub object: String,
    pub name: String,
    #[serde(rename = "type")]
    pub field_type: String,
}

#[derive(Deserialize)]
struct CustomFieldList {
    data: Vec<CustomField>,
}

/// Fetches the custom fields and builds the catalog. Without permission to
/// list custom fields (403), the static schemas are used, with a warning.
pub async fn discover(
    client: &ApiClient,
    policies: &FieldPolicies,
    emitter: &Emitter,
) -> Result<AirbyteCatalog> {
    let answer = client
        .get(&ApiRequest::new("/v1/custom_fields"), None, |response| {
            Ok(serde_json::from_slice::<CustomFieldList>(&response.body)?)
        })
        .await;
    let fields = match answer {
        Ok(list) => list.data,
        Err(error) if error.status() == Some(403) => {
            emitter
                .log(
                    LogLevel::Warn,
                    format!(
                        "Custom fields are not in the schemas: {} The static schemas are used.",
                        error.message()
                    ),
                )
                .await;
            Vec::new()
        }
        Err(error) => return Err(error),
    };
    Ok(catalog(&fields, policies, emitter).await)
}

/// The catalog for `fields`, with `policies` applied.
pub async fn catalog(
    fields: &[CustomField],
    policies: &FieldPolicies,
    emitter: &Emitter,
) -> AirbyteCatalog {
    let mut catalog = AirbyteCatalog {
        streams: Vec::with_capacity(streams::ALL.len()),
    };
    for def in streams::ALL {
        let mut schema = static_schema(def);
        let properties = schema["properties"]
            .as_object_mut()
            .expect("stream schemas have properties");
        for field in fields
            .iter()
            .filter(|f| Some(f.object.as_str()) == def.custom_fields_object)
        {
            let Some(field_schema) = custom_field_schema(&field.field_type) else {
                emitter
                    .log(
                        LogLevel::Warn,
                        format!(
                            "custom field {}.{} has an unknown type {:?}; it is typed as any JSON value",
                            field.object, field.name, field.field_type
                        ),
                    )
                    .await;
                properties.insert(format!("cf_{}", field.name), json!({}));
                continue;
            };
            properties.insert(format!("cf_{}", field.name), field_schema);
        }
        if let Some(policy) = policies.for_stream(def.name) {
            policy.apply_to_schema(&mut schema);
        }
        catalog.streams.push(AirbyteStream {
            name: def.name,
            json_schema: schema,
            supported_sync_modes: vec![SyncMode::FullRefresh, SyncMode::Incremental],
            source_defined_cursor: true,
            default_cursor_field: vec![def.cursor_field],
            source_defined_primary_key: vec![vec![def.primary_key]],
            is_resumable: true,
        });
    }
    catalog
}

/// The stream's schema from `specs/schemas`, without custom fields.
pub fn static_schema(def: &StreamDef) -> Value {
    serde_json::from_str(def.schema).expect("specs/schemas/*.json are valid JSON")
}

/// The JSON schema of a custom field type; always nullable, since a field is
/// null on records where it was never set.
fn custom_field_schema(field_type: &str) -> Option<Value> {
    Some(match field_type {
        "string" => json!({"type": ["null", "string"]}),
        "number" => json!({"type": ["null", "number"]}),
        "integer" => json!({"type": ["null", "integer"]}),
        "boolean" => json!({"type": ["null", "boolean"]}),
        "date" => json!({"type": ["null", "string"], "format": "date"}),
        "datetime" => json!({
            "type": ["null", "string"],
            "format": "date-time",
            "airbyte_type": "timestamp_with_timezone"
        }),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(object: &str, name: &str, field_type: &str) -> CustomField {
        CustomField {
            object: object.into(),
            name: name.into(),
            field_type: field_type.into(),
        }
    }

    async fn catalog_of(fields: &[CustomField]) -> AirbyteCatalog {
        let (emitter, handle) =
            Emitter::start(std::io::sink(), vec![], crate::protocol::LogLevel::Info);
        let catalog = catalog(fields, &FieldPolicies::default(), &emitter).await;
        drop(emitter);
        handle.finish().unwrap();
        catalog
    }

    fn stream<'a>(catalog: &'a AirbyteCatalog, name: &str) -> &'a AirbyteStream {
        catalog.streams.iter().find(|s| s.name == name).unwrap()
    }

    #[tokio::test]
    async fn custom_fields_join_the_schema_of_their_object_only() {
        let catalog = catalog_of(&[field("orders", "gift_wrap", "boolean")]).await;
        assert_eq!(
            stream(&catalog, "orders").json_schema["properties"]["cf_gift_wrap"],
            json!({"type": ["null", "boolean"]})
        );
        assert!(
            stream(&catalog, "customers").json_schema["properties"]
                .get("cf_gift_wrap")
                .is_none()
        );
    }

    #[tokio::test]
    async fn dates_and_datetimes_get_their_formats() {
        let catalog = catalog_of(&[
            field("customers", "birthday", "date"),
            field("customers", "vip_since", "datetime"),
        ])
        .await;
        let properties = &stream(&catalog, "customers").json_schema["properties"];
        assert_eq!(properties["cf_birthday"]["format"], "date");
        assert_eq!(properties["cf_vip_since"]["format"], "date-time");
        assert_eq!(
            properties["cf_vip_since"]["type"],
            json!(["null", "string"])
        );
    }

    #[tokio::test]
    async fn every_stream_declares_its_key_cursor_and_modes() {
        let catalog = catalog_of(&[]).await;
        let events = stream(&catalog, "order_events");
        assert_eq!(events.source_defined_primary_key, vec![vec!["event_id"]]);
        assert_eq!(events.default_cursor_field, vec!["timestamp"]);
        assert_eq!(
            events.supported_sync_modes,
            vec![SyncMode::FullRefresh, SyncMode::Incremental]
        );
        let names: Vec<&str> = catalog.streams.iter().map(|s| s.name).collect();
        assert_eq!(names, ["customers", "products", "orders", "order_events"]);
    }
}

//! The Singer catalog: what `--discover` prints, and which streams a catalog
//! given with `--catalog` selects, as Meltano writes it after its `select`
//! rules (`metadata` with `selected` on the stream's empty breadcrumb).

use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::protocol::{ConfiguredCatalog, ConfiguredStream, ConfiguredStreamName, SyncMode};
use crate::streams::{self, StreamDef};

/// The Singer catalog of the streams the Airbyte side discovered (the
/// `catalog` object of its CATALOG message), custom fields included.
pub fn from_discovered(airbyte_catalog: &Value) -> Value {
    let streams: Vec<Value> = airbyte_catalog["streams"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|stream| {
            let def = streams::find(stream["name"].as_str()?)?;
            Some(singer_stream(def, stream["json_schema"].clone()))
        })
        .collect();
    json!({ "streams": streams })
}

fn singer_stream(def: &StreamDef, schema: Value) -> Value {
    let mut metadata = vec![json!({
        "breadcrumb": [],
        "metadata": {
            "selected": true,
            "selected-by-default": true,
            "inclusion": "available",
            "table-key-properties": [def.primary_key],
            "forced-replication-method": "INCREMENTAL",
            "valid-replication-keys": [def.cursor_field],
        }
    })];
    if let Some(properties) = schema["properties"].as_object() {
        for name in properties.keys() {
            // The key and the cursor are always sent: the walks need them.
            let automatic = name == def.primary_key || name == def.cursor_field;
            metadata.push(json!({
                "breadcrumb": ["properties", name],
                "metadata": {
                    "inclusion": if automatic { "automatic" } else { "available" },
                    "selected-by-default": true,
                }
            }));
        }
    }
    json!({
        "tap_stream_id": def.name,
        "stream": def.name,
        "schema": schema,
        "key_properties": [def.primary_key],
        "replication_key": def.cursor_field,
        "replication_method": "INCREMENTAL",
        "metadata": metadata,
    })
}

/// A stream the catalog selects, with what its `SCHEMA` message says.
#[derive(Debug, Clone)]
pub struct SelectedStream {
    pub def: &'static StreamDef,
    pub mode: SyncMode,
    /// The catalog's schema of the stream (custom fields included).
    pub schema: Value,
}

impl SelectedStream {
    /// The fields that identify a record.
    pub fn key_properties(&self) -> Vec<&'static str> {
        vec![self.def.primary_key]
    }

    /// The fields the stream's bookmark follows (none for a full table).
    pub fn bookmark_properties(&self) -> Vec<&'static str> {
        match self.mode {
            SyncMode::Incremental => vec![self.def.cursor_field],
            SyncMode::FullRefresh => Vec::new(),
        }
    }
}

/// The streams `catalog` selects, in its order. A stream not selected is
/// ignored, even one this tap does not know; a selected unknown stream is a
/// config error.
pub fn selected(catalog: &Value) -> Result<Vec<SelectedStream>> {
    let streams = catalog["streams"].as_array().ok_or_else(|| {
        Error::config("Invalid catalog: it has no \"streams\" array. Run tap-ecommerce --discover to make one.")
    })?;
    let mut selected = Vec::new();
    for (index, stream) in streams.iter().enumerate() {
        let name = stream["tap_stream_id"]
            .as_str()
            .or_else(|| stream["stream"].as_str())
            .ok_or_else(|| {
                Error::config(format!(
                    "Invalid catalog: stream {index} has neither \"tap_stream_id\" nor \"stream\"."
                ))
            })?;
        let root = root_metadata(stream);
        if !is_selected(stream, &root) {
            continue;
        }
        let def = streams::find(name).ok_or_else(|| {
            let known: Vec<&str> = streams::ALL.iter().map(|s| s.name).collect();
            Error::config(format!(
                "The catalog selects stream \"{name}\", which this tap does not have (it has {}). Run tap-ecommerce --discover and select again.",
                known.join(", ")
            ))
        })?;
        let method = root
            .get("replication-method")
            .or_else(|| stream.get("replication_method"))
            .and_then(Value::as_str);
        let mode = match method {
            Some(m) if m.eq_ignore_ascii_case("FULL_TABLE") => SyncMode::FullRefresh,
            _ => SyncMode::Incremental,
        };
        let schema = match stream.get("schema") {
            Some(schema) if schema.is_object() => schema.clone(),
            _ => crate::discover::static_schema(def),
        };
        selected.push(SelectedStream { def, mode, schema });
    }
    Ok(selected)
}

/// The read path's catalog for `selected`, in the same order, so that
/// stream ids of the read index both.
pub fn configured(selected: &[SelectedStream]) -> ConfiguredCatalog {
    ConfiguredCatalog {
        streams: selected
            .iter()
            .map(|s| ConfiguredStream {
                stream: ConfiguredStreamName {
                    name: s.def.name.to_owned(),
                    // The Singer catalog's schema decides, as the Airbyte
                    // catalog's does, which fields are date-times.
                    json_schema: s.schema.clone(),
                },
                sync_mode: s.mode,
            })
            .collect(),
    }
}

fn root_metadata(stream: &Value) -> Map<String, Value> {
    stream["metadata"]
        .as_array()
        .and_then(|entries| {
            entries.iter().find(|entry| {
                entry["breadcrumb"]
                    .as_array()
                    .is_some_and(|crumb| crumb.is_empty())
            })
        })
        .and_then(|entry| entry["metadata"].as_object().cloned())
        .unwrap_or_default()
}

/// `selected` in the stream's metadata decides; else the legacy top-level
/// `selected`; else `selected-by-default`; else not selected.
fn is_selected(stream: &Value, root: &Map<String, Value>) -> bool {
    root.get("selected")
        .or_else(|| stream.get("selected"))
        .or_else(|| root.get("selected-by-default"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn discovered() -> Value {
        json!({"streams": streams::ALL.iter().map(|def| json!({
            "name": def.name,
            "json_schema": crate::discover::static_schema(def),
        })).collect::<Vec<_>>()})
    }

    fn stream_with(name: &str, root: Value) -> Value {
        json!({"tap_stream_id": name, "stream": name, "schema": {"type": "object", "properties": {}},
               "metadata": [{"breadcrumb": [], "metadata": root}]})
    }

    #[test]
    fn discovery_lists_every_stream_with_keys_cursor_and_selection_metadata() {
        let catalog = from_discovered(&discovered());
        let orders = &catalog["streams"][2];
        assert_eq!(orders["tap_stream_id"], "orders");
        assert_eq!(orders["key_properties"], json!(["id"]));
        assert_eq!(orders["replication_key"], "updated_at");
        let root = &orders["metadata"][0];
        assert_eq!(root["breadcrumb"], json!([]));
        assert_eq!(root["metadata"]["selected"], true);
        assert_eq!(root["metadata"]["inclusion"], "available");
        assert_eq!(root["metadata"]["forced-replication-method"], "INCREMENTAL");
        assert_eq!(
            root["metadata"]["valid-replication-keys"],
            json!(["updated_at"])
        );
        assert_eq!(catalog["streams"].as_array().unwrap().len(), 4);
    }

    #[test]
    fn discovery_gives_every_field_metadata_and_makes_key_and_cursor_automatic() {
        let catalog = from_discovered(&discovered());
        let events = &catalog["streams"][3];
        let fields = events["schema"]["properties"].as_object().unwrap().len();
        let entries = events["metadata"].as_array().unwrap();
        assert_eq!(entries.len(), fields + 1);
        let inclusion = |field: &str| {
            entries
                .iter()
                .find(|e| e["breadcrumb"] == json!(["properties", field]))
                .map(|e| e["metadata"]["inclusion"].clone())
        };
        assert_eq!(inclusion("event_id"), Some(json!("automatic")));
        assert_eq!(inclusion("timestamp"), Some(json!("automatic")));
        assert_eq!(inclusion("order_id"), Some(json!("available")));
    }

    #[test]
    fn the_discovered_catalog_selects_every_stream_incrementally() {
        let selected = selected(&from_discovered(&discovered())).unwrap();
        let names: Vec<&str> = selected.iter().map(|s| s.def.name).collect();
        assert_eq!(names, ["customers", "products", "orders", "order_events"]);
        assert!(selected.iter().all(|s| s.mode == SyncMode::Incremental));
    }

    #[test]
    fn a_stream_meltano_deselected_is_not_read() {
        let catalog = json!({"streams": [
            stream_with("orders", json!({"selected": false, "selected-by-default": true})),
            stream_with("customers", json!({"selected": true})),
        ]});
        let names: Vec<&str> = selected(&catalog)
            .unwrap()
            .iter()
            .map(|s| s.def.name)
            .collect();
        assert_eq!(names, ["customers"]);
    }

    #[test]
    fn without_selected_the_default_then_nothing_decides() {
        let catalog = json!({"streams": [
            stream_with("orders", json!({"selected-by-default": true})),
            stream_with("customers", json!({})),
        ]});
        let names: Vec<&str> = selected(&catalog)
            .unwrap()
            .iter()
            .map(|s| s.def.name)
            .collect();
        assert_eq!(names, ["orders"]);
    }

    #[test]
    fn an_unknown_stream_matters_only_when_selected() {
        let ignored = json!({"streams": [stream_with("invoices", json!({"selected": false}))]});
        assert!(selected(&ignored).unwrap().is_empty());
        let chosen = json!({"streams": [stream_with("invoices", json!({"selected": true}))]});
        let error = selected(&chosen).unwrap_err();
        assert!(error.message().contains("invoices"), "{}", error.message());
    }

    #[test]
    fn full_table_reads_a_full_refresh_without_bookmark_properties() {
        let catalog = json!({"streams": [stream_with(
            "products",
            json!({"selected": true, "replication-method": "FULL_TABLE"})
        )]});
        let products = &selected(&catalog).unwrap()[0];
        assert_eq!(products.mode, SyncMode::FullRefresh);
        assert!(products.bookmark_properties().is_empty());
        assert_eq!(products.key_properties(), ["id"]);
    }

    #[test]
    fn a_catalog_without_streams_is_a_config_error() {
        assert!(selected(&json!({"entries": []})).is_err());
    }
}

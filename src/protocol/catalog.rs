//! The catalog a source discovers and the configured catalog it is asked to read.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    FullRefresh,
    Incremental,
}

/// The answer of `discover`.
#[derive(Debug, Serialize)]
pub struct AirbyteCatalog {
    pub streams: Vec<AirbyteStream>,
}

/// One stream as `discover` describes it.
#[derive(Debug, Serialize)]
pub struct AirbyteStream {
    pub name: &'static str,
    pub json_schema: serde_json::Value,
    pub supported_sync_modes: Vec<SyncMode>,
    pub source_defined_cursor: bool,
    pub default_cursor_field: Vec<&'static str>,
    pub source_defined_primary_key: Vec<Vec<&'static str>>,
    pub is_resumable: bool,
}

/// The catalog that `read` is given: which streams to read, and how.
#[derive(Debug, Deserialize)]
pub struct ConfiguredCatalog {
    pub streams: Vec<ConfiguredStream>,
}

#[derive(Debug, Deserialize)]
pub struct ConfiguredStream {
    pub stream: ConfiguredStreamName,
    pub sync_mode: SyncMode,
}

/// The part of a configured stream's `stream` object the source needs: the
/// platform sends back the whole discovered stream; the source keeps its own
/// copy of everything but the name and the record schema.
#[derive(Debug, Deserialize)]
pub struct ConfiguredStreamName {
    pub name: String,
    /// The record schema as the platform holds it (custom fields included),
    /// which decides the fields rewritten to UTC; `null` or `{}` if absent.
    #[serde(default)]
    pub json_schema: serde_json::Value,
}

//! The Airbyte protocol: message types as serde structs, and the [`Emitter`]
//! that owns stdout.
//!
//! Only the messages a source prints or reads are modelled. Field names follow
//! `airbyte_protocol.yaml` exactly (including its camelCase exceptions such as
//! `connectionStatus` and `sourceStats`).

mod catalog;
mod client_events;
mod emitter;
mod messages;

pub use catalog::{AirbyteCatalog, AirbyteStream, ConfiguredCatalog, SyncMode};
pub use client_events::AirbyteClientEvents;
pub use emitter::{Emitter, Output, StreamId};
pub use messages::{
    ConnectionStatus, EstimateTrace, FailureType, LogLevel, LogMessage, Message, RecordMessage,
    StatusReason, StreamDescriptor, StreamStatus, StreamStatusTrace, TraceBody, TraceMessage,
    now_millis,
};

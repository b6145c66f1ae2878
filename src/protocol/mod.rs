//! The Airbyte protocol: message types as serde structs, and the [`Emitter`]
//! that owns stdout.
//!
//! Only the messages a source prints or reads are modelled. Field names follow
//! `airbyte_protocol.yaml` exactly (including its camelCase exceptions such as
//! `connectionStatus` and `sourceStats`).

mod catalog;
mod client_events;
mod emitter;
mod format;
mod messages;

pub use catalog::{
    AirbyteCatalog, AirbyteStream, ConfiguredCatalog, ConfiguredStream, ConfiguredStreamName,
    SyncMode,
};
pub use client_events::AirbyteClientEvents;
#[cfg(test)]
pub(crate) use emitter::Captured;
pub use emitter::{Emitter, EmitterHandle, Output, StreamId};
pub use format::{Airbyte, Format, FormatWriter, RecordFrame};
pub use messages::{
    ConnectionStatus, EstimateTrace, FailureType, LogLevel, LogMessage, Message, RecordMessage,
    StatusReason, StreamDescriptor, StreamStatus, StreamStatusTrace, TraceBody, TraceMessage,
    now_millis,
};

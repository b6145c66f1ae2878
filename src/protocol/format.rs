//! The output-format seam: how record lines are framed, and what the stdout
//! writer makes of each [`Output`]. Airbyte is the default; another protocol
//! (the Singer tap) plugs in its own [`Format`] without touching the read path.
//! Each [`crate::protocol::Output`] reaches one method of the [`FormatWriter`].

use std::io::{self, Write};

use serde_json::value::RawValue;

use super::emitter::StreamId;
use super::messages::{Message, StateMessage};

/// An output format: frames record lines in the producers (in parallel) and
/// makes the writer that the stdout thread runs.
pub trait Format: Send + Sync + 'static {
    /// The frame of `stream`'s record lines extracted now (one per page).
    fn record_frame(&self, stream: &str) -> RecordFrame;

    /// The writer of this format; it owns whatever it must remember between
    /// outputs (record counts, bookmarks).
    fn writer(&self) -> Box<dyn FormatWriter>;
}

/// Turns outputs into bytes on stdout. Runs on the one writer thread; the
/// thread flushes stdout after every state.
pub trait FormatWriter: Send {
    /// Record lines of one stream, framed by [`Format::record_frame`].
    fn records(
        &mut self,
        out: &mut dyn Write,
        stream: StreamId,
        count: u64,
        bytes: &[u8],
    ) -> io::Result<()>;

    /// A safe checkpoint of one stream.
    fn state(
        &mut self,
        out: &mut dyn Write,
        stream: StreamId,
        blob: &serde_json::Value,
    ) -> io::Result<()>;

    /// Any other message, serialized as one Airbyte message (no newline).
    fn line(&mut self, out: &mut dyn Write, line: &[u8]) -> io::Result<()>;
}

/// The bytes around a record's data in its line: the data itself is the
/// API's raw JSON, copied unparsed between the two.
#[derive(Debug, Clone)]
pub struct RecordFrame {
    prefix: Vec<u8>,
    suffix: Vec<u8>,
}

impl RecordFrame {
    /// A frame of `prefix`, the data, then `suffix` (which must end the line).
    pub fn new(prefix: Vec<u8>, suffix: Vec<u8>) -> Self {
        RecordFrame { prefix, suffix }
    }

    /// An Airbyte RECORD line of `stream` emitted at `emitted_at` (ms).
    pub fn airbyte(stream: &str, emitted_at: i64) -> Self {
        let mut prefix = br#"{"type":"RECORD","record":{"stream":"#.to_vec();
        serde_json::to_writer(&mut prefix, stream).expect("writing to a Vec cannot fail");
        prefix.extend_from_slice(br#","data":"#);
        let suffix = format!(",\"emitted_at\":{emitted_at}}}}}\n").into_bytes();
        RecordFrame { prefix, suffix }
    }

    /// Appends one framed line holding `data` to `out`.
    pub fn write(&self, out: &mut Vec<u8>, data: &RawValue) {
        self.write_str(out, data.get());
    }

    /// Like [`RecordFrame::write`], for a record the connector rewrote; it
    /// must still be one JSON object.
    pub fn write_str(&self, out: &mut Vec<u8>, data: &str) {
        self.write_with(out, |out| out.extend_from_slice(data.as_bytes()));
    }

    /// Like [`RecordFrame::write_str`], the data written by `data` (one
    /// JSON object) straight into `out`.
    pub fn write_with(&self, out: &mut Vec<u8>, data: impl FnOnce(&mut Vec<u8>)) {
        out.extend_from_slice(&self.prefix);
        data(out);
        out.extend_from_slice(&self.suffix);
    }
}

/// The Airbyte protocol: RECORD and per-stream STATE messages on stdout, with
/// `sourceStats.recordCount` counted by the writer.
pub struct Airbyte {
    stream_names: Vec<String>,
}

impl Airbyte {
    /// The format for streams whose [`StreamId`]s index `stream_names`.
    pub fn new(stream_names: Vec<String>) -> Self {
        Airbyte { stream_names }
    }
}

impl Format for Airbyte {
    fn record_frame(&self, stream: &str) -> RecordFrame {
        RecordFrame::airbyte(stream, super::now_millis())
    }

    fn writer(&self) -> Box<dyn FormatWriter> {
        Box::new(AirbyteWriter {
            since_state: vec![0; self.stream_names.len()],
            stream_names: self.stream_names.clone(),
        })
    }
}

struct AirbyteWriter {
    stream_names: Vec<String>,
    since_state: Vec<u64>,
}

impl FormatWriter for AirbyteWriter {
    fn records(
        &mut self,
        out: &mut dyn Write,
        stream: StreamId,
        count: u64,
        bytes: &[u8],
    ) -> io::Result<()> {
        self.since_state[stream] += count;
        out.write_all(bytes)
    }

    fn state(
        &mut self,
        out: &mut dyn Write,
        stream: StreamId,
        blob: &serde_json::Value,
    ) -> io::Result<()> {
        let message = Message::State {
            state: StateMessage::stream(&self.stream_names[stream], blob, self.since_state[stream]),
        };
        serde_json::to_writer(&mut *out, &message)?;
        out.write_all(b"\n")?;
        self.since_state[stream] = 0;
        Ok(())
    }

    fn line(&mut self, out: &mut dyn Write, line: &[u8]) -> io::Result<()> {
        out.write_all(line)?;
        out.write_all(b"\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_airbyte_frame_writes_what_serde_writes_for_a_record_message() {
        let data = RawValue::from_string(r#"{"id":"o\"1","n":[1,{"a":null}]}"#.into()).unwrap();
        let mut framed = Vec::new();
        RecordFrame::airbyte("ord\"ers", 1234).write(&mut framed, &data);
        let mut serde = serde_json::to_vec(&Message::Record {
            record: super::super::RecordMessage {
                stream: "ord\"ers",
                data: &data,
                emitted_at: 1234,
            },
        })
        .unwrap();
        serde.push(b'\n');
        assert_eq!(String::from_utf8(framed), String::from_utf8(serde));
    }
}

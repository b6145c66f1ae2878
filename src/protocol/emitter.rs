//! The one owner of stdout.
//!
//! Every message goes through a bounded channel to a single writer thread
//! that holds a `BufWriter` on stdout. Producers (stream tasks) serialize their
//! records themselves, in parallel, and hand over whole pages as bytes; the
//! bounded channel is the back-pressure that keeps memory flat when the
//! platform reads stdout slowly. The writer counts the records of each stream
//! so that every STATE carries an exact `sourceStats.recordCount`, whatever
//! order the producers' messages arrive in.

use std::io::{self, BufWriter, Write};
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::mpsc;

use super::format::{Airbyte, Format, FormatWriter, RecordFrame};
use super::messages::{
    ErrorTrace, LogLevel, LogMessage, Message, StreamDescriptor, TraceBody, TraceMessage,
};
use crate::error::Error;

/// The index of a stream in the read plan; cheap to copy into every batch.
pub type StreamId = usize;

/// What producers send to the writer.
#[derive(Debug)]
pub enum Output {
    /// Serialized RECORD lines, newline-terminated, all of one stream.
    Records {
        stream: StreamId,
        count: u64,
        bytes: Vec<u8>,
    },
    /// A checkpoint of one stream; the writer adds the record count and
    /// flushes stdout after it.
    State {
        stream: StreamId,
        blob: serde_json::Value,
    },
    /// Any other message, already serialized as one line (no newline).
    Line(Vec<u8>),
}

/// A handle to stdout. Clone it freely: all clones feed the same writer.
#[derive(Clone)]
pub struct Emitter {
    tx: mpsc::Sender<Output>,
    level: LogLevel,
    format: Arc<dyn Format>,
}

/// Owns the writer thread; [`EmitterHandle::finish`] flushes and joins it.
pub struct EmitterHandle {
    thread: JoinHandle<io::Result<()>>,
}

/// How many batches may wait for the writer. A batch is at most one page
/// (up to 1000 records), so this bounds buffered output to a few MB.
const CHANNEL_CAPACITY: usize = 8;

impl Emitter {
    /// Starts the writer thread on `out` with the names of the streams that
    /// [`StreamId`]s refer to.
    pub fn start<W: Write + Send + 'static>(
        out: W,
        stream_names: Vec<String>,
        level: LogLevel,
    ) -> (Emitter, EmitterHandle) {
        Self::start_with_format(out, Arc::new(Airbyte::new(stream_names)), level)
    }

    /// Starts the writer thread on `out`, writing in `format`.
    pub fn start_with_format<W: Write + Send + 'static>(
        out: W,
        format: Arc<dyn Format>,
        level: LogLevel,
    ) -> (Emitter, EmitterHandle) {
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        let writer = format.writer();
        let thread = std::thread::Builder::new()
            .name("stdout-writer".into())
            .spawn(move || write_all(rx, BufWriter::with_capacity(1 << 16, out), writer))
            .expect("spawning the stdout writer thread");
        (Emitter { tx, level, format }, EmitterHandle { thread })
    }

    /// The frame of `stream`'s record lines, in this emitter's format.
    pub fn record_frame(&self, stream: &str) -> RecordFrame {
        self.format.record_frame(stream)
    }

    /// Starts a writer on the process's stdout.
    pub fn stdout(stream_names: Vec<String>, level: LogLevel) -> (Emitter, EmitterHandle) {
        Self::stdout_with_format(Arc::new(Airbyte::new(stream_names)), level)
    }

    /// Starts a writer on the process's stdout, writing in `format`; a pipe
    /// there is widened first (see [`widen_stdout_pipe`]).
    pub fn stdout_with_format(
        format: Arc<dyn Format>,
        level: LogLevel,
    ) -> (Emitter, EmitterHandle) {
        widen_stdout_pipe();
        Self::start_with_format(io::stdout(), format, level)
    }

    /// Whether LOG messages of `level` are written.
    pub fn enabled(&self, level: LogLevel) -> bool {
        level <= self.level
    }

    /// Sends one output, waiting while the writer is behind.
    pub async fn send(&self, output: Output) {
        // The writer only stops after every sender is gone, or when stdout is
        // closed; in the latter case there is nobody left to tell.
        let _ = self.tx.send(output).await;
    }

    /// Serializes and sends any message other than a record or a state.
    pub async fn message(&self, message: &Message<'_>) {
        self.send(Output::Line(to_line(message))).await;
    }

    /// Like [`Emitter::message`], for code that runs outside the async runtime.
    pub fn message_blocking(&self, message: &Message<'_>) {
        let _ = self.tx.blocking_send(Output::Line(to_line(message)));
    }

    /// Writes a LOG message if `level` is enabled.
    pub async fn log(&self, level: LogLevel, message: impl AsRef<str>) {
        if level <= self.level {
            self.message(&log_message(level, message.as_ref())).await;
        }
    }

    /// Writes `error` as an ERROR trace, optionally tied to a stream.
    pub async fn error(&self, error: &Error, stream: Option<&str>) {
        self.message(&error_trace(error, stream)).await;
    }

    /// [`Emitter::error`] for code outside the async runtime.
    pub fn error_blocking(&self, error: &Error, stream: Option<&str>) {
        self.message_blocking(&error_trace(error, stream));
    }
}

fn log_message(level: LogLevel, message: &str) -> Message<'_> {
    Message::Log {
        log: LogMessage { level, message },
    }
}

fn error_trace<'a>(error: &'a Error, stream: Option<&'a str>) -> Message<'a> {
    Message::Trace {
        trace: TraceMessage::new(TraceBody::Error {
            error: ErrorTrace {
                message: error.message(),
                internal_message: error.internal(),
                failure_type: error.failure_type(),
                stream_descriptor: stream.map(|name| StreamDescriptor { name }),
            },
        }),
    }
}

/// The pipe size asked for: a whole page of RECORD lines (about 0.9 MB for
/// 1,000 orders) fits, and 1 MiB is Linux's default `pipe-max-size`, which
/// any process may ask for.
const PIPE_SIZE: libc::c_int = 1 << 20;

/// Widens stdout to [`PIPE_SIZE`] when it is a pipe (as under the platforms,
/// which read it). At Linux's default 64 KiB, writing one page of records
/// takes 14 round trips of the writer blocking and the reader waking; with
/// the page fitting whole, it takes one. Best effort: a file, a terminal, a
/// lower `pipe-max-size` or another OS keep stdout as it is, which is only
/// slower.
pub fn widen_stdout_pipe() {
    #[cfg(target_os = "linux")]
    widen_pipe(libc::STDOUT_FILENO);
}

/// Widens `fd` to [`PIPE_SIZE`] if it is a pipe; says whether it did.
#[cfg(target_os = "linux")]
fn widen_pipe(fd: libc::c_int) -> bool {
    // SAFETY: fstat writes only into `stat`; fcntl with F_SETPIPE_SZ touches
    // no memory. On a closed or foreign fd both fail, which is ignored.
    unsafe {
        let mut stat: libc::stat = std::mem::zeroed();
        libc::fstat(fd, &mut stat) == 0
            && stat.st_mode & libc::S_IFMT == libc::S_IFIFO
            && libc::fcntl(fd, libc::F_SETPIPE_SZ, PIPE_SIZE) >= PIPE_SIZE
    }
}

fn to_line(message: &Message<'_>) -> Vec<u8> {
    // Our message types hold nothing that can fail to serialize.
    serde_json::to_vec(message).expect("protocol messages always serialize")
}

impl EmitterHandle {
    /// Waits until every [`Emitter`] clone is dropped and all output is
    /// written and flushed.
    pub fn finish(self) -> io::Result<()> {
        self.thread
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("stdout writer panicked")))
    }
}

fn write_all<W: Write>(
    mut rx: mpsc::Receiver<Output>,
    mut out: BufWriter<W>,
    mut writer: Box<dyn FormatWriter>,
) -> io::Result<()> {
    while let Some(output) = rx.blocking_recv() {
        match output {
            Output::Records {
                stream,
                count,
                bytes,
            } => writer.records(&mut out, stream, count, &bytes)?,
            Output::State { stream, blob } => {
                writer.state(&mut out, stream, &blob)?;
                // A state is a promise to the platform: make it durable now.
                out.flush()?;
            }
            Output::Line(line) => {
                // Logs, traces and errors are where a secret could slip out
                // (an API error echoing a token, a detail formatted by
                // mistake): they are scrubbed here, whatever produced them
                // and whatever the format. RECORD batches are not: they are
                // the API's data, most of the output, written on the fast
                // path, and the API does not hand out our secrets in records;
                // scanning every byte of every page would cost throughput for
                // no protection.
                let line = crate::secrets::scrub_json_line(line);
                writer.line(&mut out, &line)?;
            }
        }
    }
    out.flush()
}

/// A `Write` whose contents a test reads after the writer finishes.
#[cfg(test)]
#[derive(Clone, Default)]
pub(crate) struct Captured(pub(crate) std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

#[cfg(test)]
impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(captured: &Captured) -> Vec<serde_json::Value> {
        let bytes = captured.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn state_counts_the_records_of_its_stream_since_the_previous_state() {
        let captured = Captured::default();
        let (emitter, handle) = Emitter::start(
            captured.clone(),
            vec!["a".into(), "b".into()],
            LogLevel::Info,
        );
        let record = |stream: StreamId, name: &str| {
            Output::Records {
            stream,
            count: 1,
            bytes: format!(
                "{{\"type\":\"RECORD\",\"record\":{{\"stream\":\"{name}\",\"data\":{{}},\"emitted_at\":1}}}}\n"
            )
            .into_bytes(),
        }
        };
        emitter.send(record(0, "a")).await;
        emitter.send(record(1, "b")).await;
        emitter.send(record(0, "a")).await;
        emitter
            .send(Output::State {
                stream: 0,
                blob: serde_json::json!({}),
            })
            .await;
        emitter
            .send(Output::State {
                stream: 0,
                blob: serde_json::json!({}),
            })
            .await;
        emitter
            .send(Output::State {
                stream: 1,
                blob: serde_json::json!({}),
            })
            .await;
        drop(emitter);
        handle.finish().unwrap();

        let counts: Vec<(String, f64)> = lines(&captured)
            .iter()
            .filter(|m| m["type"] == "STATE")
            .map(|m| {
                (
                    m["state"]["stream"]["stream_descriptor"]["name"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                    m["state"]["sourceStats"]["recordCount"].as_f64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            counts,
            vec![("a".into(), 2.0), ("a".into(), 0.0), ("b".into(), 1.0)]
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_pipe_is_widened_to_hold_a_whole_page_of_records() {
        let mut fds = [0; 2];
        // SAFETY: pipe fills `fds`; both ends are closed below.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        assert!(widen_pipe(fds[1]));
        // SAFETY: F_GETPIPE_SZ only reads the pipe's size.
        let size = unsafe { libc::fcntl(fds[1], libc::F_GETPIPE_SZ) };
        // SAFETY: the fds are ours and closed once.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
        assert_eq!(size, PIPE_SIZE);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn what_is_not_a_pipe_is_left_as_it_is() {
        use std::os::fd::AsRawFd;
        let file = std::fs::File::open("/dev/null").unwrap();
        assert!(!widen_pipe(file.as_raw_fd()));
    }

    #[tokio::test]
    async fn logs_above_the_chosen_level_are_not_written() {
        let captured = Captured::default();
        let (emitter, handle) = Emitter::start(captured.clone(), vec![], LogLevel::Info);
        emitter.log(LogLevel::Debug, "hidden").await;
        emitter.log(LogLevel::Warn, "shown").await;
        drop(emitter);
        handle.finish().unwrap();
        let lines = lines(&captured);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["log"]["message"], "shown");
        assert_eq!(lines[0]["log"]["level"], "WARN");
    }
}

//! Reading one response body as it streams: gzip inflated on the fly, and
//! both the bytes on the wire and the inflated bytes bounded, so that no
//! answer (a gzip bomb included) can make memory grow past the bound.
//!
//! `flate2`'s streaming decoder does the inflating. reqwest's own `gzip`
//! feature would hide the compressed stream, and with it the wire bound and
//! the wire byte count.

use std::io::{self, Write};

use bytes::Bytes;
use flate2::write::GzDecoder;

/// Why a body could not be read in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyFault {
    /// The body grew past the bound: on the wire, or once inflated.
    TooLarge { inflated: bool, limit: usize },
    /// The gzip stream is corrupt or ends early (a cut-off answer).
    Corrupt(String),
}

/// A body being read: feed it the chunks as they arrive, then finish it.
pub struct BodyReader {
    wire: usize,
    limit: usize,
    sink: Sink,
}

enum Sink {
    Plain(Bounded),
    Gzip(Box<GzDecoder<Bounded>>),
}

impl BodyReader {
    /// A reader for a body of at most `limit` bytes, on the wire and
    /// inflated; `gzip` when the answer says `Content-Encoding: gzip`.
    pub fn new(gzip: bool, limit: usize) -> Self {
        let bounded = Bounded {
            data: Vec::new(),
            limit,
            exceeded: false,
        };
        BodyReader {
            wire: 0,
            limit,
            sink: if gzip {
                Sink::Gzip(Box::new(GzDecoder::new(bounded)))
            } else {
                Sink::Plain(bounded)
            },
        }
    }

    /// Checks a promised `Content-Length` before any byte is read.
    pub fn expect(&self, content_length: Option<u64>) -> Result<(), BodyFault> {
        match content_length {
            Some(length) if length > self.limit as u64 => Err(self.too_large(false)),
            _ => Ok(()),
        }
    }

    /// Takes the next chunk from the wire.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), BodyFault> {
        self.wire = self.wire.saturating_add(chunk.len());
        if self.wire > self.limit {
            return Err(self.too_large(false));
        }
        let written = match &mut self.sink {
            Sink::Plain(bounded) => bounded.write_all(chunk),
            Sink::Gzip(decoder) => decoder.write_all(chunk),
        };
        written.map_err(|e| self.fault(e))
    }

    /// The body (inflated) and the bytes it took on the wire.
    pub fn finish(self) -> Result<(Bytes, usize), BodyFault> {
        let wire = self.wire;
        let limit = self.limit;
        let bounded = match self.sink {
            Sink::Plain(bounded) => bounded,
            Sink::Gzip(decoder) => match decoder.finish() {
                Ok(bounded) => bounded,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Err(BodyFault::Corrupt(
                        "the gzip stream ends early (cut off)".into(),
                    ));
                }
                Err(e) => {
                    return Err(BodyFault::Corrupt(format!(
                        "the gzip stream is corrupt: {e}"
                    )));
                }
            },
        };
        if bounded.exceeded {
            return Err(BodyFault::TooLarge {
                inflated: true,
                limit,
            });
        }
        Ok((Bytes::from(bounded.data), wire))
    }

    fn too_large(&self, inflated: bool) -> BodyFault {
        BodyFault::TooLarge {
            inflated,
            limit: self.limit,
        }
    }

    fn fault(&self, error: io::Error) -> BodyFault {
        let exceeded = match &self.sink {
            Sink::Plain(bounded) => bounded.exceeded,
            Sink::Gzip(decoder) => decoder.get_ref().exceeded,
        };
        if exceeded {
            self.too_large(matches!(self.sink, Sink::Gzip(_)))
        } else {
            BodyFault::Corrupt(format!("the gzip stream is corrupt: {error}"))
        }
    }
}

/// A buffer that refuses to grow past `limit`, and grows to what arrived
/// (never to a promised length or far past the bound).
struct Bounded {
    data: Vec<u8>,
    limit: usize,
    exceeded: bool,
}

impl Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let needed = self.data.len().saturating_add(buf.len());
        if needed > self.limit {
            self.exceeded = true;
            return Err(io::Error::other("the body exceeds the size bound"));
        }
        if needed > self.data.capacity() {
            // Doubling, as Vec does, but capped at the bound.
            let target = needed.max(self.data.capacity() * 2).min(self.limit);
            self.data.reserve_exact(target - self.data.len());
        }
        self.data.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn read(
        gzip: bool,
        limit: usize,
        wire: &[u8],
        chunk: usize,
    ) -> Result<(Bytes, usize), BodyFault> {
        let mut reader = BodyReader::new(gzip, limit);
        for piece in wire.chunks(chunk) {
            reader.push(piece)?;
        }
        reader.finish()
    }

    #[test]
    fn a_gzip_body_is_inflated_and_its_wire_size_counted() {
        let page = br#"{"data":[{"id":"ord_1","total":12.5}],"has_more":false}"#.repeat(100);
        let wire = gzip(&page);
        let (body, wire_bytes) = read(true, 1 << 20, &wire, 7).unwrap();
        assert_eq!(&body[..], &page[..]);
        assert_eq!(wire_bytes, wire.len());
    }

    #[test]
    fn a_plain_body_is_passed_through() {
        let (body, wire_bytes) = read(false, 100, b"{\"data\":[]}", 3).unwrap();
        assert_eq!(&body[..], b"{\"data\":[]}");
        assert_eq!(wire_bytes, 11);
    }

    #[test]
    fn a_body_that_inflates_past_the_bound_is_refused_while_it_streams() {
        // 64 MiB of zeros compress to about 64 KiB.
        let bomb = gzip(&vec![0u8; 64 << 20]);
        let limit = 1 << 20;
        let mut reader = BodyReader::new(true, limit);
        let mut fault = None;
        for piece in bomb.chunks(16 << 10) {
            if let Err(e) = reader.push(piece) {
                fault = Some(e);
                break;
            }
        }
        assert_eq!(
            fault,
            Some(BodyFault::TooLarge {
                inflated: true,
                limit
            })
        );
        let Sink::Gzip(decoder) = &reader.sink else {
            unreachable!("a gzip reader")
        };
        assert!(
            decoder.get_ref().data.capacity() <= limit,
            "memory stays within the bound"
        );
    }

    #[test]
    fn a_body_larger_than_the_bound_on_the_wire_is_refused() {
        let fault = read(false, 10, &[b' '; 11], 4).unwrap_err();
        assert_eq!(
            fault,
            BodyFault::TooLarge {
                inflated: false,
                limit: 10
            }
        );
    }

    #[test]
    fn a_promised_length_past_the_bound_is_refused_before_reading() {
        let reader = BodyReader::new(true, 10);
        assert!(reader.expect(Some(10)).is_ok());
        assert_eq!(
            reader.expect(Some(11)),
            Err(BodyFault::TooLarge {
                inflated: false,
                limit: 10
            })
        );
    }

    #[test]
    fn a_cut_off_gzip_stream_is_corrupt_not_a_short_body() {
        let wire = gzip(&b"{\"data\":[1,2,3]}".repeat(100));
        let fault = read(true, 1 << 20, &wire[..wire.len() / 2], 64).unwrap_err();
        assert!(matches!(fault, BodyFault::Corrupt(_)), "{fault:?}");
    }

    #[test]
    fn the_buffer_grows_to_what_arrived_not_to_a_promise() {
        let mut reader = BodyReader::new(false, 64 << 20);
        reader.push(b"{}").unwrap();
        let Sink::Plain(bounded) = &reader.sink else {
            unreachable!("a plain reader")
        };
        assert!(bounded.data.capacity() < 1024);
    }
}

//! Reading one response body as it streams: gzip inflated on the fly, and
//! both the bytes on the wire and the inflated bytes bounded, so that no
//! answer (a gzip bomb included) can make memory grow past the bound.
//!
//! `flate2`'s `Decompress` (zlib-rs) inflates each chunk as it arrives
//! straight into the body's buffer. reqwest's own `gzip` feature would hide
//! the compressed stream, and with it the wire bound and the wire byte
//! count; flate2's `write::GzDecoder` inflates into a buffer of its own
//! first, and that second copy made inflating a third slower.

use bytes::Bytes;
use flate2::{Decompress, FlushDecompress, Status};

/// Why a body could not be read in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyFault {
    /// The body grew past the bound: on the wire, or once inflated.
    TooLarge { inflated: bool, limit: usize },
    /// The gzip stream is corrupt or ends early (a cut-off answer).
    Corrupt(String),
}

/// List pages compress about 5x (the contract); a gzip body's buffer is
/// first sized for that, then grows.
const EXPECTED_RATIO: usize = 5;

/// A body being read: feed it the chunks as they arrive, then finish it.
pub struct BodyReader {
    wire: usize,
    limit: usize,
    data: Vec<u8>,
    /// The size the answer announced (`Content-Length`), within the limit.
    announced: Option<usize>,
    /// `Some` for a gzip body.
    inflater: Option<Box<Inflater>>,
}

struct Inflater {
    zlib: Decompress,
    /// The gzip stream ended (its trailer, CRC and size, checked).
    ended: bool,
}

impl BodyReader {
    /// A reader for a body of at most `limit` bytes, on the wire and
    /// inflated; `gzip` when the answer says `Content-Encoding: gzip`.
    pub fn new(gzip: bool, limit: usize) -> Self {
        BodyReader {
            wire: 0,
            limit,
            data: Vec::new(),
            announced: None,
            inflater: gzip.then(|| {
                Box::new(Inflater {
                    zlib: Decompress::new_gzip(15),
                    ended: false,
                })
            }),
        }
    }

    /// Checks a promised `Content-Length` before any byte is read; within
    /// the bound, it sizes the buffer once the first byte arrives.
    pub fn expect(&mut self, content_length: Option<u64>) -> Result<(), BodyFault> {
        match content_length {
            Some(length) if length > self.limit as u64 => Err(self.too_large(false)),
            Some(length) => {
                self.announced = usize::try_from(length).ok();
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Takes the next chunk from the wire.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), BodyFault> {
        self.wire = self.wire.saturating_add(chunk.len());
        if self.wire > self.limit {
            return Err(self.too_large(false));
        }
        if self.data.capacity() == 0 && !chunk.is_empty() {
            let expected = match (self.announced, &self.inflater) {
                (Some(length), None) => length,
                (Some(length), Some(_)) => length.saturating_mul(EXPECTED_RATIO),
                (None, _) => chunk.len(),
            };
            self.data
                .reserve_exact(expected.clamp(chunk.len(), self.limit));
        }
        match self.inflater.take() {
            None => {
                self.grow_for(chunk.len(), false)?;
                self.data.extend_from_slice(chunk);
                Ok(())
            }
            Some(mut inflater) => {
                let inflated = self.inflate(&mut inflater, chunk);
                self.inflater = Some(inflater);
                inflated
            }
        }
    }

    /// The body (inflated) and the bytes it took on the wire.
    pub fn finish(self) -> Result<(Bytes, usize), BodyFault> {
        if self.inflater.as_ref().is_some_and(|i| !i.ended) {
            return Err(BodyFault::Corrupt(
                "the gzip stream ends early (cut off)".into(),
            ));
        }
        Ok((Bytes::from(self.data), self.wire))
    }

    /// Inflates `input` into the buffer, growing it within the bound as
    /// long as the inflater has output to give.
    fn inflate(&mut self, inflater: &mut Inflater, mut input: &[u8]) -> Result<(), BodyFault> {
        let corrupt = |e: flate2::DecompressError| {
            BodyFault::Corrupt(format!("the gzip stream is corrupt: {e}"))
        };
        loop {
            if inflater.ended {
                if input.is_empty() {
                    return Ok(());
                }
                return Err(BodyFault::Corrupt(
                    "bytes follow the end of the gzip stream".into(),
                ));
            }
            let (in_before, out_before) = (inflater.zlib.total_in(), inflater.zlib.total_out());
            let full = self.data.len() == self.data.capacity();
            let status = if full && self.data.len() >= self.limit {
                // At the bound the stream may still end: its trailer needs
                // no room. One byte more of output is one too many.
                let mut probe = [0u8; 1];
                let status = inflater
                    .zlib
                    .decompress(input, &mut probe, FlushDecompress::None)
                    .map_err(corrupt)?;
                if inflater.zlib.total_out() > out_before {
                    return Err(self.too_large(true));
                }
                status
            } else {
                if full {
                    self.grow_for(1, true)?;
                }
                inflater
                    .zlib
                    .decompress_vec(input, &mut self.data, FlushDecompress::None)
                    .map_err(corrupt)?
            };
            let consumed =
                usize::try_from(inflater.zlib.total_in() - in_before).unwrap_or(usize::MAX);
            let produced = inflater.zlib.total_out() - out_before;
            input = input.get(consumed..).unwrap_or_default();
            match status {
                Status::StreamEnd => inflater.ended = true,
                // A full buffer may hide more output: make room, go on.
                _ if self.data.len() == self.data.capacity() && produced > 0 => {}
                _ if input.is_empty() => return Ok(()),
                _ if consumed == 0 && produced == 0 => {
                    return Err(BodyFault::Corrupt(
                        "the gzip stream makes no progress".into(),
                    ));
                }
                _ => {}
            }
        }
    }

    /// Makes room for `more` bytes: doubling, as Vec does, but never past
    /// the bound; past it, the body is too large.
    fn grow_for(&mut self, more: usize, inflated: bool) -> Result<(), BodyFault> {
        let needed = self.data.len().saturating_add(more);
        if needed > self.limit {
            return Err(self.too_large(inflated));
        }
        if needed > self.data.capacity() {
            let target = needed.max(self.data.capacity() * 2).min(self.limit);
            self.data.reserve_exact(target - self.data.len());
        }
        Ok(())
    }

    fn too_large(&self, inflated: bool) -> BodyFault {
        BodyFault::TooLarge {
            inflated,
            limit: self.limit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write as _;

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
        assert!(
            reader.data.capacity() <= limit,
            "memory stays within the bound"
        );
    }

    #[test]
    fn a_gzip_body_of_exactly_the_bound_is_read() {
        let page = b"0123456789".repeat(1000);
        let wire = gzip(&page);
        let (body, _) = read(true, page.len(), &wire, 100).unwrap();
        assert_eq!(body.len(), page.len());
        assert_eq!(
            read(true, page.len() - 1, &wire, 100).unwrap_err(),
            BodyFault::TooLarge {
                inflated: true,
                limit: page.len() - 1
            }
        );
    }

    #[test]
    fn a_gzip_body_arriving_a_byte_at_a_time_is_inflated() {
        let page = br#"{"data":[{"id":"ord_1"}],"has_more":false}"#.repeat(300);
        let wire = gzip(&page);
        assert_eq!(&read(true, 1 << 20, &wire, 1).unwrap().0[..], &page[..]);
    }

    #[test]
    fn bytes_after_the_end_of_the_gzip_stream_are_corrupt() {
        let mut wire = gzip(b"{\"data\":[]}");
        wire.extend_from_slice(b"junk");
        let fault = read(true, 1 << 20, &wire, 5).unwrap_err();
        assert!(matches!(fault, BodyFault::Corrupt(_)), "{fault:?}");
    }

    #[test]
    fn a_corrupt_gzip_stream_is_refused() {
        let mut wire = gzip(&b"{\"data\":[1,2,3]}".repeat(100));
        let middle = wire.len() / 2;
        wire[middle] ^= 0xff;
        wire[middle + 1] ^= 0x55;
        let fault = read(true, 1 << 20, &wire, 64).unwrap_err();
        assert!(matches!(fault, BodyFault::Corrupt(_)), "{fault:?}");
    }

    #[test]
    fn an_announced_length_sizes_the_buffer_once() {
        let mut reader = BodyReader::new(false, 1 << 20);
        reader.expect(Some(5000)).unwrap();
        reader.push(&[b' '; 100]).unwrap();
        assert_eq!(reader.data.capacity(), 5000);
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
        let mut reader = BodyReader::new(true, 10);
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
        assert!(reader.data.capacity() < 1024);
    }
}

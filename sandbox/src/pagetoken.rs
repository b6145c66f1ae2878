//! Keyset page tokens.
//!
//! A token carries the position (the last key served), the filters of the
//! walk and its issue time, authenticated with a per-server HMAC so that a
//! client cannot forge positions. It is opaque to clients: base64url of
//! `stream.ts.id.min_ts.include_deleted.issued_ms.tag`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::crypto;
use crate::rng::{Purpose, Rng};
use crate::store::Key;
use crate::stream::Stream;

/// Bytes of the HMAC kept in a token.
const TAG_LEN: usize = 12;

/// What a keyset page token says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PageToken {
    pub stream: Stream,
    /// Key of the last record served; the next page starts after it.
    pub after: Key,
    /// Inclusive lower bound on the key's second (from `updated_after` / `created_after`).
    pub min_ts: Option<i64>,
    pub include_deleted: bool,
    /// When the token was issued, unix milliseconds.
    pub issued_ms: u64,
}

/// Why a page token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PageTokenError {
    #[error("page_token is malformed")]
    Malformed,
    #[error("page_token belongs to another endpoint")]
    WrongStream,
    #[error("page_token has expired; start again from the first page")]
    Expired,
}

/// Encodes and checks the tokens of one server.
#[derive(Clone, Debug)]
pub(crate) struct PageTokenCodec {
    key: [u8; 32],
}

impl PageTokenCodec {
    /// A codec with a key derived from the server seed.
    pub(crate) fn new(seed: u64) -> PageTokenCodec {
        let mut rng = Rng::keyed(seed, Purpose::PageTokenKey, 0);
        let mut key = [0_u8; 32];
        for chunk in key.chunks_mut(8) {
            chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
        }
        PageTokenCodec { key }
    }

    /// The opaque token for `token`.
    pub(crate) fn encode(&self, token: &PageToken) -> String {
        let min = token
            .min_ts
            .map_or_else(|| "-".to_owned(), |t| t.to_string());
        let payload = format!(
            "{}.{}.{:x}.{min}.{}.{}",
            token.stream.code(),
            token.after.ts,
            token.after.id,
            u8::from(token.include_deleted),
            token.issued_ms
        );
        let tag = crypto::hmac_sha256(&self.key, &[payload.as_bytes()]);
        URL_SAFE_NO_PAD.encode(format!("{payload}.{}", hex::encode(&tag[..TAG_LEN])))
    }

    /// Checks and decodes a token presented to the `expected` endpoint, valid
    /// for `ttl_ms` after its issue.
    pub(crate) fn decode(
        &self,
        raw: &str,
        expected: Stream,
        now_ms: u64,
        ttl_ms: u64,
    ) -> Result<PageToken, PageTokenError> {
        let token = self.parse(raw).ok_or(PageTokenError::Malformed)?;
        if token.stream != expected {
            return Err(PageTokenError::WrongStream);
        }
        if now_ms.saturating_sub(token.issued_ms) > ttl_ms {
            return Err(PageTokenError::Expired);
        }
        Ok(token)
    }

    fn parse(&self, raw: &str) -> Option<PageToken> {
        let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
        let text = std::str::from_utf8(&bytes).ok()?;
        let (payload, tag) = text.rsplit_once('.')?;
        let tag = hex::decode(tag).ok()?;
        if tag.len() != TAG_LEN
            || !crypto::verify_hmac_sha256(&self.key, &[payload.as_bytes()], &tag)
        {
            return None;
        }
        let mut parts = payload.split('.');
        let stream = Stream::from_code(parts.next()?.parse().ok()?)?;
        let ts = parts.next()?.parse().ok()?;
        let id = u64::from_str_radix(parts.next()?, 16).ok()?;
        let min_ts = match parts.next()? {
            "-" => None,
            t => Some(t.parse().ok()?),
        };
        let include_deleted = match parts.next()? {
            "0" => false,
            "1" => true,
            _ => return None,
        };
        let issued_ms = parts.next()?.parse().ok()?;
        if parts.next().is_some() {
            return None;
        }
        Some(PageToken {
            stream,
            after: Key { ts, id },
            min_ts,
            include_deleted,
            issued_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> PageToken {
        PageToken {
            stream: Stream::Customers,
            after: Key {
                ts: 1_700_000_000,
                id: 0xabc,
            },
            min_ts: Some(1_690_000_000),
            include_deleted: true,
            issued_ms: 1_000_000,
        }
    }

    #[test]
    fn tokens_round_trip_within_their_lifetime() {
        let codec = PageTokenCodec::new(42);
        let raw = codec.encode(&token());
        assert_eq!(
            codec.decode(&raw, Stream::Customers, 1_000_500, 600_000),
            Ok(token())
        );
        let open = PageToken {
            min_ts: None,
            include_deleted: false,
            ..token()
        };
        assert_eq!(
            codec.decode(&codec.encode(&open), Stream::Customers, 1_000_000, 1),
            Ok(open)
        );
    }

    #[test]
    fn expired_tokens_are_refused() {
        let codec = PageTokenCodec::new(42);
        let raw = codec.encode(&token());
        assert_eq!(
            codec.decode(&raw, Stream::Customers, 1_000_000 + 600_001, 600_000),
            Err(PageTokenError::Expired)
        );
    }

    #[test]
    fn tokens_of_another_endpoint_or_server_or_edited_are_refused() {
        let codec = PageTokenCodec::new(42);
        let raw = codec.encode(&token());
        assert_eq!(
            codec.decode(&raw, Stream::OrderEvents, 1_000_000, 600_000),
            Err(PageTokenError::WrongStream)
        );
        let other = PageTokenCodec::new(43);
        assert_eq!(
            other.decode(&raw, Stream::Customers, 1_000_000, 600_000),
            Err(PageTokenError::Malformed)
        );
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(&raw).unwrap()).unwrap();
        let forged = URL_SAFE_NO_PAD.encode(text.replacen("1700000000", "1700000001", 1));
        assert_eq!(
            codec.decode(&forged, Stream::Customers, 1_000_000, 600_000),
            Err(PageTokenError::Malformed)
        );
        assert_eq!(
            codec.decode("not a token", Stream::Customers, 0, 1),
            Err(PageTokenError::Malformed)
        );
    }
}

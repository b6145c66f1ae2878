//! HMAC-SHA256, for the signed token exchange and for page tokens.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac
}

/// HMAC-SHA256 of the concatenation of `parts`.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    mac(key, parts).finalize().into_bytes().into()
}

/// Constant-time check that `tag` is the HMAC-SHA256 (or a prefix of at
/// least 8 bytes of it) of the concatenation of `parts`.
pub(crate) fn verify_hmac_sha256(key: &[u8], parts: &[&[u8]], tag: &[u8]) -> bool {
    if tag.len() < 8 {
        return false;
    }
    let mac = mac(key, parts);
    if tag.len() == 32 {
        mac.verify_slice(tag).is_ok()
    } else {
        mac.verify_truncated_left(tag).is_ok()
    }
}

/// Equality of two secrets without an early exit on the first difference
/// (the length may leak; the content does not).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_rfc_4231_test_vector() {
        // RFC 4231, test case 2.
        let tag = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex::encode(tag),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(verify_hmac_sha256(
            b"Jefe",
            &[b"what do ya want for nothing?"],
            &tag
        ));
        assert!(verify_hmac_sha256(
            b"Jefe",
            &[b"what do ya want for nothing?"],
            &tag[..12]
        ));
        assert!(!verify_hmac_sha256(
            b"Jefe",
            &[b"what do ya want for nothing!"],
            &tag
        ));
        assert!(!verify_hmac_sha256(
            b"Jefe",
            &[b"what do ya want for nothing?"],
            &tag[..4]
        ));
    }

    #[test]
    fn ct_eq_compares_contents_and_lengths() {
        assert!(ct_eq(b"secret", b"secret"));
        assert!(!ct_eq(b"secret", b"secreT"));
        assert!(!ct_eq(b"secret", b"secret2"));
    }
}

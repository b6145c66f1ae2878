//! Mixed UTC offsets: the contract's "any instant in any offset" quirk.
//!
//! Stored JSON always has canonical UTC timestamps (`YYYY-MM-DDTHH:MM:SSZ`).
//! With mixed offsets on, a response is rewritten just before it is sent:
//! each such string gets an offset chosen at random, denoting the same
//! instant. Generated free text never contains that exact shape, so only
//! timestamps are touched.

use crate::rng::Rng;
use crate::timefmt::{self, CANONICAL_LEN};

/// Offsets in minutes east of UTC; real ones, including half and quarter hours.
const OFFSETS_MINUTES: &[i32] = &[
    0, 60, 120, 180, -300, -240, 330, 345, -210, 540, 600, -480, -600, 780, 0,
];

/// `json` with every canonical timestamp string re-rendered in a random offset.
pub(crate) fn mix_offsets(json: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len() + json.len() / 16);
    let mut copied = 0;
    let mut scratch = String::with_capacity(32);
    // A canonical string is `"` + 20 bytes ending in `Z` + `"`: find `Z"` and look back.
    let mut i = CANONICAL_LEN;
    while i + 1 < json.len() {
        if json[i] == b'Z' && json[i + 1] == b'"' && json[i - CANONICAL_LEN] == b'"' {
            let start = i + 1 - CANONICAL_LEN;
            if let Some(secs) = timefmt::parse_canonical(&json[start..=i]) {
                out.extend_from_slice(&json[copied..start]);
                scratch.clear();
                timefmt::push_with_offset(&mut scratch, secs, rng.pick(OFFSETS_MINUTES));
                out.extend_from_slice(scratch.as_bytes());
                copied = i + 1;
            }
        }
        i += 1;
    }
    out.extend_from_slice(&json[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn every_timestamp_keeps_its_instant_in_some_offset() {
        let json = br#"{"a":"2024-03-01T10:00:00Z","b":["2023-01-01T00:00:00Z",1],"c":"not a time Z","d":null}"#;
        let mut seen_non_utc = false;
        for seed in 0..20 {
            let mixed = mix_offsets(json, &mut Rng::new(seed));
            let v: Value = serde_json::from_slice(&mixed).unwrap();
            let a = v["a"].as_str().unwrap();
            assert_eq!(timefmt::parse_instant(a), Some(1_709_287_200));
            assert_eq!(
                timefmt::parse_instant(v["b"][0].as_str().unwrap()),
                Some(1_672_531_200)
            );
            assert_eq!(v["c"], "not a time Z");
            seen_non_utc |= !a.ends_with('Z');
        }
        assert!(seen_non_utc);
    }

    #[test]
    fn text_without_timestamps_is_unchanged() {
        let json = br#"{"note":"Z\"","n":12}"#;
        assert_eq!(mix_offsets(json, &mut Rng::new(1)), json.to_vec());
        assert_eq!(mix_offsets(b"", &mut Rng::new(1)), Vec::<u8>::new());
    }
}

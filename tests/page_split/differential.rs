//! Differential test: random mutations of seed bodies must be accepted or
//! rejected exactly as serde_json does, with the same records when accepted.
//!
//! `PAGE_SPLIT_MUTATIONS=N cargo test --release --test page_split` sets the
//! number of mutated bodies (the default runs in about 30 s in release mode).

use crate::common::*;
use source_ecommerce::json_page::Path;

#[test]
fn mutated_bodies_are_judged_like_serde_json() {
    let total = env_count(
        "PAGE_SPLIT_MUTATIONS",
        if cfg!(debug_assertions) {
            1_000_000
        } else {
            10_000_000
        },
    );
    let seed = env_count("PAGE_SPLIT_SEED", 0x5EED) as u64;
    let seeds = seeds();
    for s in &seeds {
        assert_eq!(
            check(s, Path::best()),
            Agreement::Same,
            "seed must be valid: {}",
            show(s)
        );
        assert!(serde(s).is_ok(), "seed must be valid: {}", show(s));
    }
    // Every available stage-1 path takes its turn.
    let paths = Path::available();
    let mut rng = Rng(seed | 1);
    let (mut accepted, mut utf8, mut arrays) = (0usize, 0usize, 0usize);
    let mut body = Vec::new();
    for i in 0..total {
        let from = &seeds[rng.below(seeds.len())];
        body.clear();
        body.extend_from_slice(from);
        mutate(&mut rng, &mut body);
        match check(&body, paths[i % paths.len()]) {
            Agreement::Same => accepted += serde(&body).is_ok() as usize,
            Agreement::Utf8InIgnoredField => utf8 += 1,
            Agreement::TopLevelArray => arrays += 1,
        }
    }
    println!(
        "{total} mutated bodies: {accepted} accepted by both, {} rejected by both, \
         {utf8} invalid UTF-8 in ignored fields (serde accepts, we reject), {arrays} top-level arrays",
        total - accepted - utf8 - arrays
    );
    assert!(
        accepted > total / 100,
        "mutations should leave some bodies valid"
    );
}

//! Every SIMD path must give exactly the scalar path's result (records or error).

use crate::common::*;
use source_ecommerce::json_page::Path;

fn assert_paths_agree(body: &[u8]) {
    let scalar = ours(body, Path::Scalar);
    for path in Path::available() {
        assert_eq!(
            ours(body, path),
            scalar,
            "{path:?} differs from Scalar on {}",
            show(body)
        );
    }
}

#[test]
fn simd_paths_match_scalar_on_seeds() {
    for seed in seeds() {
        assert_paths_agree(&seed);
    }
}

#[test]
fn simd_paths_match_scalar_on_mutated_bodies() {
    let total = env_count(
        "PAGE_SPLIT_PATH_MUTATIONS",
        if cfg!(debug_assertions) {
            50_000
        } else {
            300_000
        },
    );
    let seeds = seeds();
    let mut rng = Rng(0xBADC0FFEE);
    for _ in 0..total {
        let mut body = seeds[rng.below(seeds.len())].clone();
        mutate(&mut rng, &mut body);
        assert_paths_agree(&body);
    }
}

#[test]
fn simd_paths_match_scalar_on_random_bytes() {
    // Dense structural and string bytes exercise every mask at once.
    let alphabet = b"{}[],:\"\\ \t\n\r0123456789-+.eEtrufalsn\x00\x1f\x7f\xc3\xa9u";
    let mut rng = Rng(42);
    for _ in 0..if cfg!(debug_assertions) {
        20_000
    } else {
        50_000
    } {
        let len = rng.below(300);
        let mut body = b"{\"data\":[".to_vec();
        body.extend((0..len).map(|_| alphabet[rng.below(alphabet.len())]));
        assert_paths_agree(&body);
    }
}

#[test]
fn simd_paths_match_scalar_on_the_sample_page() {
    let body = page_prefix(usize::MAX);
    assert!(
        ours(&body, Path::Scalar).is_ok(),
        "{:?}",
        ours(&body, Path::Scalar).err()
    );
    assert_paths_agree(&body);
}

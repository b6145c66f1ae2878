//! The page splitter alone, every stage-1 path on the same page: what each
//! SIMD kernel is worth, apart from the network and the rest of the read.
//!
//! `cargo bench --bench page_split` prints microseconds per page and GB/s
//! for a page of 1,000 sandbox orders (the records of
//! `tests/fixtures/orders_page.json`, repeated), the best of 20 rounds of
//! 50 splits per path, paths taking turns so that they share the machine's
//! moods.

use std::hint::black_box;
use std::time::{Duration, Instant};

use source_ecommerce::json_page::{Path, split_page_with};

const RECORDS: usize = 1_000;
const ROUNDS: usize = 20;
const SPLITS_PER_ROUND: u32 = 50;

fn main() -> anyhow::Result<()> {
    let body = page()?;
    let paths = Path::available();
    let mut best = vec![Duration::MAX; paths.len()];
    for _ in 0..ROUNDS {
        for (i, &path) in paths.iter().enumerate() {
            let started = Instant::now();
            for _ in 0..SPLITS_PER_ROUND {
                let page = split_page_with(black_box(&body), path)?;
                assert_eq!(page.records.len(), RECORDS);
            }
            best[i] = best[i].min(started.elapsed() / SPLITS_PER_ROUND);
        }
    }
    println!(
        "page of {RECORDS} orders, {} bytes; best of {ROUNDS} rounds of {SPLITS_PER_ROUND} splits",
        body.len()
    );
    for (path, per_page) in paths.iter().zip(&best) {
        println!(
            "{:<8} {:>8.1} us/page  {:>5.2} GB/s  {:>6.3} us/record",
            format!("{path:?}"),
            per_page.as_secs_f64() * 1e6,
            body.len() as f64 / per_page.as_secs_f64() / 1e9,
            per_page.as_secs_f64() * 1e6 / RECORDS as f64
        );
    }
    Ok(())
}

/// A page of [`RECORDS`] orders, as the API writes one.
fn page() -> anyhow::Result<Vec<u8>> {
    #[derive(serde::Deserialize)]
    struct Page<'a> {
        #[serde(borrow)]
        data: Vec<&'a serde_json::value::RawValue>,
    }
    let fixture = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/orders_page.json"
    ))?;
    let orders = serde_json::from_slice::<Page>(&fixture)?.data;
    anyhow::ensure!(!orders.is_empty(), "the fixture holds no orders");
    let records: Vec<&str> = orders
        .iter()
        .cycle()
        .take(RECORDS)
        .map(|r| r.get())
        .collect();
    Ok(format!(
        r#"{{"data":[{}],"has_more":true,"next_page_token":"t"}}"#,
        records.join(",")
    )
    .into_bytes())
}

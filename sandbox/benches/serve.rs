//! Generation and serving cost at benchmark scale.
//!
//! `cargo bench -p ecommerce-sandbox` starts a sandbox with 1,000,000 orders,
//! 100,000 customers, 10,000 products and 2,000,000 events (override with
//! `SANDBOX_BENCH_ORDERS`; the other streams scale with it), then walks every
//! orders page with `limit=1000` and the first pages of the keyset streams.
//! Server CPU is read from the sandbox runtime's own threads (Linux
//! `/proc/self/task`), so the client's work is not counted.

use std::time::{Duration, Instant};

use ecommerce_sandbox::{RateLimit, Sandbox, SandboxConfig, Sizes};

const API_KEY: &str = "sk_test_sandbox_0123456789";

/// CPU time of the sandbox runtime's threads (named `ecommerce-sandbox`).
fn sandbox_cpu() -> Option<Duration> {
    let ticks_per_sec = 100.0; // USER_HZ on Linux
    let mut total = 0_u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("stat")).ok()?;
        let (name, rest) = stat.split_once(") ")?;
        if !name.ends_with("ecommerce-sandb") {
            continue; // thread names are cut to 15 bytes
        }
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // After the name: state is field 3, utime 14 and stime 15 (1-based, whole line).
        total += fields[11].parse::<u64>().ok()? + fields[12].parse::<u64>().ok()?;
    }
    Some(Duration::from_secs_f64(total as f64 / ticks_per_sec))
}

fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? / 1024)
}

async fn walk(
    client: &reqwest::Client,
    base: &str,
    first: &str,
    keyset: bool,
    max_pages: usize,
) -> (usize, usize) {
    let (mut pages, mut records) = (0, 0);
    let mut url = format!("{base}{first}");
    loop {
        let body: serde_json::Value = client
            .get(&url)
            .bearer_auth(API_KEY)
            .send()
            .await
            .expect("answered")
            .json()
            .await
            .expect("JSON");
        pages += 1;
        records += body["data"].as_array().map_or(0, Vec::len);
        let next = if keyset {
            body["next_page_token"]
                .as_str()
                .map(|t| format!("{base}{first}&page_token={t}"))
        } else if body["has_more"].as_bool() == Some(true) {
            Some(format!("{base}{first}&page={}", pages + 1))
        } else {
            None
        };
        match next {
            Some(next) if pages < max_pages => url = next,
            _ => return (pages, records),
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let orders: usize = std::env::var("SANDBOX_BENCH_ORDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let sizes = Sizes {
        customers: orders / 10,
        products: (orders / 100).max(1),
        orders,
        order_events: orders * 2,
    };
    println!("sizes: {sizes:?}");
    let started = Instant::now();
    let sandbox = Sandbox::start(SandboxConfig {
        sizes,
        rate_limit: RateLimit::disabled(),
        log_requests: false,
        ..SandboxConfig::default()
    })
    .await?;
    println!(
        "generation + start: {:.2} s",
        started.elapsed().as_secs_f64()
    );
    println!("peak RSS after start: {} MiB", peak_rss_mib().unwrap_or(0));

    let client = reqwest::Client::new();
    let base = sandbox.url();
    for (name, first, keyset, max_pages) in [
        (
            "orders (page numbers, full walk)",
            "/v1/orders?limit=1000",
            false,
            usize::MAX,
        ),
        ("customers (keyset)", "/v1/customers?limit=1000", true, 100),
        (
            "order_events (keyset)",
            "/v1/order_events?limit=1000",
            true,
            300,
        ),
        (
            "orders filtered (updated_after, include_deleted)",
            "/v1/orders?limit=1000&include_deleted=true&updated_after=2024-06-01T00:00:00Z",
            false,
            200,
        ),
    ] {
        let cpu_before = sandbox_cpu();
        let wall = Instant::now();
        let (pages, records) = walk(&client, &base, first, keyset, max_pages).await;
        let wall = wall.elapsed().as_secs_f64();
        let cpu = sandbox_cpu()
            .zip(cpu_before)
            .map(|(after, before)| (after - before).as_secs_f64());
        println!(
            "{name}: {pages} pages, {records} records, {:.0} records/s end to end, server CPU {}",
            records as f64 / wall,
            cpu.map_or("n/a".to_owned(), |c| format!(
                "{:.2} ms/page",
                c * 1_000.0 / pages as f64
            )),
        );
    }
    println!("peak RSS: {} MiB", peak_rss_mib().unwrap_or(0));
    sandbox.shutdown().await;
    Ok(())
}

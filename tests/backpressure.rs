//! A platform that reads stdout slowly slows the connector down instead of
//! making it buffer: memory stays flat while far more output than that
//! passes through.

mod common;

use std::time::Duration;

use common::*;
use ecommerce_sandbox::{SandboxConfig, Sizes};
use serde_json::json;
use tokio::io::AsyncReadExt;

fn resident_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_stays_bounded_when_stdout_is_read_slowly() {
    let sandbox = sandbox(SandboxConfig {
        sizes: Sizes {
            customers: 10,
            products: 10,
            orders: 100_000,
            order_events: 10,
        },
        ..small(70)
    })
    .await;
    let inputs = Inputs::new();
    let config = inputs.write(
        "config.json",
        &with(api_key_config(&sandbox), json!({"page_size": 1000})),
    );
    let catalog = inputs.write("catalog.json", &catalog(&["orders"], "full_refresh"));
    let mut child = tokio::process::Command::new(BINARY)
        .args([
            "read",
            "--config",
            config.to_str().unwrap(),
            "--catalog",
            catalog.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut buffer = vec![0u8; 64 * 1024];
    let (mut total, mut peak) = (0usize, 0f64);
    loop {
        let n = stdout.read(&mut buffer).await.unwrap();
        if n == 0 {
            break;
        }
        total += n;
        if let Some(mb) = resident_mb(pid) {
            peak = peak.max(mb);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(child.wait().await.unwrap().success());
    let output_mb = total as f64 / 1e6;
    println!("peak RSS {peak:.1} MB for {output_mb:.0} MB of output");
    assert!(
        output_mb > 60.0,
        "enough output to notice buffering: {output_mb:.0} MB"
    );
    assert!(
        peak < 48.0,
        "peak RSS {peak:.1} MB while {output_mb:.0} MB went through a slow reader"
    );
}

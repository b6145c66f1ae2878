//! One response body is bounded by `max_response_mb`, on the wire and once
//! decompressed: a gzip bomb fails the sync with a clear error, and the
//! connector's memory stays within the bound.
//!
//! A test binary of its own: the connector's peak RSS comes from `wait4`,
//! and Linux folds the RSS of the process that spawns it into that figure, so
//! the spawning process must stay small (no sandboxes of other tests).

mod common;

use common::*;
use serde_json::{Value, json};

/// A server that answers every request with `body`, declared as gzip.
async fn gzip_server(body: Vec<u8>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let body = std::sync::Arc::new(body);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut buffer = [0u8; 8192];
                let _ = socket.read(&mut buffer).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\nX-Request-Id: req_bomb\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
            });
        }
    });
    url
}

/// Runs `read` and reaps the process with `wait4`: its output and peak RSS (MB).
#[expect(
    clippy::zombie_processes,
    reason = "reaped with wait4, which also gives its rusage"
)]
fn read_measuring_rss(config: &Value) -> (Output, f64) {
    use std::io::Read as _;
    let inputs = Inputs::new();
    let config = inputs.write("config.json", config);
    let catalog = inputs.write("catalog.json", &catalog(&["orders"], "full_refresh"));
    let mut child = std::process::Command::new(BINARY)
        .args(["read", "--config", config.to_str().unwrap()])
        .args(["--catalog", catalog.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the connector binary runs");
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let mut status = 0;
    // SAFETY: rusage is plain data, and the pid is our own unreaped child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32, "the connector is reaped");
    let messages = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let output = Output {
        code: libc::WEXITSTATUS(status),
        stdout,
        stderr: String::new(),
        messages,
    };
    (output, usage.ru_maxrss as f64 / 1024.0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gzip_bomb_is_a_system_error_naming_the_request_and_memory_stays_bounded() {
    use std::io::Write as _;
    // 512 MiB of zeros: about half a megabyte on the wire.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..512 {
        encoder.write_all(&zeros).unwrap();
    }
    let bomb = encoder.finish().unwrap();
    let url = gzip_server(bomb).await;
    let config = json!({
        "base_url": url,
        "credentials": {"auth_type": "api_key", "api_key": "k"},
        "max_response_mb": 8,
    });

    let (output, peak_rss_mb) = tokio::task::spawn_blocking(move || read_measuring_rss(&config))
        .await
        .unwrap();

    assert_ne!(output.code, 0);
    let error = output.errors()[0];
    assert_eq!(error["failure_type"], "system_error");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.starts_with("GET /v1/health answered with a body larger than max_response_mb (8 MB) once decompressed"),
        "{error}"
    );
    assert!(peak_rss_mb < 40.0, "peak RSS {peak_rss_mb:.1} MB");
}

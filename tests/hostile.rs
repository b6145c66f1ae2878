//! Against a server that breaks the API's contract, a read ends within a
//! bound, with the right failure class and a message a person can act on;
//! it never panics, prints only valid Airbyte messages, keeps its memory
//! bounded and never prints a secret.
//!
//! The server is a raw TCP loop rather than an axum app: several cases send
//! what no well-behaved HTTP library will write (a header value with a
//! newline, a broken status line, a body mutated at random).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use common::*;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const API_KEY: &str = "hostile-api-key-7f3a9c";
const CLIENT_SECRET: &str = "hostile-client-secret-5d2e";
const ISSUED_TOKEN: &str = "hostile-issued-token-81bc";

/// No case may take longer than this, retries included.
const TIME_BOUND: Duration = Duration::from_secs(60);
/// Peak resident memory of any connector run, in KiB.
const MEMORY_BOUND_KIB: i64 = 100 * 1024;

/// What the server got: the path and query of one request, and how many
/// requests to that path came before it.
struct Request {
    path: String,
    query: String,
    nth: usize,
}

/// How a hostile server answers each request, as raw HTTP bytes.
type Handler = Arc<dyn Fn(&Request) -> Vec<u8> + Send + Sync>;

/// A well-formed HTTP/1.1 answer.
fn answer(status: u16, headers: &[(&str, String)], body: &str) -> Vec<u8> {
    let mut text = format!(
        "HTTP/1.1 {status} Whatever\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(body);
    text.into_bytes()
}

fn now_header() -> (&'static str, String) {
    ("Date", httpdate::fmt_http_date(SystemTime::now()))
}

/// The health check (the API's clock) and the token endpoint, behaving;
/// `None` for the stream endpoints a case scripts.
fn well_behaved(request: &Request) -> Option<Vec<u8>> {
    match request.path.as_str() {
        "/v1/health" => Some(answer(200, &[now_header()], r#"{"status":"ok"}"#)),
        "/v1/oauth/token" => Some(answer(
            200,
            &[now_header()],
            &json!({"access_token": ISSUED_TOKEN, "expires_in": 3600}).to_string(),
        )),
        _ => None,
    }
}

/// Serves `handler` on 127.0.0.1 until the test ends; the URL to use.
async fn hostile_server(handler: Handler) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let counts: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>> = Arc::default();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (handler, counts) = (handler.clone(), counts.clone());
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buffer = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 << 10 {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buffer[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head);
                let target = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let (path, query) = target.split_once('?').unwrap_or((&target, ""));
                let nth = {
                    let mut counts = counts.lock().unwrap();
                    let count = counts.entry(path.to_owned()).or_default();
                    *count += 1;
                    *count - 1
                };
                let request = Request {
                    path: path.to_owned(),
                    query: query.to_owned(),
                    nth,
                };
                let _ = socket.write_all(&handler(&request)).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    url
}

fn api_key_credentials() -> Value {
    json!({"auth_type": "api_key", "api_key": API_KEY})
}

fn oauth_credentials() -> Value {
    json!({
        "auth_type": "oauth2_client_credentials",
        "client_id": "hostile-client",
        "client_secret": CLIENT_SECRET,
    })
}

/// Records `<prefix>_<n>` for `ids`, updated a second apart from 2024-01-01.
fn records_updated_apart(prefix: &str, ids: std::ops::Range<usize>) -> Vec<Value> {
    ids.map(|n| {
        json!({
            "id": format!("{prefix}_{n:06}"),
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": format!("2024-01-01T00:{:02}:{:02}Z", (n / 60) % 60, n % 60),
        })
    })
    .collect()
}

/// A keyset page of customers `ids`.
fn customers_page(ids: std::ops::Range<usize>, token: Option<String>) -> Vec<u8> {
    let data = records_updated_apart("cus", ids);
    answer(
        200,
        &[now_header()],
        &json!({"data": data, "next_page_token": token}).to_string(),
    )
}

/// A page-numbered page of one product, with `has_more` and a count.
fn products_page(n: usize, has_more: bool, total: u64) -> Vec<u8> {
    let body = json!({
        "data": [{
            "id": format!("prod_{n:06}"),
            "name": "thing",
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
        }],
        "has_more": has_more,
    });
    answer(
        200,
        &[now_header(), ("X-Total-Count", total.to_string())],
        &body.to_string(),
    )
}

/// A page-numbered page of orders `ids`, with `has_more`.
fn orders_page(ids: std::ops::Range<usize>, has_more: bool) -> Vec<u8> {
    let data = records_updated_apart("ord", ids);
    answer(
        200,
        &[now_header()],
        &json!({"data": data, "page": 1, "has_more": has_more}).to_string(),
    )
}

/// Whether `request` is a walk's probe, which asks for one record.
fn is_probe(request: &Request) -> bool {
    request.query.split('&').any(|pair| pair == "limit=1")
}

/// A 429 whose `Retry-After` is `value`.
fn rate_limited(value: &str) -> Vec<u8> {
    answer(
        429,
        &[now_header(), ("Retry-After", value.to_owned())],
        r#"{"error":{"code":"rate_limited","message":"slow down"}}"#,
    )
}

/// Reads that a rate limit holds beyond `max_retry_seconds`.
const RATE_LIMITED_BEYOND_BUDGET: Expect = Expect::Fails {
    failure_type: "transient_error",
    says: "max_retry_seconds",
};

/// How a case must end.
enum Expect {
    /// The read fails with this failure type, its message saying this.
    Fails {
        failure_type: &'static str,
        says: &'static str,
    },
    /// The read succeeds, with a WARN saying this (if given).
    Succeeds { warns: Option<&'static str> },
}

/// One misbehaviour of the server.
struct Case {
    name: &'static str,
    stream: &'static str,
    credentials: fn() -> Value,
    /// Answers the stream's requests (the health and token endpoints
    /// behave unless this answers them first).
    handler: fn(&Request) -> Option<Vec<u8>>,
    expect: Expect,
}

/// Runs `case` and checks everything every case must hold.
async fn check(case: &Case) {
    let handler = case.handler;
    let url = hostile_server(Arc::new(move |request: &Request| {
        handler(request)
            .or_else(|| well_behaved(request))
            .unwrap_or_else(|| answer(404, &[], r#"{"error":{"code":"not_found"}}"#))
    }))
    .await;
    let config = json!({
        "base_url": url,
        "credentials": (case.credentials)(),
        "page_size": 2,
        "max_retries": 1,
        "max_retry_seconds": 5,
        "request_timeout_seconds": 5,
    });
    let output = read_measured(case.name, &config, case.stream).await;
    match case.expect {
        Expect::Fails { failure_type, says } => {
            assert_ne!(output.code, 0, "{}: the read succeeded", case.name);
            let error = output
                .errors()
                .first()
                .copied()
                .cloned()
                .unwrap_or_else(|| panic!("{}: no error trace: {}", case.name, output.stdout));
            assert_eq!(
                error["failure_type"], failure_type,
                "{}: {error}",
                case.name
            );
            let message = error["message"].as_str().unwrap_or_default();
            assert!(message.contains(says), "{}: {message}", case.name);
        }
        Expect::Succeeds { warns } => {
            assert_eq!(output.code, 0, "{}: {}", case.name, output.stdout);
            if let Some(warning) = warns {
                assert!(
                    output.logs("WARN").iter().any(|l| l.contains(warning)),
                    "{}: no WARN saying {warning:?}",
                    case.name
                );
            }
        }
    }
}

/// Runs a full-refresh read of `stream` under GNU time, which reaps the
/// connector and reports its own `ru_maxrss`: measured from this (large,
/// multi-threaded) test process, a child's high-water mark would include
/// the forking process's. Checks every stdout line against the protocol,
/// the time bound, a memory bound and [`assert_secret_free`].
async fn read_measured(name: &str, config: &Value, stream: &str) -> Output {
    let inputs = Inputs::new();
    let config = inputs.write("config.json", config);
    let catalog = inputs.write("catalog.json", &catalog(&[stream], "full_refresh"));
    let rss = inputs.write_raw("maxrss.txt", "");
    let mut command = tokio::process::Command::new("/usr/bin/time");
    command
        .args(["-f", "%M", "-o"])
        .arg(&rss)
        .arg(BINARY)
        .args(["read", "--config"])
        .arg(&config)
        .arg("--catalog")
        .arg(&catalog)
        .kill_on_drop(true);
    let output = tokio::time::timeout(TIME_BOUND, command.output())
        .await
        .unwrap_or_else(|_| panic!("{name}: the read did not end within {TIME_BOUND:?}"))
        .expect("GNU time (Debian package `time`) runs the connector");
    let stdout = String::from_utf8(output.stdout).expect("stdout is UTF-8");
    let messages = stdout
        .lines()
        .map(|line| {
            let message: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{name}: a stdout line is not JSON ({e}): {line:.300}"));
            assert_valid_message(&message, line);
            message
        })
        .collect();
    let output = Output {
        code: output.status.code().unwrap_or(-1),
        stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        messages,
    };
    let peak_kib: i64 = std::fs::read_to_string(&rss)
        .unwrap_or_default()
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name}: no peak RSS reported"));
    assert!(
        peak_kib < MEMORY_BOUND_KIB,
        "{name}: the connector's peak RSS was {peak_kib} KiB"
    );
    assert_secret_free(name, &output);
    output
}

/// No panic and no secret anywhere.
fn assert_secret_free(name: &str, output: &Output) {
    assert!(
        !output.stderr.contains("panicked") && !output.stderr.contains("internal error"),
        "{name}: the connector panicked: {}",
        output.stderr
    );
    for secret in [API_KEY, CLIENT_SECRET, ISSUED_TOKEN] {
        let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        for text in [&output.stdout, &output.stderr] {
            assert!(
                !text.contains(secret),
                "{name}: a secret was printed: {text}"
            );
            assert!(
                !text.contains(&encoded),
                "{name}: an encoded secret was printed"
            );
        }
    }
}

macro_rules! hostile_cases {
    ($($name:ident: $case:expr;)*) => {$(
        #[tokio::test]
        async fn $name() {
            let mut case: Case = $case;
            case.name = stringify!($name);
            check(&case).await;
        }
    )*};
}

fn case(stream: &'static str, handler: fn(&Request) -> Option<Vec<u8>>, expect: Expect) -> Case {
    Case {
        name: "",
        stream,
        credentials: api_key_credentials,
        handler,
        expect,
    }
}

const STALLS: Expect = Expect::Fails {
    failure_type: "system_error",
    says: "does not make progress",
};

hostile_cases! {
    page_tokens_that_cycle_are_a_stall: case("customers", |r| {
        (r.path == "/v1/customers")
            .then(|| customers_page(r.nth * 2..r.nth * 2 + 2, Some(format!("t{}", r.nth % 2))))
    }, STALLS);

    empty_pages_claiming_more_are_a_stall: case("customers", |r| {
        (r.path == "/v1/customers").then(|| match r.nth {
            0 => customers_page(0..1, None), // the probe sees a record
            n => customers_page(0..0, Some(format!("t{n}"))),
        })
    }, STALLS);

    a_server_ignoring_updated_after_is_a_stall: case("customers", |r| {
        (r.path == "/v1/customers").then(|| customers_page(0..2, Some(format!("t{}", r.nth))))
    }, STALLS);

    a_page_numbered_list_that_never_ends_is_a_stall: case("products", |r| {
        (r.path == "/v1/products").then(|| products_page(r.nth, true, 3))
    }, STALLS);

    a_flapping_total_count_is_reported_after_bounded_corrections: case("products", |r| {
        (r.path == "/v1/products")
            .then(|| products_page(r.nth, true, if r.nth % 2 == 0 { 10_000 } else { 9_999 }))
    }, Expect::Fails { failure_type: "system_error", says: "X-Total-Count" });

    a_record_nested_past_a_thousand_levels_is_refused: case("customers", |r| {
        (r.path == "/v1/customers").then(|| {
            let deep = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
            let body = format!(
                r#"{{"data":[{{"id":"cus_1","updated_at":"2024-01-01T00:00:00Z","x":{deep}}}],"next_page_token":null}}"#
            );
            answer(200, &[now_header()], &body)
        })
    }, Expect::Fails { failure_type: "system_error", says: "record 1 of the page" });

    an_empty_first_page_that_claims_more_is_an_error: case("orders", |r| {
        (r.path == "/v1/orders").then(|| {
            if is_probe(r) {
                orders_page(0..1, false) // the probe sees a record
            } else {
                orders_page(0..0, true)
            }
        })
    }, Expect::Fails { failure_type: "system_error", says: "claims has_more" });

    an_empty_probe_page_with_a_next_page_token_is_an_error: case("customers", |r| {
        (r.path == "/v1/customers").then(|| customers_page(0..0, Some("t1".into())))
    }, Expect::Fails { failure_type: "system_error", says: "claims more after it" });

    a_count_without_records_is_an_error: case("customers", |r| {
        (r.path == "/v1/customers").then(|| answer(
            200,
            &[now_header(), ("X-Total-Count", "5".into())],
            r#"{"data":[],"next_page_token":null}"#,
        ))
    }, Expect::Fails { failure_type: "system_error", says: "X-Total-Count says 5" });

    a_record_only_the_probe_ever_finds_is_an_error: case("customers", |r| {
        (r.path == "/v1/customers").then(|| {
            if is_probe(r) {
                customers_page(0..1, None)
            } else {
                customers_page(0..0, None)
            }
        })
    }, Expect::Fails { failure_type: "system_error", says: "none when the window is walked" });

    a_retry_after_of_a_day_is_a_transient_error_at_once: case("customers", |r| {
        (r.path == "/v1/customers").then(|| rate_limited("86400"))
    }, RATE_LIMITED_BEYOND_BUDGET);

    a_retry_after_of_u64_max_is_a_transient_error_not_a_panic: case("customers", |r| {
        (r.path == "/v1/customers").then(|| rate_limited("18446744073709551615"))
    }, RATE_LIMITED_BEYOND_BUDGET);

    a_retry_after_date_in_the_year_9999_is_a_transient_error: case("customers", |r| {
        (r.path == "/v1/customers").then(|| rate_limited("Fri, 31 Dec 9999 23:59:59 GMT"))
    }, RATE_LIMITED_BEYOND_BUDGET);

    a_retry_after_that_is_no_number_waits_the_minimum_within_the_budget: case("customers", |r| {
        (r.path == "/v1/customers").then(|| rate_limited("-5 or so"))
    }, RATE_LIMITED_BEYOND_BUDGET);

    a_server_clock_a_century_ahead_is_not_trusted: case("customers", |r| match r.path.as_str() {
        "/v1/health" => Some(answer(200, &[("Date", "Fri, 01 Jan 2100 00:00:00 GMT".into())], r#"{"status":"ok"}"#)),
        "/v1/customers" => Some(customers_page(0..1, None)),
        _ => None,
    }, Expect::Succeeds { warns: Some("more than a day") });
}

/// Cases with OAuth credentials, whose token endpoint misbehaves.
fn oauth_case(handler: fn(&Request) -> Option<Vec<u8>>, expect: Expect) -> Case {
    Case {
        credentials: oauth_credentials,
        ..case("customers", handler, expect)
    }
}

fn token_answer(expires_in: &str) -> Vec<u8> {
    answer(
        200,
        &[now_header()],
        &format!(r#"{{"access_token":"{ISSUED_TOKEN}","expires_in":{expires_in}}}"#),
    )
}

fn token_then_one_page(request: &Request, expires_in: &str) -> Option<Vec<u8>> {
    match request.path.as_str() {
        "/v1/oauth/token" => Some(token_answer(expires_in)),
        "/v1/customers" => Some(customers_page(0..1, None)),
        _ => None,
    }
}

const READS: Expect = Expect::Succeeds { warns: None };

hostile_cases! {
    a_token_with_a_newline_is_refused_as_what_it_is: oauth_case(|r| {
        (r.path == "/v1/oauth/token").then(|| answer(200, &[now_header()],
            &json!({"access_token": format!("{ISSUED_TOKEN}\nX-Evil: 1"), "expires_in": 60}).to_string()))
    }, Expect::Fails { failure_type: "system_error", says: "cannot be sent in an HTTP header" });

    an_error_echoing_the_secrets_is_quoted_and_masked: oauth_case(|r| {
        (r.path == "/v1/customers").then(|| answer(400, &[], &json!({"error": {
            "code": "invalid_parameter",
            "message": format!("bad secret {CLIENT_SECRET} (or {}) with {ISSUED_TOKEN}",
                url::form_urlencoded::byte_serialize(CLIENT_SECRET.as_bytes()).collect::<String>()),
        }}).to_string()))
    }, Expect::Fails { failure_type: "system_error", says: "(\"bad secret **** (or ****) with ****\")" });

    every_token_revoked_on_first_use_ends_the_read_as_a_config_error: oauth_case(|r| {
        (r.path == "/v1/customers").then(|| answer(401, &[], &json!({"error": {
            "code": "token_expired",
            "message": "the access token has expired or was revoked; fetch a new one",
        }}).to_string()))
    }, Expect::Fails { failure_type: "config_error", says: "revoked 3 fresh access tokens in a row" });

    a_token_lifetime_of_u64_max_is_clamped: oauth_case(|r| token_then_one_page(r, "18446744073709551615"), READS);

    a_negative_token_lifetime_is_clamped: oauth_case(|r| token_then_one_page(r, "-3600"), READS);

    a_fractional_token_lifetime_is_clamped: oauth_case(|r| token_then_one_page(r, "0.25"), READS);
}

/// A seeded fuzz: random and mutated answers (bodies, headers, status
/// lines) to every request of a read. Whatever comes back, the read ends
/// within the bound, without a panic or a secret, printing only valid
/// messages.
#[tokio::test]
async fn random_and_mutated_answers_never_panic_hang_or_leak() {
    static SEED: AtomicUsize = AtomicUsize::new(0);
    for seed in 0..16u64 {
        SEED.store(seed as usize, Ordering::SeqCst);
        let url = hostile_server(Arc::new(|request: &Request| {
            let seed = SEED.load(Ordering::SeqCst) as u64;
            let mut rng = fastrand::Rng::with_seed(seed * 1000 + request.nth as u64);
            let _ = &request.query;
            mutated(&mut rng, request)
        }))
        .await;
        let config = json!({
            "base_url": url,
            "credentials": api_key_credentials(),
            "page_size": 2,
            "max_retries": 1,
            "max_retry_seconds": 2,
            "request_timeout_seconds": 2,
        });
        let stream = ["customers", "products", "orders", "order_events"][seed as usize % 4];
        read_measured(&format!("seed {seed}"), &config, stream).await;
    }
}

/// One random answer: a behaving answer, mutated.
fn mutated(rng: &mut fastrand::Rng, request: &Request) -> Vec<u8> {
    let mut bytes = well_behaved(request).unwrap_or_else(|| {
        if request.path == "/v1/customers" || request.path == "/v1/order_events" {
            customers_page(
                request.nth..request.nth + 2,
                Some(format!("t{}", rng.u8(..))),
            )
        } else {
            products_page(request.nth, rng.bool(), rng.u64(..))
        }
    });
    match rng.u8(..8) {
        // Flip bytes anywhere: status line, headers or body.
        0 | 1 => {
            for _ in 0..rng.usize(1..8) {
                let at = rng.usize(..bytes.len());
                bytes[at] = rng.u8(..);
            }
        }
        // Cut the answer short.
        2 => bytes.truncate(rng.usize(..bytes.len())),
        // A status line that is not one.
        3 => {
            let lines = [
                "HTTP/1.1 999 Huh\r\n",
                "HTTP/9 200\r\n",
                "garbage\r\n",
                "HTTP/1.1 -1 X\r\n",
            ];
            let end = bytes.windows(2).position(|w| w == b"\r\n").unwrap_or(0) + 2;
            bytes.splice(..end, lines[rng.usize(..lines.len())].bytes());
        }
        // Extreme or nonsensical headers.
        4 => {
            let headers = [
                "Retry-After: 18446744073709551616\r\n",
                "X-Total-Count: -5\r\n",
                "X-Total-Count: 99999999999999999999999\r\n",
                "Date: not a date\r\n",
                "Content-Length: 99999999\r\n",
            ];
            let end = bytes.windows(2).position(|w| w == b"\r\n").unwrap_or(0) + 2;
            bytes.splice(end..end, headers[rng.usize(..headers.len())].bytes());
        }
        // Random bytes.
        5 => bytes = (0..rng.usize(..512)).map(|_| rng.u8(..)).collect(),
        // As is.
        _ => {}
    }
    bytes
}

//! `ecommerce-sandbox`: serve the seeded E-commerce API v1 over HTTP.
//!
//! Prints `listening on http://ADDR` on stderr once the data is generated and
//! the server accepts requests; stops cleanly on SIGINT or SIGTERM.
//!
//! With `--control-listen ADDR`, a second server on ADDR lets a test driving
//! a platform from outside the process (PyAirbyte, Meltano, Fivetran's SDK)
//! stop and restart the write load and read the truth:
//! `POST /writes/stop`, `POST /writes/start`, `GET /truth`.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use ecommerce_sandbox::{Credentials, Faults, RateLimit, Sandbox, SandboxConfig, Sizes, WriteLoad};

/// Serve a seeded, deterministic, in-memory E-commerce API v1.
#[derive(Debug, Parser)]
#[command(name = "ecommerce-sandbox", version)]
struct Args {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8788")]
    listen: SocketAddr,

    /// Seed of the generated data and of issued tokens.
    #[arg(long, default_value_t = 42)]
    seed: u64,

    /// Number of generated customers.
    #[arg(long, default_value_t = 200)]
    customers: usize,

    /// Number of generated products.
    #[arg(long, default_value_t = 50)]
    products: usize,

    /// Number of generated orders.
    #[arg(long, default_value_t = 2_000)]
    orders: usize,

    /// Number of generated order events.
    #[arg(long, default_value_t = 4_000)]
    order_events: usize,

    /// Render every timestamp in a random UTC offset (same instant).
    #[arg(long)]
    mixed_offsets: bool,

    /// Do not seed the custom fields (cf_loyalty_tier, cf_birthday, cf_gift_wrap, cf_delivery_slot, cf_priority).
    #[arg(long)]
    no_custom_fields: bool,

    /// Token bucket refill rate per credential, requests per second.
    #[arg(long, default_value_t = 20.0, conflicts_with = "no_rate_limit")]
    rate_limit_rps: f64,

    /// Token bucket size per credential.
    #[arg(long, default_value_t = 40, conflicts_with = "no_rate_limit")]
    rate_limit_burst: u32,

    /// Turn rate limiting off (headers still show a full bucket).
    #[arg(long)]
    no_rate_limit: bool,

    /// Lifetime of keyset page tokens, seconds.
    #[arg(long, default_value_t = 600)]
    page_token_ttl_secs: u64,

    /// Lifetime of OAuth access tokens, seconds.
    #[arg(long, default_value_t = 3_600)]
    oauth_token_ttl_secs: u64,

    /// Lifetime of signed-exchange access tokens, seconds.
    #[arg(long, default_value_t = 900)]
    signed_token_ttl_secs: u64,

    /// Apply this many writes per second (updates, inserts, soft deletes, new events) while serving.
    #[arg(long)]
    writes_per_second: Option<f64>,

    /// New events get a timestamp up to 5 minutes in the past.
    #[arg(long, requires = "writes_per_second")]
    late_events: bool,

    /// Add the orders custom field cf_late_field this many seconds after the writes start.
    #[arg(long, requires = "writes_per_second")]
    add_custom_field_after_secs: Option<u64>,

    /// Every n-th data request answers 429 rate_limited.
    #[arg(long, value_name = "N")]
    fault_429_every: Option<u32>,

    /// Send Retry-After as an HTTP date instead of seconds.
    #[arg(long)]
    retry_after_http_date: bool,

    /// Retry-After of injected 429 answers, seconds.
    #[arg(long, default_value_t = 1)]
    retry_after_seconds: u64,

    /// Every n-th data request answers 500 internal.
    #[arg(long, value_name = "N")]
    fault_500_every: Option<u32>,

    /// Every n-th data request answers 503 unavailable.
    #[arg(long, value_name = "N")]
    fault_503_every: Option<u32>,

    /// Every n-th data request answers 502 with an HTML proxy page.
    #[arg(long, value_name = "N")]
    fault_502_html_every: Option<u32>,

    /// Every n-th data request answers 200 with a body cut off mid-JSON.
    #[arg(long, value_name = "N")]
    fault_truncated_every: Option<u32>,

    /// Every n-th data request is answered only after --slow-delay-ms.
    #[arg(long, value_name = "N")]
    fault_slow_every: Option<u32>,

    /// Delay of slow answers, milliseconds.
    #[arg(long, default_value_t = 1_000)]
    slow_delay_ms: u64,

    /// Every n-th request made with an OAuth or signed token revokes it first (401 token_expired).
    #[arg(long, value_name = "N")]
    fault_revoke_token_every: Option<u32>,

    /// Streams whose list endpoint answers 403 forbidden, comma-separated
    /// (`custom_fields` forbids GET /v1/custom_fields).
    #[arg(long, value_delimiter = ',', value_parser = ["customers", "products", "orders", "order_events", "custom_fields"])]
    forbid: Vec<String>,

    /// Serve this many data requests normally before any fault applies.
    #[arg(long, value_name = "N", default_value_t = 0)]
    faults_after_requests: u64,

    /// Accepted API key (default: the well-known test key).
    #[arg(long)]
    api_key: Option<String>,

    /// Accepted OAuth client id.
    #[arg(long)]
    client_id: Option<String>,

    /// Accepted OAuth client secret.
    #[arg(long)]
    client_secret: Option<String>,

    /// Accepted key id of the signed token exchange.
    #[arg(long)]
    key_id: Option<String>,

    /// HMAC secret of the signed token exchange.
    #[arg(long)]
    api_secret: Option<String>,

    /// Print one line per request on stderr.
    #[arg(long)]
    verbose: bool,

    /// Delay every answer by this many milliseconds (a round trip).
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,

    /// Answer plainly even to requests that accept gzip (a server behind a
    /// proxy that strips compression).
    #[arg(long)]
    no_compression: bool,

    /// Also serve the test control API on this address (loopback only):
    /// `POST /writes/stop`, `POST /writes/start`, `GET /truth`.
    #[arg(long, value_name = "ADDR")]
    control_listen: Option<SocketAddr>,
}

impl Args {
    fn config(self) -> SandboxConfig {
        let defaults = Credentials::default();
        SandboxConfig {
            seed: self.seed,
            sizes: Sizes {
                customers: self.customers,
                products: self.products,
                orders: self.orders,
                order_events: self.order_events,
            },
            credentials: Credentials {
                api_key: self.api_key.unwrap_or(defaults.api_key),
                client_id: self.client_id.unwrap_or(defaults.client_id),
                client_secret: self.client_secret.unwrap_or(defaults.client_secret),
                key_id: self.key_id.unwrap_or(defaults.key_id),
                api_secret: self.api_secret.unwrap_or(defaults.api_secret),
            },
            rate_limit: if self.no_rate_limit {
                RateLimit::disabled()
            } else {
                RateLimit {
                    requests_per_second: self.rate_limit_rps,
                    burst: self.rate_limit_burst,
                }
            },
            page_token_ttl: Duration::from_secs(self.page_token_ttl_secs),
            oauth_token_ttl: Duration::from_secs(self.oauth_token_ttl_secs),
            signed_token_ttl: Duration::from_secs(self.signed_token_ttl_secs),
            mixed_offsets: self.mixed_offsets,
            latency: Duration::from_millis(self.latency_ms),
            compression: !self.no_compression,
            custom_fields: !self.no_custom_fields,
            faults: Faults {
                status_429_every: self.fault_429_every,
                retry_after_http_date: self.retry_after_http_date,
                retry_after_seconds: self.retry_after_seconds,
                status_500_every: self.fault_500_every,
                status_503_every: self.fault_503_every,
                status_502_html_every: self.fault_502_html_every,
                truncated_every: self.fault_truncated_every,
                slow_every: self.fault_slow_every,
                slow_delay: Duration::from_millis(self.slow_delay_ms),
                revoke_token_every: self.fault_revoke_token_every,
                forbidden_streams: self.forbid.into_iter().collect::<BTreeSet<_>>(),
                after_requests: self.faults_after_requests,
            },
            writes: self.writes_per_second.map(|writes_per_second| WriteLoad {
                writes_per_second,
                late_events: self.late_events,
                add_custom_field_after: self.add_custom_field_after_secs.map(Duration::from_secs),
            }),
            // A long-running server keeps no request history.
            log_requests: false,
            trace_requests: self.verbose,
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let listen = args.listen;
    let control_listen = args.control_listen;
    let config = args.config();
    let writes = config.writes.clone();
    // The sandbox runs on its own runtime; this one only waits for signals.
    let sandbox = Arc::new(
        Sandbox::start_on(config, listen)
            .await
            .context("cannot start the sandbox")?,
    );
    let control = match control_listen {
        Some(addr) => Some(control::serve(addr, sandbox.clone(), writes).await?),
        None => None,
    };
    eprintln!("listening on {}", sandbox.url());
    shutdown_signal().await?;
    if let Some(control) = control {
        control.abort();
        let _ = control.await;
    }
    if let Ok(sandbox) = Arc::try_unwrap(sandbox) {
        sandbox.shutdown().await;
    }
    Ok(())
}

/// The test control API (see the module documentation).
mod control {
    use std::net::SocketAddr;
    use std::sync::Arc;

    use anyhow::Context as _;
    use axum::Router;
    use axum::extract::State;
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    use axum::routing::{get, post};
    use ecommerce_sandbox::{Sandbox, WriteLoad};
    use serde_json::{Value, json};

    #[derive(Clone)]
    struct Control {
        sandbox: Arc<Sandbox>,
        /// The write load of the command line, for `POST /writes/start`.
        writes: Option<WriteLoad>,
    }

    /// Starts the control server on `addr`; abort the task to stop it.
    pub async fn serve(
        addr: SocketAddr,
        sandbox: Arc<Sandbox>,
        writes: Option<WriteLoad>,
    ) -> anyhow::Result<tokio::task::JoinHandle<()>> {
        anyhow::ensure!(
            addr.ip().is_loopback(),
            "--control-listen must be a loopback address"
        );
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} for the control API"))?;
        let app = Router::new()
            .route("/writes/stop", post(stop_writes))
            .route("/writes/start", post(start_writes))
            .route("/truth", get(truth))
            .with_state(Control { sandbox, writes });
        eprintln!("control API on http://{}", listener.local_addr()?);
        Ok(tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        }))
    }

    /// Stops the write load; no write lands after the answer.
    async fn stop_writes(State(control): State<Control>) -> StatusCode {
        control.sandbox.set_writes(None);
        StatusCode::NO_CONTENT
    }

    /// Restarts the write load of the command line.
    async fn start_writes(State(control): State<Control>) -> StatusCode {
        match control.writes {
            Some(writes) => {
                control.sandbox.set_writes(Some(writes));
                StatusCode::NO_CONTENT
            }
            None => StatusCode::CONFLICT,
        }
    }

    /// Every record as the API would render it canonically (UTC, `Z`):
    /// latest versions, soft-deleted ones with `deleted_at` set.
    async fn truth(State(control): State<Control>) -> impl IntoResponse {
        let oracle = control.sandbox.oracle();
        let list = |stream: &str| -> Vec<Value> {
            oracle
                .stream(stream)
                .map(|records| records.values().cloned().collect())
                .unwrap_or_default()
        };
        let body = json!({
            "customers": list("customers"),
            "products": list("products"),
            "orders": list("orders"),
            "order_events": list("order_events"),
            "custom_fields": oracle.custom_fields,
        });
        (
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.context("cannot watch SIGINT")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("cannot watch Ctrl-C")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }

    #[test]
    fn flags_map_onto_the_config() {
        let args = Args::parse_from([
            "ecommerce-sandbox",
            "--orders",
            "10",
            "--no-rate-limit",
            "--forbid",
            "customers,orders",
            "--writes-per-second",
            "5",
            "--late-events",
            "--fault-500-every",
            "3",
            "--mixed-offsets",
        ]);
        let config = args.config();
        assert_eq!(config.sizes.orders, 10);
        assert!(config.rate_limit.is_disabled());
        assert_eq!(config.faults.forbidden_streams.len(), 2);
        assert_eq!(config.faults.status_500_every, Some(3));
        assert!(config.mixed_offsets && config.writes.unwrap().late_events);
    }

    #[test]
    fn late_events_need_a_write_load() {
        assert!(Args::try_parse_from(["ecommerce-sandbox", "--late-events"]).is_err());
        assert!(Args::try_parse_from(["ecommerce-sandbox", "--forbid", "nope"]).is_err());
    }
}

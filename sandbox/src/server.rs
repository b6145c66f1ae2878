//! A running sandbox: listener, server task, write load, and its controls.
//!
//! The server and the write load run on a runtime of their own (two worker
//! threads), not on the caller's: a test may block its own runtime, e.g.
//! waiting for a connector process with `std::process::Command`, and the
//! sandbox keeps answering all the same.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::api;
use crate::app::App;
use crate::config::{Credentials, Faults, SandboxConfig, WriteLoad};
use crate::generate;
use crate::oracle::Oracle;
use crate::requestlog::LoggedRequest;
use crate::store::{FieldRegistry, Store};
use crate::writer::Writer;

/// How long [`Sandbox::shutdown`] waits for open connections to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Worker threads of the sandbox's own runtime (the target machine has two cores).
const WORKER_THREADS: usize = 2;

/// An in-process E-commerce API server over seeded data.
#[derive(Debug)]
pub struct Sandbox {
    addr: SocketAddr,
    app: Arc<App>,
    writer: Writer,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    /// Held for its `Drop`: the server and the writer run on it.
    _runtime: OwnRuntime,
}

/// The sandbox's runtime. Dropping a runtime normally blocks, which panics
/// inside an async context (where sandboxes live); this one is shut down in
/// the background instead, on every path, errors included.
#[derive(Debug)]
struct OwnRuntime(Option<Runtime>);

impl OwnRuntime {
    fn start() -> anyhow::Result<OwnRuntime> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKER_THREADS)
            .thread_name("ecommerce-sandbox")
            .enable_all()
            .build()
            .context("cannot start the sandbox runtime")?;
        Ok(OwnRuntime(Some(runtime)))
    }

    fn get(&self) -> &Runtime {
        self.0
            .as_ref()
            .expect("the runtime lives until the sandbox is dropped")
    }
}

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl Sandbox {
    /// Starts a sandbox on `127.0.0.1` with a free port. The data set is
    /// generated before this returns.
    pub async fn start(config: SandboxConfig) -> anyhow::Result<Sandbox> {
        Sandbox::start_on(config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
    }

    /// Starts a sandbox listening on `addr`.
    pub async fn start_on(config: SandboxConfig, addr: SocketAddr) -> anyhow::Result<Sandbox> {
        config.validate()?;
        let own_runtime = OwnRuntime::start()?;
        let runtime = own_runtime.get();
        // Bind first: a busy port should fail before seconds of generation.
        let listener = runtime
            .spawn(async move { TcpListener::bind(addr).await })
            .await?
            .with_context(|| format!("cannot listen on {addr}"))?;
        let addr = listener.local_addr()?;
        let (seed, sizes, custom_fields) =
            (config.seed, config.sizes.clone(), config.custom_fields);
        let mut dataset = runtime
            .spawn_blocking(move || generate::generate(seed, &sizes, custom_fields))
            .await
            .context("data generation failed")?;
        let catalog = std::mem::take(&mut dataset.catalog);
        let store = Arc::new(Store::new(
            dataset,
            FieldRegistry::seeded(config.custom_fields),
        ));
        let app = Arc::new(App::new(&config, Arc::clone(&store)));
        let writer = Writer::new(
            store,
            config.seed,
            &config.sizes,
            catalog,
            runtime.handle().clone(),
        );

        let (stop, stopped) = oneshot::channel::<()>();
        let router = api::router(Arc::clone(&app));
        let server = runtime.spawn(async move {
            let serve = axum::serve(listener, router).with_graceful_shutdown(async {
                // A dropped sender means the same as an explicit stop.
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                eprintln!("ecommerce-sandbox: server error: {e}");
            }
        });
        writer.set(config.writes);
        Ok(Sandbox {
            addr,
            app,
            writer,
            stop: Some(stop),
            server: Some(server),
            _runtime: own_runtime,
        })
    }

    /// Base URL, `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The accepted credentials.
    pub fn credentials(&self) -> &Credentials {
        self.app.auth.credentials()
    }

    /// A snapshot of the truth now.
    pub fn oracle(&self) -> Oracle {
        Oracle::capture(&self.app.store)
    }

    /// Replaces the injected faults (their counters restart).
    pub fn set_faults(&self, faults: Faults) {
        self.app.faults.set(faults);
    }

    /// The injected faults now.
    pub fn faults(&self) -> Faults {
        self.app.faults.current()
    }

    /// Starts, changes or (`None`) stops the write load. When this returns,
    /// no write of a previous load lands any more.
    pub fn set_writes(&self, writes: Option<WriteLoad>) {
        self.writer.set(writes);
    }

    /// Every request served so far, in order (empty if
    /// `SandboxConfig::log_requests` is off).
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        self.app.log.snapshot()
    }

    /// Stops the write load and the server, waiting up to 5 s for open
    /// requests to finish.
    pub async fn shutdown(mut self) {
        self.writer.stop();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut server) = self.server.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut server)
                .await
                .is_err()
        {
            server.abort();
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // Also after `shutdown`: stopping twice is harmless. The runtime
        // goes down in the background right after (see `OwnRuntime`).
        self.writer.stop();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

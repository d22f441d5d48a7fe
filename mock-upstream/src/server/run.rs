//! Starting a server: in-process on the current tokio runtime ([`start`]), or as a process that
//! serves until it is signalled ([`serve_until_signal`]).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::config::Config;
use super::listener;
use super::{AppState, router};
use crate::auth::Tokens;
use crate::faults::Faults;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::update_packs::Catalog;
use usage_protocol::dir_lock::DirLock;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The data directory cannot be created; the message names it.
    #[error(transparent)]
    DataDir(std::io::Error),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
    #[error("cannot install the SIGINT/SIGTERM handlers: {0}")]
    Signal(std::io::Error),
    #[error(transparent)]
    Locked(#[from] usage_protocol::dir_lock::LockError),
}

/// How long a stop waits for requests in flight.
pub const SHUTDOWN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// A server running on a tokio task; dropping it (or [`RunningServer::stop`]) shuts it down.
pub struct RunningServer {
    addr: SocketAddr,
    admin_token: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// Stops accepting, lets requests in flight finish — for at most [`SHUTDOWN_DEADLINE`],
    /// then drops what is left (nothing unacknowledged is lost: an answer not sent was never a
    /// promise) — and waits for the server to end.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(SHUTDOWN_DEADLINE, &mut task)
                .await
                .is_err()
        {
            tracing::warn!(
                "requests still in flight after {} s: stopping anyway",
                SHUTDOWN_DEADLINE.as_secs()
            );
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Binds, reloads the durable state and starts serving on the current tokio runtime.
pub async fn start(config: Config) -> Result<RunningServer, ServerError> {
    fs_err::create_dir_all(&config.data_dir).map_err(ServerError::DataDir)?;
    // Held by the serving task: released when the server has stopped.
    let lock = DirLock::acquire(&config.data_dir, "a mock upstream serving from it")?;
    let store = Store::open(&config.data_dir).await?;
    let tokens = Tokens::open(&config.data_dir, config.admin_token.clone())?;
    let bind_failed = |source| ServerError::Bind {
        addr: config.listen,
        source,
    };
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(bind_failed)?;
    let addr = listener.local_addr().map_err(bind_failed)?;
    let faults = Arc::new(Faults::default());
    let state = Arc::new(AppState {
        store,
        faults,
        tokens,
        metrics: Metrics::default(),
        journal: crate::journal::Journal::default(),
        catalog: Catalog::shipped(),
        inflating: tokio::sync::Semaphore::new(config.max_concurrent_uploads.max(1)),
        awaiting_store: tokio::sync::Semaphore::new(super::AWAITING_STORE_KIB as usize),
        config: config.clone(),
    });
    let (tx, rx) = oneshot::channel();
    let app = router(state.clone());
    let task = tokio::spawn(async move {
        let _lock = lock;
        serve(listener, state, app, rx).await;
    });
    tracing::info!(%addr, data_dir = %config.data_dir.display(), "mock upstream listening");
    Ok(RunningServer {
        addr,
        admin_token: config.admin_token,
        shutdown: Some(tx),
        task: Some(task),
    })
}

/// How long a client may take to send a request's headers (from its first byte): a client that
/// never finishes them does not hold a connection for good. Bodies have their own timeout.
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Accepts connections until `stop`, each served by hyper with the header read timeout (the
/// first request line must come within it too, see [`listener::open`]); then lets the requests
/// in flight finish ([`RunningServer::stop`] bounds how long).
async fn serve(
    listener: TcpListener,
    state: Arc<super::AppState>,
    app: axum::Router,
    mut stop: oneshot::Receiver<()>,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;

    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    // A connection still waiting for its first request line when the server stops is closed at
    // once: it has no request in flight. (HTTP clients open such connections routinely — a
    // pooled client may race a new connection against an idle one and keep the loser unused.)
    let stopping = tokio_util::sync::CancellationToken::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    loop {
        tokio::select! {
            (stream, _) = listener::accept(&listener) => {
                let service = TowerToHyperService::new(app.clone());
                let builder = builder.clone();
                let state = state.clone();
                let watcher = graceful.watcher();
                let stopping = stopping.clone();
                tokio::spawn(async move {
                    let opened = tokio::select! {
                        opened = listener::open(stream, &state.faults, &state.metrics, HEADER_READ_TIMEOUT) => opened,
                        _ = stopping.cancelled() => None,
                    };
                    let Some(io) = opened else {
                        return;
                    };
                    let connection = builder
                        .serve_connection_with_upgrades(TokioIo::new(io), service)
                        .into_owned();
                    if let Err(e) = watcher.watch(connection).await {
                        tracing::debug!("connection ended: {e}");
                    }
                });
            }
            _ = &mut stop => break,
        }
    }
    drop(listener);
    stopping.cancel();
    graceful.shutdown().await;
}

/// Serves until SIGINT or SIGTERM; the first line on stdout is `listening on http://ADDR`, so a
/// script can find a port chosen by the OS. Shared by `mock-upstream serve` and `harness upstream`.
pub async fn serve_until_signal(config: Config) -> Result<(), ServerError> {
    use tokio::signal::unix::{SignalKind, signal};
    // The handlers go in before the first line is printed: a script that reads it and signals
    // at once must find them there.
    let mut term = signal(SignalKind::terminate()).map_err(ServerError::Signal)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(ServerError::Signal)?;
    let server = start(config).await?;
    // A script may read the first line and close the pipe: losing stdout must not stop the
    // service, so write errors are ignored.
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on {}", server.base_url());
        let _ = writeln!(out, "admin token: {}", server.admin_token());
        let _ = out.flush();
    }
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = term.recv() => {}
    }
    tracing::info!("signal received, stopping");
    server.stop().await;
    Ok(())
}

//! The listener that can reset connections, for the `reset` fault.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};

use crate::faults::Faults;

/// Accepts like a `TcpListener`, but resets (RST, via zero linger) the connections a `reset`
/// fault asks for before any byte is read, as a broken network path would.
pub(super) struct ResettingListener {
    inner: TcpListener,
    faults: Arc<Faults>,
}

impl ResettingListener {
    pub(super) fn new(inner: TcpListener, faults: Arc<Faults>) -> Self {
        Self { inner, faults }
    }
}

impl ResettingListener {
    /// The next connection a `reset` fault lets through. An accept that fails (too many open
    /// files, a connection aborted before it was accepted) is logged and retried shortly after:
    /// the server goes on.
    pub(super) async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            let (stream, addr) = match self.inner.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            if self.faults.next_connection() {
                let _ = stream.set_zero_linger();
                drop(stream);
                continue;
            }
            return (stream, addr);
        }
    }
}

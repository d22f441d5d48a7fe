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

impl axum::serve::Listener for ResettingListener {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, addr) = axum::serve::Listener::accept(&mut self.inner).await;
            if self.faults.next_connection() {
                let _ = stream.set_zero_linger();
                drop(stream);
                continue;
            }
            return (stream, addr);
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

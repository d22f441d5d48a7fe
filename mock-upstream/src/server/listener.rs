//! Accepting connections, and the `reset` fault, which strikes a connection before hyper sees it.
//!
//! A reset strikes the next connections *to the public API*: the connection's first request line
//! is read first, and a connection whose first request is an admin call is never reset. The
//! admin API is the test's control channel, not part of the service being simulated: a test that
//! programs a reset and then another fault must not have its own call reset (with a pooled
//! admin connection that happened to be closed, it was, now and then).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};

use crate::faults::Faults;

/// The most of a connection's first bytes read to find its request line.
const FIRST_LINE_LIMIT: usize = 1024;

/// Accepts like a `TcpListener`. An accept that fails (too many open files, a connection aborted
/// before it was accepted) is logged and retried shortly after: the server goes on.
pub(super) async fn accept(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(e) => {
                tracing::warn!("accepting a connection failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Reads the connection's first request line (within `timeout`: a client that connects and says
/// nothing does not hold the connection for good), then either resets the connection (RST, via
/// zero linger, before the request is read any further, as a broken network path would) when a
/// `reset` fault asks for it, or hands back the connection with the bytes read put back in
/// front. `None` when the connection was reset, closed or silent.
pub(super) async fn open(
    mut stream: TcpStream,
    faults: &Faults,
    metrics: &crate::metrics::Metrics,
    timeout: Duration,
) -> Option<impl AsyncRead + AsyncWrite + Unpin + Send + 'static> {
    let mut first = Vec::with_capacity(256);
    let read = tokio::time::timeout(timeout, read_first_line(&mut stream, &mut first)).await;
    match read {
        Ok(Ok(())) if !first.is_empty() => {}
        Ok(Ok(())) => return None, // closed before a byte
        Ok(Err(e)) => {
            tracing::debug!("reading a request line failed: {e}");
            return None;
        }
        Err(_) => {
            tracing::debug!("a connection sent no request line within {timeout:?}; closed");
            return None;
        }
    }
    if !is_admin_call(&first) && faults.next_connection() {
        metrics.add("upstream_faults_injected_total", "kind=\"reset\"".into(), 1);
        let _ = stream.set_zero_linger();
        return None;
    }
    let (reader, writer) = stream.into_split();
    Some(tokio::io::join(
        std::io::Cursor::new(first).chain(reader),
        writer,
    ))
}

/// Reads until the first line ends, the limit is reached or the peer stops sending.
async fn read_first_line(stream: &mut TcpStream, into: &mut Vec<u8>) -> std::io::Result<()> {
    let mut chunk = [0u8; 512];
    while !into.contains(&b'\n') && into.len() < FIRST_LINE_LIMIT {
        let want = chunk.len().min(FIRST_LINE_LIMIT - into.len());
        let n = stream.read(&mut chunk[..want]).await?;
        if n == 0 {
            break;
        }
        into.extend_from_slice(&chunk[..n]);
    }
    Ok(())
}

/// Whether a request line (`METHOD /path HTTP/1.1`) calls the admin API.
fn is_admin_call(first: &[u8]) -> bool {
    let line = first.split(|&b| b == b'\n').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let _method = parts.next();
    parts
        .next()
        .is_some_and(|path| path == b"/admin" || path.starts_with(b"/admin/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_calls_are_told_by_their_path() {
        assert!(is_admin_call(b"POST /admin/faults HTTP/1.1\r\nHost: x\r\n"));
        assert!(is_admin_call(b"DELETE /admin/faults HTTP/1.1\r\n"));
        assert!(!is_admin_call(
            b"POST /v1/hierarchies/abc/usage HTTP/1.1\r\n"
        ));
        assert!(!is_admin_call(b"GET /administration HTTP/1.1\r\n"));
        assert!(!is_admin_call(b"POST /v1/admin/faults HTTP/1.1\r\n"));
        assert!(!is_admin_call(b""));
    }
}

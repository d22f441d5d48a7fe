//! Connections to SQL Server over TDS, by ADO.NET connection string.

use tiberius::{Client, Config};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use super::super::EngineError;

/// One TDS connection.
pub type Connection = Client<Compat<TcpStream>>;

/// Connects to a server given an ADO.NET connection string, optionally into one database.
pub async fn connect(
    connection_string: &str,
    database: Option<&str>,
) -> Result<Connection, EngineError> {
    let mut config = Config::from_ado_string(connection_string).map_err(|e| {
        EngineError::Unavailable(format!("invalid SQL Server connection string: {e}"))
    })?;
    if let Some(db) = database {
        config.database(db);
    }
    let addr = config.get_addr();
    let tcp = TcpStream::connect(&addr)
        .await
        .map_err(|e| EngineError::Unavailable(format!("cannot reach SQL Server at {addr}: {e}")))?;
    tcp.set_nodelay(true)
        .map_err(|e| EngineError::Unavailable(format!("{addr}: {e}")))?;
    Client::connect(config, tcp.compat_write())
        .await
        .map_err(|e| {
            EngineError::Unavailable(format!("cannot log in to SQL Server at {addr}: {e}"))
        })
}

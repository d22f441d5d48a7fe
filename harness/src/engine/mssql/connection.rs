//! Connections to SQL Server over TDS, by ADO.NET connection string, with timeouts so that a
//! server that does not answer fails the run quickly instead of hanging it.
//!
//! The timeouts come from the connection string's own ADO.NET keywords, in seconds (`0` waits
//! without limit):
//! - `Connect Timeout` (or `Connection Timeout`, or `Timeout`): reaching the server and logging
//!   in, together. Default [`DEFAULT_CONNECT_TIMEOUT`], 15 s, as in ADO.NET.
//! - `Command Timeout`: how long the server may stay silent while a command runs (the timer
//!   restarts with every answer it sends). Default [`DEFAULT_COMMAND_TIMEOUT`], 10 minutes: a
//!   weekly run over a large site sends nothing for longer than ADO.NET's 30 s.
//!
//! For example `server=tcp:db1,1433;user=sa;password=...;TrustServerCertificate=true;Connect
//! Timeout=5;Command Timeout=1800`. After a command timed out the connection is out of step with
//! the server and is not used again: the error ends the run.

use std::time::{Duration, Instant};

use tiberius::{Client, Config};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use super::super::EngineError;

/// One TDS connection.
pub type Connection = Client<Compat<TcpStream>>;

/// Reaching and logging in to a server, unless the connection string says otherwise.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// The longest silence of the server during a command, unless the connection string says
/// otherwise.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(600);

/// The timeouts of one connection string; `None` waits without limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Option<Duration>,
    pub command: Option<Duration>,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Some(DEFAULT_CONNECT_TIMEOUT),
            command: Some(DEFAULT_COMMAND_TIMEOUT),
        }
    }
}

impl Timeouts {
    /// The timeouts a connection string sets, the defaults for those it does not.
    pub fn from_connection_string(connection_string: &str) -> Result<Self, String> {
        let mut timeouts = Timeouts::default();
        for (key, value) in pairs(connection_string)? {
            let slot = match key.as_str() {
                "connect timeout" | "connection timeout" | "timeout" => &mut timeouts.connect,
                "command timeout" => &mut timeouts.command,
                _ => continue,
            };
            let seconds: u64 = value
                .parse()
                .map_err(|_| format!("{key}={value}: expected a whole number of seconds"))?;
            *slot = (seconds > 0).then(|| Duration::from_secs(seconds));
        }
        Ok(timeouts)
    }
}

/// The `key=value` pairs of an ADO.NET connection string: keys lower-cased with their spaces
/// single, values unquoted (`'…'` or `"…"` with the quote doubled inside, or `{…}`).
fn pairs(connection_string: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut rest = connection_string;
    loop {
        rest = rest.trim_start_matches([';', ' ', '\t']);
        if rest.is_empty() {
            return Ok(out);
        }
        let Some(eq) = rest.find('=') else {
            return Err(format!("`{}` has no `=`", rest.trim()));
        };
        let key = rest[..eq]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_lowercase();
        let (value, after) = value(rest[eq + 1..].trim_start())?;
        out.push((key, value));
        rest = after;
    }
}

/// One value and what follows it.
fn value(s: &str) -> Result<(String, &str), String> {
    let close = match s.chars().next() {
        Some(q @ ('\'' | '"')) => q,
        Some('{') => '}',
        _ => {
            let end = s.find(';').unwrap_or(s.len());
            return Ok((s[..end].trim().to_string(), &s[end..]));
        }
    };
    let mut value = String::new();
    let mut chars = s[1..].char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != close {
            value.push(c);
        } else if chars.peek().is_some_and(|(_, next)| *next == close) {
            value.push(c);
            chars.next();
        } else {
            return Ok((value, &s[1 + i + c.len_utf8()..]));
        }
    }
    Err(format!("a value opened with {} is not closed", &s[..1]))
}

/// Connects to a server given an ADO.NET connection string, optionally into one database.
pub async fn connect(
    connection_string: &str,
    database: Option<&str>,
) -> Result<Connection, EngineError> {
    let invalid =
        |e: String| EngineError::Unavailable(format!("invalid SQL Server connection string: {e}"));
    let timeouts = Timeouts::from_connection_string(connection_string).map_err(invalid)?;
    let mut config =
        Config::from_ado_string(connection_string).map_err(|e| invalid(e.to_string()))?;
    if let Some(db) = database {
        config.database(db);
    }
    config.command_timeout(timeouts.command);
    let addr = config.get_addr();
    let started = Instant::now();
    let waited = |limit: Duration| {
        format!(
            "no answer within {} s (Connect Timeout in the connection string)",
            limit.as_secs()
        )
    };
    let reached = match timeouts.connect {
        Some(limit) => match tokio::time::timeout(limit, TcpStream::connect(&addr)).await {
            Ok(reached) => reached.map_err(|e| e.to_string()),
            Err(_) => Err(waited(limit)),
        },
        None => TcpStream::connect(&addr).await.map_err(|e| e.to_string()),
    };
    let tcp = reached
        .map_err(|e| EngineError::Unavailable(format!("cannot reach SQL Server at {addr}: {e}")))?;
    tcp.set_nodelay(true)
        .map_err(|e| EngineError::Unavailable(format!("{addr}: {e}")))?;
    // The login gets what is left of the connect timeout.
    let left = timeouts
        .connect
        .map(|limit| limit.saturating_sub(started.elapsed()));
    config.handshake_timeout(left);
    Client::connect(config, tcp.compat_write())
        .await
        .map_err(|e| {
            let why = match (&e, timeouts.connect) {
                (tiberius::error::Error::Io { kind, .. }, Some(limit))
                    if *kind == std::io::ErrorKind::TimedOut =>
                {
                    waited(limit)
                }
                _ => e.to_string(),
            };
            EngineError::Unavailable(format!("cannot log in to SQL Server at {addr}: {why}"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_come_from_the_connection_string() {
        assert_eq!(
            Timeouts::from_connection_string("server=tcp:a,1433;user=sa;password=x").unwrap(),
            Timeouts::default()
        );
        let t = Timeouts::from_connection_string(
            "server=tcp:a,1433; Connect  Timeout = 5 ;password='p;w''d';COMMAND TIMEOUT=0",
        )
        .unwrap();
        assert_eq!(t.connect, Some(Duration::from_secs(5)));
        assert_eq!(t.command, None, "0 waits without limit");
        let t = Timeouts::from_connection_string("password={a;Timeout=1};Timeout=9").unwrap();
        assert_eq!(
            t.connect,
            Some(Duration::from_secs(9)),
            "a quoted value is not a key"
        );
        let e = Timeouts::from_connection_string("Connect Timeout=soon").unwrap_err();
        assert!(e.contains("seconds"), "{e}");
        assert!(Timeouts::from_connection_string("password='open").is_err());
    }

    /// A listener that accepts connections and never answers: a server that hangs at login.
    async fn silent_server() -> (tokio::net::TcpListener, u16) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        (listener, port)
    }

    #[tokio::test]
    async fn a_server_that_does_not_answer_fails_within_the_connect_timeout() {
        let (_listener, port) = silent_server().await;
        let started = Instant::now();
        let url = format!(
            "server=tcp:127.0.0.1,{port};user=sa;password=x;TrustServerCertificate=true;Connect Timeout=1"
        );
        let connecting = connect(&url, None);
        let result = tokio::time::timeout(Duration::from_secs(10), connecting)
            .await
            .expect("connect gave up by itself");
        let Err(EngineError::Unavailable(message)) = result else {
            panic!("a silent server is unavailable");
        };
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert!(message.contains("within 1 s"), "{message}");
    }

    /// A listener whose queue is full: the kernel drops further connection attempts unanswered,
    /// as a firewall or a host that is down does, and a plain connect waits for minutes.
    #[tokio::test]
    async fn a_server_that_cannot_be_reached_fails_within_the_connect_timeout() {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let port = socket.local_addr().unwrap().port();
        let _listener = socket.listen(0).unwrap();
        let _queued = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let url = format!("server=tcp:127.0.0.1,{port};user=sa;password=x;Connect Timeout=1");
        let started = Instant::now();
        let result = tokio::time::timeout(Duration::from_secs(10), connect(&url, None))
            .await
            .expect("connect gave up by itself");
        let Err(EngineError::Unavailable(message)) = result else {
            panic!("an unreachable server is unavailable");
        };
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert!(message.contains("cannot reach SQL Server"), "{message}");
    }
}

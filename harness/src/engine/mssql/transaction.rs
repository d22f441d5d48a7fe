//! Explicit transactions over one connection, ended so that the error that matters is the one
//! reported.
//!
//! When a command inside the transaction fails, SQL Server may already have ended the
//! transaction (a failed bulk load often does), and the connection may be out of step; the
//! rollback that follows can then fail too. That second error says nothing about what went
//! wrong: the caller gets the first, and the rollback's is logged.

use std::fmt::Display;

use super::connection::Connection;

pub(super) async fn begin(conn: &mut Connection) -> tiberius::Result<()> {
    conn.simple_query("BEGIN TRANSACTION")
        .await?
        .into_results()
        .await
        .map(drop)
}

/// Rolls back the open transaction without a failure to report (a crash point reached).
pub(super) async fn abandon(conn: &mut Connection) -> tiberius::Result<()> {
    conn.simple_query("IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION")
        .await?
        .into_results()
        .await
        .map(drop)
}

/// Commits when `work` succeeded, else rolls back (if the server has not already); returns the
/// work's result, or the commit's error.
pub(super) async fn end<T>(
    conn: &mut Connection,
    work: tiberius::Result<T>,
    site: &str,
) -> tiberius::Result<T> {
    let sql = if work.is_ok() {
        "COMMIT TRANSACTION"
    } else {
        "IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION"
    };
    let ended = match conn.simple_query(sql).await {
        Ok(stream) => stream.into_results().await.map(drop),
        Err(e) => Err(e),
    };
    let (result, rollback_error) = settle(work, ended);
    if let Some(e) = rollback_error {
        tracing::error!(
            site,
            "rolling back after a failed command failed as well (the first error is reported): {e}"
        );
    }
    result
}

/// What the caller gets from a transaction's work and its ending, and the error to log only: a
/// failed commit fails a successful work; a failed rollback never replaces the work's error.
pub(super) fn settle<T, E: Display>(
    work: Result<T, E>,
    ended: Result<(), E>,
) -> (Result<T, E>, Option<E>) {
    match (work, ended) {
        (Ok(value), Ok(())) => (Ok(value), None),
        (Ok(_), Err(commit)) => (Err(commit), None),
        (Err(e), Ok(())) => (Err(e), None),
        (Err(e), Err(rollback)) => (Err(e), Some(rollback)),
    }
}

#[cfg(test)]
mod tests {
    use super::settle;

    #[test]
    fn a_failed_rollback_does_not_replace_the_error_of_the_work() {
        let (result, logged) =
            settle::<(), _>(Err("bulk load: column too long"), Err("no transaction"));
        assert_eq!(result, Err("bulk load: column too long"));
        assert_eq!(logged, Some("no transaction"));
    }

    #[test]
    fn a_failed_commit_fails_the_work() {
        let (result, logged) = settle(Ok(7), Err("commit failed"));
        assert_eq!(result, Err("commit failed"));
        assert_eq!(logged, None);
    }

    #[test]
    fn work_and_ending_that_succeed_give_the_work() {
        assert_eq!(settle::<_, &str>(Ok(7), Ok(())), (Ok(7), None));
        assert_eq!(settle::<(), _>(Err("x"), Ok(())), (Err("x"), None));
    }
}

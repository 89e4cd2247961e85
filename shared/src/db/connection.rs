//! Running a statement on a pooled connection, and surviving one that the
//! server has closed.
//!
//! The pool recycles the fast way (deadpool's `RecyclingMethod::Fast`): a
//! checkout costs no round trip and only drops a connection already seen
//! closed. When PostgreSQL ends its sessions (a restart, a failover,
//! `pg_terminate_backend`, `idle_session_timeout`), an idle connection may
//! not have seen that yet when it is handed out, and its first statement
//! fails with "connection closed" or `57P01 admin_shutdown`. Checking every
//! checkout with a query (`RecyclingMethod::Verified`) would cost each
//! cached read a round trip; instead [`with_client`] runs the operation
//! again on another connection, so the caller never sees it. It retries
//! only while the broken connection had sat in the pool: a connection opened
//! for this very call failing means the database is really gone, and that
//! error is the answer.

use std::future::Future;

use deadpool_postgres::{Client, Object, Pool};

use super::DbError;

/// Runs `op` on a connection from `pool`; see the module docs for when it
/// runs again on another. Every `op` must therefore be safe to repeat:
/// reads are, and so are the repositories' writes, which are idempotent
/// and run in one transaction (a broken connection before the commit left
/// nothing behind; after it, the repeat writes the same rows again).
///
/// `op` owns the connection it is given (a closure borrowing it could not
/// be proven `Send` for every lifetime, which the repository traits need).
/// A connection that failed this way goes back to the pool closed, and the
/// pool's recycling drops it at the next checkout.
pub async fn with_client<T, F>(pool: &Pool, op: impl Fn(Client) -> F) -> Result<T, DbError>
where
    F: Future<Output = Result<T, DbError>>,
{
    let mut retries = 0;
    loop {
        let client = pool.get().await?;
        let pooled = was_pooled(&client);
        match op(client).await {
            // Bounded by the pool's size: each pass used up another pooled
            // connection the server had closed.
            Err(error)
                if error.is_connection_lost() && pooled && retries < pool.status().max_size =>
            {
                tracing::info!(%error, "pooled database connection was closed by the server; retrying on another");
                retries += 1;
            }
            result => return result,
        }
    }
}

/// True when the connection was reused rather than opened for this checkout.
fn was_pooled(client: &Client) -> bool {
    Object::metrics(client).recycle_count > 0
}

//! Wakes lookups that wait for a miss to be filled.
//!
//! One dedicated PostgreSQL connection LISTENs on [`notify::CHANNEL`]; each
//! notification a worker's commit sends is broadcast to the waiting calls,
//! which re-read the cache. No polling: a waiting call costs nothing until
//! its fill arrives or its wait runs out. The connection is re-opened with
//! backoff when lost; every (re)connect broadcasts [`FillEvent::Resync`] so
//! waiters re-read in case a fill landed while nobody was listening.
//!
//! With read replicas, each batch of notifications (and each connect) first
//! raises the replicas' floor to the primary's WAL position, read on this
//! connection after the notifications arrived, so whoever they wake reads a
//! replica only once it has replayed the fill (`db::replicas`).

use std::time::Duration;

use futures::StreamExt;
use musicmeta_shared::db::replicas::Replicas;
use musicmeta_shared::notify::{self, Filled};
use tokio::sync::{broadcast, mpsc, watch};
use tokio_postgres::AsyncMessage;
use tokio_postgres::types::PgLsn;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// Waiting calls far beyond this just see `Lagged` and re-read the cache.
const CHANNEL_CAPACITY: usize = 1024;
const MAX_BACKOFF: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FillEvent {
    /// A worker committed an answer for this entity (data, 404 or redirect)
    /// or ws/2 document.
    Filled(Filled),
    /// Notifications may have been missed; every waiter should re-read.
    Resync,
}

/// Handle to the listener task; cheap to clone.
#[derive(Debug, Clone)]
pub struct Fills {
    events: broadcast::Sender<FillEvent>,
    listening: watch::Receiver<bool>,
}

impl Fills {
    /// Starts listening in the background until `shutdown` is cancelled;
    /// raises the floor of `replicas` before waking anyone.
    pub fn spawn(database_url: String, replicas: Replicas, shutdown: CancellationToken) -> Self {
        let (events, _) = broadcast::channel(CHANNEL_CAPACITY);
        let (listening_tx, listening) = watch::channel(false);
        let listener = Listener {
            url: database_url,
            replicas,
            events: events.clone(),
            listening: listening_tx,
        };
        tokio::spawn(listener.run(shutdown));
        Self { events, listening }
    }

    /// Subscribe *before* reading the cache, so no fill can slip between.
    pub fn subscribe(&self) -> broadcast::Receiver<FillEvent> {
        self.events.subscribe()
    }

    /// True while the LISTEN connection is up.
    pub fn is_listening(&self) -> bool {
        *self.listening.borrow()
    }

    /// Resolves once the LISTEN connection is up (start-up uses it so the
    /// first lookups do not wait on a fill nobody hears).
    pub async fn wait_listening(&self) {
        let mut rx = self.listening.clone();
        let _ = rx.wait_for(|up| *up).await;
    }
}

/// Waits until `key` is filled or a resync asks everyone to re-read.
pub async fn wait_for(rx: &mut broadcast::Receiver<FillEvent>, key: Filled) {
    loop {
        match rx.recv().await {
            Ok(FillEvent::Filled(filled)) if filled == key => return,
            Ok(FillEvent::Filled(..)) => continue,
            Ok(FillEvent::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => return,
            // The listener is gone (shutdown): let the caller's timeout end the wait.
            Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum ListenError {
    #[error(transparent)]
    Db(#[from] tokio_postgres::Error),
    #[error(transparent)]
    Tls(#[from] musicmeta_shared::tls::TlsError),
    #[error("connection closed")]
    Closed,
}

/// The LISTEN session and what it feeds.
struct Listener {
    url: String,
    replicas: Replicas,
    events: broadcast::Sender<FillEvent>,
    listening: watch::Sender<bool>,
}

impl Listener {
    async fn run(self, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.listen_once(&shutdown).await {
                Ok(()) => return,
                Err(error) => {
                    self.listening.send_replace(false);
                    // Fills may now go unheard: waiters re-read, the hot tier empties.
                    let _ = self.events.send(FillEvent::Resync);
                    warn!(%error, backoff_ms = backoff.as_millis() as u64, "fill listener lost its connection");
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Runs one LISTEN session; `Ok` only on shutdown.
    async fn listen_once(&self, shutdown: &CancellationToken) -> Result<(), ListenError> {
        // The same TLS as the pool's: the URL's sslmode decides.
        let tls = musicmeta_shared::tls::postgres(&self.url)?;
        let (client, mut connection) = tokio_postgres::connect(&tls.url, tls.connector).await?;
        let (tx, mut rx) = mpsc::unbounded_channel();
        // The connection must be polled for the client to work; this task does
        // that and forwards notifications. It ends when the connection does.
        let driver = tokio::spawn(async move {
            let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(message) = messages.next().await {
                match message {
                    Ok(AsyncMessage::Notification(n)) => {
                        let _ = tx.send(Ok(n.payload().to_owned()));
                    }
                    Ok(_) => {}
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
        });
        let result = async {
            client
                .batch_execute(&format!("LISTEN {}", notify::CHANNEL))
                .await?;
            info!(channel = notify::CHANNEL, "listening for fills");
            // Whatever committed while nobody listened lies below this.
            self.raise_floor(&client).await?;
            self.listening.send_replace(true);
            let _ = self.events.send(FillEvent::Resync);
            let mut batch = Vec::new();
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(()),
                    received = rx.recv_many(&mut batch, CHANNEL_CAPACITY) => {
                        if received == 0 {
                            return Err(ListenError::Closed);
                        }
                        // One position for the whole batch, before anyone wakes.
                        self.raise_floor(&client).await?;
                        for message in batch.drain(..) {
                            self.announce(message?);
                        }
                    }
                }
            }
        }
        .await;
        driver.abort();
        result
    }

    /// With replicas, raises their floor to the primary's WAL position now:
    /// at or past the commit of every notification received so far.
    async fn raise_floor(&self, client: &tokio_postgres::Client) -> Result<(), ListenError> {
        if self.replicas.is_configured() {
            let row = client.query_one("SELECT pg_current_wal_lsn()", &[]).await?;
            self.replicas.raise_floor(row.get::<_, PgLsn>(0));
        }
        Ok(())
    }

    fn announce(&self, payload: String) {
        match Filled::parse(&payload) {
            Some(filled) => {
                debug!(%filled, "fill notified");
                let _ = self.events.send(FillEvent::Filled(filled));
            }
            None => warn!(payload, "ignoring malformed fill notification"),
        }
    }
}

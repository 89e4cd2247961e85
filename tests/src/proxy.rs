//! A TCP proxy in front of a real service (RabbitMQ, PostgreSQL), so one
//! test can take "its" broker or database down and bring it back — every
//! open connection severed, new ones refused — without touching the shared
//! server that other tests run against in parallel.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Debug)]
pub struct TcpProxy {
    addr: SocketAddr,
    /// True while the service is reachable; each change of it cuts every
    /// open connection (a restart loses them all, too).
    up: Arc<watch::Sender<bool>>,
    accept: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    /// Starts forwarding a fresh local port to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let up = Arc::new(watch::channel(true).0);
        let accept = tokio::spawn(accept_loop(listener, upstream, up.clone()));
        Self { addr, up, accept }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The service goes down: open connections are closed, new ones are
    /// closed as soon as they are accepted.
    pub fn cut(&self) {
        self.up.send_replace(false);
    }

    /// The service is back (with none of its old connections).
    pub fn restore(&self) {
        self.up.send_replace(true);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.up.send_replace(false);
    }
}

async fn accept_loop(listener: TcpListener, upstream: SocketAddr, up: Arc<watch::Sender<bool>>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        if !*up.borrow() {
            drop(client);
            continue;
        }
        let mut changes = up.subscribe();
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(upstream).await else {
                return;
            };
            let (mut client, mut server) = (client, server);
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                // Any change of state ends the connection: a cut drops it,
                // and nothing opened before a cut may survive it.
                _ = changes.changed() => {}
            }
        });
    }
}

//! TLS for tests: certificates made on the spot ([`TestCertificates`]: a CA
//! and a `localhost` server certificate it signed, as PEM files in a temp
//! folder) and a TLS-terminating proxy ([`TlsProxy`]) that accepts TLS on a
//! random local port and forwards the plain bytes to a target, such as the
//! local RabbitMQ, which has no TLS listener. With it `amqps://` is tested
//! for real: the client does a full handshake and verifies the chain.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

/// A test CA and a server certificate for `localhost` and `127.0.0.1`,
/// written as PEM files that are removed on drop.
#[derive(Debug)]
pub struct TestCertificates {
    dir: PathBuf,
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestCertificates {
    pub fn localhost() -> Self {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "musicmeta test CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca, ca_key).expect("CA certificate");
        let key = KeyPair::generate().expect("server key");
        let mut server =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("server params");
        server
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let cert = server.signed_by(&key, &ca).expect("server certificate");
        let dir = std::env::temp_dir().join(format!("musicmeta-tls-{}", uuid::Uuid::new_v4()));
        let certs = Self {
            dir,
            ca_pem: ca.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        };
        std::fs::create_dir_all(&certs.dir).expect("create temp dir");
        for (name, pem) in [
            ("ca.pem", &certs.ca_pem),
            ("cert.pem", &certs.cert_pem),
            ("key.pem", &certs.key_pem),
        ] {
            std::fs::write(certs.dir.join(name), pem).expect("write PEM");
        }
        certs
    }

    pub fn ca_path(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    pub fn cert_path(&self) -> PathBuf {
        self.dir.join("cert.pem")
    }

    pub fn key_path(&self) -> PathBuf {
        self.dir.join("key.pem")
    }

    /// A rustls server configuration presenting the server certificate.
    pub fn server_config(&self) -> rustls::ServerConfig {
        let chain = CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("certificate PEM");
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).expect("key PEM");
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server certificate and key")
    }
}

impl Drop for TestCertificates {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Accepts TLS on `127.0.0.1:<port>` and forwards each connection, in
/// plain text, to `target`. Stops (with every connection) when dropped.
#[derive(Debug)]
pub struct TlsProxy {
    addr: SocketAddr,
    handshakes: Arc<AtomicUsize>,
    task: JoinHandle<()>,
    pub certificates: TestCertificates,
}

impl TlsProxy {
    pub async fn start(target: SocketAddr) -> Self {
        let certificates = TestCertificates::localhost();
        let acceptor = TlsAcceptor::from(Arc::new(certificates.server_config()));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let handshakes = Arc::new(AtomicUsize::new(0));
        let counted = handshakes.clone();
        let task = tokio::spawn(async move {
            // Dropped with the task, which aborts every connection.
            let mut connections = JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let counted = counted.clone();
                connections.spawn(async move {
                    let Ok(mut tls) = acceptor.accept(client).await else {
                        return;
                    };
                    counted.fetch_add(1, Ordering::SeqCst);
                    let Ok(mut upstream) = TcpStream::connect(target).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
                });
                // Reap finished connections so the set does not grow.
                while connections.try_join_next().is_some() {}
            }
        });
        Self {
            addr,
            handshakes,
            task,
            certificates,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The CA that signed the proxy's certificate, as a PEM file.
    pub fn ca_path(&self) -> PathBuf {
        self.certificates.ca_path()
    }

    /// Completed TLS handshakes so far.
    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

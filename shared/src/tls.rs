//! TLS for the connections musicmeta opens, configured the way operators
//! already know from the URLs.
//!
//! - **PostgreSQL** honours libpq's `sslmode` and `sslrootcert` URL
//!   parameters ([`postgres`]): `disable` (plain), `prefer` (the default: TLS
//!   when the server offers it, else plain), `require` (TLS or fail; the
//!   certificate is not checked, as libpq does, unless `sslrootcert` is
//!   given, which makes it `verify-ca`), `verify-ca` (the chain must lead to
//!   `sslrootcert`) and `verify-full` (that, and the certificate must name
//!   the host). tokio-postgres knows only the first three and rejects
//!   `sslrootcert`, so the URL is rewritten for it and the verification
//!   lives in the rustls connector.
//! - **RabbitMQ**: `amqps://` URLs use rustls with the system's trust store
//!   (lapin's default); RabbitMQ's `cacertfile` URI query parameter adds a
//!   CA in PEM ([`amqp`]), for brokers with a private CA.
//!
//! - **Served**: query-api's ws/2 HTTP listener ([`server`]) from a PEM
//!   certificate chain and key, as `grpc.tls` configures gRPC's.
//!
//! One crypto provider (aws-lc-rs, which reqwest and lapin already use) is
//! named explicitly, so nothing depends on a process-wide default.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

/// Why a TLS set-up could not be built. Messages name the parameter and the
/// file, never the URL (which may hold a password).
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {param} {path}: {source}")]
    Read {
        param: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{param} {path} holds no PEM certificate")]
    NoCertificate { param: &'static str, path: PathBuf },
    #[error("{param} {path} holds no PEM private key")]
    NoKey { param: &'static str, path: PathBuf },
    #[error("sslmode={0} needs sslrootcert=<PEM file> to verify the server against")]
    NoRootCert(&'static str),
    #[error("sslmode {0:?} is not supported (disable, prefer, require, verify-ca or verify-full)")]
    UnsupportedMode(String),
    #[error("TLS set-up failed: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("TLS verifier set-up failed: {0}")]
    Verifier(#[from] rustls::client::VerifierBuilderError),
}

/// How far the PostgreSQL server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// Encrypted, not authenticated (libpq's `prefer` and `require`).
    None,
    /// The chain must lead to the configured root; any host name.
    Ca,
    /// The chain must lead to the root and the certificate name the host.
    Full,
}

/// A PostgreSQL URL as tokio-postgres accepts it, and the connector that
/// applies what the original URL asked for.
#[derive(Clone)]
pub struct PgTls {
    /// The URL without `sslrootcert`, `verify-*` turned into `require`.
    pub url: String,
    pub verification: Verification,
    pub connector: MakeRustlsConnect,
}

impl std::fmt::Debug for PgTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTls")
            .field("url", &crate::config::redact_url(&self.url))
            .field("verification", &self.verification)
            .finish_non_exhaustive()
    }
}

/// Reads `sslmode` and `sslrootcert` from a libpq-style URL and builds the
/// connector for it (see the module docs for what each mode does).
pub fn postgres(url: &str) -> Result<PgTls, TlsError> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut mode = None;
    let mut root = None;
    // Other parameters are kept byte for byte: re-encoding would change how
    // tokio-postgres decodes them (it does not read `+` as a space).
    let mut kept: Vec<&str> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = || {
            url::form_urlencoded::parse(format!("v={value}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        match key {
            "sslmode" => mode = Some(value()),
            "sslrootcert" => root = Some(PathBuf::from(value())),
            _ => kept.push(pair),
        }
    }
    let (mode, verification) = match (mode.as_deref(), &root) {
        (Some("verify-full"), Some(_)) => ("require", Verification::Full),
        (Some("verify-ca"), Some(_)) => ("require", Verification::Ca),
        (Some("verify-full"), None) => return Err(TlsError::NoRootCert("verify-full")),
        (Some("verify-ca"), None) => return Err(TlsError::NoRootCert("verify-ca")),
        // libpq: "if a root CA file exists, require behaves like verify-ca".
        (Some("require"), Some(_)) => ("require", Verification::Ca),
        (Some("require"), None) => ("require", Verification::None),
        (Some("disable"), _) => ("disable", Verification::None),
        (Some("prefer") | None, _) => ("prefer", Verification::None),
        (Some(other), _) => return Err(TlsError::UnsupportedMode(other.to_owned())),
    };
    let sslmode = format!("sslmode={mode}");
    kept.push(&sslmode);
    let config = match (verification, &root) {
        (Verification::None, _) | (_, None) => unverified_client()?,
        (Verification::Ca, Some(root)) => verified_client(root, false)?,
        (Verification::Full, Some(root)) => verified_client(root, true)?,
    };
    Ok(PgTls {
        url: format!("{base}?{}", kept.join("&")),
        verification,
        connector: MakeRustlsConnect::new(config),
    })
}

/// lapin's TLS settings for an AMQP URL: RabbitMQ's `cacertfile` query
/// parameter, when given, adds that PEM CA to the system's trust store.
pub fn amqp(url: &str) -> Result<lapin::tcp::OwnedTLSConfig, TlsError> {
    let cacertfile = url
        .split_once('?')
        .map(|(_, query)| query)
        .into_iter()
        .flat_map(|query| url::form_urlencoded::parse(query.as_bytes()))
        .find(|(key, _)| key == "cacertfile")
        .map(|(_, value)| PathBuf::from(value.as_ref()));
    let cert_chain = match cacertfile {
        Some(path) => {
            let pem = std::fs::read_to_string(&path).map_err(|source| TlsError::Read {
                param: "cacertfile",
                path: path.clone(),
                source,
            })?;
            if CertificateDer::pem_slice_iter(pem.as_bytes())
                .next()
                .is_none()
            {
                return Err(TlsError::NoCertificate {
                    param: "cacertfile",
                    path,
                });
            }
            Some(pem)
        }
        None => None,
    };
    Ok(lapin::tcp::OwnedTLSConfig {
        identity: None,
        cert_chain,
    })
}

/// A TLS server speaking HTTP/1.1 (ALPN), from a PEM certificate chain
/// (the server's certificate first) and a PEM private key (PKCS#8, PKCS#1
/// or SEC1). `params` name the two settings in errors.
pub fn server(
    (cert_param, cert_path): (&'static str, &Path),
    (key_param, key_path): (&'static str, &Path),
) -> Result<rustls::ServerConfig, TlsError> {
    use rustls::pki_types::PrivateKeyDer;
    let read = |param, path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            param,
            path: path.to_owned(),
            source,
        })
    };
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(&read(cert_param, cert_path)?)
            .filter_map(Result::ok)
            .collect();
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            param: cert_param,
            path: cert_path.to_owned(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(&read(key_param, key_path)?).map_err(|_| {
        TlsError::NoKey {
            param: key_param,
            path: key_path.to_owned(),
        }
    })?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Makes aws-lc-rs the process-wide default provider, for the libraries
/// that ask for the default (tonic's TLS server). Idempotent.
pub fn install_crypto_provider() {
    // Err only when a provider is installed already, which is as good.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Every PEM certificate in `path`, as trust anchors.
fn read_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let read = |source| TlsError::Read {
        param: "sslrootcert",
        path: path.to_owned(),
        source,
    };
    let pem = std::fs::read(path).map_err(read)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| read(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(certs);
    if roots.is_empty() {
        return Err(TlsError::NoCertificate {
            param: "sslrootcert",
            path: path.to_owned(),
        });
    }
    Ok(roots)
}

fn verified_client(root: &Path, check_name: bool) -> Result<ClientConfig, TlsError> {
    let provider = provider();
    let webpki =
        WebPkiServerVerifier::builder_with_provider(Arc::new(read_roots(root)?), provider.clone())
            .build()?;
    let builder =
        ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions()?;
    let config = if check_name {
        builder.with_webpki_verifier(webpki)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyName(webpki)))
    };
    Ok(config.with_no_client_auth())
}

fn unverified_client() -> Result<ClientConfig, TlsError> {
    let provider = provider();
    let algorithms = provider.signature_verification_algorithms;
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Unauthenticated(algorithms)))
        .with_no_client_auth())
}

/// `sslmode=prefer|require` without a root: encryption against passive
/// eavesdropping, no authentication of the server — libpq's documented
/// behaviour. The handshake signature is still checked, so the server must
/// hold the key of the certificate it shows.
#[derive(Debug)]
struct Unauthenticated(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for Unauthenticated {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// `verify-ca`: the full WebPKI check except the host name.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // WebPKI checks the name only after the chain, so a name error
        // means the chain itself was accepted.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_is_read_and_rewritten_for_tokio_postgres() {
        let plain = postgres("postgres://u:pw@db/x").unwrap();
        assert_eq!(plain.url, "postgres://u:pw@db/x?sslmode=prefer");
        assert_eq!(plain.verification, Verification::None);
        let off = postgres("postgres://u@db/x?sslmode=disable&options=-c%20a%3Db+c").unwrap();
        assert_eq!(
            off.url,
            "postgres://u@db/x?options=-c%20a%3Db+c&sslmode=disable"
        );
        let on = postgres("postgres://u@db/x?sslmode=require").unwrap();
        assert_eq!(on.verification, Verification::None);
        assert_eq!(on.url, "postgres://u@db/x?sslmode=require");
    }

    #[test]
    fn verifying_modes_need_a_readable_root() {
        for mode in ["verify-ca", "verify-full"] {
            let e = postgres(&format!("postgres://u:pw@db/x?sslmode={mode}")).unwrap_err();
            assert!(matches!(e, TlsError::NoRootCert(_)), "{e}");
        }
        let e =
            postgres("postgres://u:s3cret@db/x?sslmode=verify-full&sslrootcert=/nonexistent.pem")
                .unwrap_err()
                .to_string();
        assert!(e.contains("/nonexistent.pem"), "{e}");
        assert!(!e.contains("s3cret"), "{e}");
        let e = postgres("postgres://u@db/x?sslmode=allow").unwrap_err();
        assert!(matches!(e, TlsError::UnsupportedMode(_)), "{e}");
    }

    #[test]
    fn amqp_without_cacertfile_uses_the_defaults() {
        let tls = amqp("amqps://u:p@mq:5671/%2f?heartbeat=10").unwrap();
        assert!(tls.cert_chain.is_none());
        let e = amqp("amqps://u:p@mq/%2f?cacertfile=%2Fnonexistent%2Fca.pem")
            .unwrap_err()
            .to_string();
        assert!(e.contains("cacertfile /nonexistent/ca.pem"), "{e}");
    }
}

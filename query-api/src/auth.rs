//! Bearer-token access to the gRPC services, as tonic interceptors.
//!
//! - AdminService ([`BearerAuth::admin`]) needs `grpc.admin_token`; with no
//!   token configured it refuses every call, so an operator who forgets the
//!   setting gets a closed door, not an open one.
//! - Lookups ([`BearerAuth::lookups`]: the read services, MetadataService
//!   and CatalogService, and reflection) are open unless `grpc.lookup_token`
//!   is set. Health stays open either way,
//!   for load balancers and probes.
//!
//! Clients send `authorization: Bearer <token>` ([`AttachToken`]). The
//! presented token is compared in constant time ([`subtle`]); a refusal is
//! UNAUTHENTICATED with a message that never repeats what was sent.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::{Request, Status};
use tracing::warn;

const HEADER: &str = "authorization";

#[derive(Clone)]
enum Policy {
    /// Every call passes.
    Open,
    /// Every call is refused: the service needs a token and none is set.
    Closed,
    Token(Arc<SecretString>),
}

/// Why a call was refused (logged; the caller gets a message per reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    Disabled,
    Missing,
    Malformed,
    Invalid,
}

/// Checks each call's bearer token before the service sees it.
#[derive(Clone)]
pub struct BearerAuth {
    /// The service's name, for logs and messages.
    service: &'static str,
    /// The configuration key that holds this service's token.
    key: &'static str,
    policy: Policy,
}

impl std::fmt::Debug for BearerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let policy = match self.policy {
            Policy::Open => "open",
            Policy::Closed => "closed",
            Policy::Token(_) => "token",
        };
        f.debug_struct("BearerAuth")
            .field("service", &self.service)
            .field("policy", &policy)
            .finish()
    }
}

impl BearerAuth {
    /// AdminService: `token` required; without one configured, closed.
    pub fn admin(token: Option<SecretString>) -> Self {
        Self {
            service: "AdminService",
            key: "grpc.admin_token",
            policy: token.map_or(Policy::Closed, |t| Policy::Token(Arc::new(t))),
        }
    }

    /// Lookups: `token` required when configured, open otherwise.
    pub fn lookups(token: Option<SecretString>) -> Self {
        Self {
            service: "MetadataService",
            key: "grpc.lookup_token",
            policy: token.map_or(Policy::Open, |t| Policy::Token(Arc::new(t))),
        }
    }

    fn check(&self, request: &Request<()>) -> Result<(), Refusal> {
        let expected = match &self.policy {
            Policy::Open => return Ok(()),
            Policy::Closed => return Err(Refusal::Disabled),
            Policy::Token(expected) => expected,
        };
        let value = request.metadata().get(HEADER).ok_or(Refusal::Missing)?;
        let presented = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or(Refusal::Malformed)?;
        // Constant time in the token's content; a length mismatch fails
        // at once, which tells an attacker only the length.
        if bool::from(
            presented
                .as_bytes()
                .ct_eq(expected.expose_secret().as_bytes()),
        ) {
            Ok(())
        } else {
            Err(Refusal::Invalid)
        }
    }
}

impl Interceptor for BearerAuth {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        match self.check(&request) {
            Ok(()) => Ok(request),
            Err(reason) => {
                let remote = request.remote_addr();
                warn!(service = self.service, ?reason, remote = ?remote, "call refused: bearer token");
                let message = match reason {
                    Refusal::Disabled => format!(
                        "{} is disabled: this server has no {} configured",
                        self.service, self.key
                    ),
                    Refusal::Missing => format!(
                        "{} needs a bearer token: send `authorization: Bearer <token>`",
                        self.service
                    ),
                    Refusal::Malformed => {
                        "malformed authorization header: expected `Bearer <token>`".to_owned()
                    }
                    Refusal::Invalid => format!("invalid bearer token for {}", self.service),
                };
                Err(Status::unauthenticated(message))
            }
        }
    }
}

/// Client side: adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
pub struct AttachToken(MetadataValue<tonic::metadata::Ascii>);

impl std::fmt::Debug for AttachToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AttachToken(***)")
    }
}

impl AttachToken {
    /// Fails when `token` cannot be sent in a header (not visible ASCII).
    pub fn new(token: &str) -> Result<Self, tonic::metadata::errors::InvalidMetadataValue> {
        let mut value: MetadataValue<_> = format!("Bearer {token}").parse()?;
        value.set_sensitive(true);
        Ok(Self(value))
    }
}

impl Interceptor for AttachToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request.metadata_mut().insert(HEADER, self.0.clone());
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "admin-token-0123456789";

    fn call(auth: &BearerAuth, header: Option<&str>) -> Result<(), Status> {
        let mut request = Request::new(());
        if let Some(h) = header {
            request
                .metadata_mut()
                .insert(HEADER, h.parse().expect("ascii header"));
        }
        auth.clone().call(request).map(drop)
    }

    #[test]
    fn admin_needs_the_configured_token() {
        let auth = BearerAuth::admin(Some(TOKEN.into()));
        assert!(call(&auth, Some(&format!("Bearer {TOKEN}"))).is_ok());
        assert!(call(&auth, Some(&format!("bearer {TOKEN}"))).is_ok());
        for (header, words) in [
            (None, "needs a bearer token"),
            (Some("Basic dXNlcjpwYXNz"), "malformed"),
            (Some("Bearer"), "malformed"),
            (
                Some("Bearer wrong-token-0123456789"),
                "invalid bearer token",
            ),
            (Some(&format!("Bearer {TOKEN}x")), "invalid bearer token"),
            (
                Some(&format!("Bearer {}", &TOKEN[..10])),
                "invalid bearer token",
            ),
        ] {
            let status = call(&auth, header).unwrap_err();
            assert_eq!(status.code(), tonic::Code::Unauthenticated, "{header:?}");
            assert!(status.message().contains(words), "{status:?}");
            assert!(!status.message().contains("0123456789"), "{status:?}");
        }
    }

    #[test]
    fn admin_without_a_token_is_closed_and_lookups_open() {
        let status = call(&BearerAuth::admin(None), Some(&format!("Bearer {TOKEN}"))).unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
        assert!(status.message().contains("grpc.admin_token"), "{status:?}");
        assert!(call(&BearerAuth::lookups(None), None).is_ok());
        let closed = BearerAuth::lookups(Some(TOKEN.into()));
        assert!(call(&closed, None).is_err());
        assert!(format!("{closed:?}").contains("token"));
        assert!(!format!("{closed:?}").contains(TOKEN));
    }

    #[test]
    fn attached_tokens_pass_the_check() {
        let auth = BearerAuth::admin(Some(TOKEN.into()));
        let request = AttachToken::new(TOKEN)
            .unwrap()
            .call(Request::new(()))
            .unwrap();
        assert!(auth.clone().call(request).is_ok());
        assert!(AttachToken::new("bad\ntoken").is_err());
        assert!(!format!("{:?}", AttachToken::new(TOKEN).unwrap()).contains(TOKEN));
    }
}

//! How large a gRPC call may be, and how an oversized one is answered.
//!
//! Messages are capped per service ([`MAX_REQUEST_BYTES`],
//! [`MAX_RESPONSE_BYTES`]); tonic answers a larger one `OUT_OF_RANGE`.
//! Request metadata (headers) is capped at [`MAX_METADATA_BYTES`], counted
//! as HTTP/2 counts a header list: name, value and 32 bytes per entry.
//!
//! That cap is enforced here, by [`check_metadata_size`], and not by
//! HTTP/2's own `SETTINGS_MAX_HEADER_LIST_SIZE`: over that setting the
//! HTTP/2 library answers a bare HTTP 431, which gRPC clients report as
//! `UNKNOWN`. So the server advertises a roomier
//! [`HTTP2_MAX_HEADER_LIST_BYTES`] (4× the cap), and a call over the cap but
//! within that gets `RESOURCE_EXHAUSTED` with the sizes. Beyond it HTTP/2 still answers 431 (`UNKNOWN` at a tonic client),
//! and beyond 4× that (256 KiB) it closes the connection with
//! `ENHANCE_YOUR_CALM`, which clients report as `RESOURCE_EXHAUSTED`.

use tonic::metadata::KeyAndValueRef;
use tonic::{Request, Status};

/// Lookup requests hold one MBID: anything near this is not a lookup.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;
/// A release with hundreds of tracks stays well below this.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// Request metadata (headers) per call.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;
/// What HTTP/2 is told to accept, so that [`check_metadata_size`] sees
/// (and answers) the calls over [`MAX_METADATA_BYTES`].
pub const HTTP2_MAX_HEADER_LIST_BYTES: u32 = 4 * MAX_METADATA_BYTES as u32;

/// HTTP/2's per-entry overhead in a header list's size (RFC 9113, 6.5.2).
const ENTRY_OVERHEAD: usize = 32;

/// Refuses a call whose metadata is over [`MAX_METADATA_BYTES`] with
/// `RESOURCE_EXHAUSTED`; an interceptor in front of every service.
pub fn check_metadata_size(request: Request<()>) -> Result<Request<()>, Status> {
    let size = metadata_size(&request);
    if size > MAX_METADATA_BYTES {
        return Err(Status::resource_exhausted(format!(
            "request metadata is {size} bytes; at most {MAX_METADATA_BYTES} are accepted"
        )));
    }
    Ok(request)
}

/// The metadata's size as HTTP/2 counts it (the pseudo-headers aside).
fn metadata_size<T>(request: &Request<T>) -> usize {
    request
        .metadata()
        .iter()
        .map(|entry| {
            let (key, value) = match entry {
                KeyAndValueRef::Ascii(k, v) => (k.as_str().len(), v.as_encoded_bytes().len()),
                KeyAndValueRef::Binary(k, v) => (k.as_str().len(), v.as_encoded_bytes().len()),
            };
            key + value + ENTRY_OVERHEAD
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_value(len: usize) -> Request<()> {
        let mut request = Request::new(());
        request
            .metadata_mut()
            .insert("x-padding", "p".repeat(len).parse().unwrap());
        request
    }

    #[test]
    fn counts_as_http2_does_and_refuses_past_the_cap() {
        let fits = MAX_METADATA_BYTES - "x-padding".len() - ENTRY_OVERHEAD;
        assert_eq!(metadata_size(&with_value(fits)), MAX_METADATA_BYTES);
        assert!(check_metadata_size(with_value(fits)).is_ok());
        let status = check_metadata_size(with_value(fits + 1)).unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert!(status.message().contains("16385 bytes"), "{status:?}");
    }
}

//! The deadline a gRPC client gave its call (`grpc-timeout`), which bounds
//! how long any lookup may wait for a fill.

use std::time::Duration;

use tonic::Request;

/// The client's deadline from the `grpc-timeout` header (`<digits><unit>`,
/// units H M S m u n), as the gRPC over HTTP/2 protocol defines it.
pub fn client_deadline<T>(request: &Request<T>) -> Option<Duration> {
    let value = request.metadata().get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_grpc_timeout() {
        let mut r = Request::new(());
        assert_eq!(client_deadline(&r), None);
        r.metadata_mut()
            .insert("grpc-timeout", "1500m".parse().unwrap());
        assert_eq!(client_deadline(&r), Some(Duration::from_millis(1500)));
        r.metadata_mut()
            .insert("grpc-timeout", "2S".parse().unwrap());
        assert_eq!(client_deadline(&r), Some(Duration::from_secs(2)));
        r.metadata_mut()
            .insert("grpc-timeout", "x".parse().unwrap());
        assert_eq!(client_deadline(&r), None);
    }
}

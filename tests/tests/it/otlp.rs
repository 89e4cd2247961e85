//! Trace export: a real `query-api` process, configured with
//! `telemetry.otlp_endpoint`, sends its spans to an OTLP/gRPC collector
//! (here a stand-in that records what it receives).

use std::time::Duration;

use musicmeta_proto::v1 as pb;
use musicmeta_proto::v1::metadata_service_client::MetadataServiceClient;
use musicmeta_tests::binaries::binary;
use musicmeta_tests::database::TestDatabase;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tokio::sync::mpsc;
use tonic::{Request, Response, Status};

struct Collector(mpsc::UnboundedSender<ExportTraceServiceRequest>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let _ = self.0.send(request.into_inner());
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn query_api_exports_its_spans_over_otlp() {
    let (tx, mut received) = mpsc::unbounded_channel();
    let collector = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector_addr = collector.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Collector(tx)))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(collector)),
    );

    let db = TestDatabase::migrated().await;
    let port = free_port();
    let mut child = std::process::Command::new(binary("query-api"))
        .arg("serve")
        .env("DATABASE_URL", &db.url)
        .env("AMQP_URL", musicmeta_tests::broker::url())
        .env("MUSICMETA_GRPC__LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env(
            "MUSICMETA_TELEMETRY__OTLP_ENDPOINT",
            format!("http://{collector_addr}"),
        )
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("query-api starts");

    let within = Duration::from_secs(30);
    let mut client = tokio::time::timeout(within, async {
        loop {
            if let Ok(c) = MetadataServiceClient::connect(format!("http://127.0.0.1:{port}")).await
            {
                return c;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("query-api listens within 30 s");
    let trace = "0af7651916cd43dd8448eb211c80319c";
    let mut request = Request::new(pb::GetArtistRequest {
        mbid: "not-an-mbid".into(),
    });
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace}-b7ad6b7169203331-01").parse().unwrap(),
    );
    let err = client.get_artist(request).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);

    // SIGTERM: the process flushes its spans as it stops.
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exported = tokio::time::timeout(within, async {
        loop {
            let batch = received.recv().await.expect("collector open");
            for resource in batch.resource_spans {
                let service = resource
                    .resource
                    .iter()
                    .flat_map(|r| &r.attributes)
                    .find(|a| a.key == "service.name")
                    .and_then(|a| a.value.clone());
                for scope in resource.scope_spans {
                    for span in scope.spans {
                        let id: String = span.trace_id.iter().map(|b| format!("{b:02x}")).collect();
                        if id == trace && span.name == "rpc" {
                            return service;
                        }
                    }
                }
            }
        }
    })
    .await
    .expect("the rpc span reaches the collector within 30 s");
    let service = format!("{exported:?}");
    assert!(service.contains("query-api"), "service.name: {service}");
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "query-api exits cleanly on SIGTERM: {exit}");
}

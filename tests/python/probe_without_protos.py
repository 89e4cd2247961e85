"""Talks to a gRPC server with no proto files, as grpcurl and
grpc_health_probe do: lists its services through server reflection,
resolves a method's descriptors the same way, and asks the standard health
service. Prints one JSON object.

    python3 probe_without_protos.py HOST:PORT SERVICE
"""

import json
import sys

import grpc
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)


def main() -> int:
    addr, service = sys.argv[1], sys.argv[2]
    with grpc.insecure_channel(addr) as channel:
        reflection = ProtoReflectionDescriptorDatabase(channel)
        services = sorted(reflection.get_services())
        pool = DescriptorPool(reflection)
        methods = [m.name for m in pool.FindServiceByName(service).methods]
        health = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=5
        )
        status = health_pb2.HealthCheckResponse.ServingStatus.Name(health.status)
    print(json.dumps({"services": services, "methods": methods, "health": status}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

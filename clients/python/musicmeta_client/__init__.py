"""A small Python client for musicmeta's gRPC API (``musicmeta.v1.MetadataService``).

The stubs are generated from the repository's ``proto/`` at start (into a
temporary folder, or into ``--generated DIR``), so a fresh checkout works
without committed generated code.

Library use::

    from musicmeta_client import lookup, to_json
    response = lookup("127.0.0.1:50051", "release", "7c07f9a1-381f-4c00-8d17-2acc537597f8", 15)
    print(response.release.title, response.cache.freshness)

``lookup`` raises ``grpc.RpcError`` on a gRPC error (``e.code()``,
``e.details()``). Command line: ``python -m musicmeta_client --help``.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

# The stub generator (musicmeta_client.generate) is imported when needed, so
# that `python -m musicmeta_client.generate` runs it without a second copy.

__all__ = [
    "DEFAULT_ADDR",
    "ENTITY_TYPES",
    "Stubs",
    "load_stubs",
    "lookup",
    "main",
    "to_json",
]

DEFAULT_ADDR = "127.0.0.1:50051"
DEFAULT_TIMEOUT_SECS = 15.0

# Entity type (as the query-api CLI and MusicBrainz spell it) -> (RPC, request message).
ENTITY_TYPES: dict[str, tuple[str, str]] = {
    "artist": ("GetArtist", "GetArtistRequest"),
    "release-group": ("GetReleaseGroup", "GetReleaseGroupRequest"),
    "release": ("GetRelease", "GetReleaseRequest"),
    "recording": ("GetRecording", "GetRecordingRequest"),
    "label": ("GetLabel", "GetLabelRequest"),
}

_STUB_MODULE = "musicmeta/v1/metadata_service_pb2_grpc.py"


@dataclass(frozen=True)
class Stubs:
    """The generated modules: messages (``pb2``) and the service stub (``pb2_grpc``)."""

    folder: Path
    pb2: ModuleType
    pb2_grpc: ModuleType


_stubs: Stubs | None = None


def load_stubs(
    generated_dir: str | os.PathLike | None = None,
    proto_dir: str | os.PathLike | None = None,
) -> Stubs:
    """Imports the generated stubs, generating them first if need be.

    Without ``generated_dir`` they are generated from ``proto_dir`` (default:
    the repository's proto/) into a temporary folder removed at exit. With it,
    stubs already there are used as they are (regenerate them after changing
    proto/), and generated there if absent. The first call decides; later
    calls return the same modules. Raises
    ``musicmeta_client.generate.GenerationError`` when that fails.
    """
    global _stubs
    if _stubs is not None:
        return _stubs
    from .generate import GenerationError, generate

    if generated_dir is None:
        folder = Path(tempfile.mkdtemp(prefix="musicmeta-stubs-"))
        atexit.register(shutil.rmtree, folder, True)
        generate(folder, proto_dir)
    else:
        folder = Path(generated_dir).resolve()
        if not (folder / _STUB_MODULE).is_file():
            generate(folder, proto_dir)
    sys.path.insert(0, str(folder))
    importlib.invalidate_caches()
    try:
        pb2 = importlib.import_module("musicmeta.v1.metadata_service_pb2")
        pb2_grpc = importlib.import_module("musicmeta.v1.metadata_service_pb2_grpc")
    except ImportError as e:
        raise GenerationError(
            f"cannot import the stubs in {folder} ({e}); "
            "pip install -r clients/python/requirements.txt"
        ) from e
    _stubs = Stubs(folder, pb2, pb2_grpc)
    return _stubs


def _target(addr: str) -> str:
    """``host:port``; a leading ``http://`` (as the Rust clients take it) is dropped."""
    for scheme in ("http://", "grpc://"):
        if addr.startswith(scheme):
            return addr[len(scheme) :].rstrip("/")
    return addr


def lookup(
    addr: str,
    entity_type: str,
    mbid: str,
    timeout: float = DEFAULT_TIMEOUT_SECS,
    token: str | None = None,
):
    """Looks ``mbid`` up as ``entity_type`` at ``addr`` and returns the response message.

    ``timeout`` (seconds) is the call's deadline; the server waits for a miss
    to be filled at most that long. ``token`` is sent as ``authorization:
    Bearer <token>``, which a server with ``grpc.lookup_token`` set requires.
    Raises ``ValueError`` for an unknown entity type and ``grpc.RpcError``
    for a gRPC error status.
    """
    try:
        method, request_type = ENTITY_TYPES[entity_type]
    except KeyError:
        known = ", ".join(ENTITY_TYPES)
        raise ValueError(f"unknown entity type {entity_type!r} (one of: {known})") from None
    import grpc

    stubs = load_stubs()
    with grpc.insecure_channel(_target(addr)) as channel:
        stub = stubs.pb2_grpc.MetadataServiceStub(channel)
        request = getattr(stubs.pb2, request_type)(mbid=mbid)
        metadata = [("authorization", f"Bearer {token}")] if token else None
        return getattr(stub, method)(request, timeout=timeout, metadata=metadata)


def to_json(message) -> str:
    """The message as JSON, with the proto field names (``track_count``)."""
    from google.protobuf import json_format

    return json_format.MessageToJson(
        message,
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
        ensure_ascii=False,
        indent=2,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m musicmeta_client",
        description=(
            "Look an entity up in musicmeta by MBID and print the answer as JSON. "
            'On a gRPC error print {"code": ..., "message": ...} and exit with 1.'
        ),
    )
    parser.add_argument("entity_type", choices=list(ENTITY_TYPES), help="what to look up")
    parser.add_argument("mbid", help="the MusicBrainz ID")
    parser.add_argument(
        "--addr",
        default=os.environ.get("MUSICMETA_ADDR", DEFAULT_ADDR),
        help=f"query-api address, host:port (default: $MUSICMETA_ADDR or {DEFAULT_ADDR})",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_SECS,
        help=f"deadline of the call in seconds (default: {DEFAULT_TIMEOUT_SECS:g})",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("MUSICMETA_LOOKUP_TOKEN"),
        help="bearer token, when the server sets grpc.lookup_token "
        "(default: $MUSICMETA_LOOKUP_TOKEN)",
    )
    parser.add_argument(
        "--generated",
        metavar="DIR",
        default=None,
        help="use (or generate once into) stubs in DIR instead of a temporary folder",
    )
    parser.add_argument(
        "--proto-dir",
        metavar="DIR",
        default=None,
        help="folder holding musicmeta/v1/*.proto (default: this repository's proto/)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """CLI entry point. Exit status: 0 answered, 1 gRPC error, 2 usage or setup error."""
    args = _parser().parse_args(argv)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(encoding="utf-8")
    try:
        import grpc
    except ImportError as e:
        print(
            f"error: grpcio is not installed ({e}); "
            "pip install -r clients/python/requirements.txt",
            file=sys.stderr,
        )
        return 2
    from .generate import GenerationError

    try:
        load_stubs(args.generated, args.proto_dir)
    except GenerationError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        response = lookup(args.addr, args.entity_type, args.mbid, args.timeout, args.token)
    except grpc.RpcError as e:
        code = e.code() if hasattr(e, "code") else None
        details = e.details() if hasattr(e, "details") else str(e)
        error = {
            "code": code.name if code is not None else "UNKNOWN",
            "message": details or "",
        }
        print(json.dumps(error, ensure_ascii=False))
        return 1
    print(to_json(response))
    return 0

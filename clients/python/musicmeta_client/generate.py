"""Generates the Python gRPC stubs for musicmeta from the repository's proto/.

    python -m musicmeta_client.generate OUT_DIR [--proto-dir DIR]

writes ``OUT_DIR/musicmeta/v1/{entities,metadata_service}_pb2{,_grpc}.py``.
Put OUT_DIR on ``sys.path`` (``load_stubs`` does) to import them as
``musicmeta.v1.metadata_service_pb2``. The generated files are build output:
do not commit them.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# clients/python/musicmeta_client/generate.py -> <repository>/proto
DEFAULT_PROTO_DIR = Path(__file__).resolve().parents[3] / "proto"
PROTO_FILES = ("musicmeta/v1/entities.proto", "musicmeta/v1/metadata_service.proto")


class GenerationError(RuntimeError):
    """protoc failed, or grpcio-tools is not installed."""


def generate(out_dir: str | os.PathLike, proto_dir: str | os.PathLike | None = None) -> Path:
    """Runs protoc (from grpcio-tools) on proto/musicmeta/v1/*.proto into out_dir."""
    try:
        from grpc_tools import protoc
    except ImportError as e:
        raise GenerationError(
            f"grpcio-tools is not installed ({e}); "
            "pip install -r clients/python/requirements.txt"
        ) from e
    proto_dir = Path(proto_dir) if proto_dir else DEFAULT_PROTO_DIR
    missing = [f for f in PROTO_FILES if not (proto_dir / f).is_file()]
    if missing:
        raise GenerationError(f"no {', '.join(missing)} under {proto_dir}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # The well-known types (google/protobuf/timestamp.proto) ship with grpcio-tools.
    well_known = Path(protoc.__file__).resolve().parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{proto_dir}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        *(str(proto_dir / f) for f in PROTO_FILES),
    ]
    status = protoc.main(args)
    if status != 0:
        raise GenerationError(f"protoc exited with status {status}: {' '.join(args[1:])}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m musicmeta_client.generate",
        description="Generate the musicmeta Python gRPC stubs from proto/.",
    )
    parser.add_argument("out_dir", help="folder to write the musicmeta/v1/*_pb2*.py stubs into")
    parser.add_argument(
        "--proto-dir",
        default=None,
        help=f"folder holding musicmeta/v1/*.proto (default: {DEFAULT_PROTO_DIR})",
    )
    args = parser.parse_args(argv)
    try:
        out = generate(args.out_dir, args.proto_dir)
    except GenerationError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

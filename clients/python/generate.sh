#!/bin/sh
# Generates the musicmeta Python stubs from proto/ into a folder (default:
# clients/python/generated, which git ignores). Needs grpcio-tools:
#   pip install -r clients/python/requirements.txt
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-"$here/generated"}
cd "$here"
exec "${PYTHON:-python3}" -m musicmeta_client.generate "$out"

#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and starts a
# single-node broker on localhost:9092 with its data in ./data.
# Extra arguments go to runnel (e.g. --override num.partitions=3).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
make -s
exec build/runnel config/server.properties "$@"

#!/usr/bin/env bash
# Set up (if needed) and run the quickstart search on the bundled digits data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/hwflow search experiments/quickstart.yaml --out runs/quickstart "$@"

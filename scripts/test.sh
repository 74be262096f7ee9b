#!/usr/bin/env bash
# Set up (if needed), lint (ruff: pyproject.toml's rules), then run the whole test suite;
# extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m ruff check .
exec .venv/bin/python -m pytest -q "$@"

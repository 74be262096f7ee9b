#!/usr/bin/env bash
# Create .venv and install hwflow with its test tools. Safe to run again.
# torch: 2.13.0 by default (a CPU build where one lies on disk, e.g. these CI machines;
# PyPI's default build elsewhere, CUDA included). Override with HWFLOW_TORCH="torch==X.Y".
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  .venv/bin/python -m pip install -q --disable-pip-version-check "${HWFLOW_TORCH:-torch==2.13.0}"
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev]"
.venv/bin/python -m hwflow.hw.fine.build_aot || true  # AOT Fine kernel; on failure it warns, the JIT runs

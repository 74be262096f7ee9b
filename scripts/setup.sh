#!/usr/bin/env bash
# Create .venv and install hwflow with its test tools. Safe to run again.
# torch 2.14.1 with its torchvision 0.29.1 (onnx2torch needs torchvision) by default: PyPI's
# build, CUDA included, which also runs on a CPU-only machine. Override with
# HWFLOW_TORCH="torch==X.Y torchvision==A.B" (a matching pair).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
if ! .venv/bin/python -c "import torch, torchvision" 2>/dev/null; then
  # shellcheck disable=SC2086  # the variable holds two requirement words
  .venv/bin/python -m pip install -q --disable-pip-version-check ${HWFLOW_TORCH:-torch==2.14.1 torchvision==0.29.1}
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev]"
# The AOT Fine kernel. On a user's machine a failed build warns and the JIT runs; in CI
# (CI=true, which .ci/run sets) it fails the run, and tests/test_fine_aot.py fails too.
if [ "${CI:-}" = true ]; then
  .venv/bin/python -m hwflow.hw.fine.build_aot
else
  .venv/bin/python -m hwflow.hw.fine.build_aot || true
fi

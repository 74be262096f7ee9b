"""On a CUDA machine: a fine-tune on the GPU learns what the CPU one learns, local workers
each claim a GPU of their own, and the quantized-vs-float throughput bench runs.

Marked ``gpu``; skipped only when torch sees no CUDA device (the reason says so).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from hwflow.accuracy.evaluator import AccuracyEvaluator, AccuracySettings
from hwflow.dispatch.cluster import open_dispatch, worker_device
from hwflow.strategy import uniform_strategy
from tests.parallel_helpers import SlowProxySource

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(),
                                 reason="needs a CUDA device; torch sees none here")]


def test_a_fine_tune_on_cuda_learns_what_the_cpu_one_learns(tmp_path):
    settings = AccuracySettings(model="digits-cnn", dataset="digits", epochs=0.5, seed=0,
                                cache_dir=str(tmp_path / "cpu"))
    cpu = AccuracyEvaluator(settings)
    gpu = AccuracyEvaluator(replace(settings, device="cuda", cache_dir=str(tmp_path / "gpu")))
    strategy = uniform_strategy(cpu.workload, 4)
    on_cpu, on_gpu = cpu.evaluate_one(strategy), gpu.evaluate_one(strategy)
    assert gpu.session.device.type == "cuda"
    assert on_gpu.status == on_cpu.status == "ok"
    # same data, seed and recipe: only floating-point order differs between the devices
    assert abs(on_gpu.accuracy - on_cpu.accuracy) < 0.1, (on_cpu, on_gpu)
    assert on_gpu.accuracy > 0.5  # digits has 10 classes: far above chance after a fine-tune


def test_local_workers_each_claim_their_own_gpu(tmp_path):
    settings = AccuracySettings(model="resnet20", dataset="synthetic", device="cuda", seed=3,
                                cache_dir=str(tmp_path / "cache"))
    dispatch = open_dispatch(settings, workers=2, source=SlowProxySource(0.0, str(tmp_path / "log")))
    try:
        dispatch.float_accuracy()  # every worker has set up (and claimed) by now
        claimed = sorted(dispatch.client.run(worker_device, "cuda").values())
    finally:
        dispatch.close()
    count = torch.cuda.device_count()
    # the least-shared GPU first: distinct GPUs while there are enough, then round robin
    assert claimed == sorted(f"cuda:{i % count}" for i in range(2))


def test_the_quantized_vs_float_throughput_bench_runs_on_cuda():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_qat_gpu.py"),
                           "--device", "cuda", "--batch", "32", "--steps", "3", "--warmup", "1"],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr
    assert torch.cuda.get_device_name(0) in proc.stdout
    assert "images/s" in proc.stdout and "of float" in proc.stdout

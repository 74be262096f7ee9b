"""Fine-tuning throughput, quantized vs float: images/s of ResNet20 on CIFAR-shaped data.

    python benchmarks/bench_qat_gpu.py                       # CUDA when present; goal >= 70%
    python benchmarks/bench_qat_gpu.py --device cpu --batch 8 --steps 3 --warmup 1   # smoke run

Runs the real training loop (``hwflow.accuracy.train.fit``: normalization, CIFAR
augmentation, divergence checks, SGD with the cifar-resnet recipe) on random CIFAR-shaped
images held on the device, first with the float model, then with every layer quantized
(uniform 4-bit DoReFa weights + PACT activations, first and last layer at 16 bit).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

import torch

from hwflow.accuracy.apply import calibrate, quantize_model
from hwflow.accuracy.data import CIFAR_MEAN, CIFAR_STD, Normalization, TensorSource
from hwflow.accuracy.recipes import RECIPES
from hwflow.accuracy.session import resolve_device
from hwflow.accuracy.train import fit
from hwflow.catalog import build_model, load_workload, model_entry
from hwflow.strategy import uniform_strategy

GOAL = 0.70  # quantized images/s as a fraction of float


def images_per_second(model_name: str, bits: int | None, device: torch.device, batch: int,
                      steps: int, warmup: int) -> float:
    torch.manual_seed(0)
    entry = model_entry(model_name)
    count = batch * (steps + warmup)
    images = torch.randint(0, 256, (count, *entry.input_shape), dtype=torch.uint8)
    labels = torch.randint(0, entry.num_classes, (count,))
    source = TensorSource.in_memory(images, labels, Normalization(255.0, CIFAR_MEAN, CIFAR_STD),
                                    augment=True)
    model = build_model(entry)
    if bits is not None:
        quantize_model(model, uniform_strategy(load_workload(model_name), bits))
    model.to(device)
    if bits is not None:
        calibrate(model, next(source.batches(batch, device))[0])
    recipe = replace(RECIPES["cifar-resnet"], batch_size=batch)
    gen = torch.Generator().manual_seed(0)
    # one pass = warm-up steps then timed steps; time only the latter
    fit(model, source, recipe, epochs=warmup / (count // batch), lr=0.01, device=device,
        generator=gen)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    result = fit(model, source, recipe, epochs=steps / (count // batch), lr=0.01, device=device,
                 generator=gen)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return result.steps * batch / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--device", default="auto", help="cuda, cpu or auto")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=50, help="timed steps")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps before")
    parser.add_argument("--bits", type=int, default=4)
    args = parser.parse_args()
    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"cpu, {torch.get_num_threads()} threads"
    float_ips = images_per_second(args.model, None, device, args.batch, args.steps, args.warmup)
    quant_ips = images_per_second(args.model, args.bits, device, args.batch, args.steps,
                                  args.warmup)
    ratio = quant_ips / float_ips
    print(f"{args.model} fine-tuning on {name}, batch {args.batch}, {args.steps} steps")
    print(f"float: {float_ips:,.0f} images/s")
    print(f"{args.bits}-bit (dorefa-pact): {quant_ips:,.0f} images/s = {ratio:.0%} of float "
          f"(goal >= {GOAL:.0%}: {'PASS' if ratio >= GOAL else 'FAIL'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

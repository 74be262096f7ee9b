"""Time per ψ of DeepLabv3 at the full Cityscapes frame (2048x1024) on a CUDA GPU.

    python benchmarks/bench_seg_gpu.py                 # CUDA; says "skipped" without one
    python benchmarks/bench_seg_gpu.py --device cpu --model deeplabv3-small --steps 2  # smoke

One ψ is what the search runs per strategy: quantize the float network (uniform 4-bit DoReFa
weights + PACT activations, first and last layer at 16 bit), calibrate, fine-tune with the
real training loop (``hwflow.accuracy.train.fit``, the cityscapes-deeplab recipe: SGD,
batch 8) and measure mean IoU. The data are SYNTHETIC frames of Cityscapes' size
(synthetic-seg, 19 classes), so the timing needs no Cityscapes download; the float weights
are a seeded initialization (speed does not depend on them). Training and validation are
timed apart (after one untimed warm-up step) and extrapolated to the paper's ψ: a 10-epoch
fine-tune over the 2,475 training frames plus the 500 validation frames.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from hwflow.accuracy.apply import calibrate, quantize_model
from hwflow.accuracy.data import load_splits
from hwflow.accuracy.recipes import RECIPES
from hwflow.accuracy.session import resolve_device
from hwflow.accuracy.train import fit, measure_accuracy
from hwflow.catalog import build_model, load_workload, model_entry
from hwflow.strategy import uniform_strategy

PAPER_EPOCHS = 10  # HW-FlowQ's fine-tune before each Cityscapes ψ
TRAIN_FRAMES, VAL_FRAMES = 2475, 500  # Cityscapes train minus hwflow's validation split


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="deeplabv3-full")
    parser.add_argument("--device", default="auto", help="cuda, cpu or auto (CUDA when present)")
    parser.add_argument("--steps", type=int, default=8, help="timed fine-tune steps")
    parser.add_argument("--bits", type=int, default=4)
    args = parser.parse_args()
    if args.device == "auto" and not torch.cuda.is_available():
        print("skipped: torch sees no CUDA device here (not measured); run it on a GPU machine, "
              "or pass --device cpu for a smoke run")
        return 0
    device = resolve_device(args.device)
    entry = model_entry(args.model)
    recipe = RECIPES["cityscapes-deeplab"]
    splits = load_splits("synthetic-seg", entry.input_shape, entry.num_classes,
                         task="segmentation")
    torch.manual_seed(0)
    model = quantize_model(build_model(entry), uniform_strategy(load_workload(args.model),
                                                                args.bits)).to(device)
    calibrate(model, next(splits.train.batches(recipe.batch_size, device))[0])
    per_epoch = len(splits.train) // recipe.batch_size
    gen = torch.Generator().manual_seed(0)

    def train(steps: int) -> float:
        synchronize(device)
        start = time.perf_counter()
        result = fit(model, splits.train, recipe, epochs=steps / per_epoch, lr=recipe.finetune_lr,
                     device=device, generator=gen, task="segmentation")
        synchronize(device)
        assert result.steps == steps and not result.diverged
        return time.perf_counter() - start

    train(1)  # warm-up: cuDNN's algorithm search, allocator growth
    train_s = train(args.steps)
    synchronize(device)
    start = time.perf_counter()
    miou, _ = measure_accuracy(model, splits.val, device, recipe.eval_batch_size, "segmentation")
    synchronize(device)
    val_s = time.perf_counter() - start
    train_fps = args.steps * recipe.batch_size / train_s
    val_fps = len(splits.val) / val_s
    per_psi = PAPER_EPOCHS * TRAIN_FRAMES / train_fps + VAL_FRAMES / val_fps
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"cpu, {torch.get_num_threads()} threads"
    shape = "x".join(map(str, entry.input_shape))
    print(f"{args.model} ({shape}) {args.bits}-bit dorefa-pact fine-tune on {name}, "
          f"batch {recipe.batch_size}, synthetic-seg frames")
    print(f"training: {train_fps:.2f} frames/s ({args.steps} steps in {train_s:.1f} s); "
          f"validation: {val_fps:.2f} frames/s (mIoU {miou:.3f} of an untrained network)")
    print(f"the paper's ψ ({PAPER_EPOCHS} epochs of {TRAIN_FRAMES:,} frames + {VAL_FRAMES} "
          f"validation frames): {per_psi:,.0f} s per ψ (extrapolated)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

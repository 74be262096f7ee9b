"""Plots of a run (matplotlib, Agg): the front's 2-D projections, the hypervolume curve and
the layer-wise bitwidths of the hypervolume leader. Files go to ``<run>/plots/``.

Accuracy on the front is drawn with ±1 standard-error bars; a run that re-scored its front
also shows each member's re-scored accuracy (open circles, with their bars)."""

from __future__ import annotations

import itertools
from pathlib import Path

from hwflow.catalog import model_entry
from hwflow.errors import HwflowError
from hwflow.runs.reports import RunView
from hwflow.runs.store import RunStore

PLOT_DIR = "plots"
LABELS = {"accuracy": "accuracy", "frac_ops": "Frac.OPs", "dram_bytes": "DRAM bytes",
          "energy": "energy (16-bit MACs)", "latency_cycles": "latency (cycles)",
          "edp": "energy x delay", "area": "area (mm²)"}
MARKERS = {"hv-leader": ("*", "tab:red"), "accuracy-leader": ("^", "tab:green"),
           "compression-leader": ("v", "tab:purple")}


def axis_label(metric: str, model: str) -> str:
    """A metric's axis label; a segmentation model's accuracy is its mean IoU."""
    if metric == "accuracy":
        try:
            if model_entry(model).task == "segmentation":
                return "accuracy (mIoU)"
        except HwflowError:  # a user model file that has moved since the run
            pass
    return LABELS.get(metric, metric)


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_front(run: RunView, store: RunStore, path: Path) -> Path:
    plt = pyplot()
    objectives = run.objectives
    pairs = list(itertools.combinations(range(len(objectives)), 2)) or [(0, 0)]
    fig, axes = plt.subplots(1, len(pairs), figsize=(4.6 * len(pairs), 4.0), squeeze=False)
    seen = store.evaluations(run.meta.level)
    front_ids = {e.id for e in run.front}
    for ax, (i, j) in zip(axes[0], pairs):
        xi, yj = objectives[i], objectives[j]
        ax.scatter([e.objectives[xi] for e in seen], [e.objectives[yj] for e in seen],
                   s=8, c="0.75", label="evaluated")
        front = sorted(run.front, key=lambda e: e.objectives[xi])
        _with_errors(ax, front, xi, yj, dict(fmt="o", ms=4, c="tab:blue", label="front"))
        if run.confirmed is not None:
            _with_errors(ax, run.confirmed, xi, yj,
                         dict(fmt="o", ms=7, mfc="none", c="tab:orange",
                              label=f"confirmed ({run.confirmation['seeds']} seeds)"))
        for name, e in run.leaders.items():
            marker, color = MARKERS[name]
            ax.scatter([e.objectives[xi]], [e.objectives[yj]], s=120, marker=marker,
                       c=color, edgecolors="k", label=name, zorder=3)
        ax.set_xlabel(axis_label(xi, run.meta.model))
        ax.set_ylabel(axis_label(yj, run.meta.model))
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    confirmed = f", {len(run.confirmed)} confirmed" if run.confirmed is not None else ""
    fig.suptitle(f"{run.meta.name}: {len(front_ids)} non-dominated{confirmed} of {len(seen)} "
                 f"evaluated ({run.meta.level} level)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _with_errors(ax, evaluations, x: str, y: str, style: dict) -> None:
    """Points of ``evaluations`` with ±1 standard error on an accuracy axis."""
    def errors(metric: str):
        if metric != "accuracy":
            return None
        return [e.metrics.get("accuracy_se", 0.0) for e in evaluations]

    ax.errorbar([e.objectives[x] for e in evaluations], [e.objectives[y] for e in evaluations],
                xerr=errors(x), yerr=errors(y), elinewidth=0.8, capsize=2, ls="none", **style)


def plot_hypervolume(run: RunView, store: RunStore, path: Path) -> Path:
    plt = pyplot()
    rows = store.generations(run.meta.level)
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.plot([r.generation for r in rows], [r.hypervolume for r in rows], marker="o")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("generation")
    ax.set_ylabel("hypervolume (normalized)")
    ax.set_title(f"{run.meta.name}: convergence")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_bitwidths(run: RunView, path: Path, pick: str = "hv-leader") -> Path:
    plt = pyplot()
    e = run.leaders[pick]
    x = range(len(run.layers))
    fig, ax = plt.subplots(figsize=(max(5.0, 0.35 * len(run.layers) + 2), 3.8))
    ax.bar([i - 0.2 for i in x], e.w_bits, width=0.4, label="weights")
    ax.bar([i + 0.2 for i in x], e.a_bits, width=0.4, label="activations")
    ax.set_xticks(list(x), run.layers, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("bits")
    ax.set_title(f"{pick} (id {e.id}): layer-wise bitwidths")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_plots(run: RunView, store: RunStore) -> list[Path]:
    folder = run.folder / PLOT_DIR
    folder.mkdir(exist_ok=True)
    paths = [plot_hypervolume(run, store, folder / "hypervolume.png")]
    if run.front:
        paths.append(plot_front(run, store, folder / "front.png"))
        paths.append(plot_bitwidths(run, folder / "bitwidths.png"))
    return paths

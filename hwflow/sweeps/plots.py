"""Comparison plots of a sweep (matplotlib, Agg), written under ``<sweep out>/plots/``.

- search sweeps: ``fronts.png`` (every point's front overlaid, 2-D projections of the
  objectives all points share, hv leaders starred), ``leaders.png`` (the hv leaders'
  objectives across the grid) and ``hypervolume.png`` (every point's convergence curve);
- evaluate sweeps: ``sweep.png``, one panel per metric over the ``x`` key, one line per
  combination of the other keys (colour by one key, line style by the rest).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from hwflow.runs.plots import LABELS, PLOT_DIR, pyplot
from hwflow.sweeps.config import THROUGHPUT, Sweep
from hwflow.sweeps.results import PointResult

AXIS = {**LABELS, THROUGHPUT: "throughput (frames/cycle)", "macs": "MACs",
        "float_accuracy": "float accuracy", "buffer_kb": "on-chip buffer (KB)",
        "dram_bandwidth": "DRAM bandwidth (bytes/cycle)"}
STYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def write_sweep_plots(sweep: Sweep, results: list[PointResult], out: Path) -> list[Path]:
    folder = out / PLOT_DIR
    folder.mkdir(exist_ok=True)
    if sweep.kind == "search":
        paths = [plot_hypervolumes(sweep, results, folder / "hypervolume.png")]
        if any(r.run and r.run.front for r in results):
            paths += [plot_fronts(sweep, results, folder / "fronts.png"),
                      plot_leaders(sweep, results, folder / "leaders.png")]
        return paths
    return [plot_evaluations(sweep, results, folder / "sweep.png")]


def _colors(n: int) -> list[Any]:
    plt = pyplot()
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


def _shared_objectives(results: list[PointResult]) -> tuple[str, ...]:
    runs = [r.run for r in results if r.run and r.run.front]
    return tuple(m for m in runs[0].objectives if all(m in run.objectives for run in runs[1:]))


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=120, bbox_inches="tight")
    pyplot().close(fig)
    return path


def plot_fronts(sweep: Sweep, results: list[PointResult], path: Path) -> Path:
    plt = pyplot()
    objectives = _shared_objectives(results)
    pairs = list(itertools.combinations(range(len(objectives)), 2)) or [(0, 0)]
    fig, axes = plt.subplots(1, len(pairs), figsize=(4.8 * len(pairs), 4.2), squeeze=False)
    colors = _colors(len(results))
    for ax, (i, j) in zip(axes[0], pairs):
        xi, yj = objectives[i], objectives[j]
        for color, r in zip(colors, results):
            if not (r.run and r.run.front):
                continue
            front = sorted(r.run.front, key=lambda e: (e.objectives[xi], e.objectives[yj]))
            # a 2-D front is a staircase worth joining; projections of a 3-D one are not
            ax.plot([e.objectives[xi] for e in front], [e.objectives[yj] for e in front],
                    marker="o", ms=4, lw=1 if len(objectives) == 2 else 0, alpha=0.85,
                    color=color, label=r.point.label)
            leader = r.run.leaders["hv-leader"]
            ax.scatter([leader.objectives[xi]], [leader.objectives[yj]], marker="*", s=160,
                       color=color, edgecolors="k", zorder=3)
        ax.set_xlabel(AXIS.get(xi, xi))
        ax.set_ylabel(AXIS.get(yj, yj))
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0),
               ncol=min(3, len(labels)), fontsize=8)
    fig.suptitle(f"{sweep.name}: fronts of {len(results)} grid points (★ hv leader)")
    fig.tight_layout()
    return _save(fig, path)


def plot_leaders(sweep: Sweep, results: list[PointResult], path: Path) -> Path:
    """Horizontal bars (long point labels read along the y axis), one panel per objective."""
    plt = pyplot()
    objectives = _shared_objectives(results)
    shown = [r for r in results if r.run and r.run.front]
    fig, axes = plt.subplots(1, len(objectives), sharey=True, squeeze=False,
                             figsize=(3.6 * len(objectives) + 2.5, 0.42 * len(shown) + 1.6))
    color_of = {r.point.folder: c for r, c in zip(results, _colors(len(results)))}
    y = list(range(len(shown)))
    for ax, metric in zip(axes[0], objectives):
        values = [r.run.leaders["hv-leader"].objectives[metric] for r in shown]  # type: ignore[union-attr]
        ax.barh(y, values, color=[color_of[r.point.folder] for r in shown])
        if metric == "accuracy":  # differences of a few points would not show from zero
            lo, hi = min(values), max(values)
            ax.set_xlim(max(0.0, lo - max(2 * (hi - lo), 0.02)), min(1.0, hi + 0.01))
        ax.set_xlabel(AXIS.get(metric, metric))
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].set_yticks(y, [r.point.label for r in shown], fontsize=8)
    axes[0][0].invert_yaxis()  # grid order from the top
    fig.suptitle(f"{sweep.name}: hypervolume leader of each grid point")
    fig.tight_layout()
    return _save(fig, path)


def plot_hypervolumes(sweep: Sweep, results: list[PointResult], path: Path) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for i, (color, r) in enumerate(zip(_colors(len(results)), results)):
        # styles and sizes differ so that equal curves (same seed) stay visible
        ax.plot([h.generation for h in r.history], [h.hypervolume for h in r.history],
                marker=MARKERS[i % len(MARKERS)], ms=6 - 3 * i / max(1, len(results) - 1),
                linestyle=STYLES[i % len(STYLES)], color=color, label=r.point.label)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("generation")
    ax.set_ylabel("hypervolume (normalized)")
    ax.set_title(f"{sweep.name}: convergence of every grid point")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return _save(fig, path)


# --- evaluate sweeps -------------------------------------------------------------------------

def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _axes_keys(sweep: Sweep) -> tuple[str | None, str | None, list[str]]:
    """(x key, colour key, the keys whose combinations get line styles)."""
    plot, keys = sweep.config.plot, list(sweep.keys)
    x = plot.x if plot and plot.x else next(
        (k for k in keys if all(_is_number(p.value(k)) for p in sweep.points)
         and len({p.value(k) for p in sweep.points}) > 1), keys[0] if keys else None)
    rest = [k for k in keys if k != x]
    color = plot.color if plot and plot.color else (rest[0] if rest else None)
    if plot and plot.style:
        styled = [plot.style]
    else:
        styled = [k for k in rest if k != color]
    return x, color, styled


def _default_metrics(results: list[PointResult]) -> list[str]:
    metrics = ["dram_bytes", THROUGHPUT]
    for extra in ("energy", "accuracy"):
        if any(r.row.get(extra) not in (None, "") for r in results):
            metrics.append(extra)
    return metrics


def plot_evaluations(sweep: Sweep, results: list[PointResult], path: Path) -> Path:
    plt = pyplot()
    plot = sweep.config.plot
    metrics = list(plot.metrics) if plot and plot.metrics else _default_metrics(results)
    x_key, color_key, styled = _axes_keys(sweep)
    xs = [r.point.value(x_key) if x_key else "base" for r in results]
    numeric = all(_is_number(v) for v in xs)
    position = {v: i for i, v in enumerate(dict.fromkeys(map(str, xs)))}

    def at(value: Any) -> float:
        return float(value) if numeric else float(position[str(value)])

    def shown(r: PointResult, key: str | None) -> str:
        given = dict(r.point.values)
        return str(given[key]) if key in given else "base"

    color_values = list(dict.fromkeys(shown(r, color_key) for r in results))
    color_of = dict(zip(color_values, _colors(len(color_values))))
    style_values = list(dict.fromkeys(
        ", ".join(f"{k}={shown(r, k)}" for k in styled) for r in results))
    style_of = {v: i for i, v in enumerate(style_values)}
    lines: dict[tuple[str, str], list[PointResult]] = {}
    for r in results:
        style = ", ".join(f"{k}={shown(r, k)}" for k in styled)
        lines.setdefault((shown(r, color_key), style), []).append(r)

    ncols = 2 if len(metrics) == 4 else min(len(metrics), 3)
    nrows = -(-len(metrics) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 4.0 * nrows), squeeze=False)
    for ax in axes.flat[len(metrics):]:
        ax.set_visible(False)
    for ax, metric in zip(axes.flat, metrics):
        for (c, s), members in lines.items():
            pts = sorted((at(r.point.value(x_key) if x_key else "base"), r.row[metric])
                         for r in members if r.row.get(metric) not in (None, ""))
            if not pts:
                continue
            k = style_of[s]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], color=color_of[c],
                    linestyle=STYLES[k % len(STYLES)], marker=MARKERS[k % len(MARKERS)],
                    ms=4, lw=1.4)
        if plot and plot.logx and numeric:
            ax.set_xscale("log", base=2)
        if plot and plot.logy:
            ax.set_yscale("log")
        if numeric:
            ticks = sorted({at(v) for v in xs})
            ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        else:
            ax.set_xticks(list(position.values()), list(position), rotation=30, ha="right")
        ax.set_xlabel(AXIS.get(x_key, x_key) if x_key else "")
        ax.set_ylabel(AXIS.get(metric, metric))
        ax.grid(alpha=0.3, which="both")
    _legends(fig, color_key, color_of, style_values)
    fig.suptitle(_title(sweep, results))
    fig.tight_layout()
    return _save(fig, path)


def _legends(fig, color_key: str | None, color_of: dict[str, Any],
             style_values: list[str]) -> None:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=c, lw=2, label=f"{color_key}={v}")
               for v, c in color_of.items()] if color_key else []
    handles += [Line2D([], [], color="0.3", linestyle=STYLES[i % len(STYLES)],
                       marker=MARKERS[i % len(MARKERS)], label=v)
                for i, v in enumerate(style_values) if v]
    if handles:
        fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0),
                   ncol=min(len(handles), 7), fontsize=8)


def _title(sweep: Sweep, results: list[PointResult]) -> str:
    fixed = []
    for key in ("model", "accelerator", "batch", "dram_bandwidth"):
        values = {str(r.row.get(key)) for r in results}
        if len(values) == 1:
            value = values.pop()
            fixed.append({"batch": f"batch {value}",
                          "dram_bandwidth": f"DRAM {value} B/cycle"}.get(key, value))
    skipped = sum(1 for r in results if r.state != "ok")
    note = (f" ({skipped} point{'s' * (skipped > 1)} without numbers: see status in "
            "sweep.csv)") if skipped else ""
    return f"{sweep.name}: {', '.join(fixed)}{note}"

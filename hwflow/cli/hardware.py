"""``hwflow models``, ``hwflow accelerators``, ``hwflow evaluate``: the hardware model alone."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hwflow.config import MAX_BATCH
from hwflow.hw.levels import LEVELS, OBJECTIVES
from hwflow.hw.spec import DATAFLOWS


@click.command()
def models() -> None:
    """List catalog CNNs (name, layers, MACs per frame)."""
    from hwflow.catalog import load_workload, model_entry, model_names

    rows = []
    for name in model_names():
        workload = load_workload(name)
        entry = model_entry(name)
        shape = "x".join(str(d) for d in entry.input_shape)
        rows.append((name, str(len(workload.layers)), f"{workload.macs / 1e6:,.2f} M",
                     shape, entry.dataset))
    _print_table(("model", "layers", "MACs", "input", "dataset"), rows)


@click.command()
def accelerators() -> None:
    """List catalog accelerators (name, array, buffer, engine, dataflow)."""
    from hwflow.catalog import accelerator_names, load_accelerator

    rows = []
    for name in accelerator_names():
        a = load_accelerator(name)
        engine = a.engine.kind + (f" ({a.engine.lanes} lanes)" if a.engine.kind == "bit-serial" else "")
        rf = f"{a.rf.filter_words}/{a.rf.fmap_words}/{a.rf.psum_words}"
        rows.append((name, f"{a.rows}x{a.cols}", f"{(a.buffer.size_bytes or 0) // 1024} KB",
                     engine, a.dataflow, rf))
    _print_table(("accelerator", "array", "buffer", "engine", "dataflow", "RF words f/i/p"), rows)


@click.command()
@click.option("--model", "model_name", help="Catalog model name, path/to/net.py or net.onnx.")
@click.option("--accelerator", "accel_name", help="Catalog accelerator name or my_chip.yaml.")
@click.option("--level", type=click.Choice(LEVELS), default=None,
              help="Abstraction level [default: fine, or the strategy file's level].")
@click.option("--bits", help="Every quantizable layer at W or W,A bits (first/last stay 16).")
@click.option("--strategy", "strategy_file", type=click.Path(dir_okay=False),
              help="Strategy YAML with per-layer bits.")
@click.option("--batch", type=click.IntRange(1, MAX_BATCH), default=None,
              help="Frames processed together [default: 1, or the strategy file's batch].")
@click.option("--dataflow", type=click.Choice(DATAFLOWS), default=None,
              help="Override the accelerator's dataflow.")
@click.option("--objective", type=click.Choice(OBJECTIVES), default=None,
              help="What the Fine-level mapper minimizes [default: latency, ties by energy, "
                   "or the strategy file's mapper_objective].")
@click.option("--mappings", is_flag=True, help="Print the chosen mapping of each layer (Fine).")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON contract instead of a table.")
def evaluate(model_name: str | None, accel_name: str | None, level: str | None, bits: str | None,
             strategy_file: str | None, batch: int | None, dataflow: str | None,
             objective: str | None,
             mappings: bool, as_json: bool) -> None:
    """Estimate a quantized CNN on an accelerator."""
    from hwflow.catalog import load_accelerator, load_workload
    from hwflow.errors import HwflowError
    from hwflow.hw.levels import DEFAULT_OBJECTIVE, estimate
    from hwflow.strategy import load_strategy, parse_bits, uniform_strategy

    if bits is not None and strategy_file:
        raise HwflowError("give --bits or --strategy, not both")
    strategy = load_strategy(strategy_file) if strategy_file else None
    stored = strategy.extra if strategy else {}
    model_name = model_name or (strategy.model_ref if strategy else None)
    if not accel_name and stored.get("accelerator"):
        accel_name = str(stored["accelerator"])
        beside = Path(strategy_file).parent / accel_name  # a file exported with the strategy
        if accel_name.endswith((".yaml", ".yml")) and not Path(accel_name).is_absolute():
            accel_name = str(beside)
    if not model_name:
        raise HwflowError("--model is required (or a --strategy file naming its model)")
    if not accel_name:
        raise HwflowError("--accelerator is required (or a --strategy file naming its accelerator)")
    level = level or _stored(strategy_file, stored, "level", LEVELS) or "fine"
    batch = batch or _stored(strategy_file, stored, "batch") or 1
    dataflow = dataflow or _stored(strategy_file, stored, "dataflow", DATAFLOWS)
    objective = (objective or _stored(strategy_file, stored, "mapper_objective", OBJECTIVES)
                 or DEFAULT_OBJECTIVE)

    workload = load_workload(model_name)
    accel = load_accelerator(accel_name)
    if dataflow:
        accel = accel.with_dataflow(dataflow)
    if strategy is None:
        w_bits, a_bits = parse_bits(bits) if bits is not None else (16, 16)
        strategy = uniform_strategy(workload, w_bits, a_bits)
    elif strategy.model != workload.name:
        raise HwflowError(f"{strategy_file}: strategy is for model {strategy.model!r}, "
                          f"not {workload.name!r}")
    report = estimate(workload, strategy, accel, level=level, batch=batch, objective=objective)
    if as_json:
        data = report.to_json()
        if workload.skipped_ops:
            data["skipped_ops"] = list(workload.skipped_ops)
        click.echo(json.dumps(data, indent=1))
    else:
        _print_report(report, mappings)
        if workload.skipped_ops:
            click.echo(f"skipped (no MACs): {', '.join(workload.skipped_ops)}")


def _stored(path: str | None, stored: dict, key: str,
            allowed: tuple[str, ...] | None = None) -> str | int | None:
    """A setting a strategy file carries (None when absent), checked like its option:
    one of ``allowed``, or (without ``allowed``) a batch: a whole number 1..MAX_BATCH."""
    from hwflow.errors import HwflowError
    from hwflow.strategy import is_whole

    value = stored.get(key)
    if value is None:
        return None
    if allowed is None and not (is_whole(value) and 1 <= value <= MAX_BATCH):
        raise HwflowError(f"{path}: key '{key}' is {value!r}; allowed: a whole number "
                          f"1..{MAX_BATCH}")
    if allowed is not None and value not in allowed:
        raise HwflowError(f"{path}: key '{key}' is {value!r}; allowed: {', '.join(allowed)}")
    return value


def _print_report(report, show_mappings: bool) -> None:
    head = ["layer", "w/a", "MACs", "Frac.OPs", "DRAM bytes", "cycles"]
    has_energy = report.total("energy") is not None
    if has_energy:
        head.append("energy")
    rows = []
    for r in report.layers:
        c = r.cost
        row = [r.name, f"{r.w_bits}/{r.a_bits}", f"{c.macs:,}", f"{c.frac_ops:,.0f}",
               f"{c.dram_bytes:,.0f}", f"{c.latency_cycles:,.0f}"]
        if has_energy:
            row.append(f"{c.energy:,.4g}")
        rows.append(row)
    totals = report.totals()
    total_row = ["total", "", f"{totals['macs']:,.0f}", f"{totals['frac_ops']:,.0f}",
                 f"{totals['dram_bytes']:,.0f}", f"{totals['latency_cycles']:,.0f}"]
    if has_energy:
        total_row.append(f"{totals['energy']:,.4g}")
    rows.append(total_row)
    title = (f"{report.model} on {report.accelerator} ({report.engine}, {report.dataflow}), "
             f"{report.level} level, batch {report.batch}")
    _print_table(head, rows, title=title)
    summary = f"area {report.area:.2f} mm²"
    breakdown = report.energy_breakdown
    if breakdown:
        total = sum(breakdown.values()) or 1.0
        summary += "; energy: " + ", ".join(f"{k} {v / total:.1%}" for k, v in breakdown.items())
    click.echo(summary)
    if show_mappings:
        for r in report.layers:
            if r.cost.mapping:
                click.echo(f"{r.name}: {r.cost.mapping}")


def _print_table(head, rows, title: str | None = None) -> None:
    """Plain aligned columns: cheap to import, readable in logs and pipes."""
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    if title:
        click.echo(title)
    click.echo("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    click.echo("  ".join("-" * w for w in widths))
    for row in rows:
        cells = [str(c).ljust(w) if i == 0 else str(c).rjust(w)
                 for i, (c, w) in enumerate(zip(row, widths))]
        click.echo("  ".join(cells))


COMMANDS = (models, accelerators, evaluate)

"""Hardware metrics of many genomes at once: per-layer cost tables summed with numpy.

A layer's cost depends only on its own (w_bits, a_bits) and the bits its outputs are
written at (the next layer's a_bits; the word width after the last layer), so each layer
gets a table over those three bitwidths, filled lazily through ``hwflow.hw.levels.layer_cost``
(the same function ``estimate`` uses). Totals add the layers in network order, one layer at
a time, exactly like ``Report.total`` — so a genome's numbers equal ``hwflow evaluate``'s
bit for bit. Both cost sources (``HardwareTable``: one accelerator; ``AcceleratorCosts``:
each individual's own) are a ``CostTable``, the one thing ``Fitness`` asks for hardware
metrics.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from hwflow.hw.area import accelerator_area
from hwflow.hw.levels import layer_cost
from hwflow.hw.query import LayerQuery
from hwflow.hw.spec import Accelerator
from hwflow.hw.tiling import MappingError
from hwflow.search.space.accelerator_genes import AcceleratorSpace
from hwflow.workload import Workload

LAYER_METRICS: tuple[str, ...] = ("macs", "frac_ops", "dram_bytes", "latency_cycles", "energy")

Costs = dict[str, np.ndarray]  # metric → one network total per genome


class CostTable(Protocol):
    def network_costs(self, w_bits: np.ndarray, a_bits: np.ndarray,
                      accel_index: np.ndarray) -> tuple[Costs, list[dict[str, Any]]]:
        """Per genome: its network's hardware metrics, and its accelerator genes' values
        (``w_bits``/``a_bits`` (n, layers) bitwidths, ``accel_index`` (n, genes) loci)."""
        ...


def network_sum(per_layer: np.ndarray) -> np.ndarray:
    """(n, layers) → (n,): the layers added in network order, one at a time, as
    ``Report.total`` adds them, so a total equals ``hwflow evaluate``'s bit for bit."""
    total = np.zeros(per_layer.shape[0])
    for col in range(per_layer.shape[1]):
        total += per_layer[:, col]
    return total


class HardwareTable:
    def __init__(self, workload: Workload, accel: Accelerator, level: str, batch: int = 1,
                 objective: str = "latency") -> None:
        self.workload, self.accel, self.level = workload, accel, level
        self.batch, self.objective = batch, objective
        self.area = accelerator_area(accel)
        self._values = np.zeros(33, dtype=np.int64)  # bitwidth → its index, grown on demand
        self._bits: list[int] = []
        self._tables: dict[str, np.ndarray] = {}
        self.has_energy: bool | None = None  # known after the first layer cost

    def _index(self, bits: np.ndarray) -> np.ndarray:
        new = sorted(set(np.unique(bits).tolist()) - set(self._bits))
        if new:
            self._grow(new)
        return self._values[bits]

    def _grow(self, new_bits: list[int]) -> None:
        old = len(self._bits)
        self._bits.extend(new_bits)
        for i, b in enumerate(self._bits):
            self._values[b] = i
        v, n_layers = len(self._bits), len(self.workload.layers)
        for metric in LAYER_METRICS:
            table = np.full((n_layers, v, v, v), np.nan)
            if old:
                table[:, :old, :old, :old] = self._tables[metric]
            self._tables[metric] = table

    def _fill(self, flat: np.ndarray) -> None:
        v = len(self._bits)
        for index in np.unique(flat):
            layer_pos, rest = divmod(int(index), v ** 3)
            wi, rest = divmod(rest, v * v)
            ai, oi = divmod(rest, v)
            cost = layer_cost(LayerQuery(self.workload.layers[layer_pos], self._bits[wi],
                                         self._bits[ai], self._bits[oi], self.accel, self.batch,
                                         self.objective), self.level)
            if self.has_energy is None:
                self.has_energy = cost.energy is not None
            for metric in LAYER_METRICS:
                value = getattr(cost, metric)
                self._tables[metric].flat[index] = np.inf if value is None else value

    def totals(self, w_bits: np.ndarray, a_bits: np.ndarray) -> dict[str, np.ndarray]:
        """Per-genome totals; ``w_bits``/``a_bits`` are (n, layers) bitwidths."""
        w_bits = np.atleast_2d(np.asarray(w_bits, dtype=np.int64))
        a_bits = np.atleast_2d(np.asarray(a_bits, dtype=np.int64))
        out_bits = np.empty_like(a_bits)
        out_bits[:, :-1] = a_bits[:, 1:]
        out_bits[:, -1] = self.accel.word_bits
        wi = self._index(w_bits)
        ai = self._index(a_bits)
        oi = self._index(out_bits)
        v = len(self._bits)
        layer_pos = np.arange(w_bits.shape[1], dtype=np.int64)[None, :]
        flat = ((layer_pos * v + wi) * v + ai) * v + oi
        missing = np.isnan(self._tables["macs"].ravel()[flat])
        if missing.any():
            self._fill(flat[missing])
        result = {}
        for metric in LAYER_METRICS:
            if metric == "energy" and not self.has_energy:
                continue
            result[metric] = network_sum(self._tables[metric].ravel()[flat])
        result["area"] = np.full(w_bits.shape[0], self.area)
        if "energy" in result:
            result["edp"] = result["energy"] * result["latency_cycles"]
        return result

    def network_costs(self, w_bits: np.ndarray, a_bits: np.ndarray,
                      accel_index: np.ndarray) -> tuple[Costs, list[dict[str, Any]]]:
        """``CostTable``: one accelerator for all, so no accelerator genes."""
        totals = self.totals(w_bits, a_bits)
        return totals, [{} for _ in range(len(np.atleast_2d(w_bits)))]


class AcceleratorCosts:
    """Hardware metrics when the accelerator varies per individual (accelerator co-search).

    Each individual's accelerator is built from its accelerator genes; every layer's cost
    comes from ``hwflow.hw.levels.layer_cost`` (cached per layer, bitwidths, accelerator and
    batch), summed in network order exactly like ``Report.total``. A layer that no mapping
    fits on an individual's accelerator (buffer or register files too small) counts in
    ``unmapped_layers`` and makes the cost metrics infinite; the search treats
    ``unmapped_layers > 0`` as a broken constraint.
    """

    def __init__(self, workload: Workload, space: AcceleratorSpace, level: str,
                 objective: str = "latency") -> None:
        self.workload, self.space, self.level, self.objective = workload, space, level, objective
        self._designs: dict[tuple[int, ...], tuple[Accelerator, int]] = {}

    def design(self, index: tuple[int, ...]) -> tuple[Accelerator, int]:
        """The accelerator and batch of one individual's accelerator genes."""
        found = self._designs.get(index)
        if found is None:
            found = self._designs[index] = self.space.build(self.space.values(index))
        return found

    def totals(self, w_bits: np.ndarray, a_bits: np.ndarray,
               accel_index: np.ndarray) -> dict[str, np.ndarray]:
        w_bits = np.atleast_2d(np.asarray(w_bits, dtype=np.int64))
        a_bits = np.atleast_2d(np.asarray(a_bits, dtype=np.int64))
        designs = [self.design(tuple(int(i) for i in index)) for index in np.atleast_2d(accel_index)]
        if not designs:
            return {}
        layers = self.workload.layers
        has_energy = self.level != "coarse"
        metrics = [m for m in LAYER_METRICS if m != "energy" or has_energy]
        missing = [0.0] * len(metrics)  # an unmapped layer; its network's totals are inf
        rows = []  # per individual, per layer, per metric
        unmapped = np.zeros(len(designs))
        for j, (w, a, (accel, batch)) in enumerate(zip(w_bits, a_bits, designs)):
            row = []
            for i, layer in enumerate(layers):
                out_bits = int(a[i + 1]) if i + 1 < len(layers) else accel.word_bits
                try:
                    cost = layer_cost(LayerQuery(layer, int(w[i]), int(a[i]), out_bits, accel,
                                                 batch, self.objective), self.level)
                except MappingError:
                    unmapped[j] += 1
                    row.append(missing)
                    continue
                row.append([getattr(cost, m) for m in metrics])
            rows.append(row)
        per_layer = np.array(rows, dtype=float)  # (individuals, layers, metrics)
        out = {m: np.where(unmapped > 0, np.inf, network_sum(per_layer[:, :, k]))
               for k, m in enumerate(metrics)}
        out["area"] = np.array([accelerator_area(accel) for accel, _ in designs])
        if has_energy:
            out["edp"] = out["energy"] * out["latency_cycles"]
        out["unmapped_layers"] = unmapped
        return out

    def network_costs(self, w_bits: np.ndarray, a_bits: np.ndarray,
                      accel_index: np.ndarray) -> tuple[Costs, list[dict[str, Any]]]:
        """``CostTable``: each genome on the accelerator its genes build."""
        genes = [self.space.values(i) for i in np.atleast_2d(accel_index)]
        return self.totals(w_bits, a_bits, accel_index), genes

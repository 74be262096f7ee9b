"""Hardware metrics of many genomes at once: per-layer cost tables summed with numpy.

A layer's cost depends only on its own (w_bits, a_bits) and the bits its outputs are
written at (the next layer's a_bits; the word width after the last layer), so each layer
gets a table over those three bitwidths, filled lazily through ``hwflow.hw.levels.layer_cost``
(the same function ``estimate`` uses). Totals add the layers in network order, one layer at
a time, exactly like ``Report.total`` — so a genome's numbers equal ``hwflow evaluate``'s
bit for bit.
"""

from __future__ import annotations

import numpy as np

from hwflow.hw.area import accelerator_area
from hwflow.hw.levels import layer_cost
from hwflow.hw.mid import MappingError
from hwflow.hw.query import LayerQuery
from hwflow.hw.spec import Accelerator
from hwflow.search.accelerator_genes import AcceleratorSpace
from hwflow.workload import Workload

LAYER_METRICS: tuple[str, ...] = ("macs", "frac_ops", "dram_bytes", "latency_cycles", "energy")


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
            per_layer = self._tables[metric].ravel()[flat]
            total = np.zeros(per_layer.shape[0])
            for col in range(per_layer.shape[1]):  # in network order, like Report.total
                total += per_layer[:, col]
            result[metric] = total
        result["area"] = np.full(w_bits.shape[0], self.area)
        if "energy" in result:
            result["edp"] = result["energy"] * result["latency_cycles"]
        return result


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
        rows = [self._network(w, a, *self.design(tuple(int(i) for i in index)))
                for w, a, index in zip(w_bits, a_bits, np.atleast_2d(accel_index))]
        return {m: np.array([r[m] for r in rows], dtype=float) for m in rows[0]} if rows else {}

    def _network(self, w: np.ndarray, a: np.ndarray, accel: Accelerator,
                 batch: int) -> dict[str, float]:
        layers = self.workload.layers
        costs, unmapped = [], 0
        for i, layer in enumerate(layers):
            out_bits = int(a[i + 1]) if i + 1 < len(layers) else accel.word_bits
            try:
                costs.append(layer_cost(LayerQuery(layer, int(w[i]), int(a[i]), out_bits, accel,
                                                   batch, self.objective), self.level))
            except MappingError:
                unmapped += 1
        has_energy = self.level != "coarse"
        if unmapped:
            out = {m: np.inf for m in LAYER_METRICS if m != "energy" or has_energy}
        else:
            out = {m: float(sum(getattr(c, m) for c in costs))  # as Report.total
                   for m in LAYER_METRICS if m != "energy" or has_energy}
        out["area"] = accelerator_area(accel)
        if has_energy:
            out["edp"] = out["energy"] * out["latency_cycles"]
        out["unmapped_layers"] = float(unmapped)
        return out

"""The genome: one locus per searched layer holding (b_W, b_A) as allele indices (HW-FlowQ's genetic search).

A genome is a vector of integer genes. Each searched layer is one locus of two genes
(w index, a index) or, when bitwidths are tied, of one gene (b_W = b_A). Layers kept at a
fixed bitwidth (by default the first and the last at 16 bit) have no genes. Genes index
``alleles``, the allowed bitwidths in the order the experiment lists them.

``gene_locus`` says which locus each gene belongs to, so operators work on loci (the unit
the paper's crossover and mutation act on). Accelerator genes (accelerator co-search) come
after the bit genes, one locus of one gene each, indexing that knob's choices
(``hwflow.search.space.accelerator_genes``); ``accel_loci`` names them and counts their choices.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from hwflow.strategy import LayerBits, Strategy, StrategyError


@dataclass(frozen=True)
class BitGenome:
    model: str
    layers: tuple[str, ...]  # every quantizable layer, in network order
    alleles: tuple[int, ...]  # allowed bitwidths of searched layers
    tied: bool  # one gene per layer (b_W = b_A) instead of two
    fixed: tuple[int | None, ...]  # per layer: its fixed bitwidth, or None when searched
    accel_loci: tuple[tuple[str, int], ...] = ()  # searched accelerator knobs: (name, choices)

    def __post_init__(self) -> None:
        if len(self.fixed) != len(self.layers):
            raise ValueError("fixed must give one entry per layer")
        if not self.alleles:
            raise ValueError("no alleles to search")

    @classmethod
    def for_layers(cls, model: str, layers: tuple[str, ...], alleles: tuple[int, ...],
                   tied: bool, keep_ends: bool, end_bits: int,
                   accel_loci: tuple[tuple[str, int], ...] = ()) -> BitGenome:
        n = len(layers)
        fixed = tuple(end_bits if keep_ends and i in (0, n - 1) else None for i in range(n))
        return cls(model, layers, tuple(alleles), tied, fixed, tuple(accel_loci))

    @cached_property
    def searched(self) -> tuple[int, ...]:
        """Positions of the layers that carry genes."""
        return tuple(i for i, f in enumerate(self.fixed) if f is None)

    @property
    def genes_per_locus(self) -> int:
        return 1 if self.tied else 2

    @property
    def n_bit_var(self) -> int:
        return len(self.searched) * self.genes_per_locus

    @property
    def n_accel(self) -> int:
        return len(self.accel_loci)

    @property
    def n_var(self) -> int:
        return self.n_bit_var + self.n_accel

    @property
    def n_loci(self) -> int:
        return len(self.searched) + self.n_accel

    @cached_property
    def gene_locus(self) -> np.ndarray:
        bit_loci = np.repeat(np.arange(len(self.searched)), self.genes_per_locus)
        return np.concatenate([bit_loci, len(self.searched) + np.arange(self.n_accel)])

    @property
    def xl(self) -> np.ndarray:
        return np.zeros(self.n_var, dtype=int)

    @property
    def xu(self) -> np.ndarray:
        return np.concatenate([np.full(self.n_bit_var, len(self.alleles) - 1, dtype=int),
                               np.asarray([c - 1 for _, c in self.accel_loci], dtype=int)])

    @property
    def size(self) -> int:
        """Number of distinct genomes."""
        return len(self.alleles) ** self.n_bit_var * int(np.prod([c for _, c in self.accel_loci]))

    def accel_part(self, X: np.ndarray) -> np.ndarray:
        """Genomes (n, n_var) → their accelerator genes (n, n_accel)."""
        return np.asarray(X, dtype=np.int64).reshape(-1, self.n_var)[:, self.n_bit_var:]

    def bits(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Genomes (n, n_var) → (w_bits, a_bits), each (n, layers) of bitwidths."""
        X = np.asarray(X, dtype=np.int64).reshape(-1, self.n_var)[:, :self.n_bit_var]
        table = np.asarray(self.alleles, dtype=np.int64)
        n = X.shape[0]
        w = np.empty((n, len(self.layers)), dtype=np.int64)
        a = np.empty_like(w)
        for i, f in enumerate(self.fixed):
            if f is not None:
                w[:, i] = a[:, i] = f
        cols = np.asarray(self.searched, dtype=np.int64)
        g = self.genes_per_locus
        w[:, cols] = table[X[:, 0::g]]
        a[:, cols] = table[X[:, g - 1::g]]
        return w, a

    def strategy(self, x: np.ndarray) -> Strategy:
        w, a = self.bits(x)
        return Strategy(model=self.model, layers=tuple(
            LayerBits(name, int(wb), int(ab)) for name, wb, ab in zip(self.layers, w[0], a[0])))

    def encode(self, strategy: Strategy, accel_index: tuple[int, ...] = ()) -> np.ndarray:
        """The genome of a strategy (for seeding) followed by ``accel_index`` (the indices
        of its accelerator genes); raises if it is outside this space."""
        if len(accel_index) != self.n_accel:
            raise ValueError(f"expected {self.n_accel} accelerator genes, got {len(accel_index)}")
        if tuple(l.name for l in strategy.layers) != self.layers:
            raise StrategyError(f"strategy layers do not match model {self.model}")
        genes: list[int] = []
        for i, layer in enumerate(strategy.layers):
            f = self.fixed[i]
            if f is not None:
                if (layer.w_bits, layer.a_bits) != (f, f):
                    raise StrategyError(f"layer {layer.name} is fixed at {f} bit")
                continue
            if self.tied and layer.w_bits != layer.a_bits:
                raise StrategyError(f"layer {layer.name}: w_bits and a_bits must be equal")
            for bits in ((layer.w_bits,) if self.tied else (layer.w_bits, layer.a_bits)):
                if bits not in self.alleles:
                    raise StrategyError(f"layer {layer.name}: {bits} bit is not among the "
                                        f"searched bitwidths {list(self.alleles)}")
                genes.append(self.alleles.index(bits))
        return np.asarray(genes + [int(i) for i in accel_index], dtype=int)

    def all_genomes(self) -> np.ndarray:
        """Every genome (for exhaustive reference fronts on tiny spaces)."""
        ranges = [np.arange(u + 1) for u in self.xu]
        grids = np.meshgrid(*ranges, indexing="ij")
        return np.stack([g.ravel() for g in grids], axis=1)


def genome_key(x: np.ndarray) -> str:
    """The canonical text of one genome, as stored in run.sqlite."""
    return ",".join(str(int(v)) for v in x)


def parse_genome_key(key: str) -> np.ndarray:
    return np.asarray([int(v) for v in key.split(",")] if key else [], dtype=int)

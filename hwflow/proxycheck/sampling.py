"""Strategies for a proxy check: spread evenly over the range of Frac.OPs.

Random genomes (the search's own space: the accelerator's supported bits, the first and
last layer kept at 16 bit when it runs 16, tied bits when it ties them) cluster around the
middle of the Frac.OPs range, so the check draws many, adds the uniform strategies (every
searched layer at one bitwidth: the range's ends), and keeps the one nearest to each of N
evenly spaced Frac.OPs targets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwflow.errors import HwflowError
from hwflow.hw.spec import Accelerator
from hwflow.search.costs import HardwareTable
from hwflow.search.space.genome import BitGenome, genome_key
from hwflow.strategy import Strategy
from hwflow.workload import Workload

DRAWS_PER_SAMPLE = 50  # random genomes drawn per strategy kept


@dataclass(frozen=True)
class Sample:
    strategy: Strategy
    frac_ops: float


def search_genome(workload: Workload, accel: Accelerator) -> BitGenome:
    """The space a search of ``workload`` on ``accel`` explores with the default rules."""
    bits = accel.supported_bits
    end_bits = 16 if 16 in bits else max(bits)
    return BitGenome.for_layers(workload.name, workload.layer_names, tuple(bits),
                                tied=accel.tied_bits, keep_ends=True, end_bits=end_bits)


def sample_strategies(workload: Workload, accel: Accelerator, n: int, seed: int = 0) -> list[Sample]:
    """``n`` distinct strategies whose Frac.OPs spread evenly from the least to the most."""
    if n < 3:
        raise HwflowError(f"--samples {n}: a rank correlation needs at least 3 strategies")
    genome = search_genome(workload, accel)
    if genome.n_var == 0:
        raise HwflowError(f"{workload.name} has no layers besides the first and last to vary")
    if genome.size < n:
        raise HwflowError(f"--samples {n}: {workload.name} on {accel.name} has only "
                          f"{genome.size} distinct strategies")
    rng = np.random.default_rng(seed)
    uniform = np.repeat(np.arange(len(genome.alleles))[:, None], genome.n_var, axis=1)
    drawn = rng.integers(0, len(genome.alleles), size=(DRAWS_PER_SAMPLE * n, genome.n_var))
    X = np.unique(np.vstack([uniform, drawn]), axis=0)
    w, a = genome.bits(X)
    frac_ops = HardwareTable(workload, accel, "coarse").totals(w, a)["frac_ops"]
    chosen: list[int] = []
    for target in np.linspace(frac_ops.min(), frac_ops.max(), n):
        order = np.argsort(np.abs(frac_ops - target), kind="stable")
        chosen.append(int(next(i for i in order if i not in chosen)))
    chosen.sort(key=lambda i: (frac_ops[i], genome_key(X[i])))
    return [Sample(genome.strategy(X[i]), float(frac_ops[i])) for i in chosen]

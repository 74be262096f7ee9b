"""Rank agreement between a proxy and the truth: Kendall τ and Spearman ρ (scipy.stats),
bootstrap intervals over the sampled strategies, and the seed-to-seed noise ceiling.

A proxy measured with K seeds is scored as the mean over its seeds of τ(ψ of one seed,
truth): the agreement a search ranking by one fine-tune sees. The truth is the mean over
its seeds. τ is undefined (None) when one side ranks everything equal.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

BOOTSTRAP_DRAWS = 1000
INTERVAL = 0.90  # two-sided: the 5th and 95th percentiles


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def kendall(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's τ-b (ties allowed); nan when one side is constant."""
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(stats.kendalltau(x, y).statistic)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(stats.spearmanr(x, y).statistic)


def seed_mean(statistic, proxy: np.ndarray, truth: np.ndarray) -> float:
    """Mean over the proxy's seeds (rows of ``proxy``) of ``statistic(seed, truth)``."""
    values = [statistic(row, truth) for row in proxy]
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def bootstrap_interval(proxy: np.ndarray, truth: np.ndarray, draws: int = BOOTSTRAP_DRAWS,
                       seed: int = 0) -> tuple[float, float]:
    """The 90 % percentile interval of the seed-mean τ over strategies drawn with replacement."""
    rng = np.random.default_rng(seed)
    n = truth.shape[0]
    values = []
    for _ in range(draws):
        pick = rng.integers(0, n, n)
        value = seed_mean(kendall, proxy[:, pick], truth[pick])
        if math.isfinite(value):
            values.append(value)
    if not values:
        return math.nan, math.nan
    tail = (1 - INTERVAL) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def seed_to_seed_tau(by_seed: np.ndarray) -> float | None:
    """Mean τ between every two seeds' measurements (rows); None with fewer than two."""
    pairs = [kendall(a, b) for a, b in itertools.combinations(by_seed, 2)]
    finite = [p for p in pairs if math.isfinite(p)]
    return float(np.mean(finite)) if finite else None


@dataclass(frozen=True)
class BudgetAgreement:
    epochs: float
    kendall_tau: float | None
    tau_low: float | None
    tau_high: float | None
    spearman: float | None
    psi_seed_tau: float | None
    seconds_per_psi: float


def agreement(epochs: float, psi: np.ndarray, truth: np.ndarray,
              seconds_per_psi: float) -> BudgetAgreement:
    """``psi``: (seeds, strategies) at one budget; ``truth``: (strategies,) mean retrain."""
    low, high = bootstrap_interval(psi, truth)
    return BudgetAgreement(epochs, _finite(seed_mean(kendall, psi, truth)), _finite(low),
                           _finite(high), _finite(seed_mean(spearman, psi, truth)),
                           seed_to_seed_tau(psi), seconds_per_psi)


def recommend(budgets: list[BudgetAgreement]) -> float | None:
    """The cheapest budget whose τ interval overlaps the best budget's (None: no τ at all)."""
    scored = [b for b in budgets if b.kendall_tau is not None and b.tau_low is not None]
    if not scored:
        return None
    best = max(scored, key=lambda b: (b.kendall_tau, -b.epochs))
    overlapping = [b for b in scored if b.tau_high >= best.tau_low and b.tau_low <= best.tau_high]
    return min(b.epochs for b in overlapping)

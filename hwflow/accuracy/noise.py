"""Standard errors of measured accuracies: how far a ψ could move on a re-measurement.

An accuracy measured on n images is a binomial proportion, so its standard error is
sqrt(p (1 - p) / n) (359 validation images on digits: about 0.7 points near p = 0.98). The
mean of K fine-tunes with different seeds is measured on the same images, so averaging does
not shrink that term; it adds the spread of the seeds' results, std / sqrt(K), in quadrature.
"""

from __future__ import annotations

import math
import statistics
from typing import Sequence


def binomial_se(accuracy: float, examples: int) -> float:
    """Standard error of a proportion ``accuracy`` measured on ``examples`` images."""
    if examples <= 0:
        return 0.0
    p = min(1.0, max(0.0, accuracy))
    return math.sqrt(p * (1.0 - p) / examples)


def mean_and_se(accuracies: Sequence[float], examples: int) -> tuple[float, float]:
    """(mean of the seeds' accuracies, its standard error: binomial and seed spread)."""
    mean = statistics.fmean(accuracies)
    spread = (statistics.stdev(accuracies) / math.sqrt(len(accuracies))
              if len(accuracies) > 1 else 0.0)
    return mean, math.hypot(binomial_se(mean, examples), spread)

"""finetune.confirm_seeds: the final front re-scored with more seeds, and leaders from it."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path
from typing import Sequence

from hwflow.dispatch.in_process import InProcess
from hwflow.runs.reports import CONFIRMATION, open_run
from hwflow.runs.store import RunStore
from hwflow.search.driver import run_search
from hwflow.search.experiment import load_experiment
from hwflow.strategy import Strategy
from tests.search_helpers import Result, proxy_accuracy

EXPERIMENT = """\
name: confirm
model: resnet20
accelerator: spatial-256
level: coarse
objectives: [accuracy, frac_ops]
bits: [8, 4, 2, 1]
population: 10
generations: 4
seed: 1
finetune: {seeds: 1, confirm_seeds: 2}
"""
NOISE = 0.03  # the noisy proxy's per-seed error: as large as the gaps between neighbours


def seed_noise(strategy: Strategy, seed: int) -> float:
    text = f"{strategy.w_bits}{strategy.a_bits}{seed}".encode()
    return NOISE * (int(hashlib.sha256(text).hexdigest()[:8], 16) / 0xFFFFFFFF - 0.5) * 2


class NoisyProxy:
    """ψ of ``seeds`` seeds: the closed-form proxy plus a fixed error per (strategy, seed)."""

    def __init__(self, seeds: int) -> None:
        self.seeds, self.calls = seeds, 0

    def float_accuracy(self) -> float:
        return 0.98

    def evaluate(self, strategies: Sequence[Strategy]) -> list[Result]:
        self.calls += len(strategies)
        return [Result(proxy_accuracy(s) + sum(seed_noise(s, k) for k in range(self.seeds))
                       / self.seeds, "ok", 0.0, False, 0.01) for s in strategies]


def dominated(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """b dominates a: at least as accurate and as cheap, better in one (accuracy, frac_ops)."""
    return b[0] >= a[0] and b[1] <= a[1] and b != a


def test_confirmation_rescores_the_front_and_leaders_come_from_it(tmp_path: Path) -> None:
    path = tmp_path / "confirm.yaml"
    path.write_text(EXPERIMENT)
    exp, out = load_experiment(path), tmp_path / "run"
    confirm = NoisyProxy(seeds=3)
    run_search(exp, out, accuracy=InProcess(NoisyProxy(seeds=1)), plots=True,
               confirm=InProcess(confirm))
    run = open_run(out)
    assert confirm.calls == len(run.front) >= 4
    with RunStore(out / "run.sqlite") as store:
        scores = store.get_meta(CONFIRMATION)["scores"]
    assert set(scores) == {str(e.id) for e in run.front}
    # the confirmed set by brute force: front members not dominated by another one once
    # every member scores its re-scored accuracy
    points = {e.id: (scores[str(e.id)][0], e.objectives["frac_ops"]) for e in run.front}
    expected = {i for i, p in points.items() if not any(dominated(p, q) for q in points.values())}
    assert {e.id for e in run.confirmed} == expected
    assert 0 < len(expected) < len(run.front)  # the noise moved some members off
    assert {e.id for e in run.leaders.values()} <= expected
    for e in run.confirmed:
        assert e.objectives["accuracy"] == scores[str(e.id)][0]

    with (out / "pareto.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {int(r["id"]) for r in rows} == {e.id for e in run.front}
    for r in rows:
        assert float(r["accuracy_se"]) == 0.01
        assert float(r["confirmed_accuracy"]) == scores[r["id"]][0]
        assert r["confirmed"] == str(int(int(r["id"]) in expected))
    assert (out / "plots" / "front.png").stat().st_size > 0

    again = NoisyProxy(seeds=3)  # resuming a finished run re-scores nothing
    run_search(exp, out, resume=True, accuracy=InProcess(NoisyProxy(seeds=1)), plots=False,
               confirm=InProcess(again))
    assert again.calls == 0
    assert open_run(out).leaders == run.leaders

    with RunStore(out / "run.sqlite") as store:  # as if stopped before the last re-score
        stored = store.get_meta(CONFIRMATION)
        del stored["scores"][str(run.front[-1].id)]
        store.set_meta(CONFIRMATION, stored)
    rest = NoisyProxy(seeds=3)
    run_search(exp, out, resume=True, accuracy=InProcess(NoisyProxy(seeds=1)), plots=False,
               confirm=InProcess(rest))
    assert rest.calls == 1 and open_run(out).leaders == run.leaders


def test_runs_made_before_seeds_existed_store_the_same_settings(tmp_path: Path) -> None:
    path = tmp_path / "plain.yaml"
    path.write_text(EXPERIMENT.replace("finetune: {seeds: 1, confirm_seeds: 2}\n", ""))
    # what a run stored before finetune.seeds / confirm_seeds: the keys that define ψ
    assert set(load_experiment(path).settings()["finetune"]) == {"epochs", "recipe", "scheme"}
    path.write_text(EXPERIMENT)  # confirm_seeds may change on resume; seeds: 1 is the default
    assert set(load_experiment(path).settings()["finetune"]) == {"epochs", "recipe", "scheme"}
    path.write_text(EXPERIMENT.replace("seeds: 1,", "seeds: 3,"))
    assert load_experiment(path).settings()["finetune"]["seeds"] == 3

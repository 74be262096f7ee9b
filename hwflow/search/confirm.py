"""Re-score the final front with more fine-tune seeds (``finetune.confirm_seeds``).

ψ differences smaller than its noise can order a front by chance. Each front member's ψ is
measured again as the mean of ``finetune.seeds + confirm_seeds`` fine-tunes (its first
seeds come back from the accuracy cache, so only the new ones train), and the re-scored
accuracy and standard error go into run.sqlite (meta ``confirmation``) as each one
finishes: a stopped run re-scores only what is missing. ``hwflow.runs.reports`` turns them
into the confirmed front and picks the leaders from it.
"""

from __future__ import annotations

from hwflow.dispatch.protocol import AccuracyDispatch
from hwflow.runs.reports import CONFIRMATION
from hwflow.runs.store import Evaluation, RunStore
from hwflow.strategy import LayerBits, Strategy


def rescore_front(store: RunStore, front: list[Evaluation], model: str, layers: tuple[str, ...],
                  seeds: int, accuracy: AccuracyDispatch) -> dict:
    """Store (and return) the re-scored accuracy of every front member with ``seeds`` seeds;
    ``accuracy`` measures ψ as the mean of that many."""
    stored = store.get_meta(CONFIRMATION)
    confirmation = stored if stored and stored["seeds"] == seeds else {"seeds": seeds,
                                                                       "scores": {}}
    todo = [e for e in front if str(e.id) not in confirmation["scores"]]
    strategies = [Strategy(model, tuple(LayerBits(n, int(w), int(a))
                                        for n, w, a in zip(layers, e.w_bits, e.a_bits)))
                  for e in todo]
    for i, result in accuracy.run(strategies):
        se = 0.0 if result.se is None else float(result.se)
        confirmation["scores"][str(todo[i].id)] = [float(result.accuracy), se]
        store.set_meta(CONFIRMATION, confirmation)
    store.set_meta(CONFIRMATION, confirmation)
    return confirmation

"""What a proxy check leaves: the JSON object, proxy.csv and one scatter plot per budget."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hwflow.proxycheck.measure import Measurements
from hwflow.proxycheck.statistics import BudgetAgreement, agreement, recommend, seed_to_seed_tau


@dataclass(frozen=True)
class ProxyReport:
    budgets: list[BudgetAgreement]
    retrain_seed_tau: float | None
    recommended_epochs: float | None
    samples: int

    def to_json(self) -> dict[str, Any]:
        return {"budgets": [asdict(b) for b in self.budgets],
                "retrain_seed_tau": self.retrain_seed_tau,
                "recommended_epochs": self.recommended_epochs, "samples": self.samples}


def summarize(m: Measurements) -> ProxyReport:
    truth = m.retrain.mean(axis=0)
    budgets = [agreement(e, m.psi[e], truth, m.seconds_per_psi[e]) for e in m.budgets]
    return ProxyReport(budgets, seed_to_seed_tau(m.retrain), recommend(budgets), len(m.samples))


def write_csv(m: Measurements, path: Path) -> Path:
    """One row per strategy: Frac.OPs, bits, ψ per budget and seed, retrain per seed."""
    seeds = m.retrain.shape[0]
    head = ["sample", "frac_ops", "w_bits", "a_bits"]
    head += [f"psi_{e:g}ep_seed{k}" for e in m.budgets for k in range(seeds)]
    head += [f"retrain_seed{k}" for k in range(seeds)] + ["retrain_mean"]
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(head)
        for i, s in enumerate(m.samples):
            row = [i, s.frac_ops, " ".join(map(str, s.strategy.w_bits)),
                   " ".join(map(str, s.strategy.a_bits))]
            row += [repr(float(m.psi[e][k, i])) for e in m.budgets for k in range(seeds)]
            row += [repr(float(v)) for v in m.retrain[:, i]] + [repr(float(m.retrain[:, i].mean()))]
            out.writerow(row)
    return path


def write_plots(m: Measurements, report: ProxyReport, folder: Path) -> list[Path]:
    """Per budget: each strategy's ψ (every seed, mean marked) against its mean retrain."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    truth = m.retrain.mean(axis=0)
    paths = []
    for b in report.budgets:
        psi = m.psi[b.epochs]
        fig, ax = plt.subplots(figsize=(5.0, 4.2))
        for k, row in enumerate(psi):
            ax.scatter(row, truth, s=10, alpha=0.5, c="0.5", label="ψ, one seed" if k == 0 else None)
        ax.scatter(psi.mean(axis=0), truth, s=22, c="tab:blue", label="ψ, seed mean")
        ax.set_xlabel(f"ψ after {b.epochs:g} epoch fine-tune (validation)")
        ax.set_ylabel(f"retrained {m.retrain_epochs:g} epochs (test, mean of {len(m.retrain)})")
        tau = "n/a" if b.kendall_tau is None else f"{b.kendall_tau:+.2f}"
        interval = "" if b.tau_low is None else f" [{b.tau_low:+.2f}, {b.tau_high:+.2f}]"
        ax.set_title(f"{b.epochs:g} epoch: Kendall τ {tau}{interval}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = folder / f"proxy-{b.epochs:g}ep.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def write_all(m: Measurements, report: ProxyReport, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    json_path = folder / "proxy.json"
    json_path.write_text(json.dumps(report.to_json(), indent=1) + "\n")
    return [json_path, write_csv(m, folder / "proxy.csv"), *write_plots(m, report, folder)]

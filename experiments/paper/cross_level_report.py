"""Markdown table of the cross-level study from its sweep.csv (docs/cross-level-study.md).

    hwflow sweep experiments/paper/cross_level.yaml --out runs/cross-level
    python experiments/paper/cross_level_report.py runs/cross-level/sweep.csv
"""

from __future__ import annotations

import csv
import sys

LEVELS = ("coarse", "mid", "fine")


def table(rows: list[dict[str, str]]) -> str:
    by = {(r["bits"], r["buffer_kb"], r["level"]): r for r in rows}
    bits = list(dict.fromkeys(r["bits"] for r in rows))
    buffers = list(dict.fromkeys(r["buffer_kb"] for r in rows))

    def mb(r: dict[str, str]) -> str:
        return f"{float(r['dram_bytes']) / 1e6:.2f}" if r["status"] == "ok" else "no mapping"

    def mcycles(r: dict[str, str]) -> str:
        return f"{float(r['latency_cycles']) / 1e6:.2f}" if r["status"] == "ok" else "–"

    def ratio(r: dict[str, str], coarse: dict[str, str]) -> str:
        if r["status"] != "ok":
            return "–"
        return f"{float(r['dram_bytes']) / float(coarse['dram_bytes']):.2f}"

    out = ["| bits | buffer (KB) | DRAM MB Coarse | Mid | Fine | Mid / Coarse | Fine / Coarse "
           "| Mcycles Coarse | Mid | Fine |", "|" + "---|" * 10]
    for b in bits:
        for kb in buffers:
            c, m, f = (by[(b, kb, level)] for level in LEVELS)
            out.append(f"| {b} | {kb} | {mb(c)} | {mb(m)} | {mb(f)} | {ratio(m, c)} | "
                       f"{ratio(f, c)} | {mcycles(c)} | {mcycles(m)} | {mcycles(f)} |")
    return "\n".join(out)


if __name__ == "__main__":
    with open(sys.argv[1], newline="") as f:
        print(table(list(csv.DictReader(f))))

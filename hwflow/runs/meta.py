"""A search run's settings as run.sqlite keeps them: written and read by ``RunMeta`` only.

Each field is one key of the store's ``meta`` table, its value JSON (tuples as lists), as
runs have always stored them, so a run made before this dataclass existed reads back (a
key an older run lacks takes the field's default). The run's lifecycle keys (``status``,
``experiment``, ``float_accuracy``, a flow's ``final_step``) are not settings and stay
separate.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hwflow.runs.store import RunStore


@dataclass(frozen=True)
class RunMeta:
    name: str
    model: str
    accelerator: str  # the experiment's reference: a catalog name or a file path
    level: str
    batch: int
    dataflow: str
    mapper_objective: str
    objectives: tuple[str, ...]
    layers: tuple[str, ...]  # in network order
    reference: dict[str, float]  # the uncompressed network's metrics (hypervolume scales)
    constraints: tuple[tuple[str, float], ...] = ()
    # what export needs to rebuild each solution's accelerator from its genes
    accelerator_genes: tuple[str, ...] = ()  # the searched knobs
    accelerator_fixed: dict[str, Any] = field(default_factory=dict)
    accelerator_base: dict[str, Any] | None = None  # its YAML (hwflow.config.accelerator_yaml)
    algorithm: str | None = None
    population: int | None = None
    generations: int | None = None
    model_file: str | None = None  # a user model file (.py or .onnx), absolute; None: catalog

    def save(self, store: RunStore) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            store.set_meta(f.name, [list(v) if isinstance(v, tuple) else v for v in value]
                           if isinstance(value, tuple) else value)

    @classmethod
    def load(cls, store: RunStore) -> RunMeta | None:
        """The stored settings; None before a run has stored them."""
        values = {f.name: store.get_meta(f.name) for f in fields(cls)}
        if values["objectives"] is None:
            return None
        values = {k: v for k, v in values.items() if v is not None}  # older runs: defaults
        for key in ("objectives", "layers", "accelerator_genes"):
            if key in values:
                values[key] = tuple(values[key])
        if "constraints" in values:
            values["constraints"] = tuple((m, float(b)) for m, b in values["constraints"])
        return cls(**values)

    @property
    def designs_accelerators(self) -> bool:
        """True when the run's accelerator is not the catalog's or file's as given."""
        return bool(self.accelerator_genes or self.accelerator_fixed)

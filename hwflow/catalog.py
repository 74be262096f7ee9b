"""Find catalog entries by name: accelerators (YAML) and models (Python + layer tables).

The catalogs are the top-level ``accelerators/`` and ``models/`` folders of the checkout;
a user's own file (``my_chip.yaml``, ``my_net.py``, ``my_net.onnx``) works everywhere a name
does. The functions here are the one model resolution every command goes through.

A model file defines builders ``def NAME(num_classes=...) -> nn.Module`` and a module-level
``MODELS`` dict mapping catalog names to ``ModelInfo``-style dicts:
``{"builder": "resnet20", "input_shape": (3, 32, 32), "num_classes": 10, "dataset": "cifar10"}``,
plus ``"task": "segmentation"`` for a network that labels every pixel (default: classification).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from hwflow.config import ConfigError, load_accelerator_file
from hwflow.errors import HwflowError
from hwflow.hw.spec import Accelerator
from hwflow.workload import Workload

ROOT = Path(__file__).resolve().parent.parent
ACCELERATOR_DIR = ROOT / "accelerators"
MODEL_DIR = ROOT / "models"
TABLE_SUFFIX = ".layers.json"
TASKS = ("classification", "segmentation")  # what ψ measures: top-1 accuracy or mean IoU
ONNX_SUFFIX = ".onnx"
ONNX_BUILDER = "onnx"  # ModelEntry.builder of an ONNX file: the graph is the model


class CatalogError(HwflowError):
    """An unknown name or unusable catalog file; one line for the user."""


def is_path(name: str) -> bool:
    """A file reference (``my.yaml``, ``dir/net.py``, ``net.py:NAME``) rather than a catalog name."""
    head = name.split(":")[0]
    return "/" in head or head.endswith((".yaml", ".yml", ".py", ONNX_SUFFIX))


# --- accelerators -----------------------------------------------------------------------

def accelerator_names() -> list[str]:
    return sorted(p.stem for p in ACCELERATOR_DIR.glob("*.yaml"))


def load_accelerator(name_or_path: str) -> Accelerator:
    """A catalog name (``spatial-256``) or a YAML file path."""
    if is_path(name_or_path):
        return load_accelerator_file(name_or_path)
    return _catalog_accelerator(name_or_path)


@cache
def _catalog_accelerator(name: str) -> Accelerator:
    path = ACCELERATOR_DIR / f"{name}.yaml"
    if not path.exists():
        raise CatalogError(f"unknown accelerator {name!r}; choose one of: "
                           f"{', '.join(accelerator_names())} (or give a YAML file)")
    accel = load_accelerator_file(path)
    if accel.name != name:
        raise ConfigError(f"{path}: key 'name' is {accel.name!r} but the file is {name}.yaml")
    return accel


# --- models -----------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelEntry:
    name: str
    file: Path
    builder: str
    input_shape: tuple[int, int, int]  # (C, H, W) of one frame
    num_classes: int
    dataset: str  # the data set it is meant for
    task: str = "classification"  # one of TASKS

    @property
    def table_path(self) -> Path:
        return self.file.parent / f"{self.name}{TABLE_SUFFIX}"

    @property
    def is_onnx(self) -> bool:
        return self.builder == ONNX_BUILDER


def _load_python_file(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"hwflow_models_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise CatalogError(f"{path}: cannot be loaded as a Python file")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise CatalogError(f"{path}: line {exc.lineno}: Python syntax error: {exc.msg}") from None
    except Exception as exc:  # the user's code: any failure is theirs to fix, in one line
        raise CatalogError(f"{path}: fails to import: {_one_line(exc)}") from None
    return module


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


MODEL_KEYS = "builder (a function name), input_shape [C, H, W], num_classes, dataset"


def _entries_of(path: Path, module: ModuleType) -> dict[str, ModelEntry]:
    models = getattr(module, "MODELS", None)
    if not isinstance(models, dict) or not models:
        raise CatalogError(f"{path}: MODELS must be a non-empty dict of name -> {{{MODEL_KEYS}}}")
    return {name: _entry(path, module, name, info) for name, info in models.items()}


def _entry(path: Path, module: ModuleType, name: Any, info: Any) -> ModelEntry:
    where = f"{path}: MODELS[{name!r}]"
    if not isinstance(name, str) or not isinstance(info, dict):
        raise CatalogError(f"{where}: must map a model name to a dict of {MODEL_KEYS}")
    builder, shape, classes = info.get("builder"), info.get("input_shape"), info.get("num_classes")
    if not isinstance(builder, str) or not callable(getattr(module, builder, None)):
        raise CatalogError(f"{where}: key 'builder' must name a function the file defines, "
                           f"got {builder!r}")
    if (not isinstance(shape, (list, tuple)) or len(shape) != 3
            or not all(type(d) is int and d > 0 for d in shape)):
        raise CatalogError(f"{where}: key 'input_shape' must be [C, H, W] (positive whole "
                           f"numbers), got {shape!r}")
    if type(classes) is not int or classes < 1:
        raise CatalogError(f"{where}: key 'num_classes' must be a whole number >= 1, "
                           f"got {classes!r}")
    task = info.get("task", "classification")
    if task not in TASKS:
        raise CatalogError(f"{where}: key 'task' must be one of {', '.join(TASKS)}, got {task!r}")
    return ModelEntry(name=name, file=path, builder=builder, input_shape=tuple(shape),
                      num_classes=classes, dataset=str(info.get("dataset", "synthetic")),
                      task=task)


@cache
def _catalog_index() -> dict[str, ModelEntry]:
    """Catalog models by name, read from the layer tables (no torch import)."""
    import json

    index: dict[str, ModelEntry] = {}
    for table in sorted(MODEL_DIR.glob(f"*{TABLE_SUFFIX}")):
        meta = json.loads(table.read_text())["meta"]
        name = table.name[: -len(TABLE_SUFFIX)]
        index[name] = ModelEntry(name=name, file=MODEL_DIR / meta["file"],
                                 builder=meta["builder"],
                                 input_shape=tuple(meta["input_shape"]),
                                 num_classes=meta["num_classes"], dataset=meta["dataset"],
                                 task=meta["task"])
    return index


def model_names() -> list[str]:
    return sorted(_catalog_index())


def model_entry(name_or_path: str) -> ModelEntry:
    """Catalog name, ``path/to/net.py`` (its only model, or ``path.py:name``) or
    ``path/to/net.onnx``."""
    if is_path(name_or_path):
        file, _, wanted = name_or_path.partition(":")
        path = Path(file)
        if not path.exists():
            raise CatalogError(f"{path}: no such model file")
        if path.suffix == ONNX_SUFFIX:
            return _onnx_entry(path, wanted)
        entries = _entries_of(path, _load_python_file(path))
        if not wanted:
            if len(entries) > 1:
                raise CatalogError(f"{path} defines several models ({', '.join(entries)}); "
                                   f"pick one as {path}:NAME")
            return next(iter(entries.values()))
        if wanted not in entries:
            raise CatalogError(f"{path} has no model {wanted!r}; it defines {', '.join(entries)}")
        return entries[wanted]
    index = _catalog_index()
    if name_or_path not in index:
        raise CatalogError(f"unknown model {name_or_path!r}; choose one of: "
                           f"{', '.join(sorted(index))} (or give a .py or .onnx file)")
    return index[name_or_path]


def _onnx_entry(path: Path, wanted: str) -> ModelEntry:
    from hwflow.onnx_import import read_onnx

    if wanted:
        raise CatalogError(f"{path}: an ONNX file holds one model; drop ':{wanted}'")
    model = read_onnx(path)
    return ModelEntry(name=model.workload.name, file=model.path, builder=ONNX_BUILDER,
                      input_shape=model.input_shape, num_classes=model.num_classes,
                      dataset="synthetic")


def build_model(entry: ModelEntry, num_classes: int | None = None) -> Any:
    """Instantiate the torch module of a catalog or user model (imports torch)."""
    if entry.is_onnx:
        from hwflow.onnx_import import to_torch

        if num_classes not in (None, entry.num_classes):
            raise CatalogError(f"{entry.file}: the graph has {entry.num_classes} outputs; an "
                               f"ONNX model cannot be rebuilt for {num_classes} classes")
        return to_torch(entry.file)
    module = _load_python_file(entry.file)
    builder = getattr(module, entry.builder, None)
    if builder is None:
        raise CatalogError(f"{entry.file}: has no builder function {entry.builder!r}")
    try:
        model = builder(num_classes=num_classes or entry.num_classes)
    except Exception as exc:  # the user's builder
        raise CatalogError(f"{entry.file}: {entry.builder}(num_classes=...) failed: "
                           f"{_one_line(exc)}") from None
    if not callable(getattr(model, "named_modules", None)):
        raise CatalogError(f"{entry.file}: {entry.builder}() must return a torch nn.Module, "
                           f"got {type(model).__name__}")
    return model


def load_workload(name_or_path: str) -> Workload:
    """Layer shapes of a model: from its table if it has one, else by tracing (torch)."""
    entry = model_entry(name_or_path)
    if entry.is_onnx:
        from hwflow.onnx_import import read_onnx

        return read_onnx(entry.file).workload
    if entry.table_path.exists() and entry.file.parent == MODEL_DIR:
        return _table_workload(entry.name)
    return trace_workload(entry)


@cache
def _table_workload(name: str) -> Workload:
    return Workload.load(_catalog_index()[name].table_path)


def trace_workload(entry: ModelEntry) -> Workload:
    from hwflow.workload import extract_workload

    model = build_model(entry)
    try:
        return extract_workload(model, entry.input_shape, entry.name)
    except HwflowError:
        raise
    except Exception as exc:  # the user's forward()
        shape = "x".join(str(d) for d in entry.input_shape)
        raise CatalogError(f"{entry.file}: {entry.name} fails on one {shape} input "
                           f"(input_shape): {_one_line(exc)}") from None


def write_table(entry: ModelEntry) -> Path:
    """(Re)generate a catalog model's layer table from its torch definition."""
    import json

    data = trace_workload(entry).to_json()
    data["meta"] = {"file": entry.file.name, "builder": entry.builder,
                    "input_shape": list(entry.input_shape), "num_classes": entry.num_classes,
                    "dataset": entry.dataset, "task": entry.task}
    entry.table_path.write_text(json.dumps(data, indent=1) + "\n")
    return entry.table_path


def catalog_model_files() -> list[Path]:
    return sorted(p for p in MODEL_DIR.glob("*.py") if not p.name.startswith("_"))


def catalog_entries_from_sources() -> dict[str, ModelEntry]:
    """Every model the catalog's Python files define (imports torch)."""
    entries: dict[str, ModelEntry] = {}
    for path in catalog_model_files():
        entries.update(_entries_of(path, _load_python_file(path)))
    return entries

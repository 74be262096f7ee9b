"""YAML files → validated objects (pydantic). Every error is one line naming the file,
the key path, its line in the file and what is allowed."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hwflow.errors import HwflowError
from hwflow.hw.spec import Accelerator, Dataflow, Engine, EngineKind, MemoryLevel, RegisterFiles


class ConfigError(HwflowError):
    """A configuration file that cannot be used; the message is one line for the user."""


Model = TypeVar("Model", bound=BaseModel)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _key_lines(node: yaml.Node | None, prefix: tuple = ()) -> dict[tuple, int]:
    """Map every key path of a composed YAML document to its 1-based line; a key given
    twice in one mapping is an error (plain YAML loading would keep the last silently)."""
    lines: dict[tuple, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = prefix + (key_node.value,)
            if path in lines:
                raise _DuplicateKey(".".join(str(p) for p in path), key_node.start_mark.line + 1)
            lines[path] = key_node.start_mark.line + 1
            lines.update(_key_lines(value_node, path))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            path = prefix + (i,)
            lines[path] = item.start_mark.line + 1
            lines.update(_key_lines(item, path))
    return lines


class _DuplicateKey(Exception):
    def __init__(self, key: str, line: int) -> None:
        super().__init__(key)
        self.key, self.line = key, line


def read_yaml(path: Path) -> tuple[Any, dict[tuple, int]]:
    """Parse a YAML file; returns the data and the line of every key path."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
        lines = _key_lines(yaml.compose(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}:{where} not valid YAML: {problem}") from None
    except _DuplicateKey as dup:
        raise ConfigError(f"{path}: line {dup.line} key '{dup.key}': given twice") from None
    return data, lines


def validate(path: Path, data: Any, lines: dict[tuple, int], schema: type[Model]) -> Model:
    """Validate parsed YAML against ``schema``; the first error becomes one line."""
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        key = ".".join(str(p) for p in loc) or "(top level)"
        line = next((lines[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in lines), None)
        where = f" line {line}" if line else ""
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(schema, loc[:-1])
            message = f"unknown key; allowed here: {', '.join(allowed)}" if allowed else "unknown key"
        raise ConfigError(f"{path}:{where} key '{key}': {message}") from None


def _allowed_keys(schema: type[BaseModel], loc: tuple) -> list[str]:
    model: Any = schema
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part) if isinstance(part, str) else None
        if field is None:
            return []
        model = field.annotation
    return list(getattr(model, "model_fields", {}))


def load_file(path: str | Path, schema: type[Model]) -> Model:
    path = Path(path)
    data, lines = read_yaml(path)
    return validate(path, data, lines, schema)


# --- accelerators ---------------------------------------------------------------------


class ArrayConfig(Strict):
    rows: int = Field(gt=0, description="PE rows")
    cols: int = Field(gt=0, description="PE columns")
    rs_cuts: bool = Field(True, description="RS may cut ofmap rows finer than nn_dataflow's "
                          "fold to fill spare columns (false: the Eyeriss chip's layout only)")


class EngineConfig(Strict):
    kind: EngineKind
    b_max: int = Field(16, gt=0, le=32, description="widest operand a MAC unit takes")
    lanes: int = Field(1, gt=0, description="bit-serial lanes per PE")

    @model_validator(mode="after")
    def _lanes_only_bit_serial(self) -> EngineConfig:
        if self.kind == "vectorized" and self.lanes != 1:
            raise ValueError("lanes applies to bit-serial engines only; omit it for vectorized")
        return self


class DramConfig(Strict):
    read_cost: float = Field(ge=0)
    write_cost: float = Field(ge=0)
    bandwidth_bytes_per_cycle: float | None = Field(None, gt=0, description="null: unlimited")


class BufferConfig(Strict):
    size_kb: float = Field(gt=0, description="global buffer size in KiB")
    read_cost: float = Field(ge=0)
    write_cost: float = Field(ge=0)


class ArrayNocConfig(Strict):
    cost: float = Field(ge=0, description="one word moved over the PE array network")


class RfConfig(Strict):
    filter_words: int = Field(gt=0)
    fmap_words: int = Field(gt=0)
    psum_words: int = Field(gt=0)
    read_cost: float = Field(ge=0)
    write_cost: float = Field(ge=0)
    shared: bool = Field(False, description="one scratchpad of the three sizes' sum (Eyeriss)")


class MemoryConfig(Strict):
    dram: DramConfig
    buffer: BufferConfig
    array: ArrayNocConfig
    rf: RfConfig


class AcceleratorConfig(Strict):
    name: str
    description: str = ""
    array: ArrayConfig
    engine: EngineConfig
    dataflow: Dataflow = "rs"
    word_bits: int = Field(16, gt=0, le=64)
    mac_cost: float = Field(1.0, ge=0)
    supported_bits: list[int] = Field(min_length=1)
    tied_bits: bool = False
    memory: MemoryConfig

    @model_validator(mode="after")
    def _bits_in_range(self) -> AcceleratorConfig:
        bad = [b for b in self.supported_bits if not 1 <= b <= self.engine.b_max]
        if bad:
            raise ValueError(f"supported_bits {bad} outside 1..b_max={self.engine.b_max}")
        return self

    def build(self, source: str) -> Accelerator:
        mem = self.memory
        return Accelerator(
            name=self.name, rows=self.array.rows, cols=self.array.cols,
            rs_cuts=self.array.rs_cuts,
            engine=Engine(self.engine.kind, self.engine.b_max, self.engine.lanes),
            dataflow=self.dataflow,
            dram=MemoryLevel(mem.dram.read_cost, mem.dram.write_cost, None,
                             mem.dram.bandwidth_bytes_per_cycle),
            buffer=MemoryLevel(mem.buffer.read_cost, mem.buffer.write_cost,
                               int(mem.buffer.size_kb * 1024)),
            array_cost=mem.array.cost,
            rf=RegisterFiles(mem.rf.filter_words, mem.rf.fmap_words, mem.rf.psum_words,
                             mem.rf.read_cost, mem.rf.write_cost, shared=mem.rf.shared),
            word_bits=self.word_bits, mac_cost=self.mac_cost,
            supported_bits=tuple(sorted(set(self.supported_bits), reverse=True)),
            tied_bits=self.tied_bits, source=source)


def load_accelerator_file(path: str | Path) -> Accelerator:
    return load_file(path, AcceleratorConfig).build(source=str(path))


def accelerator_yaml(accel: Accelerator, name: str | None = None,
                     description: str = "") -> dict[str, Any]:
    """An accelerator as the YAML ``hwflow evaluate --accelerator`` reads (the inverse of
    ``hwflow.config.AcceleratorConfig.build``)."""
    engine: dict[str, Any] = {"kind": accel.engine.kind, "b_max": accel.engine.b_max}
    if accel.engine.kind == "bit-serial":
        engine["lanes"] = accel.engine.lanes
    return {
        "name": name or accel.name, "description": description,
        "array": {"rows": accel.rows, "cols": accel.cols, "rs_cuts": accel.rs_cuts},
        "engine": engine,
        "dataflow": accel.dataflow, "word_bits": accel.word_bits, "mac_cost": accel.mac_cost,
        "supported_bits": list(accel.supported_bits), "tied_bits": accel.tied_bits,
        "memory": {
            "dram": {"read_cost": accel.dram.read_cost, "write_cost": accel.dram.write_cost,
                     "bandwidth_bytes_per_cycle": accel.dram.bandwidth},
            "buffer": {"size_kb": (accel.buffer.size_bytes or 0) / 1024,
                       "read_cost": accel.buffer.read_cost, "write_cost": accel.buffer.write_cost},
            "array": {"cost": accel.array_cost},
            "rf": {"filter_words": accel.rf.filter_words, "fmap_words": accel.rf.fmap_words,
                   "psum_words": accel.rf.psum_words, "read_cost": accel.rf.read_cost,
                   "write_cost": accel.rf.write_cost, "shared": accel.rf.shared}}}


def accelerator_from_yaml(data: Mapping[str, Any], source: str = "") -> Accelerator:
    """An accelerator from its YAML mapping (as ``accelerator_yaml`` writes it)."""
    return AcceleratorConfig.model_validate(dict(data)).build(source=source)

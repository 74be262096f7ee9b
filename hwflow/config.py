"""YAML files → validated objects (pydantic). Every error is one line naming the file,
the key path, its line in the file and what is allowed."""

from __future__ import annotations

import re
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
    # strict: YAML's true is not the integer 1, nor "8" the number 8; no inf or nan anywhere
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


# A document whose aliases expand to more values than this is refused (an "alias bomb"
# expands exponentially; every real hwflow file has a few hundred values at most).
MAX_VALUES = 100_000


def _key_lines(root: yaml.Node | None) -> dict[tuple, int]:
    """Map the key paths of a composed YAML document to their 1-based lines; a key given
    twice in one mapping is an error (plain YAML loading would keep the last silently).

    Each node is walked once, however many aliases point at it (paths through an alias
    get no line of their own; the error message then names the nearest line above), so
    the walk is linear in the document, not in the tree its aliases expand to. A node
    that contains itself, or a document that expands past ``MAX_VALUES``, is refused.
    """
    lines: dict[tuple, int] = {}
    if root is None:
        return lines
    sizes: dict[int, int] = {}  # node id → values it expands to (once finished)
    open_nodes: set[int] = set()  # nodes on the current path (a cycle revisits one)
    stack: list[tuple[yaml.Node, tuple, bool]] = [(root, (), False)]
    while stack:
        node, path, done = stack.pop()
        children = _children(node)
        if done:
            open_nodes.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(child)] for _, child, _ in children)
            if sizes[id(node)] > MAX_VALUES:
                raise _BadStructure(f"line {node.start_mark.line + 1}: aliases expand to more "
                                    f"than {MAX_VALUES:,} values; write the values out")
            continue
        if id(node) in open_nodes:
            raise _BadStructure(f"line {node.start_mark.line + 1}: an alias refers to the "
                                "value that contains it (a recursive structure)")
        if id(node) in sizes:
            continue  # an alias of a node walked already
        open_nodes.add(id(node))
        stack.append((node, path, True))
        seen: set[Any] = set()
        for key, _, line in children:
            child_path = path + (key,)
            if isinstance(node, yaml.MappingNode):
                if key in seen:
                    raise _BadStructure(f"line {line} key "
                                        f"'{'.'.join(str(p) for p in child_path)}': given twice")
                seen.add(key)
            lines.setdefault(child_path, line)
        stack.extend((child, path + (key,), False) for key, child, _ in reversed(children))
    return lines


def _children(node: yaml.Node) -> list[tuple[Any, yaml.Node, int]]:
    """(key, child, line) of a node's children: a mapping's values under their keys (the
    key's line), a sequence's items under their indices; a scalar has none."""
    if isinstance(node, yaml.MappingNode):
        return [(k.value, v, k.start_mark.line + 1) for k, v in node.value]
    if isinstance(node, yaml.SequenceNode):
        return [(i, v, v.start_mark.line + 1) for i, v in enumerate(node.value)]
    return []


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, with YAML 1.2's floats: ``2e6`` and ``1.5E-3`` are numbers
    (YAML 1.1, which PyYAML follows, needs ``2.0e+6`` and reads ``2e6`` as a string)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789"))


class _BadStructure(Exception):
    """A YAML document that parses but cannot be used (the message names its line)."""


def read_yaml(path: Path) -> tuple[Any, dict[tuple, int]]:
    """Parse a YAML file; returns the data and the line of every key path."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a YAML file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}: line {line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); "
                          "save the file as UTF-8") from None
    try:
        lines = _key_lines(yaml.compose(text, Loader=_Loader))  # first: refuses bombs
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}:{where} not valid YAML: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{path}: values nested too deeply to read (hundreds of levels); "
                          "hwflow files nest a few levels") from None
    except _BadStructure as bad:
        raise ConfigError(f"{path}: {bad}") from None
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


# Upper bounds keep every value inside what the cost model computes with (C longs, finite
# floats); each is far beyond any real design.
MAX_PES_PER_SIDE = 4096
MAX_COST = 1e6  # per word accessed, in 16-bit MACs (DRAM is about 200)
MAX_WORDS = 2**20  # one register file
MAX_BUFFER_KB = 2**20  # 1 GiB of global buffer
MAX_BATCH = 2**40  # frames together: the mappers try the batch's divisors (up to its root)
MAX_EPOCHS = 10_000  # of one fine-tune or training: beyond it a run would never end
MAX_SEED = 2**32 - 1  # numpy's seeds are 0..2^32-1


class ArrayConfig(Strict):
    rows: int = Field(gt=0, le=MAX_PES_PER_SIDE, description="PE rows")
    cols: int = Field(gt=0, le=MAX_PES_PER_SIDE, description="PE columns")
    rs_cuts: bool = Field(True, description="RS may cut ofmap rows finer than nn_dataflow's "
                          "fold to fill spare columns (false: the Eyeriss chip's layout only)")


class EngineConfig(Strict):
    kind: EngineKind
    b_max: int = Field(16, gt=0, le=32, description="widest operand a MAC unit takes")
    lanes: int = Field(1, gt=0, le=64, description="bit-serial lanes per PE")

    @model_validator(mode="after")
    def _lanes_only_bit_serial(self) -> EngineConfig:
        if self.kind == "vectorized" and self.lanes != 1:
            raise ValueError("lanes applies to bit-serial engines only; omit it for vectorized")
        return self


class DramConfig(Strict):
    read_cost: float = Field(ge=0, le=MAX_COST)
    write_cost: float = Field(ge=0, le=MAX_COST)
    bandwidth_bytes_per_cycle: float | None = Field(None, gt=0, le=1e9, description="null: unlimited")


class BufferConfig(Strict):
    size_kb: float = Field(gt=0, le=MAX_BUFFER_KB, description="global buffer size in KiB")
    read_cost: float = Field(ge=0, le=MAX_COST)
    write_cost: float = Field(ge=0, le=MAX_COST)


class ArrayNocConfig(Strict):
    cost: float = Field(ge=0, le=MAX_COST, description="one word moved over the PE array network")


class RfConfig(Strict):
    filter_words: int = Field(gt=0, le=MAX_WORDS)
    fmap_words: int = Field(gt=0, le=MAX_WORDS)
    psum_words: int = Field(gt=0, le=MAX_WORDS)
    read_cost: float = Field(ge=0, le=MAX_COST)
    write_cost: float = Field(ge=0, le=MAX_COST)
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
    mac_cost: float = Field(1.0, ge=0, le=MAX_COST)
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

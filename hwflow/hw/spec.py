"""What an accelerator is: plain frozen dataclasses the cost model reads.

Energy costs are normalized to one 16-bit MAC = 1 and are per access of one word
(``word_bits``) at that level. Sizes are in bytes (buffer) or words (register files).
Loading and validating YAML lives in ``hwflow.config``; this module has no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from hwflow.errors import HwflowError

Dataflow = Literal["rs", "os", "ws"]
EngineKind = Literal["vectorized", "bit-serial"]
DATAFLOWS: tuple[str, ...] = ("rs", "os", "ws")


@dataclass(frozen=True)
class Engine:
    kind: EngineKind
    b_max: int = 16  # widest operand a MAC unit (or lane) takes
    lanes: int = 1  # bit-serial lanes per PE (1 for vectorized)


@dataclass(frozen=True)
class MemoryLevel:
    read_cost: float
    write_cost: float
    size_bytes: int | None = None  # None: unbounded (DRAM)
    bandwidth: float | None = None  # bytes per cycle; None: unlimited


@dataclass(frozen=True)
class RegisterFiles:
    """Per-PE scratchpads, sizes in words of ``word_bits``."""

    filter_words: int
    fmap_words: int
    psum_words: int
    read_cost: float
    write_cost: float
    # True: one scratchpad of filter+fmap+psum words that any operand may fill (the
    # 512 B RF of Eyeriss ISCA'16 / nn_dataflow); False: three separate RFs.
    shared: bool = False


@dataclass(frozen=True)
class Accelerator:
    name: str
    rows: int
    cols: int
    engine: Engine
    dataflow: Dataflow
    dram: MemoryLevel
    buffer: MemoryLevel  # the on-chip global buffer (SRAM)
    array_cost: float  # one word moved over the array network (NoC)
    rf: RegisterFiles
    word_bits: int = 16
    mac_cost: float = 1.0  # one b_max x b_max MAC (vectorized) or its bit-serial equivalent
    supported_bits: tuple[int, ...] = (16, 8, 6, 4, 2)
    tied_bits: bool = False  # True: the engine needs w_bits == a_bits per layer
    source: str = ""  # where the description came from (catalog name or file)
    # RS may cut the ofmap height finer than nn_dataflow's fold so spare columns take
    # pieces (mapspace.rs_layout); False: only the Eyeriss chip's fold/replicate
    rs_cuts: bool = True

    @property
    def pes(self) -> int:
        return self.rows * self.cols

    def with_dataflow(self, dataflow: Dataflow) -> Accelerator:
        return replace(self, dataflow=dataflow)

    def key(self) -> tuple:
        """Hashable identity of everything that changes a cost (not the name)."""
        return (self.rows, self.cols, self.engine, self.dataflow, self.dram, self.buffer,
                self.array_cost, self.rf, self.word_bits, self.mac_cost, self.rs_cuts)


class UnsupportedBitsError(HwflowError):
    """A bitwidth the accelerator's engine cannot run."""


def check_bits(accel: Accelerator, w_bits: int, a_bits: int, layer: str) -> None:
    for kind, bits in (("w_bits", w_bits), ("a_bits", a_bits)):
        if bits not in accel.supported_bits:
            allowed = ", ".join(str(b) for b in sorted(accel.supported_bits))
            raise UnsupportedBitsError(
                f"layer {layer}: {kind}={bits} is not supported by {accel.name} "
                f"({accel.engine.kind}); allowed: {allowed}")
    if accel.tied_bits and w_bits != a_bits:
        raise UnsupportedBitsError(
            f"layer {layer}: {accel.name} needs w_bits == a_bits (tied_bits: its engine runs "
            f"both operands at one width), got {w_bits},{a_bits}")

"""run.sqlite: every evaluation, every generation's population, and the checkpoint.

SQLite in WAL mode; each evaluation is committed the moment it is known and a generation
(its population, history row and the pickled algorithm) in one transaction, so a process
killed at any moment leaves a consistent store to resume from. ``RunLock`` keeps two runs
out of one directory: an exclusive ``flock`` on ``run.lock`` (released by the kernel when
the holder dies, so a killed run never blocks its resume), with the holder's pid inside
for the error message.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from hwflow.errors import HwflowError

STORE_NAME = "run.sqlite"
LOCK_NAME = "run.lock"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS evaluations (
    id INTEGER PRIMARY KEY,
    level TEXT NOT NULL,
    genome TEXT NOT NULL,            -- allele indices, comma-separated (bit genes first)
    accel_genes TEXT NOT NULL,       -- JSON object; empty until accelerator co-search
    w_bits TEXT NOT NULL,            -- JSON list, one per layer in network order
    a_bits TEXT NOT NULL,
    metrics TEXT NOT NULL,           -- JSON: every metric computed (accuracy as a fraction)
    objectives TEXT NOT NULL,        -- JSON: the experiment's objectives, as reported
    constraints TEXT NOT NULL,       -- JSON: g per constraint (g <= 0 is satisfied)
    wall_s REAL NOT NULL,
    status TEXT NOT NULL,            -- ok | diverged
    created REAL NOT NULL,
    UNIQUE (level, genome, accel_genes)
);
CREATE TABLE IF NOT EXISTS generations (
    level TEXT NOT NULL, generation INTEGER NOT NULL,
    hypervolume REAL NOT NULL, front_size INTEGER NOT NULL,
    evaluations INTEGER NOT NULL,    -- distinct evaluations stored at this level so far
    cache_hits INTEGER NOT NULL, seconds REAL NOT NULL,
    PRIMARY KEY (level, generation)
);
CREATE TABLE IF NOT EXISTS populations (
    level TEXT NOT NULL, generation INTEGER NOT NULL, position INTEGER NOT NULL,
    evaluation_id INTEGER NOT NULL REFERENCES evaluations (id),
    PRIMARY KEY (level, generation, position)
);
CREATE TABLE IF NOT EXISTS checkpoints (
    level TEXT PRIMARY KEY, generation INTEGER NOT NULL, state BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS flow (    -- a multi-level flow's path (hwflow.search.flow)
    step INTEGER PRIMARY KEY,        -- 1, 2, ... in the order taken
    stage INTEGER NOT NULL,          -- index into the experiment's stages
    level TEXT NOT NULL,
    candidate INTEGER,               -- 1-based candidate of the stage; NULL when abstracting
    inputs TEXT NOT NULL,            -- JSON: inherited inputs and the candidate's own
    outcome TEXT NOT NULL,           -- refine | done | unmet | abstract | failed
    why TEXT NOT NULL,
    folder TEXT,                     -- the step's run directory, relative; NULL when abstracting
    front_size INTEGER NOT NULL, feasible INTEGER NOT NULL,
    hypervolume REAL NOT NULL, evaluations INTEGER NOT NULL
);
"""


class RunError(HwflowError):
    """A run directory that cannot be used as asked."""


def run_store_path(out: Path, resume: bool) -> Path:
    """The store of the run in ``out``; a new run needs an empty place, --resume a run."""
    store_path = out / STORE_NAME
    if store_path.exists() and not resume:
        raise RunError(f"{out} already holds a run; add --resume to continue it, or "
                       "choose another --out")
    if resume and not store_path.exists():
        raise RunError(f"{out}: no run to resume (no {STORE_NAME}); start one without --resume")
    return store_path


@contextlib.contextmanager
def run_directory(out: Path, resume: bool) -> Iterator[Callable[[], None]]:
    """``out`` for a new run (or, with ``resume``, the run in it), locked for this process
    (``RunLock``); the body sets the run up and calls the function it is given once the run
    has started. Nothing is created when ``out`` cannot take the run; if the body fails
    before the run started, what this new run created (its store, lock and folders) is
    removed, so that the corrected command is not refused as "already holds a run". A
    resumed or started run is never touched."""
    store_path = run_store_path(out, resume)  # before anything exists: a refusal writes nothing
    if resume:
        RunStore(store_path, read_only=True).close()  # refuses a store that is not hwflow's
    created = [p for p in (out, *out.parents) if not p.exists()]  # deepest first
    started = False

    def mark_started() -> None:
        nonlocal started
        started = True

    out.mkdir(parents=True, exist_ok=True)
    with RunLock(out):
        new_store = not resume and not store_path.exists()  # checked again, holding the lock
        try:
            yield mark_started
        except BaseException:
            if not started and new_store:  # nobody else can be using it: we hold the lock
                for name in (STORE_NAME, f"{STORE_NAME}-wal", f"{STORE_NAME}-shm", LOCK_NAME):
                    (out / name).unlink(missing_ok=True)
            raise
        finally:
            if not started:
                for folder in created:
                    if folder.is_dir() and not any(folder.iterdir()):
                        folder.rmdir()


@dataclass(frozen=True)
class Evaluation:
    id: int
    level: str
    genome: str
    w_bits: tuple[int, ...]
    a_bits: tuple[int, ...]
    metrics: dict[str, float]
    objectives: dict[str, float]
    constraints: dict[str, float]
    wall_s: float
    status: str
    accel_genes: dict[str, Any]


@dataclass(frozen=True)
class GenerationRow:
    level: str
    generation: int
    hypervolume: float
    front_size: int
    evaluations: int
    cache_hits: int
    seconds: float


@dataclass(frozen=True)
class FlowStep:
    """One step of a flow's path: a stage searched with one candidate, or an abstraction."""

    step: int
    stage: int
    level: str
    candidate: int | None
    inputs: dict[str, Any]
    outcome: str
    why: str
    folder: str | None
    front_size: int = 0
    feasible: int = 0
    hypervolume: float = 0.0
    evaluations: int = 0


_EVAL_COLUMNS = ("id, level, genome, w_bits, a_bits, metrics, objectives, constraints, "
                 "wall_s, status, accel_genes")


def _evaluation(row: tuple) -> Evaluation:
    return Evaluation(id=row[0], level=row[1], genome=row[2], w_bits=tuple(json.loads(row[3])),
                      a_bits=tuple(json.loads(row[4])), metrics=json.loads(row[5]),
                      objectives=json.loads(row[6]), constraints=json.loads(row[7]),
                      wall_s=row[8], status=row[9], accel_genes=json.loads(row[10]))


class RunStore:
    """run.sqlite, opened for writing (a new or resumed run) or ``read_only`` (export, plot,
    reports). Either way a file that is not a hwflow store is refused before anything is
    written to it."""

    def __init__(self, path: str | Path, read_only: bool = False) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_file():
            raise RunError(f"{self.path}: not a file, so not a hwflow run store")
        if read_only and not self.path.exists():
            raise RunError(f"{self.path}: no such run store")
        try:
            self.db = self._connect(read_only)
        except sqlite3.Error as exc:
            raise RunError(f"{self.path}: cannot be opened as a hwflow run store ({exc})") from None
        try:
            self._check_is_hwflow(read_only)
            if not read_only:
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")  # durable against a killed process
                self.db.executescript(_SCHEMA)
                if self.get_meta("schema_version") is None:
                    self.set_meta("schema_version", SCHEMA_VERSION)
        except sqlite3.Error as exc:
            self.db.close()
            raise RunError(f"{self.path}: not a hwflow run store ({exc})") from None
        except RunError:
            self.db.close()
            raise

    def _connect(self, read_only: bool) -> sqlite3.Connection:
        if not read_only:
            return sqlite3.connect(self.path, isolation_level=None, timeout=30)
        # Read-only. Without a -wal file no writer is active and the store is complete, so
        # it opens as immutable: SQLite then creates no -wal or -shm beside it, which a
        # read-only WAL connection otherwise leaves behind.
        wal = self.path.with_name(self.path.name + "-wal")
        uri = self.path.resolve().as_uri() + ("?mode=ro" if wal.exists() else "?immutable=1")
        return sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30)

    def _check_is_hwflow(self, read_only: bool) -> None:
        tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables:
            if read_only:
                raise RunError(f"{self.path}: an empty database, not a hwflow run store")
            return  # a new store
        row = (self.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
               if "meta" in tables else None)
        if row is None:
            raise RunError(f"{self.path}: holds another program's tables "
                           f"({', '.join(sorted(tables)[:5])}), not a hwflow run; choose another --out")
        for (key,) in self.db.execute("SELECT key FROM meta").fetchall():
            self.get_meta(key)  # every value JSON, as hwflow writes them
        version = self.get_meta("schema_version")
        if version != SCHEMA_VERSION:
            raise RunError(f"{self.path}: written by another hwflow version "
                           f"(schema {version}, this one reads {SCHEMA_VERSION})")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- meta --------------------------------------------------------------------------

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row is None:
            return default
        try:
            return json.loads(row[0])
        except (TypeError, json.JSONDecodeError):
            raise RunError(f"{self.path}: meta key {key!r} is not JSON ({str(row[0])[:40]!r}); "
                           "the store was not written by hwflow") from None

    def set_meta(self, key: str, value: Any) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    # --- evaluations -------------------------------------------------------------------

    def find(self, level: str, genomes: Iterable[str]) -> dict[str, Evaluation]:
        wanted = list(dict.fromkeys(genomes))
        found: dict[str, Evaluation] = {}
        for start in range(0, len(wanted), 500):  # SQLite's bound-parameter limit
            chunk = wanted[start:start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT {_EVAL_COLUMNS} FROM evaluations WHERE level = ? AND genome IN ({marks})",
                (level, *chunk))
            found.update((row[2], _evaluation(row)) for row in rows)
        return found

    def add(self, level: str, genome: str, w_bits: Iterable[int], a_bits: Iterable[int],
            metrics: dict[str, float], objectives: dict[str, float],
            constraints: dict[str, float], wall_s: float, status: str,
            accel_genes: dict[str, Any] | None = None) -> Evaluation:
        w, a = [int(b) for b in w_bits], [int(b) for b in a_bits]
        cur = self.db.execute(
            "INSERT INTO evaluations (level, genome, accel_genes, w_bits, a_bits, metrics, "
            "objectives, constraints, wall_s, status, created) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (level, genome, json.dumps(accel_genes or {}), json.dumps(w), json.dumps(a),
             json.dumps(metrics), json.dumps(objectives), json.dumps(constraints), wall_s,
             status, time.time()))
        return Evaluation(cur.lastrowid, level, genome, tuple(w), tuple(a), dict(metrics),
                          dict(objectives), dict(constraints), wall_s, status,
                          dict(accel_genes or {}))

    def add_many(self, rows: list[dict[str, Any]]) -> list[Evaluation]:
        """Several ``add`` calls in one transaction (cheap evaluations)."""
        self.db.execute("BEGIN")
        try:
            out = [self.add(**row) for row in rows]
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        return out

    def evaluation(self, eval_id: int) -> Evaluation | None:
        row = self.db.execute(f"SELECT {_EVAL_COLUMNS} FROM evaluations WHERE id = ?",
                              (eval_id,)).fetchone()
        return None if row is None else _evaluation(row)

    def evaluations(self, level: str | None = None) -> list[Evaluation]:
        query = f"SELECT {_EVAL_COLUMNS} FROM evaluations"
        rows = (self.db.execute(query + " WHERE level = ? ORDER BY id", (level,)) if level
                else self.db.execute(query + " ORDER BY id"))
        return [_evaluation(r) for r in rows]

    def count(self, level: str) -> int:
        return self.db.execute("SELECT COUNT(*) FROM evaluations WHERE level = ?",
                               (level,)).fetchone()[0]

    # --- generations and checkpoints ---------------------------------------------------

    def save_generation(self, row: GenerationRow, population: list[int], state: bytes) -> None:
        """The generation's history row, its population and the checkpoint, atomically."""
        self.db.execute("BEGIN")
        try:
            self.db.execute("INSERT OR REPLACE INTO generations VALUES (?,?,?,?,?,?,?)",
                            (row.level, row.generation, row.hypervolume, row.front_size,
                             row.evaluations, row.cache_hits, row.seconds))
            self.db.execute("DELETE FROM populations WHERE level = ? AND generation = ?",
                            (row.level, row.generation))
            self.db.executemany("INSERT INTO populations VALUES (?,?,?,?)",
                                [(row.level, row.generation, i, e) for i, e in enumerate(population)])
            self.db.execute("INSERT OR REPLACE INTO checkpoints VALUES (?,?,?)",
                            (row.level, row.generation, state))
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def checkpoint(self, level: str) -> tuple[int, bytes] | None:
        row = self.db.execute("SELECT generation, state FROM checkpoints WHERE level = ?",
                              (level,)).fetchone()
        return None if row is None else (row[0], bytes(row[1]))

    def generations(self, level: str | None = None) -> list[GenerationRow]:
        query = "SELECT * FROM generations"
        rows = (self.db.execute(query + " WHERE level = ? ORDER BY generation", (level,)) if level
                else self.db.execute(query + " ORDER BY level, generation"))
        return [GenerationRow(*r) for r in rows]

    # --- a flow's path ------------------------------------------------------------------

    def add_flow_step(self, s: FlowStep) -> None:
        self.db.execute("INSERT INTO flow VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                        (s.step, s.stage, s.level, s.candidate, json.dumps(s.inputs), s.outcome,
                         s.why, s.folder, s.front_size, s.feasible, s.hypervolume, s.evaluations))

    def flow_steps(self) -> list[FlowStep]:
        rows = self.db.execute("SELECT * FROM flow ORDER BY step")
        return [FlowStep(r[0], r[1], r[2], r[3], json.loads(r[4]), *r[5:]) for r in rows]

    def population(self, level: str, generation: int) -> list[Evaluation]:
        rows = self.db.execute(
            f"SELECT {', '.join('e.' + c.strip() for c in _EVAL_COLUMNS.split(','))} "
            "FROM populations p JOIN evaluations e ON e.id = p.evaluation_id "
            "WHERE p.level = ? AND p.generation = ? ORDER BY p.position", (level, generation))
        return [_evaluation(r) for r in rows]


class RunLock:
    """An exclusive lock on a run directory for the life of this process's run."""

    def __init__(self, folder: str | Path) -> None:
        self.path = Path(folder) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunError(f"{self.path.parent} is in use by another hwflow search "
                           f"(pid {holder}); wait for it to finish or choose another --out") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

"""A persistent cache of trained results (SQLite in WAL mode), shared by processes.

``compute_once(key, ...)`` returns the stored result for ``key`` or computes it exactly
once: a process about to train records a claim, and any other process (or thread) asking
for the same key meanwhile waits for the result instead of training it again. A claim
whose owner died (same host, process gone) or that is older than ``stale_after`` seconds
is taken over.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

# ``info`` is a JSON description of the key (model, data set, bits, ...) for people reading
# the database; lookups use only ``key``.
SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY, info TEXT NOT NULL, accuracy REAL NOT NULL, status TEXT NOT NULL,
    seconds REAL NOT NULL, created REAL NOT NULL, se REAL);
CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, owner TEXT NOT NULL, since REAL NOT NULL);
"""


@dataclass(frozen=True)
class StoredResult:
    accuracy: float
    status: str
    seconds: float
    se: float | None = None  # standard error of ``accuracy``; None in rows stored before it


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _add_se_column(db: sqlite3.Connection) -> None:
    """A cache made before standard errors were stored gains the column (its old rows
    read as se None); another process adding it at the same moment is fine."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(results)")}
    if "se" in columns:
        return
    try:
        db.execute("ALTER TABLE results ADD COLUMN se REAL")
    except sqlite3.OperationalError as exc:
        if "duplicate column" not in str(exc):
            raise


class ResultStore:
    def __init__(self, path: str | Path, poll_seconds: float = 0.5,
                 stale_after: float = 6 * 3600) -> None:
        self.path = Path(path)
        self.poll_seconds, self.stale_after = poll_seconds, stale_after
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)
            _add_se_column(db)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """One short-lived connection per operation: safe across forks, threads and pickling."""
        db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        try:
            yield db
        finally:
            db.close()

    def get(self, key: str) -> StoredResult | None:
        with self._connect() as db:
            row = db.execute("SELECT accuracy, status, seconds, se FROM results WHERE key = ?",
                             (key,)).fetchone()
        return StoredResult(*row) if row else None

    def put(self, key: str, info: dict[str, Any], result: StoredResult) -> None:
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO results (key, info, accuracy, status, seconds, "
                       "created, se) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (key, json.dumps(info, sort_keys=True), result.accuracy, result.status,
                        result.seconds, time.time(), result.se))

    def forget(self, key: str) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM results WHERE key = ?", (key,))

    def compute_once(self, key: str, info: dict[str, Any],
                     compute: Callable[[], StoredResult]) -> tuple[StoredResult, bool]:
        """(result, whether it came from the store)."""
        while True:
            found = self.get(key)
            if found is not None:
                return found, True
            if self._claim(key):
                try:
                    found = self.get(key)  # finished by another between our get and claim
                    if found is not None:
                        return found, True
                    result = compute()
                    self.put(key, info, result)
                    return result, False
                finally:
                    self._release(key)
            self._drop_stale_claim(key)
            time.sleep(self.poll_seconds)

    def _claim(self, key: str) -> bool:
        with self._connect() as db:
            cursor = db.execute("INSERT OR IGNORE INTO claims VALUES (?, ?, ?)",
                                (key, _owner(), time.time()))
            return cursor.rowcount == 1

    def _release(self, key: str) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM claims WHERE key = ? AND owner = ?", (key, _owner()))

    def _drop_stale_claim(self, key: str) -> None:
        with self._connect() as db:
            row = db.execute("SELECT owner, since FROM claims WHERE key = ?", (key,)).fetchone()
            if row is None:
                return
            owner, since = row
            host, _, pid = owner.rpartition(":")
            dead = host == socket.gethostname() and not _alive(int(pid))
            if dead or time.time() - since > self.stale_after:
                db.execute("DELETE FROM claims WHERE key = ? AND owner = ? AND since = ?",
                           (key, owner, since))

"""Embedded SQLite state (WAL) shared by the emulators of one process: registries, queues, mappings.

One connection is used from the event loop thread; statements are short, so they run inline. Each
component declares its tables once with `ensure_schema`; DDL must be idempotent (`IF NOT EXISTS`).
A file that cannot be opened is a `StateFileError` naming it; `move_aside` sets an unusable one aside.
"""

from __future__ import annotations

import datetime
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

STATE_FILE = "state.sqlite"
_SIDE_FILES = ("-wal", "-shm")


class StateFileError(RuntimeError):
    """The database file cannot be used; the message names it and says why, in one line."""

    def __init__(self, message: str, corrupt: bool) -> None:
        super().__init__(message)
        self.corrupt = corrupt


class StateStore:
    """A thin, typed wrapper around one SQLite database file."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path) if path != ":memory:" else path
        try:
            if isinstance(self.path, Path):
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
        except OSError as exc:
            raise StateFileError(f"cannot open state database {path}: {exc.strerror or exc}", corrupt=False) from exc
        except sqlite3.OperationalError as exc:  # unreadable, read-only, locked: the file itself may be fine
            raise StateFileError(f"cannot open state database {path}: {exc}", corrupt=False) from exc
        except sqlite3.DatabaseError as exc:
            raise StateFileError(f"state database {path} is unusable: {exc}", corrupt=True) from exc
        self._lock = threading.RLock()
        self._depth = 0

    def ensure_schema(self, component: str, ddl: str) -> None:
        with self.transaction():
            for statement in _split_statements(ddl):
                self._conn.execute(statement)
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS provemu_schema (component TEXT PRIMARY KEY)")
            self._conn.execute("INSERT OR IGNORE INTO provemu_schema VALUES (?)", (component,))

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._conn.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._lock:
            self._conn.executemany(sql, rows)

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Row | None:
        with self._lock:
            row: sqlite3.Row | None = self._conn.execute(sql, params).fetchone()
            return row

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A transaction; nested uses join the outermost one, so helpers compose."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")
            finally:
                self._depth = 0

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def move_aside(path: Path, now: datetime.datetime) -> Path | None:
    """Rename the database `path` (and its WAL files) to `<path>.<UTC time>`; the new name, or None if there was
    no file."""
    if not path.exists():
        return None
    target = path.with_name(f"{path.name}.{now.astimezone(datetime.UTC):%Y%m%dT%H%M%SZ}")
    for suffix in ("", *_SIDE_FILES):
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.rename(target.with_name(target.name + suffix))
    return target


def _split_statements(ddl: str) -> list[str]:
    return [part.strip() for part in ddl.split(";") if part.strip()]

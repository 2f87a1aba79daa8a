"""The SQLite backend (aiosqlite): WAL, a busy timeout, and one transaction per change."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from bot.store.executor import Row
from bot.store.sql import SQLStore

BUSY_TIMEOUT_MS = 5000
LOCKED_RETRY_SECONDS = 0.02
_PRAGMAS = (
    # The busy timeout first: a second process opening the same file at once then waits for
    # the first's lock (even while it switches to WAL) instead of failing.
    f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA synchronous=NORMAL",
)


class SQLiteStore(SQLStore):
    dialect = "sqlite"
    _integrity_errors = (sqlite3.IntegrityError,)

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._db = connection
        self._executor = _SQLiteExecutor(connection)
        # One connection serves every task, so transactions take turns.
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str) -> SQLiteStore:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            # A path SQLite cannot open fails here, in this thread: aiosqlite's worker thread
            # would report it again after the event loop closed, as a stray traceback.
            sqlite3.connect(path).close()
        return await cls(await aiosqlite.connect(path, isolation_level=None))._start()

    async def close(self) -> None:
        await self._db.close()

    async def _prepare(self) -> None:
        for pragma in _PRAGMAS:
            await self._retry_while_locked(pragma)

    async def _retry_while_locked(self, sql: str) -> None:
        """Runs ``sql``, retrying while the file is locked, for up to the busy timeout.

        Switching a new file to WAL while other processes open it at the same moment can fail
        with "database is locked" without SQLite's busy handler ever waiting, so the wait is
        done here.
        """
        deadline = asyncio.get_running_loop().time() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                await self._db.execute(sql)
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(LOCKED_RETRY_SECONDS)

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[_SQLiteExecutor]:
        async with self._lock:
            # IMMEDIATE takes the write lock at once, so transactions of other processes on the
            # same file wait (busy timeout) rather than fail halfway.
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._executor
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")

    @contextlib.asynccontextmanager
    async def _reader(self) -> AsyncIterator[_SQLiteExecutor]:
        yield self._executor

    async def _lock_migrations(self, db: _SQLiteExecutor) -> None:
        pass  # BEGIN IMMEDIATE already holds the file's write lock.

    async def _after_copy(self, db: _SQLiteExecutor) -> None:
        pass  # A rowid primary key continues after the largest id by itself.


class _SQLiteExecutor:
    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._db = connection

    async def execute(self, sql: str, values: Sequence[Any] = ()) -> int:
        async with self._db.execute(sql, values) as cursor:
            return cursor.rowcount

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._db.executemany(sql, rows)

    async def fetch(self, sql: str, values: Sequence[Any] = ()) -> list[Row]:
        async with self._db.execute(sql, values) as cursor:
            return [tuple(row) for row in await cursor.fetchall()]

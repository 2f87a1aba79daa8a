"""The SQL executor: what a backend hands the shared SQL, and what every query module builds on.

A backend (sqlite.py, postgres.py) supplies connections (``Executor``) and transactions; the
query modules say everything the store says to the database, once for every backend, in a common
dialect: ``?`` placeholders, ON CONFLICT upserts, RETURNING.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any, ClassVar, Protocol

from bot.store.base import IntegrityError

Row = tuple[Any, ...]


class Executor(Protocol):
    """One connection, as the shared SQL needs it."""

    async def execute(self, sql: str, values: Sequence[Any] = ()) -> int:
        """Runs one statement; returns how many rows it changed."""
        ...

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    async def fetch(self, sql: str, values: Sequence[Any] = ()) -> list[Row]: ...


class SQLDatabase(ABC):
    """A database the shared SQL runs on: the query modules' mixins build on this, a backend
    implements its abstract methods, and SQLStore (sql.py) puts the two together."""

    dialect: ClassVar[str]  # the key into migrations.DIALECT_TYPES
    # The driver's constraint errors, which the store re-raises as IntegrityError.
    _integrity_errors: tuple[type[Exception], ...] = ()

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def _prepare(self) -> None:
        """Readies a new connection before migrating (settings, checks)."""

    @abstractmethod
    def _transaction(self) -> contextlib.AbstractAsyncContextManager[Executor]:
        """A write transaction: committed on exit, rolled back on any error."""

    @abstractmethod
    def _reader(self) -> contextlib.AbstractAsyncContextManager[Executor]:
        """A connection for reads outside any transaction of this store."""

    @abstractmethod
    async def _lock_migrations(self, db: Executor) -> None:
        """First in each migration transaction: keeps other processes' migrations out until it
        ends."""

    @abstractmethod
    async def _after_copy(self, db: Executor) -> None:
        """Last in the transaction that loaded copied rows (ids included)."""

    @contextlib.asynccontextmanager
    async def _change(self) -> AsyncIterator[Executor]:
        """One transaction of the store: a multi-row change is made in one of these."""
        try:
            async with self._transaction() as db:
                yield db
        except self._integrity_errors as error:
            raise IntegrityError(str(error)) from error

    async def _fetch(self, sql: str, values: Sequence[Any] = ()) -> list[Row]:
        async with self._reader() as db:
            return await db.fetch(sql, values)

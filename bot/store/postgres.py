"""The PostgreSQL backend (asyncpg, an optional extra): a pool, one transaction per change.

DATABASE_URL is ``postgresql://user:password@host:port/database`` (``postgres://`` too) with any
of asyncpg's (libpq's) query parameters, plus one of our own: ``?schema=NAME`` keeps the bot's
tables in that schema (it must exist; it becomes the connections' search_path), so that several
bots or test runs can share one database. ``?options=-csearch_path%3DNAME`` works as in libpq.
"""

from __future__ import annotations

import contextlib
import re
import urllib.parse
from collections.abc import AsyncIterator, Iterable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from bot.errors import ConfigError
from bot.store.executor import Row
from bot.store.sql import SQLStore

if TYPE_CHECKING:
    import asyncpg

POOL_MAX_SIZE = 10
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_PLACEHOLDER = re.compile(r"\?")


class PostgresStore(SQLStore):
    dialect = "postgres"

    def __init__(self, pool: asyncpg.Pool, integrity_error: type[Exception]) -> None:
        self._pool = pool
        self._integrity_errors = (integrity_error,)

    @classmethod
    async def open(cls, url: str) -> PostgresStore:
        asyncpg = _import_asyncpg()
        dsn, server_settings = _connect_options(url)
        try:
            pool = await asyncpg.create_pool(
                dsn, min_size=1, max_size=POOL_MAX_SIZE, server_settings=server_settings
            )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            # The message names host and database at most, never the password in the URL.
            raise ConfigError(f"Cannot connect to the PostgreSQL DATABASE_URL: {error}") from error
        return await cls(pool, asyncpg.IntegrityConstraintViolationError)._start()

    async def close(self) -> None:
        await self._pool.close()

    async def _prepare(self) -> None:
        # Without an existing schema on the search_path, CREATE TABLE has nowhere to go.
        rows = await self._fetch("SELECT current_schema(), current_setting('search_path')")
        schema, search_path = rows[0]
        if schema is None:
            raise ConfigError(
                f"The PostgreSQL DATABASE_URL selects schema '{search_path}', which does not exist"
                " (create it with CREATE SCHEMA)."
            )

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[_PostgresExecutor]:
        async with self._pool.acquire() as connection, connection.transaction():
            yield _PostgresExecutor(connection)

    @contextlib.asynccontextmanager
    async def _reader(self) -> AsyncIterator[_PostgresExecutor]:
        async with self._pool.acquire() as connection:
            yield _PostgresExecutor(connection)

    async def _lock_migrations(self, db: _PostgresExecutor) -> None:
        # Transactions do not exclude each other here: two processes starting at once would both
        # see version 0. This lock, held until the transaction ends, makes the second wait and
        # then read the version the first wrote. One lock per schema: schemas migrate apart.
        await db.execute(
            "SELECT pg_advisory_xact_lock(hashtext('rapbattle migrations ' || current_schema()))"
        )

    async def _after_copy(self, db: _PostgresExecutor) -> None:
        # Copied rows carry their ids, which the identity sequence has not handed out: move it
        # past them, or the next battle would be given an id already taken.
        for table in ("battles", "tournaments", "schedules"):
            await db.fetch(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1,"
                f" false) FROM {table}"
            )


class _PostgresExecutor:
    """An asyncpg connection speaking the shared SQL's ``?`` placeholders."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    async def execute(self, sql: str, values: Sequence[Any] = ()) -> int:
        status = await self._connection.execute(_numbered(sql), *values)
        # A status such as "UPDATE 1" or "INSERT 0 1" ends with the number of rows.
        last = status.rsplit(" ", 1)[-1]
        return int(last) if last.isdigit() else 0

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._connection.executemany(_numbered(sql), rows)

    async def fetch(self, sql: str, values: Sequence[Any] = ()) -> list[Row]:
        return [tuple(row) for row in await self._connection.fetch(_numbered(sql), *values)]


@lru_cache(maxsize=256)
def _numbered(sql: str) -> str:
    """``?`` placeholders as Postgres' ``$1, $2, ...`` (the shared SQL has no literal '?')."""
    numbers = iter(range(1, sql.count("?") + 1))
    return _PLACEHOLDER.sub(lambda _: f"${next(numbers)}", sql)


def _connect_options(url: str) -> tuple[str, dict[str, str]]:
    """The DSN asyncpg understands, and the server settings our own ``schema`` asks for."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    schemas = [value for name, value in query if name == "schema"]
    rest = [(name, value) for name, value in query if name != "schema"]
    dsn = urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(rest)))
    if not schemas:
        return dsn, {}
    schema = schemas[-1]
    if not _SCHEMA_NAME.match(schema):
        raise ConfigError(
            f"The schema in DATABASE_URL must be a plain lower-case name, not '{schema}'."
        )
    return dsn, {"search_path": schema}


def _import_asyncpg() -> Any:
    try:
        import asyncpg
    except ImportError:
        raise ConfigError(
            "DATABASE_URL names PostgreSQL, which needs asyncpg: install rapbattle[postgres]."
        ) from None
    return asyncpg

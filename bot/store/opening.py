"""Opening the store a DATABASE_URL names: the one module that knows every backend."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.errors import ConfigError

if TYPE_CHECKING:
    from bot.store.sql import SQLStore


async def open_store(url: str) -> SQLStore:
    """Opens (and migrates) the store a DATABASE_URL names.

    sqlite:///relative/path.db and sqlite:////absolute/path.db (as in SQLAlchemy), or
    postgresql://user@host/db (also postgres://), optionally with ?schema=NAME.
    """
    scheme = url.split(":", 1)[0]
    if url.startswith("sqlite:///"):
        from bot.store.sqlite import SQLiteStore

        return await SQLiteStore.open(url.removeprefix("sqlite:///"))
    if scheme in ("postgresql", "postgres"):
        from bot.store.postgres import PostgresStore

        return await PostgresStore.open(url)
    raise ConfigError(f"DATABASE_URL must start with sqlite:/// or postgresql://, not '{scheme}:'.")

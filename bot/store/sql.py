"""The store over SQL: every query module's part, on the connections a backend hands out.

A backend (sqlite.py, postgres.py) subclasses SQLStore and supplies connections and transactions
(executor.py); the SQL itself is written once for every backend, in the query modules, each one
part of the store: battle_queries.py (battles, turns, ballots), settings_queries.py,
spend_queries.py, aggregates.py (the boards), season_queries.py (a season's boards),
verdict_queries.py, tournament_queries.py, track_queries.py (battle tracks), schedule_queries.py,
web_queries.py and copy_queries.py. Here the store is opened and its schema migrated.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Self

from bot.store.aggregates import BoardQueries
from bot.store.audit_queries import AuditQueries
from bot.store.battle_queries import BattleQueries
from bot.store.copy_queries import CopyQueries
from bot.store.executor import Executor
from bot.store.loose_end_queries import LooseEndQueries
from bot.store.migrations import migration_scripts, statements
from bot.store.moderation_queries import ModerationQueries
from bot.store.schedule_queries import ScheduleQueries
from bot.store.season_queries import SeasonQueries
from bot.store.settings_queries import SettingsQueries
from bot.store.spend_queries import SpendQueries
from bot.store.tournament_queries import TournamentQueries
from bot.store.track_queries import TrackQueries
from bot.store.verdict_queries import VerdictQueries
from bot.store.web_queries import WebQueries

_MIGRATIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations "
    "(version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
)


class SQLStore(
    BattleQueries,
    SettingsQueries,
    SpendQueries,
    BoardQueries,
    SeasonQueries,
    VerdictQueries,
    AuditQueries,
    LooseEndQueries,
    TournamentQueries,
    TrackQueries,
    ModerationQueries,
    ScheduleQueries,
    WebQueries,
    CopyQueries,
):
    """The Store, over any backend that can hand out an Executor. Each method is one transaction."""

    async def _start(self) -> Self:
        """Prepares and migrates a newly opened store; closes it if that fails."""
        try:
            await self._prepare()
            await self.migrate()
        except BaseException:
            await self.close()
            raise
        return self

    async def schema_version(self) -> int:
        async with self._reader() as db:
            return await _version(db)

    async def migrate(self) -> int:
        """Applies pending migrations; returns the schema version."""
        scripts = migration_scripts(self.dialect)
        version = await self._migrate_once(scripts)
        while version < len(scripts):
            version = await self._migrate_once(scripts)
        return version

    async def _migrate_once(self, scripts: Sequence[str]) -> int:
        """Applies the next pending migration, if any; returns the version after it.

        The version is read inside the transaction, after the lock, so that two processes
        starting at once cannot both apply the same migration.
        """
        async with self._change() as db:
            await self._lock_migrations(db)
            await db.execute(_MIGRATIONS_TABLE)
            version = await _version(db)
            if version >= len(scripts):
                return version
            for statement in statements(scripts[version]):
                await db.execute(statement)
            await db.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                (version + 1, time.time()),
            )
            return version + 1


async def _version(db: Executor) -> int:
    return int((await db.fetch("SELECT MAX(version) FROM schema_migrations"))[0][0] or 0)

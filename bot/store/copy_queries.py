"""A whole store's raw rows, read from one store and loaded into another (``rapbattle copy-db``,
bot/cli/copy_db.py), and nothing else.

SQLStore inherits these, so a copy runs between any two backends (typically SQLite to
PostgreSQL), ids and all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from bot.engine.server_settings import SETTINGS
from bot.engine.setting import SettingKind
from bot.errors import UserError
from bot.store.aggregates import CROWD_TABLES, copied_tables
from bot.store.audit_queries import AUDIT_TABLES
from bot.store.battle_queries import BATTLE_NAMES
from bot.store.executor import Executor, Row, SQLDatabase
from bot.store.loose_end_queries import LOOSE_END_BOOLEAN_COLUMNS, LOOSE_END_TABLES
from bot.store.moderation_queries import MODERATION_TABLES
from bot.store.schedule_queries import SCHEDULE_TABLES
from bot.store.settings_queries import SETTINGS_NAMES
from bot.store.tournament_queries import TOURNAMENT_BOOLEANS, TOURNAMENT_TABLES
from bot.store.track_queries import TRACK_TABLES
from bot.store.verdict_queries import VERDICT_BOOLEAN_COLUMNS, VERDICT_TABLES

# Every table but schema_migrations, parents before children, each with all its columns and the
# primary key that orders its rows.
COPIED_TABLES: dict[str, tuple[tuple[str, ...], str]] = {
    "battles": ((*BATTLE_NAMES, "closed_at"), "id"),
    "turns": (
        (
            "battle_id",
            "position",
            "speaker",
            "side",
            "round",
            "text",
            "prompt_tokens",
            "completion_tokens",
            "cost_usd",
        ),
        "battle_id, position",
    ),
    "ballots": (("battle_id", "user_id", "side"), "battle_id, user_id"),
    **AUDIT_TABLES,
    **TRACK_TABLES,
    **MODERATION_TABLES,
    "server_settings": (("guild_id", *SETTINGS_NAMES), "guild_id"),
    **copied_tables(CROWD_TABLES),
    "rating_versions": (("guild_id", "version"), "guild_id"),
    **VERDICT_TABLES,
    **LOOSE_END_TABLES,
    **TOURNAMENT_TABLES,
    **SCHEDULE_TABLES,
}
# SQLite hands booleans back as 0 and 1; Postgres accepts only true booleans.
_BOOLEAN_COLUMNS = frozenset(
    {"blind", "sides_swapped", "scheduled", *TOURNAMENT_BOOLEANS}
    | {setting.name for setting in SETTINGS if setting.kind is SettingKind.SWITCH}
    | VERDICT_BOOLEAN_COLUMNS
    | LOOSE_END_BOOLEAN_COLUMNS
)


class DestinationNotEmpty(UserError):
    """A copy was aimed at a store that already holds rows."""


class CopyQueries(SQLDatabase):
    """Mixed into SQLStore: every row of every table, read out and loaded in."""

    async def table_rows(self, table: str) -> list[Row]:
        """Every row of one of COPIED_TABLES, columns in COPIED_TABLES order."""
        columns, key = COPIED_TABLES[table]
        rows = await self._fetch(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {key}")
        booleans = [i for i, column in enumerate(columns) if column in _BOOLEAN_COLUMNS]
        return [_with_booleans(row, booleans) for row in rows] if booleans else rows

    async def row_counts(self) -> dict[str, int]:
        async with self._reader() as db:
            return {table: await _count(db, table) for table in COPIED_TABLES}

    async def load_rows(self, tables: Mapping[str, Sequence[Row]]) -> None:
        """Inserts copied rows, ids and all, in one transaction; refuses a store with any rows."""
        async with self._change() as db:
            held = {table: await _count(db, table) for table in COPIED_TABLES}
            if any(held.values()):
                listed = ", ".join(f"{table} {count}" for table, count in held.items() if count)
                raise DestinationNotEmpty(f"The destination is not empty ({listed}).")
            for table, (columns, _) in COPIED_TABLES.items():
                await db.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)})"
                    f" VALUES ({', '.join('?' for _ in columns)})",
                    tables.get(table, ()),
                )
            await self._after_copy(db)


async def _count(db: Executor, table: str) -> int:
    return int((await db.fetch(f"SELECT COUNT(*) FROM {table}"))[0][0])


def _with_booleans(row: Row, positions: Iterable[int]) -> Row:
    values = list(row)
    for i in positions:
        values[i] = None if values[i] is None else bool(values[i])
    return tuple(values)

"""A server's settings in the store's shared SQL: one row per server, one column per setting of
``SETTINGS`` (bot/engine/server_settings.py), so that a new setting needs a migration and nothing
here.

SQLStore inherits these, so they run on SQLite and PostgreSQL alike with ``?`` placeholders.
"""

from __future__ import annotations

from bot.engine.server_settings import SETTINGS, ServerSettings
from bot.store.aggregates import bump_rating_version
from bot.store.executor import SQLDatabase

SETTINGS_NAMES = tuple(setting.name for setting in SETTINGS)
_SETTINGS_COLUMNS = ", ".join(SETTINGS_NAMES)


class SettingsQueries(SQLDatabase):
    """Mixed into SQLStore: each server's settings."""

    async def server_settings(self, guild_id: int) -> ServerSettings:
        rows = await self._fetch(
            f"SELECT {_SETTINGS_COLUMNS} FROM server_settings WHERE guild_id = ?", (guild_id,)
        )
        return ServerSettings.from_row(rows[0]) if rows else ServerSettings()

    async def save_server_settings(self, guild_id: int, settings: ServerSettings) -> None:
        values = settings.to_row()
        assignments = ", ".join(f"{column} = excluded.{column}" for column in SETTINGS_NAMES)
        async with self._change() as db:
            await db.execute(
                f"INSERT INTO server_settings (guild_id, {_SETTINGS_COLUMNS})"
                f" VALUES (?, {', '.join('?' for _ in values)})"
                f" ON CONFLICT (guild_id) DO UPDATE SET {assignments}",
                (guild_id, *values),
            )
            await bump_rating_version(db, guild_id)  # The global board may gain or lose it.

"""Schedules in the store's shared SQL: each server's schedules, what they run (a JSON object) and
when each runs next.

SQLStore inherits these, so they run on SQLite and PostgreSQL alike with ``?`` placeholders;
tests/fakes/memory_store.py keeps the same contract in memory. A run is claimed by moving the
schedule's next run on from the time it was due (``UPDATE ... WHERE next_run_at = ?``), so that of
two claims only one applies.
"""

from __future__ import annotations

import json

from bot.engine.schedules import ScheduleKind, plan_from
from bot.store.base import NewSchedule, StoredSchedule
from bot.store.executor import Row, SQLDatabase

_SCHEDULE_NAMES = (
    "id",
    "guild_id",
    "channel_id",
    "kind",
    "every_seconds",
    "next_run_at",
    "created_by",
    "created_at",
    "options",
)
_SCHEDULE_COLUMNS = ", ".join(_SCHEDULE_NAMES)
# For copying a whole store (copy_queries.py's COPIED_TABLES): columns and ordering key.
SCHEDULE_TABLES: dict[str, tuple[tuple[str, ...], str]] = {"schedules": (_SCHEDULE_NAMES, "id")}


class ScheduleQueries(SQLDatabase):
    """Mixed into SQLStore: the schedules of every server."""

    async def add_schedule(self, new: NewSchedule, now: float, limit: int) -> StoredSchedule | None:
        options = json.dumps(new.plan.options(), sort_keys=True)
        async with self._change() as db:
            # Counted and inserted in one statement of one transaction: the insert happens only
            # while the server has fewer than ``limit``.
            rows = await db.fetch(
                "INSERT INTO schedules (guild_id, channel_id, kind, every_seconds, next_run_at,"
                " created_by, created_at, options)"
                " SELECT ?, ?, ?, ?, ?, ?, ?, ?"
                " WHERE (SELECT COUNT(*) FROM schedules WHERE guild_id = ?) < ?"
                " RETURNING id",
                (
                    new.guild_id,
                    new.channel_id,
                    new.plan.kind.value,
                    new.every_seconds,
                    new.next_run_at,
                    new.created_by,
                    now,
                    options,
                    new.guild_id,
                    limit,
                ),
            )
        if not rows:
            return None
        return StoredSchedule(
            rows[0][0],
            new.guild_id,
            new.channel_id,
            new.created_by,
            new.every_seconds,
            new.plan,
            new.next_run_at,
            now,
        )

    async def schedules(self, guild_id: int | None = None) -> list[StoredSchedule]:
        if guild_id is None:
            rows = await self._fetch(f"SELECT {_SCHEDULE_COLUMNS} FROM schedules ORDER BY id")
        else:
            rows = await self._fetch(
                f"SELECT {_SCHEDULE_COLUMNS} FROM schedules WHERE guild_id = ? ORDER BY id",
                (guild_id,),
            )
        return [_stored_schedule(row) for row in rows]

    async def remove_schedule(self, guild_id: int, schedule_id: int) -> bool:
        async with self._change() as db:
            removed = await db.execute(
                "DELETE FROM schedules WHERE id = ? AND guild_id = ?", (schedule_id, guild_id)
            )
        return removed == 1

    async def advance_schedule(self, schedule_id: int, due_at: float, next_run_at: float) -> bool:
        async with self._change() as db:
            changed = await db.execute(
                "UPDATE schedules SET next_run_at = ? WHERE id = ? AND next_run_at = ?",
                (next_run_at, schedule_id, due_at),
            )
        return changed == 1


def _stored_schedule(row: Row) -> StoredSchedule:
    (
        schedule_id,
        guild_id,
        channel_id,
        kind,
        every_seconds,
        next_run_at,
        created_by,
        created_at,
        options,
    ) = row
    return StoredSchedule(
        id=schedule_id,
        guild_id=guild_id,
        channel_id=channel_id,
        created_by=created_by,
        every_seconds=int(every_seconds),
        plan=plan_from(ScheduleKind(kind), json.loads(options)),
        next_run_at=float(next_run_at),
        created_at=float(created_at),
    )

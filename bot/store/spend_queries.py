"""What the models cost, in the store's shared SQL: tokens and USD summed over every paid request
of the battles a server started.

SQLStore inherits these, so they run on SQLite and PostgreSQL alike with ``?`` placeholders.
"""

from __future__ import annotations

from typing import Any

from bot.engine.spend import Spend, SpendReport
from bot.store.executor import SQLDatabase
from bot.store.moderation_queries import WITHHELD_SPEND_SOURCE

# Every model request that was paid for, one row each: (battle_id, prompt_tokens,
# completion_tokens, cost_usd). Spend is summed over all of them, by the battle's server and
# start time. Another source of usage (the judges' ballots) is one more SELECT here.
SPEND_SOURCES: tuple[str, ...] = (
    "SELECT battle_id, prompt_tokens, completion_tokens, cost_usd FROM turns"
    " WHERE prompt_tokens IS NOT NULL",
    "SELECT battle_id, prompt_tokens, completion_tokens, cost_usd FROM judge_ballots",
    WITHHELD_SPEND_SOURCE,
)


class SpendQueries(SQLDatabase):
    """Mixed into SQLStore: spend, per server or every server, since a time or ever."""

    async def spend(self, guild_id: int | None, since: float | None = None) -> Spend:
        conditions: list[str] = []
        values: list[Any] = []
        if guild_id is not None:
            conditions.append("b.guild_id = ?")
            values.append(guild_id)
        if since is not None:
            conditions.append("b.created_at >= ?")
            values.append(since)
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        [row] = await self._fetch(
            "SELECT COUNT(*), COALESCE(SUM(u.prompt_tokens), 0),"
            " COALESCE(SUM(u.completion_tokens), 0), COALESCE(SUM(u.cost_usd), 0),"
            " COALESCE(SUM(CASE WHEN u.cost_usd IS NULL THEN 1 ELSE 0 END), 0)"
            f" FROM ({' UNION ALL '.join(SPEND_SOURCES)}) AS u"
            f" JOIN battles AS b ON b.id = u.battle_id{where}",
            values,
        )
        return Spend(int(row[1]), int(row[2]), float(row[3]), int(row[0]), int(row[4]))

    async def spend_report(self, guild_id: int, today_starts_at: float) -> SpendReport:
        return SpendReport(
            server_today=await self.spend(guild_id, today_starts_at),
            server_all_time=await self.spend(guild_id),
            global_today=await self.spend(None, today_starts_at),
            global_all_time=await self.spend(None),
        )

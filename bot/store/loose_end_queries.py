"""Two small parts of the store's shared SQL: each judge's answer kept as soon as it comes in
(so that a restart during the vote asks only the judges who had not answered), and the names of
the servers that publish their page.

SQLStore inherits these, so they run on SQLite and PostgreSQL alike with ``?`` placeholders;
tests/fakes/memory_store.py keeps the same contract in memory.
"""

from __future__ import annotations

from bot.engine.verdicts import Ballot
from bot.store.aggregates import bump_rating_version
from bot.store.executor import SQLDatabase
from bot.store.verdict_queries import ballot_from_row

_ANSWER_COLUMNS = (
    "battle_id",
    "judge",
    "side",
    "statement",
    "abstained",
    "same_vendor",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
)
# For copying a whole store (copy_queries.py's COPIED_TABLES): columns and ordering keys.
LOOSE_END_TABLES: dict[str, tuple[tuple[str, ...], str]] = {
    "judge_answers": (_ANSWER_COLUMNS, "battle_id, judge"),
    "server_names": (("guild_id", "name", "updated_at"), "guild_id"),
}
LOOSE_END_BOOLEAN_COLUMNS = frozenset({"same_vendor"})


class LooseEndQueries(SQLDatabase):
    """Mixed into SQLStore: judges' answers as they come in, and public servers' names."""

    async def keep_judge_answer(self, battle_id: int, ballot: Ballot) -> None:
        async with self._change() as db:
            await db.execute(
                f"INSERT INTO judge_answers ({', '.join(_ANSWER_COLUMNS)})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (battle_id, judge) DO NOTHING",
                (
                    battle_id,
                    ballot.judge,
                    ballot.pick.value if ballot.pick else None,
                    ballot.statement,
                    ballot.abstained,
                    ballot.same_vendor,
                    ballot.prompt_tokens,
                    ballot.completion_tokens,
                    ballot.cost_usd,
                ),
            )

    async def judge_answers(self, battle_id: int) -> dict[str, Ballot]:
        rows = await self._fetch(
            "SELECT judge, side, statement, abstained, same_vendor, prompt_tokens,"
            " completion_tokens, cost_usd FROM judge_answers WHERE battle_id = ?",
            (battle_id,),
        )
        return {row[0]: ballot_from_row(*row) for row in rows}

    async def name_server(self, guild_id: int, name: str, now: float) -> None:
        async with self._change() as db:
            await db.execute(
                "INSERT INTO server_names (guild_id, name, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (guild_id) DO UPDATE SET name = excluded.name,"
                " updated_at = excluded.updated_at",
                (guild_id, name, now),
            )
            await bump_rating_version(db, guild_id)  # its cached pages are redrawn with it

    async def rename_server(self, guild_id: int, name: str, now: float) -> bool:
        async with self._change() as db:
            changed = await db.execute(
                "UPDATE server_names SET name = ?, updated_at = ? WHERE guild_id = ? AND name <> ?",
                (name, now, guild_id, name),
            )
            if changed == 1:
                await bump_rating_version(db, guild_id)
            return changed == 1

    async def server_name(self, guild_id: int) -> str | None:
        rows = await self._fetch("SELECT name FROM server_names WHERE guild_id = ?", (guild_id,))
        return rows[0][0] if rows else None

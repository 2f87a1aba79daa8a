"""The content filter in the store's shared SQL: the verse a battle's filter withheld, kept for
the server's admins, and how many each model has had withheld.

SQLStore inherits these, so they run on SQLite and PostgreSQL alike with ``?`` placeholders;
tests/fakes/memory_moderation.py keeps the same contract in memory.
"""

from __future__ import annotations

from typing import Any

from bot.engine.battle import Side
from bot.engine.content_filter import Category
from bot.engine.lifecycle import BattleState, check_move
from bot.engine.spend import TokenUsage
from bot.store.base import StoredWithheldVerse
from bot.store.executor import SQLDatabase

_COLUMNS = (
    "battle_id",
    "side",
    "model",
    "round",
    "category",
    "text",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "created_at",
)
# For copying a whole store (copy_queries.py's COPIED_TABLES): columns and ordering key.
MODERATION_TABLES: dict[str, tuple[tuple[str, ...], str]] = {
    "withheld_verses": (_COLUMNS, "battle_id"),
}
# A withheld verse was paid for: spend_queries.py's SPEND_SOURCES counts it too.
WITHHELD_SPEND_SOURCE = (
    "SELECT battle_id, prompt_tokens, completion_tokens, cost_usd FROM withheld_verses"
    " WHERE prompt_tokens IS NOT NULL"
)


class ModerationQueries(SQLDatabase):
    """Mixed into SQLStore: withheld verses."""

    async def withhold_verse(self, verse: StoredWithheldVerse, reason: str) -> bool:
        check_move(BattleState.RUNNING, BattleState.NO_CONTEST)
        usage = verse.usage
        async with self._change() as db:
            # Conditional on the state, as every move is: a battle stopped meanwhile keeps
            # its own ending, and no verse is kept for it.
            changed = await db.execute(
                "UPDATE battles SET state = ?, reason = ? WHERE id = ? AND state = ?",
                (
                    BattleState.NO_CONTEST.value,
                    reason,
                    verse.battle_id,
                    BattleState.RUNNING.value,
                ),
            )
            if changed != 1:
                return False
            await db.execute(
                f"INSERT INTO withheld_verses ({', '.join(_COLUMNS)})"
                f" VALUES ({', '.join('?' for _ in _COLUMNS)})",
                (
                    verse.battle_id,
                    verse.side.value,
                    verse.model,
                    verse.round,
                    verse.category.value,
                    verse.text,
                    usage.prompt_tokens if usage else None,
                    usage.completion_tokens if usage else None,
                    usage.cost_usd if usage else None,
                    verse.created_at,
                ),
            )
            return True

    async def withheld_verses(self, battle_id: int) -> list[StoredWithheldVerse]:
        rows = await self._fetch(
            f"SELECT {', '.join(_COLUMNS)} FROM withheld_verses WHERE battle_id = ?",
            (battle_id,),
        )
        return [_verse(row) for row in rows]

    async def withheld_counts(self, guild_id: int | None) -> dict[str, int]:
        where, values = "", ()
        if guild_id is not None:
            where, values = " WHERE b.guild_id = ?", (guild_id,)
        rows = await self._fetch(
            "SELECT w.model, COUNT(*) FROM withheld_verses AS w"
            f" JOIN battles AS b ON b.id = w.battle_id{where}"
            " GROUP BY w.model ORDER BY w.model",
            values,
        )
        return {str(model): int(count) for model, count in rows}


def _verse(row: tuple[Any, ...]) -> StoredWithheldVerse:
    battle_id, side, model, round_, category, text, prompt, completion, cost, created_at = row
    usage = None if prompt is None else TokenUsage(int(prompt), int(completion or 0), cost)
    return StoredWithheldVerse(
        int(battle_id),
        Side(side),
        str(model),
        int(round_),
        Category(category),
        str(text),
        float(created_at),
        usage,
    )

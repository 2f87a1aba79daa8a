"""The content filter's part of the in-memory store, keeping bot/store/moderation_queries.py's
contract: a withheld verse kept as its battle ends as a no contest, read back, and counted."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from typing import TYPE_CHECKING

from bot.engine.lifecycle import check_move
from bot.store.base import BattleState, StoredWithheldVerse

if TYPE_CHECKING:
    from tests.fakes.memory_store import MemoryTables


class MemoryModeration:
    """Mixed into MemoryStore."""

    _tables: MemoryTables

    if TYPE_CHECKING:  # MemoryStore's own

        def _change(self) -> contextlib.AbstractContextManager[MemoryTables]: ...

    async def withhold_verse(self, verse: StoredWithheldVerse, reason: str) -> bool:
        check_move(BattleState.RUNNING, BattleState.NO_CONTEST)
        await _round_trip()
        with self._change() as tables:
            stored = tables.battles.get(verse.battle_id)
            if stored is None or stored.state is not BattleState.RUNNING:
                return False
            tables.battles[verse.battle_id] = replace(
                stored, state=BattleState.NO_CONTEST, reason=reason
            )
            tables.withheld_verses[verse.battle_id] = verse
            return True

    async def withheld_verses(self, battle_id: int) -> list[StoredWithheldVerse]:
        await _round_trip()
        verse = self._tables.withheld_verses.get(battle_id)
        return [verse] if verse is not None else []

    async def withheld_counts(self, guild_id: int | None) -> dict[str, int]:
        await _round_trip()
        counts: dict[str, int] = {}
        for battle_id, verse in self._tables.withheld_verses.items():
            if guild_id is None or self._tables.battles[battle_id].guild_id == guild_id:
                counts[verse.model] = counts.get(verse.model, 0) + 1
        return dict(sorted(counts.items()))


async def _round_trip() -> None:
    """Lets other tasks run here, as waiting for a database would."""
    await asyncio.sleep(0)

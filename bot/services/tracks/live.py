"""A battle's track made as the battle goes: a stage that also hands each posted turn to a track
builder, so each verse's speech is asked for the moment the verse is shown, and only the last
verse's speech is left to wait for when the battle ends."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from bot.engine.battle import Battle, Turn
from bot.services.battles.referee import Stage
from bot.services.tracks.maker import TrackBuilder


class TrackingStage:
    """``stage`` as it is, and each verse and announcement it posts added to ``builder``."""

    def __init__(self, stage: Stage, builder: TrackBuilder) -> None:
        self._stage = stage
        self._builder = builder

    async def post_verse(self, battle: Battle, turn: Turn) -> None:
        await self._stage.post_verse(battle, turn)
        self._builder.add(turn)

    async def announce(self, battle: Battle, turn: Turn) -> None:
        await self._stage.announce(battle, turn)
        self._builder.add(turn)

    def writing(
        self, battle: Battle, turn: Turn, progress: Callable[[], int]
    ) -> AbstractAsyncContextManager[None]:
        return self._stage.writing(battle, turn, progress)

    def pausing(self, battle: Battle, seconds: float) -> AbstractAsyncContextManager[None]:
        return self._stage.pausing(battle, seconds)

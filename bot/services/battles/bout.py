"""One bout: a battle's verses through the referee, then what follows them, on any stage.

The terminal, Discord and tournaments all run battles through this, so the step after the verses
(the judges' panel) lives in one place: the jury starts the moment the last verse is written,
while that verse is still being read, and its verdict is awaited by whoever shows it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from bot.engine.battle import Battle, Turn
from bot.engine.pacing import Pace
from bot.services.battles.referee import (
    BattleResult,
    Outcome,
    Performer,
    Referee,
    Stage,
    VerseScreen,
    VerseSource,
    cancel_and_wait,
)

VerdictT = TypeVar("VerdictT", covariant=True)


class Jury(Protocol[VerdictT]):
    async def judge(self, battle: Battle, turns: Sequence[Turn]) -> VerdictT: ...


@dataclass(frozen=True, slots=True)
class BoutResult(Generic[VerdictT]):
    verses: BattleResult
    # The jury's work, started as soon as every verse was written; None without a jury or when
    # the battle did not complete.
    verdict: asyncio.Task[VerdictT] | None

    @property
    def completed(self) -> bool:
        return self.verses.outcome is Outcome.COMPLETED


class Bout(Generic[VerdictT]):
    """Runs a battle's verses on a stage and starts the jury (if any) when they are written."""

    def __init__(
        self,
        battle: Battle,
        models: VerseSource,
        stage: Stage,
        pace: Pace,
        jury: Jury[VerdictT] | None = None,
        performer: Performer | None = None,
        screen: VerseScreen | None = None,
    ) -> None:
        self.battle = battle
        self._jury = jury
        self._verdict: asyncio.Task[VerdictT] | None = None
        self.referee = Referee(
            battle,
            models,
            stage,
            pace,
            on_all_written=self._start_jury if jury else None,
            performer=performer,  # a battle also performed live (bot/services/live/)
            screen=screen,  # the content filter (bot/services/moderation/)
        )

    def stop(self, reason: str) -> None:
        self.referee.stop(reason)

    async def run(self) -> BoutResult[VerdictT]:
        try:
            verses = await self.referee.run()
        except BaseException:
            await self._cancel_verdict()
            raise
        if verses.outcome is not Outcome.COMPLETED:
            await self._cancel_verdict()
        elif self._jury is not None and self._verdict is None:
            self._start_jury(verses.turns)  # A referee that never reported the verses written.
        return BoutResult(verses, self._verdict)

    def _start_jury(self, turns: tuple[Turn, ...]) -> None:
        assert self._jury is not None
        self._verdict = asyncio.create_task(
            self._jury.judge(self.battle, turns),
            name=f"jury {self.battle.model_a} v {self.battle.model_b}",
        )

    async def _cancel_verdict(self) -> None:
        if self._verdict is not None:
            await cancel_and_wait(self._verdict)
            self._verdict = None

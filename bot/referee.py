"""The referee runs one battle against a model client and a stage."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from bot.engine.battle import FINAL_ROUND, Battle, Slot, Turn
from bot.engine.pacing import Pace
from bot.engine.prompts import Message, messages_for
from bot.errors import UserError

log = logging.getLogger(__name__)


class VerseSource(Protocol):
    async def generate_verse(
        self,
        model: str,
        messages: Sequence[Message],
        on_progress: Callable[[int], None] | None = None,
    ) -> str: ...


class Stage(Protocol):
    """Where a battle is shown: a Discord channel, a terminal, a test's list."""

    async def post_verse(self, battle: Battle, turn: Turn) -> None: ...

    async def announce(self, battle: Battle, turn: Turn) -> None: ...

    def writing(
        self, battle: Battle, turn: Turn, progress: Callable[[], int]
    ) -> AbstractAsyncContextManager[None]:
        """Shown while the audience waits for ``turn``'s speaker (its text is still empty)."""
        ...


class Outcome(enum.Enum):
    COMPLETED = "completed"
    NO_CONTEST = "no contest"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class BattleResult:
    battle: Battle
    turns: tuple[Turn, ...]
    outcome: Outcome
    reason: str | None = None


class _Generation:
    """One verse being written in the background, with how much of it has arrived."""

    def __init__(self, referee: Referee, slot: Slot, position: int, history: list[Turn]) -> None:
        self.slot = slot
        self.position = position
        self.received = 0
        battle = referee.battle
        assert slot.side is not None
        messages = messages_for(battle, slot.side, history)
        self.task = asyncio.create_task(
            referee.models.generate_verse(battle.model(slot.side), messages, self._progress),
            name=f"verse {battle.model(slot.side)} round {slot.round}",
        )

    def _progress(self, received: int) -> None:
        self.received = received


class Referee:
    """Posts a battle's turns in order, writing each verse while the previous one is read.

    The next verse is requested as soon as the previous one is written, so with models taking
    g seconds and a pause of p, n verses take about g + (n-1)·max(g, p).
    """

    def __init__(
        self,
        battle: Battle,
        models: VerseSource,
        stage: Stage,
        pace: Pace,
        *,
        on_all_written: Callable[[tuple[Turn, ...]], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.battle = battle
        self._on_all_written = on_all_written
        self.models = models
        self.stage = stage
        self.pace = pace
        self._clock = clock
        self._posted: list[Turn] = []
        self._stop_requested = asyncio.Event()
        self._stop_reason: str | None = None

    @property
    def posted(self) -> tuple[Turn, ...]:
        """Every turn posted so far; a consistent partial battle at any moment."""
        return tuple(self._posted)

    def stop(self, reason: str = "stopped") -> None:
        """Ends the battle at the next wait; a post under way is finished first."""
        self._stop_reason = reason
        self._stop_requested.set()

    async def run(self) -> BattleResult:
        plan = self.battle.plan()
        verse_positions = [index for index, slot in enumerate(plan) if not slot.is_announcement]
        verses: dict[int, Turn] = {}
        generation = self._start(plan, verse_positions[0], verses)
        next_post_at = self._clock()
        try:
            for index, slot in enumerate(plan):
                if slot.is_announcement:
                    await self._until(next_post_at)
                    await self._post(self.stage.announce, self.battle.turn(slot, FINAL_ROUND))
                    continue
                assert generation is not None and generation.position == index
                turn = await self._written(generation, next_post_at)
                verses[index] = turn
                later = [position for position in verse_positions if position > index]
                if not later and self._on_all_written is not None:
                    self._on_all_written(tuple(self._history(plan, len(plan), verses)))
                generation = self._start(plan, later[0], verses) if later else None
                await self._until(next_post_at)
                await self._post(self.stage.post_verse, turn)
                next_post_at = self._clock() + self.pace.pause_after(turn.text)
        except _Stopped:
            return self._result(Outcome.STOPPED, self._stop_reason)
        except UserError as error:
            log.info("Battle %s v %s ended: %s", self.battle.model_a, self.battle.model_b, error)
            return self._result(Outcome.NO_CONTEST, str(error))
        finally:
            if generation is not None:
                await _cancel(generation.task)
        return self._result(Outcome.COMPLETED, None)

    def _history(self, plan: list[Slot], end: int, verses: dict[int, Turn]) -> list[Turn]:
        """The turns before plan position ``end``, as the models see them."""
        return [
            self.battle.turn(slot, FINAL_ROUND) if slot.is_announcement else verses[index]
            for index, slot in enumerate(plan[:end])
        ]

    def _start(self, plan: list[Slot], position: int, verses: dict[int, Turn]) -> _Generation:
        return _Generation(self, plan[position], position, self._history(plan, position, verses))

    async def _written(self, generation: _Generation, deadline: float) -> Turn:
        """The verse once written; past the deadline the stage shows that the model is writing."""
        await self._wait(generation.task, deadline - self._clock())
        if not generation.task.done():
            placeholder = self.battle.turn(generation.slot, "")
            async with self.stage.writing(self.battle, placeholder, lambda: generation.received):
                await self._wait(generation.task, None)
        return self.battle.turn(generation.slot, generation.task.result())

    async def _post(self, post: Callable[[Battle, Turn], Awaitable[None]], turn: Turn) -> None:
        await post(self.battle, turn)
        self._posted.append(turn)

    async def _until(self, deadline: float) -> None:
        delay = deadline - self._clock()
        if delay > 0:
            await self._wait(None, delay)
        elif self._stop_requested.is_set():
            raise _Stopped

    async def _wait(self, task: asyncio.Task[str] | None, seconds: float | None) -> None:
        """Waits for ``task`` or ``seconds``; raises _Stopped as soon as stop() is called."""
        if seconds is not None and seconds <= 0 and not self._stop_requested.is_set():
            return
        stop_waiter = asyncio.ensure_future(self._stop_requested.wait())
        waiters: set[asyncio.Future[object]] = {stop_waiter}
        if task is not None:
            waiters.add(task)
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await _cancel(stop_waiter)
        if self._stop_requested.is_set():
            raise _Stopped

    def _result(self, outcome: Outcome, reason: str | None) -> BattleResult:
        return BattleResult(self.battle, self.posted, outcome, reason)


class _Stopped(Exception):
    """Unwinds a battle after stop(); never leaves the referee."""


async def _cancel(task: asyncio.Future[object]) -> None:
    if task.done():
        if not task.cancelled():
            task.exception()  # Mark it retrieved: its error, if any, was already handled.
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

"""The referee runs one battle against a model client and a stage."""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from bot.engine.battle import FINAL_ROUND, Battle, Side, Slot, Turn
from bot.engine.content_filter import Category, Screening, Withheld, withheld_line
from bot.engine.pacing import Pace, performed_pause
from bot.engine.prompts import Message, messages_for
from bot.engine.spend import WrittenVerse
from bot.errors import UserError

log = logging.getLogger(__name__)


class VerseSource(Protocol):
    async def generate_verse(
        self,
        model: str,
        messages: Sequence[Message],
        on_progress: Callable[[int], None] | None = None,
    ) -> str: ...


@runtime_checkable
class MeteredVerseSource(VerseSource, Protocol):
    """A verse source that also says what each verse cost (bot.llm.LLMClient does). Whoever
    keeps the spend asks for it when the source has it; plain sources still serve."""

    async def write_verse(
        self,
        model: str,
        messages: Sequence[Message],
        on_progress: Callable[[int], None] | None = None,
    ) -> WrittenVerse: ...


class Stage(Protocol):
    """Where a battle is shown: a Discord channel, a terminal, a test's list."""

    async def post_verse(self, battle: Battle, turn: Turn) -> None: ...

    async def announce(self, battle: Battle, turn: Turn) -> None: ...

    def writing(
        self, battle: Battle, turn: Turn, progress: Callable[[], int]
    ) -> AbstractAsyncContextManager[None]:
        """Shown while the audience waits for ``turn``'s speaker (its text is still empty)."""
        ...

    def pausing(self, battle: Battle, seconds: float) -> AbstractAsyncContextManager[None]:
        """Shown while the audience reads: the next turn comes in ``seconds`` at the earliest."""
        ...


class Performer(Protocol):
    """A battle also performed aloud (in a voice channel): each turn's performance is prepared
    as soon as the turn is written, and a posted turn stays up while it is performed."""

    def written(self, turn: Turn) -> None:
        """``turn`` is written (or, for an announcement, reached): prepare its performance."""
        ...

    def performing_for(self, turn: Turn) -> float:
        """Seconds until ``turn``, just posted, is performed to its end (0: it is silent)."""
        ...

    @property
    def gap_seconds(self) -> float:
        """The breath between one performance and the next."""
        ...


class Outcome(enum.Enum):
    COMPLETED = "completed"
    NO_CONTEST = "no contest"
    STOPPED = "stopped"


class VerseScreen(Protocol):
    """The content filter at one battle's level (bot/services/moderation/): what becomes of
    a verse once it is written, before anyone sees it."""

    async def screen(self, text: str) -> Screening: ...


@dataclass(frozen=True, slots=True)
class WithheldVerse:
    """A verse the content filter withheld: never shown; the battle ends there."""

    side: Side
    round: int
    category: Category
    text: str  # as the model wrote it, kept for the server's admins only
    line: str  # what is shown in its place

    @property
    def reason(self) -> str:
        """Why the battle ended, as a stored reason (the line without its period)."""
        return self.line.removesuffix(".")


@dataclass(frozen=True, slots=True)
class BattleResult:
    battle: Battle
    turns: tuple[Turn, ...]
    outcome: Outcome
    reason: str | None = None
    withheld: WithheldVerse | None = None  # the verse that ended it as a no contest


class _Writer:
    """Writes a battle's verses one after another, each as soon as the one before it is written.

    It runs ahead of the posts: a verse that is slow to write overlaps the reading time of the
    verses before it instead of adding to it. Each verse's outcome lands in its own future, so
    the poster takes them in order; a failure ends the writing, so nothing past it is requested.
    """

    def __init__(
        self,
        battle: Battle,
        models: VerseSource,
        plan: list[Slot],
        on_all_written: Callable[[tuple[Turn, ...]], None] | None,
        on_written: Callable[[Turn], None] | None = None,
        *,
        screen: VerseScreen | None = None,
    ) -> None:
        self._battle = battle
        self._models = models
        self._plan = plan
        self._on_all_written = on_all_written
        self._on_written = on_written
        self._screen = screen
        loop = asyncio.get_running_loop()
        self.verses: dict[int, asyncio.Future[Turn]] = {
            position: loop.create_future()
            for position, slot in enumerate(plan)
            if not slot.is_announcement
        }
        self.received: dict[int, int] = dict.fromkeys(self.verses, 0)
        self.task = asyncio.create_task(
            self._write_all(), name=f"verses of {battle.model_a} v {battle.model_b}"
        )

    async def _write_all(self) -> None:
        history: list[Turn] = []
        for position, slot in enumerate(self._plan):
            if slot.is_announcement:
                history.append(self._battle.turn(slot, FINAL_ROUND))
                self._written(history[-1])
                continue
            try:
                turn = await self._write(position, slot, history)
            except Exception as error:  # Handed to the poster, which raises it in turn.
                self.verses[position].set_exception(error)
                return
            self.verses[position].set_result(turn)
            history.append(turn)
            self._written(turn)
        if self._on_all_written is not None:
            try:
                self._on_all_written(tuple(history))
            except Exception:
                log.exception(
                    "on_all_written failed for %s v %s", self._battle.model_a, self._battle.model_b
                )

    def _written(self, turn: Turn) -> None:
        if self._on_written is None:
            return
        try:
            self._on_written(turn)
        except Exception:  # A performance's trouble never stops the battle.
            log.exception(
                "on_written failed for %s v %s", self._battle.model_a, self._battle.model_b
            )

    async def _write(self, position: int, slot: Slot, history: list[Turn]) -> Turn:
        assert slot.side is not None
        model = self._battle.model(slot.side)
        messages = messages_for(self._battle, slot.side, history)

        def progress(received: int) -> None:
            self.received[position] = received

        text = await self._models.generate_verse(model, messages, progress)
        if self._screen is not None:
            # Screened here, while the verse before it is still on screen: pacing is unchanged.
            screening = await self._screen.screen(text)
            if isinstance(screening, Withheld):
                name = self._battle.stage_name(slot.side)
                line = withheld_line(name, screening.category)
                raise _VerseWithheld(
                    WithheldVerse(slot.side, slot.round, screening.category, text, line)
                )
            text = screening.text
        return self._battle.turn(slot, text)

    def progress(self, position: int) -> Callable[[], int]:
        """How many characters of the verse at ``position`` have arrived so far."""
        return lambda: self.received[position]

    async def close(self) -> None:
        """Cancels the verse being written; outcomes nobody will post are marked seen."""
        await _cancel(self.task)
        for verse in self.verses.values():
            if verse.done() and not verse.cancelled():
                verse.exception()
            else:
                verse.cancel()


class Referee:
    """Posts a battle's turns in order while the verses are written ahead of them.

    Each verse is requested as soon as the one before it is written, and each post comes at
    the later of "written" and "previous post + pace". With models taking g seconds and a pause
    of p, n verses take about g + (n-1)·max(g, p), and one slow verse costs only its own delay.
    """

    def __init__(
        self,
        battle: Battle,
        models: VerseSource,
        stage: Stage,
        pace: Pace,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_all_written: Callable[[tuple[Turn, ...]], None] | None = None,
        performer: Performer | None = None,
        screen: VerseScreen | None = None,
    ) -> None:
        """``on_all_written`` is called once, as soon as the last verse is written (before it
        is posted), with every turn of the battle in order; a jury can start reading then.
        ``performer``: the battle is also performed aloud, so each turn stays up at least as
        long as its performance (bot/engine/pacing.py's ``performed_pause``)."""
        self.battle = battle
        self.models = models
        self.stage = stage
        self.pace = pace
        self._clock = clock
        self._on_all_written = on_all_written
        self._performer = performer
        self._screen = screen  # the content filter; None: verses are shown as written
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
        performer = self._performer
        on_written = performer.written if performer is not None else None
        writer = _Writer(
            self.battle, self.models, plan, self._on_all_written, on_written, screen=self._screen
        )
        next_post_at = self._clock()
        try:
            for position, slot in enumerate(plan):
                if slot.is_announcement:
                    await self._pause(next_post_at, None)
                    announcement = self.battle.turn(slot, FINAL_ROUND)
                    await self._post(self.stage.announce, announcement)
                    next_post_at = max(next_post_at, self._clock() + self._hold(0.0, announcement))
                    continue
                verse = writer.verses[position]
                await self._pause(next_post_at, verse)
                turn = await self._written(verse, slot, writer.progress(position))
                await self._post(self.stage.post_verse, turn)
                next_post_at = self._clock() + self._hold(self.pace.pause_after(turn.text), turn)
        except _Stopped:
            return self._result(Outcome.STOPPED, self._stop_reason)
        except _VerseWithheld as withheld:
            return await self._withhold(withheld.verse)
        except UserError as error:
            log.info("Battle %s v %s ended: %s", self.battle.model_a, self.battle.model_b, error)
            return self._result(Outcome.NO_CONTEST, str(error))
        finally:
            await writer.close()
        return self._result(Outcome.COMPLETED, None)

    async def _withhold(self, verse: WithheldVerse) -> BattleResult:
        """In place of a withheld verse, its one line (as the host's, so that every stage and
        transcript shows and keeps it); the battle ends there as a no contest."""
        log.info("Battle %s v %s: %s", self.battle.model_a, self.battle.model_b, verse.line)
        await self._post(self.stage.announce, self.battle.turn(Slot(None, verse.round), verse.line))
        return BattleResult(self.battle, self.posted, Outcome.NO_CONTEST, verse.reason, verse)

    def _hold(self, reading: float, turn: Turn) -> float:
        """How long ``turn``, just posted, stays up: its reading time, or its performance."""
        if self._performer is None:
            return reading
        performing = self._performer.performing_for(turn)
        return performed_pause(reading, performing, self._performer.gap_seconds)

    async def _pause(self, until: float, verse: asyncio.Future[Turn] | None) -> None:
        """The reading time before the next post, shown as such. With a verse to post next, it
        ends at ``until`` even if the verse is still being written (the caller then shows the
        writing), and at once if the verse failed."""
        delay = until - self._clock()
        if delay <= 0:
            if self._stop_requested.is_set():
                raise _Stopped
            return
        async with self.stage.pausing(self.battle, delay):
            if verse is not None:
                await self._wait(verse, delay)
                if not verse.done() or _failed(verse):
                    return  # Shown as writing, or a failure that ends the battle now.
            await self._wait(None, until - self._clock())

    async def _written(
        self, verse: asyncio.Future[Turn], slot: Slot, progress: Callable[[], int]
    ) -> Turn:
        """The verse once written; while the audience waits, the stage shows who is writing."""
        if not verse.done():
            placeholder = self.battle.turn(slot, "")
            async with self.stage.writing(self.battle, placeholder, progress):
                await self._wait(verse, None)
        return verse.result()

    async def _post(self, post: Callable[[Battle, Turn], Awaitable[None]], turn: Turn) -> None:
        await post(self.battle, turn)
        self._posted.append(turn)

    async def _wait(self, future: asyncio.Future[Turn] | None, seconds: float | None) -> None:
        """Waits for ``future`` or ``seconds``; raises _Stopped as soon as stop() is called."""
        if seconds is not None and seconds <= 0 and not self._stop_requested.is_set():
            return
        stop_waiter = asyncio.ensure_future(self._stop_requested.wait())
        waiters: set[asyncio.Future[object]] = {stop_waiter}
        if future is not None:
            waiters.add(future)  # type: ignore[arg-type]
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


def _failed(verse: asyncio.Future[Turn]) -> bool:
    """A done verse that could not be written. A withheld one is not a failure: its line waits
    out the reading time of the verse before it, as the verse would have."""
    error = verse.exception()
    return error is not None and not isinstance(error, _VerseWithheld)


class _VerseWithheld(Exception):
    """A verse the content filter withheld, handed from the writer to the poster."""

    def __init__(self, verse: WithheldVerse) -> None:
        super().__init__(verse.line)
        self.verse = verse


async def _cancel(task: asyncio.Future[object]) -> None:
    if task.done():
        if not task.cancelled():
            task.exception()  # Mark it retrieved: its error, if any, was already handled.
        return
    await cancel_and_wait(task)


async def cancel_and_wait(task: asyncio.Future[object]) -> None:
    """Cancels ``task`` and waits for it to end. The task's own CancelledError is swallowed, but
    a cancellation of the caller while it waits goes on up (suppressing every CancelledError
    here would lose a Ctrl-C that lands at that moment)."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
    except Exception:
        pass  # It failed while being cancelled; its caller no longer wants its result.

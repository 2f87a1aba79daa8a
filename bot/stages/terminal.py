"""The terminal stage: a live, coloured battle on a TTY and the exact transcript everywhere else."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Callable
from typing import TextIO

from rich.console import Console
from rich.markup import escape
from rich.rule import Rule
from rich.status import Status
from rich.text import Text

from bot.engine import transcript
from bot.engine.battle import Battle, Side, Turn
from bot.services.battles.referee import BattleResult, Outcome, cancel_and_wait

SIDE_STYLES = {Side.A: "bold cyan", Side.B: "bold magenta"}
ANNOUNCEMENT_STYLE = "bold yellow"
PAUSE_STYLE = "dim"
ENDING_STYLES = {
    Outcome.COMPLETED: "bold green",
    Outcome.NO_CONTEST: "bold red",
    Outcome.STOPPED: "bold yellow",
}
PROGRESS_REFRESH_SECONDS = 0.2


class TerminalStage:
    """Shows a battle on a rich console (if any) and appends it to transcript files as it goes.

    Every transcript file is flushed after each turn, so it is a valid transcript at all times.
    """

    def __init__(self, console: Console | None, transcript_files: list[TextIO]) -> None:
        self._console = console
        self._files = transcript_files

    def begin(self, battle: Battle) -> None:
        self._write(transcript.header(battle.model_a, battle.model_b))
        if self._console:
            title = Text.assemble(
                (battle.model_a, SIDE_STYLES[Side.A]), " v ", (battle.model_b, SIDE_STYLES[Side.B])
            )
            self._console.print(Rule(title))
            if battle.topic:
                self._console.print(
                    Text(f"Topic: {battle.topic}", style="italic"), justify="center"
                )

    async def post_verse(self, battle: Battle, turn: Turn) -> None:
        self._write(transcript.turn_block(turn))
        if self._console:
            assert turn.side is not None
            label = "final round" if turn.round == battle.rounds > 1 else f"round {turn.round}"
            self._console.print()
            self._console.print(
                Text.assemble((turn.speaker, SIDE_STYLES[turn.side]), f" · {label}")
            )
            self._console.print(Text(turn.text))

    async def announce(self, battle: Battle, turn: Turn) -> None:
        self._write(transcript.turn_block(turn))
        if self._console:
            self._console.print()
            self._console.print(Rule(Text(turn.text, style=ANNOUNCEMENT_STYLE)))

    @contextlib.asynccontextmanager
    async def writing(
        self, battle: Battle, turn: Turn, progress: Callable[[], int]
    ) -> AsyncIterator[None]:
        if self._console is None:
            yield
            return
        assert turn.side is not None
        speaker = f"[{SIDE_STYLES[turn.side]}]{escape(turn.speaker)}[/]"

        def status_text() -> str:
            received = progress()
            return f"{speaker} is writing…" + (f" {received} characters" if received else "")

        async with self._status(status_text):
            yield

    @contextlib.asynccontextmanager
    async def pausing(self, battle: Battle, seconds: float) -> AsyncIterator[None]:
        """A countdown while the audience reads, so a long pause never looks like a hang."""
        if self._console is None:
            yield
            return
        loop = asyncio.get_running_loop()
        ends_at = loop.time() + seconds

        def status_text() -> str:
            left = max(0, math.ceil(ends_at - loop.time()))
            return f"[{PAUSE_STYLE}]next verse in {left} s[/]"

        async with self._status(status_text):
            yield

    def end(self, result: BattleResult) -> None:
        """The closing line on the console: how the battle ended (the transcript has none)."""
        if self._console is None:
            return
        verses = sum(not turn.is_announcement for turn in result.turns)
        counted = f"{verses} verse" + ("" if verses == 1 else "s")
        if result.outcome is Outcome.COMPLETED:
            line = f"Battle over: completed with {counted}."
        elif result.outcome is Outcome.NO_CONTEST:
            line = f"Battle over after {counted}: no contest: {result.reason}"
        else:
            line = f"Battle over: stopped ({result.reason}) after {counted}."
        self._console.print()
        self._console.print(Text(line, style=ENDING_STYLES[result.outcome]))

    @contextlib.asynccontextmanager
    async def _status(self, text: Callable[[], str]) -> AsyncIterator[None]:
        """A live status line, refreshed from ``text`` until the block ends."""
        assert self._console is not None
        with self._console.status(text()) as status:
            refresher = asyncio.create_task(_refresh(status, text))
            try:
                yield
            finally:
                await cancel_and_wait(refresher)

    def _write(self, text: str) -> None:
        for file in self._files:
            file.write(text)
            file.flush()


async def _refresh(status: Status, text: Callable[[], str]) -> None:
    while True:
        await asyncio.sleep(PROGRESS_REFRESH_SECONDS)
        status.update(text())

"""The terminal stage: a live, coloured battle on a TTY and the exact transcript everywhere else."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TextIO

from rich.console import Console
from rich.markup import escape
from rich.rule import Rule
from rich.status import Status
from rich.text import Text

from bot.engine import transcript
from bot.engine.battle import Battle, Side, Turn

SIDE_STYLES = {Side.A: "bold cyan", Side.B: "bold magenta"}
ANNOUNCEMENT_STYLE = "bold yellow"
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

        with self._console.status(status_text()) as status:
            refresher = asyncio.create_task(_refresh(status, status_text))
            try:
                yield
            finally:
                refresher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await refresher

    def _write(self, text: str) -> None:
        for file in self._files:
            file.write(text)
            file.flush()


async def _refresh(status: Status, text: Callable[[], str]) -> None:
    while True:
        await asyncio.sleep(PROGRESS_REFRESH_SECONDS)
        status.update(text())

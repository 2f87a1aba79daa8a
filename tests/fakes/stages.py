"""A stage that records what a referee shows, with timestamps."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from bot.engine.battle import Battle, Turn


@dataclass
class RecordingStage:
    posts: list[tuple[float, Turn]] = field(default_factory=list)
    writing_shown: list[str] = field(default_factory=list)
    # (when the pause began, the seconds it announced, when it ended)
    pauses: list[tuple[float, float, float]] = field(default_factory=list)

    @property
    def turns(self) -> list[Turn]:
        return [turn for _, turn in self.posts]

    async def post_verse(self, battle: Battle, turn: Turn) -> None:
        self.posts.append((time.monotonic(), turn))

    async def announce(self, battle: Battle, turn: Turn) -> None:
        self.posts.append((time.monotonic(), turn))

    @contextlib.asynccontextmanager
    async def writing(
        self, battle: Battle, turn: Turn, progress: Callable[[], int]
    ) -> AsyncIterator[None]:
        self.writing_shown.append(turn.speaker)
        yield

    @contextlib.asynccontextmanager
    async def pausing(self, battle: Battle, seconds: float) -> AsyncIterator[None]:
        began = time.monotonic()
        try:
            yield
        finally:
            self.pauses.append((began, seconds, time.monotonic()))

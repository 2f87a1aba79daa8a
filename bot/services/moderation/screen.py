"""The content filter as a service: each verse checked by the moderation endpoint when there is
one, and always by the offline word list; what becomes of it is the engine's rule
(bot/engine/content_filter.py), the same for Discord, the terminal and tournaments.

The endpoint is a port (``ModerationEndpoint``), given by the front end (bot/moderation/). When it
fails, the offline check decides alone and one log line says so: moderation never stops a battle
for an outage.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from bot.engine.content_filter import (
    Cleared,
    FilterLevel,
    Finding,
    Screening,
    decide,
    endpoint_categories,
)
from bot.engine.word_list import WordList
from bot.observe import NO_OBSERVER, Observer

log = logging.getLogger(__name__)


class ModerationError(Exception):
    """The endpoint could not say: one line naming it and what failed."""


class ModerationEndpoint(Protocol):
    """An OpenAI-compatible moderation endpoint."""

    name: str

    async def flags(self, text: str) -> Mapping[str, bool]:
        """Its categories for ``text`` (OpenAI's names, e.g. ``hate/threatening``), each
        flagged or not; raises ModerationError when it cannot answer."""
        ...

    async def close(self) -> None: ...


class ContentFilter:
    """Screens verses at a battle's level. The offline word list always runs (it finds slurs,
    and the profanity ``strict`` masks); the endpoint, when there is one, adds what only reading
    the meaning finds (hate, harassment of a protected group, sexual content involving minors,
    self-harm instructions)."""

    def __init__(
        self,
        offline: WordList,
        endpoint: ModerationEndpoint | None = None,
        observe: Observer = NO_OBSERVER,
    ) -> None:
        self._offline = offline
        self.endpoint = endpoint
        self._observe = observe  # how long each verse's check took

    @property
    def engine(self) -> str:
        """Which engine reads the meaning, as the start-up log says it."""
        if self.endpoint is None:
            return "the offline word list"
        return f"the moderation endpoint {self.endpoint.name} and the offline word list"

    def at(self, level: FilterLevel) -> LevelScreen | None:
        """The screen for one battle at ``level``; None when the filter is off."""
        return None if level is FilterLevel.OFF else LevelScreen(self, level)

    async def screen(self, text: str, level: FilterLevel) -> Screening:
        if level is FilterLevel.OFF:
            return Cleared(text)
        started = time.monotonic()
        try:
            return await self._screen(text, level)
        finally:
            self._observe.moderation_checked(time.monotonic() - started)

    async def _screen(self, text: str, level: FilterLevel) -> Screening:
        found = self._offline.check(text)
        categories = found.categories
        if self.endpoint is not None:
            try:
                categories |= endpoint_categories(await self.endpoint.flags(text))
            except ModerationError as error:
                log.warning("%s; the offline word list decided this verse alone", error)
            except Exception:  # an endpoint's bug is an outage too: never the battle's end
                log.exception("The moderation endpoint failed; the word list decided this verse")
        return decide(level, text, Finding(categories, found.profanity))

    async def close(self) -> None:
        if self.endpoint is not None:
            await self.endpoint.close()


@dataclass(frozen=True, slots=True)
class LevelScreen:
    """The content filter at one battle's level: the referee's ``VerseScreen``."""

    content_filter: ContentFilter
    level: FilterLevel

    async def screen(self, text: str) -> Screening:
        return await self.content_filter.screen(text, self.level)

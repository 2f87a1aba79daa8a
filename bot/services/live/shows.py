"""The battles this process performs live: one per voice channel, at most ``most`` at once
(``MAX_VOICE_BATTLES``), each from its start until its results; and the speech they share.

Speech comes from the same speech port as battle tracks, so a verse sounds live as it does on
the track; each part is brought to the tracks' loudness as soon as it is made, so the audio
thread only mixes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import numpy as np

from bot.engine.admission import OnStage
from bot.engine.battle import Battle, Side
from bot.engine.mixing import normalize_loudness
from bot.engine.track import TrackPart, cast_voices
from bot.services.live.performance import PerformanceFactory
from bot.services.live.show import LiveShow
from bot.services.tracks.speech import SpeechEngine

log = logging.getLogger(__name__)

SPEECH_AT_ONCE = 4  # speech requests in flight across every live battle


class LiveShows:
    """Opens a battle's show, finds it again by battle, and ends it (leaving the channel)."""

    def __init__(
        self,
        performances: PerformanceFactory,
        engine: SpeechEngine,
        *,
        most: int,
        gap_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.performances = performances
        self.engine = engine
        self.most = most
        self._gap = gap_seconds
        self._clock = clock
        self._shows: dict[int, LiveShow] = {}  # by battle id, until its show ends
        self._seats: dict[int, OnStage] = {}  # where each is performed, by battle id
        self._leaving: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(SPEECH_AT_ONCE)

    def performing(self) -> tuple[OnStage, ...]:
        """The voice channels a battle is performed in now (its vote and results included)."""
        return tuple(self._seats.values())

    def show(self, battle_id: int) -> LiveShow | None:
        return self._shows.get(battle_id)

    def open(self, battle_id: int, guild_id: int, channel_id: int, battle: Battle) -> LiveShow:
        """The battle's show in ``channel_id`` (admission has checked the channel is free); its
        title's speech is asked for at once."""
        engine = self.engine
        names = (battle.stage_name(Side.A), battle.stage_name(Side.B))
        cast = cast_voices(*names, engine.voices, engine.host_voice)
        performance = self.performances.performance_for(guild_id, channel_id)
        show = LiveShow(
            battle, performance, self._speak, cast, gap_seconds=self._gap, clock=self._clock
        )
        self._shows[battle_id] = show
        self._seats[battle_id] = OnStage(guild_id, channel_id)
        return show

    def hush(self, battle_id: int) -> None:
        """The battle is being stopped: nothing waits for its speech any more."""
        if (show := self._shows.get(battle_id)) is not None:
            show.hush()

    def end(self, battle_id: int) -> None:
        """The battle is over (its results are out, or it ended without them): leave once the
        turn still playing is heard to its end. Its channel counts as taken until then."""
        show = self._shows.pop(battle_id, None)
        if show is None:
            return
        leaving = asyncio.create_task(show.close(), name=f"leave voice {battle_id}")
        self._leaving.add(leaving)
        leaving.add_done_callback(lambda done: self._left(battle_id, done))

    def _left(self, battle_id: int, task: asyncio.Task[None]) -> None:
        self._leaving.discard(task)
        self._seats.pop(battle_id, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("Leaving the stage of battle %s failed", battle_id, exc_info=task.exception())

    async def close(self) -> None:
        for show in self._shows.values():
            show.hush()  # shutting down: nothing more is waited for
        for battle_id in list(self._shows):
            self.end(battle_id)
        await asyncio.gather(*self._leaving, return_exceptions=True)
        close = getattr(self.engine, "close", None)
        if close is not None:
            await close()

    async def _speak(self, part: TrackPart) -> np.ndarray:
        async with self._slots:
            speech = await self.engine.speak(part.text, part.voice)
        samples = np.array(speech.samples, dtype=np.float32)  # its own copy, levelled in place
        return await asyncio.to_thread(normalize_loudness, samples, in_place=True)

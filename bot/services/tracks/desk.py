"""Tracks of stored battles, made once and kept: the Discord results' attachment (made while the
vote is open, so the results are not delayed) and ``/transcript … audio:true``.

The desk is given how to open a track maker and how to encode a track as Ogg (the audio adapters,
chosen by the settings), so it imports no codec and no speech engine itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

import numpy as np

from bot.engine.discord_limits import ATTACHMENT_BYTES
from bot.services.tracks.maker import TrackMaker
from bot.services.tracks.speech import TrackError
from bot.store import Store, StoredBattle
from bot.store.base import KeptTrack

log = logging.getLogger(__name__)

OGG = "ogg"


def track_filename(battle_id: int) -> str:
    return f"battle-{battle_id}.{OGG}"


@dataclass(frozen=True, slots=True)
class TrackFile:
    """A battle's track as an attachment, or why it is left off."""

    filename: str
    data: bytes | None
    note: str | None = None


class TrackDesk:
    """Makes each battle's track at most once per process, and keeps it in the store."""

    def __init__(
        self,
        store: Store,
        open_maker: Callable[[], AbstractAsyncContextManager[TrackMaker]],
        encode_ogg: Callable[[np.ndarray], bytes],
        clock: Callable[[], float],
        *,
        attachment_bytes: int = ATTACHMENT_BYTES,
    ) -> None:
        self._store = store
        self._open_maker = open_maker
        self._encode_ogg = encode_ogg
        self._clock = clock
        self.attachment_bytes = attachment_bytes
        self._making: dict[int, asyncio.Task[KeptTrack]] = {}  # by battle id

    def start(self, stored: StoredBattle) -> None:
        """Starts making the battle's track now (a vote has just opened), unless under way."""
        self._task(stored)

    async def track(self, stored: StoredBattle) -> KeptTrack:
        """The battle's track: kept, under way, or made now. Raises TrackError."""
        return await asyncio.shield(self._task(stored))

    async def attachment(self, stored: StoredBattle, *, wait: float | None = None) -> TrackFile:
        """The track as an attachment for Discord, or a note saying why there is none."""
        filename = track_filename(stored.id)
        try:
            async with asyncio.timeout(wait):
                kept = await self.track(stored)
        except TimeoutError:
            return TrackFile(filename, None, "The battle's track was not ready in time.")
        except TrackError as error:
            log.warning("No track for battle %s: %s", stored.id, error)
            return TrackFile(filename, None, "The battle's track could not be made.")
        if len(kept.ogg) > self.attachment_bytes:
            limit = f"{self.attachment_bytes / (1024 * 1024):g} MiB"
            note = f"The battle's track is over Discord's {limit} limit, so it is left off."
            return TrackFile(filename, None, note)
        return TrackFile(filename, kept.ogg)

    async def close(self) -> None:
        tasks = list(self._making.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._making.clear()

    def _task(self, stored: StoredBattle) -> asyncio.Task[KeptTrack]:
        task = self._making.get(stored.id)
        if task is None:
            task = asyncio.create_task(self._make(stored), name=f"track of battle {stored.id}")
            self._making[stored.id] = task
            task.add_done_callback(lambda done: self._made(stored.id, done))
        return task

    def _made(self, battle_id: int, task: asyncio.Task[KeptTrack]) -> None:
        # A kept track is read from the store from now on; a failed one may be tried again.
        if self._making.get(battle_id) is task:
            del self._making[battle_id]
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            if not isinstance(error, TrackError):
                log.error("Making the track of battle %s crashed", battle_id, exc_info=error)

    async def _make(self, stored: StoredBattle) -> KeptTrack:
        kept = await self._store.track(stored.id)
        if kept is not None:
            return kept
        turns = await self._store.turns(stored.id)
        if not any(not turn.is_announcement for turn in turns):
            raise TrackError(f"Battle {stored.id} has no verse to perform.")
        battle = stored.battle
        async with self._open_maker() as maker:
            track = await maker.make(battle.model_a, battle.model_b, turns, battle.topic)
        ogg = await asyncio.to_thread(self._encode_ogg, track.samples)
        await self._store.keep_track(stored.id, ogg, track.seconds, self._clock())
        return KeptTrack(ogg, track.seconds)

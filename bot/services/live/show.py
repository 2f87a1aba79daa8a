"""One battle performed live: each turn's speech made as soon as the turn is written, each turn
played as it is posted, and the battle carried on in text whatever happens to the voice.

The text battle never waits on voice for long and never stops for it: speech that cannot be made
leaves its turn silent, a lost connection is rejoined once (the performance picks up at the next
turn) or the battle goes on in text only, said in one line in the channel.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeAlias

import numpy as np

from bot.engine.battle import Battle, Side, Turn
from bot.engine.track import TrackPart, VoiceCast, track_parts
from bot.services.live.performance import Performance, VoiceLost
from bot.services.stage import StageError
from bot.services.tracks.speech import SAMPLE_RATE

log = logging.getLogger(__name__)

# A post waits at most this long for its speech (made while the turn before it played); past it,
# the turn is posted silent rather than holding the text battle up.
SPEECH_WAIT_SECONDS = 20.0
JOIN_SECONDS = 15.0  # to connect (and, on a Stage, to become a speaker) before the title card
REJOIN_SECONDS = 15.0  # the one attempt to get back after a loss
LEAVE_SECONDS = 10.0
# After the results, the turn still playing (the last verse, under a short vote) is heard to its
# end before the bot leaves, but never for longer than this.
FINISH_SECONDS = 60.0

# A turn's place in the battle: (side, round); the title card is its own.
PartKey: TypeAlias = tuple[Side | str | None, int]
TITLE: PartKey = ("title", 0)

Notify = Callable[[str], Awaitable[None]]
Speak = Callable[[TrackPart], Awaitable[np.ndarray]]


def part_key(turn: Turn) -> PartKey:
    return (turn.side, turn.round)


class ShowState(enum.Enum):
    WAITING = "waiting"  # not joined yet
    LIVE = "live"
    TEXT_ONLY = "text only"  # voice refused or lost for good: the battle goes on in text
    CLOSED = "closed"


class LiveShow:
    """One battle's performance in one voice or Stage channel; the referee's ``Performer``.

    ``speak`` makes a part's speech (float32 mono at 48 kHz, at the live loudness). In a blind
    battle the MCs are cast and named by their blind names, so neither the title nor a voice
    gives a model away.
    """

    def __init__(
        self,
        battle: Battle,
        performance: Performance,
        speak: Speak,
        cast: VoiceCast,
        *,
        gap_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.battle = battle
        self.performance = performance
        self._speak = speak
        self._cast = cast
        self._gap = gap_seconds
        self._clock = clock
        self.state = ShowState.WAITING
        self._names = (battle.stage_name(Side.A), battle.stage_name(Side.B))
        self._speech: dict[PartKey, asyncio.Task[np.ndarray]] = {}
        self._ends: dict[PartKey, float] = {}  # when each played part ends, by the clock
        self._busy_until = 0.0
        self._watchers: set[asyncio.Task[None]] = set()
        self._recovering: asyncio.Task[None] | None = None
        self._notify: Notify | None = None
        self.silent_parts = 0  # parts whose speech could not be made in time
        self.unheard_parts = 0  # parts posted while the voice was away
        self._hushed = False
        title = track_parts(*self._names, (), cast, battle.topic)[0]
        self._start(TITLE, title)

    @property
    def channel_id(self) -> int:
        return self.performance.channel_id

    @property
    def topic(self) -> str:
        """What a Stage's topic says while the battle runs."""
        return f"🎤 {self._names[0]} v {self._names[1]}"[:120]

    # -- the referee's Performer ---------------------------------------------------------------

    @property
    def gap_seconds(self) -> float:
        return self._gap

    def written(self, turn: Turn) -> None:
        """Starts making the turn's speech now, while the turn before it is still performed."""
        key = part_key(turn)
        if self.state in (ShowState.TEXT_ONLY, ShowState.CLOSED) or key in self._speech:
            return
        parts = track_parts(*self._names, (turn,), self._cast, self.battle.topic)[1:]
        if parts:
            self._start(key, parts[0])

    def performing_for(self, turn: Turn) -> float:
        end = self._ends.get(part_key(turn))
        return 0.0 if end is None else max(0.0, end - self._clock())

    # -- what the live stage does around each post ----------------------------------------------

    async def open(self, notify: Notify) -> None:
        """Joins the channel before the title card; a join that fails leaves the battle in text
        only, said in one line through ``notify``."""
        self._notify = notify
        if self.state is not ShowState.WAITING:
            return
        try:
            async with asyncio.timeout(JOIN_SECONDS):
                await self.performance.join(self.topic)
        except Exception as error:  # whatever voice does, the text battle goes on
            reason = str(error) if isinstance(error, VoiceLost) else "it took too long"
            if not isinstance(error, VoiceLost | TimeoutError):
                log.exception("Joining voice channel %s failed", self.channel_id)
                reason = "something went wrong on our side"
            log.warning("Could not join voice channel %s: %s", self.channel_id, reason)
            await self._text_only(
                f"🔇 I could not join <#{self.channel_id}> ({reason}), "
                "so this battle goes on in text only."
            )
            return
        if self.state is ShowState.WAITING:
            self.state = ShowState.LIVE

    async def perform_title(self, post: Callable[[], Awaitable[object]]) -> None:
        await self._performed(TITLE, post)

    async def perform(self, turn: Turn, post: Callable[[], Awaitable[object]]) -> None:
        await self._performed(part_key(turn), post)

    async def _performed(self, key: PartKey, post: Callable[[], Awaitable[object]]) -> None:
        """Posts with ``post`` and starts the part's audio at once after it, its speech ready
        before the post so the two come together."""
        speech = await self._ready(key)
        # The referee keeps each turn up while it plays; the title card is the one part it does
        # not pace, so a first verse written quickly waits here for the title to be heard.
        if self.state is ShowState.LIVE and (wait := self._busy_until + self._gap - self._clock()):
            await asyncio.sleep(max(0.0, wait))
        await post()
        if speech is None or self.state is not ShowState.LIVE:
            return
        if self._recovery_under_way or not self.performance.connected:
            # The text battle never waits for voice: this turn goes unheard while the voice
            # gets back, and the performance picks up at the next turn.
            self.unheard_parts += 1
            self._recovery()
            return
        self._play(key, speech)

    # -- ending ----------------------------------------------------------------------------------

    def hush(self) -> None:
        """Stops making speech (the battle is being stopped): what waits for it goes on silent."""
        self._hushed = True
        for task in self._speech.values():
            task.cancel()

    async def close(self) -> None:
        """Leaves the channel (after the results, or when the battle ends without them), once
        the part playing has been heard to its end unless the battle was stopped."""
        if self.state is ShowState.CLOSED:
            return
        if self.state is ShowState.LIVE and not self._hushed and self._watchers:
            # Each watcher ends as its part is heard to its end (or cut off): waited for as the
            # audio plays, not as the clock guessed it would.
            await asyncio.wait(set(self._watchers), timeout=FINISH_SECONDS)
        if self.state is ShowState.CLOSED:
            return
        was_live = self.state is not ShowState.TEXT_ONLY
        self.state = ShowState.CLOSED
        tasks = [*self._speech.values(), *self._watchers]
        if self._recovering is not None:
            tasks.append(self._recovering)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._speech.clear()
        if was_live:
            await self._leave()

    # -- inside ----------------------------------------------------------------------------------

    def _start(self, key: PartKey, part: TrackPart) -> None:
        task = asyncio.create_task(self._speak(part), name=f"live speech {key}")
        task.add_done_callback(_retrieve)
        self._speech[key] = task

    async def _ready(self, key: PartKey) -> np.ndarray | None:
        """The part's speech once made, or None (silent): not asked for, failed, or too slow."""
        task = self._speech.pop(key, None)  # let go of once played
        if task is None:
            return None
        if self.state in (ShowState.TEXT_ONLY, ShowState.CLOSED):
            task.cancel()
            return None
        await asyncio.wait({task}, timeout=SPEECH_WAIT_SECONDS)
        if task.done() and not task.cancelled() and task.exception() is None:
            return task.result()
        task.cancel()
        self.silent_parts += 1
        error = None if not task.done() or task.cancelled() else task.exception()
        reason = error or "no speech in time"
        log.warning("Part %s of %s is left silent: %s", key, self.topic, reason)
        return None

    def _play(self, key: PartKey, speech: np.ndarray) -> None:
        try:
            finished = self.performance.say(speech)
        except VoiceLost as lost:
            log.warning("Voice lost in %s before a part: %s", self.channel_id, lost)
            self._recovery()
            return
        except Exception:  # a fault of ours in the audio: this part is silent, the rest goes on
            log.exception("Playing a part in voice channel %s failed", self.channel_id)
            return
        start = max(self._clock(), self._busy_until)
        self._busy_until = self._ends[key] = start + len(speech) / SAMPLE_RATE
        watcher = asyncio.ensure_future(self._watch(finished))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)

    async def _watch(self, finished: Awaitable[None]) -> None:
        try:
            await finished
        except VoiceLost as lost:
            if self.state is ShowState.LIVE:
                log.warning("Voice lost in %s mid-part: %s", self.channel_id, lost)
                self._recovery()

    @property
    def _recovery_under_way(self) -> bool:
        return self._recovering is not None and not self._recovering.done()

    def _recovery(self) -> asyncio.Task[None]:
        """The one attempt under way to get back after a loss (started if none is)."""
        if self._recovering is None or self._recovering.done():
            self._recovering = asyncio.create_task(self._rejoin(), name="voice rejoin")
        return self._recovering

    async def _rejoin(self) -> None:
        if self.state is not ShowState.LIVE:
            return
        self._busy_until = 0.0  # what was playing is dropped: the next part starts at once
        self._ends.clear()
        try:
            async with asyncio.timeout(REJOIN_SECONDS):
                await self.performance.rejoin()
        except Exception as error:
            if not isinstance(error, VoiceLost | TimeoutError):
                log.exception("Rejoining voice channel %s failed", self.channel_id)
            log.warning("Could not rejoin voice channel %s: %s", self.channel_id, error)
            if self.state is ShowState.LIVE:
                await self._text_only(
                    f"🔇 Lost the voice connection to <#{self.channel_id}>; "
                    "the battle goes on here in text."
                )
            return
        log.info("Rejoined voice channel %s; the performance goes on", self.channel_id)

    async def _text_only(self, line: str) -> None:
        self.state = ShowState.TEXT_ONLY
        for task in self._speech.values():
            task.cancel()
        self._speech.clear()
        await self._leave()
        if self._notify is not None:
            try:
                await self._notify(line)
            except StageError as error:
                log.warning("Could not say the battle went text only: %s", error)

    async def _leave(self) -> None:
        try:
            async with asyncio.timeout(LEAVE_SECONDS):
                await self.performance.leave()
        except Exception:  # Leaving is best effort: the battle's record is already safe.
            log.exception("Leaving voice channel %s failed", self.channel_id)


def _retrieve(task: asyncio.Task[np.ndarray]) -> None:
    """Marks a speech task's failure seen: a part left silent is logged where it is used."""
    if not task.cancelled():
        task.exception()

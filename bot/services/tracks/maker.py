"""A battle made into a track: every part spoken through the speech port, then laid end to end in
order, mixed over the beat and brought to one loudness.

Speech is asked for as the battle goes (``TrackMaker.begin``, then ``TrackBuilder.add`` for each
turn as it is posted), a few requests at a time, so when the last verse is in only its own speech
is left to wait for. Requests may finish in any order; the track is always assembled in the
transcript's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bot.engine.battle import Turn
from bot.engine.mixing import Assembly, half_bar_seconds, mix_into, normalize_loudness
from bot.engine.track import TrackPart, VoiceCast, cast_voices, track_parts
from bot.services.tracks.speech import SAMPLE_RATE, Speech, SpeechEngine, TrackError

log = logging.getLogger(__name__)

DEFAULT_BPM = 90.0
DEFAULT_CONCURRENCY = 4


@dataclass(frozen=True, slots=True, eq=False)
class Track:
    """A finished track: stereo float32 samples of shape (n, 2) at 48 kHz, and where each part
    (the title card, then every turn with something to say) sits in it, as sample spans.

    The voices and the beat sit in the centre, so a track made here holds its samples once: its
    two channels are a read-only view of one mono array. Copy it to change it.
    """

    samples: np.ndarray
    spans: tuple[tuple[int, int], ...] = ()

    @property
    def seconds(self) -> float:
        return len(self.samples) / SAMPLE_RATE


class TrackMaker:
    """Makes battle tracks with one speech engine and one beat.

    ``beat`` is the loop played under every track (``drum_loop(bpm)`` or a BEAT_FILE's samples,
    mono float32 at 48 kHz), or None for the voices alone. ``bpm`` sets the gap between parts
    (half a bar). At most ``concurrency`` speech requests run at once, across every track this
    maker is making.
    """

    def __init__(
        self,
        engine: SpeechEngine,
        *,
        beat: np.ndarray | None,
        bpm: float = DEFAULT_BPM,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        if bpm <= 0:
            raise ValueError("bpm must be positive")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.engine = engine
        self.beat = None if beat is None else np.asarray(beat, dtype=np.float32).reshape(-1)
        self.bpm = float(bpm)
        self.concurrency = concurrency
        self._slots: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None

    @property
    def gap_seconds(self) -> float:
        return half_bar_seconds(self.bpm)

    def begin(self, model_a: str, model_b: str, topic: str | None = None) -> TrackBuilder:
        """Starts a battle's track: the host's title card is asked for at once. Call in a running
        event loop."""
        return TrackBuilder(self, model_a, model_b, topic)

    async def make(
        self,
        model_a: str,
        model_b: str,
        turns: Sequence[Turn],
        topic: str | None = None,
    ) -> Track:
        """The track of a finished battle. Raises TrackError."""
        builder = self.begin(model_a, model_b, topic)
        try:
            for turn in turns:
                builder.add(turn)
            return await builder.finish()
        except BaseException:
            await builder.cancel()
            raise

    async def _speak(self, part: TrackPart) -> Speech:
        async with self._semaphore():
            return await self.engine.speak(part.text, part.voice)

    def _semaphore(self) -> asyncio.Semaphore:
        """The bound on requests in flight, one per event loop (a CLI may run several in turn)."""
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots[0] is not loop:
            self._slots = (loop, asyncio.Semaphore(self.concurrency))
        return self._slots[1]


class TrackBuilder:
    """One battle's track in the making: each part's speech starts as soon as its turn is added.

    Parts are laid into the track in order as soon as they and every part before them are
    spoken, and let go of at once, so speech is never held twice and little is left to do when
    the last verse is in. The first failure cancels every request still running and is raised
    by :meth:`finish`.
    """

    def __init__(self, maker: TrackMaker, model_a: str, model_b: str, topic: str | None) -> None:
        self._maker = maker
        self._model_a = model_a
        self._model_b = model_b
        self._topic = topic
        engine = maker.engine
        try:
            self.cast: VoiceCast = cast_voices(model_a, model_b, engine.voices, engine.host_voice)
        except ValueError as error:
            raise TrackError(f"{engine.name}: {error}") from None
        self._pending: dict[int, asyncio.Task[Speech]] = {}  # by part number, until placed
        self._started = 0
        self._assembly = Assembly(maker.gap_seconds, SAMPLE_RATE)
        self._failure: TrackError | None = None
        self._settled = asyncio.Event()  # set when every part is placed, or one has failed
        self._cancelling = False
        self._closed = False
        self._finishing = False
        title = track_parts(model_a, model_b, (), self.cast, topic)[0]
        self._start(title)

    @property
    def parts(self) -> int:
        """How many parts have been started (the title card included)."""
        return self._started

    @property
    def placed(self) -> int:
        """How many parts are spoken and laid into the track, in order."""
        return len(self._assembly)

    @property
    def failure(self) -> TrackError | None:
        """The first failure, as soon as there is one (``finish`` raises it)."""
        return self._failure

    def add(self, turn: Turn) -> None:
        """Starts speaking this turn at once (a turn with nothing to say adds no part). After a
        failure nothing more is asked for."""
        if self._closed:
            raise RuntimeError("this track is already finished or cancelled")
        if self._failure is not None:
            return
        parts = track_parts(self._model_a, self._model_b, (turn,), self.cast, self._topic)
        for part in parts[1:]:
            self._start(part)

    async def finish(self) -> Track:
        """Waits for every part, then mixes the track (its parts in order) and normalises it.

        Raises TrackError on the first failure, with every other request cancelled.
        """
        if self._finishing:
            raise RuntimeError("this track is already finished")
        self._finishing = self._closed = True
        try:
            # Not a gather over the requests: that would hold every part's speech until the
            # last is in, where each part is let go of as soon as it is placed.
            await self._settled.wait()
        except BaseException:
            await self.cancel()
            raise
        if self._failure is not None:
            await self.cancel()
            raise self._failure
        voice, spans = self._assembly.finish()
        return await asyncio.to_thread(_render, voice, spans, self._maker.beat)

    async def cancel(self) -> None:
        """Cancels every request still running; the builder takes no more turns."""
        self._closed = True
        self._cancelling = True
        tasks = list(self._pending.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._pending.clear()

    def _start(self, part: TrackPart) -> None:
        number = self._started
        task = asyncio.create_task(
            self._maker._speak(part), name=f"speech {number} ({part.speaker.value})"
        )
        self._pending[number] = task
        self._started += 1
        self._settled.clear()
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Speech]) -> None:
        if task.cancelled():
            if not self._cancelling:  # not by this builder: the part will never come
                self._fail(TrackError(f"{self._maker.engine.name}: speech was cancelled"))
            return
        error = task.exception()  # retrieved here, so a failure is never "never retrieved"
        if error is not None:
            self._fail(error)
            return
        # Lay every part that is ready, in order, and let go of its speech.
        while self._failure is None:
            ready = self._pending.get(len(self._assembly))
            if ready is None or not ready.done() or ready.cancelled():
                break
            if ready.exception() is not None:
                break
            del self._pending[len(self._assembly)]
            self._assembly.append(ready.result().samples)
        if not self._pending:
            self._settled.set()

    def _fail(self, error: BaseException) -> None:
        if self._failure is not None:
            return
        if isinstance(error, TrackError):
            self._failure = error
        else:
            name = self._maker.engine.name
            log.error("Speech engine %s crashed", name, exc_info=error)
            self._failure = TrackError(f"{name}: {type(error).__name__}: {error}")
        self._cancelling = True
        for other in self._pending.values():
            other.cancel()
        self._settled.set()


def _render(voice: np.ndarray, spans: list[tuple[int, int]], beat: np.ndarray | None) -> Track:
    """The voices over the beat at the one loudness, worked on in place in mono (the voice is
    not copied); the track's two channels are views of that one array."""
    mix_into(voice, spans, beat, sample_rate=SAMPLE_RATE)
    normalize_loudness(voice, sample_rate=SAMPLE_RATE, in_place=True)
    stereo = np.broadcast_to(voice[:, None], (voice.size, 2))
    return Track(stereo, tuple(spans))

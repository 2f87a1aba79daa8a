"""A live battle's sound, a frame at a time: the beat looping under everything, ducked under the
speech queued on it, as 20 ms frames of 48 kHz stereo 16-bit PCM (3,840 bytes), what Discord's
voice sends.

Speech arrives already decoded and resampled to 48 kHz mono by PyAV (``codec.py``) and brought
to the tracks' loudness (``bot/services/live/shows.py``); the beat is levelled once, when the
mix is made. So a frame costs a few numpy operations on 960 samples: no decoding, no resampling
and no subprocess while a battle plays.

Parts are queued from the event loop and frames read from the voice library's audio thread; a
lock keeps the two apart, and the callbacks that say a part started or ended are called outside
it (they hand the news back to the event loop).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bot.engine.mixing import (
    BEAT_DB,
    DUCK_ATTACK_SECONDS,
    DUCK_DB,
    DUCK_RELEASE_SECONDS,
    TARGET_DB,
    loudness_db,
)

SAMPLE_RATE = 48_000
FRAME_SAMPLES = 960  # 20 ms
CHANNELS = 2
FRAME_BYTES = FRAME_SAMPLES * CHANNELS * 2  # 3,840
FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE
CHUNK_FRAMES = 50  # a part is rendered a second at a time
_FULL_SCALE = 32767.0


def frames_for(samples: int) -> int:
    """How many frames a part of ``samples`` plays for: parts start on a frame and fill the last
    one with the beat alone."""
    return -(-samples // FRAME_SAMPLES)


@dataclass(eq=False, slots=True)
class _Part:
    samples: np.ndarray  # float32 mono at 48 kHz
    on_start: Callable[[], None] | None
    on_end: Callable[[bool], None] | None  # True: played to its end; False: cut off
    position: int = 0  # samples rendered so far
    frames_read: int = 0

    @property
    def frames(self) -> int:
        return max(1, frames_for(self.samples.size))


def _pcm(mono: np.ndarray) -> bytes:
    """Mono float samples in [-1, 1] as interleaved stereo s16le (the two channels alike)."""
    scaled = np.clip(mono * _FULL_SCALE, -_FULL_SCALE - 1, _FULL_SCALE).astype("<i2")
    return np.repeat(scaled, CHANNELS).tobytes()


def _db(db: float) -> float:
    return float(10.0 ** (db / 20.0))


class LiveMix:
    """The beat (``beat``: a mono float32 loop at 48 kHz, or None for silence under the voices)
    with queued speech over it, read a frame at a time by :meth:`read`."""

    def __init__(
        self,
        beat: np.ndarray | None,
        *,
        beat_db: float = BEAT_DB,
        duck_db: float = DUCK_DB,
        attack_seconds: float = DUCK_ATTACK_SECONDS,
        release_seconds: float = DUCK_RELEASE_SECONDS,
    ) -> None:
        self._beat = _levelled_loop(beat, beat_db)
        self._beat_at = 0
        self._duck = np.float32(_db(duck_db))
        self._depth = 0.0  # 0: the beat at its level, 1: fully ducked
        self._down = FRAME_SAMPLES / max(1.0, attack_seconds * SAMPLE_RATE)  # depth per frame
        self._up = FRAME_SAMPLES / max(1.0, release_seconds * SAMPLE_RATE)
        self._ramp = (np.arange(1, FRAME_SAMPLES + 1, dtype=np.float32) / FRAME_SAMPLES).astype(
            np.float32
        )
        self._mono = np.zeros(FRAME_SAMPLES, dtype=np.float32)
        self._silence = bytes(FRAME_BYTES)
        # The loop at its level, rendered once: a frame of the beat alone is a slice of it.
        self._loop_size = 0 if self._beat is None else self._beat.size - FRAME_SAMPLES
        self._beat_pcm = None if self._beat is None else _pcm(self._beat)
        self._chunk = b""  # the part playing, rendered ahead (a second at most)
        self._chunk_at = 0
        self._queue: deque[_Part] = deque()
        self._lock = threading.Lock()
        self._closed = False
        self.frames = 0  # frames read so far
        self.speech_frames = 0  # of which carried speech

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def queued_samples(self) -> int:
        """Speech still to play: the rest of the part playing and every part after it."""
        with self._lock:
            left = sum(part.frames - part.frames_read for part in self._queue)
        return left * FRAME_SAMPLES

    def add(
        self,
        samples: np.ndarray,
        on_start: Callable[[], None] | None = None,
        on_end: Callable[[bool], None] | None = None,
    ) -> None:
        """Queues speech after whatever is queued: it starts on the next frame read, or once
        the beat has ducked under it (``attack_seconds``, rounded up to whole frames) when the
        beat was up. ``on_start`` is called from the reading thread as its first frame is
        read; ``on_end(True)`` after its last, ``on_end(False)`` when it is cut off
        (:meth:`cut`, :meth:`close`)."""
        part = _Part(np.asarray(samples, dtype=np.float32).reshape(-1), on_start, on_end)
        with self._lock:
            if not self._closed:
                self._queue.append(part)
                return
        if on_end is not None:
            on_end(False)

    def cut(self) -> None:
        """Drops the part playing and every part queued (the connection was lost): each is told
        it was cut off; the beat plays on."""
        with self._lock:
            dropped = list(self._queue)
            self._queue.clear()
            unplayed = (len(self._chunk) - self._chunk_at) // 4  # samples rendered, never read
            if self._beat is not None and unplayed:
                self._beat_at = (self._beat_at - unplayed) % self._loop_size  # the beat goes on
            self._chunk, self._chunk_at = b"", 0
        for part in dropped:
            if part.on_end is not None:
                part.on_end(False)

    def close(self) -> None:
        """Ends the mix: the next :meth:`read` returns nothing, which ends the player."""
        with self._lock:
            self._closed = True
        self.cut()

    def read(self) -> bytes:
        """The next 20 ms: 3,840 bytes of 48 kHz stereo s16le, or b"" once closed.

        Three ways, cheapest first, since the audio thread wakes cold every 20 ms: the beat
        alone at its level is a slice of the loop rendered once; a part playing (the beat fully
        ducked under it) is a slice of its next second, rendered in one go; only the ramps
        between (the beat ducking before a part, coming back after it) are mixed frame by frame.
        """
        started: Callable[[], None] | None = None
        ended: Callable[[bool], None] | None = None
        with self._lock:
            if self._closed:
                return b""
            self.frames += 1
            part = self._queue[0] if self._queue else None
            if part is None and self._depth <= 0.0:
                return self._beat_alone()
            if part is not None and (part.frames_read > 0 or not self._leading_in):
                if part.frames_read == 0:
                    started = part.on_start
                    self._depth = 1.0 if self._beat is not None else 0.0
                frame = self._speech_frame(part)
                if part.frames_read == part.frames:
                    self._queue.popleft()
                    ended = part.on_end
            else:
                frame = self._ramp_frame(ducking=part is not None)
        if started is not None:
            started()
        if ended is not None:
            ended(True)
        return frame

    def _beat_alone(self) -> bytes:
        if self._beat_pcm is None:
            return self._silence
        at = self._beat_at
        self._beat_at = (at + FRAME_SAMPLES) % self._loop_size
        return self._beat_pcm[at * 4 : (at + FRAME_SAMPLES) * 4]

    def _speech_frame(self, part: _Part) -> bytes:
        if self._chunk_at >= len(self._chunk):
            self._render(part)
        frame = self._chunk[self._chunk_at : self._chunk_at + FRAME_BYTES]
        self._chunk_at += FRAME_BYTES
        part.frames_read += 1
        self.speech_frames += 1
        return frame

    def _render(self, part: _Part) -> None:
        """The part's next frames (up to a second) over the ducked beat, as PCM bytes."""
        frames = min(CHUNK_FRAMES, part.frames - part.frames_read)
        size = frames * FRAME_SAMPLES
        mono = np.zeros(size, dtype=np.float32)
        speech = part.samples[part.position : part.position + size]
        mono[: speech.size] = speech
        part.position += speech.size
        if self._beat is not None:
            positions = (np.arange(size) + self._beat_at) % self._loop_size
            mono += np.take(self._beat, positions) * self._duck
            self._beat_at = (self._beat_at + size) % self._loop_size
        self._chunk, self._chunk_at = _pcm(mono), 0

    def _ramp_frame(self, *, ducking: bool) -> bytes:
        """The beat alone while it ducks before a part (``ducking``) or comes back after one."""
        mono = self._mono
        mono.fill(0.0)
        self._add_beat(mono, ducked=ducking)
        return _pcm(mono)

    @property
    def _leading_in(self) -> bool:
        """Whether the beat is still ducking before a part comes in."""
        return self._beat is not None and self._depth < 0.999

    def _add_beat(self, mono: np.ndarray, *, ducked: bool) -> None:
        """Adds this frame of the beat, at its level or ducked under speech, ramping between."""
        if self._beat is None:
            return
        beat = self._beat[self._beat_at : self._beat_at + FRAME_SAMPLES]
        self._beat_at = (self._beat_at + FRAME_SAMPLES) % self._loop_size
        before = self._depth
        if ducked:
            self._depth = min(1.0, before + self._down)
        else:
            self._depth = max(0.0, before - self._up)
        gain_before = 1.0 + (float(self._duck) - 1.0) * before
        gain_after = 1.0 + (float(self._duck) - 1.0) * self._depth
        if gain_before == gain_after:
            mono += beat * np.float32(gain_after)
        else:
            gain = self._ramp * np.float32(gain_after - gain_before)
            gain += np.float32(gain_before)
            gain *= beat
            mono += gain


def _levelled_loop(beat: np.ndarray | None, beat_db: float) -> np.ndarray | None:
    """The loop at ``beat_db`` under the tracks' loudness, with its first frame repeated after
    its end so any frame of it is one slice (a loop shorter than a frame is repeated first)."""
    if beat is None:
        return None
    loop = np.asarray(beat, dtype=np.float32).reshape(-1)
    level = loudness_db(loop) if loop.size else float("-inf")
    if not np.isfinite(level):
        return None
    loop = loop * np.float32(_db(TARGET_DB + beat_db - level))
    if loop.size < FRAME_SAMPLES:
        loop = np.tile(loop, -(-FRAME_SAMPLES // loop.size))
    return np.concatenate([loop, loop[:FRAME_SAMPLES]]).astype(np.float32)

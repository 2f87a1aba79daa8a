"""The speech port: what a track needs from a speech engine, and the speech it gets back.

The engines themselves are adapters (``bot/audio/``): espeak-ng offline, or any OpenAI-compatible
speech endpoint. Whatever the engine, speech arrives here as one shape, float32 mono at 48 kHz,
so the track is mixed without knowing where its voices came from.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from bot.errors import UserError

SAMPLE_RATE = 48_000


@dataclass(frozen=True, slots=True, eq=False)
class Speech:
    """Spoken audio: float32 mono samples at ``SAMPLE_RATE``, each in [-1, 1].

    Samples are coerced to that shape on the way in (a copy only when they are not already it).
    Equality is identity: comparing arrays element-wise is not what ``==`` should mean here.
    """

    samples: np.ndarray

    def __post_init__(self) -> None:
        samples = np.asarray(self.samples, dtype=np.float32).reshape(-1)
        if samples.size and (samples.max() > 1.0 or samples.min() < -1.0):
            samples = np.clip(samples, -1.0, 1.0)
        object.__setattr__(self, "samples", samples)

    @property
    def seconds(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def joined(pieces: Sequence[Speech]) -> Speech:
    """The pieces one after another, as one speech (the chunks of a long text)."""
    if len(pieces) == 1:
        return pieces[0]
    if not pieces:
        return Speech(np.zeros(0, dtype=np.float32))
    return Speech(np.concatenate([piece.samples for piece in pieces]))


async def spoken_in_order(pieces: Iterable[Awaitable[Speech]]) -> Speech:
    """The pieces of one text, spoken at once and joined in order (an engine bounds how many
    run). When one fails the others are cancelled and awaited, so nothing is left running."""
    tasks = [asyncio.ensure_future(piece) for piece in pieces]
    try:
        return joined(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class TrackError(UserError):
    """No track could be made; the message is one line, such as
    ``Speech endpoint https://api.openai.com/v1: the API key was rejected (401)``."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(" ".join(message.split()))
        self.status = status


class SpeechEngine(Protocol):
    """Text to speech in a named voice. ``voices`` are the MCs' choices; the host has its own."""

    name: str  # e.g. "espeak-ng" or the endpoint's base URL
    voices: tuple[str, ...]
    host_voice: str

    async def speak(self, text: str, voice: str) -> Speech:
        """``text`` spoken in ``voice``, however long; raises TrackError."""
        ...

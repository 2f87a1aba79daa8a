"""The performance port: what a live battle needs from a voice or Stage channel.

The adapter (``bot/stages/voice.py``) connects to Discord's voice, mixes the beat under the
speech it is handed and plays it; the services decide what is said, when, and what to do when
the connection is lost, without importing a chat library.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol

import numpy as np


class VoiceLost(Exception):
    """The voice connection is gone (dropped, moved away, disconnected by a moderator) or could
    not be made; the message says why, in a few words."""


class Performance(Protocol):
    """One voice or Stage channel that one battle is performed in, from joining to leaving."""

    @property
    def channel_id(self) -> int: ...

    @property
    def connected(self) -> bool:
        """Whether audio can be played now (connected, in the battle's channel, a speaker)."""
        ...

    async def join(self, topic: str) -> None:
        """Connects and starts the beat. In a Stage channel it becomes a speaker (or asks to
        speak) and names the battle in the Stage's topic (``topic``). Raises VoiceLost."""
        ...

    def say(self, samples: np.ndarray) -> Awaitable[None]:
        """Queues speech (float32 mono at 48 kHz) to play over the beat after whatever is queued.

        The awaitable resolves once it has played to its end, or raises VoiceLost when the
        connection is lost first (the rest of it is dropped). Raises VoiceLost at once when not
        connected."""
        ...

    async def rejoin(self) -> None:
        """One attempt to be back in the battle's channel after a loss; raises VoiceLost."""
        ...

    async def leave(self) -> None:
        """Stops the audio, gives the Stage its topic back and disconnects. Never raises."""
        ...


class PerformanceFactory(Protocol):
    def performance_for(self, guild_id: int, channel_id: int) -> Performance: ...

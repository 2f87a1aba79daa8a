"""Battle tracks as the settings ask for them: the speech engine (an OpenAI-compatible endpoint
when TTS_BASE_URL is set, else espeak-ng, offline), the beat, and the finished file's bytes.

Every front end (the terminal, tournaments, Discord and the web) gets its track maker here, so a
track sounds the same wherever it is made.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import av

from bot.audio.codec import encode_track, read_audio_file
from bot.audio.endpoint import SpeechEndpoint
from bot.audio.espeak import EspeakEngine
from bot.engine.mixing import drum_loop
from bot.services.tracks.desk import TrackDesk
from bot.services.tracks.maker import TrackMaker
from bot.services.tracks.speech import SpeechEngine, TrackError
from bot.settings import Settings
from bot.store import Store

# Tracks a process makes at once (each keeps a speech engine and the CPU busy); further tracks
# wait their turn.
TRACKS_AT_ONCE = 2


def speech_engine(settings: Settings) -> SpeechEngine:
    """TTS_BASE_URL's endpoint, else espeak-ng; each with TTS_VOICES and TTS_HOST_VOICE if set."""
    voices: dict[str, Any] = {}
    if settings.tts_voices:
        voices["voices"] = settings.tts_voices
    if settings.tts_host_voice:
        voices["host_voice"] = settings.tts_host_voice
    if settings.tts_base_url is None:
        return EspeakEngine(**voices)
    return SpeechEndpoint(
        settings.tts_base_url,
        settings.tts_api_key or "",
        model=settings.tts_model,
        speed=settings.tts_speed,  # a faster delivery is asked for, never made afterwards
        **voices,
    )


def beat_loop(settings: Settings, beat: bool = True):
    """The loop under the track: BEAT_FILE's, or the drum loop made in code; None without one."""
    if not (beat and settings.beat):
        return None
    if settings.beat_file is not None:
        return read_audio_file(settings.beat_file)  # a TrackError names the file if it fails
    return drum_loop(settings.beat_bpm)


@asynccontextmanager
async def opened_track_maker(settings: Settings, *, beat: bool = True) -> AsyncIterator[TrackMaker]:
    """A track maker whose speech engine is closed afterwards."""
    engine = speech_engine(settings)
    try:
        yield TrackMaker(engine, beat=beat_loop(settings, beat), bpm=settings.beat_bpm)
    finally:
        close = getattr(engine, "close", None)
        if close is not None:
            await close()


def track_seconds(path: Path) -> float:
    """A track file's length, from its container (no decoding)."""
    try:
        with av.open(str(path)) as container:
            return (container.duration or 0) / av.time_base
    except (OSError, av.error.FFmpegError) as error:
        raise TrackError(f"Cannot read the track {path}: {error}") from None


def track_desk(settings: Settings, store: Store, *, at_once: int = TRACKS_AT_ONCE) -> TrackDesk:
    """A desk making tracks as the settings say, at most ``at_once`` at a time, encoded as Ogg
    and kept in ``store``."""
    slots = asyncio.Semaphore(at_once)

    @asynccontextmanager
    async def open_maker() -> AsyncIterator[TrackMaker]:
        async with slots, opened_track_maker(settings) as maker:
            yield maker

    return TrackDesk(store, open_maker, lambda samples: encode_track(samples, "ogg"), time.time)

"""Battle tracks in the terminal: the options every command that makes tracks shares, and making
one track file with a progress line on a terminal."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Sequence
from pathlib import Path

from rich.console import Console

from bot.audio.codec import track_format, write_track
from bot.audio.tracks import opened_track_maker
from bot.engine.battle import Turn
from bot.services.tracks.maker import Track
from bot.settings import Settings


def add_no_beat(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-beat",
        dest="beat",
        action="store_false",
        help="the voices alone, with no beat under them (also BEAT=off)",
    )


async def track_to_file(
    settings: Settings,
    model_a: str,
    model_b: str,
    turns: Sequence[Turn],
    path: Path,
    *,
    topic: str | None = None,
    beat: bool = True,
) -> None:
    """Makes and writes a finished battle's track. Raises TrackError (a UserError) naming the
    engine and what failed; nothing is left at ``path``."""
    track_format(path)  # before any speech is made
    async with opened_track_maker(settings, beat=beat) as maker:
        await write_with_progress(maker.make(model_a, model_b, turns, topic), path)


async def write_with_progress(making: Awaitable[Track], path: Path) -> None:
    """Waits for a track (with a status line on a terminal), writes it, and says where it went."""
    if sys.stderr.isatty():
        with Console(stderr=True, highlight=False).status(f"Making the track {path}…"):
            track = await making
    else:
        track = await making
    await asyncio.to_thread(write_track, track.samples, path)
    minutes, seconds = divmod(round(track.seconds), 60)
    print(f"Track: {path} ({minutes}:{seconds:02d})", file=sys.stderr)

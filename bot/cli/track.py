"""`rapbattle track TRANSCRIPT.md --out PATH`: the audio track of any saved transcript in the
tournament format (our own, or the tournament's own files)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bot.cli.audio import add_no_beat, track_to_file
from bot.cli.options import EXIT_OK, EXIT_USAGE, run_in_terminal
from bot.engine.transcript import Transcript, TranscriptFormatError, parse
from bot.settings import Settings


def add_parser(commands: Any) -> None:
    """Adds ``track`` to the ``rapbattle`` subcommands."""
    parser = commands.add_parser(
        "track",
        help="make the audio track of a saved transcript",
        description="Make a battle's audio track from a transcript in the tournament format: "
        "the host reads the title and the announcements, each MC raps in its own voice, over a "
        "beat. The format follows --out's extension: .ogg, .wav or .mp3.",
    )
    parser.add_argument("transcript", type=Path, metavar="TRANSCRIPT", help="a transcript file")
    parser.add_argument(
        "--out", type=Path, required=True, metavar="PATH", help="the track file to write"
    )
    add_no_beat(parser)
    parser.set_defaults(run=run)


def run(settings: Settings, arguments: argparse.Namespace) -> int:
    """A file that cannot be read or is not a transcript exits 2; a failed track exits 1."""
    try:
        text = arguments.transcript.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        print(f"rapbattle track: cannot read {arguments.transcript}: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        transcript = parse(text)
    except TranscriptFormatError as error:
        print(
            f"rapbattle track: {arguments.transcript} is not a transcript in the tournament "
            f"format: {error}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if not any(not turn.is_announcement for turn in transcript.turns):
        print(f"rapbattle track: {arguments.transcript} holds no verse.", file=sys.stderr)
        return EXIT_USAGE
    return run_in_terminal(_make(settings, transcript, arguments), "Stopped. No track written.")


async def _make(settings: Settings, transcript: Transcript, arguments: argparse.Namespace) -> int:
    await track_to_file(
        settings,
        transcript.model_a,
        transcript.model_b,
        transcript.turns,
        arguments.out,
        beat=arguments.beat,
    )
    return EXIT_OK

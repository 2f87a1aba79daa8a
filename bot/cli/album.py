"""`rapbattle tournament --audio`: every battle's track beside its transcript, and an album.

``round{r}/{k}.ogg`` is made from ``round{r}/{k}.txt`` once (a resumed run makes only the missing
ones), and ``album.m3u8`` lists every track in play order, with the champion's last battle last.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.audio.tracks import track_seconds
from bot.cli.audio import track_to_file
from bot.engine.tournament import PlayedRound
from bot.engine.transcript import TranscriptFormatError, parse
from bot.errors import UserError
from bot.services.tournaments.folder import write_atomically
from bot.settings import Settings

ALBUM_FILE = "album.m3u8"
TRACK_SUFFIX = ".ogg"


@dataclass(frozen=True, slots=True)
class AlbumTrack:
    path: str  # relative to the tournament's folder
    title: str
    winner: str


def album_order(rounds: Sequence[PlayedRound], champion: str) -> list[AlbumTrack]:
    """Every battle in play order, then the champion's last battle moved to the end."""
    tracks = [
        AlbumTrack(
            f"round{number}/{d.pairing.index}{TRACK_SUFFIX}",
            f"{d.pairing.side_a} v {d.pairing.side_b}",
            d.winner,
        )
        for number, played in enumerate(rounds)
        for d in played.decisions
    ]
    last = max(
        (i for i, track in enumerate(tracks) if champion in track.title.split(" v ")),
        default=None,
    )
    if last is not None:
        tracks.append(tracks.pop(last))
    return tracks


async def make_album(
    settings: Settings,
    out: Path,
    rounds: Sequence[PlayedRound],
    champion: str,
    *,
    beat: bool = True,
) -> Path:
    """Makes the missing tracks, then writes the album; returns the album's path."""
    tracks = album_order(rounds, champion)
    for track in tracks:
        path = out / track.path
        if path.is_file():
            continue
        transcript_path = path.with_suffix(".txt")
        try:
            transcript = parse(transcript_path.read_text(encoding="utf-8"))
        except (OSError, TranscriptFormatError) as error:
            raise UserError(f"Cannot make a track from {transcript_path}: {error}") from None
        await track_to_file(
            settings, transcript.model_a, transcript.model_b, transcript.turns, path, beat=beat
        )
    lines = ["#EXTM3U"]
    for track in tracks:
        seconds = round(track_seconds(out / track.path))
        lines += [f"#EXTINF:{seconds},{track.title}", track.path]
    album = out / ALBUM_FILE
    write_atomically(album, "\n".join(lines) + "\n")
    return album

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
from bot.engine.tournament import Pairing, PlayedRound
from bot.engine.transcript import TranscriptFormatError, parse
from bot.errors import UserError
from bot.services.tournaments.folder import write_atomically
from bot.settings import Settings

ALBUM_FILE = "album.m3u8"
TRACK_SUFFIX = ".ogg"


@dataclass(frozen=True, slots=True)
class AlbumTrack:
    round: int
    pairing: Pairing

    @property
    def path(self) -> str:
        """Beside the battle's transcript, relative to the tournament's folder."""
        return f"round{self.round}/{self.pairing.index}{TRACK_SUFFIX}"

    @property
    def title(self) -> str:
        return f"{self.pairing.side_a} v {self.pairing.side_b}"


def album_order(rounds: Sequence[PlayedRound], champion: str) -> list[AlbumTrack]:
    """Every battle in play order, then the champion's last battle moved to the end."""
    tracks = [
        AlbumTrack(number, d.pairing)
        for number, played in enumerate(rounds)
        for d in played.decisions
    ]
    played_by_champion = (
        i for i, t in enumerate(tracks) if champion in (t.pairing.side_a, t.pairing.side_b)
    )
    last = max(played_by_champion, default=None)
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

"""The tournament's transcript format: render and parse, byte for byte."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.engine.battle import SYSTEM_SPEAKER, Battle, Side, Turn

HEADER_PREFIX = "# "
HEADER_SEPARATOR = " v "
SPEAKER_PREFIX = "> "


class TranscriptFormatError(ValueError):
    """The text is not a transcript in the tournament format."""


@dataclass(frozen=True, slots=True)
class Transcript:
    model_a: str
    model_b: str
    turns: tuple[Turn, ...]


def header(model_a: str, model_b: str) -> str:
    """The transcript's opening; each turn block follows it, so the text stays valid as it grows."""
    return f"{HEADER_PREFIX}{model_a}{HEADER_SEPARATOR}{model_b}\n"


def turn_block(turn: Turn) -> str:
    return f"\n{SPEAKER_PREFIX}{turn.speaker}\n{turn.text}\n"


def render(model_a: str, model_b: str, turns: Iterable[Turn]) -> str:
    return header(model_a, model_b) + "".join(turn_block(turn) for turn in turns)


def parse(text: str) -> Transcript:
    """Read a transcript; turns are told apart by the speaker lines the battle's order expects."""
    first_line, newline, body = text.partition("\n")
    if not newline or not first_line.startswith(HEADER_PREFIX):
        raise TranscriptFormatError("A transcript starts with '# MODEL_A v MODEL_B'.")
    model_a, separator, model_b = first_line[len(HEADER_PREFIX) :].partition(HEADER_SEPARATOR)
    if not separator or not model_a or not model_b:
        raise TranscriptFormatError("A transcript starts with '# MODEL_A v MODEL_B'.")
    if not body:
        return Transcript(model_a, model_b, ())
    if not body.endswith("\n"):
        raise TranscriptFormatError("A transcript ends with one newline.")
    speakers = {SYSTEM_SPEAKER: None, model_a: Side.A, model_b: Side.B}
    turns: list[Turn] = []
    rest = body
    verses = 0
    while rest:
        speaker, text, rest = _next_block(rest, speakers)
        side = _side_of(speaker, verses, model_a, model_b)
        round_number = verses // 2 + 1
        turns.append(Turn(speaker, text, side, round_number))
        if side is not None:
            verses += 1
    return Transcript(model_a, model_b, tuple(turns))


def _next_block(rest: str, speakers: dict[str, Side | None]) -> tuple[str, str, str]:
    if not rest.startswith("\n" + SPEAKER_PREFIX):
        raise TranscriptFormatError("Each turn starts with an empty line, then '> SPEAKER'.")
    speaker, newline, remainder = rest[1 + len(SPEAKER_PREFIX) :].partition("\n")
    if not newline or speaker not in speakers:
        raise TranscriptFormatError(f"Unknown speaker line: '> {speaker}'.")
    end = _end_of_text(remainder, speakers)
    return speaker, remainder[: end - 1], remainder[end:]


def _end_of_text(remainder: str, speakers: dict[str, Side | None]) -> int:
    """Where a turn's text ends: before the next '\\n> SPEAKER\\n' line, or at the final newline."""
    candidates = [
        position
        for speaker in speakers
        if (position := remainder.find(f"\n\n{SPEAKER_PREFIX}{speaker}\n")) >= 0
    ]
    return min(candidates) + 1 if candidates else len(remainder)


def _side_of(speaker: str, verses: int, model_a: str, model_b: str) -> Side | None:
    if speaker == SYSTEM_SPEAKER:
        return None
    # A model may battle itself, so the side comes from the turn order, checked against the id.
    expected = Side.A if verses % 2 == 0 else Side.B
    if speaker != (model_a if expected is Side.A else model_b):
        raise TranscriptFormatError(f"'{speaker}' speaks out of turn.")
    return expected


def transcript_of(battle: Battle, turns: Iterable[Turn]) -> str:
    return render(battle.model_a, battle.model_b, turns)

"""What a battle is, and the order of its turns."""

from __future__ import annotations

import enum
import unicodedata
from dataclasses import dataclass

from bot.errors import InvalidBattle

MIN_ROUNDS = 1
MAX_ROUNDS = 10
DEFAULT_ROUNDS = 3
MAX_TOPIC_LENGTH = 200
SYSTEM_SPEAKER = "system"
FINAL_ROUND = "Final round!"
BLIND_NAMES = ("MC A", "MC B")
ZERO_WIDTH_JOINER = "\u200d"


class Side(enum.Enum):
    A = "a"
    B = "b"

    @property
    def opponent(self) -> Side:
        return Side.B if self is Side.A else Side.A


@dataclass(frozen=True, slots=True)
class Turn:
    """One posted line of a battle: a verse by a side, or an announcement (side None)."""

    speaker: str
    text: str
    side: Side | None
    round: int

    @property
    def is_announcement(self) -> bool:
        return self.side is None


@dataclass(frozen=True, slots=True)
class Slot:
    """A planned turn: who speaks, in which round."""

    side: Side | None
    round: int

    @property
    def is_announcement(self) -> bool:
        return self.side is None


@dataclass(frozen=True, slots=True)
class Battle:
    model_a: str
    model_b: str
    rounds: int = DEFAULT_ROUNDS
    topic: str | None = None
    blind: bool = False
    # Clean mode: every model's system message asks it to keep the battle clean.
    clean: bool = False

    def __post_init__(self) -> None:
        if not MIN_ROUNDS <= self.rounds <= MAX_ROUNDS:
            raise InvalidBattle(f"Rounds must be between {MIN_ROUNDS} and {MAX_ROUNDS}.")
        if self.topic is not None:
            check_topic(self.topic)

    def model(self, side: Side) -> str:
        return self.model_a if side is Side.A else self.model_b

    def stage_name(self, side: Side) -> str:
        """The name a side battles under: its model id, or a neutral MC name in blind mode."""
        if self.blind:
            return BLIND_NAMES[0] if side is Side.A else BLIND_NAMES[1]
        return self.model(side)

    def plan(self) -> list[Slot]:
        """Every turn in order: A then B each round, with the announcement before the last."""
        slots: list[Slot] = []
        for number in range(1, self.rounds + 1):
            if number == self.rounds and self.rounds >= 2:
                slots.append(Slot(None, number))
            slots.append(Slot(Side.A, number))
            slots.append(Slot(Side.B, number))
        return slots

    def verse_count(self) -> int:
        return 2 * self.rounds

    def turn(self, slot: Slot, text: str) -> Turn:
        if slot.side is None:
            return Turn(SYSTEM_SPEAKER, text, None, slot.round)
        return Turn(self.model(slot.side), text, slot.side, slot.round)


def normalize_topic(raw: str | None) -> str | None:
    """A topic as typed, trimmed; blank means none. Raises InvalidBattle when it breaks a rule."""
    if raw is None or not raw.strip():
        return None
    topic = raw.strip()
    check_topic(topic)
    return topic


def check_topic(topic: str) -> None:
    if len(topic) > MAX_TOPIC_LENGTH:
        raise InvalidBattle(f"The topic is {len(topic)} characters; keep it to {MAX_TOPIC_LENGTH}.")
    # Control characters (newlines included) could forge extra prompt lines or transcript turns.
    if any(_is_control(char) for char in topic):
        raise InvalidBattle("The topic must be one line of plain text.")
    if topic != topic.strip() or not topic:
        raise InvalidBattle("The topic must not be blank or start or end with spaces.")


def _is_control(char: str) -> bool:
    # The zero-width joiner is a format character, but emoji sequences need it.
    return char != ZERO_WIDTH_JOINER and unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp")

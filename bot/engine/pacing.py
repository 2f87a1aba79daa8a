"""How long a verse stays on screen before the next one is posted."""

from __future__ import annotations

from dataclasses import dataclass

from bot.errors import InvalidBattle

# People read a verse at roughly this speed; the clamp keeps short verses readable
# and stops a 14,000-character verse from holding the channel for minutes.
AUTO_CHARS_PER_SECOND = 30.0
AUTO_MIN_SECONDS = 4.0
AUTO_MAX_SECONDS = 40.0
MAX_FIXED_SECONDS = 300.0
AUTO = "auto"


@dataclass(frozen=True, slots=True)
class Pace:
    """A fixed pause in seconds (0 turns pacing off), or ``seconds=None`` for reading time."""

    seconds: float | None = None

    @classmethod
    def parse(cls, text: str) -> Pace:
        value = text.strip().lower()
        if value == AUTO:
            return cls(None)
        try:
            seconds = float(value)
        except ValueError:
            message = f"Pace must be a number of seconds or '{AUTO}', not '{text}'."
            raise InvalidBattle(message) from None
        if not 0 <= seconds <= MAX_FIXED_SECONDS:
            raise InvalidBattle(f"Pace must be between 0 and {MAX_FIXED_SECONDS:g} seconds.")
        return cls(seconds)

    @property
    def is_auto(self) -> bool:
        return self.seconds is None

    def pause_after(self, verse: str) -> float:
        if self.seconds is not None:
            return self.seconds
        reading = len(verse) / AUTO_CHARS_PER_SECOND
        return min(max(reading, AUTO_MIN_SECONDS), AUTO_MAX_SECONDS)

    def __str__(self) -> str:
        return AUTO if self.seconds is None else f"{self.seconds:g}"


def performed_pause(reading_seconds: float, performing_seconds: float, gap_seconds: float) -> float:
    """How long a posted turn stays up when the battle is also performed aloud: its reading time,
    or as long as it is still being performed plus a gap, whichever is longer, so the next turn
    never cuts a performance off. A turn left silent (``performing_seconds`` 0) is only read."""
    if performing_seconds <= 0:
        return reading_seconds
    return max(reading_seconds, performing_seconds + max(0.0, gap_seconds))

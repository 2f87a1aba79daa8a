"""Seasons: a leaderboard fitted from one calendar month's or quarter's battles only.

A season is named by its months in UTC: ``2026-12`` for a month, ``2026-Q4`` for a quarter. A
battle counts in the season in which it *started* (its ``created_at``), so a vote that closes
just after midnight on the last day of a month still counts in the month the battle was fought,
and a season's board never changes its battles once the season is over (only votes still open
at its end can add to it). A season is the half-open window [start, end) of UTC times.
"""

from __future__ import annotations

import datetime
import enum
import re
from dataclasses import dataclass

from bot.errors import UserError

CURRENT = "current"
PREVIOUS = "previous"
ALL = "all"
OFF = "off"
_MONTH_NAME = re.compile(r"^(\d{4})-(\d{1,2})$")
_QUARTER_NAME = re.compile(r"^(\d{4})-?q(\d)$")
_FIRST_YEAR = 1970  # the Unix epoch: no battle started before it
_MONTHS_PER_YEAR = 12


class InvalidSeason(UserError):
    """A season was asked for by a name that names none (or none here)."""


class SeasonLength(enum.Enum):
    """How long a server's seasons are (its ``season`` setting, when not off)."""

    MONTH = "month"
    QUARTER = "quarter"

    @property
    def months(self) -> int:
        return 1 if self is SeasonLength.MONTH else 3

    @property
    def example(self) -> str:
        return "2026-12" if self is SeasonLength.MONTH else "2026-Q4"

    @property
    def plural(self) -> str:
        return "months" if self is SeasonLength.MONTH else "quarters"


def season_length(setting: str | None) -> SeasonLength | None:
    """The ``season`` setting's value as a length; None when seasons are off."""
    if setting is None or setting == OFF:
        return None
    return SeasonLength(setting)


@dataclass(frozen=True, order=True, slots=True)
class Season:
    """One month or quarter. ``number`` is the month (1-12) or the quarter (1-4)."""

    year: int
    number: int
    length: SeasonLength = SeasonLength.MONTH

    @classmethod
    def of(cls, moment: float, length: SeasonLength = SeasonLength.MONTH) -> Season:
        """The season that holds ``moment`` (seconds since the epoch, UTC)."""
        when = datetime.datetime.fromtimestamp(moment, datetime.UTC)
        return cls(when.year, (when.month - 1) // length.months + 1, length)

    @property
    def name(self) -> str:
        if self.length is SeasonLength.MONTH:
            return f"{self.year:04d}-{self.number:02d}"
        return f"{self.year:04d}-Q{self.number}"

    def __str__(self) -> str:
        return self.name

    @property
    def _first_month(self) -> int:
        """Months since year 0 of the season's first month (0-based)."""
        return self.year * _MONTHS_PER_YEAR + (self.number - 1) * self.length.months

    @property
    def start(self) -> float:
        """The first moment of the season (UTC), in seconds since the epoch."""
        return _month_start(self._first_month)

    @property
    def end(self) -> float:
        """The first moment after the season: the next season's start."""
        return _month_start(self._first_month + self.length.months)

    def __contains__(self, moment: float) -> bool:
        return self.start <= moment < self.end

    @property
    def previous(self) -> Season:
        return self._shifted(-1)

    @property
    def next(self) -> Season:
        return self._shifted(1)

    def _shifted(self, seasons: int) -> Season:
        per_year = _MONTHS_PER_YEAR // self.length.months
        index = self.year * per_year + self.number - 1 + seasons
        return Season(index // per_year, index % per_year + 1, self.length)


def _month_start(months: int) -> float:
    year, month = divmod(months, _MONTHS_PER_YEAR)
    return datetime.datetime(year, month + 1, 1, tzinfo=datetime.UTC).timestamp()


def parse_season(text: str | None, length: SeasonLength | None, now: float) -> Season | None:
    """The season a command or a page asks for; None for all time.

    ``text`` is ``current``, ``previous``, ``all`` or a season's name (``2026-12`` for a month,
    ``2026-Q4`` for a quarter), any case; left out, it is the current season, or all time when
    seasons are off (``length`` None). Raises InvalidSeason with a message to show as it is: a
    name that names no season, a season of the other length, one that has not started, or any
    season at all when seasons are off.
    """
    word = (text or "").strip().lower()
    if word == ALL or (not word and length is None):
        return None
    if length is None:
        raise InvalidSeason(
            "Seasons are off here, so there is only the all-time board"
            " (a server turns them on with `/battle-settings season:`)."
        )
    current = Season.of(now, length)
    if not word or word == CURRENT:
        return current
    if word == PREVIOUS:
        return current.previous
    season = _named(word, length)
    if season > current:
        raise InvalidSeason(f"Season {season.name} has not started yet.")
    return season


def _named(word: str, length: SeasonLength) -> Season:
    month, quarter = _MONTH_NAME.match(word), _QUARTER_NAME.match(word)
    found = month or quarter
    if found is None:
        raise InvalidSeason(
            f"`{word[:40]}` is not a season: give current, previous, all, or a name such as"
            f" {length.example}."
        )
    given = SeasonLength.MONTH if month else SeasonLength.QUARTER
    if given is not length:
        raise InvalidSeason(
            f"These seasons are {length.plural}: name one such as {length.example}."
        )
    year, number = int(found.group(1)), int(found.group(2))
    if year < _FIRST_YEAR or not 1 <= number <= _MONTHS_PER_YEAR // length.months:
        raise InvalidSeason(f"`{word[:40]}` is not a season: name one such as {length.example}.")
    return Season(year, number, length)

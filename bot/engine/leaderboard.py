"""Leaderboard standings, rating changes and history lines, as text sized for Discord embeds."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.engine.discord_limits import EMBED_DESCRIPTION_CHARS
from bot.engine.ratings import Rating, leaderboard_order, rank

ROWS_PER_PAGE = 10
MODEL_NAME_CHARS = 60


class Board(enum.Enum):
    """Whose picks a leaderboard rates: the audience's votes, or the judges' panel."""

    CROWD = "crowd"
    JUDGES = "judges"


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """A model's rated record in one scope (a server, or every server that shares it)."""

    wins: int = 0
    losses: int = 0
    draws: int = 0
    battles: int = 0
    votes: int = 0


@dataclass(frozen=True, slots=True)
class Standing:
    rank: int
    model: str
    rating: Rating
    record: ModelRecord


def standings(ratings: Mapping[str, Rating], records: Mapping[str, ModelRecord]) -> list[Standing]:
    ranks = rank(ratings)
    return [
        Standing(ranks[model], model, ratings[model], records.get(model, ModelRecord()))
        for model in leaderboard_order(ratings)
    ]


def standing_line(standing: Standing) -> str:
    rating, record = standing.rating, standing.record
    margin = max(rating.high - rating.rating, rating.rating - rating.low)
    name = _clip(standing.model).replace("`", "'")
    return (
        f"`#{standing.rank:<3}` **{_escape(name)}** {rating.rating:.0f} ±{margin:.0f}"
        f" · {record.wins}-{record.losses}-{record.draws}"
        f" · {_plural(record.battles, 'battle')} · {_plural(record.votes, 'vote')}"
    )


def pages(rows: Sequence[Standing], per_page: int = ROWS_PER_PAGE) -> list[str]:
    """Embed descriptions, ``per_page`` standings each; always at least one page."""
    if not rows:
        return ["No rated battles yet. Start one with `/battle`!"]
    texts = []
    for start in range(0, len(rows), per_page):
        text = "\n".join(standing_line(row) for row in rows[start : start + per_page])
        texts.append(text[:EMBED_DESCRIPTION_CHARS])
    return texts


@dataclass(frozen=True, slots=True)
class RatingChange:
    model: str
    before: float | None
    after: float
    rank: int

    def line(self) -> str:
        delta = "new" if self.before is None else f"{self.after - self.before:+.0f}"
        return f"**{_escape(_clip(self.model))}** {self.after:.0f} ({delta}), rank #{self.rank}"


def rating_changes(
    models: Sequence[str], before: Sequence[Standing], after: Sequence[Standing]
) -> list[RatingChange]:
    old = {s.model: s.rating.rating for s in before}
    new = {s.model: s for s in after}
    return [
        RatingChange(model, old.get(model), new[model].rating.rating, new[model].rank)
        for model in dict.fromkeys(models)
        if model in new
    ]


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _clip(name: str) -> str:
    return name if len(name) <= MODEL_NAME_CHARS else name[: MODEL_NAME_CHARS - 1] + "…"


def _escape(name: str) -> str:
    return "".join(f"\\{char}" if char in "\\*_~|" else char for char in name)

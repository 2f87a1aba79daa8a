"""Vote counting from reactions: bots never count, and a voter on both sides counts for neither."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bot.engine.battle import Side

DEFAULT_EMOJI = {Side.A: "🅰️", Side.B: "🅱️"}
MIN_VOTE_SECONDS = 10
MAX_VOTE_SECONDS = 24 * 60 * 60
DEFAULT_VOTE_SECONDS = 60


@dataclass(frozen=True, slots=True)
class Voter:
    user_id: int
    is_bot: bool = False
    is_self: bool = False  # the bot's own reaction (it adds both when it posts the vote)


@dataclass(frozen=True, slots=True)
class Tally:
    ballots: Mapping[int, Side] = field(default_factory=dict)
    # Reactions that never count, kept for the vote audit (bot/engine/vote_audit.py): other bots'
    # (their side, None for both) and members who reacted on both sides. Not part of the count.
    bots: Mapping[int, Side | None] = field(default_factory=dict, compare=False)
    both_sides: frozenset[int] = field(default=frozenset(), compare=False)

    def votes(self, side: Side) -> int:
        return sum(1 for choice in self.ballots.values() if choice is side)

    @property
    def total(self) -> int:
        return len(self.ballots)

    @property
    def winner(self) -> Side | None:
        """The side with more votes; None for a draw or no votes."""
        a, b = self.votes(Side.A), self.votes(Side.B)
        if a == b:
            return None
        return Side.A if a > b else Side.B

    def score_a(self) -> float | None:
        """Side A's share of the votes, the battle's score for ratings; None without votes."""
        return self.votes(Side.A) / self.total if self.total else None


def tally(reactions: Mapping[Side, Iterable[Voter]]) -> Tally:
    """Count the users who reacted with each side's emoji (the bot's own reactions aside)."""
    sides_by_user: dict[int, set[Side]] = {}
    sides_by_bot: dict[int, set[Side]] = {}
    for side, voters in reactions.items():
        for voter in voters:
            if voter.is_self:
                continue
            by = sides_by_bot if voter.is_bot else sides_by_user
            by.setdefault(voter.user_id, set()).add(side)
    return Tally(
        {user: next(iter(sides)) for user, sides in sides_by_user.items() if len(sides) == 1},
        bots={bot: _only(sides) for bot, sides in sides_by_bot.items()},
        both_sides=frozenset(user for user, sides in sides_by_user.items() if len(sides) > 1),
    )


def _only(sides: set[Side]) -> Side | None:
    return next(iter(sides)) if len(sides) == 1 else None


class LiveTally:
    """A running count from reaction add and remove events, under the same rules."""

    def __init__(self) -> None:
        # Every reactor, bots included, so that the counts can be checked against the message's.
        self._reactions: dict[Side, dict[int, Voter]] = {Side.A: {}, Side.B: {}}

    def add(self, side: Side, voter: Voter) -> None:
        self._reactions[side][voter.user_id] = voter

    def remove(self, side: Side, user_id: int) -> None:
        self._reactions[side].pop(user_id, None)

    def current(self) -> Tally:
        return tally({side: voters.values() for side, voters in self._reactions.items()})

    def matches(
        self, message_counts: Mapping[Side, int], reacted_myself: Mapping[Side, bool]
    ) -> bool:
        """Whether this count saw exactly the reactions the vote message shows, per side.

        ``message_counts`` include the bot's own reactions; events for those may have come before
        this count started listening, so the bot itself is left out on both sides of the check.
        """
        return all(
            sum(1 for voter in voters.values() if not voter.is_self)
            == message_counts.get(side, 0) - int(reacted_myself.get(side, False))
            for side, voters in self._reactions.items()
        )


def side_for_emoji(emoji: str, emoji_by_side: Mapping[Side, str]) -> Side | None:
    """Which side an emoji votes for; variation selectors are ignored, as clients vary in them."""
    wanted = bare_emoji(emoji)
    for side, candidate in emoji_by_side.items():
        if bare_emoji(candidate) == wanted:
            return side
    return None


def bare_emoji(emoji: str) -> str:
    """The emoji without variation selectors, which clients add or leave out."""
    return emoji.replace("\ufe0f", "")

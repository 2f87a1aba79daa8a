"""The store's part for the vote audit: votes set aside and why, every member's picks read back,
and the members a server's admins set aside, with the log of who did so and when.

Part of the interface (``Store`` in base.py inherits it); the SQL is in audit_queries.py, the
in-memory fake in tests/fakes/memory_audit.py.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Protocol

from bot.engine.battle import Side
from bot.engine.vote_audit import SetAsideVote, VotePick


@dataclass(frozen=True, slots=True)
class VoterChange:
    """One /battle-voter change, as the log keeps it: who was excluded (or included again) on
    which server, by whom, when, and how many of their past votes it moved."""

    guild_id: int
    user_id: int
    excluded: bool
    changed_by: int
    changed_at: float
    votes_moved: int


class AuditStore(Protocol):
    async def set_aside_votes(self, battle_id: int) -> list[SetAsideVote]:
        """The reactions on a battle's vote that did not count, and why (kept when it closed;
        battles closed before the audit keep only their count, ``votes_set_aside``)."""
        ...

    async def vote_picks(self, guild_id: int, user_id: int | None = None) -> list[VotePick]:
        """Every pick on a server's closed votes (one member's, or everyone's), counted or set
        aside, with its battle's counted votes; newest battle first."""
        ...

    async def excluded_voters(self, guild_id: int) -> frozenset[int]:
        """The members whose votes this server's admins set aside."""
        ...

    async def votes_counted_since(
        self, guild_id: int, user_ids: Collection[int], since: float
    ) -> dict[int, int]:
        """How many votes of each member counted on a server in votes closed since ``since``
        (members with none are left out): what the daily cap is checked against."""
        ...

    async def set_voter_excluded(
        self, guild_id: int, user_id: int, excluded: bool, changed_by: int, now: float
    ) -> VoterChange | None:
        """Excludes a member's votes on a server (or includes them again), past and future, in
        one transaction: their counted votes on closed battles are set aside (or those the
        exclusion set aside count again), the battles' counts and the crowd board's aggregates
        follow, the ratings version moves, and the change is logged. None when the member
        already was so: nothing changes and nothing is logged."""
        ...

    async def voter_changes(self, guild_id: int, user_id: int | None = None) -> list[VoterChange]:
        """The /battle-voter log of a server (of one member), oldest first."""
        ...


@dataclass
class BoardDelta:
    """What moving votes on rated battles does to the crowd board's aggregates, summed so that
    it is applied once per row, in key order (as a vote's close locks them, in name order)."""

    # (guild, first model, second model) in name order: [battles, score_a, score_sq]
    pairs: dict[tuple[int, str, str], list[float]] = field(default_factory=dict)
    # (guild, model): [wins, losses, draws, battles, votes]
    models: dict[tuple[int, str], list[int]] = field(default_factory=dict)

    def add(
        self, guild_id: int, model_a: str, model_b: str, votes_a: int, votes_b: int, sign: int
    ) -> None:
        """Adds (sign +1) or takes away (-1) one rated battle with these counted votes, as
        closing its vote added it (no votes, or a model against itself: never rated)."""
        total = votes_a + votes_b
        if total == 0 or model_a == model_b:
            return
        score_a = votes_a / total
        winner = None if votes_a == votes_b else Side.A if votes_a > votes_b else Side.B
        first, second, first_score = (
            (model_a, model_b, score_a) if model_a < model_b else (model_b, model_a, 1 - score_a)
        )
        pair = self.pairs.setdefault((guild_id, first, second), [0.0, 0.0, 0.0])
        pair[0] += sign
        pair[1] += sign * first_score
        pair[2] += sign * first_score * first_score
        for model, side, votes in ((model_a, Side.A, votes_a), (model_b, Side.B, votes_b)):
            row = self.models.setdefault((guild_id, model), [0, 0, 0, 0, 0])
            row[0] += sign * int(winner is side)
            row[1] += sign * int(winner is side.opponent)
            row[2] += sign * int(winner is None)
            row[3] += sign
            row[4] += sign * votes

    def __bool__(self) -> bool:
        return bool(self.pairs or self.models)

"""What the store keeps about the judges, as the interface declares it: where each verdict
stands, and the part of the Store that keeps verdicts (verdict_queries.py holds its SQL).

A judged battle's verdict is ``pending`` from its start until both its vote has closed and its
judges have answered; it is then ``stored`` in one transaction with its ballots and the judges'
aggregates (so the judges' board never moves while the crowd still votes), then ``posted`` with
its message id, or ``undeliverable`` when its channel refused it. A judging that crashed is
``failed``. After a restart, a pending verdict is judged again and a stored one is posted.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from bot.engine.battle import Side
from bot.engine.judge_stats import JudgeBallotRow
from bot.engine.verdicts import Verdict


class VerdictState(enum.Enum):
    PENDING = "pending"
    STORED = "stored"
    POSTED = "posted"
    UNDELIVERABLE = "undeliverable"
    FAILED = "failed"

    @property
    def has_ballots(self) -> bool:
        return self in (VerdictState.STORED, VerdictState.POSTED, VerdictState.UNDELIVERABLE)


@dataclass(frozen=True, slots=True)
class VerdictStatus:
    """Where a judged battle's verdict stands."""

    state: VerdictState
    message_id: int | None = None
    reason: str | None = None


class VerdictStore(Protocol):
    """What the store keeps about the judges (every backend, the in-memory one included)."""

    async def mark_judged(self, battle_id: int) -> None:
        """The battle will be judged: its verdict is pending."""
        ...

    async def verdict_status(self, battle_id: int) -> VerdictStatus | None:
        """None when the battle is not judged."""
        ...

    async def store_verdict(self, battle_id: int, verdict: Verdict) -> bool:
        """Keeps a pending verdict's ballots and rates its battle on the judges' board, once the
        battle's vote has closed; False when it was not pending or the vote is not closed."""
        ...

    async def stored_verdict(self, battle_id: int) -> Verdict | None: ...

    async def set_verdict_message(self, battle_id: int, message_id: int) -> bool:
        """A stored verdict was posted; False if it was not waiting to be."""
        ...

    async def verdict_undeliverable(self, battle_id: int, reason: str) -> bool:
        """A stored verdict could not be posted: keep why, and stop trying."""
        ...

    async def verdict_failed(self, battle_id: int, reason: str) -> bool:
        """A pending verdict could not be reached (the judging crashed): stop trying."""
        ...

    async def unfinished_verdicts(self) -> list[tuple[int, VerdictState]]:
        """Pending or stored verdicts of battles voting or closed, by battle id."""
        ...

    async def judge_ballot_rows(self, guild_id: int | None) -> list[JudgeBallotRow]:
        """Every ballot of closed battles with a stored verdict, for one server or (None) every
        server on the global board, in battle and seat order."""
        ...


def judges_score_a(verdict: Verdict) -> float | None:
    """Side A's share of the judges who picked; None when none did (not rated)."""
    a, b = verdict.votes(Side.A), verdict.votes(Side.B)
    return None if a + b == 0 else a / (a + b)

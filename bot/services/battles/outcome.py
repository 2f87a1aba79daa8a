"""How a battle ended, as whoever awaits it (a tournament, a test) receives it."""

from __future__ import annotations

from dataclasses import dataclass

from bot.engine.lifecycle import BattleState
from bot.engine.verdicts import Verdict
from bot.engine.votes import Tally
from bot.store import StoredBattle


@dataclass(frozen=True, slots=True)
class BattleOutcome:
    """How a battle ended, once nothing about it will change: its final stored record, and the
    counted vote when it had one."""

    stored: StoredBattle
    tally: Tally | None = None
    verdict: Verdict | None = None  # the judges', stored before the outcome is settled

    @property
    def state(self) -> BattleState:
        return self.stored.state

"""One tournament runner for every front end.

The runner walks a tournament's ``Progression`` (bot/engine/progression.py): it plans each round,
has each match played, and crowns the champion. What differs between the terminal and Discord
sits behind two narrow ports: a ``MatchPlayer`` plays and decides one match and keeps its result
(files and a panel's verdict, or an arena battle and the crowd's vote), and a ``Scoreboard`` keeps
and shows the rounds (``results.md`` and a progress display, or the store and a bracket embed).
Both read back what an earlier run kept, so a run stopped at any moment goes on where it stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.engine.progression import Finished, Match, PlanRound, PlayMatches, Progression
from bot.engine.tournament import Decision, RoundPlan
from bot.errors import UserError


class MatchPlayer(Protocol):
    async def decided(self, match: Match) -> Decision | None:
        """The decision an earlier run kept for ``match``, or None to play it (again)."""
        ...

    async def play(self, match: Match) -> Decision:
        """Plays ``match`` from the start, decides it, and keeps the result."""
        ...


class Scoreboard(Protocol):
    async def round_planned(self, progression: Progression, number: int, plan: RoundPlan) -> None:
        """Round ``number`` is about to be played (also on a resumed run, for every round)."""
        ...

    async def round_decided(self, progression: Progression, number: int) -> None: ...

    async def finished(self, progression: Progression, result: Finished) -> None: ...


@dataclass(frozen=True, slots=True)
class TournamentResult:
    progression: Progression
    finished: Finished


class TournamentRunner:
    """Runs a tournament to its champion; ``run()`` may be called again after any stop."""

    def __init__(
        self,
        progression: Progression,
        player: MatchPlayer,
        scoreboard: Scoreboard,
        *,
        concurrency: int = 1,
    ) -> None:
        if concurrency < 1:
            raise ValueError("At least one match is played at a time.")
        self.progression = progression
        self.player = player
        self.scoreboard = scoreboard
        self.concurrency = concurrency

    async def run(self) -> TournamentResult:
        progression = self.progression
        while True:
            step = progression.next_step()
            if isinstance(step, PlanRound):
                await self.scoreboard.round_planned(progression, step.number, step.plan)
                progression = progression.planned(step.plan)
            elif isinstance(step, PlayMatches):
                progression = await self._play(progression, step.matches)
                await self.scoreboard.round_decided(progression, step.number)
            else:
                await self.scoreboard.finished(progression, step)
                self.progression = progression
                return TournamentResult(progression, step)
            self.progression = progression

    async def _play(self, progression: Progression, matches: Sequence[Match]) -> Progression:
        """Every match of the round: read back where kept, else played, ``concurrency`` at once.
        Decisions are applied in battle order, whatever order the battles end in."""
        decisions: dict[int, Decision] = {}
        to_play: list[Match] = []
        for match in matches:
            kept = await self.player.decided(match)
            if kept is None:
                to_play.append(match)
            else:
                decisions[match.pairing.index] = kept
        slots = asyncio.Semaphore(self.concurrency)

        async def play(match: Match) -> None:
            async with slots:
                decisions[match.pairing.index] = await self.player.play(match)

        try:
            async with asyncio.TaskGroup() as group:
                for match in to_play:
                    name = f"round {match.round} battle {match.pairing.index}"
                    group.create_task(play(match), name=name)
        except BaseExceptionGroup as failed:
            # One battle's failure cancels the round; the user sees that one error, not a group.
            user_errors = [e for e in failed.exceptions if isinstance(e, UserError)]
            raise (user_errors or failed.exceptions)[0] from None
        for match in matches:
            progression = progression.decided(match.round, decisions[match.pairing.index])
        return progression

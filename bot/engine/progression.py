"""A tournament's progression, for every front end: which round comes next, who plays in it, who
advances, and when it ends.

The terminal's tournaments (a folder of files) and Discord's (a thread of crowd-voted battles) both
advance through ``Progression``; they differ only in how a match is played and decided. The state
is a plain value rebuilt from what a front end stored (files, or the store's rows), so a resumed
tournament decides exactly as an uninterrupted one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.engine.tournament import (
    Decision,
    NoPairing,
    Pairing,
    PlayedRound,
    RoundPlan,
    TournamentFormat,
    elimination_round,
    next_contestants,
    swiss_round,
    swiss_standings,
    swiss_table,
)
from bot.errors import UserError

# How many models a tournament takes. The terminal follows the tournament our format comes from,
# which pairs any roster of two or more. In Discord two models are one /battle, and 32 is as many
# as one bracket embed can show, so a Discord tournament takes 3 to 32.
TERMINAL_ROSTER = (2, None)
DISCORD_ROSTER = (3, 32)


def check_roster(
    models: Sequence[str],
    sizes: tuple[int, int | None] = TERMINAL_ROSTER,
    how_listed: str = "",
) -> None:
    """Different models, as many as ``sizes`` allows; raises UserError saying what is wrong."""
    least, most = sizes
    if len(models) < least or (most is not None and len(models) > most):
        wanted = f"{least} to {most}" if most is not None else f"at least {least}"
        raise UserError(f"A tournament takes {wanted} models{how_listed}; got {len(models)}.")
    seen: set[str] = set()
    for model in models:
        if model in seen:
            raise UserError(f"`{model}` is listed twice: each model plays once.")
        seen.add(model)


def default_swiss_rounds(models: int) -> int:
    """Swiss rounds: enough for one model to win every round, as in single elimination."""
    return max(1, math.ceil(math.log2(models)))


def check_swiss_rounds(rounds: int, models: int) -> None:
    if not 1 <= rounds <= models - 1:
        raise UserError(f"Swiss rounds must be between 1 and {models - 1} for {models} models.")


@dataclass(frozen=True, slots=True)
class Match:
    """Battle ``pairing.index`` of round ``round``."""

    round: int
    pairing: Pairing


@dataclass(frozen=True, slots=True)
class RoundProgress:
    """A planned round and its decisions so far, by battle index (None: not decided yet)."""

    number: int
    plan: RoundPlan
    decisions: tuple[Decision | None, ...]

    @property
    def decided(self) -> bool:
        return all(decision is not None for decision in self.decisions)

    @property
    def undecided(self) -> tuple[Match, ...]:
        return tuple(
            Match(self.number, pairing)
            for pairing, decision in zip(self.plan.pairings, self.decisions, strict=True)
            if decision is None
        )

    def played(self) -> PlayedRound:
        if not self.decided:
            raise ValueError(f"Round {self.number} is still being played.")
        return PlayedRound(self.plan, tuple(d for d in self.decisions if d is not None))


@dataclass(frozen=True, slots=True)
class PlayMatches:
    """Play (or read back) these matches of the round under way."""

    number: int
    matches: tuple[Match, ...]


@dataclass(frozen=True, slots=True)
class PlanRound:
    number: int
    plan: RoundPlan


@dataclass(frozen=True, slots=True)
class Finished:
    """The champion: the last one standing, or the top of the Swiss table. ``note`` says why a
    Swiss tournament ended before its rounds were all played."""

    champion: str
    note: str | None = None


Step = PlayMatches | PlanRound | Finished


@dataclass(frozen=True, slots=True)
class Progression:
    """Where a tournament stands. Build it with ``start``, then ``planned`` and ``decided`` as
    rounds are planned and matches decided; ``next_step`` says what to do next."""

    tournament_format: TournamentFormat
    seeds: tuple[str, ...]
    total_rounds: int
    rounds: tuple[RoundProgress, ...] = ()

    @classmethod
    def start(
        cls,
        tournament_format: TournamentFormat,
        seeds: Sequence[str],
        swiss_rounds: int | None = None,
    ) -> Progression:
        if len(set(seeds)) != len(seeds) or len(seeds) < 2:
            raise ValueError("A tournament needs at least two different models.")
        if tournament_format is TournamentFormat.SINGLE:
            total = (len(seeds) - 1).bit_length()
        else:
            total = swiss_rounds or default_swiss_rounds(len(seeds))
        return cls(tournament_format, tuple(seeds), total)

    def planned(self, plan: RoundPlan) -> Progression:
        if self.rounds and not self.rounds[-1].decided:
            raise ValueError("A round is planned only once the one before it is decided.")
        number = len(self.rounds)
        progress = RoundProgress(number, plan, (None,) * len(plan.pairings))
        return replace(self, rounds=(*self.rounds, progress))

    def decided(self, number: int, decision: Decision) -> Progression:
        progress = self.rounds[number]
        index = decision.pairing.index
        if progress.plan.pairings[index] != decision.pairing:
            raise ValueError(f"Round {number} has no battle {decision.pairing}.")
        decisions = list(progress.decisions)
        decisions[index] = decision
        rounds = list(self.rounds)
        rounds[number] = replace(progress, decisions=tuple(decisions))
        return replace(self, rounds=tuple(rounds))

    @property
    def played_rounds(self) -> tuple[PlayedRound, ...]:
        return tuple(progress.played() for progress in self.rounds if progress.decided)

    def history(self) -> tuple[list[Decision], list[str]]:
        """Every decision so far and every bye, as the Swiss rules and the table read them."""
        decisions = [d for progress in self.rounds for d in progress.decisions if d is not None]
        byes = [p.plan.bye for p in self.rounds if p.plan.bye is not None]
        return decisions, byes

    def contestants_next(self) -> tuple[str, ...]:
        """Who goes into the next round: the seeds, then the bye and the winners in battle order
        (single elimination), or everyone by points then seed (Swiss)."""
        if self.tournament_format is TournamentFormat.SWISS:
            decisions, byes = self.history()
            return tuple(row.model for row in swiss_standings(self.seeds, decisions, byes))
        if not self.rounds:
            return self.seeds
        last = self.rounds[-1]
        return next_contestants(last.plan, [d.winner for d in last.played().decisions])

    def next_step(self) -> Step:
        if self.rounds and not self.rounds[-1].decided:
            return PlayMatches(len(self.rounds) - 1, self.rounds[-1].undecided)
        number = len(self.rounds)
        if self.tournament_format is TournamentFormat.SINGLE:
            contestants = self.contestants_next()
            if len(contestants) == 1:
                return Finished(contestants[0])
            return PlanRound(number, elimination_round(contestants))
        decisions, byes = self.history()
        if number >= self.total_rounds:
            return Finished(swiss_table(self.seeds, decisions, byes)[0].model)
        try:
            return PlanRound(number, swiss_round(self.seeds, decisions, byes))
        except NoPairing:
            # Every pairing left would be a rematch: the table stands as it is.
            note = (
                "The next Swiss round could not be paired without a rematch, so the table "
                f"stands after {number} of {self.total_rounds} rounds."
            )
            return Finished(swiss_table(self.seeds, decisions, byes)[0].model, note)

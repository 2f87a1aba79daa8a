"""Discord's match player: each match is an ordinary battle in the arena (title card, verses, the
crowd's vote, results; it counts on the leaderboard like any battle), decided by the crowd, with
the judges on a draw when the battle was judged, else the higher seed.

What it has played lives in the store, so after a restart a match whose vote is still open is
waited for, not played again, and an interrupted one is played again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

from bot.engine.battle import Battle, Side
from bot.engine.lifecycle import ENDED_WITHOUT_VOTE, BattleState
from bot.engine.progression import Match
from bot.engine.tournament import Decision, Pairing
from bot.engine.votes import Tally
from bot.errors import UserError
from bot.services.battles.arena import Arena, BattleOutcome, BattleRequest
from bot.services.battles.sessions import LOST_CHANNEL_REASON, BattleSession
from bot.services.tournaments.bracket import match_label
from bot.services.tournaments.record import decision_of
from bot.store.tournaments import StoredMatch, StoredTournament, TournamentState, TournamentStore


class TournamentEnded(Exception):
    """The tournament was stopped (or lost its place) while a match was being played."""


@dataclass(frozen=True, slots=True)
class MatchResult:
    """Who advances from a match, the crowd's votes, and the note shown when it was not simply
    the crowd's choice."""

    winner: str
    votes: tuple[int, int] | None
    note: str | None = None


def match_result(pairing: Pairing, outcome: BattleOutcome) -> MatchResult | None:
    """Decides a finished match; None when it was interrupted and must be played again.

    The crowd's winner advances. On a draw or with no votes, the judges' verdict decides when the
    battle was judged; otherwise side A, the higher seed, advances. A match that ended without a
    vote (a model failed, someone stopped it) also goes to the higher seed.
    """
    stored = outcome.stored
    a = pairing.side_a
    if stored.state is BattleState.INTERRUPTED:
        return None
    if stored.state in ENDED_WITHOUT_VOTE:
        why = stored.reason or stored.state.value
        return MatchResult(a, None, f"No contest ({why}): `{a}`, the higher seed, advances.")
    tally = outcome.tally or Tally()
    votes_a, votes_b = tally.votes(Side.A), tally.votes(Side.B)
    by_side = {Side.A: stored.battle.model_a, Side.B: stored.battle.model_b}
    votes = (votes_a, votes_b) if by_side[Side.A] == a else (votes_b, votes_a)
    if tally.winner is not None:
        return MatchResult(by_side[tally.winner], votes)
    crowd = f"A draw, {votes_a}–{votes_b}" if tally.total else "No votes"
    verdict = outcome.verdict
    if verdict is not None and verdict.winner is not None:
        judged = by_side[verdict.winner]
        split = f"{verdict.votes(verdict.winner)}–{verdict.votes(verdict.winner.opponent)}"
        return MatchResult(judged, votes, f"{crowd}: the judges chose `{judged}` ({split}).")
    return MatchResult(a, votes, f"{crowd}: `{a}`, the higher seed, advances.")


class MatchHost(Protocol):
    """What the player needs from the tournament it plays for (its session)."""

    @property
    def stored(self) -> StoredTournament: ...

    async def reload(self) -> StoredTournament: ...

    async def now_playing(self, match: StoredMatch | None) -> None:
        """The match under way (None: none), shown on the bracket."""
        ...

    async def match_decided(self) -> None: ...

    async def notice(self, text: str) -> None: ...

    async def lost_place(self) -> None:
        """The tournament's thread or channel is gone: it ends here."""
        ...

    def may_use_webhooks(self, channel_id: int) -> bool: ...


class ArenaMatchPlayer:
    """Plays a tournament's matches one by one in the arena."""

    def __init__(
        self, host: MatchHost, arena: Arena, store: TournamentStore, retry_seconds: float
    ) -> None:
        self.host = host
        self.arena = arena
        self.store = store
        self.retry_seconds = retry_seconds
        self.battle: BattleSession | None = None  # the match's battle while it runs

    async def decided(self, match: Match) -> Decision | None:
        stored = await self.host.reload()
        if stored.state is not TournamentState.RUNNING:
            raise TournamentEnded(stored.reason or stored.state.value)
        kept = stored.match(match.round, match.pairing.index)
        return decision_of(kept) if kept.winner is not None else None

    async def play(self, match: Match) -> Decision:
        """Plays one match (or finds how its battle ended) and records who advances."""
        kept = self.host.stored.match(match.round, match.pairing.index)
        outcome = None if kept.battle_id is None else await self._outcome_of(kept.battle_id)
        result = None if outcome is None else match_result(kept.pairing, outcome)
        while result is None:  # not played yet, or interrupted: play it (again)
            await self.host.now_playing(kept)
            outcome = await self._battle(kept)
            result = match_result(kept.pairing, outcome)
        self.battle = None
        await self.host.now_playing(None)
        assert outcome is not None
        if outcome.stored.reason == LOST_CHANNEL_REASON:
            # Its place is gone (a deleted thread, permissions taken away): every match left
            # would end the same way, so the seeds would decide the rest. It ends here instead.
            await self.host.lost_place()
            raise TournamentEnded(LOST_CHANNEL_REASON)
        tournament_id = self.host.stored.id
        if await self.store.decide_match(
            tournament_id, kept.round, kept.index, result.winner, result.votes, result.note
        ):
            if result.note:
                label = match_label(kept.round, kept.index).capitalize()
                await self.host.notice(f"{label}: {result.note}")
        await self.host.match_decided()
        return decision_of(self.host.stored.match(kept.round, kept.index))

    async def _battle(self, match: StoredMatch) -> BattleOutcome:
        stored = self.host.stored
        request = BattleRequest(
            guild_id=stored.guild_id,
            channel_id=stored.place_id,
            starter_id=stored.starter_id,
            starter_mention=f"<@{stored.starter_id}>",
            label=f"Tournament #{stored.id}: {match_label(match.round, match.index)}",
            judges=stored.judges,
            verses_by_webhook=self.host.may_use_webhooks(stored.place_id),
            tournament_match=True,  # the tournament starts its matches: no cooldown applies
        )
        battle = Battle(match.side_a, match.side_b, stored.battle_rounds, None, False)
        told = False
        while True:
            try:
                session = await self.arena.start(request, battle)
                break
            except UserError as refusal:
                if not told:
                    told = True
                    label = match_label(match.round, match.index).capitalize()
                    await self.host.notice(
                        f"{label} cannot start yet: {refusal} I will keep trying."
                    )
                await asyncio.sleep(self.retry_seconds)
        self.battle = session
        await self.store.set_match_battle(stored.id, match.round, match.index, session.stored.id)
        return await session.outcome()

    async def _outcome_of(self, battle_id: int) -> BattleOutcome | None:
        """How a match's battle ended, waiting for its vote if it is still open; None when it
        must be played again (interrupted, or lost)."""
        future = self.arena.outcome(battle_id)  # asked first, so that no settling is missed
        stored = await self.arena.store.battle(battle_id)
        if stored is None or stored.state is BattleState.INTERRUPTED:
            return None
        if stored.state is BattleState.CLOSED:
            return BattleOutcome(stored, Tally(await self.arena.store.ballots(battle_id)))
        if stored.state in ENDED_WITHOUT_VOTE:
            return BattleOutcome(stored)
        outcome: Any = await asyncio.shield(future)
        return outcome

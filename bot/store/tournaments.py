"""Tournaments run in Discord, as the store keeps them: the roster, every round's pairings, each
match's battle and winner, and the messages already posted, so that a restart goes on exactly
where the tournament stood and posts nothing twice.

These are the records and the part of the store interface that tournaments need;
tournament_queries.py holds their SQL, and tests/fakes/memory_store.py keeps the same contract in
memory.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.engine.tournament import Pairing, TournamentFormat


class TournamentState(enum.Enum):
    RUNNING = "running"
    FINISHED = "finished"  # a champion was crowned
    STOPPED = "stopped"  # ended early by /tournament-stop


@dataclass(frozen=True, slots=True)
class NewTournament:
    guild_id: int
    channel_id: int  # where it was announced
    starter_id: int
    tournament_format: TournamentFormat
    seeds: tuple[str, ...]  # strongest first
    battle_rounds: int  # rounds of each match
    judges: bool | None = None  # None: the server's setting decides
    threaded: bool = True  # whether it goes on in a thread opened from its announcement


@dataclass(frozen=True, slots=True)
class StoredMatch:
    """Match ``index`` of a round: its battle once started, its winner once decided."""

    round: int
    index: int
    side_a: str
    side_b: str
    battle_id: int | None = None
    winner: str | None = None
    votes_a: int | None = None
    votes_b: int | None = None
    note: str | None = None

    @property
    def pairing(self) -> Pairing:
        return Pairing(self.index, self.side_a, self.side_b)

    @property
    def loser(self) -> str | None:
        if self.winner is None:
            return None
        return self.side_b if self.winner == self.side_a else self.side_a


@dataclass(frozen=True, slots=True)
class StoredRound:
    number: int
    bye: str | None
    matches: tuple[StoredMatch, ...]

    @property
    def decided(self) -> bool:
        return all(match.winner is not None for match in self.matches)


@dataclass(frozen=True, slots=True)
class StoredTournament:
    id: int
    guild_id: int
    channel_id: int
    starter_id: int
    tournament_format: TournamentFormat
    seeds: tuple[str, ...]
    battle_rounds: int
    judges: bool | None
    threaded: bool
    state: TournamentState
    created_at: float
    reason: str | None = None
    announcement_message_id: int | None = None
    thread_id: int | None = None
    bracket_message_id: int | None = None
    champion: str | None = None
    champion_announced: bool = False
    rounds: tuple[StoredRound, ...] = ()

    @property
    def place_id(self) -> int:
        """Where its matches go on: its thread, or the channel it was announced in."""
        return self.thread_id or self.channel_id

    def match(self, round_number: int, index: int) -> StoredMatch:
        return self.rounds[round_number].matches[index]


class TournamentStore(Protocol):
    """What tournaments need from the store (SQLStore through TournamentQueries, and the memory
    store of tests/fakes). Each method is one transaction."""

    async def create_tournament(self, new: NewTournament, now: float) -> StoredTournament: ...

    async def tournament(self, tournament_id: int) -> StoredTournament | None: ...

    async def tournaments_in(
        self, states: Collection[TournamentState], guild_id: int | None = None
    ) -> list[StoredTournament]: ...

    async def unannounced_champions(self) -> list[StoredTournament]: ...

    async def public_tournament(self, tournament_id: int) -> StoredTournament | None: ...

    async def set_tournament_announcement(self, tournament_id: int, message_id: int) -> None: ...

    async def set_tournament_thread(self, tournament_id: int, thread_id: int) -> None: ...

    async def set_bracket_message(self, tournament_id: int, message_id: int) -> None: ...

    async def set_champion_announced(self, tournament_id: int) -> None: ...

    async def plan_round(
        self, tournament_id: int, number: int, bye: str | None, pairings: Sequence[Pairing]
    ) -> bool: ...

    async def set_match_battle(
        self, tournament_id: int, round_number: int, index: int, battle_id: int
    ) -> None: ...

    async def decide_match(
        self,
        tournament_id: int,
        round_number: int,
        index: int,
        winner: str,
        votes: tuple[int, int] | None = None,
        note: str | None = None,
    ) -> bool: ...

    async def finish_tournament(self, tournament_id: int, champion: str) -> bool: ...

    async def stop_tournament(self, tournament_id: int, reason: str) -> bool: ...

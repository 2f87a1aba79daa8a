"""What the web arena reads from the store, as the interface declares it: battles as a public page
may show them, head-to-head records and the rating history's cache.

The SQL backends have these reads (web_queries.py holds their SQL); the in-memory store of the
tests does not, so the web is tested on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from bot.engine.battle import Side, Turn
from bot.engine.lifecycle import BattleState
from bot.engine.ratings import PairRecord, Rating
from bot.store.base import Store
from bot.store.tournaments import StoredTournament


@dataclass(frozen=True, slots=True)
class WebBattle:
    """A battle as a public page may show it: no channel, no starter, no message ids."""

    id: int
    guild_id: int
    model_a: str
    model_b: str
    rounds: int
    topic: str | None
    blind: bool
    state: BattleState
    reason: str | None
    created_at: float
    closed_at: float | None
    votes_a: int | None
    votes_b: int | None
    scheduled: bool = False  # started by a schedule, not by a person
    # Why its crowd votes were kept unrated (a blind battle whose verse named its model).
    unrated_reason: str | None = None

    def votes(self, side: Side) -> int:
        return (self.votes_a if side is Side.A else self.votes_b) or 0


@dataclass(frozen=True, slots=True)
class HeadToHead:
    """One model's rated record against one opponent, from the crowd's votes."""

    opponent: str
    wins: int
    losses: int
    draws: int
    battles: int
    score: float  # the sum of the model's vote shares over those battles


@dataclass(frozen=True, slots=True)
class Snapshot:
    day: int  # days since the Unix epoch (UTC)
    rating: float
    low: float
    high: float


class WebReads(Protocol):
    """What the web pages and open data need beyond the Store (reads, and the rating history's
    cache), and nothing else. Every read that returns battles shows only what a public page may:
    a battle of a server that made its page public, once it ended, and, when blind, once its vote
    closed."""

    async def schema_version(self) -> int: ...

    async def is_public_page(self, guild_id: int) -> bool: ...

    async def public_battle(self, battle_id: int) -> WebBattle | None: ...

    async def public_closed_battles(self, after_id: int, limit: int) -> list[WebBattle]:
        """Closed battles of public servers with ids above ``after_id``, in id order."""
        ...

    async def public_closed_battles_of_model(self, model: str, limit: int) -> list[WebBattle]:
        """A model's latest visible battles that closed with a vote, newest first."""
        ...

    async def public_battles_of_server(self, guild_id: int, limit: int) -> list[WebBattle]: ...

    async def public_tournament(self, tournament_id: int) -> StoredTournament | None:
        """A tournament of a server that made its page public; None for any other."""
        ...

    async def turns_of(self, battle_ids: Iterable[int]) -> dict[int, list[Turn]]: ...

    async def head_to_head(self, model: str) -> list[HeadToHead]:
        """A model's crowd record against each opponent, over the servers on the global board."""
        ...

    async def last_battle_dates(self) -> dict[str, float]:
        """When each model's latest battle on the global board closed."""
        ...

    async def rating_snapshots(self, board: str, model: str) -> list[Snapshot]: ...

    async def latest_snapshot_day(self, board: str) -> int | None: ...

    async def save_rating_snapshot(
        self, board: str, day: int, ratings: Mapping[str, Rating]
    ) -> None: ...

    async def rated_span(self) -> tuple[float, float] | None:
        """When the first and the last rated battle on the global board closed."""
        ...

    async def battle_id_bounds(self) -> tuple[int, int]: ...

    async def rated_pairs_between(
        self, closed_after: float, closed_until: float, id_after: int, id_until: int
    ) -> list[PairRecord]:
        """The global board's rated battles with ids in (id_after, id_until] that closed in
        (closed_after, closed_until], collapsed by pair."""
        ...


class WebStore(Store, WebReads, Protocol):
    """The store as the web arena reads it: the Store (boards, verdicts) and the web's reads."""

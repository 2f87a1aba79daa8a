"""The store interface and the records it deals in.

The interface is the bottom of the store package: it imports no backend and no SQL. Its judges'
part is in verdicts.py, tournaments' in tournaments.py and the web's reads in web_reads.py;
opening a store by its URL is in opening.py, and the SQL that implements it in sql.py's parts.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.engine.battle import Battle, Side, Turn
from bot.engine.content_filter import Category
from bot.engine.leaderboard import Board, ModelRecord
from bot.engine.lifecycle import BattleState
from bot.engine.ratings import PairRecord
from bot.engine.schedules import ScheduleKind, SchedulePlan
from bot.engine.server_settings import ServerSettings
from bot.engine.spend import Spend, SpendReport, TokenUsage
from bot.engine.vote_audit import SetAsideVote
from bot.engine.votes import Tally
from bot.store.audits import AuditStore
from bot.store.loose_ends import JudgeAnswers, ServerNames
from bot.store.verdicts import VerdictStore


class IntegrityError(Exception):
    """A change broke a constraint (such as a turn stored twice); none of it was kept.

    Every backend raises this in place of its driver's own error, so callers need not know which
    database they talk to.
    """


@dataclass(frozen=True, slots=True)
class NewBattle:
    guild_id: int
    channel_id: int
    starter_id: int
    battle: Battle
    # In blind battles the sides are drawn at random; this records the draw.
    sides_swapped: bool = False
    scheduled: bool = False  # started by a schedule, not by a person


@dataclass(frozen=True, slots=True)
class StoredBattle:
    id: int
    guild_id: int
    channel_id: int
    starter_id: int
    battle: Battle
    sides_swapped: bool
    state: BattleState
    created_at: float
    reason: str | None = None
    vote_message_id: int | None = None
    vote_closes_at: float | None = None
    emoji: Mapping[Side, str] | None = None
    votes_a: int | None = None
    votes_b: int | None = None
    results_message_id: int | None = None
    thread_id: int | None = None  # the battle's own thread, when it went on in one
    # Why its crowd votes are kept but not rated (a blind battle whose verse named its model).
    unrated_reason: str | None = None
    # Votes left out of the count by the fresh-account rule, once the vote closed.
    votes_set_aside: int | None = None
    scheduled: bool = False  # started by a schedule (/battle-schedule), not by a person

    @property
    def rated(self) -> bool:
        return self.unrated_reason is None

    @property
    def place_id(self) -> int:
        """Where the battle goes on after its title card: its thread, or its channel."""
        return self.thread_id or self.channel_id


@dataclass(frozen=True, slots=True)
class KeptTrack:
    """A battle's audio track as the store keeps it: the Ogg file and how long it plays."""

    ogg: bytes
    seconds: float


@dataclass(frozen=True, slots=True)
class StoredWithheldVerse:
    """A verse the content filter withheld (the battle ended there as a no contest), as the
    store keeps it for the server's admins only: never shown anywhere else."""

    battle_id: int
    side: Side
    model: str
    round: int
    category: Category
    text: str  # as the model wrote it
    created_at: float
    usage: TokenUsage | None = None  # what it cost; spend counts it like any verse


@dataclass(frozen=True, slots=True)
class SeasonRecords:
    """A board's aggregates over the rated battles started within one season: what
    ``pair_records`` and ``model_records`` give for all time (pairs in name order)."""

    pairs: list[PairRecord]
    models: dict[str, ModelRecord]


@dataclass(frozen=True, slots=True)
class NewSchedule:
    """A schedule as /battle-schedule or /tournament-schedule adds it: where, how often, what it
    runs, and its first run."""

    guild_id: int
    channel_id: int
    created_by: int
    every_seconds: int
    plan: SchedulePlan
    next_run_at: float


@dataclass(frozen=True, slots=True)
class StoredSchedule:
    id: int
    guild_id: int
    channel_id: int
    created_by: int
    every_seconds: int
    plan: SchedulePlan
    next_run_at: float
    created_at: float

    @property
    def kind(self) -> ScheduleKind:
        return self.plan.kind


class Store(VerdictStore, JudgeAnswers, ServerNames, AuditStore, Protocol):
    """Everything the bot keeps. Each method is one transaction."""

    async def close(self) -> None: ...

    async def create_battle(self, new: NewBattle, now: float) -> StoredBattle: ...

    async def add_turn(
        self, battle_id: int, position: int, turn: Turn, usage: TokenUsage | None = None
    ) -> None:
        """Keeps a posted turn, with what its verse cost when the provider reported it."""
        ...

    async def end_battle(self, battle_id: int, state: BattleState, reason: str | None) -> bool:
        """A running battle ends without a vote; False if it was not running."""
        ...

    async def abandon_vote(self, battle_id: int, reason: str) -> bool:
        """An open vote that cannot be counted ends as a no contest; False if it was not open."""
        ...

    async def open_voting(
        self, battle_id: int, message_id: int, closes_at: float, emoji: Mapping[Side, str]
    ) -> bool: ...

    async def close_voting(
        self,
        battle_id: int,
        tally: Tally,
        now: float,
        *,
        set_aside: int = 0,
        set_aside_votes: Sequence[SetAsideVote] = (),
    ) -> bool:
        """Records the ballots and closes the vote, once: False if it was already closed.
        ``set_aside``: votes the server's rules left out of ``tally``; ``set_aside_votes``:
        every reaction left out and why, kept for the vote audit. A battle marked unrated keeps
        its ballots and counts but feeds no rating aggregates."""
        ...

    async def set_unrated(self, battle_id: int, reason: str) -> None:
        """The battle's crowd votes will be kept but not rated, for ``reason``."""
        ...

    async def set_results_message(self, battle_id: int, message_id: int) -> None: ...

    async def set_thread(self, battle_id: int, thread_id: int) -> None:
        """The battle goes on in this thread, opened from its title card."""
        ...

    async def results_undeliverable(self, battle_id: int, reason: str) -> None:
        """A closed battle's results could not be posted: keep why, and stop retrying."""
        ...

    async def battle(self, battle_id: int) -> StoredBattle | None: ...

    async def battles_in(self, states: Collection[BattleState]) -> list[StoredBattle]: ...

    async def unannounced_results(self) -> list[StoredBattle]:
        """Closed battles whose results message was never posted (a crash in between), except
        those marked undeliverable."""
        ...

    async def turns(self, battle_id: int) -> list[Turn]: ...

    async def turn_usage(self, battle_id: int) -> list[TokenUsage | None]:
        """Each turn's usage in order (None for announcements and unreported verses)."""
        ...

    async def spend(self, guild_id: int | None, since: float | None = None) -> Spend:
        """Tokens and USD of the battles a server (None: every server) started since ``since``
        (None: ever), verses and judges alike."""
        ...

    async def spend_report(self, guild_id: int, today_starts_at: float) -> SpendReport:
        """Spend for /battle-stats: the server's and every server's, today and all time."""
        ...

    async def ballots(self, battle_id: int) -> dict[int, Side]: ...

    async def last_start(self, guild_id: int, user_id: int) -> float | None: ...

    async def recent_battles(
        self, guild_id: int, model: str | None = None, limit: int = 10
    ) -> list[StoredBattle]: ...

    async def last_battle_in(self, guild_id: int, channel_id: int) -> StoredBattle | None:
        """The newest battle started in a channel of a server (None: none yet), whatever became
        of it: matchmaking never repeats a channel's last pair."""
        ...

    async def server_settings(self, guild_id: int) -> ServerSettings: ...

    async def save_server_settings(self, guild_id: int, settings: ServerSettings) -> None: ...

    async def pair_records(
        self, guild_id: int | None, board: Board = Board.CROWD
    ) -> list[PairRecord]:
        """Rated outcomes collapsed by pair, for one server or (None) every server that
        shares its results globally."""
        ...

    async def model_records(
        self, guild_id: int | None, board: Board = Board.CROWD
    ) -> dict[str, ModelRecord]: ...

    async def ratings_version(self, guild_id: int | None) -> int:
        """Grows whenever the ratings of a server (or, for None, the global ones) may change."""
        ...

    async def season_records(
        self, guild_id: int | None, start: float, end: float, board: Board = Board.CROWD
    ) -> SeasonRecords:
        """A board's aggregates over the rated battles that started (``created_at``) in
        [start, end), however late their vote closed: one server's, or (None) every server's on
        the global board. Rated as the aggregates are when a vote closes."""
        ...

    async def first_rated_start(
        self, guild_id: int | None, since: float, board: Board = Board.CROWD
    ) -> float | None:
        """When the first rated battle on a board that started at or after ``since`` started;
        None when there is none (for listing the seasons a board has)."""
        ...

    async def track(self, battle_id: int) -> KeptTrack | None:
        """The battle's kept audio track; None until one is kept."""
        ...

    async def keep_track(self, battle_id: int, ogg: bytes, seconds: float, now: float) -> None:
        """Keeps a battle's track; a battle keeps the first track kept for it, so a second
        (made at the same time elsewhere) changes nothing."""
        ...

    # The content filter (bot/store/moderation_queries.py)

    async def withhold_verse(self, verse: StoredWithheldVerse, reason: str) -> bool:
        """A running battle ends as a no contest for ``reason`` (the withheld line), keeping
        the verse the content filter withheld, in one transaction; False if it was not
        running (then nothing is kept)."""
        ...

    async def withheld_verses(self, battle_id: int) -> list[StoredWithheldVerse]:
        """The verses the content filter withheld in a battle (at most one: the battle ended
        there), with their text as written: for the server's admins only (/battle-audit)."""
        ...

    async def withheld_counts(self, guild_id: int | None) -> dict[str, int]:
        """Verses withheld by the content filter, by model: on a server's battles, or (None)
        on every server's (/battle-stats)."""
        ...

    # Schedules (bot/store/schedule_queries.py)

    async def add_schedule(self, new: NewSchedule, now: float, limit: int) -> StoredSchedule | None:
        """Keeps a schedule, unless its server already has ``limit`` (then None): the count and
        the insert are one transaction."""
        ...

    async def schedules(self, guild_id: int | None = None) -> list[StoredSchedule]:
        """A server's schedules (None: every server's), oldest first."""
        ...

    async def remove_schedule(self, guild_id: int, schedule_id: int) -> bool:
        """Removes one of a server's schedules; False if it has no such schedule."""
        ...

    async def advance_schedule(self, schedule_id: int, due_at: float, next_run_at: float) -> bool:
        """Moves a schedule's next run from ``due_at`` to ``next_run_at``: the claim on a run.
        False if it was removed, or its run was already claimed (it is no longer due at
        ``due_at``), so that a run is never made twice."""
        ...

"""The Store in memory: the same contract as SQLite and PostgreSQL (tests/test_store.py runs on all
three), for fast tests of everything above storage.

It keeps the SQL store's rules rather than a simplified version of them: state moves are checked
against the lifecycle table and made only from the expected state, a turn or ballot stored twice
raises IntegrityError, and a change that fails part-way leaves nothing behind. Each method first
yields to the event loop, as a database round trip would, so that races between callers (two
starts in one channel, two closes of one vote) interleave as they would against a real backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace

from bot.engine.battle import Side, Turn
from bot.engine.judge_stats import JudgeBallotRow
from bot.engine.leaderboard import Board, ModelRecord
from bot.engine.lifecycle import ENDED_WITHOUT_VOTE, check_move
from bot.engine.ratings import PairRecord
from bot.engine.server_settings import GLOBAL_OPT_OUT, PUBLIC_PAGE, ServerSettings
from bot.engine.spend import Spend, SpendReport, TokenUsage
from bot.engine.tournament import Pairing
from bot.engine.verdicts import Ballot, Verdict
from bot.engine.vote_audit import SetAsideVote
from bot.engine.votes import Tally
from bot.store.audits import VoterChange
from bot.store.base import (
    BattleState,
    IntegrityError,
    KeptTrack,
    NewBattle,
    NewSchedule,
    SeasonRecords,
    StoredBattle,
    StoredSchedule,
    StoredWithheldVerse,
)
from bot.store.tournaments import (
    NewTournament,
    StoredMatch,
    StoredRound,
    StoredTournament,
    TournamentState,
)
from bot.store.verdicts import VerdictState, VerdictStatus, judges_score_a
from tests.fakes.memory_audit import MemoryAudit, keep_set_aside
from tests.fakes.memory_moderation import MemoryModeration


@dataclass
class _PairStats:
    battles: int = 0
    score_a: float = 0.0
    score_sq: float = 0.0


@dataclass
class MemoryTables:
    """Everything a store keeps, as the SQL tables hold it: the database, which outlives any one
    MemoryStore opened over it (as a file outlives its connection)."""

    battles: dict[int, StoredBattle] = field(default_factory=dict)
    closed_at: dict[int, float] = field(default_factory=dict)
    turns: dict[int, dict[int, Turn]] = field(default_factory=dict)  # battle: position: turn
    # battle: position: the verse's usage (absent for announcements and unreported verses)
    turn_usage: dict[int, dict[int, TokenUsage]] = field(default_factory=dict)
    ballots: dict[int, dict[int, Side]] = field(default_factory=dict)  # battle: user: side
    server_settings: dict[int, ServerSettings] = field(default_factory=dict)
    # (guild, first model, second model) in name order, as aggregates.py keeps pair_stats.
    pair_stats: dict[tuple[int, str, str], _PairStats] = field(default_factory=dict)
    model_stats: dict[tuple[int, str], ModelRecord] = field(default_factory=dict)
    rating_versions: dict[int, int] = field(default_factory=dict)
    next_battle_id: int = 1
    # The judges' part, as bot/store/verdict_queries.py keeps it.
    verdicts: dict[int, VerdictStatus] = field(default_factory=dict)
    judge_ballots: dict[int, Verdict] = field(default_factory=dict)
    judge_pair_stats: dict[tuple[int, str, str], _PairStats] = field(default_factory=dict)
    judge_model_stats: dict[tuple[int, str], ModelRecord] = field(default_factory=dict)
    tournaments: dict[int, StoredTournament] = field(default_factory=dict)
    next_tournament_id: int = 1
    # Each battle's kept track, as bot/store/track_queries.py keeps battle_tracks.
    battle_tracks: dict[int, KeptTrack] = field(default_factory=dict)
    # Every server's schedules, as bot/store/schedule_queries.py keeps them.
    schedules: dict[int, StoredSchedule] = field(default_factory=dict)
    next_schedule_id: int = 1
    # As bot/store/loose_end_queries.py keeps them: judges' answers by battle and judge, and
    # public servers' names.
    judge_answers: dict[int, dict[str, Ballot]] = field(default_factory=dict)
    server_names: dict[int, str] = field(default_factory=dict)
    # The vote audit's, as bot/store/audit_queries.py keeps them: set-aside votes by battle and
    # member, excluded (server, member) pairs, and the log of /battle-voter changes.
    set_aside_ballots: dict[int, dict[int, SetAsideVote]] = field(default_factory=dict)
    voter_exclusions: set[tuple[int, int]] = field(default_factory=set)
    voter_changes: list[VoterChange] = field(default_factory=list)
    # As bot/store/moderation_queries.py keeps withheld_verses: by battle.
    withheld_verses: dict[int, StoredWithheldVerse] = field(default_factory=dict)


class MemoryStore(MemoryAudit, MemoryModeration):
    """The Store protocol (bot/store/base.py) over dicts. Each method is one transaction."""

    def __init__(self, tables: MemoryTables | None = None) -> None:
        self._tables = tables if tables is not None else MemoryTables()

    async def close(self) -> None:
        """Nothing to release: the tables stay for whoever opens a store over them next."""

    @contextlib.contextmanager
    def _change(self) -> Iterator[MemoryTables]:
        """A transaction: on any error the tables are put back as they were."""
        snapshot = copy.deepcopy(self._tables)
        try:
            yield self._tables
        except BaseException:
            # In place, so that every store opened over these tables sees the rollback.
            for column in fields(MemoryTables):
                setattr(self._tables, column.name, getattr(snapshot, column.name))
            raise

    # Battles

    async def create_battle(self, new: NewBattle, now: float) -> StoredBattle:
        await _round_trip()
        with self._change() as tables:
            stored = StoredBattle(
                tables.next_battle_id,
                new.guild_id,
                new.channel_id,
                new.starter_id,
                new.battle,
                new.sides_swapped,
                BattleState.RUNNING,
                now,
                scheduled=new.scheduled,
            )
            tables.battles[stored.id] = stored
            tables.next_battle_id += 1
        return stored

    async def add_turn(
        self, battle_id: int, position: int, turn: Turn, usage: TokenUsage | None = None
    ) -> None:
        await _round_trip()
        with self._change() as tables:
            _require_battle(tables, battle_id)
            turns = tables.turns.setdefault(battle_id, {})
            if position in turns:
                raise IntegrityError(f"battle {battle_id} already has a turn at {position}")
            turns[position] = turn
            if usage is not None:
                tables.turn_usage.setdefault(battle_id, {})[position] = usage

    async def end_battle(self, battle_id: int, state: BattleState, reason: str | None) -> bool:
        if state not in ENDED_WITHOUT_VOTE:
            raise ValueError(f"{state} is not an end without a vote")
        return await self._move(battle_id, BattleState.RUNNING, state, reason=reason)

    async def abandon_vote(self, battle_id: int, reason: str) -> bool:
        return await self._move(
            battle_id, BattleState.VOTING, BattleState.NO_CONTEST, reason=reason
        )

    async def open_voting(
        self, battle_id: int, message_id: int, closes_at: float, emoji: Mapping[Side, str]
    ) -> bool:
        return await self._move(
            battle_id,
            BattleState.RUNNING,
            BattleState.VOTING,
            vote_message_id=message_id,
            vote_closes_at=closes_at,
            emoji={Side.A: emoji[Side.A], Side.B: emoji[Side.B]},
        )

    async def close_voting(
        self,
        battle_id: int,
        tally: Tally,
        now: float,
        *,
        set_aside: int = 0,
        set_aside_votes: Sequence[SetAsideVote] = (),
    ) -> bool:
        check_move(BattleState.VOTING, BattleState.CLOSED)
        await _round_trip()
        with self._change() as tables:
            stored = tables.battles.get(battle_id)
            if stored is None or stored.state is not BattleState.VOTING:
                return False
            tables.battles[battle_id] = replace(
                stored,
                state=BattleState.CLOSED,
                votes_a=tally.votes(Side.A),
                votes_b=tally.votes(Side.B),
                votes_set_aside=set_aside,
            )
            tables.closed_at[battle_id] = now
            ballots = tables.ballots.setdefault(battle_id, {})
            for user, side in tally.ballots.items():
                if user in ballots:
                    raise IntegrityError(f"battle {battle_id} already has a ballot by {user}")
                ballots[user] = side
            keep_set_aside(tables, battle_id, set_aside_votes)
            _add_to_aggregates(tables, stored, tally)
        return True

    async def set_results_message(self, battle_id: int, message_id: int) -> None:
        await _round_trip()
        with self._change() as tables:
            stored = tables.battles.get(battle_id)
            if stored is not None:
                tables.battles[battle_id] = replace(stored, results_message_id=message_id)

    async def set_thread(self, battle_id: int, thread_id: int) -> None:
        await _round_trip()
        with self._change() as tables:
            stored = tables.battles.get(battle_id)
            if stored is not None:
                tables.battles[battle_id] = replace(stored, thread_id=thread_id)

    async def set_unrated(self, battle_id: int, reason: str) -> None:
        await _round_trip()
        with self._change() as tables:
            stored = tables.battles.get(battle_id)
            if stored is not None:
                tables.battles[battle_id] = replace(stored, unrated_reason=reason)

    async def results_undeliverable(self, battle_id: int, reason: str) -> None:
        await _round_trip()
        with self._change() as tables:
            stored = tables.battles.get(battle_id)
            if (
                stored is not None
                and stored.state is BattleState.CLOSED
                and stored.results_message_id is None
            ):
                tables.battles[battle_id] = replace(stored, reason=reason)

    async def _move(
        self,
        battle_id: int,
        from_state: BattleState,
        to_state: BattleState,
        **changes: object,
    ) -> bool:
        """Moves a battle between states as the lifecycle allows, only from ``from_state``."""
        check_move(from_state, to_state)
        await _round_trip()
        with self._change() as tables:
            stored = tables.battles.get(battle_id)
            if stored is None or stored.state is not from_state:
                return False
            tables.battles[battle_id] = replace(stored, state=to_state, **changes)  # type: ignore[arg-type]
            return True

    async def battle(self, battle_id: int) -> StoredBattle | None:
        await _round_trip()
        return self._tables.battles.get(battle_id)

    async def battles_in(self, states: Collection[BattleState]) -> list[StoredBattle]:
        await _round_trip()
        return self._battles_where(lambda b: b.state in states)

    async def unannounced_results(self) -> list[StoredBattle]:
        await _round_trip()
        return self._battles_where(
            lambda b: (
                b.state is BattleState.CLOSED and b.results_message_id is None and b.reason is None
            )
        )

    def _battles_where(self, keep: Callable[[StoredBattle], bool]) -> list[StoredBattle]:
        return [b for _, b in sorted(self._tables.battles.items()) if keep(b)]

    async def turns(self, battle_id: int) -> list[Turn]:
        await _round_trip()
        turns = self._tables.turns.get(battle_id, {})
        return [turns[position] for position in sorted(turns)]

    async def turn_usage(self, battle_id: int) -> list[TokenUsage | None]:
        await _round_trip()
        usage = self._tables.turn_usage.get(battle_id, {})
        return [usage.get(position) for position in sorted(self._tables.turns.get(battle_id, {}))]

    def _paid_requests(self) -> Iterator[tuple[int, TokenUsage]]:
        """(battle id, usage) of every model request paid for, as spend_queries.py's
        SPEND_SOURCES."""
        for battle_id, by_position in self._tables.turn_usage.items():
            for usage in by_position.values():
                yield battle_id, usage
        for battle_id, verdict in self._tables.judge_ballots.items():
            for ballot in verdict.ballots:
                usage = TokenUsage(ballot.prompt_tokens, ballot.completion_tokens, ballot.cost_usd)
                yield battle_id, usage
        for battle_id, verse in self._tables.withheld_verses.items():
            if verse.usage is not None:
                yield battle_id, verse.usage

    async def spend(self, guild_id: int | None, since: float | None = None) -> Spend:
        await _round_trip()
        total = Spend()
        for battle_id, usage in self._paid_requests():
            battle = self._tables.battles[battle_id]
            if guild_id is not None and battle.guild_id != guild_id:
                continue
            if since is not None and battle.created_at < since:
                continue
            total += Spend(
                usage.prompt_tokens,
                usage.completion_tokens,
                usage.cost_usd or 0.0,
                1,
                int(usage.cost_usd is None),
            )
        return total

    async def spend_report(self, guild_id: int, today_starts_at: float) -> SpendReport:
        return SpendReport(
            server_today=await self.spend(guild_id, today_starts_at),
            server_all_time=await self.spend(guild_id),
            global_today=await self.spend(None, today_starts_at),
            global_all_time=await self.spend(None),
        )

    async def ballots(self, battle_id: int) -> dict[int, Side]:
        await _round_trip()
        return dict(self._tables.ballots.get(battle_id, {}))

    async def last_start(self, guild_id: int, user_id: int) -> float | None:
        await _round_trip()
        starts = [
            b.created_at
            for b in self._tables.battles.values()
            if b.guild_id == guild_id and b.starter_id == user_id
        ]
        return max(starts, default=None)

    async def recent_battles(
        self, guild_id: int, model: str | None = None, limit: int = 10
    ) -> list[StoredBattle]:
        await _round_trip()
        matching = self._battles_where(
            lambda b: (
                b.guild_id == guild_id
                and (model is None or model in (b.battle.model_a, b.battle.model_b))
            )
        )
        return matching[::-1][:limit]

    async def last_battle_in(self, guild_id: int, channel_id: int) -> StoredBattle | None:
        await _round_trip()
        matching = self._battles_where(
            lambda b: b.guild_id == guild_id and b.channel_id == channel_id
        )
        return matching[-1] if matching else None

    # Server settings and the leaderboard's aggregates

    async def server_settings(self, guild_id: int) -> ServerSettings:
        await _round_trip()
        return self._tables.server_settings.get(guild_id, ServerSettings())

    async def save_server_settings(self, guild_id: int, settings: ServerSettings) -> None:
        await _round_trip()
        with self._change() as tables:
            tables.server_settings[guild_id] = settings
            _bump_rating_version(tables, guild_id)  # The global board may gain or lose it.

    async def ratings_version(self, guild_id: int | None) -> int:
        await _round_trip()
        versions = self._tables.rating_versions
        if guild_id is None:
            return sum(versions.values())
        return versions.get(guild_id, 0)

    async def pair_records(
        self, guild_id: int | None, board: Board = Board.CROWD
    ) -> list[PairRecord]:
        await _round_trip()
        table = self._tables.pair_stats if board is Board.CROWD else self._tables.judge_pair_stats
        summed: dict[tuple[str, str], _PairStats] = {}
        for (guild, first, second), stats in table.items():
            if self._in_scope(guild, guild_id):
                total = summed.setdefault((first, second), _PairStats())
                total.battles += stats.battles
                total.score_a += stats.score_a
                total.score_sq += stats.score_sq
        return [
            PairRecord(
                model_a=first,
                model_b=second,
                battles=s.battles,
                score_a=s.score_a,
                score_sq=s.score_sq,
            )
            for (first, second), s in sorted(summed.items())
        ]

    async def model_records(
        self, guild_id: int | None, board: Board = Board.CROWD
    ) -> dict[str, ModelRecord]:
        await _round_trip()
        table = self._tables.model_stats if board is Board.CROWD else self._tables.judge_model_stats
        summed: dict[str, ModelRecord] = {}
        for (guild, model), record in table.items():
            if self._in_scope(guild, guild_id):
                summed[model] = _plus(summed.get(model, ModelRecord()), record)
        return summed

    # Seasons (bot/store/season_queries.py): boards over the battles started in a window.

    async def season_records(
        self, guild_id: int | None, start: float, end: float, board: Board = Board.CROWD
    ) -> SeasonRecords:
        await _round_trip()
        pairs: dict[tuple[str, str], _PairStats] = {}
        models: dict[str, ModelRecord] = {}
        for stored, score_a, winner, picks in self._rated(guild_id, board):
            if not start <= stored.created_at < end:
                continue
            model_a, model_b = stored.battle.model_a, stored.battle.model_b
            first, second, first_score = (
                (model_a, model_b, score_a)
                if model_a < model_b
                else (model_b, model_a, 1 - score_a)
            )
            pair = pairs.setdefault((first, second), _PairStats())
            pair.battles += 1
            pair.score_a += first_score
            pair.score_sq += first_score * first_score
            for model, side in ((model_a, Side.A), (model_b, Side.B)):
                models[model] = _plus(
                    models.get(model, ModelRecord()),
                    ModelRecord(
                        int(winner is side),
                        int(winner is side.opponent),
                        int(winner is None),
                        1,
                        picks[side],
                    ),
                )
        return SeasonRecords(
            [
                PairRecord(a, b, p.battles, p.score_a, p.score_sq)
                for (a, b), p in sorted(pairs.items())
            ],
            dict(sorted(models.items())),
        )

    async def first_rated_start(
        self, guild_id: int | None, since: float, board: Board = Board.CROWD
    ) -> float | None:
        await _round_trip()
        starts = [s.created_at for s, *_ in self._rated(guild_id, board) if s.created_at >= since]
        return min(starts, default=None)

    def _rated(
        self, scope: int | None, board: Board
    ) -> Iterator[tuple[StoredBattle, float, Side | None, dict[Side, int]]]:
        """Each rated battle of a board in a scope: its score for A, winner and picks per side."""
        for stored in self._tables.battles.values():
            if not self._in_scope(stored.guild_id, scope):
                continue
            if stored.battle.model_a == stored.battle.model_b:
                continue
            if board is Board.JUDGES:
                verdict = self._tables.judge_ballots.get(stored.id)
                status = self._tables.verdicts.get(stored.id)
                score = None if verdict is None else judges_score_a(verdict)
                if score is None or status is None or not status.state.has_ballots:
                    continue
                yield stored, score, verdict.winner, {s: verdict.votes(s) for s in Side}
                continue
            a, b = stored.votes_a or 0, stored.votes_b or 0
            if stored.state is not BattleState.CLOSED or a + b == 0 or stored.unrated_reason:
                continue
            winner = None if a == b else Side.A if a > b else Side.B
            yield stored, a / (a + b), winner, {Side.A: a, Side.B: b}

    def _in_scope(self, guild: int, scope: int | None) -> bool:
        """One server's rows, or every server that has not opted out of the global board."""
        if scope is not None:
            return guild == scope
        settings = self._tables.server_settings.get(guild)
        return settings is None or not settings.chosen(GLOBAL_OPT_OUT)

    # The judges (bot/store/verdicts.py)

    async def mark_judged(self, battle_id: int) -> None:
        await _round_trip()
        with self._change() as tables:
            _require_battle(tables, battle_id)
            tables.verdicts.setdefault(battle_id, VerdictStatus(VerdictState.PENDING))

    async def verdict_status(self, battle_id: int) -> VerdictStatus | None:
        await _round_trip()
        return self._tables.verdicts.get(battle_id)

    async def store_verdict(self, battle_id: int, verdict: Verdict) -> bool:
        await _round_trip()
        with self._change() as tables:
            status, stored = tables.verdicts.get(battle_id), tables.battles.get(battle_id)
            if (
                status is None
                or status.state is not VerdictState.PENDING
                or stored is None
                or stored.state is not BattleState.CLOSED
            ):
                return False
            tables.verdicts[battle_id] = VerdictStatus(VerdictState.STORED)
            tables.judge_ballots[battle_id] = verdict
            _add_to_judges_aggregates(tables, stored, verdict)
        return True

    async def stored_verdict(self, battle_id: int) -> Verdict | None:
        await _round_trip()
        status = self._tables.verdicts.get(battle_id)
        if status is None or not status.state.has_ballots:
            return None
        stored = self._tables.battles[battle_id]
        verdict = self._tables.judge_ballots[battle_id]
        return Verdict(stored.battle.model_a, stored.battle.model_b, verdict.ballots)

    async def set_verdict_message(self, battle_id: int, message_id: int) -> bool:
        return await self._verdict_move(
            battle_id, VerdictState.STORED, VerdictStatus(VerdictState.POSTED, message_id)
        )

    async def verdict_undeliverable(self, battle_id: int, reason: str) -> bool:
        return await self._verdict_move(
            battle_id,
            VerdictState.STORED,
            VerdictStatus(VerdictState.UNDELIVERABLE, reason=reason),
        )

    async def verdict_failed(self, battle_id: int, reason: str) -> bool:
        return await self._verdict_move(
            battle_id, VerdictState.PENDING, VerdictStatus(VerdictState.FAILED, reason=reason)
        )

    async def _verdict_move(
        self, battle_id: int, from_state: VerdictState, to: VerdictStatus
    ) -> bool:
        await _round_trip()
        with self._change() as tables:
            status = tables.verdicts.get(battle_id)
            if status is None or status.state is not from_state:
                return False
            tables.verdicts[battle_id] = to
            return True

    # Judges' answers and servers' names (bot/store/loose_ends.py)

    async def keep_judge_answer(self, battle_id: int, ballot: Ballot) -> None:
        await _round_trip()
        with self._change() as tables:
            _require_battle(tables, battle_id)
            tables.judge_answers.setdefault(battle_id, {}).setdefault(ballot.judge, ballot)

    async def judge_answers(self, battle_id: int) -> dict[str, Ballot]:
        await _round_trip()
        return dict(self._tables.judge_answers.get(battle_id, {}))

    async def name_server(self, guild_id: int, name: str, now: float) -> None:
        await _round_trip()
        with self._change() as tables:
            tables.server_names[guild_id] = name

    async def rename_server(self, guild_id: int, name: str, now: float) -> bool:
        await _round_trip()
        with self._change() as tables:
            if tables.server_names.get(guild_id, name) == name:
                return False
            tables.server_names[guild_id] = name
            return True

    async def server_name(self, guild_id: int) -> str | None:
        await _round_trip()
        return self._tables.server_names.get(guild_id)

    async def unfinished_verdicts(self) -> list[tuple[int, VerdictState]]:
        await _round_trip()
        going_on = (BattleState.VOTING, BattleState.CLOSED)
        return [
            (battle_id, status.state)
            for battle_id, status in sorted(self._tables.verdicts.items())
            if status.state in (VerdictState.PENDING, VerdictState.STORED)
            and self._tables.battles[battle_id].state in going_on
        ]

    async def judge_ballot_rows(self, guild_id: int | None) -> list[JudgeBallotRow]:
        await _round_trip()
        rows = []
        for battle_id, status in sorted(self._tables.verdicts.items()):
            stored = self._tables.battles[battle_id]
            if (
                not status.state.has_ballots
                or stored.state is not BattleState.CLOSED
                or not self._in_scope(stored.guild_id, guild_id)
            ):
                continue
            rows += [
                JudgeBallotRow(
                    battle_id,
                    stored.votes_a or 0,
                    stored.votes_b or 0,
                    ballot.judge,
                    ballot.pick,
                    ballot.prompt_tokens,
                    ballot.completion_tokens,
                )
                for ballot in self._tables.judge_ballots[battle_id].ballots
            ]
        return rows

    # Tournaments (bot/store/tournaments.py)

    async def create_tournament(self, new: NewTournament, now: float) -> StoredTournament:
        await _round_trip()
        with self._change() as tables:
            stored = StoredTournament(
                id=tables.next_tournament_id,
                guild_id=new.guild_id,
                channel_id=new.channel_id,
                starter_id=new.starter_id,
                tournament_format=new.tournament_format,
                seeds=tuple(new.seeds),
                battle_rounds=new.battle_rounds,
                judges=new.judges,
                threaded=new.threaded,
                state=TournamentState.RUNNING,
                created_at=now,
            )
            tables.tournaments[stored.id] = stored
            tables.next_tournament_id += 1
        return stored

    async def tournament(self, tournament_id: int) -> StoredTournament | None:
        await _round_trip()
        return self._tables.tournaments.get(tournament_id)

    async def tournaments_in(
        self, states: Collection[TournamentState], guild_id: int | None = None
    ) -> list[StoredTournament]:
        await _round_trip()
        return [
            t
            for _, t in sorted(self._tables.tournaments.items())
            if t.state in states and (guild_id is None or t.guild_id == guild_id)
        ]

    async def unannounced_champions(self) -> list[StoredTournament]:
        await _round_trip()
        return [
            t
            for _, t in sorted(self._tables.tournaments.items())
            if t.state is TournamentState.FINISHED and not t.champion_announced
        ]

    async def public_tournament(self, tournament_id: int) -> StoredTournament | None:
        await _round_trip()
        found = self._tables.tournaments.get(tournament_id)
        if found is None:
            return None
        settings = self._tables.server_settings.get(found.guild_id)
        return found if settings is not None and settings.chosen(PUBLIC_PAGE) else None

    async def set_tournament_announcement(self, tournament_id: int, message_id: int) -> None:
        await self._change_tournament(tournament_id, announcement_message_id=message_id)

    async def set_tournament_thread(self, tournament_id: int, thread_id: int) -> None:
        await self._change_tournament(tournament_id, thread_id=thread_id)

    async def set_bracket_message(self, tournament_id: int, message_id: int) -> None:
        await self._change_tournament(tournament_id, bracket_message_id=message_id)

    async def set_champion_announced(self, tournament_id: int) -> None:
        await self._change_tournament(tournament_id, champion_announced=True)

    async def _change_tournament(self, tournament_id: int, **changes: object) -> None:
        await _round_trip()
        with self._change() as tables:
            stored = tables.tournaments.get(tournament_id)
            if stored is not None:
                tables.tournaments[tournament_id] = replace(stored, **changes)  # type: ignore[arg-type]

    async def plan_round(
        self, tournament_id: int, number: int, bye: str | None, pairings: Sequence[Pairing]
    ) -> bool:
        await _round_trip()
        with self._change() as tables:
            stored = tables.tournaments.get(tournament_id)
            if stored is None:
                raise IntegrityError(f"there is no tournament {tournament_id}")
            if any(r.number == number for r in stored.rounds):
                return False
            matches = tuple(StoredMatch(number, p.index, p.side_a, p.side_b) for p in pairings)
            rounds = tuple(sorted((*stored.rounds, StoredRound(number, bye, matches)), key=_number))
            tables.tournaments[tournament_id] = replace(stored, rounds=rounds)
        return True

    async def set_match_battle(
        self, tournament_id: int, round_number: int, index: int, battle_id: int
    ) -> None:
        await self._change_match(tournament_id, round_number, index, battle_id=battle_id)

    async def decide_match(
        self,
        tournament_id: int,
        round_number: int,
        index: int,
        winner: str,
        votes: tuple[int, int] | None = None,
        note: str | None = None,
    ) -> bool:
        votes_a, votes_b = votes if votes is not None else (None, None)
        return await self._change_match(
            tournament_id,
            round_number,
            index,
            winner=winner,
            votes_a=votes_a,
            votes_b=votes_b,
            note=note,
        )

    async def _change_match(
        self, tournament_id: int, round_number: int, index: int, **changes: object
    ) -> bool:
        """Changes an undecided match (a winner only if it played in it), as the SQL does."""
        await _round_trip()
        with self._change() as tables:
            stored = tables.tournaments.get(tournament_id)
            if stored is None:
                return False
            rounds = list(stored.rounds)
            for position, played in enumerate(rounds):
                if played.number != round_number:
                    continue
                matches = list(played.matches)
                for spot, match in enumerate(matches):
                    winner = changes.get("winner", match.side_a)
                    if (
                        match.index != index
                        or match.winner is not None
                        or winner not in (match.side_a, match.side_b)
                    ):
                        continue
                    matches[spot] = replace(match, **changes)  # type: ignore[arg-type]
                    rounds[position] = replace(played, matches=tuple(matches))
                    tables.tournaments[tournament_id] = replace(stored, rounds=tuple(rounds))
                    return True
            return False

    async def finish_tournament(self, tournament_id: int, champion: str) -> bool:
        return await self._end_tournament(
            tournament_id, TournamentState.FINISHED, champion=champion
        )

    async def stop_tournament(self, tournament_id: int, reason: str) -> bool:
        return await self._end_tournament(tournament_id, TournamentState.STOPPED, reason=reason)

    async def _end_tournament(
        self, tournament_id: int, state: TournamentState, **changes: object
    ) -> bool:
        await _round_trip()
        with self._change() as tables:
            stored = tables.tournaments.get(tournament_id)
            if stored is None or stored.state is not TournamentState.RUNNING:
                return False
            tables.tournaments[tournament_id] = replace(stored, state=state, **changes)  # type: ignore[arg-type]
            return True

    # Battle tracks (bot/store/track_queries.py)

    async def track(self, battle_id: int) -> KeptTrack | None:
        await _round_trip()
        return self._tables.battle_tracks.get(battle_id)

    async def keep_track(self, battle_id: int, ogg: bytes, seconds: float, now: float) -> None:
        await _round_trip()
        with self._change() as tables:
            _require_battle(tables, battle_id)
            tables.battle_tracks.setdefault(battle_id, KeptTrack(bytes(ogg), seconds))

    # Schedules (bot/store/schedule_queries.py)

    async def add_schedule(self, new: NewSchedule, now: float, limit: int) -> StoredSchedule | None:
        await _round_trip()
        with self._change() as tables:
            if sum(s.guild_id == new.guild_id for s in tables.schedules.values()) >= limit:
                return None
            stored = StoredSchedule(
                tables.next_schedule_id,
                new.guild_id,
                new.channel_id,
                new.created_by,
                new.every_seconds,
                new.plan,
                new.next_run_at,
                now,
            )
            tables.schedules[stored.id] = stored
            tables.next_schedule_id += 1
        return stored

    async def schedules(self, guild_id: int | None = None) -> list[StoredSchedule]:
        await _round_trip()
        return [
            s
            for _, s in sorted(self._tables.schedules.items())
            if guild_id is None or s.guild_id == guild_id
        ]

    async def remove_schedule(self, guild_id: int, schedule_id: int) -> bool:
        await _round_trip()
        with self._change() as tables:
            found = tables.schedules.get(schedule_id)
            if found is None or found.guild_id != guild_id:
                return False
            del tables.schedules[schedule_id]
        return True

    async def advance_schedule(self, schedule_id: int, due_at: float, next_run_at: float) -> bool:
        await _round_trip()
        with self._change() as tables:
            found = tables.schedules.get(schedule_id)
            if found is None or found.next_run_at != due_at:
                return False
            tables.schedules[schedule_id] = replace(found, next_run_at=next_run_at)
        return True

    # Raw rows, for tests that need a store in a state no public method reaches.

    def insert_ballot(self, battle_id: int, user_id: int, side: Side) -> None:
        """Stores one ballot on its own, as an SQL test would INSERT a row."""
        with self._change() as tables:
            _require_battle(tables, battle_id)
            tables.ballots.setdefault(battle_id, {})[user_id] = side


def _number(played: StoredRound) -> int:
    return played.number


async def _round_trip() -> None:
    """Lets other tasks run here, as waiting for a database would."""
    await asyncio.sleep(0)


def _require_battle(tables: MemoryTables, battle_id: int) -> None:
    """The foreign key the SQL tables declare from turns and ballots to battles."""
    if battle_id not in tables.battles:
        raise IntegrityError(f"there is no battle {battle_id}")


def _add_to_aggregates(tables: MemoryTables, stored: StoredBattle, tally: Tally) -> None:
    """Rated battles feed the pair and model aggregates, as battle_queries.py's
    _add_to_aggregates does."""
    score_a = tally.score_a()
    model_a, model_b = stored.battle.model_a, stored.battle.model_b
    if score_a is None or model_a == model_b or stored.unrated_reason is not None:
        return  # No votes, a model against itself, or a blind battle that leaked: not rated.
    first, second, first_score = (
        (model_a, model_b, score_a) if model_a < model_b else (model_b, model_a, 1 - score_a)
    )
    pair = tables.pair_stats.setdefault((stored.guild_id, first, second), _PairStats())
    pair.battles += 1
    pair.score_a += first_score
    pair.score_sq += first_score * first_score
    for model, side in ((model_a, Side.A), (model_b, Side.B)):
        key = (stored.guild_id, model)
        tables.model_stats[key] = _plus(
            tables.model_stats.get(key, ModelRecord()),
            ModelRecord(
                wins=int(tally.winner is side),
                losses=int(tally.winner is side.opponent),
                draws=int(tally.winner is None),
                battles=1,
                votes=tally.votes(side),
            ),
        )
    _bump_rating_version(tables, stored.guild_id)


def _add_to_judges_aggregates(tables: MemoryTables, stored: StoredBattle, verdict: Verdict) -> None:
    """As bot/store/verdict_queries.py does: a battle's score is its share of the judges who
    picked."""
    score_a = judges_score_a(verdict)
    model_a, model_b = stored.battle.model_a, stored.battle.model_b
    if score_a is None or model_a == model_b:
        return  # Every judge abstained, or a model against itself: kept, not rated.
    first, second, first_score = (
        (model_a, model_b, score_a) if model_a < model_b else (model_b, model_a, 1 - score_a)
    )
    pair = tables.judge_pair_stats.setdefault((stored.guild_id, first, second), _PairStats())
    pair.battles += 1
    pair.score_a += first_score
    pair.score_sq += first_score * first_score
    for model, side in ((model_a, Side.A), (model_b, Side.B)):
        key = (stored.guild_id, model)
        tables.judge_model_stats[key] = _plus(
            tables.judge_model_stats.get(key, ModelRecord()),
            ModelRecord(
                wins=int(verdict.winner is side),
                losses=int(verdict.winner is side.opponent),
                draws=int(verdict.winner is None),
                battles=1,
                votes=verdict.votes(side),
            ),
        )
    _bump_rating_version(tables, stored.guild_id)


def _bump_rating_version(tables: MemoryTables, guild_id: int) -> None:
    tables.rating_versions[guild_id] = tables.rating_versions.get(guild_id, 0) + 1


def _plus(one: ModelRecord, other: ModelRecord) -> ModelRecord:
    return ModelRecord(
        wins=one.wins + other.wins,
        losses=one.losses + other.losses,
        draws=one.draws + other.draws,
        battles=one.battles + other.battles,
        votes=one.votes + other.votes,
    )

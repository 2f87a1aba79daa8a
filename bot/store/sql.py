"""The store's SQL, written once for every backend.

A backend supplies connections (``Executor``) and transactions; everything the store says to the
database is here, in a common dialect: ``?`` placeholders, ON CONFLICT upserts, RETURNING.
"""

from __future__ import annotations

import contextlib
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Collection, Iterable, Mapping, Sequence
from typing import Any, ClassVar, Protocol, Self

from bot.engine.battle import Battle, Side, Turn
from bot.engine.leaderboard import Board, ModelRecord
from bot.engine.lifecycle import ENDED_WITHOUT_VOTE, check_move
from bot.engine.ratings import PairRecord
from bot.engine.server_settings import SETTINGS, ServerSettings, SettingKind
from bot.engine.spend import Spend, SpendReport, TokenUsage
from bot.engine.votes import Tally
from bot.errors import UserError
from bot.store.aggregates import CROWD_TABLES, RatedOutcome, add_outcome, bump_rating_version
from bot.store.base import BattleState, IntegrityError, NewBattle, StoredBattle
from bot.store.migrations import migration_scripts, statements
from bot.store.tournaments import TOURNAMENT_BOOLEANS, TOURNAMENT_TABLES, TournamentQueries
from bot.store.verdicts import VERDICT_BOOLEAN_COLUMNS, VERDICT_TABLES, VerdictQueries
from bot.store.web_queries import WebQueries

Row = tuple[Any, ...]

_BATTLE_NAMES = (
    "id",
    "guild_id",
    "channel_id",
    "starter_id",
    "model_a",
    "model_b",
    "rounds",
    "topic",
    "blind",
    "sides_swapped",
    "state",
    "reason",
    "created_at",
    "vote_message_id",
    "vote_closes_at",
    "emoji_a",
    "emoji_b",
    "votes_a",
    "votes_b",
    "results_message_id",
    "thread_id",
    "unrated_reason",
    "votes_set_aside",
)
_BATTLE_COLUMNS = ", ".join(_BATTLE_NAMES)
_SETTINGS_NAMES = tuple(setting.name for setting in SETTINGS)
_SETTINGS_COLUMNS = ", ".join(_SETTINGS_NAMES)
_MIGRATIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations "
    "(version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
)

# Every model request that was paid for, one row each: (battle_id, prompt_tokens,
# completion_tokens, cost_usd). Spend is summed over all of them, by the battle's server and
# start time. Another source of usage (the judges' ballots) is one more SELECT here.
SPEND_SOURCES: tuple[str, ...] = (
    "SELECT battle_id, prompt_tokens, completion_tokens, cost_usd FROM turns"
    " WHERE prompt_tokens IS NOT NULL",
    "SELECT battle_id, prompt_tokens, completion_tokens, cost_usd FROM judge_ballots",
)

# For copying a whole store: every table but schema_migrations, parents before children, each
# with all its columns and the primary key that orders its rows.
COPIED_TABLES: dict[str, tuple[tuple[str, ...], str]] = {
    "battles": ((*_BATTLE_NAMES, "closed_at"), "id"),
    "turns": (
        (
            "battle_id",
            "position",
            "speaker",
            "side",
            "round",
            "text",
            "prompt_tokens",
            "completion_tokens",
            "cost_usd",
        ),
        "battle_id, position",
    ),
    "ballots": (("battle_id", "user_id", "side"), "battle_id, user_id"),
    "server_settings": (("guild_id", *_SETTINGS_NAMES), "guild_id"),
    "pair_stats": (
        ("guild_id", "model_a", "model_b", "battles", "score_a", "score_sq"),
        "guild_id, model_a, model_b",
    ),
    "model_stats": (
        ("guild_id", "model", "wins", "losses", "draws", "battles", "votes"),
        "guild_id, model",
    ),
    "rating_versions": (("guild_id", "version"), "guild_id"),
    **VERDICT_TABLES,
    **TOURNAMENT_TABLES,
}
# SQLite hands booleans back as 0 and 1; Postgres accepts only true booleans.
_BOOLEAN_COLUMNS = frozenset(
    {"blind", "sides_swapped", *TOURNAMENT_BOOLEANS}
    | {setting.name for setting in SETTINGS if setting.kind is SettingKind.SWITCH}
    | VERDICT_BOOLEAN_COLUMNS
)


class DestinationNotEmpty(UserError):
    """A copy was aimed at a store that already holds rows."""


class Executor(Protocol):
    """One connection, as the shared SQL needs it."""

    async def execute(self, sql: str, values: Sequence[Any] = ()) -> int:
        """Runs one statement; returns how many rows it changed."""
        ...

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    async def fetch(self, sql: str, values: Sequence[Any] = ()) -> list[Row]: ...


class SQLStore(WebQueries, VerdictQueries, TournamentQueries, ABC):
    """The Store, over any backend that can hand out an Executor. Each method is one transaction."""

    dialect: ClassVar[str]  # the key into migrations.DIALECT_TYPES
    # The driver's constraint errors, which the store re-raises as IntegrityError.
    _integrity_errors: tuple[type[Exception], ...] = ()

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def _prepare(self) -> None:
        """Readies a new connection before migrating (settings, checks)."""

    async def _start(self) -> Self:
        """Prepares and migrates a newly opened store; closes it if that fails."""
        try:
            await self._prepare()
            await self.migrate()
        except BaseException:
            await self.close()
            raise
        return self

    @abstractmethod
    def _transaction(self) -> contextlib.AbstractAsyncContextManager[Executor]:
        """A write transaction: committed on exit, rolled back on any error."""

    @abstractmethod
    def _reader(self) -> contextlib.AbstractAsyncContextManager[Executor]:
        """A connection for reads outside any transaction of this store."""

    @abstractmethod
    async def _lock_migrations(self, db: Executor) -> None:
        """First in each migration transaction: keeps other processes' migrations out until it
        ends."""

    @abstractmethod
    async def _after_copy(self, db: Executor) -> None:
        """Last in the transaction that loaded copied rows (ids included)."""

    @contextlib.asynccontextmanager
    async def _change(self) -> AsyncIterator[Executor]:
        try:
            async with self._transaction() as db:
                yield db
        except self._integrity_errors as error:
            raise IntegrityError(str(error)) from error

    async def _fetch(self, sql: str, values: Sequence[Any] = ()) -> list[Row]:
        async with self._reader() as db:
            return await db.fetch(sql, values)

    # Migrations

    async def schema_version(self) -> int:
        async with self._reader() as db:
            return await _version(db)

    async def migrate(self) -> int:
        """Applies pending migrations; returns the schema version."""
        scripts = migration_scripts(self.dialect)
        version = await self._migrate_once(scripts)
        while version < len(scripts):
            version = await self._migrate_once(scripts)
        return version

    async def _migrate_once(self, scripts: Sequence[str]) -> int:
        """Applies the next pending migration, if any; returns the version after it.

        The version is read inside the transaction, after the lock, so that two processes
        starting at once cannot both apply the same migration.
        """
        async with self._change() as db:
            await self._lock_migrations(db)
            await db.execute(_MIGRATIONS_TABLE)
            version = await _version(db)
            if version >= len(scripts):
                return version
            for statement in statements(scripts[version]):
                await db.execute(statement)
            await db.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                (version + 1, time.time()),
            )
            return version + 1

    # Battles

    async def create_battle(self, new: NewBattle, now: float) -> StoredBattle:
        battle = new.battle
        async with self._change() as db:
            rows = await db.fetch(
                "INSERT INTO battles (guild_id, channel_id, starter_id, model_a, model_b, rounds,"
                " topic, blind, sides_swapped, state, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    new.guild_id,
                    new.channel_id,
                    new.starter_id,
                    battle.model_a,
                    battle.model_b,
                    battle.rounds,
                    battle.topic,
                    battle.blind,
                    new.sides_swapped,
                    BattleState.RUNNING.value,
                    now,
                ),
            )
        return StoredBattle(
            rows[0][0],
            new.guild_id,
            new.channel_id,
            new.starter_id,
            battle,
            new.sides_swapped,
            BattleState.RUNNING,
            now,
        )

    async def add_turn(
        self, battle_id: int, position: int, turn: Turn, usage: TokenUsage | None = None
    ) -> None:
        async with self._change() as db:
            await db.execute(
                "INSERT INTO turns (battle_id, position, speaker, side, round, text,"
                " prompt_tokens, completion_tokens, cost_usd)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    battle_id,
                    position,
                    turn.speaker,
                    turn.side.value if turn.side else None,
                    turn.round,
                    turn.text,
                    usage.prompt_tokens if usage else None,
                    usage.completion_tokens if usage else None,
                    usage.cost_usd if usage else None,
                ),
            )

    async def end_battle(self, battle_id: int, state: BattleState, reason: str | None) -> bool:
        if state not in ENDED_WITHOUT_VOTE:
            raise ValueError(f"{state} is not an end without a vote")
        return await self._move(battle_id, BattleState.RUNNING, state, "reason = ?", (reason,))

    async def abandon_vote(self, battle_id: int, reason: str) -> bool:
        return await self._move(
            battle_id, BattleState.VOTING, BattleState.NO_CONTEST, "reason = ?", (reason,)
        )

    async def open_voting(
        self, battle_id: int, message_id: int, closes_at: float, emoji: Mapping[Side, str]
    ) -> bool:
        return await self._move(
            battle_id,
            BattleState.RUNNING,
            BattleState.VOTING,
            "vote_message_id = ?, vote_closes_at = ?, emoji_a = ?, emoji_b = ?",
            (message_id, closes_at, emoji[Side.A], emoji[Side.B]),
        )

    async def close_voting(
        self, battle_id: int, tally: Tally, now: float, *, set_aside: int = 0
    ) -> bool:
        check_move(BattleState.VOTING, BattleState.CLOSED)
        async with self._change() as db:
            # Conditional on the state, so of two closers only one changes the row: on Postgres
            # the second waits for the first's row lock, then sees the state already moved.
            changed = await db.execute(
                "UPDATE battles SET state = ?, votes_a = ?, votes_b = ?, closed_at = ?,"
                " votes_set_aside = ? WHERE id = ? AND state = ?",
                (
                    BattleState.CLOSED.value,
                    tally.votes(Side.A),
                    tally.votes(Side.B),
                    now,
                    set_aside,
                    battle_id,
                    BattleState.VOTING.value,
                ),
            )
            if changed != 1:
                return False
            await db.executemany(
                "INSERT INTO ballots (battle_id, user_id, side) VALUES (?, ?, ?)",
                [(battle_id, user, side.value) for user, side in tally.ballots.items()],
            )
            await _add_to_aggregates(db, battle_id, tally)
        return True

    async def set_results_message(self, battle_id: int, message_id: int) -> None:
        async with self._change() as db:
            await db.execute(
                "UPDATE battles SET results_message_id = ? WHERE id = ?", (message_id, battle_id)
            )

    async def set_thread(self, battle_id: int, thread_id: int) -> None:
        async with self._change() as db:
            await db.execute(
                "UPDATE battles SET thread_id = ? WHERE id = ?", (thread_id, battle_id)
            )

    async def set_unrated(self, battle_id: int, reason: str) -> None:
        async with self._change() as db:
            await db.execute(
                "UPDATE battles SET unrated_reason = ? WHERE id = ?", (reason, battle_id)
            )

    async def results_undeliverable(self, battle_id: int, reason: str) -> None:
        async with self._change() as db:
            await db.execute(
                "UPDATE battles SET reason = ? WHERE id = ? AND state = ?"
                " AND results_message_id IS NULL",
                (reason, battle_id, BattleState.CLOSED.value),
            )

    async def _move(
        self,
        battle_id: int,
        from_state: BattleState,
        to_state: BattleState,
        assignments: str,
        values: tuple[Any, ...],
    ) -> bool:
        check_move(from_state, to_state)
        async with self._change() as db:
            changed = await db.execute(
                f"UPDATE battles SET state = ?, {assignments} WHERE id = ? AND state = ?",
                (to_state.value, *values, battle_id, from_state.value),
            )
            return changed == 1

    async def battle(self, battle_id: int) -> StoredBattle | None:
        rows = await self._battles("WHERE id = ?", (battle_id,))
        return rows[0] if rows else None

    async def battles_in(self, states: Collection[BattleState]) -> list[StoredBattle]:
        if not states:
            return []  # Postgres refuses an empty IN ().
        marks = ", ".join("?" for _ in states)
        return await self._battles(
            f"WHERE state IN ({marks}) ORDER BY id", tuple(s.value for s in states)
        )

    async def unannounced_results(self) -> list[StoredBattle]:
        return await self._battles(
            "WHERE state = ? AND results_message_id IS NULL AND reason IS NULL ORDER BY id",
            (BattleState.CLOSED.value,),
        )

    async def _battles(self, where: str, values: tuple[Any, ...]) -> list[StoredBattle]:
        rows = await self._fetch(f"SELECT {_BATTLE_COLUMNS} FROM battles {where}", values)
        return [_stored_battle(row) for row in rows]

    async def turns(self, battle_id: int) -> list[Turn]:
        rows = await self._fetch(
            "SELECT speaker, text, side, round FROM turns WHERE battle_id = ? ORDER BY position",
            (battle_id,),
        )
        return [
            Turn(speaker, text, Side(side) if side else None, round_number)
            for speaker, text, side, round_number in rows
        ]

    async def turn_usage(self, battle_id: int) -> list[TokenUsage | None]:
        rows = await self._fetch(
            "SELECT prompt_tokens, completion_tokens, cost_usd FROM turns"
            " WHERE battle_id = ? ORDER BY position",
            (battle_id,),
        )
        return [None if row[0] is None else TokenUsage(row[0], row[1], row[2]) for row in rows]

    async def spend(self, guild_id: int | None, since: float | None = None) -> Spend:
        conditions: list[str] = []
        values: list[Any] = []
        if guild_id is not None:
            conditions.append("b.guild_id = ?")
            values.append(guild_id)
        if since is not None:
            conditions.append("b.created_at >= ?")
            values.append(since)
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        [row] = await self._fetch(
            "SELECT COUNT(*), COALESCE(SUM(u.prompt_tokens), 0),"
            " COALESCE(SUM(u.completion_tokens), 0), COALESCE(SUM(u.cost_usd), 0),"
            " COALESCE(SUM(CASE WHEN u.cost_usd IS NULL THEN 1 ELSE 0 END), 0)"
            f" FROM ({' UNION ALL '.join(SPEND_SOURCES)}) AS u"
            f" JOIN battles AS b ON b.id = u.battle_id{where}",
            values,
        )
        return Spend(int(row[1]), int(row[2]), float(row[3]), int(row[0]), int(row[4]))

    async def spend_report(self, guild_id: int, today_starts_at: float) -> SpendReport:
        return SpendReport(
            server_today=await self.spend(guild_id, today_starts_at),
            server_all_time=await self.spend(guild_id),
            global_today=await self.spend(None, today_starts_at),
            global_all_time=await self.spend(None),
        )

    async def ballots(self, battle_id: int) -> dict[int, Side]:
        rows = await self._fetch(
            "SELECT user_id, side FROM ballots WHERE battle_id = ?", (battle_id,)
        )
        return {user: Side(side) for user, side in rows}

    async def last_start(self, guild_id: int, user_id: int) -> float | None:
        rows = await self._fetch(
            "SELECT MAX(created_at) FROM battles WHERE guild_id = ? AND starter_id = ?",
            (guild_id, user_id),
        )
        return rows[0][0] if rows else None

    async def recent_battles(
        self, guild_id: int, model: str | None = None, limit: int = 10
    ) -> list[StoredBattle]:
        if model is None:
            return await self._battles(
                "WHERE guild_id = ? ORDER BY id DESC LIMIT ?", (guild_id, limit)
            )
        return await self._battles(
            "WHERE guild_id = ? AND (model_a = ? OR model_b = ?) ORDER BY id DESC LIMIT ?",
            (guild_id, model, model, limit),
        )

    # Server settings and the leaderboard's aggregates

    async def server_settings(self, guild_id: int) -> ServerSettings:
        rows = await self._fetch(
            f"SELECT {_SETTINGS_COLUMNS} FROM server_settings WHERE guild_id = ?", (guild_id,)
        )
        return ServerSettings.from_row(rows[0]) if rows else ServerSettings()

    async def save_server_settings(self, guild_id: int, settings: ServerSettings) -> None:
        values = settings.to_row()
        assignments = ", ".join(f"{column} = excluded.{column}" for column in _SETTINGS_NAMES)
        async with self._change() as db:
            await db.execute(
                f"INSERT INTO server_settings (guild_id, {_SETTINGS_COLUMNS})"
                f" VALUES (?, {', '.join('?' for _ in values)})"
                f" ON CONFLICT (guild_id) DO UPDATE SET {assignments}",
                (guild_id, *values),
            )
            await bump_rating_version(db, guild_id)  # The global board may gain or lose it.

    async def ratings_version(self, guild_id: int | None) -> int:
        """Grows whenever the ratings of a server (or, for None, the global ones) may change."""
        if guild_id is None:
            rows = await self._fetch("SELECT COALESCE(SUM(version), 0) FROM rating_versions")
        else:
            rows = await self._fetch(
                "SELECT version FROM rating_versions WHERE guild_id = ?", (guild_id,)
            )
        return int(rows[0][0]) if rows else 0

    async def pair_records(
        self, guild_id: int | None, board: Board = Board.CROWD
    ) -> list[PairRecord]:
        if board is Board.JUDGES:
            return await self.judge_pair_records(guild_id)
        where, values = _scope(guild_id, "p")
        rows = await self._fetch(
            "SELECT p.model_a, p.model_b, SUM(p.battles), SUM(p.score_a), SUM(p.score_sq)"
            " FROM pair_stats p"
            f" LEFT JOIN server_settings s ON s.guild_id = p.guild_id {where}"
            " GROUP BY p.model_a, p.model_b",
            values,
        )
        return [PairRecord(*row) for row in rows]

    async def model_records(
        self, guild_id: int | None, board: Board = Board.CROWD
    ) -> dict[str, ModelRecord]:
        if board is Board.JUDGES:
            return await self.judge_model_records(guild_id)
        where, values = _scope(guild_id, "m")
        rows = await self._fetch(
            "SELECT m.model, SUM(m.wins), SUM(m.losses), SUM(m.draws), SUM(m.battles),"
            " SUM(m.votes) FROM model_stats m"
            f" LEFT JOIN server_settings s ON s.guild_id = m.guild_id {where}"
            " GROUP BY m.model",
            values,
        )
        return {row[0]: ModelRecord(*row[1:]) for row in rows}

    # Raw rows, for copying a whole store to another (bot/store/copy.py) and nothing else.

    async def table_rows(self, table: str) -> list[Row]:
        """Every row of one of COPIED_TABLES, columns in COPIED_TABLES order."""
        columns, key = COPIED_TABLES[table]
        rows = await self._fetch(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {key}")
        booleans = [i for i, column in enumerate(columns) if column in _BOOLEAN_COLUMNS]
        return [_with_booleans(row, booleans) for row in rows] if booleans else rows

    async def row_counts(self) -> dict[str, int]:
        async with self._reader() as db:
            return {table: await _count(db, table) for table in COPIED_TABLES}

    async def load_rows(self, tables: Mapping[str, Sequence[Row]]) -> None:
        """Inserts copied rows, ids and all, in one transaction; refuses a store with any rows."""
        async with self._change() as db:
            held = {table: await _count(db, table) for table in COPIED_TABLES}
            if any(held.values()):
                listed = ", ".join(f"{table} {count}" for table, count in held.items() if count)
                raise DestinationNotEmpty(f"The destination is not empty ({listed}).")
            for table, (columns, _) in COPIED_TABLES.items():
                await db.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)})"
                    f" VALUES ({', '.join('?' for _ in columns)})",
                    tables.get(table, ()),
                )
            await self._after_copy(db)


async def _version(db: Executor) -> int:
    return int((await db.fetch("SELECT MAX(version) FROM schema_migrations"))[0][0] or 0)


async def _count(db: Executor, table: str) -> int:
    return int((await db.fetch(f"SELECT COUNT(*) FROM {table}"))[0][0])


def _with_booleans(row: Row, positions: Iterable[int]) -> Row:
    values = list(row)
    for i in positions:
        values[i] = None if values[i] is None else bool(values[i])
    return tuple(values)


async def _add_to_aggregates(db: Executor, battle_id: int, tally: Tally) -> None:
    """Rated battles feed the pair and model aggregates, inside the closing transaction."""
    score_a = tally.score_a()
    rows = await db.fetch(
        "SELECT guild_id, model_a, model_b, unrated_reason FROM battles WHERE id = ?",
        (battle_id,),
    )
    guild_id, model_a, model_b, unrated_reason = rows[0]
    if score_a is None or model_a == model_b or unrated_reason is not None:
        return  # No votes, a model against itself, or a blind battle that leaked: not rated.
    votes = {side: tally.votes(side) for side in Side}
    outcome = RatedOutcome(guild_id, model_a, model_b, score_a, tally.winner, votes)
    await add_outcome(db, CROWD_TABLES, outcome)


def _scope(guild_id: int | None, table: str) -> tuple[str, tuple[Any, ...]]:
    """One server's rows, or every server that has not opted out of the global board."""
    if guild_id is None:
        return "WHERE COALESCE(s.global_opt_out, FALSE) = FALSE", ()
    return f"WHERE {table}.guild_id = ?", (guild_id,)


def _stored_battle(row: Row) -> StoredBattle:
    (
        battle_id,
        guild_id,
        channel_id,
        starter_id,
        model_a,
        model_b,
        rounds,
        topic,
        blind,
        swapped,
        state,
        reason,
        created_at,
        vote_message_id,
        vote_closes_at,
        emoji_a,
        emoji_b,
        votes_a,
        votes_b,
        results_message_id,
        thread_id,
        unrated_reason,
        votes_set_aside,
    ) = row
    return StoredBattle(
        id=battle_id,
        guild_id=guild_id,
        channel_id=channel_id,
        starter_id=starter_id,
        battle=Battle(model_a, model_b, rounds, topic, bool(blind)),
        sides_swapped=bool(swapped),
        state=BattleState(state),
        created_at=created_at,
        reason=reason,
        vote_message_id=vote_message_id,
        vote_closes_at=vote_closes_at,
        emoji={Side.A: emoji_a, Side.B: emoji_b} if emoji_a and emoji_b else None,
        votes_a=votes_a,
        votes_b=votes_b,
        results_message_id=results_message_id,
        thread_id=thread_id,
        unrated_reason=unrated_reason,
        votes_set_aside=votes_set_aside,
    )

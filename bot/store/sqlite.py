"""The SQLite store (aiosqlite): WAL, a busy timeout, and one transaction per change."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Collection, Mapping
from pathlib import Path
from typing import Any

import aiosqlite

from bot.engine.battle import Battle, Side, Turn
from bot.engine.leaderboard import ModelRecord
from bot.engine.pacing import Pace
from bot.engine.ratings import PairRecord
from bot.engine.server_settings import ServerSettings
from bot.engine.votes import Tally
from bot.store.base import ENDED_WITHOUT_VOTE, BattleState, NewBattle, StoredBattle
from bot.store.migrations import MIGRATIONS

BUSY_TIMEOUT_MS = 5000
_BATTLE_COLUMNS = (
    "id, guild_id, channel_id, starter_id, model_a, model_b, rounds, topic, blind, "
    "sides_swapped, state, reason, created_at, vote_message_id, vote_closes_at, emoji_a, "
    "emoji_b, votes_a, votes_b, results_message_id"
)


class SQLiteStore:
    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._db = connection
        # One connection serves every task, so transactions take turns.
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str) -> SQLiteStore:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        connection = await aiosqlite.connect(path, isolation_level=None)
        try:
            for pragma in (
                "PRAGMA journal_mode=WAL",
                f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
                "PRAGMA foreign_keys=ON",
                "PRAGMA synchronous=NORMAL",
            ):
                await connection.execute(pragma)
            store = cls(connection)
            await store.migrate()
        except BaseException:
            await connection.close()
            raise
        return store

    async def close(self) -> None:
        await self._db.close()

    async def schema_version(self) -> int:
        async with self._db.execute("SELECT MAX(version) FROM schema_migrations") as cursor:
            row = await cursor.fetchone()
        return int(row[0] or 0) if row else 0

    async def migrate(self) -> int:
        """Applies pending migrations; returns the schema version."""
        await self._db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
        )
        current = await self.schema_version()
        for version, script in enumerate(MIGRATIONS, start=1):
            if version > current:
                # executescript runs statements outside our transaction helper, so the
                # script carries its own BEGIN/COMMIT to stay atomic.
                await self._db.executescript(
                    f"BEGIN IMMEDIATE;\n{script}\n"
                    f"INSERT INTO schema_migrations VALUES ({version}, {time.time()});\nCOMMIT;"
                )
        return await self.schema_version()

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")

    async def create_battle(self, new: NewBattle, now: float) -> StoredBattle:
        battle = new.battle
        async with self._transaction() as db:
            cursor = await db.execute(
                "INSERT INTO battles (guild_id, channel_id, starter_id, model_a, model_b, rounds,"
                " topic, blind, sides_swapped, state, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            battle_id = cursor.lastrowid
        assert battle_id is not None
        return StoredBattle(
            battle_id,
            new.guild_id,
            new.channel_id,
            new.starter_id,
            battle,
            new.sides_swapped,
            BattleState.RUNNING,
            now,
        )

    async def add_turn(self, battle_id: int, position: int, turn: Turn) -> None:
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO turns (battle_id, position, speaker, side, round, text)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    battle_id,
                    position,
                    turn.speaker,
                    turn.side.value if turn.side else None,
                    turn.round,
                    turn.text,
                ),
            )

    async def end_battle(self, battle_id: int, state: BattleState, reason: str | None) -> bool:
        if state not in ENDED_WITHOUT_VOTE:
            raise ValueError(f"{state} is not an end without a vote")
        return await self._move(battle_id, BattleState.RUNNING, state, "reason = ?", (reason,))

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

    async def close_voting(self, battle_id: int, tally: Tally, now: float) -> bool:
        async with self._transaction() as db:
            cursor = await db.execute(
                "UPDATE battles SET state = ?, votes_a = ?, votes_b = ?, closed_at = ?"
                " WHERE id = ? AND state = ?",
                (
                    BattleState.CLOSED.value,
                    tally.votes(Side.A),
                    tally.votes(Side.B),
                    now,
                    battle_id,
                    BattleState.VOTING.value,
                ),
            )
            if cursor.rowcount != 1:
                return False
            await db.executemany(
                "INSERT INTO ballots (battle_id, user_id, side) VALUES (?, ?, ?)",
                [(battle_id, user, side.value) for user, side in tally.ballots.items()],
            )
            await self._add_to_aggregates(db, battle_id, tally)
        return True

    async def _add_to_aggregates(
        self, db: aiosqlite.Connection, battle_id: int, tally: Tally
    ) -> None:
        """Rated battles feed the pair and model aggregates, inside the closing transaction."""
        score_a = tally.score_a()
        async with db.execute(
            "SELECT guild_id, model_a, model_b FROM battles WHERE id = ?", (battle_id,)
        ) as cursor:
            row = await cursor.fetchone()
        assert row is not None
        guild_id, model_a, model_b = row
        if score_a is None or model_a == model_b:
            return  # No votes, or a model against itself: recorded, not rated.
        first, second, first_score = (
            (model_a, model_b, score_a) if model_a < model_b else (model_b, model_a, 1 - score_a)
        )
        await db.execute(
            "INSERT INTO pair_stats (guild_id, model_a, model_b, battles, score_a)"
            " VALUES (?, ?, ?, 1, ?) ON CONFLICT (guild_id, model_a, model_b) DO UPDATE SET"
            " battles = pair_stats.battles + 1,"
            " score_a = pair_stats.score_a + excluded.score_a",
            (guild_id, first, second, first_score),
        )
        for model, side in ((model_a, Side.A), (model_b, Side.B)):
            won, lost = tally.winner is side, tally.winner is side.opponent
            await db.execute(
                "INSERT INTO model_stats (guild_id, model, wins, losses, draws, battles, votes)"
                " VALUES (?, ?, ?, ?, ?, 1, ?) ON CONFLICT (guild_id, model) DO UPDATE SET"
                " wins = model_stats.wins + excluded.wins,"
                " losses = model_stats.losses + excluded.losses,"
                " draws = model_stats.draws + excluded.draws,"
                " battles = model_stats.battles + 1,"
                " votes = model_stats.votes + excluded.votes",
                (
                    guild_id,
                    model,
                    int(won),
                    int(lost),
                    int(tally.winner is None),
                    tally.votes(side),
                ),
            )

    async def set_results_message(self, battle_id: int, message_id: int) -> None:
        async with self._transaction() as db:
            await db.execute(
                "UPDATE battles SET results_message_id = ? WHERE id = ?", (message_id, battle_id)
            )

    async def _move(
        self,
        battle_id: int,
        from_state: BattleState,
        to_state: BattleState,
        assignments: str,
        values: tuple[Any, ...],
    ) -> bool:
        async with self._transaction() as db:
            cursor = await db.execute(
                f"UPDATE battles SET state = ?, {assignments} WHERE id = ? AND state = ?",
                (to_state.value, *values, battle_id, from_state.value),
            )
            return cursor.rowcount == 1

    async def battle(self, battle_id: int) -> StoredBattle | None:
        rows = await self._battles("WHERE id = ?", (battle_id,))
        return rows[0] if rows else None

    async def battles_in(self, states: Collection[BattleState]) -> list[StoredBattle]:
        marks = ", ".join("?" for _ in states)
        return await self._battles(
            f"WHERE state IN ({marks}) ORDER BY id", tuple(s.value for s in states)
        )

    async def _battles(self, where: str, values: tuple[Any, ...]) -> list[StoredBattle]:
        async with self._db.execute(f"SELECT {_BATTLE_COLUMNS} FROM battles {where}", values) as c:
            return [_stored_battle(row) for row in await c.fetchall()]

    async def turns(self, battle_id: int) -> list[Turn]:
        async with self._db.execute(
            "SELECT speaker, text, side, round FROM turns WHERE battle_id = ? ORDER BY position",
            (battle_id,),
        ) as cursor:
            return [
                Turn(speaker, text, Side(side) if side else None, round_number)
                for speaker, text, side, round_number in await cursor.fetchall()
            ]

    async def ballots(self, battle_id: int) -> dict[int, Side]:
        async with self._db.execute(
            "SELECT user_id, side FROM ballots WHERE battle_id = ?", (battle_id,)
        ) as cursor:
            return {user: Side(side) for user, side in await cursor.fetchall()}

    async def last_start(self, guild_id: int, user_id: int) -> float | None:
        async with self._db.execute(
            "SELECT MAX(created_at) FROM battles WHERE guild_id = ? AND starter_id = ?",
            (guild_id, user_id),
        ) as cursor:
            row = await cursor.fetchone()
        return row[0] if row else None

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

    async def server_settings(self, guild_id: int) -> ServerSettings:
        async with self._db.execute(
            f"SELECT {_SETTINGS_COLUMNS} FROM server_settings WHERE guild_id = ?", (guild_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return settings_from_row(row) if row else ServerSettings()

    async def save_server_settings(self, guild_id: int, settings: ServerSettings) -> None:
        values = settings_to_row(settings)
        assignments = ", ".join(f"{column} = excluded.{column}" for column in _SETTINGS_NAMES)
        async with self._transaction() as db:
            await db.execute(
                f"INSERT INTO server_settings (guild_id, {_SETTINGS_COLUMNS})"
                f" VALUES (?, {', '.join('?' for _ in values)})"
                f" ON CONFLICT (guild_id) DO UPDATE SET {assignments}",
                (guild_id, *values),
            )

    async def pair_records(self, guild_id: int | None) -> list[PairRecord]:
        where, values = _scope(guild_id, "p")
        async with self._db.execute(
            "SELECT p.model_a, p.model_b, SUM(p.battles), SUM(p.score_a) FROM pair_stats p"
            f" LEFT JOIN server_settings s ON s.guild_id = p.guild_id {where}"
            " GROUP BY p.model_a, p.model_b",
            values,
        ) as cursor:
            return [PairRecord(*row) for row in await cursor.fetchall()]

    async def model_records(self, guild_id: int | None) -> dict[str, ModelRecord]:
        where, values = _scope(guild_id, "m")
        async with self._db.execute(
            "SELECT m.model, SUM(m.wins), SUM(m.losses), SUM(m.draws), SUM(m.battles),"
            " SUM(m.votes) FROM model_stats m"
            f" LEFT JOIN server_settings s ON s.guild_id = m.guild_id {where}"
            " GROUP BY m.model",
            values,
        ) as cursor:
            return {row[0]: ModelRecord(*row[1:]) for row in await cursor.fetchall()}


def _scope(guild_id: int | None, table: str) -> tuple[str, tuple[Any, ...]]:
    """One server's rows, or every server that has not opted out of the global board."""
    if guild_id is None:
        return "WHERE COALESCE(s.global_opt_out, FALSE) = FALSE", ()
    return f"WHERE {table}.guild_id = ?", (guild_id,)


_SETTINGS_NAMES = (
    "rounds",
    "pace",
    "vote_seconds",
    "cooldown_seconds",
    "max_battles",
    "emoji_a",
    "emoji_b",
    "allowed_models",
    "blind_default",
    "global_opt_out",
)
_SETTINGS_COLUMNS = ", ".join(_SETTINGS_NAMES)


def settings_to_row(settings: ServerSettings) -> tuple[Any, ...]:
    return (
        settings.rounds,
        None if settings.pace is None else str(settings.pace),
        settings.vote_seconds,
        settings.cooldown_seconds,
        settings.max_battles,
        settings.emoji_a,
        settings.emoji_b,
        None if settings.allowed_models is None else json.dumps(list(settings.allowed_models)),
        settings.blind_default,
        settings.global_opt_out,
    )


def settings_from_row(row: Any) -> ServerSettings:
    (
        rounds,
        pace,
        vote_seconds,
        cooldown,
        max_battles,
        emoji_a,
        emoji_b,
        allowed,
        blind,
        opt_out,
    ) = row
    return ServerSettings(
        rounds=rounds,
        pace=None if pace is None else Pace.parse(pace),
        vote_seconds=vote_seconds,
        cooldown_seconds=cooldown,
        max_battles=max_battles,
        emoji_a=emoji_a,
        emoji_b=emoji_b,
        allowed_models=None if allowed is None else tuple(json.loads(allowed)),
        blind_default=None if blind is None else bool(blind),
        global_opt_out=bool(opt_out),
    )


def _stored_battle(row: aiosqlite.Row | tuple[Any, ...]) -> StoredBattle:
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
    )

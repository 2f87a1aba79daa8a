"""Databases of a load run: a fresh SQLite file or a fresh PostgreSQL schema per bot, seeding a
large history straight into the tables, and reading back what the bot stored."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.engine.votes import DEFAULT_EMOJI
from bot.store import BattleState, open_store
from bot.store.copy_queries import COPIED_TABLES

POSTGRES_SERVER = "postgresql://postgres@127.0.0.1:5432/test"
BACKENDS = ("sqlite", "postgres")


@dataclass(frozen=True)
class Database:
    backend: str
    url: str


async def postgres_unavailable() -> str | None:
    """Why the PostgreSQL backend cannot be measured here, or None if it can."""
    try:
        import asyncpg
    except ImportError:
        return "asyncpg is not installed (pip install -e '.[postgres]')"
    try:
        import bot.store.postgres  # noqa: F401
    except ImportError as error:
        return f"the bot has no PostgreSQL store yet ({error})"
    try:
        connection = await asyncio.wait_for(asyncpg.connect(POSTGRES_SERVER), 5)
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        return f"no PostgreSQL at {POSTGRES_SERVER} ({error})"
    await connection.close()
    return None


@contextlib.asynccontextmanager
async def fresh_database(backend: str, workdir: Path) -> AsyncIterator[Database]:
    """An empty, migrated database for one bot: a new SQLite file, or a new schema (dropped
    afterwards) on the local PostgreSQL."""
    tag = f"load_{int(time.time())}_{secrets.token_hex(3)}"
    if backend == "sqlite":
        path = workdir / f"{tag}.db"
        try:
            url = f"sqlite:///{path}"
            await _migrate(url)
            yield Database(backend, url)
        finally:
            _remove_files(workdir, f"{tag}.db*")
        return
    import asyncpg

    connection = await asyncpg.connect(POSTGRES_SERVER)
    try:
        await connection.execute(f"CREATE SCHEMA {tag}")
        url = f"{POSTGRES_SERVER}?schema={tag}"
        await _migrate(url)
        yield Database(backend, url)
    finally:
        await connection.execute(f"DROP SCHEMA IF EXISTS {tag} CASCADE")
        await connection.close()


def _remove_files(folder: Path, pattern: str) -> None:
    for leftover in folder.glob(pattern):
        leftover.unlink()


async def _migrate(url: str) -> None:
    store = await open_store(url)
    await store.close()


# -- reading back ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClosedBattle:
    id: int
    channel_id: int
    votes_a: int
    votes_b: int
    ballots: int


async def closed_battles(url: str) -> list[ClosedBattle]:
    """Every closed battle with its recorded votes and how many ballots were stored."""
    store = await open_store(url)
    try:
        closed = await store.battles_in([BattleState.CLOSED])
        return [
            ClosedBattle(
                b.id, b.channel_id, b.votes_a or 0, b.votes_b or 0, len(await store.ballots(b.id))
            )
            for b in closed
        ]
    finally:
        await store.close()


# -- seeding a history for the leaderboard ---------------------------------------------------


@dataclass(frozen=True)
class History:
    """Battles between ``models`` models, all closed with votes, on one server."""

    guild_id: int
    battles: int
    models: int
    seed: int = 7

    def model_names(self) -> list[str]:
        return [f"bench/model-{index:03d}" for index in range(self.models)]


@dataclass
class _Drawn:
    first: np.ndarray  # model index of side A
    second: np.ndarray
    votes_a: np.ndarray
    votes_b: np.ndarray


def _draw(history: History) -> _Drawn:
    rng = np.random.default_rng(history.seed)
    n, m = history.battles, history.models
    first = rng.integers(0, m, n)
    second = (first + rng.integers(1, m, n)) % m  # never the same model
    # Stronger models (higher index) tend to win, so the ratings spread out.
    strength = np.linspace(-1.5, 1.5, m)
    p_a = 1 / (1 + np.exp(strength[second] - strength[first]))
    votes = rng.integers(1, 30, n)
    votes_a = rng.binomial(votes, p_a)
    return _Drawn(first, second, votes_a, votes - votes_a)


@dataclass(frozen=True)
class _Aggregates:
    # guild, model_a < model_b, battles, score_a, score_sq: in COPIED_TABLES["pair_stats"] order
    pairs: list[tuple[int, str, str, float, float, float]]
    models: list[tuple[int, str, int, int, int, int, int]]  # guild, model, w, l, d, battles, votes


def _aggregates(history: History, drawn: _Drawn) -> _Aggregates:
    """pair_stats and model_stats exactly as closing each battle would have built them."""
    names = history.model_names()
    m = history.models
    total = drawn.votes_a + drawn.votes_b
    score_a = drawn.votes_a / total
    # Names sort like indexes (zero-padded), so the pair's first model is the lower index.
    low = np.minimum(drawn.first, drawn.second)
    high = np.maximum(drawn.first, drawn.second)
    low_score = np.where(drawn.first < drawn.second, score_a, 1 - score_a)
    key = low * m + high
    battles = np.bincount(key, minlength=m * m)
    scores = np.bincount(key, weights=low_score, minlength=m * m)
    squares = np.bincount(key, weights=low_score**2, minlength=m * m)
    pairs = [
        (
            history.guild_id,
            names[k // m],
            names[k % m],
            float(battles[k]),
            float(scores[k]),
            float(squares[k]),
        )
        for k in np.flatnonzero(battles)
    ]
    a_wins = drawn.votes_a > drawn.votes_b
    b_wins = drawn.votes_b > drawn.votes_a
    draws = ~(a_wins | b_wins)

    def per_model(side: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return np.bincount(side, weights=weights.astype(float), minlength=m)

    ones = np.ones_like(total)
    wins = per_model(drawn.first, a_wins) + per_model(drawn.second, b_wins)
    losses = per_model(drawn.first, b_wins) + per_model(drawn.second, a_wins)
    draw_count = per_model(drawn.first, draws) + per_model(drawn.second, draws)
    played = per_model(drawn.first, ones) + per_model(drawn.second, ones)
    votes = per_model(drawn.first, drawn.votes_a) + per_model(drawn.second, drawn.votes_b)
    models = [
        (
            history.guild_id,
            names[i],
            int(wins[i]),
            int(losses[i]),
            int(draw_count[i]),
            int(played[i]),
            int(votes[i]),
        )
        for i in range(m)
        if played[i]
    ]
    return _Aggregates(pairs, models)


# The store's own column lists (the ones copy-db uses), so the seed follows the schema.
_BATTLE_COLUMNS = tuple(c for c in COPIED_TABLES["battles"][0] if c != "id")
_PAIR_COLUMNS = COPIED_TABLES["pair_stats"][0]
_MODEL_COLUMNS = COPIED_TABLES["model_stats"][0]
# The ratings version the leaderboard cache is keyed by (migration 3), where the schema has it.
_VERSION_COLUMNS = ("guild_id", "version")


def _battle_rows(history: History, drawn: _Drawn, blind: bool | int) -> Iterator[tuple]:
    names = history.model_names()
    guild = history.guild_id
    channel, starter = guild + 1, guild + 2
    started = time.time() - history.battles * 60.0
    emoji_a, emoji_b = DEFAULT_EMOJI.values()
    closed = BattleState.CLOSED.value
    no = False if isinstance(blind, bool) else 0
    for i, (a, b, va, vb) in enumerate(
        zip(
            drawn.first.tolist(),
            drawn.second.tolist(),
            drawn.votes_a.tolist(),
            drawn.votes_b.tolist(),
            strict=True,
        )
    ):
        at = started + i * 60.0
        message = 10**15 + 2 * i
        yield (
            guild, channel, starter, names[a], names[b], 3, None, no, no, closed, None,
            at, message, at + 60.0, emoji_a, emoji_b, va, vb, message + 1, at + 60.0,
        )  # fmt: skip


async def seed_history(database: Database, history: History) -> float:
    """Writes the history straight into the (migrated, empty) database; returns the seconds
    it took."""
    started = time.monotonic()
    drawn = _draw(history)
    aggregates = _aggregates(history, drawn)
    if database.backend == "sqlite":
        path = database.url.removeprefix("sqlite:///")
        await asyncio.to_thread(_seed_sqlite, path, history, drawn, aggregates)
    else:
        await _seed_postgres(database.url, history, drawn, aggregates)
    return time.monotonic() - started


def _insert(columns: tuple[str, ...], table: str) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def _seed_sqlite(path: str, history: History, drawn: _Drawn, aggregates: _Aggregates) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("BEGIN")
        connection.executemany(
            _insert(_BATTLE_COLUMNS, "battles"), _battle_rows(history, drawn, blind=0)
        )
        connection.executemany(_insert(_PAIR_COLUMNS, "pair_stats"), aggregates.pairs)
        connection.executemany(_insert(_MODEL_COLUMNS, "model_stats"), aggregates.models)
        if connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'rating_versions'"
        ).fetchone():
            connection.execute(_insert(_VERSION_COLUMNS, "rating_versions"), (history.guild_id, 1))
        connection.execute("COMMIT")
        connection.execute("ANALYZE")
    finally:
        connection.close()


async def _seed_postgres(
    url: str, history: History, drawn: _Drawn, aggregates: _Aggregates
) -> None:
    import asyncpg

    server, _, schema = url.partition("?schema=")
    connection = await asyncpg.connect(server)
    try:
        async with connection.transaction():
            await connection.copy_records_to_table(
                "battles",
                records=_battle_rows(history, drawn, blind=False),
                columns=_BATTLE_COLUMNS,
                schema_name=schema,
            )
            for table, columns, rows in (
                ("pair_stats", _PAIR_COLUMNS, aggregates.pairs),
                ("model_stats", _MODEL_COLUMNS, aggregates.models),
            ):
                await connection.copy_records_to_table(
                    table, records=rows, columns=columns, schema_name=schema
                )
            if await connection.fetchval("SELECT to_regclass($1)", f"{schema}.rating_versions"):
                await connection.copy_records_to_table(
                    "rating_versions",
                    records=[(history.guild_id, 1)],
                    columns=_VERSION_COLUMNS,
                    schema_name=schema,
                )
        await connection.execute(f"ANALYZE {schema}.battles")
        await connection.execute(f"ANALYZE {schema}.pair_stats")
        await connection.execute(f"ANALYZE {schema}.model_stats")
    finally:
        await connection.close()

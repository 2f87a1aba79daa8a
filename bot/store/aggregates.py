"""The aggregates a leaderboard is fitted from, kept the same way for every board.

Each board (the crowd's, the judges') keeps, per server, one row per pair of models (battles, the
first model's summed score and summed squared score, for the robust intervals) and one row per
model (its record). They are added to in the transaction that rates a battle, and read back
(``BoardQueries``, mixed into SQLStore) summed over one server or every server on the global board.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.engine.battle import Side
from bot.engine.leaderboard import Board, ModelRecord
from bot.engine.ratings import PairRecord
from bot.store.executor import Executor, SQLDatabase

# Counted on the global board: every server that has not opted out of it (its settings joined as
# ``s``; a server that never saved any is on it).
ON_GLOBAL_BOARD = "COALESCE(s.global_opt_out, FALSE) = FALSE"


@dataclass(frozen=True, slots=True)
class AggregateTables:
    """A board's two tables (names from this module, never from input)."""

    pairs: str
    models: str


CROWD_TABLES = AggregateTables("pair_stats", "model_stats")
JUDGES_TABLES = AggregateTables("judge_pair_stats", "judge_model_stats")
_BOARD_TABLES = {Board.CROWD: CROWD_TABLES, Board.JUDGES: JUDGES_TABLES}


def copied_tables(tables: AggregateTables) -> dict[str, tuple[tuple[str, ...], str]]:
    """A board's two tables as copy_queries.py's COPIED_TABLES lists them: columns and key."""
    return {
        tables.pairs: (
            ("guild_id", "model_a", "model_b", "battles", "score_a", "score_sq"),
            "guild_id, model_a, model_b",
        ),
        tables.models: (
            ("guild_id", "model", "wins", "losses", "draws", "battles", "votes"),
            "guild_id, model",
        ),
    }


@dataclass(frozen=True, slots=True)
class RatedOutcome:
    """One rated battle as a board counts it: A's score in [0, 1], the winner (None: a draw),
    and the votes (or judges) each side got."""

    guild_id: int
    model_a: str
    model_b: str
    score_a: float
    winner: Side | None
    votes: Mapping[Side, int]


async def add_outcome(db: Executor, tables: AggregateTables, outcome: RatedOutcome) -> None:
    """Adds a rated battle to a board's aggregates and moves the server's ratings version."""
    model_a, model_b, score_a = outcome.model_a, outcome.model_b, outcome.score_a
    first, second, first_score = (
        (model_a, model_b, score_a) if model_a < model_b else (model_b, model_a, 1 - score_a)
    )
    pairs, models = tables.pairs, tables.models
    await db.execute(
        f"INSERT INTO {pairs} (guild_id, model_a, model_b, battles, score_a, score_sq)"
        " VALUES (?, ?, ?, 1, ?, ?) ON CONFLICT (guild_id, model_a, model_b) DO UPDATE SET"
        f" battles = {pairs}.battles + 1,"
        f" score_a = {pairs}.score_a + excluded.score_a,"
        f" score_sq = {pairs}.score_sq + excluded.score_sq",
        (outcome.guild_id, first, second, first_score, first_score * first_score),
    )
    # In name order, so that concurrent closes lock model rows in one order (on Postgres, closes
    # of a-b, b-c and c-a at once could otherwise wait on each other in a circle).
    for model, side in sorted(((model_a, Side.A), (model_b, Side.B)), key=lambda pair: pair[0]):
        won, lost = outcome.winner is side, outcome.winner is side.opponent
        await db.execute(
            f"INSERT INTO {models} (guild_id, model, wins, losses, draws, battles, votes)"
            " VALUES (?, ?, ?, ?, ?, 1, ?) ON CONFLICT (guild_id, model) DO UPDATE SET"
            f" wins = {models}.wins + excluded.wins,"
            f" losses = {models}.losses + excluded.losses,"
            f" draws = {models}.draws + excluded.draws,"
            f" battles = {models}.battles + 1,"
            f" votes = {models}.votes + excluded.votes",
            (
                outcome.guild_id,
                model,
                int(won),
                int(lost),
                int(outcome.winner is None),
                outcome.votes[side],
            ),
        )
    await bump_rating_version(db, outcome.guild_id)


async def bump_rating_version(db: Executor, guild_id: int) -> None:
    await db.execute(
        "INSERT INTO rating_versions (guild_id, version) VALUES (?, 1)"
        " ON CONFLICT (guild_id) DO UPDATE SET version = rating_versions.version + 1",
        (guild_id,),
    )


def on_board(guild_id: int | None, table: str) -> tuple[str, tuple[Any, ...]]:
    """The condition for one server's rows of ``table`` (an alias), or (None) for the rows of
    every server on the global board; with the values it takes."""
    if guild_id is None:
        return ON_GLOBAL_BOARD, ()
    return f"{table}.guild_id = ?", (guild_id,)


class BoardQueries(SQLDatabase):
    """Mixed into SQLStore: a board's aggregates read back, and the version that moves with them."""

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
        where, values = on_board(guild_id, "p")
        rows = await self._fetch(
            "SELECT p.model_a, p.model_b, SUM(p.battles), SUM(p.score_a), SUM(p.score_sq)"
            f" FROM {_BOARD_TABLES[board].pairs} p"
            f" LEFT JOIN server_settings s ON s.guild_id = p.guild_id WHERE {where}"
            " GROUP BY p.model_a, p.model_b",
            values,
        )
        return [PairRecord(*row) for row in rows]

    async def model_records(
        self, guild_id: int | None, board: Board = Board.CROWD
    ) -> dict[str, ModelRecord]:
        where, values = on_board(guild_id, "m")
        rows = await self._fetch(
            "SELECT m.model, SUM(m.wins), SUM(m.losses), SUM(m.draws), SUM(m.battles),"
            f" SUM(m.votes) FROM {_BOARD_TABLES[board].models} m"
            f" LEFT JOIN server_settings s ON s.guild_id = m.guild_id WHERE {where}"
            " GROUP BY m.model",
            values,
        )
        return {row[0]: ModelRecord(*row[1:]) for row in rows}

"""The aggregates a leaderboard is fitted from, kept the same way for every board.

Each board (the crowd's, the judges') keeps, per server, one row per pair of models (battles, the
first model's summed score and summed squared score, for the robust intervals) and one row per
model (its record). They are added to in the transaction that rates a battle.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.engine.battle import Side

if TYPE_CHECKING:
    from bot.store.sql import Executor


@dataclass(frozen=True, slots=True)
class AggregateTables:
    """A board's two tables (names from this module, never from input)."""

    pairs: str
    models: str


CROWD_TABLES = AggregateTables("pair_stats", "model_stats")
JUDGES_TABLES = AggregateTables("judge_pair_stats", "judge_model_stats")


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

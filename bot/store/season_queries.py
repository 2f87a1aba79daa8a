"""Seasons in the store's shared SQL: a board's aggregates over the battles started in a window.

The aggregates (aggregates.py) are kept for all time; a season's are summed here from the closed
battles themselves, by start time (``created_at``, indexed per server and overall), with the rules
closing a vote applies: the crowd's board counts closed battles with votes between two different
models that were not marked unrated, each battle's score its vote share; the judges' board counts
battles whose verdict is stored with at least one judge picking, its score the share of the judges
who picked. Rows come grouped by the battles' own (model_a, model_b) and are turned into the
aggregates' name order here, in Python, as closing a vote does (Postgres may collate otherwise).

SQLStore inherits these, so they run on SQLite and PostgreSQL alike with ``?`` placeholders;
tests/fakes/memory_store.py keeps the same contract in memory.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bot.engine.leaderboard import Board, ModelRecord
from bot.engine.ratings import PairRecord
from bot.store.aggregates import on_board
from bot.store.base import SeasonRecords
from bot.store.executor import SQLDatabase
from bot.store.verdicts import VerdictState

_WITH_BALLOTS = ", ".join(f"'{state.value}'" for state in VerdictState if state.has_ballots)

# Each rated battle of a board as (model_a, model_b, picks for a, picks for b, created_at), for
# one server's (or the global board's) battles: ``{where}`` is on_board's condition over ``b``
# with the server's settings joined as ``s``.
_OUTCOMES = {
    Board.CROWD: (
        "SELECT b.model_a, b.model_b, b.votes_a AS picks_a, b.votes_b AS picks_b, b.created_at"
        " FROM battles b LEFT JOIN server_settings s ON s.guild_id = b.guild_id"
        " WHERE {where} AND b.created_at >= ? AND b.created_at < ? AND b.state = 'closed'"
        " AND b.votes_a + b.votes_b > 0 AND b.model_a <> b.model_b"
        " AND b.unrated_reason IS NULL"
    ),
    Board.JUDGES: (
        "SELECT model_a, model_b, picks_a, picks_b, created_at FROM ("
        "SELECT b.model_a, b.model_b, b.created_at,"
        " SUM(CASE WHEN j.side = 'a' THEN 1 ELSE 0 END) AS picks_a,"
        " SUM(CASE WHEN j.side = 'b' THEN 1 ELSE 0 END) AS picks_b"
        " FROM battles b JOIN verdicts v ON v.battle_id = b.id"
        " JOIN judge_ballots j ON j.battle_id = b.id"
        " LEFT JOIN server_settings s ON s.guild_id = b.guild_id"
        " WHERE {where} AND b.created_at >= ? AND b.created_at < ?"
        f" AND v.state IN ({_WITH_BALLOTS}) AND b.model_a <> b.model_b"
        " GROUP BY b.id, b.model_a, b.model_b, b.created_at"
        ") AS judged WHERE picks_a + picks_b > 0"
    ),
}
# A season's sums per (model_a, model_b) as the battles name them: battles, A's summed share and
# squared share, A's wins and B's wins, and the picks each side got.
_SUMS = (
    "SELECT model_a, model_b, COUNT(*),"
    " SUM(CAST(picks_a AS DOUBLE PRECISION) / (picks_a + picks_b)),"
    " SUM(CAST(picks_a * picks_a AS DOUBLE PRECISION)"
    " / ((picks_a + picks_b) * (picks_a + picks_b))),"
    " SUM(CASE WHEN picks_a > picks_b THEN 1 ELSE 0 END),"
    " SUM(CASE WHEN picks_a < picks_b THEN 1 ELSE 0 END),"
    " SUM(picks_a), SUM(picks_b)"
    " FROM ({outcomes}) AS outcomes GROUP BY model_a, model_b"
)


class SeasonQueries(SQLDatabase):
    """Mixed into SQLStore: boards over the battles started within a season."""

    async def season_records(
        self, guild_id: int | None, start: float, end: float, board: Board = Board.CROWD
    ) -> SeasonRecords:
        where, values = on_board(guild_id, "b")
        outcomes = _OUTCOMES[board].format(where=where)
        rows = await self._fetch(_SUMS.format(outcomes=outcomes), (*values, start, end))
        return season_records_of(rows)

    async def first_rated_start(
        self, guild_id: int | None, since: float, board: Board = Board.CROWD
    ) -> float | None:
        where, values = on_board(guild_id, "b")
        outcomes = _OUTCOMES[board].format(where=where)
        rows = await self._fetch(
            f"SELECT created_at FROM ({outcomes}) AS outcomes ORDER BY created_at LIMIT 1",
            (*values, since, float("inf")),
        )
        return float(rows[0][0]) if rows else None


def season_records_of(rows: Iterable[tuple[Any, ...]]) -> SeasonRecords:
    """Sums per (model_a, model_b) as _SUMS reads them, in the aggregates' shape: each pair once,
    named in order, and each model's record."""
    pairs: dict[tuple[str, str], list[float]] = {}
    models: dict[str, list[int]] = {}
    for model_a, model_b, battles, score, score_sq, wins_a, wins_b, picks_a, picks_b in rows:
        n, score, score_sq = float(battles), float(score), float(score_sq)
        if model_b < model_a:
            # B's score is 1 - A's: summed, n - score; squared, n - 2 score + score_sq.
            model_a, model_b = model_b, model_a
            score, score_sq = n - score, n - 2 * score + score_sq
            wins_a, wins_b, picks_a, picks_b = wins_b, wins_a, picks_b, picks_a
        total = pairs.setdefault((model_a, model_b), [0.0, 0.0, 0.0])
        for index, value in enumerate((n, score, score_sq)):
            total[index] += value
        draws = int(battles) - int(wins_a) - int(wins_b)
        for model, won, lost, picks in (
            (model_a, wins_a, wins_b, picks_a),
            (model_b, wins_b, wins_a, picks_b),
        ):
            record = models.setdefault(model, [0, 0, 0, 0, 0])
            for index, value in enumerate((won, lost, draws, battles, picks)):
                record[index] += int(value)
    return SeasonRecords(
        [PairRecord(a, b, n, score, sq) for (a, b), (n, score, sq) in sorted(pairs.items())],
        {model: ModelRecord(*record) for model, record in sorted(models.items())},
    )

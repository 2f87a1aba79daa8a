"""``rapbattle copy-db``: copying a whole store to another (typically SQLite to PostgreSQL), then
checking the copy: row counts per table, and every leaderboard through the standings service."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from bot.engine.leaderboard import Standing
from bot.engine.ratings import Rating
from bot.services.battles.standings import StandingsService
from bot.store import open_store
from bot.store.copy_queries import COPIED_TABLES
from bot.store.sql import SQLStore

# Sums over several servers may add in another order on another database.
_RATING_TOLERANCE = 1e-9

Board = list[Standing]


@dataclass(frozen=True, slots=True)
class CopyReport:
    counts: dict[str, tuple[int, int]]  # table: (source rows, destination rows)
    boards: dict[str, bool]  # "global" or "server <id>": the same leaderboard on both

    @property
    def ok(self) -> bool:
        return all(a == b for a, b in self.counts.values()) and all(self.boards.values())

    def lines(self) -> list[str]:
        rows = [f"{'table':<16}{'source':>8}{'copy':>8}"]
        rows += [
            f"{table:<16}{a:>8}{b:>8}{'' if a == b else '  MISMATCH'}"
            for table, (a, b) in self.counts.items()
        ]
        same = sum(self.boards.values())
        rows.append(f"leaderboards: {same} of {len(self.boards)} the same (global and per server)")
        rows += [f"  {scope}: MISMATCH" for scope, equal in self.boards.items() if not equal]
        rows.append("Copy verified." if self.ok else "The copy differs from the source.")
        return rows


async def copy_database(source_url: str, destination_url: str) -> CopyReport:
    """Opens (and migrates) both stores, copies, verifies; raises DestinationNotEmpty."""
    source = await open_store(source_url)
    try:
        destination = await open_store(destination_url)
        try:
            return await copy_store(source, destination)
        finally:
            await destination.close()
    finally:
        await source.close()


async def copy_store(source: SQLStore, destination: SQLStore) -> CopyReport:
    """Copies every row, battle ids kept, in one transaction on the (empty) destination."""
    await destination.load_rows({table: await source.table_rows(table) for table in COPIED_TABLES})
    return await verify_copy(source, destination)


async def verify_copy(source: SQLStore, destination: SQLStore) -> CopyReport:
    """Row counts per table, and the leaderboards (global and each server's), on both sides."""
    counts_a, counts_b = await source.row_counts(), await destination.row_counts()
    scopes: list[int | None] = [
        None,
        *sorted(await _rated_guilds(source) | await _rated_guilds(destination)),
    ]
    boards = {
        "global" if guild is None else f"server {guild}": _same_board(
            await _board(source, guild), await _board(destination, guild)
        )
        for guild in scopes
    }
    return CopyReport({table: (counts_a[table], counts_b[table]) for table in counts_a}, boards)


async def _rated_guilds(store: SQLStore) -> set[int]:
    guilds: set[int] = set()
    for table in ("pair_stats", "model_stats"):
        column = COPIED_TABLES[table][0].index("guild_id")
        guilds.update(row[column] for row in await store.table_rows(table))
    return guilds


async def _board(store: SQLStore, guild: int | None) -> Board:
    return await StandingsService(store).standings(guild)


def _same_board(a: Board, b: Board) -> bool:
    # Sums over several servers may add in another order: ratings agree within a tolerance.
    listed_a = [(row.model, row.rank, row.record) for row in a]
    listed_b = [(row.model, row.rank, row.record) for row in b]
    return listed_a == listed_b and all(
        _same_rating(x.rating, y.rating) for x, y in zip(a, b, strict=True)
    )


def _same_rating(a: Rating, b: Rating) -> bool:
    return all(
        math.isclose(
            getattr(a, field.name),
            getattr(b, field.name),
            rel_tol=_RATING_TOLERANCE,
            abs_tol=_RATING_TOLERANCE,
        )
        for field in fields(Rating)
    )

"""What the pages show, read from the store and cached until the ratings move.

Boards come from the standings service (which fits once per ratings version); the rest (pair
tables for the matrices, last-battle dates, head-to-head records) is cached here under the same
ratings version, so a page served twice between two votes costs two version reads.

Rating over time reads ``rating_snapshots``, a cache of fitted global ratings, one row per model
and day. Refitting the history on every request would cost a scan of every battle and a fit per
point (seconds at a million battles); instead the history is written as it happens: whenever the
global board is refitted, today's row is updated (at most every ``SNAPSHOT_SECONDS``). Days when
no web server ran are filled in at start by ``fill_history``: for up to ``HISTORY_POINTS``
cut-offs, the battles closed before each are summed by pair (in short slices of ids, so that the
bot's own queries are never held up for long) and fitted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bot.engine.leaderboard import Board, Standing
from bot.engine.ratings import PairRecord
from bot.engine.seasons import Season, SeasonLength, season_length
from bot.engine.server_settings import SEASON
from bot.engine.verdicts import Decision, VerdictFile
from bot.services.battles.standings import StandingsService
from bot.store import HeadToHead, Store, WebStore
from bot.web.charts import HistoryPoint

log = logging.getLogger(__name__)

SECONDS_PER_DAY = 86_400
SNAPSHOT_SECONDS = 15 * 60
HISTORY_POINTS = 12
# Battles read per query while filling in the history: on SQLite's one connection, each query
# holds up the bot's own writes, so none may take long.
HISTORY_SLICE = 50_000
CACHE_SIZE = 512
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Verdict:
    """The judges' verdict on a battle, as the tournament's verdict file holds it."""

    score: Mapping[str, int]  # judges per contestant; a contestant no judge chose is absent
    closing_statements: Mapping[str, str]  # judge id -> statement
    yaml: str  # the verdict file itself

    def as_json(self) -> dict[str, Any]:
        return {
            "score": dict(self.score),
            "closing_statements": dict(self.closing_statements),
        }


async def battle_verdict(store: Store, battle_id: int) -> Verdict | None:
    """The judges' verdict on a battle, or None. The one place pages and open data get it from:
    a battle has one once its vote closed and its judges' ballots were stored, and at least one
    judge picked a side (when every judge abstained there is no verdict)."""
    stored = await store.stored_verdict(battle_id)
    if stored is None or stored.decision is Decision.NONE:
        return None
    file = VerdictFile.of(stored)
    return Verdict(file.score, file.closing_statements, file.to_yaml())


@dataclass(frozen=True, slots=True)
class BoardView:
    board: Board
    scope: int | None
    version: int
    rows: list[Standing]
    last_battle: Mapping[str, float] = field(default_factory=dict)  # global boards only
    season: Season | None = None  # None: all time

    def standing(self, model: str) -> Standing | None:
        return next((row for row in self.rows if row.model == model), None)


class VersionedCache:
    """Values computed for a ratings version, kept (least recently used first out) until the
    version moves.

    With ``stale_ok`` a value from an older version is returned at once while one background
    task recomputes it: after a vote, readers of a board never wait for its refit. Only numbers
    that hold no private detail may be served stale; what a server's privacy decides is not.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._values: OrderedDict[tuple[Any, ...], tuple[int, Any]] = OrderedDict()
        self._refreshing: dict[tuple[Any, ...], asyncio.Task[None]] = {}

    async def get(
        self,
        key: tuple[Any, ...],
        version: int,
        compute: Callable[[], Awaitable[T]],
        stale_ok: bool = False,
    ) -> T:
        hit = self._values.get(key)
        if hit is not None and (hit[0] == version or stale_ok):
            self._values.move_to_end(key)
            if hit[0] != version and key not in self._refreshing:
                self._refreshing[key] = asyncio.create_task(self._refresh(key, version, compute))
            return hit[1]
        value = await compute()
        self._put(key, version, value)
        return value

    async def _refresh(
        self, key: tuple[Any, ...], version: int, compute: Callable[[], Awaitable[Any]]
    ) -> None:
        try:
            self._put(key, version, await compute())
        except Exception:
            log.exception("Refreshing %s failed; the older value stays", key)
        finally:
            self._refreshing.pop(key, None)

    def _put(self, key: tuple[Any, ...], version: int, value: Any) -> None:
        hit = self._values.get(key)
        if hit is not None and hit[0] > version:
            return  # a newer value got here first
        self._values[key] = (version, value)
        self._values.move_to_end(key)
        while len(self._values) > self._size:
            self._values.popitem(last=False)

    async def settle(self) -> None:
        """Waits for the background refreshes running now."""
        while self._refreshing:
            await asyncio.gather(*self._refreshing.values(), return_exceptions=True)

    async def close(self) -> None:
        for task in self._refreshing.values():
            task.cancel()
        await asyncio.gather(*self._refreshing.values(), return_exceptions=True)
        self._refreshing.clear()


class ArenaData:
    """The store and standings as the web pages need them, cached by ratings version."""

    def __init__(
        self,
        store: WebStore,
        standings: StandingsService,
        clock: Callable[[], float] = time.time,
        cache_size: int = CACHE_SIZE,
    ) -> None:
        self.store = store
        self._standings = standings
        self._clock = clock
        self.cache = VersionedCache(cache_size)
        self._snapshot_written: dict[Board, float] = {}
        self.history_filled = asyncio.Event()

    async def version(self, scope: int | None) -> int:
        return await self.store.ratings_version(scope)

    async def board(
        self, board: Board, scope: int | None, season: Season | None = None
    ) -> BoardView:
        """A board of all time, or of one season (fitted from its battles only)."""
        version = await self.version(scope)

        async def compute() -> BoardView:
            rows = await self._standings.standings(scope, board, season)
            if scope is not None:
                return BoardView(board, scope, version, rows, season=season)
            if season is None:
                await self._snapshot(board, rows)  # the history is of the all-time board
            dates = await self.store.last_battle_dates() if board is Board.CROWD else {}
            return BoardView(board, scope, version, rows, dates, season)

        key = ("board", board, scope, season)
        return await self.cache.get(key, version, compute, stale_ok=True)

    async def pairs(
        self, board: Board, scope: int | None, season: Season | None = None
    ) -> list[PairRecord]:
        version = await self.version(scope)

        async def compute() -> list[PairRecord]:
            if season is None:
                return await self.store.pair_records(scope, board)
            found = await self.store.season_records(scope, season.start, season.end, board)
            return found.pairs

        key = ("pairs", board, scope, season)
        return await self.cache.get(key, version, compute, stale_ok=True)

    async def season_length(self, scope: int | None) -> SeasonLength | None:
        """How long a board's seasons are: the global board's are months, a server's as its
        ``season`` setting says (None: off)."""
        if scope is None:
            return SeasonLength.MONTH
        return season_length((await self.store.server_settings(scope)).chosen(SEASON))

    async def seasons(self, board: Board, scope: int | None) -> list[Season]:
        """The seasons in which a board has rated battles, newest first."""
        length = await self.season_length(scope)
        if length is None:
            return []
        return await self._standings.seasons(scope, board, length)

    def now(self) -> float:
        return self._clock()

    async def head_to_head(self, model: str) -> list[HeadToHead]:
        version = await self.version(None)
        return await self.cache.get(
            ("head_to_head", model), version, lambda: self.store.head_to_head(model)
        )

    async def history(self, model: str, board: Board) -> list[HistoryPoint]:
        """A model's daily global ratings, today's from the live board."""
        points = {
            s.day: HistoryPoint(s.day, s.rating, s.low, s.high)
            for s in await self.store.rating_snapshots(board.value, model)
        }
        current = (await self.board(board, None)).standing(model)
        if current is not None:
            today = self._today()
            rating = current.rating
            points[today] = HistoryPoint(today, rating.rating, rating.low, rating.high)
        return [points[day] for day in sorted(points)]

    def _today(self) -> int:
        return int(self._clock() // SECONDS_PER_DAY)

    async def _snapshot(self, board: Board, rows: Sequence[Standing]) -> None:
        """Today's row of the rating history, refreshed at most every SNAPSHOT_SECONDS, once
        the history before today has been filled in."""
        now = self._clock()
        if not rows or not self.history_filled.is_set():
            return
        if now - self._snapshot_written.get(board, float("-inf")) < SNAPSHOT_SECONDS:
            return
        self._snapshot_written[board] = now
        await self.store.save_rating_snapshot(
            board.value, self._today(), {row.model: row.rating for row in rows}
        )

    async def fill_history(self) -> None:
        """Fits the crowd's global ratings at up to HISTORY_POINTS days before today that have
        no snapshot yet (all of history on first start), and stores them."""
        try:
            await self._fill_history()
        finally:
            self.history_filled.set()

    async def _fill_history(self) -> None:
        span = await self.store.rated_span()
        if span is None:
            return
        first_day = int(span[0] // SECONDS_PER_DAY)
        last_day = min(int(span[1] // SECONDS_PER_DAY), self._today() - 1)
        latest = await self.store.latest_snapshot_day(Board.CROWD.value)
        start = first_day if latest is None else max(first_day, latest + 1)
        if start > last_day:
            return
        days = _spread(start, last_day, HISTORY_POINTS)
        started = time.monotonic()
        first_id, last_id = await self.store.battle_id_bounds()
        # Running totals per pair; each period's battles are read in slices of ids.
        totals: dict[tuple[str, str], tuple[float, float]] = {}
        closed_after = -1.0  # before any closing time
        for day in days:
            cutoff = float((day + 1) * SECONDS_PER_DAY)
            for id_after in range(first_id - 1, last_id, HISTORY_SLICE):
                slice_pairs = await self.store.rated_pairs_between(
                    closed_after, cutoff, id_after, id_after + HISTORY_SLICE
                )
                for pair in slice_pairs:
                    key = (pair.model_a, pair.model_b)
                    battles, score = totals.get(key, (0.0, 0.0))
                    totals[key] = (battles + pair.battles, score + pair.score_a)
            closed_after = cutoff
            records = [PairRecord(a, b, n, s) for (a, b), (n, s) in totals.items()]
            ratings = await self._standings.fit(records)  # on one BLAS thread
            await self.store.save_rating_snapshot(Board.CROWD.value, day, ratings)
        log.info(
            "Rating history filled in for %d days in %.1f s", len(days), time.monotonic() - started
        )


def _spread(first: int, last: int, count: int) -> list[int]:
    """Up to ``count`` distinct days from first to last, evenly spread, both ends included."""
    if last - first + 1 <= count:
        return list(range(first, last + 1))
    step = (last - first) / (count - 1)
    return sorted({first + round(step * k) for k in range(count)})

"""The standings service: fitted leaderboards per scope and board, cached until votes move them.

Used by the cogs, the results message, ``copy-db`` and the web pages, so that one process never
fits the same board twice and a slow fit never stalls the event loop.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence

from threadpoolctl import ThreadpoolController

from bot.engine.leaderboard import Board, Standing, standings
from bot.engine.ratings import PairRecord, Rating, fit_pairs
from bot.engine.seasons import Season, SeasonLength
from bot.store import Store

# Fitted leaderboards kept in memory: one per (scope, board, season), a scope being a server or
# global, and a season None for all time.
STANDINGS_CACHE_SIZE = 1024

Scope = int | None  # a guild id, or None for the global board


class StandingsService:
    """Leaderboards from the store's aggregates, refitted only when the store says they moved.

    A season's board (``season``) is fitted from that season's battles only, summed by the store
    over the battles started within it, and cached the same way."""

    def __init__(self, store: Store, cache_size: int = STANDINGS_CACHE_SIZE) -> None:
        self._store = store
        self._cache_size = cache_size
        self._cache: OrderedDict[tuple[Scope, Board, Season | None], tuple[int, list[Standing]]]
        self._cache = OrderedDict()
        self._refit_locks: dict[tuple[Scope, Board, Season | None], asyncio.Lock] = {}
        self._seasons: dict[tuple[Scope, Board, SeasonLength], tuple[int, list[Season]]] = {}
        # The BLAS libraries numpy loaded (with the engine), to limit their threads in a fit.
        self._blas = ThreadpoolController()

    async def standings(
        self, guild_id: Scope, board: Board = Board.CROWD, season: Season | None = None
    ) -> list[Standing]:
        """The leaderboard of one server, or (None) the global one; of one season, or (None)
        of all time.

        A fit is reused until the store's ratings version for that scope moves, which also
        catches votes closed by other processes sharing the database.
        """
        key = (guild_id, board, season)
        version = await self._store.ratings_version(guild_id)
        cached = self._cache.get(key)
        if cached is not None and cached[0] == version:
            self._cache.move_to_end(key)
            return cached[1]
        # One refit per scope at a time: requests arriving meanwhile wait and share it.
        async with self._refit_locks.setdefault(key, asyncio.Lock()):
            cached = self._cache.get(key)
            if cached is not None and cached[0] >= version:
                return cached[1]
            if season is None:
                pairs = await self._store.pair_records(guild_id, board)
                records = await self._store.model_records(guild_id, board)
            else:
                found = await self._store.season_records(guild_id, season.start, season.end, board)
                pairs, records = found.pairs, found.models
            ratings = await self.fit(pairs)
            rows = standings(ratings, records)
            self._cache[key] = (version, rows)
            self._cache.move_to_end(key)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
            return rows

    async def fit(self, pairs: Sequence[PairRecord]) -> dict[str, Rating]:
        """The ratings of ``pairs``. A large fit takes tens of milliseconds: off the event loop,
        battles keep time."""
        return await asyncio.to_thread(self._fit, pairs)

    def _fit(self, pairs: Sequence[PairRecord]) -> dict[str, Rating]:
        # On one BLAS thread: with a thread per core, BLAS's threads spun against the event
        # loop's and each other, and the first fit was several times slower
        # (benchmarks/fit_threads.py). The limit is the process's while it lasts.
        with self._blas.limit(limits=1, user_api="blas"):
            return fit_pairs(pairs)

    async def seasons(self, guild_id: Scope, board: Board, length: SeasonLength) -> list[Season]:
        """The seasons in which a board has rated battles, newest first: one read per season
        found (each jumps to the next season's first rated battle)."""
        key = (guild_id, board, length)
        version = await self._store.ratings_version(guild_id)
        cached = self._seasons.get(key)
        if cached is not None and cached[0] == version:
            return cached[1]
        found: list[Season] = []
        since = float("-inf")
        while (start := await self._store.first_rated_start(guild_id, since, board)) is not None:
            found.append(Season.of(start, length))
            since = found[-1].end
        found.reverse()
        if len(self._seasons) >= self._cache_size:
            self._seasons.clear()
        self._seasons[key] = (version, found)
        return found

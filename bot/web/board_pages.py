"""The boards: the front page (the global boards), a public server's page (its own boards and
battles) and the charts drawn from a board, as SVG or as their data in JSON."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot.engine.leaderboard import Board
from bot.engine.seasons import Season
from bot.web import charts, params
from bot.web.battle_pages import battle_summary
from bot.web.data import ArenaData, BoardView, VersionedCache
from bot.web.responses import html_page

SERVER_BATTLES = 50
MATRIX_MODELS = 20  # the matrices on a page show the top models, as Arena's do
MAX_CHART_MODELS = 1000
CHARTS = ("ratings", "winrate", "battles", "average", "history")


class BoardPages:
    """``/``, ``/servers/{guild id}`` and ``/charts/{chart}.svg|json``."""

    def __init__(
        self,
        data: ArenaData,
        render: Callable[..., str],
        page_cache: VersionedCache,
        chart_cache: VersionedCache,
    ) -> None:
        self.data = data
        self.render = render
        self.page_cache = page_cache
        self.chart_cache = chart_cache

    async def index(self, request: web.Request) -> web.Response:
        season = await self._season(request, None)
        version = await self.data.version(None)
        # The front page holds only numbers from the boards: it may be a vote behind.
        html = await self.page_cache.get(
            ("index", season), version, lambda: self._render_index(season), stale_ok=True
        )
        return html_page(html)

    async def _render_index(self, season: Season | None) -> str:
        crowd = await self.data.board(Board.CROWD, None, season)
        judges = await self.data.board(Board.JUDGES, None, season)
        return self.render(
            "index.html",
            title="Leaderboard" if season is None else f"Leaderboard · season {season}",
            boards=[crowd, judges],
            charts=await self._board_charts(crowd, MATRIX_MODELS),
            chart_query="",
            **await self._seasons(None, season),
        )

    async def server_page(self, request: web.Request) -> web.Response:
        guild_id = await params.public_guild(self.data.store, request.match_info["guild_id"])
        season = await self._season(request, guild_id)
        version = await self.data.version(guild_id)
        html = await self.page_cache.get(
            ("server", guild_id, season), version, lambda: self._render_server(guild_id, season)
        )
        return html_page(html)

    async def _render_server(self, guild_id: int, season: Season | None) -> str:
        crowd = await self.data.board(Board.CROWD, guild_id, season)
        judges = await self.data.board(Board.JUDGES, guild_id, season)
        battles = await self.data.store.public_battles_of_server(guild_id, SERVER_BATTLES)
        # Its name, kept since it opted in (its id until then).
        name = await self.data.store.server_name(guild_id) or f"Server {guild_id}"
        return self.render(
            "server.html",
            title=name if season is None else f"{name} · {season}",
            guild_id=guild_id,
            server_name=name,
            boards=[crowd, judges],
            charts=await self._board_charts(crowd, MATRIX_MODELS),
            battles=[battle_summary(b) for b in battles],
            **await self._seasons(guild_id, season),
        )

    async def _season(self, request: web.Request, scope: int | None) -> Season | None:
        """The season a board is asked for, as its scope's seasons go (400 for a bad name)."""
        return params.season(request, await self.data.season_length(scope), self.data.now())

    async def _seasons(self, scope: int | None, season: Season | None) -> dict[str, Any]:
        """What a page says about seasons: the one shown (None: all time), and every season
        the crowd's board has, newest first, for links."""
        return {"season": season, "seasons": await self.data.seasons(Board.CROWD, scope)}

    async def _board_charts(self, view: BoardView, top: int) -> list[dict[str, Any]]:
        pairs = await self.data.pairs(view.board, view.scope, view.season)
        models = [row.model for row in view.rows[:top]]
        scope = "global" if view.scope is None else str(view.scope)
        query = f"?board={view.board.value}&scope={scope}"
        if view.season is not None:
            query += f"&season={view.season}"
        return [
            {
                "title": "Ratings with 95% intervals",
                "chart": charts.ratings_chart(view.rows),
                "name": "ratings",
                "query": query,
            },
            {
                "title": f"Win rate of the row model against the column model (top {len(models)})",
                "chart": charts.winrate_chart(models, pairs),
                "name": "winrate",
                "query": query + f"&top={top}",
            },
            {
                "title": f"Battles between each pair of models (top {len(models)})",
                "chart": charts.battle_count_chart(models, pairs),
                "name": "battles",
                "query": query + f"&top={top}",
            },
            {
                "title": "Average win rate against all other models",
                "chart": charts.average_winrate_chart(view.rows),
                "name": "average",
                "query": query,
            },
        ]

    # -- charts --------------------------------------------------------------------------------

    async def chart_svg(self, request: web.Request) -> web.Response:
        svg, _ = await self._chart(request)
        return web.Response(text=svg, content_type="image/svg+xml", charset="utf-8")

    async def chart_json(self, request: web.Request) -> web.Response:
        _, data = await self._chart(request)
        return web.Response(text=data, content_type="application/json", charset="utf-8")

    async def _chart(self, request: web.Request) -> tuple[str, str]:
        """A chart's SVG and its data as JSON text."""
        name = request.match_info["chart"]
        if name not in CHARTS:
            raise web.HTTPNotFound(text=f"There is no chart called {name}.")
        board = params.board(request)
        if name == "history":
            model = request.query.get("model", "")
            view = await self.data.board(board, None)
            if view.standing(model) is None:
                raise web.HTTPNotFound(text="No such model on that board.")
            return _drawn(charts.history_chart(model, await self.data.history(model, board)))
        scope = await params.scope(self.data.store, request)
        season = await self._season(request, scope)
        top = params.number(request, "top", MATRIX_MODELS, 1, MAX_CHART_MODELS)
        version = await self.data.version(scope)

        async def draw() -> tuple[str, str]:
            view = await self.data.board(board, scope, season)
            if name == "ratings":
                return _drawn(charts.ratings_chart(view.rows))
            if name == "average":
                return _drawn(charts.average_winrate_chart(view.rows))
            models = [row.model for row in view.rows[:top]]
            pairs = await self.data.pairs(board, scope, season)
            # 300 models make 90,000 cells: drawn off the event loop.
            matrix = charts.winrate_chart if name == "winrate" else charts.battle_count_chart
            return await asyncio.to_thread(lambda: _drawn(matrix(models, pairs)))

        # Numbers only, so a chart may be a vote behind while it is redrawn.
        key = (name, board, scope, top if name in ("winrate", "battles") else None, season)
        return await self.chart_cache.get(key, version, draw, stale_ok=True)


def _drawn(chart: charts.Chart) -> tuple[str, str]:
    return chart.svg, json.dumps(chart.data, ensure_ascii=False)

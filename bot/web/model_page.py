"""A model's page: its standing on both global boards, its record against each opponent beside
the share its rating expects, its rating over time and its latest public battles."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from aiohttp import web

from bot.engine.leaderboard import Board
from bot.web import charts
from bot.web.battle_pages import battle_summary
from bot.web.data import ArenaData, VersionedCache
from bot.web.responses import html_page

RECENT_BATTLES = 20


class ModelPage:
    """``/models/{model id}`` (the id keeps its slash)."""

    def __init__(
        self, data: ArenaData, render: Callable[..., str], page_cache: VersionedCache
    ) -> None:
        self.data = data
        self.render = render
        self.page_cache = page_cache

    async def model_page(self, request: web.Request) -> web.Response:
        model = request.match_info["model"]
        version = await self.data.version(None)
        # Not stale: it lists battles, which a server going private must take off at once.
        html = await self.page_cache.get(
            ("model", model), version, lambda: self._render_model(model)
        )
        return html_page(html)

    async def _render_model(self, model: str) -> str:
        crowd = await self.data.board(Board.CROWD, None)
        judges = await self.data.board(Board.JUDGES, None)
        standings = {view.board: view.standing(model) for view in (crowd, judges)}
        if not any(standings.values()):
            raise web.HTTPNotFound(text=f"No model called {model} is on the global boards.")
        ratings = {row.model: row.rating.rating for row in crowd.rows}
        own = ratings.get(model)
        opponents = [
            {
                "record": record,
                "share": record.score / record.battles if record.battles else None,
                "expected": None
                if own is None or record.opponent not in ratings
                else 1 / (1 + 10 ** ((ratings[record.opponent] - own) / 400)),
            }
            for record in await self.data.head_to_head(model)
        ]
        history = await self.data.history(model, Board.CROWD)
        battles = await self.data.store.public_closed_battles_of_model(model, RECENT_BATTLES)
        return self.render(
            "model.html",
            title=model,
            model=model,
            vendor=model.partition("/")[0] if "/" in model else None,
            standings=[(board, standing) for board, standing in standings.items()],
            last_battle=crowd.last_battle.get(model),
            opponents=opponents,
            history=charts.history_chart(model, history),
            history_query="?" + urlencode({"model": model}),
            battles=[battle_summary(b) for b in battles],
        )

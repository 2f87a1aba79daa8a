"""The web arena: a read-only aiohttp site over the store, rendered on the server.

Routes (tested from outside, keep them): ``/``, ``/models/{model id}`` (the id keeps its slash),
``/battles/{id}`` (+ ``.md``, ``.yml``, ``.ogg``), ``/servers/{guild id}``, ``/tournaments/{id}``,
``/avatars/{model}.png``, ``/charts/{chart}.svg|json``, ``/api/leaderboard.json``,
``/api/battles.jsonl``, ``/api/models.json``, ``/healthz`` and ``/metrics`` (Prometheus).

This module makes the app: its routes, its security headers and its error pages, over an
``ArenaSite`` that holds the templates, the caches and the track desk (battles' audio tracks).
Each group of pages has a module of its own: ``board_pages``, ``model_page``, ``battle_pages``,
``tournament_page`` and ``api``.

Privacy: nothing names a server, channel or user unless the server made its page public, and even
then no channel or user is shown. Private servers' battles count on the global board as numbers
only; the store's ``_VISIBLE`` rule decides which battles a page may show.
"""

from __future__ import annotations

import datetime
import logging
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from markupsafe import Markup

from bot.engine.leaderboard import Standing
from bot.ops.metrics import Metrics
from bot.services import links
from bot.services.tracks.desk import TrackDesk
from bot.web import charts
from bot.web.api import OpenData
from bot.web.avatars import avatar_png
from bot.web.battle_pages import BattlePages
from bot.web.board_pages import BoardPages
from bot.web.data import ArenaData, VersionedCache
from bot.web.model_page import ModelPage
from bot.web.responses import json_document
from bot.web.tournament_page import TournamentPage

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
MAX_MODEL_CHARS = 200
AVATAR_CACHE = 1024
PAGE_CACHE = 256
CHART_CACHE = 16
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "media-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}

Handler = Callable[[web.Request], Any]


def create_app(site: ArenaSite, metrics: Metrics | None = None) -> web.Application:
    """The site's routes; with ``metrics``, also ``/metrics`` and a count of every answer."""
    app = web.Application(middlewares=[_error_pages(site)])
    if metrics is not None:
        app.middlewares.append(metrics.count_web_requests)
        app.router.add_get("/metrics", metrics.page)
    app.on_response_prepare.append(_add_security_headers)
    routes = app.router
    routes.add_get("/", site.boards.index)
    routes.add_get("/healthz", site.health)
    routes.add_get(r"/models/{model:.+}", site.models.model_page)
    routes.add_get(r"/battles/{battle_id:\d+}", site.battles.battle_page)
    routes.add_get(r"/battles/{battle_id:\d+}.md", site.battles.battle_markdown)
    routes.add_get(r"/battles/{battle_id:\d+}.yml", site.battles.battle_verdict_file)
    routes.add_get(r"/battles/{battle_id:\d+}.ogg", site.battles.battle_track)
    routes.add_get(r"/servers/{guild_id:\d+}", site.boards.server_page)
    routes.add_get(r"/tournaments/{tournament_id}", site.tournaments.tournament_page)
    routes.add_get(r"/avatars/{model:.+}.png", site.avatar)
    routes.add_get(r"/charts/{chart:[a-z]+}.svg", site.boards.chart_svg)
    routes.add_get(r"/charts/{chart:[a-z]+}.json", site.boards.chart_json)
    routes.add_get("/api/leaderboard.json", site.api.leaderboard_json)
    routes.add_get("/api/battles.jsonl", site.api.battles_jsonl)
    routes.add_get("/api/models.json", site.api.models_json)
    routes.add_static("/static", HERE / "static", append_version=False)
    return app


class ArenaSite:
    """The request handlers, over the arena's data: the templates and caches they share, the
    health check and the avatars, and a group of handlers for each kind of page. ``tracks``
    makes battles' audio tracks; its owner (the web server, or the bot) closes it."""

    def __init__(self, data: ArenaData, tracks: TrackDesk) -> None:
        self.data = data
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,  # every value is text unless marked otherwise
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters.update(
            date=_date, model_url=links.model_path, avatar_url=links.avatar_path
        )
        self.templates.globals.update(
            battle_url=links.battle_path,
            server_url=links.server_path,
            plus_minus=_plus_minus,
            chart_svg=_chart_markup,
        )
        self._avatars: OrderedDict[str, bytes] = OrderedDict()
        self.pages = VersionedCache(PAGE_CACHE)
        # Few entries: a 300-model matrix is several megabytes.
        self.charts = VersionedCache(CHART_CACHE)
        self.boards = BoardPages(data, self.render, self.pages, self.charts)
        self.models = ModelPage(data, self.render, self.pages)
        self.battles = BattlePages(data, self.render, tracks)
        self.tournaments = TournamentPage(data, self.render)
        self.api = OpenData(data)

    async def health(self, request: web.Request) -> web.Response:
        try:
            version = await self.data.store.schema_version()
        except Exception:
            log.exception("Health check: the database did not answer")
            return web.json_response({"status": "database unavailable"}, status=503)
        history = "ready" if self.data.history_filled.is_set() else "filling"
        return web.json_response({"status": "ok", "schema": version, "history": history})

    async def avatar(self, request: web.Request) -> web.Response:
        model = request.match_info["model"]
        if not model or len(model) > MAX_MODEL_CHARS:
            raise web.HTTPNotFound(text="No avatar for that name.")
        png = self._avatars.get(model)
        if png is None:
            png = avatar_png(model)
            self._avatars[model] = png
            while len(self._avatars) > AVATAR_CACHE:
                self._avatars.popitem(last=False)
        return web.Response(
            body=png,
            content_type="image/png",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    async def settle(self) -> None:
        """Waits for the background redraws running now (tests, shutdown)."""
        for cache in (self.data.cache, self.pages, self.charts):
            await cache.settle()

    async def close(self) -> None:
        for cache in (self.data.cache, self.pages, self.charts):
            await cache.close()

    def render(self, template: str, **context: Any) -> str:
        return self.templates.get_template(template).render(**context)


# -- middleware ---------------------------------------------------------------------------------


def _error_pages(site: ArenaSite) -> Any:
    """Every error becomes a plain page (or a JSON object under /api/): never a traceback."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as error:
            if error.status < 400:
                raise
            status, message = error.status, _message(error)
        except Exception:
            log.exception("The web page %s failed", request.path)
            status, message = 500, "Something went wrong on our side. It has been logged."
        if request.path.startswith(("/api/", "/charts/")):
            return json_document({"error": message}, status=status)
        html = site.render("error.html", title=f"{status}", status=status, message=message)
        return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")

    return middleware


def _message(error: web.HTTPException) -> str:
    if error.status == 404 and error.text in (None, "", "404: Not Found"):
        return "There is no page here."
    if error.status == 405:
        return "This site only answers GET requests."
    text = error.text or error.reason
    return text if not text.startswith(f"{error.status}: ") else error.reason


async def _add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(SECURITY_HEADERS)


# -- template helpers ---------------------------------------------------------------------------


def _chart_markup(chart: charts.Chart) -> Markup:
    """The one markup a template inserts unescaped: a chart's SVG, which charts.py builds with
    every piece of text escaped."""
    if not isinstance(chart, charts.Chart):
        raise TypeError(f"chart_svg takes a Chart, not {type(chart).__name__}")
    return Markup(chart.svg)


def _plus_minus(standing: Standing) -> str:
    rating = standing.rating
    return f"+{rating.high - rating.rating:.0f}/−{rating.rating - rating.low:.0f}"


def _date(timestamp: float | None) -> str:
    if timestamp is None:
        return "—"
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).date().isoformat()

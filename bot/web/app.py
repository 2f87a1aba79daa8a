"""The web arena: a read-only aiohttp site over the store, rendered on the server.

Routes (tested from outside, keep them): ``/``, ``/models/{model id}`` (the id keeps its slash),
``/battles/{id}`` (+ ``.md``, ``.yml``), ``/servers/{guild id}``, ``/tournaments/{id}``,
``/avatars/{model}.png``, ``/charts/{chart}.svg|json``, ``/api/leaderboard.json``,
``/api/battles.jsonl``, ``/api/models.json`` and ``/healthz``.

Privacy: nothing names a server, channel or user unless the server made its page public, and even
then no channel or user is shown. Private servers' battles count on the global board as numbers
only; the store's ``_VISIBLE`` rule decides which battles a page may show.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from aiohttp import web
from markupsafe import Markup

from bot.engine.battle import SYSTEM_SPEAKER, Battle, Side
from bot.engine.leaderboard import Board, Standing
from bot.engine.tournament import TableRow, TournamentFormat, swiss_table, tier_list
from bot.engine.transcript import transcript_of
from bot.services import links
from bot.services.tournaments.sessions import planned_rounds, swiss_history
from bot.store.base import BattleState
from bot.store.tournaments import StoredTournament
from bot.store.web_queries import WebBattle
from bot.web import charts
from bot.web.avatars import avatar_png
from bot.web.data import ArenaData, BoardView, VersionedCache, battle_verdict

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
MAX_ID = 2**63 - 1  # the databases' BIGINT; a longer number names nothing
MAX_MODEL_CHARS = 200
BATTLES_PAGE = 100
MAX_BATTLES_PAGE = 1000
RECENT_BATTLES = 20
SERVER_BATTLES = 50
MATRIX_MODELS = 20  # the matrices on a page show the top models, as Arena's do
MAX_CHART_MODELS = 1000
AVATAR_CACHE = 1024
PAGE_CACHE = 256
CHART_CACHE = 16
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
CHARTS = ("ratings", "winrate", "battles", "average", "history")
_STATE_NAMES = {
    BattleState.CLOSED: "Vote closed",
    BattleState.NO_CONTEST: "No contest",
    BattleState.STOPPED: "Stopped",
    BattleState.INTERRUPTED: "Interrupted",
}

Handler = Callable[[web.Request], Any]


def create_app(site: ArenaSite) -> web.Application:
    app = web.Application(middlewares=[_error_pages(site)])
    app.on_response_prepare.append(_add_security_headers)
    routes = app.router
    routes.add_get("/", site.index)
    routes.add_get("/healthz", site.health)
    routes.add_get(r"/models/{model:.+}", site.model_page)
    routes.add_get(r"/battles/{battle_id:\d+}", site.battle_page)
    routes.add_get(r"/battles/{battle_id:\d+}.md", site.battle_markdown)
    routes.add_get(r"/battles/{battle_id:\d+}.yml", site.battle_verdict_file)
    routes.add_get(r"/servers/{guild_id:\d+}", site.server_page)
    routes.add_get(r"/tournaments/{tournament_id}", site.tournament_page)
    routes.add_get(r"/avatars/{model:.+}.png", site.avatar)
    routes.add_get(r"/charts/{chart:[a-z]+}.svg", site.chart_svg)
    routes.add_get(r"/charts/{chart:[a-z]+}.json", site.chart_json)
    routes.add_get("/api/leaderboard.json", site.leaderboard_json)
    routes.add_get("/api/battles.jsonl", site.battles_jsonl)
    routes.add_get("/api/models.json", site.models_json)
    routes.add_static("/static", HERE / "static", append_version=False)
    return app


class ArenaSite:
    """The request handlers, over the arena's data."""

    def __init__(self, data: ArenaData) -> None:
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

    # -- pages ---------------------------------------------------------------------------------

    async def index(self, request: web.Request) -> web.Response:
        version = await self.data.version(None)
        # The front page holds only numbers from the boards: it may be a vote behind.
        html = await self.pages.get(("index",), version, self._render_index, stale_ok=True)
        return _html(html)

    async def _render_index(self) -> str:
        crowd = await self.data.board(Board.CROWD, None)
        judges = await self.data.board(Board.JUDGES, None)
        return self.render(
            "index.html",
            title="Leaderboard",
            boards=[crowd, judges],
            charts=await self._board_charts(crowd, MATRIX_MODELS),
            chart_query="",
        )

    async def _board_charts(self, view: BoardView, top: int) -> list[dict[str, Any]]:
        pairs = await self.data.pairs(view.board, view.scope)
        models = [row.model for row in view.rows[:top]]
        scope = "global" if view.scope is None else str(view.scope)
        query = f"?board={view.board.value}&scope={scope}"
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

    async def model_page(self, request: web.Request) -> web.Response:
        model = request.match_info["model"]
        version = await self.data.version(None)
        # Not stale: it lists battles, which a server going private must take off at once.
        html = await self.pages.get(("model", model), version, lambda: self._render_model(model))
        return _html(html)

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
            battles=[_battle_summary(b) for b in battles],
        )

    async def battle_page(self, request: web.Request) -> web.Response:
        battle = await self._public_battle(request)
        turns = (await self.data.store.turns_of([battle.id]))[battle.id]
        verdict = await battle_verdict(self.data.store, battle.id)
        summary = _battle_summary(battle)
        speakers = {
            battle.model_a: _stage_names(battle, Side.A),
            battle.model_b: _stage_names(battle, Side.B),
        }
        return _html(
            self.render(
                "battle.html",
                title=f"Battle {battle.id}: {battle.model_a} v {battle.model_b}",
                battle=battle,
                summary=summary,
                turns=[
                    {
                        "announcement": turn.speaker == SYSTEM_SPEAKER,
                        "speaker": turn.speaker,
                        "stage_name": speakers.get(turn.speaker, turn.speaker),
                        "side": turn.side.value if turn.side else None,
                        "text": turn.text,
                    }
                    for turn in turns
                ],
                verdict=verdict,
            )
        )

    async def battle_markdown(self, request: web.Request) -> web.Response:
        battle = await self._public_battle(request)
        turns = (await self.data.store.turns_of([battle.id]))[battle.id]
        text = transcript_of(
            Battle(battle.model_a, battle.model_b, battle.rounds, battle.topic, battle.blind),
            turns,
        )
        return _download(text, f"battle-{battle.id}.md", "text/markdown")

    async def battle_verdict_file(self, request: web.Request) -> web.Response:
        battle = await self._public_battle(request)
        verdict = await battle_verdict(self.data.store, battle.id)
        if verdict is None:
            raise web.HTTPNotFound(text=f"Battle {battle.id} has no judges' verdict.")
        return _download(verdict.yaml, f"battle-{battle.id}.yml", "application/yaml")

    async def _public_battle(self, request: web.Request) -> WebBattle:
        battle_id = _identifier(request.match_info["battle_id"])
        battle = None if battle_id is None else await self.data.store.public_battle(battle_id)
        if battle is None:
            # The same answer for a private server's battle as for none: nothing is revealed.
            raise web.HTTPNotFound(text="No public battle has that number.")
        return battle

    async def server_page(self, request: web.Request) -> web.Response:
        guild_id = await self._public_guild(request.match_info["guild_id"])
        version = await self.data.version(guild_id)
        html = await self.pages.get(
            ("server", guild_id), version, lambda: self._render_server(guild_id)
        )
        return _html(html)

    async def _render_server(self, guild_id: int) -> str:
        crowd = await self.data.board(Board.CROWD, guild_id)
        judges = await self.data.board(Board.JUDGES, guild_id)
        battles = await self.data.store.public_battles_of_server(guild_id, SERVER_BATTLES)
        return self.render(
            "server.html",
            title=f"Server {guild_id}",
            guild_id=guild_id,
            boards=[crowd, judges],
            charts=await self._board_charts(crowd, MATRIX_MODELS),
            battles=[_battle_summary(b) for b in battles],
        )

    async def _public_guild(self, raw: str) -> int:
        guild_id = _identifier(raw)
        if guild_id is None or not await self.data.store.is_public_page(guild_id):
            raise web.HTTPNotFound(text="No public server has that id.")
        return guild_id

    async def tournament_page(self, request: web.Request) -> web.Response:
        tournament_id = _identifier(request.match_info["tournament_id"])
        store = self.data.store
        tournament = None if tournament_id is None else await store.public_tournament(tournament_id)
        if tournament is None:
            # As for battles: a private server's tournament answers as one that doesn't exist.
            raise web.HTTPNotFound(text="No public tournament has that id.")
        return _html(self.render("tournament.html", **tournament_view(tournament)))

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
        board = _board(request)
        if name == "history":
            model = request.query.get("model", "")
            view = await self.data.board(board, None)
            if view.standing(model) is None:
                raise web.HTTPNotFound(text="No such model on that board.")
            return _drawn(charts.history_chart(model, await self.data.history(model, board)))
        scope = await self._scope(request)
        top = _number(request, "top", MATRIX_MODELS, 1, MAX_CHART_MODELS)
        version = await self.data.version(scope)

        async def draw() -> tuple[str, str]:
            view = await self.data.board(board, scope)
            if name == "ratings":
                return _drawn(charts.ratings_chart(view.rows))
            if name == "average":
                return _drawn(charts.average_winrate_chart(view.rows))
            models = [row.model for row in view.rows[:top]]
            pairs = await self.data.pairs(board, scope)
            # 300 models make 90,000 cells: drawn off the event loop.
            matrix = charts.winrate_chart if name == "winrate" else charts.battle_count_chart
            return await asyncio.to_thread(lambda: _drawn(matrix(models, pairs)))

        # Numbers only, so a chart may be a vote behind while it is redrawn.
        key = (name, board, scope, top if name in ("winrate", "battles") else None)
        return await self.charts.get(key, version, draw, stale_ok=True)

    # -- open data -----------------------------------------------------------------------------

    async def leaderboard_json(self, request: web.Request) -> web.Response:
        board = _board(request)
        scope = await self._scope(request)
        view = await self.data.board(board, scope)
        return _json(
            {
                "board": board.value,
                "scope": "global" if scope is None else str(scope),
                "models": [_standing_json(row) for row in view.rows],
            }
        )

    async def battles_jsonl(self, request: web.Request) -> web.Response:
        after = _number(request, "after", 0, 0, MAX_ID)
        limit = _number(request, "limit", BATTLES_PAGE, 1, MAX_BATTLES_PAGE)
        battles = await self.data.store.public_closed_battles(after, limit)
        turns = await self.data.store.turns_of(b.id for b in battles)
        lines = []
        for battle in battles:
            verdict = await battle_verdict(self.data.store, battle.id)
            lines.append(
                json.dumps(
                    {
                        "id": battle.id,
                        "model_a": battle.model_a,
                        "model_b": battle.model_b,
                        "rounds": battle.rounds,
                        "topic": battle.topic,
                        "blind": battle.blind,
                        "closed_at": _iso(battle.closed_at),
                        "turns": [
                            {"speaker": turn.speaker, "text": turn.text}
                            for turn in turns[battle.id]
                        ],
                        "votes": {"a": battle.votes(Side.A), "b": battle.votes(Side.B)},
                        "verdict": None if verdict is None else verdict.as_json(),
                    },
                    ensure_ascii=False,
                )
            )
        headers = {}
        if len(battles) == limit:
            headers["Link"] = (
                f'</api/battles.jsonl?after={battles[-1].id}&limit={limit}>; rel="next"'
            )
        return web.Response(
            text="".join(line + "\n" for line in lines),
            content_type="application/x-ndjson",
            charset="utf-8",
            headers=headers,
        )

    async def models_json(self, request: web.Request) -> web.Response:
        crowd = await self.data.board(Board.CROWD, None)
        judges = await self.data.board(Board.JUDGES, None)
        boards = {view.board: {row.model: row for row in view.rows} for view in (crowd, judges)}
        models = sorted(set(boards[Board.CROWD]) | set(boards[Board.JUDGES]))
        return _json(
            {
                "models": [
                    {
                        "model": model,
                        "vendor": model.partition("/")[0] if "/" in model else None,
                        "page": links.model_path(model),
                        "avatar": links.avatar_path(model),
                        "last_battle": _iso(crowd.last_battle.get(model)),
                        **{
                            board.value: _standing_json(rows[model]) if model in rows else None
                            for board, rows in boards.items()
                        },
                    }
                    for model in models
                ]
            }
        )

    # -- helpers -------------------------------------------------------------------------------

    async def _scope(self, request: web.Request) -> int | None:
        raw = request.query.get("scope", "global")
        if raw == "global":
            return None
        if not raw.isascii() or not raw.isdigit():
            raise web.HTTPBadRequest(text="scope is 'global' or a server id.")
        return await self._public_guild(raw)

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
            return _json({"error": message}, status=status)
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


# -- request parsing and formatting ---------------------------------------------------------------


def _identifier(raw: str) -> int | None:
    """A database id from a path segment, or None when it cannot name a row."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        return None
    value = int(raw)
    return value if 0 < value <= MAX_ID else None


def _number(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or not low <= int(raw) <= high:
        raise web.HTTPBadRequest(text=f"{name} must be a whole number from {low} to {high}.")
    return int(raw)


def _board(request: web.Request) -> Board:
    raw = request.query.get("board", Board.CROWD.value)
    try:
        return Board(raw)
    except ValueError:
        raise web.HTTPBadRequest(text="board is 'crowd' or 'judges'.") from None


def _standing_json(row: Standing) -> dict[str, Any]:
    rating, record = row.rating, row.record
    return {
        "model": row.model,
        "rank": row.rank,
        "rating": round(rating.rating, 2),
        "low": round(rating.low, 2),
        "high": round(rating.high, 2),
        "wins": record.wins,
        "losses": record.losses,
        "draws": record.draws,
        "battles": record.battles,
        "votes": record.votes,
    }


def _battle_summary(battle: WebBattle) -> dict[str, Any]:
    """How a battle ended, in words that name no one."""
    winner = None
    if battle.state is BattleState.CLOSED:
        a, b = battle.votes(Side.A), battle.votes(Side.B)
        if a + b == 0:
            outcome = "No votes"
        elif a == b:
            outcome = "Draw"
        else:
            winner = battle.model_a if a > b else battle.model_b
            outcome = f"{winner} won"
    else:
        outcome = _STATE_NAMES.get(battle.state, battle.state.value)
    return {
        "battle": battle,
        "state": _STATE_NAMES.get(battle.state, battle.state.value),
        "outcome": outcome,
        "winner": winner,
        "date": battle.closed_at or battle.created_at,
    }


def _stage_names(battle: WebBattle, side: Side) -> str | None:
    """The blind name a side battled under (revealed now the vote has closed), if any."""
    if not battle.blind:
        return None
    return Battle(battle.model_a, battle.model_b, blind=True).stage_name(side)


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


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).isoformat(timespec="seconds")


def _drawn(chart: charts.Chart) -> tuple[str, str]:
    return chart.svg, json.dumps(chart.data, ensure_ascii=False)


def tournament_view(tournament: StoredTournament) -> dict[str, Any]:
    """What the tournament page shows: rounds with their matches (a battle linked once the match
    is decided, when its battle has ended and is public), the tiers or the Swiss table. No
    channel, thread or starter: those would name where and who."""
    single = tournament.tournament_format is TournamentFormat.SINGLE
    rounds = [
        {
            "number": played.number + 1,
            "bye": played.bye,
            "matches": [
                {
                    "index": match.index + 1,
                    "side_a": match.side_a,
                    "side_b": match.side_b,
                    "winner": match.winner,
                    "votes": None if match.votes_a is None else f"{match.votes_a}–{match.votes_b}",
                    "note": match.note,
                    "battle_id": match.battle_id if match.winner is not None else None,
                }
                for match in played.matches
            ],
        }
        for played in tournament.rounds
    ]
    tiers: list[tuple[str, tuple[str, ...]]] = []
    table: list[TableRow] = []
    if single and tournament.champion is not None:
        reached = [plan.contestants for plan in planned_rounds(tournament)]
        tiers = tier_list([*reached, (tournament.champion,)])
    elif not single:
        decisions, byes = swiss_history(tournament)
        table = swiss_table(tournament.seeds, decisions, byes) if decisions else []
    return {
        "title": f"Tournament {tournament.id}",
        "tournament": tournament,
        "kind": "Single elimination" if single else "Swiss",
        "state": tournament.state.value,
        "rounds": rounds,
        "tiers": tiers,
        "table": table,
    }


def _html(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/html", charset="utf-8")


def _json(value: Mapping[str, Any], status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(value, ensure_ascii=False),
        status=status,
        content_type="application/json",
        charset="utf-8",
    )


def _download(text: str, filename: str, content_type: str) -> web.Response:
    return web.Response(
        text=text,
        content_type=content_type,
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )

"""What a request asks for, read from its path and query: a value that cannot name anything is
refused with a plain reason (400), and a private server answers as one that does not exist (404).
"""

from __future__ import annotations

from aiohttp import web

from bot.engine.leaderboard import Board
from bot.engine.seasons import InvalidSeason, Season, SeasonLength, parse_season
from bot.store import WebStore

MAX_ID = 2**63 - 1  # the databases' BIGINT; a longer number names nothing


def identifier(raw: str) -> int | None:
    """A database id from a path segment, or None when it cannot name a row."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        return None
    value = int(raw)
    return value if 0 < value <= MAX_ID else None


def number(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or not low <= int(raw) <= high:
        raise web.HTTPBadRequest(text=f"{name} must be a whole number from {low} to {high}.")
    return int(raw)


def board(request: web.Request) -> Board:
    raw = request.query.get("board", Board.CROWD.value)
    try:
        return Board(raw)
    except ValueError:
        raise web.HTTPBadRequest(text="board is 'crowd' or 'judges'.") from None


def season(request: web.Request, length: SeasonLength | None, now: float) -> Season | None:
    """The season a board is asked for (``?season=current|previous|all|NAME``), None for all
    time (the default on the web). A board's seasons are months or quarters (``length``), or
    there are none (None): a name they do not have is refused with the reason."""
    raw = request.query.get("season", "").strip()
    if not raw:
        return None
    try:
        return parse_season(raw, length, now)
    except InvalidSeason as error:
        raise web.HTTPBadRequest(text=str(error)) from None


async def scope(store: WebStore, request: web.Request) -> int | None:
    """The board's scope: None for the global board, else a public server's id."""
    raw = request.query.get("scope", "global")
    if raw == "global":
        return None
    if not raw.isascii() or not raw.isdigit():
        raise web.HTTPBadRequest(text="scope is 'global' or a server id.")
    return await public_guild(store, raw)


async def public_guild(store: WebStore, raw: str) -> int:
    guild_id = identifier(raw)
    if guild_id is None or not await store.is_public_page(guild_id):
        raise web.HTTPNotFound(text="No public server has that id.")
    return guild_id

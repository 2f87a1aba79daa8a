"""Counting the bot's Discord REST requests and 429s by route, for the metrics.

Two hooks on one bot, nothing process-wide: an aiohttp trace config on the bot's own HTTP session
sees every request actually sent (each retry after a 429 too, and the interaction answers and
webhook executes discord.py sends outside its ``HTTPClient.request``), and a wrapper around that
bot's ``HTTPClient.request`` names the route template the request was made for (a context
variable, so concurrent requests never mix). A request made outside the wrapper is named from its
URL with every id and token replaced, so no label ever carries one.
"""

from __future__ import annotations

import contextvars
import re
from types import SimpleNamespace
from typing import Any

import aiohttp
import discord

from bot.ops.metrics import Metrics

# The template of the request under way in this task, e.g. "POST /channels/{channel_id}/messages".
_ROUTE: contextvars.ContextVar[str | None] = contextvars.ContextVar("discord_route", default=None)
_API_PREFIX = re.compile(r"^/api(/v\d+)?")
_WORD = re.compile(r"^[a-z@][a-z0-9@_-]{0,31}$")
# Path segments after which the next one is a secret token.
_BEFORE_TOKEN = ("webhooks", "interactions")


class DiscordRequestMeter:
    """Feeds ``Metrics.discord_request`` from one bot's HTTP client."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self.trace = aiohttp.TraceConfig()
        self.trace.on_request_end.append(self._answered)

    def attach(self, http: discord.http.HTTPClient) -> None:
        """Names each request this client makes by its route template (this instance only)."""
        send = http.request

        async def request(route: discord.http.Route, **kwargs: Any) -> Any:
            token = _ROUTE.set(f"{route.method} {route.path}")
            try:
                return await send(route, **kwargs)
            finally:
                _ROUTE.reset(token)

        http.request = request  # type: ignore[method-assign]

    async def _answered(
        self,
        session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestEndParams,
    ) -> None:
        if params.url.scheme not in ("http", "https"):
            return  # the gateway's websocket, not REST
        route = _ROUTE.get() or route_of(params.method, params.url.path)
        self._metrics.discord_request(route, params.response.status)


def route_of(method: str, path: str) -> str:
    """A request's route from its URL path, ids as ``{id}`` and tokens as ``{token}``:
    ``POST /webhooks/{id}/{token}``."""
    segments = _API_PREFIX.sub("", path).strip("/").split("/")
    named: list[str] = []
    for position, segment in enumerate(segments):
        if position >= 2 and segments[position - 2] in _BEFORE_TOKEN:
            named.append("{token}")
        elif segment.isdigit():
            named.append("{id}")
        elif _WORD.match(segment):
            named.append(segment)
        else:
            named.append("{token}")
    return f"{method} /{'/'.join(named)}"

"""The chaos soak's faults: a Discord double that answers 429s and 5xx for short spells, a model
server that fails for a few seconds, and the seeded plan of when each fault (and each kill) comes.

Both servers run inside the driver's process; the bot reaches them over real HTTP, so the bot's
own retry paths (discord.py's and the model gateway's) are what gets exercised.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.discord_double import DiscordDouble
from tests.fakes.discord_double.rest import API_PREFIX
from tests.fakes.model_server import HttpError, Reply, StampedModelServer

# Statuses discord.py retries by itself (1 + 2·tries seconds apart, five tries).
RETRIED_SERVER_ERRORS = (500, 502, 504)


@dataclass
class Tripwire:
    """A kill armed on the bot's next request of one kind: fired (synchronously, before Discord's
    answer goes back) the moment the double has carried that request out, which is the moment
    between a post and the bot's record of it."""

    kind: str  # one of TRIPWIRE_KINDS
    guild_ids: frozenset[int]  # the servers of the process it kills
    fire: Callable[[], None]
    fired: asyncio.Event = field(default_factory=asyncio.Event)


# What a tripwire can wait for: the request, as the double sees it, that each kind names.
TRIPWIRE_KINDS = (
    "title card",
    "verse",
    "vote",
    "vote reaction",
    "results",
    "notice",
    "verdict",
    "tournament card",
    "thread",
)


def request_kind(method: str, route: str, body: Any) -> str | None:
    """Which tripwire kind a bot request is, if any."""
    if method == "PUT" and "/reactions/" in route and route.endswith("/@me"):
        return "vote reaction"
    if method == "POST" and route == "/channels/{channel_id}/messages/{message_id}/threads":
        return "thread"
    if method == "POST" and route.startswith("/webhooks/{webhook_id}/{webhook_token}"):
        return "verse"
    if method != "POST" or route != "/channels/{channel_id}/messages" or not isinstance(body, dict):
        return None
    embeds = body.get("embeds") or []
    title = (embeds[0].get("title") or "") if embeds else ""
    if not embeds:
        return "verse" if "hear me spit" in (body.get("content") or "") else None
    if title.startswith("🎤 "):
        return "title card"
    if title.startswith("🗳️"):
        return "vote"
    if title.startswith(("No votes:", "🤝 A draw")) or " wins, " in title:
        return "results"
    if title.startswith("⚖️"):
        return "verdict"
    if title.startswith(("🏆", "👑")):
        return "tournament card"
    return "notice" if not title else None


@dataclass(frozen=True)
class Spell:
    kind: str  # "429" or "5xx"
    until: float  # time.monotonic()


class ChaosDouble(DiscordDouble):
    """The Discord double with spells of 429s and 5xx answers on the bot's REST requests.

    Interaction callbacks and their followups are spared: Discord serves them apart, and a lost
    answer there only means a user sees "the application did not respond"."""

    def __init__(self, *, rng: random.Random, **options: Any) -> None:
        super().__init__(**options)
        self._fault_rng = rng
        self._spell: Spell | None = None
        self.faults_served: Counter[str] = Counter()
        self.tripwire: Tripwire | None = None
        install = self._rest.install

        def install_behind_faults(app: web.Application) -> None:
            app.middlewares.append(self._faults)  # in front of every route the double serves
            install(app)

        self._rest.install = install_behind_faults  # type: ignore[method-assign]

    def spell(self, kind: str, seconds: float) -> None:
        self._spell = Spell(kind, time.monotonic() + seconds)

    @web.middleware
    async def _faults(self, request: web.Request, handler: Any) -> web.StreamResponse:
        tripwire = self.tripwire
        if tripwire is None or not request.path.startswith(API_PREFIX):
            return await self._spells(request, handler)
        body = None
        if request.content_type == "application/json" and request.can_read_body:
            body = json.loads(await request.read() or b"null")
        response = await self._spells(request, handler)
        match = request.match_info.route.resource
        route = match.canonical.removeprefix(API_PREFIX) if match is not None else ""
        route = re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", route)
        kind = request_kind(request.method, route, body)
        if (
            kind == tripwire.kind
            and response.status < 300
            and self._guild_of(request.match_info) in tripwire.guild_ids
        ):
            self.tripwire = None
            tripwire.fire()  # the bot dies before it hears that its request was carried out
            tripwire.fired.set()
        return response

    def _guild_of(self, params: Any) -> int | None:
        if "channel_id" in params:
            channel = self._state.channels.get(int(params["channel_id"]))
            return channel.guild.id if channel is not None else None
        if "webhook_id" in params:
            hook = self._state.webhooks.get(int(params["webhook_id"]))
            return hook.channel.guild.id if hook is not None else None
        return None

    async def _spells(self, request: web.Request, handler: Any) -> web.StreamResponse:
        spell = self._spell
        path = request.path
        if (
            spell is None
            or time.monotonic() >= spell.until
            or not path.startswith(API_PREFIX)
            or "/interactions/" in path
            or path.startswith(f"{API_PREFIX}/webhooks/{self.application_id}/")
        ):
            return await handler(request)
        self.faults_served[spell.kind] += 1
        if spell.kind == "429":
            # As Discord does: the wait it names is the wait the limit needs.
            retry_after = round(max(spell.until - time.monotonic(), 0.05), 3)
            body = {"message": "You are being rate limited.", "retry_after": retry_after}
            body |= {"global": False, "code": 0}
            headers = {
                "Retry-After": str(max(1, round(retry_after))),
                "X-RateLimit-Scope": "shared",
                "Via": "1.1 google",  # without it discord.py takes a 429 for a Cloudflare ban
            }
            return _json(body, 429, headers)
        status = self._fault_rng.choice(RETRIED_SERVER_ERRORS)
        return _json({"message": "Internal Server Error", "code": 0}, status)


def _json(body: Any, status: int, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )


class ChaosModelServer(StampedModelServer):
    """The model server (every verse stamped with a nonce of its own), failing every request
    with 503 for a few seconds when told to."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._failing_until = 0.0
        self.failures_served = 0

    def fail_for(self, seconds: float) -> None:
        with self._lock:
            self._failing_until = time.monotonic() + seconds

    def _failure(self) -> HttpError | None:
        with self._lock:
            if time.monotonic() >= self._failing_until:
                return None
            self.failures_served += 1
        return HttpError(503, "Provider is overloaded")

    def _next_reply(self, model: str, messages: list[dict[str, Any]]) -> Reply:
        return self._failure() or super()._next_reply(model, messages)

    def _next_ruling(self, model: str, body: dict[str, Any]) -> Reply:
        return self._failure() or super()._next_ruling(model, body)


# -- the plan -------------------------------------------------------------------------------

FAULT_KINDS = (
    "gateway drop",  # the websocket closes; the bot resumes and gets what it missed
    "gateway outage",  # closed and held for a few seconds before the resume
    "gateway new session",  # the session is invalidated: a new one, events in between lost
    "model server down",
    "discord 429s",
    "discord 5xx",
)


@dataclass(frozen=True)
class PlannedFault:
    at: float  # seconds after the load starts
    kind: str
    seconds: float  # how long it lasts (0: a moment)


def plan_kills(rng: random.Random, kills: int, duration: float) -> list[float]:
    """Moments (seconds after the load starts) for ``kills`` kills: one drawn at random in each
    of ``kills`` equal stretches of the run, so they spread over it and stay apart."""
    start, end = 4.0, max(duration - 4.0, 5.0)
    stretch = (end - start) / max(kills, 1)
    return [start + stretch * (i + rng.uniform(0.15, 0.85)) for i in range(kills)]


def plan_faults(rng: random.Random, duration: float) -> list[PlannedFault]:
    """A fault every 8 to 20 seconds, each kind in turn at first (so a short run sees all of
    them), then drawn at random."""
    faults, at, index = [], rng.uniform(3.0, 8.0), 0
    while at < duration - 6.0:
        kind = FAULT_KINDS[index] if index < len(FAULT_KINDS) else rng.choice(FAULT_KINDS)
        seconds = {
            "gateway drop": 0.0,
            "gateway outage": rng.uniform(2.0, 4.0),
            "gateway new session": 0.0,
            "model server down": rng.uniform(2.0, 5.0),
            "discord 429s": rng.uniform(2.0, 4.0),
            "discord 5xx": rng.uniform(1.5, 3.0),
        }[kind]
        faults.append(PlannedFault(at, kind, seconds))
        at += rng.uniform(8.0, 20.0)
        index += 1
    return faults

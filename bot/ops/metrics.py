"""Prometheus metrics: the observer port (bot/observe.py) as counters and histograms, and
``/metrics`` to read them.

Each ``Metrics`` owns its own registry: the bot makes one (and serves it on METRICS_PORT and on
the web arena it runs), ``rapbattle web`` makes another. Nothing is registered globally, so two
bots in one test process never share a count. Every label is bounded: a model id from the
catalog, an HTTP status, an ``Ending``, a route template, a reason from a fixed list; never a
user, a channel or free text. docs/operations.md#metrics lists them all.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from bot.observe import Ending

log = logging.getLogger(__name__)

# Seconds, from a quick model to one that thinks for minutes (LLM_TIMEOUT_SECONDS is 120).
VERSE_BUCKETS = (0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300)
# A post is one or a few REST requests; past a second it waited on a rate limit.
POST_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)
JUDGE_BUCKETS = (0.5, 1, 2, 5, 10, 20, 40, 80, 160)
# The offline check is held to 50 ms; an endpoint takes a round trip.
MODERATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
NO_STATUS = "none"  # a model failure without an HTTP status: a timeout, a dropped connection

WebHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Metrics:
    """Every metric of one process, on a registry of its own; an ``Observer`` for the services
    and the model gateway, and the Discord and web adapters' counters."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        self._started = Counter("rapbattle_battles_started", "Battles started.", registry=registry)
        self._finished = Counter(
            "rapbattle_battles_finished",
            "Battles finished, by how they ended.",
            ["ending"],
            registry=registry,
        )
        self.live_battles = Gauge(
            "rapbattle_battles_live", "Battles whose verses are being posted.", registry=registry
        )
        self.open_votes = Gauge("rapbattle_votes_open", "Votes open.", registry=registry)
        self._verse_seconds = Histogram(
            "rapbattle_verse_seconds",
            "Time to write a verse, from the request to its last token (retries included).",
            ["model"],
            buckets=VERSE_BUCKETS,
            registry=registry,
        )
        self._post_seconds = Histogram(
            "rapbattle_post_seconds",
            "Time a stage took to post a verse (rate-limit waits included).",
            buckets=POST_BUCKETS,
            registry=registry,
        )
        self._model_errors = Counter(
            "rapbattle_model_errors",
            "Failed attempts at a model, by the provider's HTTP status (none: no status).",
            ["model", "status"],
            registry=registry,
        )
        self._discord_requests = Counter(
            "rapbattle_discord_requests",
            "Discord REST requests answered (each retry counts), by route.",
            ["route"],
            registry=registry,
        )
        self._discord_429s = Counter(
            "rapbattle_discord_rate_limited",
            "Discord REST requests answered 429, by route.",
            ["route"],
            registry=registry,
        )
        self._votes_counted = Counter(
            "rapbattle_votes_counted", "Votes counted when a vote closed.", registry=registry
        )
        self._votes_set_aside = Counter(
            "rapbattle_votes_set_aside",
            "Votes set aside when a vote closed, by reason.",
            ["reason"],
            registry=registry,
        )
        self._spend = Counter(
            "rapbattle_spend_usd",
            "Money spent on models in US dollars, by kind (verse, judge).",
            ["kind"],
            registry=registry,
        )
        self._judge_seconds = Histogram(
            "rapbattle_judge_seconds",
            "Time a judge took to give its ballot (asks again included).",
            ["judge"],
            buckets=JUDGE_BUCKETS,
            registry=registry,
        )
        self._moderation_seconds = Histogram(
            "rapbattle_moderation_seconds",
            "Time the content filter took to check a verse.",
            buckets=MODERATION_BUCKETS,
            registry=registry,
        )
        self._web_requests = Counter(
            "rapbattle_web_requests",
            "Web arena requests answered, by route and status.",
            ["route", "status"],
            registry=registry,
        )

    # -- the observer port (bot/observe.py) -----------------------------------------------------

    def battle_started(self) -> None:
        self._started.inc()

    def battle_finished(self, ending: Ending) -> None:
        self._finished.labels(ending.value).inc()

    def verse_written(self, model: str, seconds: float) -> None:
        self._verse_seconds.labels(model).observe(seconds)

    def verse_posted(self, seconds: float) -> None:
        self._post_seconds.observe(seconds)

    def model_failed(self, model: str, status: int | None) -> None:
        self._model_errors.labels(model, str(status) if status else NO_STATUS).inc()

    def votes_counted(self, counted: int, set_aside: Mapping[str, int]) -> None:
        self._votes_counted.inc(counted)
        for reason, votes in set_aside.items():  # every reason, so each series starts at 0
            self._votes_set_aside.labels(reason).inc(votes)

    def spent(self, kind: str, usd: float) -> None:
        if usd > 0:
            self._spend.labels(kind).inc(usd)

    def judged(self, judge: str, seconds: float) -> None:
        self._judge_seconds.labels(judge).observe(seconds)

    def moderation_checked(self, seconds: float) -> None:
        self._moderation_seconds.observe(seconds)

    # -- the adapters' own ----------------------------------------------------------------------

    def watch(self, live_battles: Callable[[], int], open_votes: Callable[[], int]) -> None:
        """The gauges read their owner's registries when scraped, so they never drift."""
        self.live_battles.set_function(live_battles)
        self.open_votes.set_function(open_votes)

    def discord_request(self, route: str, status: int) -> None:
        """One REST request answered; ``route`` is a template like
        ``POST /channels/{channel_id}/messages``, never ids."""
        self._discord_requests.labels(route).inc()
        if status == 429:
            self._discord_429s.labels(route).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    async def page(self, request: web.Request) -> web.Response:
        """``GET /metrics``, in Prometheus' text format."""
        return web.Response(
            body=self.exposition(), headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4}
        )

    @web.middleware
    async def count_web_requests(
        self, request: web.Request, handler: WebHandler
    ) -> web.StreamResponse:
        """Counts the web arena's answers by route template (``/battles/{battle_id}``)."""
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as error:
            status = error.status
            raise
        finally:
            resource = request.match_info.route.resource
            route = resource.canonical if resource is not None else "unmatched"
            self._web_requests.labels(route, str(status)).inc()


class MetricsServer:
    """``/metrics`` alone on a port of its own (METRICS_PORT), for ``rapbattle run``."""

    def __init__(self, metrics: Metrics, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._app = web.Application()
        self._app.router.add_get("/metrics", metrics.page)
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        self._runner = web.AppRunner(self._app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        if self.port == 0:  # an ephemeral port (tests): the one the system chose
            self.port = self._runner.addresses[0][1]
        log.info("Metrics on http://%s:%d/metrics", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

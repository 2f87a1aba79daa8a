"""The web arena as an object with a start and a stop: ``rapbattle web`` runs one on its own, and
the bot opens one in ``setup_hook`` (and closes it in ``close()``) when WEB_PORT is set."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web

from bot.audio.tracks import track_desk
from bot.ops.metrics import Metrics
from bot.services.battles.standings import StandingsService
from bot.services.tracks.desk import TrackDesk
from bot.settings import Settings
from bot.store import WebStore
from bot.web.app import ArenaSite, create_app
from bot.web.data import ArenaData

log = logging.getLogger(__name__)

DEFAULT_PORT = 8080


class WebServer:
    """Serves the site on ``host:port`` over a store and standings service it does not own.

    Battles' tracks are made as the settings say (TTS_*, BEAT*) by ``tracks``, a desk the caller
    owns (the bot's own, shared with its results), or else by a desk of the server's own.
    """

    def __init__(
        self,
        settings: Settings,
        store: WebStore,
        standings: StandingsService,
        host: str | None = None,
        port: int | None = None,
        *,
        tracks: TrackDesk | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.data = ArenaData(store, standings)
        # The bot's own metrics when it runs the site, else the site's (its requests).
        self.metrics = metrics if metrics is not None else Metrics()
        self._own_tracks = tracks is None
        self.tracks = tracks if tracks is not None else track_desk(settings, store)
        self.site = ArenaSite(self.data, self.tracks)
        self.app = create_app(self.site, self.metrics)
        self.host = host or settings.web_host
        self.port = port if port is not None else settings.web_port or DEFAULT_PORT
        self._runner: web.AppRunner | None = None
        self._history: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:  # an ephemeral port (tests): report the one the system chose
            self.port = self._runner.addresses[0][1]
        # The rating history before today is filled in once, in the background: the pages
        # serve meanwhile and show it when it is done.
        self._history = asyncio.create_task(self.data.fill_history(), name="web rating history")
        self._history.add_done_callback(_log_failure)
        log.info("Web arena on http://%s:%d", self.host, self.port)

    async def stop(self) -> None:
        if self._history is not None:
            self._history.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._history
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.site.close()
        if self._own_tracks:
            await self.tracks.close()


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("Filling in the rating history failed", exc_info=task.exception())


async def serve(settings: Settings, host: str | None, port: int | None) -> None:
    """``rapbattle web``: the site alone over DATABASE_URL, until SIGINT or SIGTERM."""
    import signal

    from bot.store import open_store

    store = await open_store(settings.database_url)
    server = WebServer(settings, store, StandingsService(store), host=host, port=port)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, stopped.set)
    try:
        await server.start()
        await stopped.wait()
    finally:
        await server.stop()
        await store.close()

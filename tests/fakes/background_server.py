"""What the local HTTP look-alikes (model, speech, moderation servers) share: an aiohttp app
served on 127.0.0.1 from its own event loop in a background thread, so sync and async tests,
subprocesses and benchmarks all reach it over real HTTP at ``server.base_url``."""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import Self

from aiohttp import web


class BackgroundServer:
    """``with Server() as server: ...``; a subclass builds its app in ``_app``.

    ``_stopping`` is set as the server stops, so a handler that waits (a slow answer, a stall)
    can end at once instead of holding the stop up.
    """

    name = "server"  # its thread's name
    api_prefix = "/v1"  # where the API's routes start, as the real service's base URL ends

    def __init__(self, port: int = 0) -> None:
        self._bind_port = port  # 0: any free port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None
        self._port: int | None = None

    def _app(self) -> web.Application:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> Self:
        """Bind 127.0.0.1 on a free port and serve from a background thread."""
        if self._loop is not None:
            raise RuntimeError(f"{type(self).__name__} is already running")
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name=self.name, daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        try:
            self._port = asyncio.run_coroutine_threadsafe(self._serve(), loop).result(timeout=10)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop serving; open requests (stalled ones included) are cut short at once."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()
            self._loop = self._thread = self._runner = self._stopping = None
            self._port = None

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        return f"http://127.0.0.1:{self._port}{self.api_prefix}"

    async def _serve(self) -> int:
        self._stopping = asyncio.Event()
        # handler_cancellation: a handler stops as soon as its client goes away.
        self._runner = web.AppRunner(
            self._app(), handler_cancellation=True, shutdown_timeout=1.0, access_log=None
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._bind_port)
        await site.start()
        return int(self._runner.addresses[0][1])

    async def _shutdown(self) -> None:
        if self._stopping is not None:
            self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()

"""Serving: the WebServer object the bot opens and closes, `rapbattle web` as its own process,
and the settings that drive them."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys

import aiohttp
import pytest

from bot.errors import ConfigError
from bot.services.battles.standings import StandingsService
from bot.settings import Settings
from bot.web.server import WebServer
from tests.web.conftest import PUBLIC_GUILD


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_web_settings():
    settings = Settings.from_env(
        {"WEB_PORT": "8081", "PUBLIC_URL": "https://arena.example.org/", "WEB_HOST": "0.0.0.0"}
    )
    assert settings.web_port == 8081
    assert settings.public_url == "https://arena.example.org"
    assert settings.web_host == "0.0.0.0"
    assert Settings.from_env({}).web_port is None
    for bad in ("0", "70000", "http"):
        with pytest.raises(ConfigError, match="WEB_PORT"):
            Settings.from_env({"WEB_PORT": bad})


async def test_the_web_server_starts_serves_and_stops(arena):
    port = free_port()
    settings = Settings(web_port=port)
    server = WebServer(settings, arena.store, StandingsService(arena.store))
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert response.status == 200
            await asyncio.wait_for(server.data.history_filled.wait(), 10)
            async with session.get(f"http://127.0.0.1:{port}/servers/{PUBLIC_GUILD}") as response:
                assert response.status == 200
    finally:
        await server.stop()
    with pytest.raises(aiohttp.ClientConnectorError):
        async with aiohttp.ClientSession() as session:
            await session.get(f"http://127.0.0.1:{port}/healthz")


async def test_rapbattle_web_serves_the_database_until_terminated(arena, database_url, tmp_path):
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import sys; from bot.cli import main; sys.exit(main(sys.argv[1:]))",
        "web",
        "--port",
        str(port),
        env={**os.environ, "DATABASE_URL": database_url},
        cwd=tmp_path,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    async with session.get(f"http://127.0.0.1:{port}/api/models.json") as response:
                        body = await response.json()
                        break
                except aiohttp.ClientConnectorError:
                    await asyncio.sleep(0.1)
            else:
                pytest.fail("rapbattle web never answered")
        assert {m["model"] for m in body["models"]} >= {"alpha/one", "beta/two"}
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 0, stderr.decode()

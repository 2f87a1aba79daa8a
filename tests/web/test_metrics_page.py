"""`rapbattle web`'s own /metrics: the site's answers by route template and status (it runs no
battles; the bot's metrics are on METRICS_PORT, or on the web arena the bot runs itself)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import aiohttp
import pytest

from tests.e2e.test_metrics import Scrape, scrape
from tests.web.conftest import PRIVATE_GUILD
from tests.web.test_server import free_port


async def test_rapbattle_web_counts_its_answers_by_route(arena, database_url, tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import sys; from bot.cli import main; sys.exit(main(sys.argv[1:]))",
        "web",
        "--port",
        str(port),
        env={**os.environ, "DATABASE_URL": database_url, "LOG_FORMAT": "json"},
        cwd=tmp_path,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    async with session.get(base + "/healthz") as response:
                        assert response.status == 200
                        break
                except aiohttp.ClientConnectorError:
                    await asyncio.sleep(0.1)
            else:
                pytest.fail("rapbattle web never answered")
            for path in ("/battles/1", "/battles/1", f"/servers/{PRIVATE_GUILD}", "/nowhere"):
                async with session.get(base + path) as response:
                    await response.read()
        metrics: Scrape = await scrape(base + "/metrics")
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 0, stderr.decode()

    requests = "rapbattle_web_requests_total"
    assert metrics.value(requests, route="/healthz", status="200") == 1
    assert metrics.value(requests, route="/battles/{battle_id}") == 2
    assert metrics.value(requests, route="/servers/{guild_id}", status="404") == 1
    assert metrics.value(requests, route="unmatched", status="404") == 1
    assert metrics.value("rapbattle_battles_started_total") == 0
    assert not any(str(PRIVATE_GUILD) in value for value in metrics.all_label_values())

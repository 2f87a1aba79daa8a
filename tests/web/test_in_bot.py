"""WEB_PORT: the real bot (against the Discord double and the model server) serves the web arena
from its own process, opening it in setup_hook and closing it in close()."""

from __future__ import annotations

import json

import aiohttp
import pytest

from tests.e2e.conftest import arena  # noqa: F401  (the end-to-end world, as `arena` here)
from tests.e2e.test_leaderboard import battle_and_vote
from tests.web.test_server import free_port

QWEN, GROK = "qwen/qwen-max", "x-ai/grok-2"


async def test_the_bot_serves_the_web_arena_on_web_port(arena):  # noqa: F811
    port = free_port()
    bot = await arena.start_bot(WEB_PORT=str(port))
    base = f"http://127.0.0.1:{port}"
    await battle_and_vote(arena, bot, arena.channel, 2, 1)
    async with aiohttp.ClientSession() as session:
        async with session.get(base + "/healthz") as response:
            assert response.status == 200
        async with session.get(base + "/api/leaderboard.json") as response:
            board = await response.json()
        assert [m["model"] for m in board["models"]] == [QWEN, GROK]
        # The server has not made its page public: its battle counts, but is not shown.
        async with session.get(base + "/battles/1") as response:
            assert response.status == 404
        async with session.get(base + "/api/battles.jsonl") as response:
            assert await response.text() == ""
        page = await (await session.get(base + f"/models/{QWEN}")).text()
        assert str(arena.guild.id) not in page and str(arena.channel.id) not in page
        await bot.store.set_public_page(arena.guild.id, True)
        async with session.get(base + "/api/battles.jsonl") as response:
            [line] = (await response.text()).splitlines()
        battle = json.loads(line)
        assert (battle["model_a"], battle["model_b"], battle["votes"]) == (
            QWEN,
            GROK,
            {"a": 2, "b": 1},
        )
    await arena.stop_bot(bot)
    with pytest.raises(aiohttp.ClientConnectorError):
        async with aiohttp.ClientSession() as session:
            await session.get(base + "/healthz")

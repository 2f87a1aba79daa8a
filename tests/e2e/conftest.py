"""The real bot, in-process, against the Discord double and the model server."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.client import RapBattleBot, point_discord_at
from bot.settings import Settings
from tests.fakes.discord_double import Channel, DiscordDouble, Guild, Member
from tests.fakes.model_server import ModelServer

RAPBATTLE = str(Path(sys.executable).with_name("rapbattle"))
READY_TIMEOUT = 15.0
# Lets on_ready fire right after the last GUILD_CREATE instead of 2 s later.
FAST_CLIENT_OPTIONS = {"guild_ready_timeout": 0.05}


@dataclass
class Arena:
    """Everything an end-to-end test touches."""

    double: DiscordDouble
    models: ModelServer
    guild: Guild
    channel: Channel
    alice: Member
    bob: Member
    database_url: str
    env: dict[str, str]
    bots: list[RapBattleBot] = field(default_factory=list)

    def settings(self, **overrides: str) -> Settings:
        return Settings.from_env(self.env | overrides)

    async def start_bot(self, **overrides: str) -> RapBattleBot:
        settings = self.settings(**overrides)
        point_discord_at(settings)
        bot = RapBattleBot(settings, **FAST_CLIENT_OPTIONS)
        self.bots.append(bot)
        ready = asyncio.Event()
        bot.add_listener(_set_on_ready(ready), "on_ready")
        bot.runner = asyncio.create_task(bot.start(self.double.token))  # type: ignore[attr-defined]
        waiter = asyncio.create_task(ready.wait())
        done, _ = await asyncio.wait(
            {waiter, bot.runner}, timeout=READY_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
        if waiter not in done:
            waiter.cancel()
            if bot.runner.done():
                bot.runner.result()  # raises the start-up error
            raise TimeoutError("the bot did not become ready")
        return bot

    async def stop_bot(self, bot: RapBattleBot) -> None:
        await bot.close()
        with contextlib.suppress(asyncio.CancelledError):
            await bot.runner  # type: ignore[attr-defined]

    async def battle(
        self, member: Member | None = None, channel: Channel | None = None, **options: Any
    ) -> Any:
        """Runs /battle as a member (alice by default): one round of qwen-max v grok unless
        the options say otherwise. Returns the double's interaction record."""
        options = {"model_a": "qwen-max", "model_b": "grok", "rounds": 1} | options
        return await self.double.invoke_command(
            member or self.alice, channel or self.channel, "battle", options
        )

    def bot_messages(self, channel: Channel | None = None) -> list[dict[str, Any]]:
        channel = channel or self.channel
        bot_id = self.double.bot_user.id
        return [m for m in self.double.messages(channel.id) if int(m["author"]["id"]) == bot_id]

    async def wait_for(
        self,
        predicate: Callable[[dict[str, Any]], bool],
        channel: Channel | None = None,
        timeout: float = 15,
    ) -> dict[str, Any]:
        return await self.double.wait_for_message(
            (channel or self.channel).id, predicate, timeout=timeout
        )


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Waits until ``check()`` holds: for effects that have no message to wait on."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition never held")
        await asyncio.sleep(0.02)


async def ended(store: Any, battle_id: int, timeout: float = 5.0) -> Any:
    """The stored battle once its end is recorded: a battle says how it ended first (so that a
    restart in between tells it no second time, see docs/reliability.md), then records it."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (stored := await store.battle(battle_id)).state.value == "running":
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"battle {battle_id} never ended")
        await asyncio.sleep(0.02)
    return stored


@contextlib.asynccontextmanager
async def bot_process(env: dict[str, str], cwd: Path) -> AsyncIterator[list[str]]:
    """A running `rapbattle run`; yields its log lines as they come, stops it with Ctrl-C."""
    process = await asyncio.create_subprocess_exec(
        RAPBATTLE,
        "run",
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    lines: list[str] = []

    async def read() -> None:
        assert process.stderr is not None
        async for line in process.stderr:
            lines.append(line.decode())

    reader = asyncio.create_task(read())
    try:
        yield lines
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(process.wait(), 20)
        finally:
            if process.returncode is None:
                process.kill()
            await reader
    assert process.returncode == 0, "".join(lines)
    assert "Traceback" not in "".join(lines)


def _set_on_ready(ready: asyncio.Event) -> Callable[[], Any]:
    async def on_ready() -> None:
        ready.set()

    return on_ready


def embed_text(message: dict[str, Any]) -> str:
    """Everything a person reads in a message's embeds."""
    parts = []
    for embed in message.get("embeds") or []:
        parts += [embed.get("title", ""), embed.get("description", "")]
        parts += [f"{f['name']} {f['value']}" for f in embed.get("fields", [])]
    return "\n".join(parts)


def is_vote(message: dict[str, Any]) -> bool:
    return "Who won?" in embed_text(message)


def is_results(message: dict[str, Any]) -> bool:
    text = embed_text(message)
    return "wins" in text or "draw" in text or "No votes" in text


@pytest.fixture
async def arena(model_server: ModelServer, tmp_path: Path) -> AsyncIterator[Arena]:
    saved_base = discord.http.Route.BASE
    saved_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    async with DiscordDouble() as double:
        guild = double.add_guild("Rap Club")
        channel = guild.add_channel("battles")
        alice = guild.add_member("alice")
        bob = guild.add_member("bob")
        database_url = f"sqlite:///{tmp_path}/rapbattle.db"
        env = {
            "DISCORD_TOKEN": double.token,
            "DISCORD_API_BASE": double.api_base,
            "DISCORD_GATEWAY_URL": double.gateway_url,
            "LLM_BASE_URL": model_server.base_url,
            "LLM_API_KEY": "test-key",
            "LLM_STALL_SECONDS": "2",
            "DATABASE_URL": database_url,
            "BATTLE_PACE": "0",
            "BATTLE_COOLDOWN_SECONDS": "0",
            "VOTE_SECONDS": "10",
        }
        world = Arena(double, model_server, guild, channel, alice, bob, database_url, env)
        try:
            yield world
        finally:
            for bot in world.bots:
                if not bot.is_closed():
                    await world.stop_bot(bot)
            discord.http.Route.BASE = saved_base
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved_gateway
    assert double.violations == []

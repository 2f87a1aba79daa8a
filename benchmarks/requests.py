"""Discord requests per battle against the minimum, for plain messages and webhooks, with and
without threads.

Run: python benchmarks/requests.py [--rounds 3] [--voters 5] [--battles 1]

The real bot runs in this process against the Discord double and the local model server, as
the end-to-end tests do: models take 2 s, the pace is 5 s, and each battle's vote gets
``--voters`` votes over the gateway and closes on time. Counted: every request that draws on
the bot's global rate limit (typing included; interaction responses are exempt) plus channel
webhook executes and opening the thread. Looking up or creating the channel's webhook is a
one-off per channel and is reported apart. The minimum is the title card, one request per verse
piece, the announcement, the vote, its two reactions and the results. Target: <= 1.2 x minimum.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import discord

from bot.client import RapBattleBot, point_discord_at
from bot.engine.splitting import verse_messages
from bot.settings import Settings
from tests.fakes.discord_double import DiscordDouble, Permission
from tests.fakes.model_server import ModelServer

TARGET_RATIO = 1.2
MODEL_SECONDS = 2.0
PACE_SECONDS = 5
VOTE_SECONDS = 10  # the shortest vote window a server may set
ONE_OFF_ROUTES = ("GET /channels/{channel_id}/webhooks", "POST /channels/{channel_id}/webhooks")
# What each route is, for the breakdown.
ROUTE_NAMES = {
    "POST /channels/{channel_id}/messages": "messages",
    "POST /channels/{channel_id}/typing": "typing",
    "PUT /channels/{channel_id}/messages/{message_id}/reactions/{emoji_name}/@me": "reactions",
    "GET /channels/{channel_id}/messages/{message_id}": "vote fetch",
    "GET /channels/{channel_id}/messages/{message_id}/reactions/{emoji_name}": "reaction pages",
    "POST /channels/{channel_id}/messages/{message_id}/threads": "thread",
}


@dataclass(frozen=True)
class Case:
    webhooks: bool
    threads: bool

    @property
    def name(self) -> str:
        verses = "webhook" if self.webhooks else "plain"
        return f"{verses}, {'thread' if self.threads else 'channel'}"


CASES = (
    Case(webhooks=False, threads=False),
    Case(webhooks=True, threads=False),
    Case(webhooks=False, threads=True),
    Case(webhooks=True, threads=True),
)


@dataclass(frozen=True)
class Measured:
    case: Case
    minimum: int
    counted: int
    one_off: int
    breakdown: Mapping[str, int]

    @property
    def ratio(self) -> float:
        return self.counted / self.minimum


async def start_bot(settings: Settings, token: str) -> RapBattleBot:
    point_discord_at(settings)
    bot = RapBattleBot(settings, guild_ready_timeout=0.05)
    ready = asyncio.Event()

    async def on_ready() -> None:
        ready.set()

    bot.add_listener(on_ready, "on_ready")
    bot.runner = asyncio.create_task(bot.start(token))  # type: ignore[attr-defined]
    await asyncio.wait_for(ready.wait(), 15)
    return bot


POLL_SECONDS = 0.05


async def wait_until(check: Callable[[], Awaitable[bool]], seconds: float) -> None:
    """Polls ``check`` (the bot's store and arena have no event to wait on from outside)."""
    for _ in range(int(seconds / POLL_SECONDS)):
        if await check():
            return
        await asyncio.sleep(POLL_SECONDS)
    raise TimeoutError("the battle did not get there in time")


async def measure(
    case: Case, server: ModelServer, rounds: int, voters: int, battles: int, workdir: Path
) -> list[Measured]:
    saved_base = discord.http.Route.BASE
    saved_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    results: list[Measured] = []
    async with DiscordDouble() as double:
        guild = double.add_guild("Requests")
        channel = guild.add_channel("battles")
        if case.webhooks:
            double.grant(channel, Permission.MANAGE_WEBHOOKS)
        if case.threads:
            double.grant(channel, Permission.CREATE_PUBLIC_THREADS)
        starter = guild.add_member("starter")
        audience = [guild.add_member(f"voter{n}") for n in range(voters)]
        database = workdir / f"{case.webhooks}-{case.threads}.db"
        settings = Settings.from_env(
            {
                "DISCORD_TOKEN": double.token,
                "DISCORD_API_BASE": double.api_base,
                "DISCORD_GATEWAY_URL": double.gateway_url,
                "LLM_BASE_URL": server.base_url,
                "LLM_API_KEY": server.api_key,
                "DATABASE_URL": f"sqlite:///{database}",
                "BATTLE_PACE": str(PACE_SECONDS),
                "BATTLE_ROUNDS": str(rounds),
                "BATTLE_COOLDOWN_SECONDS": "0",
                "VOTE_SECONDS": str(VOTE_SECONDS),
            }
        )
        bot = await start_bot(settings, double.token)
        try:
            if case.threads:
                shown = await double.invoke_command(
                    guild.owner, channel, "battle-settings", {"threads": True}
                )
                await shown.response()
            for number in range(1, battles + 1):
                double.reset_request_counts()
                await run_battle(double, bot, channel, starter, audience, number)
                counts = double.request_counts()
                results.append(await tally(case, bot, counts, number))
        finally:
            await bot.close()
            with contextlib.suppress(asyncio.CancelledError):
                await bot.runner  # type: ignore[attr-defined]
            discord.http.Route.BASE = saved_base
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved_gateway
    return results


async def run_battle(
    double: DiscordDouble,
    bot: RapBattleBot,
    channel: Any,
    starter: Any,
    audience: list[Any],
    n: int,
) -> None:
    started = await double.invoke_command(
        starter, channel, "battle", {"model_a": "qwen-max", "model_b": "grok"}
    )
    followup = await started.wait_followup()
    assert f"Battle #{n} is on" in followup["content"], followup["content"]

    async def vote_open() -> bool:
        return bool(bot.arena.votes)

    await wait_until(vote_open, 120)
    stored = await bot.store.battle(n)
    assert stored is not None and stored.vote_message_id is not None
    for index, voter in enumerate(audience):
        await double.react(voter, stored.vote_message_id, "🅰️" if index % 2 == 0 else "🅱️")

    async def results_posted() -> bool:
        final = await bot.store.battle(n)
        return final is not None and final.results_message_id is not None

    await wait_until(results_posted, VOTE_SECONDS + 30)


async def tally(case: Case, bot: RapBattleBot, counts: Any, number: int) -> Measured:
    stored = await bot.store.battle(number)
    assert stored is not None
    pieces = 0
    announcements = 0
    for turn in await bot.store.turns(number):
        if turn.side is None:
            announcements += 1
        else:
            name = stored.battle.stage_name(turn.side)
            text = verse_messages(name, turn.round, stored.battle.rounds, turn.text)
            pieces += sum(1 for piece in text if piece.strip())
    minimum = 1 + pieces + announcements + 1 + 2 + 1
    one_off = sum(counts.bot.get(route, 0) for route in ONE_OFF_ROUTES)
    breakdown: Counter[str] = Counter()
    for route, count in counts.bot.items():
        if route not in ONE_OFF_ROUTES:
            breakdown[ROUTE_NAMES.get(route, route)] += count
    if counts.webhook_executes:
        breakdown["webhook executes"] += counts.webhook_executes
    counted = counts.total - one_off
    return Measured(case, minimum, counted, one_off, dict(breakdown))


def report(rows: list[Measured]) -> bool:
    print(f"{'case':<18} {'min':>4} {'counted':>7} {'ratio':>6} {'one-off':>7}  breakdown")
    worst = 0.0
    for row in rows:
        worst = max(worst, row.ratio)
        parts = ", ".join(f"{name} {count}" for name, count in sorted(row.breakdown.items()))
        print(
            f"{row.case.name:<18} {row.minimum:>4} {row.counted:>7} {row.ratio:>6.2f} "
            f"{row.one_off:>7}  {parts}"
        )
    meets = worst <= TARGET_RATIO
    print(f"worst ratio {worst:.2f} ({'meets' if meets else 'misses'} target {TARGET_RATIO})")
    return meets


async def main_async(rounds: int, voters: int, battles: int) -> bool:
    rows: list[Measured] = []
    with ModelServer(latency=MODEL_SECONDS) as server, tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            rows += await measure(case, server, rounds, voters, battles, Path(tmp))
    print(
        f"{rounds} rounds, models {MODEL_SECONDS:g} s, pace {PACE_SECONDS} s, "
        f"{voters} votes, vote window {VOTE_SECONDS} s"
    )
    return report(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--voters", type=int, default=5)
    parser.add_argument("--battles", type=int, default=1, help="battles per case, in turn")
    options = parser.parse_args()
    return 0 if asyncio.run(main_async(options.rounds, options.voters, options.battles)) else 1


if __name__ == "__main__":
    raise SystemExit(main())

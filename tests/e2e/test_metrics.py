"""Prometheus metrics of the real bot after battles on the Discord double: on the web arena it
runs (WEB_PORT) and on METRICS_PORT of `rapbattle run` as its own process, read with
prometheus-client's own parser."""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from bot.observe import Ending
from bot.ops.discord_requests import route_of
from bot.ops.metrics import Metrics
from bot.store import BattleState
from tests.e2e.conftest import Arena, bot_process, eventually, is_results, is_vote
from tests.e2e.test_judges import PANEL_ENV, is_verdict
from tests.e2e.test_leaderboard import battle_and_vote
from tests.fakes.model_server import HttpError
from tests.web.test_server import free_port

QWEN = "qwen/qwen-max"
MESSAGES_ROUTE = "POST /channels/{channel_id}/messages"


class Scrape:
    """One reading of /metrics, as prometheus-client parses it."""

    def __init__(self, text: str) -> None:
        self.samples = [
            sample for family in text_string_to_metric_families(text) for sample in family.samples
        ]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples called ``name`` whose labels include ``labels``."""
        return sum(
            s.value for s in self.samples if s.name == name and labels.items() <= s.labels.items()
        )

    def label_values(self, name: str, label: str) -> set[str]:
        return {s.labels[label] for s in self.samples if s.name == name and label in s.labels}

    def all_label_values(self) -> set[str]:
        return {value for s in self.samples for value in s.labels.values()}


async def scrape(url: str) -> Scrape:
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            return Scrape(await response.text())


def assert_no_ids(metrics: Scrape, arena: Arena) -> None:
    """No label carries a Discord id (the server, channel, members or bot) or a long number."""
    ids = {arena.guild.id, arena.channel.id, arena.alice.id, arena.bob.id}
    for value in metrics.all_label_values():
        assert not re.search(r"\d{6,}", value), value
        assert all(str(i) not in value for i in ids), value


async def test_the_bots_metrics_on_its_web_arena_after_a_judged_battle(arena: Arena):
    port = free_port()
    bot = await arena.start_bot(WEB_PORT=str(port), **PANEL_ENV)
    url = f"http://127.0.0.1:{port}/metrics"
    before = await scrape(url)
    assert before.value("rapbattle_battles_started_total") == 0
    arena.models.script(QWEN, HttpError(503))  # one failed attempt, then the verse
    arena.double.inject_channel_429(arena.channel.id)  # discord.py waits and sends again
    await battle_and_vote(arena, bot, arena.channel, 2, 1, judges=True)
    await arena.wait_for(is_verdict)

    metrics = await scrape(url)
    assert metrics.value("rapbattle_battles_started_total") == 1
    assert metrics.value("rapbattle_battles_finished_total") == 1
    assert metrics.value("rapbattle_battles_finished_total", ending="won") == 1
    assert metrics.value("rapbattle_battles_live") == 0
    assert metrics.value("rapbattle_votes_open") == 0
    assert metrics.value("rapbattle_votes_counted_total") == 3
    assert metrics.value("rapbattle_votes_set_aside_total") == 0
    # Two verses written; one attempt failed with the provider's 503 on the way.
    assert metrics.value("rapbattle_verse_seconds_count") == 2
    assert metrics.value("rapbattle_verse_seconds_count", model=QWEN) == 1
    assert metrics.value("rapbattle_model_errors_total", model=QWEN, status="503") == 1
    assert metrics.value("rapbattle_post_seconds_count") == 2
    assert metrics.value("rapbattle_judge_seconds_count") == 3
    assert metrics.value("rapbattle_moderation_seconds_count") == 2  # each verse screened
    assert metrics.value("rapbattle_spend_usd_total", kind="verse") > 0
    assert metrics.value("rapbattle_spend_usd_total", kind="judge") > 0

    # Discord's REST requests by route template, the 429 among them, each retry counted.
    assert metrics.value("rapbattle_discord_rate_limited_total", route=MESSAGES_ROUTE) == 1
    sent = metrics.value("rapbattle_discord_requests_total", route=MESSAGES_ROUTE)
    posted = len(arena.bot_messages())
    assert sent == posted + 1  # every message, and the one refused with a 429
    routes = metrics.label_values("rapbattle_discord_requests_total", "route")
    assert "GET /users/@me" in routes
    assert "POST /interactions/{id}/{token}/callback" in routes
    assert "PUT /channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me" in routes
    assert metrics.value("rapbattle_web_requests_total", route="/metrics", status="200") == 1
    assert metrics.value("process_resident_memory_bytes") > 0
    assert_no_ids(metrics, arena)


async def test_rapbattle_run_serves_metrics_on_metrics_port(arena: Arena, tmp_path: Path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "DISCORD_"))}
    env |= arena.env | {
        "DEV_GUILD_ID": str(arena.guild.id),
        "METRICS_PORT": str(port),
        "LOG_FORMAT": "json",
    }
    url = f"http://127.0.0.1:{port}/metrics"
    arena.models.script(QWEN, HttpError(503))
    async with bot_process(env, tmp_path) as log_lines:
        await asyncio.wait_for(arena.double.wait_ready(), 20)
        await eventually(lambda: any("Ready as" in line for line in log_lines), timeout=20)
        await eventually(lambda: bool(arena.double.commands(arena.guild.id)), timeout=20)
        arena.double.inject_channel_429(arena.channel.id)
        await arena.battle()
        vote = await arena.wait_for(is_vote)
        await arena.double.react(arena.bob, vote, "🅰️")
        await arena.double.invoke_command(arena.alice, arena.channel, "battle-stop")
        await arena.wait_for(is_results)
        metrics = await scrape(url)
    assert metrics.value("rapbattle_battles_started_total") == 1
    assert metrics.value("rapbattle_battles_finished_total", ending="won") == 1
    assert metrics.value("rapbattle_votes_counted_total") == 1
    assert metrics.value("rapbattle_model_errors_total", status="503") == 1
    assert metrics.value("rapbattle_discord_requests_total", route=MESSAGES_ROUTE) > 0
    assert metrics.value("rapbattle_discord_rate_limited_total", route=MESSAGES_ROUTE) == 1
    assert_no_ids(metrics, arena)

    # LOG_FORMAT=json: every line one object; the battle's own lines name its server and battle.
    entries = [json.loads(line) for line in log_lines]
    assert all(
        entry.keys() >= {"time", "level", "logger", "message", "guild", "battle"}
        for entry in entries
    )
    ready = next(e for e in entries if e["message"].startswith("Ready as"))
    assert (ready["guild"], ready["battle"]) == (None, None)
    retry = next(e for e in entries if e["message"].startswith(f"Retrying {QWEN}"))
    assert (retry["guild"], retry["battle"]) == (str(arena.guild.id), 1)
    assert retry["logger"] == "bot.llm" and retry["level"] == "INFO"


def test_routes_named_from_urls_carry_no_ids_or_tokens():
    assert route_of("POST", "/api/v10/interactions/1234/aW50ZXJhY3Rpb24/callback") == (
        "POST /interactions/{id}/{token}/callback"
    )
    assert route_of("POST", "/api/v10/webhooks/99/SeCrEt-token_x") == "POST /webhooks/{id}/{token}"
    assert route_of("PATCH", "/api/v10/webhooks/1/abc/messages/@original") == (
        "PATCH /webhooks/{id}/{token}/messages/@original"
    )
    assert route_of("GET", "/api/v10/channels/42/messages/7") == (
        "GET /channels/{id}/messages/{id}"
    )
    assert route_of("PUT", "/api/v10/channels/1/messages/2/reactions/%F0%9F%85%B0/@me") == (
        "PUT /channels/{id}/messages/{id}/reactions/{token}/@me"
    )


def test_each_metrics_object_counts_on_its_own_registry():
    first, second = Metrics(), Metrics()
    first.battle_started()
    for state in (BattleState.STOPPED, BattleState.INTERRUPTED, BattleState.NO_CONTEST):
        first.battle_finished(Ending.without_vote(state))
    first.model_failed(QWEN, None)
    one, other = Scrape(first.exposition().decode()), Scrape(second.exposition().decode())
    assert one.value("rapbattle_battles_started_total") == 1
    assert other.value("rapbattle_battles_started_total") == 0
    assert one.label_values("rapbattle_battles_finished_total", "ending") == {
        "stopped",
        "interrupted",
        "no_contest",
    }
    assert one.value("rapbattle_model_errors_total", model=QWEN, status="none") == 1

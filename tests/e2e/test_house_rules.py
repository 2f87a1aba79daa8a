"""House rules a server can trust, as members see them: identity leaks in blind battles, votes
from fresh accounts, and clean mode."""

from __future__ import annotations

import time
from typing import Any

from bot.engine.discord_limits import DISCORD_EPOCH_MS
from bot.engine.house_rules import CLEAN_MODE_LINE
from tests.e2e.conftest import Arena, embed_text, eventually, is_results, is_vote
from tests.fakes.discord_double import Channel, User
from tests.fakes.model_server import Verse

QWEN, GROK = "qwen/qwen-max", "x-ai/grok-2"
DAY = 86_400


async def settings(arena: Arena, **options: Any) -> str:
    shown = await arena.double.invoke_command(
        arena.guild.owner, arena.channel, "battle-settings", options
    )
    return embed_text((await shown.response())["data"])


async def vote_in(arena: Arena, channel: Channel | None = None, **options: Any) -> dict[str, Any]:
    started = await arena.battle(channel=channel, **options)
    assert "is on" in (await started.wait_followup())["content"]
    vote = await arena.wait_for(is_vote, channel=channel)
    await eventually(lambda: bool(arena.bots[0].arena.votes))
    return vote


async def close(arena: Arena, channel: Channel | None = None) -> dict[str, Any]:
    await arena.double.invoke_command(arena.alice, channel or arena.channel, "battle-stop")
    return await arena.wait_for(is_results, channel=channel)


def system_messages(arena: Arena) -> list[str]:
    return [r.messages[0]["content"] for r in arena.models.chat_requests()]


async def test_a_blind_verse_naming_its_own_model_keeps_the_votes_unrated(arena: Arena):
    bot = await arena.start_bot()
    arena.models.script(QWEN, Verse("They call me Qwen's finest, bow to the crown"))
    arena.models.script(GROK, Verse("I'm the MC nobody can name"))
    vote = await vote_in(arena, blind=True)
    await arena.double.react(arena.bob, vote, "🅰️")
    results = embed_text(await close(arena))
    assert "wins, 1–0" in results  # shown and counted as usual
    assert "Not rated: a verse named its own model or vendor" in results
    assert "said 'Qwen'" in results and "Ratings" not in results
    stored = await bot.store.battle(1)
    assert stored.unrated_reason is not None and stored.votes_a + stored.votes_b == 1
    assert list(await bot.store.ballots(1)) == [arena.bob.id]
    assert await bot.store.model_records(arena.guild.id) == {}


async def test_a_near_miss_is_rated(arena: Arena):
    bot = await arena.start_bot()
    arena.models.script(QWEN, Verse("qwenching my thirst on your defeat"))
    arena.models.script(GROK, Verse("no names, just heat"))
    vote = await vote_in(arena, blind=True)
    await arena.double.react(arena.bob, vote, "🅰️")
    results = embed_text(await close(arena))
    assert "Not rated" not in results and "Ratings" in results
    assert (await bot.store.battle(1)).rated
    assert len(await bot.store.model_records(arena.guild.id)) == 2


async def test_votes_from_accounts_younger_than_the_minimum_are_set_aside(arena: Arena):
    bot = await arena.start_bot()
    assert "any account" in await settings(arena)
    assert "2 days" in await settings(arena, min_account_age_days=2)
    made_long_ago = (int((time.time() - 400 * DAY) * 1000) - DISCORD_EPOCH_MS) << 22
    veteran = arena.guild.add_member(User(made_long_ago, "veteran"))
    vote = await vote_in(arena)
    await arena.double.react(arena.alice, vote, "🅰️")  # alice's account was made today
    await arena.double.react(arena.bob, vote, "🅰️")
    await arena.double.react(veteran, vote, "🅱️")
    results = embed_text(await close(arena))
    assert f"{GROK} wins, 1–0" in results
    assert (
        "2 votes were set aside: this server counts votes from accounts at least 2 days old."
        in results
    )
    stored = await bot.store.battle(1)
    assert (stored.votes_a, stored.votes_b, stored.votes_set_aside) == (0, 1, 2)
    assert set(await bot.store.ballots(1)) == {veteran.id}


async def test_clean_mode_is_on_by_default_and_off_only_where_age_restricted(arena: Arena):
    adults = arena.guild.add_channel("after-dark")
    adults.nsfw = True
    await arena.start_bot()
    await vote_in(arena)
    assert system_messages(arena) and all(
        m.endswith(" " + CLEAN_MODE_LINE) for m in system_messages(arena)
    )
    await close(arena)

    assert "off in age-restricted channels" in await settings(arena, clean=False)
    arena.models.reset()
    await vote_in(arena)  # an ordinary channel: still clean
    assert all(CLEAN_MODE_LINE in m for m in system_messages(arena))
    await close(arena)

    arena.models.reset()
    await vote_in(arena, channel=adults)
    assert system_messages(arena) and not any(CLEAN_MODE_LINE in m for m in system_messages(arena))
    await close(arena, adults)

    await settings(arena, clean=True)
    arena.models.reset()
    await vote_in(arena, channel=adults)
    assert all(CLEAN_MODE_LINE in m for m in system_messages(arena))

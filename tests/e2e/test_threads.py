"""Battles in threads: each battle opens a public thread from its title card and goes on there."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.engine.battle import FINAL_ROUND
from bot.engine.splitting import verse_header
from bot.store import BattleState
from tests.e2e.conftest import Arena, embed_text, ended, eventually, is_results, is_vote
from tests.fakes.discord_double import Channel, Permission

QWEN, GROK = "qwen/qwen-max", "x-ai/grok-2"


async def threads_on(arena: Arena, **settings: Any) -> None:
    arena.double.grant(arena.channel, Permission.CREATE_PUBLIC_THREADS)
    shown = await arena.double.invoke_command(
        arena.guild.owner, arena.channel, "battle-settings", {"threads": True} | settings
    )
    assert "Battles in threads" in embed_text((await shown.response())["data"])


def thread_of(arena: Arena, index: int = 0) -> Channel:
    threads = arena.double.threads(arena.channel.id)
    return arena.double.thread(int(threads[index]["id"]))


async def started(arena: Arena, **options: Any) -> str:
    interaction = await arena.battle(**options)
    return (await interaction.wait_followup())["content"]


async def test_everything_after_the_title_card_happens_in_the_battles_thread(arena: Arena):
    await arena.start_bot()
    await threads_on(arena)
    assert (await started(arena, rounds=2)).startswith("Battle #1 is on")
    await eventually(lambda: len(arena.double.threads(arena.channel.id)) == 1)
    thread = thread_of(arena)
    vote = await arena.wait_for(is_vote, channel=thread)

    [title] = arena.bot_messages()  # the channel keeps only the title card
    assert "qwen" in embed_text(title)
    wire = arena.double.threads(arena.channel.id)[0]
    assert wire["id"] == title["id"] and wire["type"] == 11  # public, from the title card
    assert wire["name"] == f"🎤 {QWEN} v {GROK}"
    in_thread = [m for m in arena.bot_messages(thread) if m["type"] != 21]
    assert [m["content"].split("\n", 1)[0] for m in in_thread[:5]] == [
        verse_header(QWEN, 1, 2),
        verse_header(GROK, 1, 2),
        f"📣 **{FINAL_ROUND}**",
        verse_header(QWEN, 2, 2),
        verse_header(GROK, 2, 2),
    ]
    assert in_thread[-1]["id"] == vote["id"]

    await eventually(lambda: bool(arena.bots[0].arena.votes))
    await arena.double.react(arena.bob, vote, "🅱️")
    stop = await arena.double.invoke_command(arena.alice, thread, "battle-stop")
    assert (await stop.response())["data"]["content"] == "Closing the vote now."
    results = await arena.wait_for(is_results, channel=thread)
    assert f"{GROK} wins, 1–0" in embed_text(results)
    assert [m["id"] for m in arena.bot_messages()] == [title["id"]]
    stored = await arena.bots[0].store.battle(1)
    assert stored.thread_id == int(wire["id"]) and stored.channel_id == arena.channel.id


async def test_one_battle_per_thread_and_the_servers_cap_still_holds(arena: Arena):
    await arena.start_bot()
    await threads_on(arena, max_battles=2)
    arena.models.latency = 0.6
    assert (await started(arena)).startswith("Battle #1 is on")
    assert (await started(arena, member=arena.bob)).startswith("Battle #2 is on")
    refused = await started(arena, member=arena.guild.add_member("carol"))
    assert "already has 2 battles running" in refused
    await eventually(lambda: len(arena.double.threads(arena.channel.id)) == 2)
    votes = [await arena.wait_for(is_vote, channel=thread_of(arena, i)) for i in (0, 1)]
    assert votes[0]["channel_id"] != votes[1]["channel_id"]
    await eventually(lambda: len(arena.bots[0].arena.votes) == 2)

    # /battle-stop in a thread closes that thread's vote only.
    stop = await arena.double.invoke_command(arena.alice, thread_of(arena, 0), "battle-stop")
    assert (await stop.response())["data"]["content"] == "Closing the vote now."
    await arena.wait_for(is_results, channel=thread_of(arena, 0))
    await asyncio.sleep(0.1)
    assert not any(is_results(m) for m in arena.bot_messages(thread_of(arena, 1)))
    assert len(arena.bots[0].arena.votes) == 1


async def test_battle_stop_inside_the_thread_stops_the_verses(arena: Arena):
    await arena.start_bot()
    await threads_on(arena)
    arena.models.latency = 0.5
    assert (await started(arena, rounds=3)).startswith("Battle #1 is on")
    await eventually(lambda: len(arena.double.threads(arena.channel.id)) == 1)
    thread = thread_of(arena)
    await arena.wait_for(lambda m: m["content"].startswith(verse_header(QWEN, 1, 3)), thread)
    stop = await arena.double.invoke_command(arena.alice, thread, "battle-stop")
    assert (await stop.response())["data"]["content"] == "Stopping the battle."
    notice = await arena.wait_for(lambda m: "No contest" in embed_text(m), channel=thread)
    assert "stopped by alice" in embed_text(notice)
    assert (await ended(arena.bots[0].store, 1)).state is BattleState.STOPPED


async def test_a_missing_thread_permission_is_named(arena: Arena):
    await arena.start_bot()
    await threads_on(arena)
    arena.double.revoke(arena.channel, Permission.CREATE_PUBLIC_THREADS)
    assert "Create Public Threads" in await started(arena)
    arena.double.grant(arena.channel, Permission.CREATE_PUBLIC_THREADS)
    arena.double.revoke(arena.channel, Permission.SEND_MESSAGES_IN_THREADS)
    refused = await started(arena)
    assert "Send Messages in Threads" in refused and "Create Public Threads" not in refused
    assert arena.bot_messages() == [] and arena.double.threads(arena.channel.id) == []
    assert arena.double.invalid_requests == []


async def test_battles_and_votes_are_found_in_their_threads_after_a_restart(arena: Arena):
    bot = await arena.start_bot()
    await threads_on(arena)
    assert (await started(arena)).startswith("Battle #1 is on")
    await eventually(lambda: len(arena.double.threads(arena.channel.id)) == 1)
    voting_thread = thread_of(arena)
    vote = await arena.wait_for(is_vote, channel=voting_thread)
    await eventually(lambda: bool(bot.arena.votes))
    arena.models.latency = 1.0
    assert (await started(arena, member=arena.bob)).startswith("Battle #2 is on")
    await eventually(lambda: len(arena.double.threads(arena.channel.id)) == 2)
    running_thread = thread_of(arena, 1)
    await arena.wait_for(lambda m: m["type"] == 21, channel=running_thread)
    await arena.stop_bot(bot)
    notice = await arena.wait_for(lambda m: "interrupted" in embed_text(m), running_thread)
    assert "Battle #2 was interrupted" in embed_text(notice)

    # While the bot is away, votes still come in; the restarted bot counts them in the thread.
    carol = arena.guild.add_member("carol")
    await arena.double.react(carol, vote, "🅰️")
    restarted = await arena.start_bot()
    await eventually(lambda: bool(restarted.arena.votes))
    stop = await arena.double.invoke_command(arena.alice, voting_thread, "battle-stop")
    assert (await stop.response())["data"]["content"] == "Closing the vote now."
    results = await arena.wait_for(is_results, channel=voting_thread)
    assert f"{QWEN} wins, 1–0" in embed_text(results)
    assert arena.bot_messages() and all(not is_results(m) for m in arena.bot_messages())
    stored = await restarted.store.battle(2)
    assert stored.state is BattleState.INTERRUPTED and stored.thread_id == running_thread.id

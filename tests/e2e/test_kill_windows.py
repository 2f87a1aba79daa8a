"""The bot dying between a post and the store's record of it, as benchmarks/chaos.py found it could:
the restart posts again under the same key (a nonce Discord enforces), so the channel shows the
first post once, and the record follows. The death is staged in-process by holding the store's
record until the bot stops, so nothing of it is kept."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest

from bot.engine.lifecycle import BattleState
from bot.services.battles import arena as arena_module
from bot.store import open_store
from tests.e2e.conftest import Arena, embed_text, is_results, is_vote
from tests.fakes.discord_double import Permission


def hold(target: Any, method: str) -> asyncio.Event:
    """Makes ``target.method`` wait forever (until its task is cancelled at the stop): the
    process dies before it records; returns an event set when the call came."""
    called = asyncio.Event()

    async def held(*args: object, **kwargs: object) -> None:
        called.set()
        await asyncio.Event().wait()

    setattr(target, method, held)
    return called


async def stored_battle(arena: Arena, battle_id: int = 1):
    store = await open_store(arena.database_url)
    try:
        return await store.battle(battle_id)
    finally:
        await store.close()


async def test_results_posted_just_before_a_kill_are_not_posted_again(arena: Arena):
    bot = await arena.start_bot()
    recorded = hold(bot.store, "set_results_message")
    await arena.battle()
    vote = await arena.wait_for(is_vote)
    await asyncio.sleep(0.3)  # the bot adds its reactions and opens the vote
    await arena.double.react(arena.bob, vote, "🅰️")
    await arena.double.invoke_command(arena.alice, arena.channel, "battle-stop")
    results = await arena.wait_for(is_results)
    await asyncio.wait_for(recorded.wait(), 5)
    await arena.stop_bot(bot)
    assert (await stored_battle(arena)).results_message_id is None

    await arena.start_bot()

    async def recorded_again() -> bool:
        return (await stored_battle(arena)).results_message_id == int(results["id"])

    for _ in range(100):
        if await recorded_again():
            break
        await asyncio.sleep(0.05)
    assert await recorded_again()
    assert [m["id"] for m in arena.bot_messages() if is_results(m)] == [results["id"]]
    assert "qwen/qwen-max wins, 1–0" in embed_text(results)


async def killed_once_the_vote_is_shown(
    arena: Arena, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """A battle whose bot dies after showing its vote and before recording it as open; the vote
    message shown."""
    monkeypatch.setattr(arena_module, "SHUTDOWN_GRACE_SECONDS", 0.2)
    bot = await arena.start_bot()
    opened = hold(bot.store, "open_voting")
    await arena.battle()
    vote = await arena.wait_for(is_vote)
    await asyncio.wait_for(opened.wait(), 5)
    await arena.stop_bot(bot)
    return vote


async def test_a_vote_shown_just_before_a_kill_is_the_one_counted_after_it(
    arena: Arena, monkeypatch: pytest.MonkeyPatch
):
    """Killed after its vote was shown and before the vote was recorded as open: the restart
    opens the same vote (rather than calling the battle interrupted), and it counts the votes
    cast on it while the bot was down."""
    vote = await killed_once_the_vote_is_shown(arena, monkeypatch)
    assert (await stored_battle(arena)).state is BattleState.RUNNING
    await arena.double.react(arena.bob, vote, "🅱️")  # cast while the bot is down
    await asyncio.sleep(2.5)  # down long enough that a new vote window would end visibly later

    await arena.start_bot()
    for _ in range(100):
        if (await stored_battle(arena)).state is BattleState.VOTING:
            break
        await asyncio.sleep(0.05)
    stored = await stored_battle(arena)
    assert (stored.state, stored.vote_message_id) == (BattleState.VOTING, int(vote["id"]))
    # The vote closes when the message shown says it does, not a vote window after the restart.
    assert abs(stored.vote_closes_at - shown_closing(vote)) < 1.5
    await arena.double.invoke_command(arena.alice, arena.channel, "battle-stop")
    results = await arena.wait_for(is_results)
    assert "x-ai/grok-2 wins, 1–0" in embed_text(results)
    assert sum(is_vote(m) for m in arena.bot_messages()) == 1
    assert not any("interrupted" in embed_text(m) for m in arena.bot_messages())


async def test_a_vote_whose_shown_closing_time_passed_while_down_closes_at_the_restart(
    arena: Arena, monkeypatch: pytest.MonkeyPatch
):
    """Killed between showing the vote and recording it, and down past the closing time the
    vote shows: the restart closes it at once, with the votes cast while it was down."""
    vote = await killed_once_the_vote_is_shown(arena, monkeypatch)
    await arena.double.react(arena.bob, vote, "🅰️")
    while time.time() < shown_closing(vote) + 1:  # the vote's window (10 s) passes while down
        await asyncio.sleep(0.2)

    await arena.start_bot()
    # Nobody stops it, and it closes well before a new 10-second window would end.
    results = await arena.wait_for(is_results, timeout=6)
    assert "wins, 1–0" in embed_text(results)
    assert sum(is_vote(m) for m in arena.bot_messages()) == 1
    assert (await stored_battle(arena)).state is BattleState.CLOSED


def shown_closing(vote: dict[str, Any]) -> int:
    """The closing time a vote message shows (``Voting closes <t:SECONDS:R>.``)."""
    found = re.search(r"<t:(\d+):R>", embed_text(vote))
    assert found is not None, embed_text(vote)
    return int(found.group(1))


async def test_a_tournament_thread_opened_just_before_a_kill_is_the_one_used(arena: Arena):
    arena.double.grant(arena.channel, Permission.CREATE_PUBLIC_THREADS)
    admin = arena.guild.add_member("admin", permissions=Permission.MANAGE_GUILD)
    bot = await arena.start_bot(BATTLE_ROUNDS="1")
    recorded = hold(bot.store, "set_tournament_thread")
    started = await arena.double.invoke_command(
        admin, arena.channel, "tournament", {"models": "qwen-max, grok, gpt-4o"}
    )
    assert (await started.wait_followup())["content"].startswith("Tournament #1 is on")
    await asyncio.wait_for(recorded.wait(), 5)
    await arena.stop_bot(bot)
    [thread] = arena.double.threads(arena.channel.id)

    await arena.start_bot(BATTLE_ROUNDS="1")
    await arena.double.wait_for_message(
        int(thread["id"]), lambda m: m["embeds"] and "Tournament #1:" in embed_text(m), timeout=15
    )
    assert [t["id"] for t in arena.double.threads(arena.channel.id)] == [thread["id"]]
    announcements = [m for m in arena.bot_messages() if "Tournament #1 begins" in embed_text(m)]
    assert len(announcements) == 1
    assert not any("could not open a thread" in embed_text(m) for m in arena.bot_messages())
